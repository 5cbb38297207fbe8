//! `idempotencyKey` on `placeOrder` and `payOrder`: the seam through which a later step runs
//! a mutation at most once per key, as REST's `Idempotency-Key` header runs a request (step 6
//! honours both, with one table and one set of answers).
//!
//! - **Who honours it**: a step that puts an `Arc<dyn KeyedMutations>` into the
//!   [`super::GraphqlSchema`] ([`super::GraphqlSchema::with_keyed_mutations`]); every request
//!   then carries it as data. Step 2 puts none in.
//! - **Where it shows**: the argument is declared `visible` only where that data is there, so
//!   introspection shows it in step 6 and not before. Visibility hides an argument from
//!   introspection alone: async-graphql 7 still accepts one a client sends (its validation
//!   does not look at visibility), so without an implementation a key is refused, 400
//!   `INVALID_PARAMETER` naming `idempotencyKey`, never silently ignored: a client that
//!   believes its retry is safe must learn that it is not. (The SDL export, made without a
//!   request, shows the argument in every step.)
//! - **What it is bound to**: the mutation's name and its arguments as the client gave them
//!   (a variable and a literal give the same value), so the key sent with another mutation or
//!   other arguments is refused; the implementation parses the key and decides the rest.
//! - **How a replay is marked**: `Idempotent-Replayed: true` on the HTTP answer, as REST's
//!   replays are, and, since one GraphQL request may hold several mutations, the response's
//!   `extensions.idempotentReplayed` lists the response keys (alias or name) of those whose
//!   answer, an order or an error, was given again ([`Replays`], filled in by
//!   [`super::http`]).
//!
//! A mutation sent without a key runs as it always did, in the request's own task.

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use common::auth::AuthUser;
use common::domain::Order;
use common::error::Error;
use futures::future::BoxFuture;

use super::errors::OrGraphql;

/// The argument's name, and the field its refusals name.
pub const ARGUMENT: &str = "idempotencyKey";

/// The HTTP header of an answer that holds a replay (its value is `true`).
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// The response's `extensions` member that lists the replayed mutations' response keys.
pub const REPLAYED_EXTENSION: &str = "idempotentReplayed";

/// One keyed mutation, as the implementation gets it.
pub struct KeyedMutation {
    /// Whose key it is: keys are scoped to the signed-in user.
    pub user: AuthUser,
    /// The key as the client sent it, unparsed: what a key may be is the implementation's
    /// rule, one for both APIs.
    pub key: String,
    /// The mutation's name, `placeOrder` or `payOrder`.
    pub mutation: &'static str,
    /// Its arguments but the key, by their GraphQL names: with the name, what the key is
    /// bound to.
    pub arguments: serde_json::Value,
}

/// The mutation's own work (its checks included, so a refused request is an answer like
/// any other): `'static`, so the implementation can run it in a task of its own, which a
/// request that times out does not cut off.
pub type Work = BoxFuture<'static, Result<Order, Error>>;

/// What a keyed mutation answers.
pub struct Answer {
    /// The order, or why not: the work's own, an earlier answer given again, or the key's
    /// refusal (the key malformed, in use, or first used with another request).
    pub result: Result<Order, Error>,
    /// Whether `result` is an earlier request's answer given again.
    pub replayed: bool,
}

/// Runs a keyed mutation's work at most once per user and key. `Send + Sync`: it is request
/// data, shared by every request.
pub trait KeyedMutations: Send + Sync {
    fn run(&self, mutation: KeyedMutation, work: Work) -> BoxFuture<'_, Answer>;
}

/// The argument's `visible` function: shown where a step honours keys.
pub fn offered(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Arc<dyn KeyedMutations>>().is_some()
}

/// The response keys of one operation's replayed mutations, gathered while it runs. Each
/// operation of a request gets its own ([`super::http`]), which reads it afterwards.
#[derive(Clone, Default)]
pub struct Replays(Arc<Mutex<Vec<String>>>);

impl Replays {
    fn push(&self, key: String) {
        if let Ok(mut keys) = self.0.lock() {
            keys.push(key);
        }
    }

    /// The response keys gathered so far.
    pub fn keys(&self) -> Vec<String> {
        self.0.lock().map(|keys| keys.clone()).unwrap_or_default()
    }
}

/// Runs `work` for `user`: at once without a key; with one, through the step's
/// [`KeyedMutations`], or refused where there is none.
pub async fn run(
    ctx: &Context<'_>,
    user: AuthUser,
    key: Option<String>,
    mutation: &'static str,
    arguments: serde_json::Value,
    work: impl Future<Output = Result<Order, Error>> + Send + 'static,
) -> async_graphql::Result<Order> {
    let Some(key) = key else {
        return work.await.gql();
    };
    let Some(keyed) = ctx.data_opt::<Arc<dyn KeyedMutations>>() else {
        return Err(Error::InvalidParameter {
            name: ARGUMENT.to_owned(),
            reason: "this server does not take idempotency keys: a retry would run the \
                     mutation again; send it without one"
                .to_owned(),
        })
        .gql();
    };
    let mutation = KeyedMutation {
        user,
        key,
        mutation,
        arguments,
    };
    let answer = keyed.run(mutation, Box::pin(work)).await;
    if answer.replayed
        && let (Some(replays), Some(path)) = (ctx.data_opt::<Replays>(), ctx.path_node)
    {
        replays.push(path.to_string());
    }
    answer.result.gql()
}

//! The schema and the limits it enforces while validating a query, before any resolver runs:
//! depth, complexity, introspection (development only) and "did you mean" suggestions (not in
//! production, where they would let a client map a hidden schema field by field).

use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, EmptySubscription, ObjectType, Request, Response, Schema,
    SchemaBuilder,
};
use common::config::Environment;
use futures::future::BoxFuture;

use super::GraphqlConfig;
use super::keyed::KeyedMutations;
use super::mutation::Mutation;
use super::query::{Query, ShopQuery};

/// Step 2's schema. A later step serves its own query type instead ([`GraphqlSchema::extended`]):
/// [`ShopQuery`] merged with its own fields (`#[derive(MergedObject)]`).
pub type ShopSchema = Schema<Query, Mutation, EmptySubscription>;

/// An executable schema whatever its query type, so the HTTP side ([`super::http`]) and the
/// application state need not name it: a later step's schema, with more fields, plugs into
/// the same state field and the same `POST /graphql`.
pub trait Executable: Send + Sync {
    fn execute(&self, request: Request) -> BoxFuture<'_, Response>;
    fn execute_batch(&self, batch: BatchRequest) -> BoxFuture<'_, BatchResponse>;
    fn sdl(&self) -> String;
}

impl<Q> Executable for Schema<Q, Mutation, EmptySubscription>
where
    Q: ObjectType + 'static,
{
    fn execute(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(Schema::execute(self, request))
    }

    fn execute_batch(&self, batch: BatchRequest) -> BoxFuture<'_, BatchResponse> {
        Box::pin(Schema::execute_batch(self, batch))
    }

    fn sdl(&self) -> String {
        Schema::sdl(self)
    }
}

/// The executable schema plus the request-level limits [`super::http`] enforces. Step 2's
/// holds no services: those come from the application state with every request (see
/// [`super::http::execute`]), so the schema is built once, from configuration alone. A later
/// step's fields may need services step 2 does not know; [`GraphqlSchema::extended`] lets it
/// put them into the schema's data.
#[derive(Clone)]
pub struct GraphqlSchema {
    pub schema: Arc<dyn Executable>,
    /// Development only: the same schema without the depth and complexity limits, for
    /// requests that ask only for the schema. A GraphQL IDE's standard introspection query
    /// (GraphiQL's) nests `ofType` eight levels deep inside `__schema.types.fields.type`, past
    /// `max_depth`; without this, GraphiQL would show no docs and complete nothing. Elsewhere
    /// introspection is off, and every request keeps the limits.
    pub introspection: Option<Arc<dyn Executable>>,
    pub config: GraphqlConfig,
    /// A later step's way of running `placeOrder` and `payOrder` at most once per
    /// `idempotencyKey` ([`super::keyed`]); none in step 2, where a key is refused. Given to
    /// every request as data rather than built into the schema: so both schemas above get it
    /// without being built again, and the step that adds it need not know the query type
    /// an earlier step built them with.
    pub keyed: Option<Arc<dyn KeyedMutations>>,
}

impl GraphqlSchema {
    pub fn new(config: &GraphqlConfig, environment: Environment) -> Self {
        Self::extended(config, environment, || Query(ShopQuery), |builder| builder)
    }

    /// A schema whose query type is `query()` (step 2's [`ShopQuery`] merged with a later
    /// step's fields), with `data` applied to its builder (the services those fields need), under
    /// step 2's limits and rules.
    pub fn extended<Q>(
        config: &GraphqlConfig,
        environment: Environment,
        query: impl Fn() -> Q,
        data: impl Fn(
            SchemaBuilder<Q, Mutation, EmptySubscription>,
        ) -> SchemaBuilder<Q, Mutation, EmptySubscription>,
    ) -> Self
    where
        Q: ObjectType + 'static,
    {
        let mut builder = data(Schema::build(query(), Mutation, EmptySubscription))
            .limit_depth(config.max_depth)
            .limit_complexity(config.max_complexity);
        if environment != Environment::Development {
            builder = builder.disable_introspection();
        }
        if environment == Environment::Production {
            builder = builder.disable_suggestions();
        }
        let introspection = (environment == Environment::Development).then(|| {
            Arc::new(data(Schema::build(query(), Mutation, EmptySubscription)).finish())
                as Arc<dyn Executable>
        });
        Self {
            schema: Arc::new(builder.finish()),
            introspection,
            config: config.clone(),
            keyed: None,
        }
    }

    /// This schema with `keyed` honouring `idempotencyKey` (which introspection then shows).
    pub fn with_keyed_mutations(self, keyed: Arc<dyn KeyedMutations>) -> Self {
        Self {
            keyed: Some(keyed),
            ..self
        }
    }

    /// The schema in SDL, e.g. for a client's code generator (introspection may be off).
    /// Made without a request, it shows every argument, `idempotencyKey` too, whether or not
    /// this step honours it.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

//! The seams every step exposes, the same for all of them. A step is its application state:
//! `impl Step for AppState` says how to prepare the database, which parts the state is wired
//! from, how to wire it, which routes it serves and which layers wrap them. Step N implements
//! each by calling step N-1's and adding its own, so step N+1 extends step N without editing
//! it; code that works for any step (the binary in [`crate::cli`], the test harness in
//! `testkit`) is generic over [`Step`]. `docs/architecture.md` walks through one step.
//!
//! The configuration has its seam too, [`crate::config::StepConfig`]: step N's `Config` holds
//! step N-1's (flattened, and reached through `Deref`) plus its own sections.

use std::future::Future;

use anyhow::Context;
use axum::Router;
use mongodb::Database;

use crate::config::StepConfig;
use crate::services::Accounts;
use crate::startup::Application;
use crate::store::mongo;

/// One step of the shop, implemented by the step's application state.
///
/// Building it: [`Step::build_with`] connects to MongoDB, runs [`Step::prepare`], makes the
/// [`Step::parts`], lets the caller wrap or replace any part, and wires them with
/// [`Step::from_parts`]. Serving it: [`Step::router_with`] is [`Step::routes`], plus the
/// caller's extra routes, inside [`Step::layer`].
pub trait Step: Clone + Send + Sync + Sized + 'static {
    /// 0 for the monolith, N for step N.
    const NUMBER: u8;
    /// What the step is about, in a few words ("caching with Redis").
    const TITLE: &'static str;
    /// Everything the step reads: the previous step's configuration plus its own sections.
    type Config: StepConfig;
    /// What the state is wired from (stores, gateways, connections): the previous step's parts
    /// plus this step's. A customizer may wrap or replace any of them before wiring.
    type Parts: Send;

    /// Makes the database ready: the previous step's preparation, then this step's indexes and
    /// backfills. Idempotent, and safe while other instances run or prepare.
    fn prepare(
        db: &Database,
        config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The parts over a prepared `db`: the previous step's, with this step's replacements and
    /// additions.
    fn parts(
        db: &Database,
        config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<Self::Parts>> + Send;

    /// The state wired from `parts`: the previous step's state, built from them, plus this
    /// step's components.
    fn from_parts(
        config: &Self::Config,
        parts: Self::Parts,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Every route of this step and of the steps before it, each bound to the state it runs
    /// with; no layers yet.
    fn routes(&self, config: &Self::Config) -> Router;

    /// Wraps `routes` in the layers of this step and the steps before it. A step adds its inner
    /// layers before calling the previous step's `layer` and its outer layers after.
    fn layer(&self, routes: Router, config: &Self::Config) -> Router;

    /// The accounts service: `create-admin` uses it, so an admin gets this step's hashing.
    fn accounts(&self) -> &Accounts;

    /// Connects, prepares the database and wires the state from the default parts.
    fn build(config: &Self::Config) -> impl Future<Output = anyhow::Result<Self>> + Send {
        Self::build_with(config, |_| Ok(()))
    }

    /// [`Step::build`], with `customize` given the parts before they are wired: a later step
    /// or a test wraps or replaces them (a cache in front of the stores, a counting store).
    fn build_with(
        config: &Self::Config,
        customize: impl FnOnce(&mut Self::Parts) -> anyhow::Result<()> + Send,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send {
        async move {
            let db = mongo::connect(&config.common().mongodb).await?;
            Self::prepare(&db, config)
                .await
                .context("preparing MongoDB (is it running? `cargo xtask doctor` checks)")?;
            Self::assemble(&db, config, customize).await
        }
    }

    /// The state over `db` without preparing it: the parts, `customize`, the wiring. What
    /// [`Step::build_with`] does after preparing; on its own, what an instance is when its
    /// database went away after it started (tests of that case start here).
    fn assemble(
        db: &Database,
        config: &Self::Config,
        customize: impl FnOnce(&mut Self::Parts) -> anyhow::Result<()> + Send,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send {
        async move {
            let mut parts = Self::parts(db, config).await?;
            customize(&mut parts)?;
            Self::from_parts(config, parts).await
        }
    }

    /// The complete router: [`Step::routes`] inside [`Step::layer`].
    fn router(&self, config: &Self::Config) -> Router {
        self.router_with(Router::new(), config)
    }

    /// [`Step::router`] with `extra` routes (already bound to their state) merged in before
    /// the layers, so they get the same request ids, error envelope, limits and headers.
    fn router_with(&self, extra: Router, config: &Self::Config) -> Router {
        self.layer(self.routes(config).merge(extra), config)
    }

    /// Builds the state and binds `server` from the configuration: ready to serve.
    fn application(
        config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<Application>> + Send {
        async move {
            let state = Self::build(config).await?;
            Application::bind(&config.common().server, state.router(config)).await
        }
    }
}

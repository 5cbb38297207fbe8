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
use std::ops::Deref;
use std::time::Duration;

use anyhow::Context;
use axum::Router;

use crate::config::StepConfig;
use crate::services::Accounts;
use crate::startup::Application;
use crate::store::mongo::{Mongo, MongoOptions};

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

    /// How the MongoDB handles are made: the previous step's settings, then this step's (step 6
    /// sets write and read concerns and where the catalog reads). Step 0 keeps the URI's.
    fn tune_mongo(_config: &Self::Config, _options: &mut MongoOptions) {}

    /// Makes the database ready: the previous step's preparation, then this step's indexes and
    /// backfills. Idempotent, and safe while other instances run or prepare.
    fn prepare(
        db: &Mongo,
        config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The parts over a prepared `db`: the previous step's, with this step's replacements and
    /// additions.
    fn parts(
        db: &Mongo,
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
            let db = Mongo::connect(&config.common().mongodb, |options| {
                Self::tune_mongo(config, options)
            })
            .await?;
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
        db: &Mongo,
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

    /// Builds the state and binds `server` from the configuration: the state, and the
    /// application serving it, ready to serve.
    fn bound(
        config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<(Self, Application)>> + Send {
        async move {
            let state = Self::build(config).await?;
            let app = Application::bind(&config.common().server, state.router(config)).await?;
            Ok((state, app))
        }
    }

    /// Asked to stop (SIGTERM, Ctrl-C) while the server still accepts: what the step does
    /// before the server stops accepting (step 7 fails its readiness probe, then keeps
    /// serving a moment so load balancers stop sending first). By default nothing: the
    /// server stops accepting at once.
    fn stopping(&self, _config: &Self::Config) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The server has stopped and its requests in flight have finished: what the step's
    /// background work does to end at a safe point (step 7 stops step 6's workers between
    /// two rounds). By default nothing: the work ends with the process.
    fn stopped(&self, _config: &Self::Config) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// How long stopping may take, from the signal to the end of [`Step::stopped`]; past
    /// it, [`Step::serve`] gives up with an error. `None`: no bound.
    fn stop_deadline(_config: &Self::Config) -> Option<Duration> {
        None
    }

    /// The admin listener: routes for operators and their tools (step 9's `/metrics`), served
    /// by [`Step::serve`] on an address of their own, never on the public port, so a
    /// deployment exposes one and keeps the other inside its network. `None` (steps 0 to 8):
    /// no admin listener.
    fn admin(&self, _config: &Self::Config) -> Option<Admin> {
        None
    }

    /// What a binary's `serve` runs: the state built and bound, `announce`d with its
    /// address, served until `stop`, then stopped in order: [`Step::stopping`], the server's
    /// drain (no new connections; requests in flight finish), [`Step::stopped`], all within
    /// [`Step::stop_deadline`] of `stop`.
    fn serve(
        config: &Self::Config,
        stop: impl Future<Output = ()> + Send + 'static,
        announce: impl FnOnce(std::net::SocketAddr) + Send,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move {
            let (state, app) = Self::bound(config).await?;
            // Bound before the public address is announced, so whoever waits for the
            // announcement finds both listening; it stops with the process, after the drain,
            // so the last scrape sees the drain's requests.
            let _admin = match state.admin(config) {
                Some(admin) => Some(admin.spawn().await?),
                None => None,
            };
            announce(app.local_addr()?);
            let (signalled, asked) = tokio::sync::oneshot::channel();
            let stop = {
                let (state, config) = (state.clone(), config.clone());
                async move {
                    stop.await;
                    let _ = signalled.send(());
                    state.stopping(&config).await;
                }
            };
            let run = async {
                app.run_until(stop).await?;
                state.stopped(config).await;
                anyhow::Ok(())
            };
            let Some(deadline) = Self::stop_deadline(config) else {
                return run.await;
            };
            let overdue = async {
                // A `stop` that never fires leaves the server running: no deadline then.
                if asked.await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(deadline).await;
            };
            tokio::select! {
                done = run => done,
                () = overdue => anyhow::bail!(
                    "stopping took longer than its deadline ({deadline:?}): what still ran was \
                     cut off"
                ),
            }
        }
    }
}

/// A step built on the one before it: steps 1 to 10 implement this, and [`Step`] comes with
/// it. Each hook has the default "this step changes nothing here", so a step's implementation
/// shows exactly what it adds: its parts, its state, and the hooks it overrides.
///
/// How [`Step`] is made from it: `tune_mongo` is the base step's, then
/// [`Extends::tune_own_mongo`]; `prepare` is the base step's, then [`Extends::prepare_own`];
/// `parts` is the base step's, then [`Extends::extend_parts`]; `from_parts` is
/// [`Extends::wire`]; `routes` is [`Extends::all_routes`] (the base step's plus
/// [`Extends::own_routes`]); `layer` is [`Extends::outer_layer`] around the base step's
/// layers around [`Extends::inner_layer`]; `accounts` is the base step's; `stopping` and
/// `stopped` are [`Extends::stopping_own`] and [`Extends::stopped_own`], then the base step's;
/// `stop_deadline` is [`Extends::own_stop_deadline`], else the base step's.
pub trait Extends: Clone + Send + Sync + Sized + 'static {
    /// The step this one is built on.
    type Base: Step;
    /// N for step N.
    const NUMBER: u8;
    /// What the step is about, in a few words.
    const TITLE: &'static str;
    /// The base step's configuration plus this step's sections; derefs to the base step's.
    type Config: StepConfig + Deref<Target = <Self::Base as Step>::Config>;
    /// What the state is wired from: the base step's parts, extended (or those very parts).
    type Parts: Send;

    /// The base step's state inside this one.
    fn base(&self) -> &Self::Base;

    /// This step's own MongoDB settings, applied after the base step's.
    fn tune_own_mongo(_config: &Self::Config, _options: &mut MongoOptions) {}

    /// This step's own preparation (indexes, backfills), run after the base step's.
    fn prepare_own(
        _db: &Mongo,
        _config: &Self::Config,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }

    /// The parts: the base step's `base`, with this step's replacements and additions.
    fn extend_parts(
        db: &Mongo,
        config: &Self::Config,
        base: <Self::Base as Step>::Parts,
    ) -> impl Future<Output = anyhow::Result<Self::Parts>> + Send;

    /// The state wired from `parts`: the base step's state (`Step::from_parts` of the base)
    /// plus this step's components.
    fn wire(
        config: &Self::Config,
        parts: Self::Parts,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Every route: the base step's plus [`Extends::own_routes`]. A step that changes an
    /// earlier step's routes overrides this and rebuilds them through the seam the earlier
    /// step offers (step 1 replaces step 0's `/auth`, step 2 its product listing).
    fn all_routes(&self, config: &Self::Config) -> Router {
        self.base().routes(config).merge(self.own_routes(config))
    }

    /// This step's own routes, bound to its state.
    fn own_routes(&self, _config: &Self::Config) -> Router {
        Router::new()
    }

    /// Layers inside the base step's: they see every route before the base step's layers do
    /// (step 2's rate limits, so a 429 gets the error envelope and the security headers).
    fn inner_layer(&self, routes: Router, _config: &Self::Config) -> Router {
        routes
    }

    /// Layers around the base step's (step 1's security headers, step 2's versioning).
    fn outer_layer(&self, routes: Router, _config: &Self::Config) -> Router {
        routes
    }

    /// This step's part of [`Step::stopping`], before the base step's.
    fn stopping_own(&self, _config: &Self::Config) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// This step's part of [`Step::stopped`], before the base step's.
    fn stopped_own(&self, _config: &Self::Config) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// This step's [`Step::stop_deadline`]; `None` keeps the base step's.
    fn own_stop_deadline(_config: &Self::Config) -> Option<Duration> {
        None
    }

    /// This step's [`Step::admin`] listener; `None` keeps the base step's.
    fn own_admin(&self, _config: &Self::Config) -> Option<Admin> {
        None
    }
}

impl<T: Extends> Step for T {
    const NUMBER: u8 = <T as Extends>::NUMBER;
    const TITLE: &'static str = <T as Extends>::TITLE;
    type Config = <T as Extends>::Config;
    type Parts = <T as Extends>::Parts;

    fn tune_mongo(config: &Self::Config, options: &mut MongoOptions) {
        T::Base::tune_mongo(config, options);
        T::tune_own_mongo(config, options);
    }

    async fn prepare(db: &Mongo, config: &Self::Config) -> anyhow::Result<()> {
        T::Base::prepare(db, config).await?;
        T::prepare_own(db, config).await
    }

    async fn parts(db: &Mongo, config: &Self::Config) -> anyhow::Result<Self::Parts> {
        let base = T::Base::parts(db, config).await?;
        T::extend_parts(db, config, base).await
    }

    async fn from_parts(config: &Self::Config, parts: Self::Parts) -> anyhow::Result<Self> {
        T::wire(config, parts).await
    }

    fn routes(&self, config: &Self::Config) -> Router {
        self.all_routes(config)
    }

    fn layer(&self, routes: Router, config: &Self::Config) -> Router {
        let routes = self.inner_layer(routes, config);
        let routes = self.base().layer(routes, config);
        self.outer_layer(routes, config)
    }

    fn accounts(&self) -> &Accounts {
        self.base().accounts()
    }

    async fn stopping(&self, config: &Self::Config) {
        self.stopping_own(config).await;
        self.base().stopping(config).await;
    }

    async fn stopped(&self, config: &Self::Config) {
        self.stopped_own(config).await;
        self.base().stopped(config).await;
    }

    fn stop_deadline(config: &Self::Config) -> Option<Duration> {
        T::own_stop_deadline(config).or_else(|| T::Base::stop_deadline(config))
    }

    fn admin(&self, config: &Self::Config) -> Option<Admin> {
        self.own_admin(config).or_else(|| self.base().admin(config))
    }
}

/// An admin listener ([`Step::admin`]): where it listens and what it serves.
pub struct Admin {
    pub addr: std::net::SocketAddr,
    pub router: Router,
}

impl Admin {
    /// Binds it and serves it on a task of its own; dropping the handle stops it.
    pub async fn spawn(self) -> anyhow::Result<AdminServer> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("binding the admin listener on {}", self.addr))?;
        let addr = listener.local_addr()?;
        tracing::info!("admin listener on http://{addr}");
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, self.router).await {
                tracing::warn!(error = %e, "the admin listener stopped");
            }
        });
        Ok(AdminServer { addr, task })
    }
}

/// A running admin listener; stops when dropped.
pub struct AdminServer {
    /// Where it listens (the port chosen when the address asked for port 0).
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

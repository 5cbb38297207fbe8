//! Wiring: step 7's [`Step`]: step 6's preparation and parts unchanged, its state plus the
//! readiness checks, its routes plus `/healthz` and `/readyz`, and the stop hooks that make
//! a SIGTERM a graceful shutdown ([`crate::shutdown`]).
//!
//! [`Step`]: common::Step

use common::Step;
use common::step::Extends;
use common::store::mongo::Mongo;
use derive_more::{Deref, DerefMut};

use crate::config::Config;
use crate::probes::{Migrations, Readiness, RedisUp, Stopping, WorkersRunning};

common::shared_state! {
    /// Step 7's application state: step 6's, plus the readiness probe's checks ([`State`]).
    pub struct AppState(State);
}

/// What [`AppState`] holds: step 6's state (`base`, reached through `Deref`), what
/// `/readyz` asks, and the flag a stop sets.
#[derive(Clone, Deref, DerefMut)]
pub struct State {
    #[deref]
    #[deref_mut]
    pub base: step06_distributed::AppState,
    pub readiness: Readiness,
    pub stopping: Stopping,
}

impl Extends for AppState {
    type Base = step06_distributed::AppState;
    const NUMBER: u8 = 7;
    const TITLE: &'static str = "DevOps";
    type Config = Config;
    type Parts = step06_distributed::startup::Parts;

    fn base(&self) -> &step06_distributed::AppState {
        &self.base
    }

    /// Step 6's parts, unchanged: step 7 adds no store and no dependency.
    async fn extend_parts(
        _db: &Mongo,
        _config: &Config,
        base: step06_distributed::startup::Parts,
    ) -> anyhow::Result<step06_distributed::startup::Parts> {
        Ok(base)
    }

    /// Step 6's state, plus what `/readyz` asks: `/health`'s checks, the migrations, the
    /// workers and Redis ([`crate::probes`]); the probes counted by no rate limit.
    async fn wire(
        config: &Config,
        parts: step06_distributed::startup::Parts,
    ) -> anyhow::Result<Self> {
        let mut base = step06_distributed::AppState::from_parts(config, parts).await?;
        // Probes come every few seconds from one address (the node's kubelet, the load
        // balancer): counted, they would spend that address's quota, and a 429 would read as
        // "not ready". Exempt, like `/health`.
        base.rate_limits = base
            .rate_limits
            .clone()
            .exempting(crate::probes::LIVENESS)
            .exempting(crate::probes::READINESS);
        let checks = base
            .health
            .clone()
            .with(Migrations {
                pool: base.postgres.clone(),
            })
            .with(WorkersRunning(base.workers.clone()))
            .with(RedisUp(base.redis.clone()));
        let stopping = Stopping::default();
        Ok(Self::from(State {
            readiness: Readiness::new(&checks, stopping.clone()),
            base,
            stopping,
        }))
    }

    /// `/healthz` and `/readyz`.
    fn own_routes(&self, _config: &Config) -> axum::Router {
        crate::probes::router(self.readiness.clone())
    }

    /// Not ready from now on; still serving for `shutdown.drain_delay_ms`.
    async fn stopping_own(&self, config: &Config) {
        crate::shutdown::stopping(&self.stopping, &config.shutdown).await;
    }

    /// Step 6's workers end their rounds.
    async fn stopped_own(&self, _config: &Config) {
        crate::shutdown::stopped(&self.workers).await;
    }

    fn own_stop_deadline(config: &Config) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(
            config.shutdown.deadline_ms,
        ))
    }
}

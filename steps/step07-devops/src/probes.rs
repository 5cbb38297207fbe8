//! `GET /healthz` and `GET /readyz`: the two questions an orchestrator asks, kept apart from
//! `/health`'s report.
//!
//! - **Liveness** (`/healthz`): the process answers. Nothing else is asked, so a database
//!   outage never gets healthy instances restarted (a restart cures nothing there).
//! - **Readiness** (`/readyz`): this instance should be sent requests now. 503 while a
//!   dependency it cannot serve without is unreachable (MongoDB, PostgreSQL's primary), while
//!   its migrations are not all applied, while its recovery worker and the other step-6
//!   workers are not running, and from the moment it is asked to stop ([`Stopping`]).
//!   Dependencies it serves on without are reported as `degraded` and leave it ready: Redis
//!   (step 3 serves uncached) and the read replica (step 6 reads the primary instead). Were
//!   they required, one shared Redis going down would take every instance out of the load
//!   balancer at once, turning a slower shop into no shop.
//!
//! Both answer through the same layers as every route (request ids, timeouts, security
//! headers).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use common::services::{HealthCheck, HealthChecks};
use serde_json::{Value, json};
use sqlx::PgPool;
use step06_distributed::workers::Workers;

/// The liveness probe's path.
pub const LIVENESS: &str = "/healthz";
/// The readiness probe's path.
pub const READINESS: &str = "/readyz";

/// The checks whose failure leaves the instance ready, `degraded`: what it serves on without.
pub const DEGRADED_ONLY: &[&str] = &["postgresql-replica", "redis"];

/// Set once the instance is asked to stop: from then on it is not ready. Shared by every
/// clone of the state.
#[derive(Clone, Default)]
pub struct Stopping(Arc<AtomicBool>);

impl Stopping {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What `/readyz` asks.
#[derive(Clone)]
pub struct Readiness {
    /// Each must pass for the instance to be ready.
    pub required: HealthChecks,
    /// Reported; a failure is `degraded`, and the instance stays ready.
    pub degraded: HealthChecks,
    pub stopping: Stopping,
}

impl Readiness {
    /// `checks` (`/health`'s and step 7's own) split into required and degraded-only
    /// ([`DEGRADED_ONLY`]).
    pub fn new(checks: &HealthChecks, stopping: Stopping) -> Self {
        Self {
            required: checks.without(DEGRADED_ONLY),
            degraded: checks.only(DEGRADED_ONLY),
            stopping,
        }
    }
}

pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route(LIVENESS, get(alive))
        .route(READINESS, get(ready))
        .with_state(readiness)
}

/// 200 `{"status":"alive"}`: the process answers.
async fn alive() -> impl IntoResponse {
    Json(json!({ "status": "alive" }))
}

/// 200 `{"status":"ready","checks":{...}}`, or 503 with `"status":"not ready"` naming the
/// failed checks `unavailable`, or 503 `"status":"stopping"` once asked to stop (no check is
/// run then: the answer must come at once).
async fn ready(State(readiness): State<Readiness>) -> impl IntoResponse {
    if readiness.stopping.is_set() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "stopping" })),
        );
    }
    let (required, degraded) = futures::join!(readiness.required.run(), readiness.degraded.run());
    let mut checks: BTreeMap<&str, &str> = BTreeMap::new();
    let mut ready = true;
    for (name, outcome) in required {
        if let Err(reason) = &outcome {
            tracing::warn!(check = name, %reason, "readiness check failed");
            ready = false;
        }
        checks.insert(name, if outcome.is_ok() { "ok" } else { "unavailable" });
    }
    for (name, outcome) in degraded {
        if let Err(reason) = &outcome {
            tracing::info!(check = name, %reason, "serving degraded");
        }
        checks.insert(name, if outcome.is_ok() { "ok" } else { "degraded" });
    }
    // Checked again: a stop that came while the checks ran wins.
    let (status, word) = if readiness.stopping.is_set() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping")
    } else if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let body: Value = json!({ "status": word, "checks": checks });
    (status, Json(body))
}

/// Every migration of steps 5 and 6 applied (and none failed) in `_sqlx_migrations`: an
/// instance of a newer build waits, not ready, while another instance migrates.
pub struct Migrations {
    pub pool: PgPool,
}

#[async_trait::async_trait]
impl HealthCheck for Migrations {
    fn name(&self) -> &'static str {
        "migrations"
    }

    async fn check(&self) -> anyhow::Result<()> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        let missing: Vec<String> = step05_hybrid_dbs::postgres::MIGRATOR
            .iter()
            .chain(step06_distributed::postgres::MIGRATOR.iter())
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("not applied: {}", missing.join(", "))
        }
    }
}

/// Step 6's background work (the recovery worker, the outbox relay, the consumers) running.
pub struct WorkersRunning(pub Arc<Workers>);

#[async_trait::async_trait]
impl HealthCheck for WorkersRunning {
    fn name(&self) -> &'static str {
        "workers"
    }

    async fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.0.running(), "a worker has ended or was asked to stop");
        Ok(())
    }
}

/// Redis answers `PING` (degraded-only: step 3 serves on without it).
pub struct RedisUp(pub step03_caching::redis_handle::RedisHandle);

#[async_trait::async_trait]
impl HealthCheck for RedisUp {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> anyhow::Result<()> {
        self.0.ping().await.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

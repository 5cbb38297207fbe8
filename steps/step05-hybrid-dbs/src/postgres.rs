//! The PostgreSQL pool and the embedded migrations. The pool connects lazily, so the service
//! starts (and serves the catalog) while PostgreSQL is down; every order route then answers
//! 503 until it returns. The migrations are compiled into the binary (`sqlx::migrate!`) and
//! applied under PostgreSQL's advisory lock, which sqlx's migrator takes, so instances that
//! start together apply each migration once and the others wait for it.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use common::services::HealthCheck;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::PostgresConfig;

/// Every migration of `migrations/`, in the binary. A later step's migrations (step 6's
/// sagas and outbox), applied after these to the same database, are not an error here: each
/// step's migrator checks its own and skips the rest.
pub static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};

/// A pool on `config.url` that connects when first used, every session with the configured
/// server-side timeouts.
pub fn pool(config: &PostgresConfig) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .url
        .expose_secret()
        .parse()
        .map_err(|_| anyhow::anyhow!("postgres.url is not a valid postgres:// URL"))?;
    let options = options.options([
        (
            "statement_timeout",
            format!("{}ms", config.statement_timeout_ms),
        ),
        ("lock_timeout", format!("{}ms", config.lock_timeout_ms)),
        (
            "idle_in_transaction_session_timeout",
            format!("{}ms", config.idle_in_transaction_timeout_ms),
        ),
    ]);
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_lazy_with(options))
}

/// Applies the migrations not applied yet; safe while other instances do the same.
pub async fn migrate(config: &PostgresConfig) -> anyhow::Result<()> {
    let pool = pool(config)?;
    MIGRATOR.run(&pool).await.context(
        "applying the PostgreSQL migrations (is PostgreSQL running? `cargo xtask doctor` checks)",
    )?;
    pool.close().await;
    Ok(())
}

/// `GET /health`'s PostgreSQL check: `SELECT 1` through the pool.
pub struct PostgresHealth(pub PgPool);

#[async_trait]
impl HealthCheck for PostgresHealth {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    async fn check(&self) -> anyhow::Result<()> {
        sqlx::query_scalar!("SELECT 1 AS one")
            .fetch_one(&self.0)
            .await?;
        Ok(())
    }
}

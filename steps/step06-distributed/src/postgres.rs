//! Step 6's migrations (`migrations/`: the sagas and stock reservations, the outbox, the
//! consumers' tables), applied after step 5's to the same database and the same
//! `_sqlx_migrations` history, under the same advisory lock.

use anyhow::Context;
use sqlx::migrate::Migrator;

use step05_hybrid_dbs::config::PostgresConfig;

/// Step 6's own migrations; step 5's (versions 1 to 4) are step 5's migrator's.
pub static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};

/// Applies step 5's migrations, then step 6's.
pub async fn migrate(config: &PostgresConfig) -> anyhow::Result<()> {
    step05_hybrid_dbs::postgres::migrate(config).await?;
    let pool = step05_hybrid_dbs::postgres::pool(config)?;
    MIGRATOR
        .run(&pool)
        .await
        .context("applying step 6's PostgreSQL migrations")?;
    pool.close().await;
    Ok(())
}

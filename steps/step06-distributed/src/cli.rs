//! Step 6's binary: the commands of steps 0 to 5; `migrate` applies step 6's migrations too
//! (startup does, unless `postgres.migrate_on_start` is off).

use common::cli::Binary;

use crate::{AppState, Config};

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 6: distributed data (order sagas, the outbox, recovery)";
    type Seed = step05_hybrid_dbs::cli::Seed;
    type Command = step05_hybrid_dbs::cli::Command;

    async fn seed(config: &Config, seed: Self::Seed) -> anyhow::Result<()> {
        crate::postgres::migrate(&config.postgres).await?;
        step05_hybrid_dbs::AppState::seed(config, seed).await
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        if matches!(command, step05_hybrid_dbs::cli::Command::Migrate) {
            crate::postgres::migrate(&config.postgres).await?;
            for migration in crate::postgres::MIGRATOR.iter() {
                println!(
                    "{:>4} {}: applied",
                    migration.version, migration.description
                );
            }
        }
        step05_hybrid_dbs::AppState::command(config, command).await
    }
}

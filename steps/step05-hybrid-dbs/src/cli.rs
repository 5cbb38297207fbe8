//! Step 5's binary: the commands of steps 0 to 4, and `migrate`, which applies the PostgreSQL
//! migrations (what startup does unless `postgres.migrate_on_start` is off).

use common::cli::Binary;

use crate::{AppState, Config};

/// The commands of steps 1 to 5.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply the embedded PostgreSQL migrations that are not applied yet (idempotent, safe
    /// while instances run) and list them.
    Migrate,
    #[command(flatten)]
    Earlier(step04_optimize::cli::Command),
}

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 5: hybrid databases (orders and payments in PostgreSQL)";
    type Seed = step04_optimize::cli::Seed;
    type Command = Command;

    async fn seed(config: &Config, seed: Self::Seed) -> anyhow::Result<()> {
        step04_optimize::AppState::seed(config, seed).await
    }

    async fn command(config: &Config, command: Command) -> anyhow::Result<()> {
        match command {
            Command::Migrate => {
                crate::postgres::migrate(&config.postgres).await?;
                for migration in crate::postgres::MIGRATOR.iter() {
                    println!(
                        "{:>4} {}: applied",
                        migration.version, migration.description
                    );
                }
                Ok(())
            }
            Command::Earlier(command) => step04_optimize::AppState::command(config, command).await,
        }
    }
}

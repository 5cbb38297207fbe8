//! Step 7's binary: step 6's commands, unchanged (step 7 adds no data of its own).

use common::cli::Binary;

use crate::{AppState, Config};

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 7: DevOps (liveness and readiness probes, graceful shutdown)";
    type Seed = <step06_distributed::AppState as Binary>::Seed;
    type Command = <step06_distributed::AppState as Binary>::Command;

    async fn seed(config: &Config, seed: Self::Seed) -> anyhow::Result<()> {
        step06_distributed::AppState::seed(config, seed).await
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        step06_distributed::AppState::command(config, command).await
    }
}

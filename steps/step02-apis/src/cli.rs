//! Step 2's binary: the commands of steps 0 and 1, unchanged (step 2 adds none of its own).

use common::cli::{Binary, DemoCatalog};

use crate::{AppState, Config};

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 2: APIs (REST v1/v2, OpenAPI, rate limits, GraphQL, gRPC payments)";
    type Seed = DemoCatalog;
    type Command = step01_security::cli::Command;

    async fn seed(_config: &Config, _seed: DemoCatalog) -> anyhow::Result<()> {
        Ok(())
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        step01_security::AppState::command(config, command).await
    }
}

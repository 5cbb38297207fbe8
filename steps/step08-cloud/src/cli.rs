//! Step 8's binary: step 7's commands, unchanged.

use common::cli::Binary;

use crate::{AppState, Config};

impl Binary for AppState {
    const ABOUT: &'static str = "stepwise-shop step 8: cloud (configuration per cloud profile, \
                                 managed services over TLS, object storage)";
    type Seed = <step07_devops::AppState as Binary>::Seed;
    type Command = <step07_devops::AppState as Binary>::Command;

    async fn seed(config: &Config, seed: Self::Seed) -> anyhow::Result<()> {
        step07_devops::AppState::seed(config, seed).await
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        step07_devops::AppState::command(config, command).await
    }
}

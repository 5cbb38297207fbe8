//! Step 9's binary: step 8's commands, unchanged; `serve` also starts the admin listener.

use common::cli::Binary;

use crate::{AppState, Config};

impl Binary for AppState {
    const ABOUT: &'static str = "stepwise-shop step 9: monitoring (Prometheus metrics on an \
                                 admin listener, JSON logs with request and trace ids)";
    type Seed = <step08_cloud::AppState as Binary>::Seed;
    type Command = <step08_cloud::AppState as Binary>::Command;

    async fn seed(config: &Config, seed: Self::Seed) -> anyhow::Result<()> {
        step08_cloud::AppState::seed(config, seed).await
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        step08_cloud::AppState::command(config, command).await
    }
}

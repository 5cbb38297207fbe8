//! Step 8's test configuration, for its own tests and every later step's: step 7's, with
//! the `local` profile's sections.

use common::testing::{TestEnv, TestStep};

use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        Ok(Config {
            base: step07_devops::AppState::test_config(env).await?,
            cloud: Default::default(),
            secrets: Default::default(),
            storage: crate::storage::testing::storage(env)?,
            managed: Default::default(),
        })
    }
}

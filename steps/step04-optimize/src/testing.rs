//! Step 4's test configuration, for its own tests and every later step's: step 3's, with step
//! 4's `optimize` section at its defaults (indexes created at startup; the profiling endpoint
//! off, as in every environment but development).

use common::testing::{TestEnv, TestStep};

use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        Ok(Config {
            base: step03_caching::AppState::test_config(env).await?,
            optimize: Default::default(),
        })
    }
}

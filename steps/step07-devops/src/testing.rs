//! Step 7's test configuration, for its own tests and every later step's: step 6's, with a
//! short drain delay (a test that stops a server does not wait five seconds for a load
//! balancer that is not there) and a deadline well above what a test's requests take.

use common::testing::{TestEnv, TestStep};

use crate::config::ShutdownConfig;
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        Ok(Config {
            base: step06_distributed::AppState::test_config(env).await?,
            shutdown: ShutdownConfig {
                drain_delay_ms: 200,
                deadline_ms: 15_000,
            },
        })
    }
}

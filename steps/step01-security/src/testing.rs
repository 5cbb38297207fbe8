//! Step 1's test configuration, for its own tests and every later step's: step 0's, plus the
//! `security` section with one fresh random field-encryption key (no key is configured by
//! default, and step 1 refuses to start outside development without one).

use common::testing::{TestEnv, TestStep};

use crate::config::SecurityConfig;
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        Ok(Config {
            base: common::AppState::test_config(env).await?,
            security: SecurityConfig::with_random_key(),
        })
    }
}

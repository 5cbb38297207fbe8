//! Step 9's test configuration, for its own tests and every later step's: step 8's, with
//! the admin listener on a free port of the loopback interface.

use common::testing::{TestEnv, TestStep};

use crate::config::MetricsConfig;
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        Ok(Config {
            base: step08_cloud::AppState::test_config(env).await?,
            metrics: MetricsConfig {
                host: "127.0.0.1".to_owned(),
                port: 0,
                ..MetricsConfig::default()
            },
        })
    }
}

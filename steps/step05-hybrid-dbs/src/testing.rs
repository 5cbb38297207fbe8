//! Step 5's test configuration, for its own tests and every later step's: step 4's, plus a
//! PostgreSQL database of the test's own (created for it, dropped after it), migrated when
//! the app starts.

use common::testing::{TestEnv, TestStep};
use secrecy::SecretString;

use crate::config::PostgresConfig;
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        let base = step04_optimize::AppState::test_config(env).await?;
        let postgres = env.postgres().await?;
        Ok(Config {
            base,
            postgres: PostgresConfig {
                url: SecretString::from(postgres.url),
                ..PostgresConfig::default()
            },
        })
    }
}

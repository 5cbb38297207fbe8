//! Step 3's test configuration, for its own tests and every later step's: step 2's, plus a key
//! prefix of the test's own on a Redis (the harness's shared one unless the test brings its
//! own), so tests run in parallel on one server and leave no key behind.

use common::testing::{TestEnv, TestStep};
use secrecy::SecretString;

use crate::config::{CacheConfig, RedisConfig};
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        let base = step02_apis::AppState::test_config(env).await?;
        let redis = env.redis().await?;
        Ok(Config {
            base,
            redis: RedisConfig {
                url: SecretString::from(redis.url),
                ..RedisConfig::default()
            },
            cache: CacheConfig {
                key_prefix: redis.namespace,
                ..CacheConfig::default()
            },
            sessions: Default::default(),
        })
    }
}

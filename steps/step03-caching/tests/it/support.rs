//! The step-3 harness: step 2's (a real server per test on port 0, a fresh database, its own
//! payment simulator and gRPC payments service), plus a key prefix of its own on the shared
//! test Redis, so tests run in parallel on one server. [`spawn_beside`] starts a second
//! instance on the same database and the same prefix: two app instances sharing one Redis.

#![allow(dead_code)] // each test module uses its own part of the harness

use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde_json::Value;
use step01_security::config::SecurityConfig;
use step02_apis::config::ApisConfig;
use step02_apis::payments::RunningPayments;
use step03_caching::cache::CacheCounters;
use step03_caching::config::{CacheConfig, RedisConfig};
use step03_caching::{AppState, Config};
use testkit::TestApp;
use testkit::services::redis::{TestRedis, test_redis};
use tokio::net::TcpListener;

/// The service token of every test's payments service and app.
pub const TEST_SERVICE_TOKEN: &str = "test-payments-service-token-that-is-long-enough";

/// A running step-3 app and what it was built with.
pub struct App {
    pub app: TestApp,
    pub config: Config,
    pub payments_service: RunningPayments,
    /// The app's state: its Redis handle and cache counters.
    pub state: AppState,
    /// The key prefix (deleted when the last app holding it drops).
    pub redis: Arc<TestRedis>,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl App {
    /// The cache's counters, read from the state.
    pub fn counters(&self) -> CacheCounters {
        self.state.cache_stats.snapshot()
    }

    /// `GET path` as a client, expecting 200; the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        testkit::expect_status(self.get(path, None).await, 200).await
    }
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Step 3 with `customize` applied to the test configuration.
pub async fn spawn_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> App {
    let redis = Arc::new(test_redis().await.expect("the shared test Redis"));
    spawn_built(redis, customize, |config| async move {
        AppState::build(&config).await
    })
    .await
}

/// A second instance of `first`'s app: the same database, the same Redis and key prefix.
pub async fn spawn_beside(first: &App) -> App {
    let mongodb = first.config.common().mongodb.clone();
    spawn_built(
        first.redis.clone(),
        move |config| config.base.base.base.mongodb = mongodb,
        |config| async move { AppState::build(&config).await },
    )
    .await
}

/// The configuration of a test's cache: its prefix on `redis`, and a short wait for another
/// instance's rebuild (the defaults suit production).
pub fn test_cache(redis: &TestRedis) -> (RedisConfig, CacheConfig) {
    let redis_config = RedisConfig {
        url: SecretString::from(redis.url.clone()),
        ..RedisConfig::default()
    };
    let cache = CacheConfig {
        key_prefix: redis.prefix.clone(),
        ..CacheConfig::default()
    };
    (redis_config, cache)
}

/// Step 3 on `redis`'s prefix, `customize` applied, its state made by `build` from the final
/// configuration (the stampede test wraps the stores).
pub async fn spawn_built<B, Fut>(
    redis: Arc<TestRedis>,
    customize: impl FnOnce(&mut Config) + Send + 'static,
    build: B,
) -> App
where
    B: FnOnce(Config) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<AppState>> + Send,
{
    let used = Arc::new(Mutex::new(None));
    let keep = used.clone();
    let (redis_config, cache) = test_cache(&redis);
    let app = TestApp::spawn(
        |_| {},
        move |base| async move {
            let service = step02_apis::payments::serve(
                TcpListener::bind("127.0.0.1:0").await?,
                &base.payments,
                SecretString::from(TEST_SERVICE_TOKEN),
            )
            .await?;
            let mut config = Config {
                base: step02_apis::Config {
                    base: step01_security::Config {
                        base,
                        security: SecurityConfig::with_random_key(),
                    },
                    apis: ApisConfig::default(),
                },
                redis: redis_config,
                cache,
                sessions: Default::default(),
            };
            config.base.apis.payments.url = service.url();
            config.base.apis.payments.service_token = Some(SecretString::from(TEST_SERVICE_TOKEN));
            config.base.apis.payments.deadline_ms = 3_000;
            customize(&mut config);
            config.validate()?;
            let state = build(config.clone()).await?;
            let router = step03_caching::router(state.clone(), &config);
            *keep.lock().unwrap() = Some((config, service, state));
            Ok(router)
        },
    )
    .await
    .expect("the step-3 test app starts");
    let (config, payments_service, state) =
        used.lock().unwrap().take().expect("the config was kept");
    App {
        app,
        config,
        payments_service,
        state,
        redis,
    }
}

//! The step-4 harness: step 3's (a real server per test on port 0, a fresh database, its own
//! payment simulator and gRPC payments service, its own key prefix on the shared test Redis),
//! with step 4's configuration and router. [`spawn_beside`] starts another instance on the same
//! database and the same Redis prefix (several instances behind nginx); [`spawn_built`] also
//! wraps the router, so a test can make one instance die in a way it chooses.

#![allow(dead_code)] // each test module uses its own part of the harness

use std::sync::{Arc, Mutex};

use axum::Router;
use secrecy::SecretString;
use serde_json::Value;
use step01_security::config::SecurityConfig;
use step02_apis::config::ApisConfig;
use step02_apis::payments::RunningPayments;
use step03_caching::config::{CacheConfig, RedisConfig};
use step04_optimize::config::OptimizeConfig;
use step04_optimize::{AppState, Config};
use testkit::TestApp;
use testkit::services::redis::{TestRedis, test_redis};
use tokio::net::TcpListener;

/// The service token of every test's payments service and app.
pub const TEST_SERVICE_TOKEN: &str = "test-payments-service-token-that-is-long-enough";

/// A running step-4 app and what it was built with.
pub struct App {
    pub app: TestApp,
    pub config: Config,
    pub payments_service: RunningPayments,
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
    /// `GET path` as a client, expecting 200; the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        testkit::expect_status(self.get(path, None).await, 200).await
    }
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Step 4 with `customize` applied to the test configuration.
pub async fn spawn_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> App {
    let redis = Arc::new(test_redis().await.expect("the shared test Redis"));
    spawn_built(redis, customize, |router| router).await
}

/// Another instance of `first`'s app: the same database, the same Redis and key prefix, and
/// `customize` applied after that (e.g. `first`'s rate limits).
pub async fn spawn_beside(
    first: &App,
    customize: impl FnOnce(&mut Config) + Send + 'static,
    wrap: impl FnOnce(Router) -> Router + Send + 'static,
) -> App {
    let mongodb = first.config.common().mongodb.clone();
    spawn_built(
        first.redis.clone(),
        move |config| {
            config.base.base.base.base.mongodb = mongodb;
            customize(config);
        },
        wrap,
    )
    .await
}

/// Step 4 on `redis`'s prefix with `customize` applied, its router passed through `wrap`
/// before it serves.
pub async fn spawn_built(
    redis: Arc<TestRedis>,
    customize: impl FnOnce(&mut Config) + Send + 'static,
    wrap: impl FnOnce(Router) -> Router + Send + 'static,
) -> App {
    let (redis_config, cache) = (
        RedisConfig {
            url: SecretString::from(redis.url.clone()),
            ..RedisConfig::default()
        },
        CacheConfig {
            key_prefix: redis.prefix.clone(),
            ..CacheConfig::default()
        },
    );
    let used = Arc::new(Mutex::new(None));
    let keep = used.clone();
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
                base: step03_caching::Config {
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
                },
                optimize: OptimizeConfig::default(),
            };
            let payments = &mut config.base.base.apis.payments;
            payments.url = service.url();
            payments.service_token = Some(SecretString::from(TEST_SERVICE_TOKEN));
            payments.deadline_ms = 3_000;
            customize(&mut config);
            config.validate()?;
            let state = AppState::build(&config).await?;
            let router = wrap(step04_optimize::router(state.clone(), &config));
            *keep.lock().unwrap() = Some((config, service, state));
            Ok(router)
        },
    )
    .await
    .expect("the step-4 test app starts");
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

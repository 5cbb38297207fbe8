//! The step-2 harness: `testkit`'s real server per test (port 0, a fresh database, its own
//! payment simulator), serving step 2's router, with its own payments service (gRPC, port 0)
//! in front of that simulator: every step-2 test pays over gRPC, as the app does.

use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use step01_security::config::SecurityConfig;
use step02_apis::config::ApisConfig;
use step02_apis::payments::RunningPayments;
use step02_apis::{AppState, Config};
use testkit::TestApp;
use tokio::net::TcpListener;

/// The service token of every test's payments service and app.
pub const TEST_SERVICE_TOKEN: &str = "test-payments-service-token-that-is-long-enough";

/// A running step-2 app, its payments service and the full configuration it was built with.
pub struct App {
    pub app: TestApp,
    pub config: Config,
    /// In front of `app.payments` (the simulator); the app's `apis.payments.url` points here
    /// unless the test's `customize` pointed it elsewhere.
    pub payments_service: RunningPayments,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Step 2 with `customize` applied to the test configuration.
pub async fn spawn_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> App {
    spawn_built(
        customize,
        |config| async move { AppState::build(&config).await },
    )
    .await
}

/// [`spawn_with`], with the app's state made by `build` from the final configuration (the
/// counting tests wrap the stores).
pub async fn spawn_built<B, Fut>(
    customize: impl FnOnce(&mut Config) + Send + 'static,
    build: B,
) -> App
where
    B: FnOnce(Config) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<AppState>> + Send,
{
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
                base: step01_security::Config {
                    base,
                    security: SecurityConfig::with_random_key(),
                },
                apis: ApisConfig::default(),
            };
            config.apis.payments.url = service.url();
            config.apis.payments.service_token = Some(SecretString::from(TEST_SERVICE_TOKEN));
            // Above the test provider's 2 s timeout, as in production: a slow provider is
            // reported by the service, which knows why.
            config.apis.payments.deadline_ms = 3_000;
            customize(&mut config);
            config.validate()?;
            let state = build(config.clone()).await?;
            let router = step02_apis::router(state, &config);
            *keep.lock().unwrap() = Some((config, service));
            Ok(router)
        },
    )
    .await
    .expect("the step-2 test app starts");
    let (config, payments_service) = used.lock().unwrap().take().expect("the config was kept");
    App {
        app,
        config,
        payments_service,
    }
}

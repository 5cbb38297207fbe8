//! Step 2's test configuration, for its own tests and every later step's: step 1's, plus the
//! `apis` section pointing at a payments service of the test's own (gRPC on port 0, in this
//! process, in front of the test's payment simulator), so every test pays over gRPC, as the
//! app does. The service is kept beside the app (`TestApp::fixture::<RunningPayments>()`).

use common::testing::{TestEnv, TestStep};
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::ApisConfig;
use crate::payments::RunningPayments;
use crate::{AppState, Config};

/// The service token of every test's payments service and app.
pub const TEST_SERVICE_TOKEN: &str = "test-payments-service-token-that-is-long-enough";

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        let base = step01_security::AppState::test_config(env).await?;
        let service: RunningPayments = crate::payments::serve(
            TcpListener::bind("127.0.0.1:0").await?,
            &base.payments,
            SecretString::from(TEST_SERVICE_TOKEN),
        )
        .await?;
        let mut apis = ApisConfig::default();
        apis.payments.url = service.url();
        apis.payments.service_token = Some(SecretString::from(TEST_SERVICE_TOKEN));
        // Above the test provider's 2 s timeout, as in production: a slow provider is reported
        // by the service, which knows why.
        apis.payments.deadline_ms = 3_000;
        env.keep(service);
        Ok(Config { base, apis })
    }
}

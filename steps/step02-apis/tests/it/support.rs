//! The step-2 harness: `testkit`'s real server per test (port 0, a fresh database, its own
//! payment simulator), serving step 2's router.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use step01_security::config::SecurityConfig;
use step02_apis::Config;
use step02_apis::config::ApisConfig;
use testkit::TestApp;

/// A running step-2 app and the full configuration it was built with.
pub struct App {
    pub app: TestApp,
    pub config: Config,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Step 1's test settings: one random field-encryption key.
pub fn test_security() -> SecurityConfig {
    let mut security = SecurityConfig::default();
    let key = STANDARD.encode(rand::random::<[u8; 32]>());
    security
        .encryption
        .keys
        .insert("k1".to_owned(), SecretString::from(key));
    security
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Step 2 with `customize` applied to the test configuration.
pub async fn spawn_with(customize: impl FnOnce(&mut Config) + Send + 'static) -> App {
    let used = Arc::new(Mutex::new(None));
    let keep = used.clone();
    let app = TestApp::spawn(
        |_| {},
        move |base| async move {
            let mut config = Config {
                base: step01_security::Config {
                    base,
                    security: test_security(),
                },
                apis: ApisConfig::default(),
            };
            customize(&mut config);
            config.validate()?;
            let state = step02_apis::AppState::build(&config).await?;
            let router = step02_apis::router(state, &config);
            *keep.lock().unwrap() = Some(config);
            Ok(router)
        },
    )
    .await
    .expect("the step-2 test app starts");
    let config = used.lock().unwrap().take().expect("the config was kept");
    App { app, config }
}

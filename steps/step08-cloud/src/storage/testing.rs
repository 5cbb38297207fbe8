//! The `storage` section of step 8's test configuration: the local backend in a temp
//! directory the test's app owns (removed with its last instance), a signing key of the
//! test's own, and the default limits, so the contract suites see what a deploy sees.

use common::testing::TestEnv;
use secrecy::SecretString;

use super::config::StorageConfig;

/// The local backend in a fresh temp directory kept beside the app.
pub fn storage(env: &mut TestEnv) -> anyhow::Result<StorageConfig> {
    let directory = tempfile::Builder::new()
        .prefix("stepwise-images-")
        .tempdir()?;
    let config = StorageConfig {
        directory: directory.path().to_owned(),
        signing_secret: Some(SecretString::from(format!(
            "test-signing-key-{}",
            uuid::Uuid::new_v4().simple()
        ))),
        ..StorageConfig::default()
    };
    env.keep(directory);
    Ok(config)
}

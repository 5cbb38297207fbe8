//! Step 8's configuration: step 7's [`step07_devops::Config`], flattened, so every earlier
//! key keeps its name and its `APP__*` variable, plus its own sections: `cloud` (which cloud
//! the service runs on: the profile whose settings sit between the files and the
//! environment), `secrets` (a secret store read at start), `managed` (TLS to the managed
//! databases) and `storage` (the product images). Where each value comes from is
//! [`crate::layers`]; every key set must be one of these (`STRICT_KEYS`).

use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use serde::{Deserialize, Serialize};

/// Everything step 8 reads.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step07_devops::Config,
    #[serde(default)]
    pub cloud: CloudConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// Where product images are kept ([`crate::storage`]).
    #[serde(default)]
    pub storage: crate::storage::StorageConfig,
    /// Managed databases over TLS ([`crate::managed`]).
    #[serde(default)]
    pub managed: crate::managed::ManagedConfig,
}

/// Where the service runs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CloudConfig {
    /// The cloud profile: `local` (this machine's services), `aws`, `gcp` or `azure`.
    pub profile: Profile,
}

/// Secrets read from a secret store at start, above every layer but the mounted secret files
/// ([`crate::layers`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SecretsConfig {
    /// The id or ARN of an AWS Secrets Manager secret whose value is a JSON object of
    /// configuration keys and values (`{"auth.jwt_secret": "..."}`); unset, none is read.
    /// Credentials come from the standard variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). On EKS, where a pod's credentials come
    /// from its service account's web identity, mount the secret with the Secrets Store CSI
    /// driver instead and point `APP_SECRETS_DIR` at it.
    pub aws_secret_id: Option<String>,
    /// Its region; unset, `AWS_REGION`.
    pub aws_region: Option<String>,
    /// Another endpoint than AWS's (a local emulator in tests).
    pub aws_endpoint: Option<String>,
}

/// A cloud profile: a set of settings for one provider's managed services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Local,
    Aws,
    Gcp,
    Azure,
}

impl Profile {
    /// As written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Local => "local",
            Profile::Aws => "aws",
            Profile::Gcp => "gcp",
            Profile::Azure => "azure",
        }
    }
}

impl ExtendsConfig for Config {
    /// A cloud deploy is configured by the image, the platform and a secret store: a key
    /// read by nothing is a mistake to report, not a default to run with.
    const STRICT_KEYS: bool = true;

    fn own_layers() -> anyhow::Result<figment::Figment> {
        crate::layers::figment()
    }

    /// Step 8's sections (step 7's checks run first): the managed services' TLS settings and
    /// CA bundles, and the object store's.
    fn check(&self) -> anyhow::Result<()> {
        self.managed.check()?;
        self.storage.validate(self.environment)
    }
}

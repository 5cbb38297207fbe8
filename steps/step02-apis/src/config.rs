//! Step 2's configuration: step 1's [`step01_security::Config`], flattened, so every earlier
//! key keeps its name and its `APP__*` variable, plus an `apis` section with defaults, e.g.
//! `APP__APIS__RATE_LIMIT__ENABLED=false` or `APP__APIS__PAYMENTS__URL=http://...`.

use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use serde::{Deserialize, Serialize};

/// Everything step 2 reads: step 1's configuration (`base`, reached through `Deref`) and the
/// `apis` section.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step01_security::Config,
    #[serde(default)]
    pub apis: ApisConfig,
}

/// What step 2 adds; each part is defined beside the code it configures.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ApisConfig {
    pub rest: crate::rest::RestConfig,
    pub rate_limit: crate::rate_limit::RateLimitConfig,
    pub graphql: crate::graphql::GraphqlConfig,
    pub payments: crate::payments::PaymentsClientConfig,
}

impl ExtendsConfig for Config {
    /// Each of step 2's sections (step 1's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        self.apis.rest.validate()?;
        self.apis.rate_limit.validate()?;
        self.apis.graphql.validate()?;
        self.apis.payments.validate(self.environment)?;
        Ok(())
    }
}

//! Step 2's configuration: step 1's [`step01_security::Config`], flattened, so every earlier
//! key keeps its name and its `APP__*` variable, plus an `apis` section with defaults, e.g.
//! `APP__APIS__RATE_LIMIT__ENABLED=false` or `APP__APIS__PAYMENTS__URL=http://...`.

use figment::Figment;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub base: step01_security::Config,
    #[serde(default)]
    pub apis: ApisConfig,
}

/// What step 2 adds; each part is defined beside the code it configures.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ApisConfig {
    pub rest: crate::rest::RestConfig,
    pub rate_limit: crate::rate_limit::RateLimitConfig,
    pub graphql: crate::graphql::GraphqlConfig,
    pub payments: crate::payments::PaymentsClientConfig,
}

impl Config {
    /// The same layers as every step (`common::Config::layers`), then [`Config::validate`].
    pub fn load() -> anyhow::Result<Self> {
        Self::from_figment(common::Config::layers()?)
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        common::config::extract_checked(figment, Self::validate)
    }

    /// Step 1's checks, then each of step 2's sections.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.base.validate()?;
        self.apis.rest.validate()?;
        self.apis.rate_limit.validate()?;
        self.apis.graphql.validate()?;
        self.apis.payments.validate(self.common().environment)?;
        Ok(())
    }

    /// Step 0's settings (server, MongoDB, payments provider).
    pub fn common(&self) -> &common::Config {
        &self.base.base
    }
}

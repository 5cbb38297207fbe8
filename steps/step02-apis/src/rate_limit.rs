//! Rate limiting per client key (skeleton; filled in by the rate-limiting work).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RateLimitConfig {}

impl RateLimitConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

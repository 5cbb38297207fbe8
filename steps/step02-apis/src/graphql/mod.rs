//! GraphQL at `/graphql` (skeleton; filled in by the GraphQL work).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct GraphqlConfig {}

impl GraphqlConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

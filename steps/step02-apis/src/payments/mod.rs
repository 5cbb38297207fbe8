//! Payments over gRPC (skeleton; filled in by the gRPC work). Until then the order path keeps
//! step 0's HTTP gateway.

use std::sync::Arc;

use common::payments::{HttpPaymentGateway, PaymentGateway};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PaymentsClientConfig {}

impl PaymentsClientConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The gateway the order path charges through.
pub async fn gateway(config: &crate::Config) -> anyhow::Result<Arc<dyn PaymentGateway>> {
    Ok(Arc::new(HttpPaymentGateway::new(
        &config.common().payments,
    )?))
}

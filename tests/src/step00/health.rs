//! `GET /health`: the one route outside `/api/v1`, used by load balancers and probes.

use anyhow::Result;
use serde_json::Value;

use crate::client::Api;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![health_is_200_with_status_ok]
}

async fn health_is_200_with_status_ok(t: Target) -> Result<()> {
    let body: Value = Api::new(&t.base_url).health().await?.expect_json(200)?;
    check::eq("health `status`", body["status"].as_str(), Some("ok"))
}

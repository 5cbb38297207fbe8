//! The step-7 suite: the probes an orchestrator asks, over HTTP.
//! - `GET /healthz` is 200 `{"status":"alive"}`;
//! - `GET /readyz` is 200 `ready` on a healthy server, naming each required check `ok`
//!   (`mongodb`, `postgresql`, `migrations`, `workers`) and reporting the optional ones
//!   (`redis`) beside them;
//! - neither needs a token, and a token changes nothing.

use anyhow::Result;
use serde_json::json;

use crate::client::Api;
use crate::{Case, Target, check};

/// The probes' paths.
pub const LIVENESS: &str = "/healthz";
pub const READINESS: &str = "/readyz";

pub fn cases() -> Vec<Case> {
    crate::cases![
        the_liveness_probe_says_alive,
        the_readiness_probe_says_ready_with_every_required_check_ok,
        a_token_changes_nothing_for_the_probes,
    ]
}

async fn the_liveness_probe_says_alive(t: Target) -> Result<()> {
    let body = Api::new(&t.base_url)
        .get(LIVENESS)
        .await?
        .expect_value(200)?;
    check::eq("GET /healthz", &body, &json!({ "status": "alive" }))
}

async fn the_readiness_probe_says_ready_with_every_required_check_ok(t: Target) -> Result<()> {
    let body = Api::new(&t.base_url)
        .get(READINESS)
        .await?
        .expect_value(200)?;
    check::eq("GET /readyz status", &body["status"], &json!("ready"))?;
    for required in ["mongodb", "postgresql", "migrations", "workers"] {
        check::eq(
            &format!("GET /readyz checks.{required}"),
            &body["checks"][required],
            &json!("ok"),
        )?;
    }
    check::that(
        matches!(body["checks"]["redis"].as_str(), Some("ok" | "degraded")),
        || format!("GET /readyz reports redis as ok or degraded: {body}"),
    )
}

async fn a_token_changes_nothing_for_the_probes(t: Target) -> Result<()> {
    let forged = Api::new(&t.base_url).with_token("eyJhbGciOiJub25lIn0.e30.");
    for path in [LIVENESS, READINESS] {
        forged.get(path).await?.expect_status(200)?;
    }
    Ok(())
}

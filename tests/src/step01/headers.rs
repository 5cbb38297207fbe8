//! Security headers: every answer, success or error, tells browsers not to sniff, frame or
//! cache it.

use anyhow::{Context, Result};

use crate::client::{API, Api};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![answers_and_errors_carry_the_security_headers]
}

async fn answers_and_errors_carry_the_security_headers(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for path in [
        format!("{API}/products"),
        format!("{API}/auth/me"),
        format!("{API}/nope"),
    ] {
        let response = reqwest::get(format!("{}{path}", api.base_url()))
            .await
            .with_context(|| format!("GET {path}"))?;
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
        ] {
            check::eq(
                &format!("GET {path}: header {name}"),
                response.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
            )?;
        }
        check::that(
            response.headers().contains_key("content-security-policy"),
            || format!("GET {path}: expected a Content-Security-Policy"),
        )?;
    }
    Ok(())
}

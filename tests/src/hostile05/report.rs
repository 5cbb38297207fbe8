//! The sales report under attack: no token, a forged one and a customer's are refused (401,
//! 401, 403) in the error shape, with no figure in the body; malformed, hostile and unbounded
//! parameters (control characters, operator syntax, a period of decades, an overlong value)
//! are each a 400 `INVALID_PARAMETER`, never a 500 and never a report.

use anyhow::{Context, Result};

use crate::client::Api;
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        only_an_admin_gets_the_sales_report,
        hostile_report_parameters_are_400_invalid_parameter_and_never_a_report,
    ]
}

const REPORT: &str = "/api/v2/reports/sales";
const PERIOD: &str = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

async fn only_an_admin_gets_the_sales_report(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    let path = format!("{REPORT}?{PERIOD}");
    for (who, api, status) in [
        ("no token", Api::new(&t.base_url), 401),
        (
            "a forged token",
            Api::new(&t.base_url).with_token("eyJhbGciOiJub25lIn0.e30."),
            401,
        ),
        ("a customer", customer.api.clone(), 403),
    ] {
        let reply = api.get(&path).await?;
        let text = reply.describe();
        let body = reply
            .expect_status(status)
            .with_context(|| who.to_owned())?
            .json()?;
        check::that(
            body.get("rows").is_none() && body.get("totals").is_none(),
            || format!("{who}: no figure in the refusal, got {text}"),
        )?;
    }
    let admin = fixtures::admin(&t).await?;
    admin
        .get(&path)
        .await?
        .expect_status(200)
        .context("an admin")?;
    Ok(())
}

async fn hostile_report_parameters_are_400_invalid_parameter_and_never_a_report(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let long = "9".repeat(10_000);
    let queries = [
        "from=2026-11-01T00:00:00Z%00&to=2026-12-01T00:00:00Z".to_owned(),
        "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=product%0d%0aX-Injected:1"
            .to_owned(),
        "from[$gt]=&to=2026-12-01T00:00:00Z".to_owned(),
        format!("{PERIOD}&group_by[$ne]=product"),
        "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z".to_owned(),
        format!("from={long}&to=2026-12-01T00:00:00Z"),
        "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&from=2026-10-01T00:00:00Z".to_owned(),
    ];
    for query in &queries {
        let reply = admin.get(&format!("{REPORT}?{query}")).await?;
        let shown: String = query.chars().take(80).collect();
        let body = reply
            .expect_status(400)
            .with_context(|| format!("the report with {shown}"))?
            .json()?;
        check::eq(
            &format!("the code for {shown}"),
            &body["code"],
            &serde_json::json!("INVALID_PARAMETER"),
        )?;
    }
    Ok(())
}

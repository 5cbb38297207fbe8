//! Step 3 keeps the promises of steps 0, 1 and 2 and makes its own (a write is seen by the
//! very next read): the contract suites of steps 0-3 (tests/), black-box over HTTP, against a
//! step-3 server with the cache on, so every answer they check went through it.

use crate::support::{App, spawn};

async fn target(app: &App) -> contract::Target {
    let (admin_email, _) = app.admin().await;
    contract::Target::new(
        app.address.clone(),
        admin_email,
        testkit::app::TEST_PASSWORD,
    )
}

#[tokio::test]
async fn the_step00_contract_suite_passes_against_step_3() {
    let app = spawn().await;
    contract::assert_suite_passes("step00", &target(&app).await).await;
}

#[tokio::test]
async fn the_step01_contract_suite_passes_against_step_3() {
    let app = spawn().await;
    contract::assert_suite_passes("step01", &target(&app).await).await;
}

#[tokio::test]
async fn the_step02_contract_suite_passes_against_step_3() {
    let app = spawn().await;
    contract::assert_suite_passes("step02", &target(&app).await).await;
}

#[tokio::test]
async fn the_step03_contract_suite_passes_against_step_3() {
    let app = spawn().await;
    contract::assert_suite_passes("step03", &target(&app).await).await;
}

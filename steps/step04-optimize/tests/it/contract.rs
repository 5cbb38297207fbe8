//! Step 4 keeps the promises of steps 0 to 3: their contract suites (tests/), black-box over
//! HTTP, against a step-4 server with the cache on and the indexes in place.

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
async fn the_step00_contract_suite_passes_against_step_4() {
    let app = spawn().await;
    contract::assert_suite_passes("step00", &target(&app).await).await;
}

#[tokio::test]
async fn the_step01_contract_suite_passes_against_step_4() {
    let app = spawn().await;
    contract::assert_suite_passes("step01", &target(&app).await).await;
}

#[tokio::test]
async fn the_step02_contract_suite_passes_against_step_4() {
    let app = spawn().await;
    contract::assert_suite_passes("step02", &target(&app).await).await;
}

#[tokio::test]
async fn the_step03_contract_suite_passes_against_step_4() {
    let app = spawn().await;
    contract::assert_suite_passes("step03", &target(&app).await).await;
}

//! Step 1 keeps step 0's promises and makes its own: the contract suites of steps 0 and 1
//! (tests/), black-box over HTTP, against a step-1 server. The admin is created by step 0's
//! code (a bcrypt hash), as an upgraded deployment would have it, and upgraded to argon2id at
//! its first login.

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
async fn the_step00_contract_suite_passes_against_step_1() {
    let app = spawn().await;
    contract::assert_suite_passes("step00", &target(&app).await).await;
}

#[tokio::test]
async fn the_step01_contract_suite_passes_against_step_1() {
    let app = spawn().await;
    contract::assert_suite_passes("step01", &target(&app).await).await;
}

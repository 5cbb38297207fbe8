//! The step-0 contract suite (tests/), run black-box against step 0 over HTTP.

use testkit::spawn_app;

#[tokio::test]
async fn the_step00_contract_suite_passes_against_step_0() {
    let app = spawn_app().await;
    let (admin_email, _) = app.admin().await;
    let target = contract::Target::new(
        app.address.clone(),
        admin_email,
        testkit::app::TEST_PASSWORD,
    );
    contract::assert_suite_passes("step00", &target).await;
}

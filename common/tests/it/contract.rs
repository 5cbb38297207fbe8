//! The step-0 contract suite (tests/), run black-box against step 0 over HTTP.

use testkit::spawn_app;

#[tokio::test]
async fn the_step00_contract_suite_passes_against_step_0() {
    let app = spawn_app().await;
    let (admin_email, _) = app.admin().await;
    let target = contract::Target {
        base_url: app.address.clone(),
        admin_email,
        admin_password: testkit::app::TEST_PASSWORD.to_owned(),
    };
    let report = contract::run_suite("step00", contract::step00::cases(), &target, 8).await;
    report.assert_all_passed();
    assert!(
        report.outcomes.len() >= 40,
        "the suite ran {} cases",
        report.outcomes.len()
    );
}

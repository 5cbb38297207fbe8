//! The runner and report, checked without any server: cases here are local futures.

use std::time::Duration;

use super::*;

fn target() -> Target {
    Target::new(
        "http://127.0.0.1:9/",
        "admin@example.test",
        "secret-password",
    )
}

async fn passes(_: Target) -> anyhow::Result<()> {
    Ok(())
}

async fn fails_with_a_reason(_: Target) -> anyhow::Result<()> {
    anyhow::bail!("expected 201, got 500")
}

async fn panics(_: Target) -> anyhow::Result<()> {
    panic!("boom")
}

async fn sleeps_a_little(_: Target) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    Ok(())
}

fn outcome(name: &'static str, passed: bool, message: Option<&str>) -> Outcome {
    Outcome {
        name,
        passed,
        message: message.map(str::to_owned),
        duration: Duration::from_millis(3),
    }
}

#[test]
fn target_drops_a_trailing_slash() {
    assert_eq!(target().base_url, "http://127.0.0.1:9");
}

#[test]
fn assert_all_passed_is_silent_when_everything_passed() {
    let report = SuiteReport {
        suite: "s",
        outcomes: vec![outcome("a", true, None), outcome("b", true, None)],
    };
    report.assert_all_passed();
    assert_eq!(report.failures().count(), 0);
}

#[test]
fn assert_all_passed_panics_listing_every_failure_and_its_message() {
    let report = SuiteReport {
        suite: "step00",
        outcomes: vec![
            outcome("first_fails", false, Some("expected 201, got 500")),
            outcome("second_passes", true, None),
            outcome("third_fails", false, Some("expected 409, got 201")),
        ],
    };
    let panic = std::panic::catch_unwind(|| report.assert_all_passed()).unwrap_err();
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(
        message.contains("suite step00: 2 of 3 cases failed"),
        "{message}"
    );
    assert!(message.contains("first_fails") && message.contains("expected 201, got 500"));
    assert!(message.contains("third_fails") && message.contains("expected 409, got 201"));
    assert!(!message.contains("second_passes"), "{message}");
}

#[test]
fn the_json_report_counts_and_lists_outcomes() {
    let report = SuiteReport {
        suite: "s",
        outcomes: vec![outcome("a", true, None), outcome("b", false, Some("no"))],
    };
    let json = report.to_json();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["outcomes"][1]["name"], "b");
    assert_eq!(json["outcomes"][1]["message"], "no");
    assert_eq!(json["outcomes"][0]["duration_ms"], 3);
}

#[tokio::test]
async fn run_suite_keeps_suite_order_and_turns_errors_and_panics_into_failures() {
    let cases = crate::cases![sleeps_a_little, fails_with_a_reason, panics, passes];
    let report = run_suite("s", cases, &target(), 4).await;
    let names: Vec<_> = report.outcomes.iter().map(|o| o.name).collect();
    assert_eq!(
        names,
        ["sleeps_a_little", "fails_with_a_reason", "panics", "passes"]
    );
    let passed: Vec<_> = report.outcomes.iter().map(|o| o.passed).collect();
    assert_eq!(passed, [true, false, false, true]);
    assert_eq!(
        report.outcomes[1].message.as_deref(),
        Some("expected 201, got 500")
    );
    assert_eq!(
        report.outcomes[2].message.as_deref(),
        Some("panicked: boom")
    );
}

#[tokio::test]
async fn run_suite_treats_zero_concurrency_as_one() {
    let report = run_suite("s", crate::cases![passes, passes], &target(), 0).await;
    assert!(report.all_passed());
    assert_eq!(report.outcomes.len(), 2);
}

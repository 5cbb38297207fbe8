//! The suite without a provider handle, checked without any server: every case must fail,
//! and say what it lacks, before it sends a single request (the target's address is a port
//! nothing listens on, so a case that tried anything else would fail differently).

use super::cases;
use crate::{Provider, Target, run_suite, suite};

fn target() -> Target {
    Target::new(
        "http://127.0.0.1:9",
        "admin@example.test",
        "secret-password",
    )
}

#[tokio::test]
async fn without_a_provider_handle_every_case_fails_saying_it_needs_one() {
    let report = run_suite("ordering00", cases(), &target(), 4).await;

    assert!(!report.outcomes.is_empty());
    for outcome in &report.outcomes {
        let message = outcome.message.as_deref().unwrap_or_default();
        assert!(
            !outcome.passed,
            "{} passed without a provider",
            outcome.name
        );
        assert!(
            message.contains("needs the target's provider handle"),
            "{}: {message}",
            outcome.name
        );
    }
}

#[tokio::test]
async fn with_a_provider_handle_the_cases_go_on_to_reach_the_provider() {
    let provider = Provider::new("http://127.0.0.1:9/", "sk_test", std::time::Duration::ZERO);
    let report = run_suite("ordering00", cases(), &target().with_provider(provider), 4).await;

    for outcome in &report.outcomes {
        let message = outcome.message.as_deref().unwrap_or_default();
        assert!(!outcome.passed, "{} passed against nothing", outcome.name);
        assert!(
            message.contains("GET /sim/faults: no HTTP response"),
            "{}: {message}",
            outcome.name
        );
    }
}

#[test]
fn the_registry_runs_the_suite_one_case_at_a_time() {
    let ordering = suite("ordering00").expect("ordering00 is registered");
    let step00 = suite("step00").expect("step00 is registered");

    assert_eq!(ordering.concurrency(8), 1);
    assert_eq!(step00.concurrency(8), 8);
}

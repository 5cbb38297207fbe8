//! Running a suite and reporting on it. Cases run as separate tokio tasks with bounded
//! concurrency: separate tasks so that a panicking case becomes a failed outcome instead of
//! taking the runner down, bounded so that a suite does not open hundreds of connections (and
//! bcrypt hashes) against a small test server at once. Outcomes come back in the suite's
//! order, whatever order they finished in, so reports are stable between runs.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::{Case, Target};

/// A case that takes longer than this has hung (a request without a reply, a lock never
/// released); the runner records it as failed and moves on. Generous on purpose: a case makes
/// a few dozen requests and a debug build on two cores hashes passwords slowly.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How one case went.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub passed: bool,
    /// Why it failed (the error chain or panic message); `None` when it passed.
    pub message: Option<String>,
    pub duration: Duration,
}

/// How one suite went, cases in suite order.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    pub suite: &'static str,
    pub outcomes: Vec<Outcome>,
}

impl SuiteReport {
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| !o.passed)
    }

    pub fn passed_count(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed_count(&self) -> usize {
        self.failures().count()
    }

    pub fn all_passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// For a step's integration test: panics with every failing case's name and message, so
    /// one `cargo test` run shows every broken promise, not just the first.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        if !self.all_passed() {
            panic!("{}", self.failure_summary());
        }
    }

    /// `suite step00: 2 of 60 cases failed`, then each failing case and its message.
    pub fn failure_summary(&self) -> String {
        let mut out = format!(
            "suite {}: {} of {} cases failed",
            self.suite,
            self.failed_count(),
            self.outcomes.len()
        );
        for failure in self.failures() {
            out.push_str(&format!(
                "\n\n--- {}\n{}",
                failure.name,
                failure.message.as_deref().unwrap_or("(no message)")
            ));
        }
        out
    }

    /// The report as JSON, for `contract --json` and for CI artefacts.
    pub fn to_json(&self) -> Value {
        json!({
            "suite": self.suite,
            "passed": self.passed_count(),
            "failed": self.failed_count(),
            "outcomes": self.outcomes.iter().map(|o| json!({
                "name": o.name,
                "passed": o.passed,
                "message": o.message,
                "duration_ms": o.duration.as_millis() as u64,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Runs `cases` against `target`, at most `concurrency` at a time (0 is treated as 1).
/// Needs a tokio runtime; every case runs on its own task.
pub async fn run_suite(
    suite: &'static str,
    cases: Vec<Case>,
    target: &Target,
    concurrency: usize,
) -> SuiteReport {
    let mut outcomes: Vec<(usize, Outcome)> = futures::stream::iter(cases.into_iter().enumerate())
        .map(|(index, case)| {
            let target = target.clone();
            async move { (index, run_case(case, target).await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(index, _)| *index);
    SuiteReport {
        suite,
        outcomes: outcomes.into_iter().map(|(_, outcome)| outcome).collect(),
    }
}

async fn run_case(case: Case, target: Target) -> Outcome {
    let started = Instant::now();
    let mut task = tokio::spawn((case.run)(target));
    let result = match tokio::time::timeout(CASE_TIMEOUT, &mut task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(format!("{error:#}")),
        Ok(Err(join_error)) => Err(match join_error.try_into_panic() {
            Ok(payload) => format!("panicked: {}", panic_message(payload.as_ref())),
            Err(join_error) => format!("task failed: {join_error}"),
        }),
        Err(_elapsed) => {
            task.abort();
            Err(format!("timed out after {}s", CASE_TIMEOUT.as_secs()))
        }
    };
    Outcome {
        name: case.name,
        passed: result.is_ok(),
        message: result.err(),
        duration: started.elapsed(),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

#[cfg(test)]
mod tests;

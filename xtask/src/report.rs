//! The report of `cargo xtask step N`: one line per check (services, build, every test) with
//! its time, the totals, and for each failure what went wrong and the exact command that
//! reruns just that check. The same value renders for people ([`Report::render`]) and as JSON
//! ([`Report::to_json`], schema [`SCHEMA`]).
//!
//! JSON shape (`--json`), stable within a schema version:
//! ```text
//! { "schema": "stepwise-shop/step-report/v1",
//!   "step": 0, "title": "...", "package": "common",
//!   "passed": false, "duration_secs": 45.2,
//!   "services": [{ "service": "mongodb", "source": "local nx-27017", "url": "mongodb://...",
//!                  "env": "MONGODB_URI", "pid": 123, "port": 40001 }],
//!   "totals": { "checks": 54, "passed": 53, "failed": 1, "skipped": 0 },
//!   "checks": [{ "kind": "service" | "build" | "test" | "runner",
//!                "group": "common::it", "name": "orders::...", "status": "pass" | "fail" | "skip",
//!                "duration_secs": 10.16, "message": ["..."], "rerun": ["cargo nextest run ..."] }],
//!   "notes": ["..."], "log": "target/xtask/step-00.log" }
//! ```
//! `url` is null for a service taken from the environment (it may hold a password);
//! `message` and `rerun` are empty for passing checks.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::services::ServiceInfo;
use crate::ui::{Paint, human_duration};

pub const SCHEMA: &str = "stepwise-shop/step-report/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not run: an `#[ignore]`d test.
    Skip,
}

impl Status {
    fn label(self, paint: Paint) -> String {
        match self {
            Status::Pass => paint.green("PASS"),
            Status::Fail => paint.red("FAIL"),
            Status::Skip => paint.yellow("SKIP"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A service the step needs was started (or taken from the environment).
    Service,
    /// The step's test binaries were built.
    Build,
    /// One test.
    Test,
    /// The test runner itself, when it failed for a reason that is not one test.
    Runner,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub kind: CheckKind,
    /// For a test, nextest's binary id (`common::it`); otherwise the kind again.
    pub group: String,
    pub name: String,
    pub status: Status,
    pub duration_secs: Option<f64>,
    /// For a failure: what went wrong, a few lines.
    #[serde(default)]
    pub message: Vec<String>,
    /// For a failure: commands that rerun just this check, the most direct first.
    #[serde(default)]
    pub rerun: Vec<String>,
}

impl Check {
    pub fn new(kind: CheckKind, group: &str, name: &str, status: Status) -> Check {
        Check {
            kind,
            group: group.to_owned(),
            name: name.to_owned(),
            status,
            duration_secs: None,
            message: Vec::new(),
            rerun: Vec::new(),
        }
    }

    pub fn took(mut self, duration: Option<Duration>) -> Check {
        self.duration_secs = duration.map(|d| round_ms(d.as_secs_f64()));
        self
    }

    pub fn message(mut self, lines: Vec<String>) -> Check {
        self.message = lines;
        self
    }

    pub fn rerun(mut self, commands: Vec<String>) -> Check {
        self.rerun = commands;
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub checks: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub step: u8,
    pub title: String,
    pub package: String,
    /// No check failed (and at least one ran).
    pub passed: bool,
    pub duration_secs: f64,
    pub services: Vec<ServiceInfo>,
    pub totals: Totals,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    /// nextest's full human output, relative to the workspace root when inside it.
    pub log: Option<String>,
}

impl Report {
    pub fn new(step: u8, title: &str, package: &str) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            step,
            title: title.to_owned(),
            package: package.to_owned(),
            passed: false,
            duration_secs: 0.0,
            services: Vec::new(),
            totals: Totals::default(),
            checks: Vec::new(),
            notes: Vec::new(),
            log: None,
        }
    }

    /// Computes the totals and the verdict; call once every check is in.
    pub fn finish(&mut self, took: Duration) {
        self.duration_secs = round_ms(took.as_secs_f64());
        let count = |status| self.checks.iter().filter(|c| c.status == status).count() as u64;
        self.totals = Totals {
            checks: self.checks.len() as u64,
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            skipped: count(Status::Skip),
        };
        self.passed = self.totals.failed == 0 && self.totals.passed > 0;
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The report for a terminal or a log: checks, failures with rerun commands, notes, and a
    /// closing verdict line.
    pub fn render(&self, paint: Paint) -> String {
        let mut out = String::new();
        let push = |out: &mut String, line: String| {
            out.push_str(&line);
            out.push('\n');
        };
        push(
            &mut out,
            paint.bold(&format!(
                "step {}: {} (package {})",
                self.step, self.title, self.package
            )),
        );
        let width = self
            .checks
            .iter()
            .map(|c| c.group.chars().count())
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            let time = check
                .duration_secs
                .map(|s| human_duration(Duration::from_secs_f64(s)))
                .unwrap_or_else(|| "-".to_owned());
            push(
                &mut out,
                format!(
                    "  {}  {time:>8}  {:<width$}  {}",
                    check.status.label(paint),
                    check.group,
                    check.name
                ),
            );
        }
        let failures: Vec<&Check> = self.failures().collect();
        if !failures.is_empty() {
            push(&mut out, String::new());
            push(
                &mut out,
                paint.bold(&format!("failures ({}):", failures.len())),
            );
            for check in failures {
                push(
                    &mut out,
                    format!("  {} {} {}", paint.red("FAIL"), check.group, check.name),
                );
                for line in &check.message {
                    push(&mut out, format!("    {} {line}", paint.dim("|")));
                }
                for (i, command) in check.rerun.iter().enumerate() {
                    let label = if i == 0 { "rerun:" } else { "   or:" };
                    push(&mut out, format!("    {label} {command}"));
                }
            }
        }
        if !self.notes.is_empty() {
            push(&mut out, String::new());
            for note in &self.notes {
                push(&mut out, format!("note: {note}"));
            }
        }
        if let Some(log) = &self.log {
            push(&mut out, format!("full test runner output: {log}"));
        }
        push(&mut out, String::new());
        let t = self.totals;
        let verdict = if self.passed {
            paint.green("PASSED")
        } else {
            paint.red("FAILED")
        };
        push(
            &mut out,
            format!(
                "step {} {verdict} in {}: {} check{}, {} passed, {} failed, {} skipped",
                self.step,
                human_duration(Duration::from_secs_f64(self.duration_secs)),
                t.checks,
                if t.checks == 1 { "" } else { "s" },
                t.passed,
                t.failed,
                t.skipped
            ),
        );
        out
    }
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// The commands that rerun one check of step `step` (package `package`).
pub struct Rerun<'a> {
    pub step: u8,
    pub package: &'a str,
    /// How many binaries of this run have a test of each name: a name in several binaries
    /// needs `binary_id(...)` in its filter to select just one.
    pub binaries_per_name: HashMap<String, usize>,
}

impl Rerun<'_> {
    /// The nextest filter that selects exactly this test.
    pub fn filter(&self, binary_id: &str, name: &str) -> String {
        if self.binaries_per_name.get(name).copied().unwrap_or(0) > 1 {
            format!("binary_id({binary_id}) & test(={name})")
        } else {
            format!("test(={name})")
        }
    }

    /// nextest directly (provision starts services itself when their variables are unset), then
    /// through xtask (which starts them once and prints this report).
    pub fn test(&self, binary_id: &str, name: &str) -> Vec<String> {
        let filter = self.filter(binary_id, name);
        vec![
            format!("cargo nextest run -p {} -E '{filter}'", self.package),
            format!("cargo xtask step {} -- -E '{filter}'", self.step),
        ]
    }

    pub fn build(&self) -> Vec<String> {
        vec![format!("cargo nextest run -p {} --no-run", self.package)]
    }

    pub fn whole_step(&self) -> Vec<String> {
        vec![format!("cargo xtask step {}", self.step)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;

    fn rerun(names_in_two_binaries: &[&str]) -> Rerun<'static> {
        Rerun {
            step: 0,
            package: "common",
            binaries_per_name: names_in_two_binaries
                .iter()
                .map(|n| (n.to_string(), 2))
                .collect(),
        }
    }

    fn sample() -> Report {
        let mut report = Report::new(0, "the baseline monolith", "common");
        report.services.push(ServiceInfo {
            service: Service::MongoDb,
            source: "local nx-27017".into(),
            url: Some("mongodb://127.0.0.1:40001/?directConnection=true".into()),
            env: "MONGODB_URI".into(),
            pid: Some(42),
            port: Some(40001),
        });
        report.checks.push(
            Check::new(
                CheckKind::Service,
                "service",
                "MongoDB: local nx-27017",
                Status::Pass,
            )
            .took(Some(Duration::from_millis(210))),
        );
        report.checks.push(
            Check::new(
                CheckKind::Build,
                "build",
                "common: test binaries",
                Status::Pass,
            )
            .took(Some(Duration::from_secs(31))),
        );
        report.checks.push(
            Check::new(
                CheckKind::Test,
                "common",
                "config::tests::a_short_jwt_secret_is_refused",
                Status::Pass,
            )
            .took(Some(Duration::from_millis(6))),
        );
        let name = "orders::concurrent_orders_never_oversell_and_never_drive_stock_negative";
        report.checks.push(
            Check::new(CheckKind::Test, "common::it", name, Status::Fail)
                .took(Some(Duration::from_millis(10_161)))
                .message(vec![
                    "thread 'x' panicked at common/tests/it/orders.rs:9:5:".into(),
                ])
                .rerun(rerun(&[]).test("common::it", name)),
        );
        report.checks.push(Check::new(
            CheckKind::Test,
            "common",
            "slow::ignored",
            Status::Skip,
        ));
        report.log = Some("target/xtask/step-00.log".into());
        report.finish(Duration::from_secs(45));
        report
    }

    #[test]
    fn totals_count_each_status_and_one_failure_fails_the_report() {
        let report = sample();
        assert_eq!(
            report.totals,
            Totals {
                checks: 5,
                passed: 3,
                failed: 1,
                skipped: 1
            }
        );
        assert!(!report.passed);
    }

    #[test]
    fn a_report_without_failures_passes_but_an_empty_one_does_not() {
        let mut report = sample();
        report.checks.retain(|c| c.status != Status::Fail);
        report.finish(Duration::from_secs(1));
        assert!(report.passed);
        let mut empty = Report::new(0, "t", "common");
        empty.finish(Duration::ZERO);
        assert!(!empty.passed, "a run that checked nothing proves nothing");
    }

    #[test]
    fn the_rendered_report_has_a_line_per_check_and_the_rerun_commands() {
        let text = sample().render(Paint::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step 0: the baseline monolith (package common)");
        assert_eq!(
            lines[1],
            "  PASS    0.210s  service     MongoDB: local nx-27017"
        );
        assert_eq!(
            lines[3],
            "  PASS    0.006s  common      config::tests::a_short_jwt_secret_is_refused"
        );
        assert!(lines[4].starts_with("  FAIL    10.16s  common::it  orders::concurrent"));
        assert!(lines[5].starts_with("  SKIP         -  common      slow::ignored"));
        assert!(text.contains("failures (1):\n  FAIL common::it orders::concurrent"));
        assert!(text.contains("    | thread 'x' panicked at common/tests/it/orders.rs:9:5:\n"));
        assert!(text.contains(
            "    rerun: cargo nextest run -p common -E 'test(=orders::concurrent_orders_never_oversell_and_never_drive_stock_negative)'\n"
        ));
        assert!(text.contains(
            "       or: cargo xtask step 0 -- -E 'test(=orders::concurrent_orders_never_oversell_and_never_drive_stock_negative)'\n"
        ));
        assert!(text.contains("full test runner output: target/xtask/step-00.log"));
        assert_eq!(
            lines.last().unwrap(),
            &"step 0 FAILED in 45.00s: 5 checks, 3 passed, 1 failed, 1 skipped"
        );
    }

    #[test]
    fn a_name_found_in_two_binaries_is_pinned_to_its_binary() {
        let rerun = rerun(&["smoke::starts"]);
        assert_eq!(
            rerun.filter("common::it", "smoke::starts"),
            "binary_id(common::it) & test(=smoke::starts)"
        );
        assert_eq!(rerun.filter("common", "other"), "test(=other)");
    }

    #[test]
    fn the_json_report_round_trips_and_has_the_documented_fields() {
        let report = sample();
        let json = report.to_json();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["passed"], false);
        assert_eq!(value["totals"]["failed"], 1);
        assert_eq!(value["services"][0]["service"], "mongodb");
        let failed = &value["checks"][3];
        assert_eq!(failed["kind"], "test");
        assert_eq!(failed["status"], "fail");
        assert_eq!(failed["group"], "common::it");
        assert_eq!(failed["duration_secs"], 10.161);
        assert!(
            failed["rerun"][0]
                .as_str()
                .unwrap()
                .starts_with("cargo nextest run -p common")
        );
        assert_eq!(value["checks"][0]["rerun"], serde_json::json!([]));
    }
}

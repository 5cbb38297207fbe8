//! Running cargo-nextest and reading its per-test results.
//!
//! The results come from nextest's libtest-compatible JSON (`--message-format
//! libtest-json-plus`, switched on by `NEXTEST_EXPERIMENTAL_LIBTEST_JSON=1`), one event per line
//! on stdout, while nextest's usual human output goes to stderr. Why this and not JUnit XML
//! (`[profile.X.junit]`):
//! - it streams: each test's result arrives when the test ends, so the progress bar is real;
//!   JUnit is written once, at the end;
//! - it needs no profile: JUnit is configured per profile in `.config/nextest.toml`, and CI
//!   selects its own profile (`NEXTEST_PROFILE=ci`), so the report would depend on which
//!   profile is active; the JSON works under any;
//! - it needs no XML parser (xtask stays quick to build), and failures carry their output.
//!
//! The price is the word "experimental". So the reader is tolerant (unknown events and
//! fields are ignored) and checked: nextest's own `Summary` line on stderr is parsed too, and
//! when its counts disagree with the JSON, the report says so as a failed check instead of
//! passing on partial data. The format was verified with cargo-nextest 0.9.143.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::interrupt::Interrupted;
use crate::report::Status;
use crate::ui::{Activity, Paint, human_duration};

/// The environment variable that unlocks the JSON output in nextest 0.9.x.
pub const EXPERIMENTAL_JSON_VAR: &str = "NEXTEST_EXPERIMENTAL_LIBTEST_JSON";

/// One finished test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// nextest's binary id: `common` (the lib's unit tests), `common::it` (tests/it).
    pub binary_id: String,
    /// The test's path inside its binary: `orders::concurrent_orders_never_oversell`.
    pub name: String,
    pub status: Status,
    pub duration: Option<Duration>,
    /// For a failure, what the test printed (the panic message and backtrace included).
    pub output: Option<String>,
    /// For a failure nextest caused, why: "time limit exceeded" for a timeout.
    pub reason: Option<String>,
}

/// What one line of the JSON stream meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A test binary starts; `tests` is how many of its tests will run.
    SuiteStarted {
        tests: u64,
    },
    TestStarted,
    TestFinished(TestResult),
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    name: Option<String>,
    exec_time: Option<f64>,
    stdout: Option<String>,
    reason: Option<String>,
    test_count: Option<u64>,
    nextest: Option<RawSuite>,
}

#[derive(Deserialize)]
struct RawSuite {
    #[serde(rename = "crate")]
    krate: String,
    test_binary: String,
    kind: String,
}

/// Reads the JSON stream line by line. Test names arrive as `<crate>::<binary>$<test>`; the
/// suite events say what kind of binary each prefix is, which gives nextest's binary id.
#[derive(Debug, Default)]
pub struct JsonReader {
    binary_ids: HashMap<String, String>,
}

impl JsonReader {
    /// The meaning of one line; `None` for blank lines, non-JSON and events of no interest.
    pub fn line(&mut self, line: &str) -> Option<Event> {
        let raw: RawEvent = serde_json::from_str(line.trim()).ok()?;
        match (raw.kind.as_str(), raw.event.as_str()) {
            ("suite", "started") => {
                if let Some(suite) = &raw.nextest {
                    self.binary_ids.insert(
                        format!("{}::{}", suite.krate, suite.test_binary),
                        binary_id(suite),
                    );
                }
                Some(Event::SuiteStarted {
                    tests: raw.test_count.unwrap_or(0),
                })
            }
            ("test", "started") => Some(Event::TestStarted),
            ("test", outcome) => {
                let status = match outcome {
                    "ok" => Status::Pass,
                    "failed" => Status::Fail,
                    "ignored" => Status::Skip,
                    _ => return None,
                };
                let full = raw.name?;
                let (prefix, name) = full.split_once('$').unwrap_or(("", full.as_str()));
                let binary_id = self
                    .binary_ids
                    .get(prefix)
                    .cloned()
                    .unwrap_or_else(|| fallback_binary_id(prefix));
                Some(Event::TestFinished(TestResult {
                    binary_id,
                    name: name.to_owned(),
                    status,
                    duration: raw
                        .exec_time
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .map(Duration::from_secs_f64),
                    output: raw.stdout.filter(|_| status == Status::Fail),
                    reason: raw.reason.filter(|_| status == Status::Fail),
                }))
            }
            _ => None,
        }
    }
}

/// nextest's binary id for a suite: the crate name for its lib, `crate::name` for an
/// integration test, `crate::bin/name` for a binary's unit tests, and so on.
fn binary_id(suite: &RawSuite) -> String {
    match suite.kind.as_str() {
        "lib" | "proc-macro" => suite.krate.clone(),
        "test" => format!("{}::{}", suite.krate, suite.test_binary),
        kind => format!("{}::{}/{}", suite.krate, kind, suite.test_binary),
    }
}

/// A binary id from the name prefix alone (`common::common` -> `common`).
fn fallback_binary_id(prefix: &str) -> String {
    match prefix.split_once("::") {
        Some((krate, binary)) if krate == binary => krate.to_owned(),
        _ => prefix.to_owned(),
    }
}

/// The counts of nextest's closing `Summary [ 3.568s] 54 tests run: 50 passed, 4 failed,
/// 0 skipped` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub run: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// Parses nextest's human `Summary` line (stderr); `None` for any other line.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let rest = line.trim().strip_prefix("Summary")?;
    let rest = &rest[rest.find(']')? + 1..];
    let mut summary = Summary::default();
    let (run, counts) = rest.split_once(':')?;
    summary.run = leading_number(run)?;
    for part in counts.split(',') {
        let number = leading_number(part)?;
        let word = part.trim().trim_start_matches(|c: char| c.is_ascii_digit());
        let word = word.split_whitespace().next().unwrap_or_default();
        match word {
            "passed" => summary.passed += number,
            "failed" | "timed" => summary.failed += number,
            "skipped" => summary.skipped += number,
            _ => {}
        }
    }
    Some(summary)
}

/// The count of nextest's `Starting 54 tests across 3 binaries` line.
pub fn parse_starting(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("Starting ")?;
    let count = leading_number(rest)?;
    rest.contains(" test").then_some(count)
}

fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The panic message of a failed test's output, without the backtrace: the lines from
/// `panicked at` to the first blank line or backtrace header; else the last lines. At most
/// `max_lines` lines of at most 300 characters.
pub fn failure_excerpt(output: &str, max_lines: usize) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut picked: Vec<&str> = Vec::new();
    if let Some(start) = lines.iter().position(|l| l.contains("panicked at")) {
        for line in &lines[start..] {
            let trimmed = line.trim();
            let lower = trimmed.to_ascii_lowercase();
            if picked.len() > 1 && trimmed.is_empty()
                || lower.starts_with("stack backtrace")
                || lower.starts_with("note: run with `rust_backtrace")
            {
                break;
            }
            if !trimmed.is_empty() {
                picked.push(line);
            }
        }
    } else {
        let meaningful: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                let t = l.trim();
                !t.is_empty()
                    && !t.starts_with("running ")
                    && !t.starts_with("test result:")
                    && t != "failures:"
            })
            .collect();
        picked = meaningful[meaningful.len().saturating_sub(max_lines)..].to_vec();
    }
    let mut excerpt: Vec<String> = picked
        .iter()
        .take(max_lines)
        .map(|l| truncate(l.trim_end(), 300))
        .collect();
    if picked.len() > max_lines {
        excerpt.push("...".to_owned());
    }
    excerpt
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}...")
    }
}

/// What a nextest run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub results: Vec<TestResult>,
    /// nextest's own summary, when it printed one.
    pub summary: Option<Summary>,
    pub exit_code: Option<i32>,
    pub took: Duration,
    /// The last lines of nextest's human output, for errors that are not test failures.
    pub stderr_tail: Vec<String>,
}

/// Runs `cargo nextest run` with the JSON stream on, feeding progress to `activity` and
/// nextest's human output to `log`.
pub fn run(
    mut command: Command,
    activity: &Activity,
    log: &Path,
    paint: Paint,
    interrupted: &Interrupted,
) -> anyhow::Result<RunOutcome> {
    command
        .env(EXPERIMENTAL_JSON_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    writeln!(log_file, "$ {command:?}")?;
    let started = std::time::Instant::now();
    let mut child = command.spawn().context("starting cargo nextest")?;
    interrupted.forward_to(child.id());
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");

    let total_hint = std::sync::mpsc::channel::<u64>();
    let stderr_reader = std::thread::spawn(move || {
        let mut summary = None;
        let mut tail: std::collections::VecDeque<String> = Default::default();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log_file, "{line}");
            if let Some(total) = parse_starting(&line) {
                let _ = total_hint.0.send(total);
            }
            if let Some(parsed) = parse_summary(&line) {
                summary = Some(parsed);
            }
            tail.push_back(line);
            if tail.len() > 40 {
                tail.pop_front();
            }
        }
        (summary, Vec::from(tail))
    });

    let mut reader = JsonReader::default();
    let mut results = Vec::new();
    let mut total: Option<u64> = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if total.is_none()
            && let Ok(count) = total_hint.1.try_recv()
        {
            activity.set_total(count);
            total = Some(count);
        }
        let Some(Event::TestFinished(result)) = reader.line(&line) else {
            continue;
        };
        let time = result
            .duration
            .map(human_duration)
            .unwrap_or_else(|| "-".to_owned());
        let (label, keep) = match result.status {
            Status::Pass => (paint.green("PASS"), false),
            Status::Fail => (paint.red("FAIL"), true),
            Status::Skip => (paint.yellow("SKIP"), false),
        };
        let of = total.map_or_else(|| "?".to_owned(), |t| t.to_string());
        activity.step(
            &format!(
                "  {label} [{time:>8}] ({}/{of}) {} {}",
                results.len() + 1,
                result.binary_id,
                result.name
            ),
            keep,
        );
        results.push(result);
    }
    let status = child.wait().context("waiting for cargo nextest")?;
    let (summary, stderr_tail) = stderr_reader
        .join()
        .map_err(|_| anyhow::anyhow!("the thread reading nextest's output panicked"))?;
    Ok(RunOutcome {
        results,
        summary,
        exit_code: status.code(),
        took: started.elapsed(),
        stderr_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `cargo nextest run -p common --message-format libtest-json-plus` with
    /// cargo-nextest 0.9.143 (one passing unit test, one failing integration test; the failure
    /// output shortened).
    const SAMPLE: &str = r#"{"type":"suite","event":"started","test_count":1,"nextest":{"crate":"common","test_binary":"it","kind":"test"}}
{"type":"test","event":"started","name":"common::it$orders::a_short_line_takes_no_stock_from_the_other_lines"}
{"type":"suite","event":"started","test_count":1,"nextest":{"crate":"common","test_binary":"common","kind":"lib"}}
{"type":"test","event":"started","name":"common::common$config::tests::a_short_jwt_secret_is_refused"}
{"type":"test","event":"ok","name":"common::common$config::tests::a_short_jwt_secret_is_refused","exec_time":0.011962321}
{"type":"suite","event":"ok","passed":1,"failed":0,"ignored":0,"measured":0,"filtered_out":21,"exec_time":0.011962321,"nextest":{"crate":"common","test_binary":"common","kind":"lib"}}
{"type":"test","event":"failed","name":"common::it$orders::a_short_line_takes_no_stock_from_the_other_lines","exec_time":10.161155224,"stdout":"\nthread 'orders::a_short_line_takes_no_stock_from_the_other_lines' (15411) panicked at testkit/src/app.rs:53:6:\nthe test app starts: MONGODB_URI is set, but no MongoDB answered a ping there.\n\nStack backtrace:\n   0: anyhow::error::<impl anyhow::Error>::msg\n"}
{"type":"suite","event":"failed","passed":0,"failed":1,"ignored":0,"measured":0,"filtered_out":29,"exec_time":10.161155224,"nextest":{"crate":"common","test_binary":"it","kind":"test"}}"#;

    fn finished(sample: &str) -> Vec<TestResult> {
        let mut reader = JsonReader::default();
        sample
            .lines()
            .filter_map(|line| match reader.line(line) {
                Some(Event::TestFinished(result)) => Some(result),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_json_stream_yields_one_result_per_finished_test_with_its_binary_id() {
        let results = finished(SAMPLE);
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].binary_id, "common");
        assert_eq!(
            results[0].name,
            "config::tests::a_short_jwt_secret_is_refused"
        );
        assert_eq!(results[0].status, Status::Pass);
        assert_eq!(results[0].output, None);
        assert_eq!(results[1].binary_id, "common::it");
        assert_eq!(results[1].status, Status::Fail);
        let time = results[1].duration.unwrap().as_secs_f64();
        assert!((time - 10.161).abs() < 0.001, "{time}");
        assert!(
            results[1]
                .output
                .as_deref()
                .unwrap()
                .contains("panicked at")
        );
    }

    #[test]
    fn a_timeout_is_a_failure_with_its_reason() {
        // nextest 0.9.143, a test killed by its slow-timeout.
        let results = finished(
            r#"{"type":"test","event":"failed","name":"common::it$contract::suite","exec_time":0.106714419,"reason":"time limit exceeded"}"#,
        );
        assert_eq!(results[0].status, Status::Fail);
        assert_eq!(results[0].reason.as_deref(), Some("time limit exceeded"));
        assert_eq!(results[0].output, None);
    }

    #[test]
    fn suites_announce_their_test_counts() {
        let mut reader = JsonReader::default();
        let first = SAMPLE.lines().next().unwrap();
        assert_eq!(reader.line(first), Some(Event::SuiteStarted { tests: 1 }));
    }

    #[test]
    fn garbage_blank_lines_and_unknown_events_are_ignored() {
        let mut reader = JsonReader::default();
        for line in [
            "",
            "   Compiling common v0.1.0",
            "{\"type\":\"bench\",\"event\":\"ok\"}",
            "{\"type\":\"test\",\"event\":\"timeout\",\"name\":\"a$b\"}",
            "{not json",
        ] {
            assert_eq!(reader.line(line), None, "{line}");
        }
    }

    #[test]
    fn ignored_tests_are_skips_and_unknown_prefixes_still_get_a_binary_id() {
        let results = finished(
            r#"{"type":"test","event":"ignored","name":"step01-security::step01-security$slow::thing"}
{"type":"test","event":"ok","name":"shop::bin/shop$cli::parses","exec_time":0.5}"#,
        );
        assert_eq!(results[0].status, Status::Skip);
        assert_eq!(results[0].binary_id, "step01-security");
        assert_eq!(results[1].binary_id, "shop::bin/shop");
    }

    #[test]
    fn binary_ids_follow_nextest_for_every_kind_of_target() {
        let suite = |kind: &str, binary: &str| RawSuite {
            krate: "common".into(),
            test_binary: binary.into(),
            kind: kind.into(),
        };
        assert_eq!(binary_id(&suite("lib", "common")), "common");
        assert_eq!(binary_id(&suite("test", "it")), "common::it");
        assert_eq!(binary_id(&suite("bin", "shop")), "common::bin/shop");
    }

    #[test]
    fn the_summary_line_is_parsed_with_and_without_failures() {
        assert_eq!(
            parse_summary("     Summary [   3.568s] 54 tests run: 50 passed, 4 failed, 0 skipped"),
            Some(Summary {
                run: 54,
                passed: 50,
                failed: 4,
                skipped: 0
            })
        );
        assert_eq!(
            parse_summary("     Summary [   0.016s] 3 tests run: 3 passed, 49 skipped"),
            Some(Summary {
                run: 3,
                passed: 3,
                failed: 0,
                skipped: 49
            })
        );
        assert_eq!(
            parse_summary("Summary [ 1.0s] 2 tests run: 1 passed, 1 timed out, 0 skipped")
                .map(|s| s.failed),
            Some(1)
        );
        assert_eq!(
            parse_summary("        PASS [   0.006s] (1/54) common x"),
            None
        );
    }

    #[test]
    fn the_starting_line_gives_the_total() {
        assert_eq!(
            parse_starting("    Starting 54 tests across 3 binaries"),
            Some(54)
        );
        assert_eq!(
            parse_starting("    Starting 3 tests across 3 binaries (49 tests skipped)"),
            Some(3)
        );
        assert_eq!(parse_starting("Starting the engine"), None);
    }

    #[test]
    fn a_failure_excerpt_is_the_panic_message_without_the_backtrace() {
        let output = &finished(SAMPLE)[1].output.clone().unwrap();
        let excerpt = failure_excerpt(output, 12);
        assert_eq!(
            excerpt,
            [
                "thread 'orders::a_short_line_takes_no_stock_from_the_other_lines' (15411) panicked at testkit/src/app.rs:53:6:",
                "the test app starts: MONGODB_URI is set, but no MongoDB answered a ping there.",
            ]
        );
    }

    #[test]
    fn a_failure_without_a_panic_shows_its_last_lines_and_long_ones_are_cut() {
        let long = "x".repeat(400);
        let output = format!("running 1 test\nsetup failed\n{long}\ntest result: FAILED.\n");
        let excerpt = failure_excerpt(&output, 5);
        assert_eq!(excerpt[0], "setup failed");
        assert_eq!(excerpt[1].len(), 303);
        assert!(excerpt[1].ends_with("..."));
    }
}

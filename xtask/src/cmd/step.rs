//! `cargo xtask step N`: validates one step. Starts the services it needs, builds its test
//! binaries, runs its tests (which include the contract suites of steps 0..N) with one shared
//! set of services, and prints a report: a line per check, the totals, and for each failure
//! the command that reruns just that check. Exit code 1 when anything failed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;

use crate::interrupt;
use crate::nextest::{self, failure_excerpt};
use crate::report::{Check, CheckKind, Report, Rerun, Status};
use crate::services::{Origin, Services};
use crate::steps::{self, StepInfo};
use crate::ui::{Activity, Paint, Ui, human_duration};
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask step 0
  cargo xtask step 0 --json=report.json
  cargo xtask step 0 --json | jq .totals
  cargo xtask step 0 -- -E 'test(/orders::/)'")]
pub struct Step {
    /// The step number (0 is the baseline monolith).
    pub number: u8,
    /// Also write the report as JSON: `--json` prints it on stdout (the readable report then
    /// goes to stderr), `--json=PATH` writes it to a file.
    #[arg(
        long,
        value_name = "PATH",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    pub json: Option<PathBuf>,
    /// Arguments for cargo-nextest after `--`, e.g. a filter: `-- -E 'test(=orders::x)'`.
    #[arg(last = true)]
    pub runner_args: Vec<String>,
}

impl Step {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let step = steps::find(self.number)?;
        if !workspace::has_nextest() {
            anyhow::bail!(
                "`cargo xtask step` reads per-test results from cargo-nextest, which is not \
                 installed. Install it with: cargo install --locked cargo-nextest\n\
                 (Without a report: cargo test -p {})",
                step.package
            );
        }
        let report = validate(step, &self.runner_args)?;
        emit(&report, self.json.as_deref())?;
        Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Services, build, tests: each becomes checks in the report. Services are stopped before
/// this returns.
fn validate(step: &StepInfo, runner_args: &[String]) -> anyhow::Result<Report> {
    let started = Instant::now();
    let ui = Ui::new();
    let mut report = Report::new(step.number, step.title, step.package);
    eprintln!(
        "step {}: {} ({}; chapter {})",
        step.number, step.title, step.package, step.chapter
    );

    // nginx and the like: installed before anything starts, so a missing one is one message.
    crate::prereq::ensure_local_programs(&[], step.tools)?;
    match Services::start(step.services, Origin::EnvironmentFirst, &ui) {
        Err(failure) => {
            report.checks.push(
                Check::new(
                    CheckKind::Service,
                    "service",
                    failure.service.label(),
                    Status::Fail,
                )
                .took(Some(failure.took))
                .message(
                    format!("{:#}", failure.error)
                        .lines()
                        .take(15)
                        .map(str::to_owned)
                        .collect(),
                )
                .rerun(vec![
                    "cargo xtask doctor".to_owned(),
                    format!("cargo xtask step {}", step.number),
                ]),
            );
        }
        Ok(services) => {
            report.services = services.infos();
            for (info, (service, took)) in services.infos().iter().zip(services.timings()) {
                report.checks.push(
                    Check::new(
                        CheckKind::Service,
                        "service",
                        &format!("{}: {}", service.label(), info.source),
                        Status::Pass,
                    )
                    .took(Some(took)),
                );
            }
            if build(step, &ui, &mut report)? {
                run_tests(step, &services, runner_args, &ui, &mut report)?;
            }
            // Stopped here, before the report is printed: what it says was, is over.
            drop(services);
        }
    }
    report.finish(started.elapsed());
    Ok(report)
}

/// Builds the step's test binaries (what the test run would build first), so the report
/// times the build apart from the tests and a compile error is one clear failed check.
fn build(step: &StepInfo, ui: &Ui, report: &mut Report) -> anyhow::Result<bool> {
    let rerun = rerun_for(step, &[]);
    let activity = ui.activity(format!("building {} and its tests", step.package));
    let mut command = workspace::cargo();
    command
        .args(["nextest", "run", "--no-run", "--package", step.package])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().context("starting cargo nextest --no-run")?;
    let stderr = child.stderr.take().expect("piped");
    let lines = relay_cargo_output(stderr, &activity);
    let status = child.wait().context("waiting for the build")?;
    let took = activity.elapsed();
    let name = format!("{}: test binaries", step.package);
    if status.success() {
        activity.finish(&format!("built in {}", human_duration(took)));
        report
            .checks
            .push(Check::new(CheckKind::Build, "build", &name, Status::Pass).took(Some(took)));
        Ok(true)
    } else {
        activity.finish(&format!("the build failed ({status})"));
        report.checks.push(
            Check::new(CheckKind::Build, "build", &name, Status::Fail)
                .took(Some(took))
                .message(compiler_errors(&lines, 30))
                .rerun(rerun.build()),
        );
        Ok(false)
    }
}

/// Shows cargo's output while it builds: on a terminal its `Compiling x` lines become the
/// spinner's message and everything else (warnings, errors) is printed above it; elsewhere
/// every line is printed. Returns all lines, for the report.
fn relay_cargo_output(stderr: impl std::io::Read, activity: &Activity) -> Vec<String> {
    let mut lines = Vec::new();
    let mut compiled = 0;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let word = line.split_whitespace().next().unwrap_or_default();
        match word {
            "Compiling" | "Checking" | "Building" => {
                compiled += 1;
                let what = line.split_whitespace().nth(1).unwrap_or_default();
                activity.set_message(format!("compiling {what} ({compiled} crates so far)"));
                activity.println_plain_only(&line);
            }
            "Blocking" | "Finished" | "Fresh" | "Updating" | "Locking" | "Adding"
            | "Downloading" | "Downloaded" => {
                activity.set_message(line.trim().to_owned());
                activity.println_plain_only(&line);
            }
            _ => activity.println(&line),
        }
        lines.push(line);
    }
    lines
}

/// The compiler's errors from cargo's output: from the first `error` line on.
fn compiler_errors(lines: &[String], max: usize) -> Vec<String> {
    let start = lines
        .iter()
        .position(|l| l.starts_with("error"))
        .unwrap_or(lines.len().saturating_sub(max));
    let mut picked: Vec<String> = lines[start..].iter().take(max).cloned().collect();
    if lines.len() - start > max {
        picked.push("...".to_owned());
    }
    picked
}

fn run_tests(
    step: &StepInfo,
    services: &Services,
    runner_args: &[String],
    ui: &Ui,
    report: &mut Report,
) -> anyhow::Result<()> {
    let log = workspace::xtask_dir().join(format!("step-{:02}.log", step.number));
    let mut command = workspace::cargo();
    command
        .args([
            "nextest",
            "run",
            "--no-fail-fast",
            "--message-format",
            "libtest-json-plus",
            "--package",
            step.package,
        ])
        .args(runner_args)
        .envs(services.test_env());
    let activity = ui.activity(format!("running the tests of step {}", step.number));
    activity.set_prefix("testing");
    // Ctrl-C reaches nextest too (same terminal); it stops its tests, and we still report.
    let interrupted = interrupt::catch();
    let outcome = nextest::run(command, &activity, &log, Paint::for_stderr(), &interrupted)?;
    activity.finish(&format!(
        "{} tests finished in {}",
        outcome.results.len(),
        human_duration(outcome.took)
    ));
    report.log = Some(workspace::display_path(&log));

    let mut results = outcome.results;
    results.sort_by(|a, b| (&a.binary_id, &a.name).cmp(&(&b.binary_id, &b.name)));
    let rerun = rerun_for(
        step,
        &results
            .iter()
            .map(|r| (r.binary_id.as_str(), r.name.as_str()))
            .collect::<Vec<_>>(),
    );
    let (mut passed, mut failed) = (0, 0);
    for result in &results {
        let mut check = Check::new(
            CheckKind::Test,
            &result.binary_id,
            &result.name,
            result.status,
        )
        .took(result.duration);
        match result.status {
            Status::Pass => passed += 1,
            Status::Fail => {
                failed += 1;
                let mut message = Vec::new();
                if let Some(reason) = &result.reason {
                    message.push(format!("nextest: {reason}"));
                }
                message.extend(failure_excerpt(result.output.as_deref().unwrap_or(""), 12));
                check = check
                    .message(message)
                    .rerun(rerun.test(&result.binary_id, &result.name));
            }
            Status::Skip => {}
        }
        report.checks.push(check);
    }

    let exited_ok = outcome.exit_code == Some(0);
    if interrupted.is_set() {
        report.checks.push(
            Check::new(CheckKind::Runner, "runner", "interrupted", Status::Fail)
                .message(vec![
                    "stopped by a signal (Ctrl-C, SIGTERM); the report covers the tests that finished"
                        .to_owned(),
                ])
                .rerun(rerun.whole_step()),
        );
    } else if let Some(summary) = outcome.summary
        && (summary.passed, summary.failed) != (passed, failed)
    {
        // Never pass on partial data: the JSON stream and nextest disagree.
        report.checks.push(
            Check::new(
                CheckKind::Runner,
                "runner",
                "per-test results",
                Status::Fail,
            )
            .message(vec![format!(
                "nextest counted {} passed and {} failed, but its JSON stream reported {passed} \
                     passed and {failed} failed (did the experimental format change?); see the log",
                summary.passed, summary.failed
            )])
            .rerun(rerun.whole_step()),
        );
    } else if !exited_ok && failed == 0 {
        report.checks.push(
            Check::new(
                CheckKind::Runner,
                "runner",
                "cargo nextest run",
                Status::Fail,
            )
            .took(Some(outcome.took))
            .message(runner_error(&outcome.stderr_tail, outcome.exit_code))
            .rerun(rerun.whole_step()),
        );
    } else if results.is_empty() {
        report.checks.push(
            Check::new(
                CheckKind::Runner,
                "runner",
                "cargo nextest run",
                Status::Fail,
            )
            .message(vec!["no test ran; does the filter select any?".to_owned()])
            .rerun(rerun.whole_step()),
        );
    }
    if failed > 0 {
        let vars: Vec<&str> = step.services.iter().map(|s| s.env_var()).collect();
        report.notes.push(format!(
            "the nextest commands work without xtask: the tests start their own services when \
             {} {} unset (set {} to reuse a server, e.g. one from `cargo xtask services up`)",
            vars.join(", "),
            if vars.len() == 1 { "is" } else { "are" },
            if vars.len() == 1 { "it" } else { "them" },
        ));
    }
    Ok(())
}

/// Why nextest failed without a failing test: its own error lines.
fn runner_error(stderr_tail: &[String], exit_code: Option<i32>) -> Vec<String> {
    let mut lines: Vec<String> = stderr_tail
        .iter()
        .filter(|l| {
            let l = l.trim();
            l.starts_with("error") || l.contains("no tests to run") || l.starts_with("warning")
        })
        .take(10)
        .cloned()
        .collect();
    if lines.is_empty() {
        lines = stderr_tail[stderr_tail.len().saturating_sub(10)..].to_vec();
    }
    lines.insert(
        0,
        format!(
            "cargo nextest exited with {}",
            exit_code.map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"))
        ),
    );
    lines
}

fn rerun_for<'a>(step: &'a StepInfo, tests: &[(&str, &str)]) -> Rerun<'a> {
    let mut binaries_per_name: HashMap<String, usize> = HashMap::new();
    for (_, name) in tests {
        *binaries_per_name.entry((*name).to_owned()).or_default() += 1;
    }
    Rerun {
        step: step.number,
        package: step.package,
        binaries_per_name,
    }
}

/// Prints the report (stdout, or stderr when the JSON takes stdout) and writes the JSON.
fn emit(report: &Report, json: Option<&Path>) -> anyhow::Result<()> {
    match json {
        Some(path) if path == Path::new("-") => {
            eprint!("\n{}", report.render(Paint::for_stderr()));
            println!("{}", report.to_json());
        }
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(path, report.to_json())
                .with_context(|| format!("writing the JSON report to {}", path.display()))?;
            print!("\n{}", report.render(Paint::for_stdout()));
            println!("JSON report: {}", path.display());
        }
        None => print!("\n{}", report.render(Paint::for_stdout())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_errors_start_at_the_first_error_line() {
        let lines: Vec<String> = [
            "   Compiling common v0.1.0",
            "warning: unused import",
            "error[E0433]: cannot find type `StopSignal` in this scope",
            "   --> testkit/src/services/nx27017.rs:218:22",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(compiler_errors(&lines, 30), lines[2..].to_vec());
        assert_eq!(compiler_errors(&lines, 1).last().unwrap(), "...");
    }

    #[test]
    fn a_runner_error_names_the_exit_code_and_keeps_the_error_lines() {
        let tail: Vec<String> = [
            "   Starting 0 tests",
            "error: no tests to run",
            "(hint: ...)",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            runner_error(&tail, Some(4)),
            ["cargo nextest exited with code 4", "error: no tests to run"]
        );
    }

    #[test]
    fn rerun_filters_pin_a_binary_only_for_names_that_repeat() {
        let step = steps::find(0).unwrap();
        let rerun = rerun_for(
            step,
            &[("common", "a::x"), ("common::it", "a::x"), ("common", "b")],
        );
        assert_eq!(
            rerun.filter("common::it", "a::x"),
            "binary_id(common::it) & test(=a::x)"
        );
        assert_eq!(rerun.filter("common", "b"), "test(=b)");
    }
}

//! `cargo xtask test`: every step that exists and every tool, in one nextest run over the
//! whole workspace, against one shared set of services (each test still gets its own database).
//! One run instead of one per step: the steps share their dependencies' builds and the
//! services, and nextest schedules all tests on all cores. The README's test command, and CI's:
//! its output ends with nextest's own summary lines, which CI reads.

use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::exit_code;
use crate::interrupt::{self, Interrupted};
use crate::prereq::Tool;
use crate::services::{Origin, Services};
use crate::steps::{self, STEPS};
use crate::ui::Ui;
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask test
  cargo xtask test -- -E 'package(common)'
  cargo xtask test -- --test-threads 1")]
pub struct Test {
    /// Arguments for the test runner after `--`, e.g. a filter or `--test-threads 1`.
    #[arg(last = true)]
    pub runner_args: Vec<String>,
}

impl Test {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        // Drift first: it takes a second, the tests take many minutes.
        let problems = crate::cmd::tidy::problems()?;
        if !problems.is_empty() {
            eprint!("{}", crate::cmd::tidy::render(&problems));
            anyhow::bail!(
                "cargo xtask tidy found {} problem{} (above): the docs, shop.example.toml or \
                 the tools no longer match the code; fix them, then run the tests",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
        for (test, why) in SKIPPED {
            eprintln!("skipped on purpose: {test} ({why})");
        }
        let packages: Vec<String> = STEPS
            .iter()
            .map(|s| format!("step {} ({})", s.number, s.package))
            .collect();
        eprintln!(
            "testing the whole workspace: {} and the tools, against shared services",
            packages.join(", ")
        );
        // The provisioning crate's own tests start PostgreSQL too, beside what the steps use,
        // and its container tests build the local images (debootstrap makes their base).
        let mut services = steps::services_of(STEPS);
        services.push(crate::services::Service::Postgres);
        let mut tools = steps::tools_of(STEPS);
        tools.push(Tool::Debootstrap);
        crate::prereq::ensure_local_programs(&services, &tools)?;
        // Step 4's tests run `cargo xtask load`, which runs loadgen built in release: built
        // here, outside any test's time limit, its first build takes minutes.
        crate::loadgen::build()?;
        let services = Services::start(
            &steps::services_of(STEPS),
            Origin::EnvironmentFirst,
            &Ui::new(),
        )?;
        // Steps 5 and 6's offline query data against their migrations, before the tests build
        // on it: stale data means the build checked the queries against a schema the
        // migrations no longer make. It costs one rebuild of each library.
        if let Some(postgres) = services.url_of(crate::services::Service::Postgres) {
            let drift = crate::cmd::sqlx::check(postgres, &Ui::new())?;
            if !drift.is_empty() {
                eprint!("{}", crate::cmd::sqlx::render(&drift));
                anyhow::bail!(
                    "the offline query data of {} is out of date (above)",
                    crate::cmd::sqlx::committed_dirs()
                );
            }
        }
        // Ctrl-C stops nextest (it gets it too); then the services stop in order.
        let interrupted = interrupt::catch();
        let status = run_tests(
            &["--workspace"],
            &services.test_env(),
            &self.runner_args,
            &interrupted,
        )?;
        drop(services);
        Ok(exit_code(status))
    }
}

/// The `#[ignore]`d tests, which the summary counts as skipped without naming them: the
/// test's file and name, and why it never runs as a test.
pub const SKIPPED: &[(&str, &str)] = &[(
    "provision/tests/it/child.rs child_process_body",
    "not a test: the body of the child processes provision's tests start and kill",
)];

/// Runs nextest (or `cargo test` where nextest is missing) over `selection`, with the shared
/// services in the environment. Its output is ours: the runner's summary ends the output.
pub fn run_tests(
    selection: &[&str],
    env: &[(&'static str, String)],
    extra: &[String],
    interrupted: &Interrupted,
) -> anyhow::Result<std::process::ExitStatus> {
    let mut command = workspace::cargo();
    if workspace::has_nextest() {
        command.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        eprintln!(
            "cargo-nextest not found, using cargo test (install: cargo install --locked cargo-nextest)"
        );
        command.args(["test", "--no-fail-fast"]);
    }
    command
        .args(selection)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().context("starting the test runner")?;
    interrupted.forward_to(child.id());
    child.wait().context("waiting for the test runner")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_named_as_skipped_is_an_ignored_test_of_that_file() {
        for (test, _) in SKIPPED {
            let (file, name) = test.split_once(' ').unwrap();
            let text = std::fs::read_to_string(workspace::root().join(file)).unwrap();
            let at = text
                .find(&format!("fn {name}("))
                .unwrap_or_else(|| panic!("{file} has no fn {name}"));
            let before: Vec<&str> = text[..at].lines().rev().take(3).collect();
            assert!(
                before
                    .iter()
                    .any(|l| l.trim_start().starts_with("#[ignore")),
                "{test} is not #[ignore]d: {before:?}"
            );
        }
    }
}

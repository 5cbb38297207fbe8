//! `cargo xtask test`: the whole workspace's tests, with one MongoDB shared by every test
//! process (each test still gets its own database). The README's test command, and CI's.

use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::{exit_code, start_services};
use crate::workspace;

#[derive(clap::Args)]
pub struct Test {
    /// Extra arguments for the test runner, e.g. `-- --test-threads 1` or a filter.
    #[arg(last = true)]
    pub runner_args: Vec<String>,
}

impl Test {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mongo = start_services()?;
        let status = run_tests(&["--workspace"], mongo.uri(), &self.runner_args)?;
        drop(mongo);
        Ok(exit_code(status))
    }
}

/// Runs nextest (or `cargo test` where nextest is missing) over `selection`, with the shared
/// services in the environment. Its output is ours: the runner's summary ends the output.
pub fn run_tests(
    selection: &[&str],
    mongodb_uri: &str,
    extra: &[String],
) -> anyhow::Result<std::process::ExitStatus> {
    let mut command = workspace::cargo();
    if workspace::has_nextest() {
        command.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        eprintln!(
            "cargo-nextest not found, using cargo test (install: cargo install cargo-nextest)"
        );
        command.args(["test", "--no-fail-fast"]);
    }
    command
        .args(selection)
        .args(extra)
        .env("MONGODB_URI", mongodb_uri);
    command.status().context("running the test runner")
}

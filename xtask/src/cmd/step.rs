//! `cargo xtask step N`: starts what step N needs and runs its tests, which include the
//! contract suites of every step up to N.

use std::process::ExitCode;

use crate::cmd::test::run_tests;
use crate::cmd::{exit_code, start_services};
use crate::steps;

#[derive(clap::Args)]
pub struct Step {
    /// The step number, 0 to 10.
    pub number: u8,
    /// Extra arguments for the test runner.
    #[arg(last = true)]
    pub runner_args: Vec<String>,
}

impl Step {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let step = steps::find(self.number)?;
        eprintln!("step {}: {} ({})", step.number, step.title, step.package);
        let mongo = start_services()?;
        let status = run_tests(&["--package", step.package], mongo.uri(), &self.runner_args)?;
        drop(mongo);
        Ok(exit_code(status))
    }
}

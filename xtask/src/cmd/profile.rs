//! `cargo xtask profile N`: a load run (any of `load`'s options) against step N served with
//! profiling on (`APP__OPTIMIZE__PROFILING_ENABLED=true`), in which the generator asks the
//! server for a CPU profile of `--seconds` 2 s into the scenario (`GET
//! /internal/profile?seconds=S`, a pprof flamegraph sampled inside the process: no `perf`
//! needed) and writes it to `$CARGO_TARGET_DIR/reports/flamegraph-stepN-<stamp>.svg` (else
//! `target/reports/`), beside the run's own report. loadgen makes that request (its `--profile-seconds`): it knows when its scenario
//! starts, and xtask needs no HTTP client of its own.

use std::process::ExitCode;

use anyhow::bail;

use crate::cmd::load::Load;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask profile 4 --release                     the mix, a 10 s profile mid-run
  cargo xtask profile 4 --release --scenario listing --seconds 15 --duration 25")]
pub struct Profile {
    #[command(flatten)]
    pub load: Load,
    /// Seconds the profiler samples (it starts 2 s into the scenario).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

impl Profile {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if self.seconds + 2 > self.load.duration {
            bail!(
                "--duration ({} s) must cover the profile (--seconds {} plus 2 s)",
                self.load.duration,
                self.seconds
            );
        }
        let profiling = [(
            "APP__OPTIMIZE__PROFILING_ENABLED".to_owned(),
            "true".to_owned(),
        )];
        self.load.drive(
            &profiling,
            &["--profile-seconds".to_owned(), self.seconds.to_string()],
        )
    }
}

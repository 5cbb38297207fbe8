//! The `loadgen` command line: drives the server at `--base-url` with a scenario, at a fixed
//! arrival rate (`--rate`, open model) or at maximum throughput (closed loop), after a few
//! seconds of the no-I/O reference endpoint; prints the report and writes it as JSON and SVG
//! (and, with `--profile-seconds`, the server's flamegraph) to `--out`. Exit code 1 when any
//! request failed other than with a 429 (a rate limiter doing its job), or the profile failed.
//! `cargo xtask load N` and `profile N` run the binary against a step they start; run alone,
//! it drives whatever is at the URL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::mix::Scenario;
use crate::{Mode, Plan};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Drive a server with this project's API and report requests/s and latency \
             percentiles per endpoint",
    after_help = "\
Examples:
  loadgen --base-url http://127.0.0.1:8080                     the mix, max throughput, 20 s
  loadgen --base-url http://127.0.0.1:8080 --scenario detail   cached product detail
  loadgen --base-url http://127.0.0.1:8080 --scenario orders   placing and paying orders only
  loadgen --base-url http://127.0.0.1:8080 --rate 800          an open-model run at 800/s
  cargo xtask load 4                                           the same against a step it starts"
)]
pub struct Cli {
    /// The server: the REST API is under `<base-url>/api/v1`.
    #[arg(long)]
    base_url: String,
    #[arg(long, value_enum, default_value = "mix")]
    scenario: Scenario,
    /// Open model: this many requests per second, latency from each intended start.
    #[arg(long, conflicts_with = "max")]
    rate: Option<f64>,
    /// Closed loop at maximum throughput (the default when --rate is not given).
    #[arg(long)]
    max: bool,
    /// Seconds the scenario runs.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Workers in --max mode (and for the reference phase).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// With --rate: at most this many requests in flight (connections open); a request due
    /// while all are busy waits for one, and its wait counts in its latency. A bound keeps
    /// an overloaded run from opening thousands of connections, which would measure the
    /// connection storm rather than the server.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Seconds of the reference endpoint before the scenario (0 skips it).
    #[arg(long, default_value_t = 5)]
    reference_secs: u64,
    /// Load users the mix (and the orders scenario) registers and signs in first.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Where the JSON and SVG go (default: target/reports, or under $CARGO_TARGET_DIR).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The step the server is: named in the report and its files (else the base URL is).
    #[arg(long)]
    step: Option<u8>,
    /// How the server was built, for the report: `release`, `debug`, or `external` (unknown).
    #[arg(long, default_value = "external")]
    server_build: String,
    /// Ask the server for a CPU profile of this many seconds, 2 s into the scenario
    /// (`GET /internal/profile`, step 4 on, profiling enabled), and write its flamegraph.
    #[arg(long, value_name = "SECONDS")]
    profile_seconds: Option<u64>,
    /// The server's rate limits are on on purpose: a run answered mostly with 429s says so in
    /// its headline but does not fail (without this, it exits 1: its figures are the
    /// limiter's, not the server's).
    #[arg(long)]
    rate_limits_expected: bool,
}

impl Cli {
    /// The run these options ask for, or why they cannot be run.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        if let Some(seconds) = self.profile_seconds
            && seconds + crate::profile::WARM_UP.as_secs() > self.duration
        {
            bail!(
                "--duration ({} s) must cover the profile (--profile-seconds {seconds} plus 2 s)",
                self.duration
            );
        }
        if self.rate.is_some_and(|rate| rate.is_nan() || rate <= 0.0) {
            bail!("--rate must be a positive number of requests per second");
        }
        Ok(Plan {
            step: self.step,
            base_url: self.base_url.clone(),
            scenario: self.scenario,
            mode: match self.rate {
                Some(per_sec) => Mode::Rate {
                    per_sec,
                    max_in_flight: self.max_in_flight,
                },
                None => Mode::Max {
                    concurrency: self.concurrency,
                },
            },
            duration: Duration::from_secs(self.duration),
            reference: Duration::from_secs(self.reference_secs),
            reference_concurrency: self.concurrency,
            users: self.users,
            server_build: self.server_build.clone(),
            profile: self.profile_seconds.map(Duration::from_secs),
        })
    }

    fn reports_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("reports")
        })
    }
}

/// The binary's `main`: parses the command line, runs, reports.
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let plan = cli.plan()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    eprintln!(
        "load: {}, scenario {}, {} for {} s ...",
        plan.step
            .map_or_else(|| plan.base_url.clone(), |step| format!("step {step}")),
        plan.scenario.name(),
        if cli.rate.is_some() {
            "open model"
        } else {
            "max throughput"
        },
        cli.duration
    );
    let outcome = runtime.block_on(crate::run(&plan))?;
    let report = outcome.report;
    let stamp = crate::timestamp();
    let dir = cli.reports_dir();
    let (json, svg) = crate::write(&report, &dir, &stamp)?;
    print!("{}", report.table());
    // With a flamegraph the labels are wider, so the three paths line up.
    let Some(flamegraph) = outcome.flamegraph else {
        println!("report  {}", json.display());
        println!("chart   {}", svg.display());
        return Ok(verdict(&report, cli.rate_limits_expected));
    };
    println!("report      {}", json.display());
    println!("chart       {}", svg.display());
    let flamegraph = flamegraph.context("the profile failed; the load report was written")?;
    let flame = dir.join(format!(
        "flamegraph-{}{stamp}.svg",
        crate::step_prefix(report.step)
    ));
    std::fs::write(&flame, &flamegraph).with_context(|| format!("writing {}", flame.display()))?;
    println!("flamegraph  {}", flame.display());
    Ok(verdict(&report, cli.rate_limits_expected))
}

/// Exit code 1 when requests failed for reasons other than rate limits, or when rate limits
/// answered most of them (the figures are the limiter's) and that was not `expected`.
pub(crate) fn verdict(report: &crate::report::Report, expected: bool) -> ExitCode {
    let unexpected = report.unexpected_errors();
    if unexpected > 0 {
        eprintln!("{unexpected} requests failed (other than 429)");
        return ExitCode::FAILURE;
    }
    if let Some((limited, requests)) = report.rate_limited() {
        eprintln!("{limited} of {requests} answers were 429: the run measured the rate limiter");
        if !expected {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

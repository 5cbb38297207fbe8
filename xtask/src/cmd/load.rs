//! `cargo xtask load N`: drives step N (started here like `cargo xtask run N`, or a running one
//! at `--base-url`) with the task mix or one endpoint, at a fixed arrival rate (`--rate`, open
//! model) or at maximum throughput (`--max`, closed loop), after a few seconds of the no-I/O
//! reference endpoint; prints the report and writes it as JSON and SVG to
//! `$CARGO_TARGET_DIR/reports/` (`target/reports/` when unset). The generator is the `loadgen` binary, built in release and given the step's URL and these
//! options ([`crate::loadgen`]); this command starts and stops the step around it. Exit code 1
//! when any request failed other than with a 429, or when most answers were 429s (the run
//! measured a rate limiter: serve with `cargo xtask run N --no-rate-limits`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::builder::{PossibleValue, PossibleValuesParser};

use crate::cmd::exit_code;
use crate::cmd::run::{Stack, StartOptions, start};
use crate::{loadgen, workspace};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catalog {
    /// The demo catalog `run` seeds (a handful of products).
    Demo,
    /// 100,000 products with reviews and users (`step04-optimize seed --large`; step 4 on).
    Large,
}

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask load 4                                  the mix, max throughput, 20 s
  cargo xtask load 4 --scenario detail --release      cached product detail vs the reference
  cargo xtask load 4 --scenario detail --no-cache     the same, uncached
  cargo xtask load 4 --rate 800 --catalog large       an open-model run at 800 requests/s
  cargo xtask load 4 --base-url http://127.0.0.1:8080 --scenario listing")]
pub struct Load {
    /// The step number (the reference endpoint exists from step 4 on).
    pub number: u8,
    /// Drive a server that is already running instead of starting one.
    #[arg(long)]
    pub base_url: Option<String>,
    /// What to ask of the server.
    #[arg(long, default_value = "mix", value_parser = scenarios())]
    pub scenario: String,
    /// Open model: this many requests per second, latency from each intended start.
    #[arg(long, conflicts_with = "max")]
    pub rate: Option<f64>,
    /// Closed loop at maximum throughput (the default when --rate is not given).
    #[arg(long)]
    pub max: bool,
    /// Seconds the scenario runs.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Workers in --max mode (and for the reference phase).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// With --rate: at most this many requests in flight (connections open); a request due
    /// while all are busy waits for one, and its wait counts in its latency. A bound keeps
    /// an overloaded run from opening thousands of connections, which would measure the
    /// connection storm rather than the server.
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// Seconds of the reference endpoint before the scenario (0 skips it).
    #[arg(long, default_value_t = 5)]
    pub reference_secs: u64,
    #[arg(long, value_enum, default_value = "demo")]
    pub catalog: Catalog,
    /// Build and run the server optimised (what the figures in the chapter use).
    #[arg(long)]
    pub release: bool,
    /// Serve with the product cache off (APP__CACHE__ENABLED=false), for cached vs uncached.
    #[arg(long)]
    pub no_cache: bool,
    /// Keep step 2's rate limits (off by default: one load client would hit them at once),
    /// and count their 429s as intended: a run answered mostly with 429s then says so and
    /// exits 0. With `--base-url`, declares that the server's limits are on on purpose.
    #[arg(long)]
    pub keep_rate_limits: bool,
    /// More environment for the server this command starts, `KEY=VALUE`, repeatable (e.g.
    /// `--env APP__OPTIMIZE__CREATE_INDEXES=false` for a run without step 4's indexes).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub server_env: Vec<(String, String)>,
    /// Load users the mix registers and signs in first.
    #[arg(long, default_value_t = 16)]
    pub users: usize,
    /// Where the JSON and SVG go (default: $CARGO_TARGET_DIR/reports, else target/reports).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Load {
    /// The server's environment for a load run.
    pub fn server_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if !self.keep_rate_limits {
            env.push(("APP__APIS__RATE_LIMIT__ENABLED".into(), "false".into()));
        }
        if self.no_cache {
            env.push(("APP__CACHE__ENABLED".into(), "false".into()));
        }
        env.extend(self.server_env.iter().cloned());
        env
    }

    /// Refuses options that do not fit together, before anything is built or started.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.base_url.is_some() {
            if self.catalog == Catalog::Large {
                bail!("--catalog large seeds a server this command starts; without --base-url");
            }
            if self.no_cache || self.release || !self.server_env.is_empty() {
                bail!(
                    "--no-cache, --release and --env configure a server this command starts; \
                     without --base-url"
                );
            }
        } else if self.catalog == Catalog::Large && self.number < 4 {
            bail!("--catalog large needs step 4 or later (step04-optimize seed --large)");
        }
        Ok(())
    }

    /// Starts the step unless `--base-url` names one; returns the stack and the base URL.
    pub fn target(
        &self,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<(Option<Stack>, String)> {
        self.check()?;
        if let Some(base) = &self.base_url {
            return Ok((None, base.clone()));
        }
        let mut env = self.server_env();
        env.extend_from_slice(extra_env);
        let stack = start(
            self.number,
            &StartOptions {
                port: None,
                payments_port: 0,
                release: self.release,
                env,
                before_serve: match self.catalog {
                    Catalog::Demo => Vec::new(),
                    Catalog::Large => vec![vec!["seed".into(), "--large".into()]],
                },
            },
        )?;
        let base = stack.base.clone();
        Ok((Some(stack), base))
    }

    /// loadgen's options for this run against `base_url`.
    pub fn loadgen_args(&self, base_url: &str) -> Vec<String> {
        let server_build = match (&self.base_url, self.release) {
            (Some(_), _) => "external",
            (None, true) => "release",
            (None, false) => "debug",
        };
        let mut args: Vec<String> = [
            ("--base-url", base_url.to_owned()),
            ("--step", self.number.to_string()),
            ("--scenario", self.scenario.clone()),
            ("--duration", self.duration.to_string()),
            ("--concurrency", self.concurrency.to_string()),
            ("--max-in-flight", self.max_in_flight.to_string()),
            ("--reference-secs", self.reference_secs.to_string()),
            ("--users", self.users.to_string()),
            ("--server-build", server_build.to_owned()),
            ("--out", self.reports_dir().display().to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect();
        if self.keep_rate_limits {
            args.push("--rate-limits-expected".to_owned());
        }
        if let Some(rate) = self.rate {
            args.extend(["--rate".to_owned(), rate.to_string()]);
        }
        args
    }

    /// Builds loadgen, starts the step (unless `--base-url`), runs loadgen with `extra`
    /// options, stops the step; loadgen's exit code is ours.
    pub fn drive(
        &self,
        server_env: &[(String, String)],
        extra: &[String],
    ) -> anyhow::Result<ExitCode> {
        self.check()?;
        // Built before the step starts: a first release build takes minutes, and the step
        // would sit idle through them.
        let program = loadgen::build()?;
        let (stack, base) = self.target(server_env)?;
        let mut args = self.loadgen_args(&base);
        args.extend_from_slice(extra);
        let status = loadgen::run(&program, &args);
        if let Some(stack) = stack {
            stack.stop();
        }
        Ok(exit_code(status?))
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| workspace::target_dir().join("reports"))
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        self.drive(&[], &[])
    }
}

/// loadgen's scenarios, so a misspelt one fails here, before a step is started for it.
fn scenarios() -> PossibleValuesParser {
    PossibleValuesParser::new([
        PossibleValue::new("mix").help("The realistic task mix: mostly browsing, a few writes"),
        PossibleValue::new("reference")
            .help("Only the no-I/O reference endpoint, `GET /internal/noop`"),
        PossibleValue::new("detail")
            .help("Only product detail, over 100 hot products (cached after their first read)"),
        PossibleValue::new("listing")
            .help("Only listings, with filters, sorts and pages; a row per query shape"),
        PossibleValue::new("orders")
            .help("Only placing and paying orders: orders per second through the order writes"),
    ])
}

/// `KEY=VALUE` of `--env`.
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
            Ok((key.to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

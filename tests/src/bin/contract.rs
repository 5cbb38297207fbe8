//! `contract`: runs the contract suites against a server that is already running, and prints
//! one line per case and a summary (or the whole report as JSON with `--json`). Exits 1 when
//! any case fails, 2 on bad arguments, so it can gate CI or a deployment.
//!
//! ```text
//! cargo run -p tests --bin contract -- --base-url http://127.0.0.1:8080 \
//!     --admin-email admin@example.test --admin-password change-me-please
//! ```
//!
//! The `ordering00` suite also needs the payment provider (simulator) the server charges:
//! `--provider-url http://127.0.0.1:4242 --provider-api-key sk_test_simulator
//! --payment-timeout-ms 5000` (the server's `APP__PAYMENTS__TIMEOUT_MS`). Without them its
//! cases fail, saying so; leave it out with `--suite` to run the others alone. It makes that
//! provider slow or down while it runs, for every client of the provider.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use tests::{Provider, SuiteReport, Target, run_suite};

#[derive(Debug, Parser)]
#[command(about = "Run the stepwise-shop contract suites against a running server")]
struct Args {
    /// Where the server listens, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CONTRACT_BASE_URL")]
    base_url: String,
    /// An admin account the server was started with.
    #[arg(long, env = "CONTRACT_ADMIN_EMAIL")]
    admin_email: String,
    #[arg(long, env = "CONTRACT_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// The payment provider simulator the server charges, e.g. http://127.0.0.1:4242 (for the
    /// suites that make it slow or down: ordering00).
    #[arg(
        long,
        env = "CONTRACT_PROVIDER_URL",
        requires_all = ["provider_api_key", "payment_timeout_ms"]
    )]
    provider_url: Option<String>,
    /// The simulator's API key (the server's APP__PAYMENTS__API_KEY).
    #[arg(
        long,
        env = "CONTRACT_PROVIDER_API_KEY",
        hide_env_values = true,
        requires = "provider_url"
    )]
    provider_api_key: Option<String>,
    /// How long the server waits for the provider before answering 503 (its
    /// APP__PAYMENTS__TIMEOUT_MS).
    #[arg(long, env = "CONTRACT_PAYMENT_TIMEOUT_MS", requires = "provider_url")]
    payment_timeout_ms: Option<u64>,
    /// Suites to run (repeatable); all of them when omitted.
    #[arg(long = "suite", value_name = "SUITE")]
    suites: Vec<String>,
    /// Only cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Cases in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print the report as JSON instead of lines.
    #[arg(long)]
    json: bool,
    /// List the cases instead of running them.
    #[arg(long)]
    list: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let known = tests::suites();
    let selected: Vec<tests::Suite> = if args.suites.is_empty() {
        known
    } else {
        let mut selected = Vec::new();
        for name in &args.suites {
            match tests::suite(name) {
                Some(suite) => selected.push(suite),
                None => {
                    let names: Vec<_> = known.iter().map(|suite| suite.name).collect();
                    eprintln!("unknown suite {name:?}; known suites: {}", names.join(", "));
                    return ExitCode::from(2);
                }
            }
        }
        selected
    };

    let mut target = Target::new(args.base_url, args.admin_email, args.admin_password);
    if let (Some(url), Some(key), Some(timeout_ms)) = (
        args.provider_url,
        args.provider_api_key,
        args.payment_timeout_ms,
    ) {
        target = target.with_provider(Provider::new(url, key, Duration::from_millis(timeout_ms)));
    }
    let mut reports = Vec::new();
    for suite in selected {
        let cases: Vec<_> = (suite.cases)()
            .into_iter()
            .filter(|c| args.filter.as_deref().is_none_or(|f| c.name.contains(f)))
            .collect();
        if args.list {
            for case in &cases {
                println!("{} {}", suite.name, case.name);
            }
            continue;
        }
        let concurrency = suite.concurrency(args.concurrency);
        let report = run_suite(suite.name, cases, &target, concurrency).await;
        if !args.json {
            print_lines(&report);
        }
        reports.push(report);
    }
    if args.list {
        return ExitCode::SUCCESS;
    }

    let passed: usize = reports.iter().map(SuiteReport::passed_count).sum();
    let failed: usize = reports.iter().map(SuiteReport::failed_count).sum();
    if args.json {
        let report = json!({
            "base_url": target.base_url,
            "passed": passed,
            "failed": failed,
            "suites": reports.iter().map(SuiteReport::to_json).collect::<Vec<_>>(),
        });
        println!("{report:#}");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_lines(report: &SuiteReport) {
    for outcome in &report.outcomes {
        println!(
            "{} {} {} {}ms",
            report.suite,
            outcome.name,
            if outcome.passed { "PASS" } else { "FAIL" },
            outcome.duration.as_millis()
        );
        if let Some(message) = &outcome.message {
            for line in message.lines() {
                println!("    {line}");
            }
        }
    }
}

//! The `payment-sim` binary: the payment provider simulator on a fixed port, for local runs of
//! the shop (`cargo run -p payment-sim`). Telemetry, flags, start, wait for Ctrl-C or SIGTERM,
//! stop gracefully. Logs go to stderr so stdout carries only the "listening on" line, which
//! scripts can wait for.

use std::{io::IsTerminal, net::SocketAddr, process::ExitCode, time::Duration};

use clap::Parser;
use payment_sim::{RunningSimulator, SimConfig, config::DEFAULT_API_KEY};
use tracing_subscriber::EnvFilter;

/// Payment provider SIMULATOR: a Stripe-like test double for card payments. It moves no
/// money; charge with source tok_success, tok_decline or tok_insufficient_funds.
#[derive(Debug, Parser)]
#[command(name = "payment-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "PAYMENT_SIM_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PAYMENT_SIM_PORT", default_value_t = 4242)]
    port: u16,
    /// Bearer token every /v1 request must carry.
    #[arg(long, env = "PAYMENT_SIM_API_KEY", default_value = DEFAULT_API_KEY,
          value_parser = parse_api_key, hide_env_values = true)]
    api_key: String,
    /// Milliseconds to wait before answering every /v1 request.
    #[arg(long, env = "PAYMENT_SIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0 to 1) that a /v1 request answers 503 as if the provider were down.
    #[arg(long, env = "PAYMENT_SIM_FAILURE_RATE", default_value_t = 0.0,
          value_parser = parse_rate, allow_negative_numbers = true)]
    failure_rate: f64,
    /// Probability (0 to 1) that a /v1 POST that charges or refunds is carried out but
    /// never answered, so the client times out while the provider holds the money.
    #[arg(long, env = "PAYMENT_SIM_LOSE_ANSWER_RATE", default_value_t = 0.0,
          value_parser = parse_rate, allow_negative_numbers = true)]
    lose_answer_rate: f64,
    /// Seed for the failure and lost-answer draws, so a run replays; fresh randomness without.
    #[arg(long, env = "PAYMENT_SIM_SEED", allow_negative_numbers = true)]
    seed: Option<u64>,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a number; give a probability from 0 to 1"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{rate} is outside 0..=1; a rate is a probability \
             (0 = never, 0.25 = a quarter of requests, 1 = every request)"
        ))
    }
}

fn parse_api_key(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        Err("the API key must not be empty".to_owned())
    } else {
        Ok(raw.to_owned())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();

    let addr = match resolve(&args.host, args.port).await {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("payment-sim: cannot use --host {}: {err}", args.host);
            return ExitCode::FAILURE;
        }
    };
    let config = SimConfig {
        api_key: args.api_key,
        latency: Duration::from_millis(args.latency_ms),
        failure_rate: args.failure_rate,
        lose_answer_rate: args.lose_answer_rate,
        seed: args.seed,
    };
    let simulator = match RunningSimulator::start_on(addr, config).await {
        Ok(simulator) => simulator,
        Err(err) => {
            eprintln!("payment-sim: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stop = shutdown_signal();
    println!(
        "payment simulator (test double for a card payment provider) listening on {}",
        simulator.base_url()
    );

    stop.await;
    tracing::info!("shutdown requested; finishing in-flight requests");
    simulator.stop().await;
    ExitCode::SUCCESS
}

/// `--host` may be a name (`localhost`) as well as an address.
async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the name resolves to no address"))
}

/// Ctrl-C anywhere, SIGTERM too on Unix (what `docker stop` and Kubernetes send).
///
/// The handlers are installed when this is called, before the "listening on" line: a caller
/// that reads the line and sends SIGTERM at once gets a graceful stop, not death by signal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = next_signal(interrupt, "SIGINT") => {}
                () = next_signal(terminate, "SIGTERM") => {}
            }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    stop
}

/// The next delivery of an installed signal; never, if it could not be installed.
#[cfg(unix)]
async fn next_signal(installed: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match installed {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(err) => {
            tracing::error!(%err, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

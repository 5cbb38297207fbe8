//! The `payment-sim` binary: it announces where it listens, takes its settings from flags and
//! environment, refuses a rate that is not a probability or a seed that is not a whole number,
//! and stops on SIGTERM.

use std::{process::Stdio, time::Duration};

use payment_sim::tokens;
use reqwest::StatusCode;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::{charge_body, send};

const BINARY: &str = env!("CARGO_BIN_EXE_payment-sim");

/// Generous: the binary is already built, this only bounds a hang.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary with no `PAYMENT_SIM_*` variables leaking in from the caller's environment.
fn command() -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PAYMENT_SIM_") {
            command.env_remove(name);
        }
    }
    command.kill_on_drop(true);
    command
}

/// Starts the binary and returns it with the base URL from its "listening on" line.
async fn start(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn payment-sim");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(STARTUP_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("payment-sim announced itself in time")
        .expect("read payment-sim's stdout");
    assert!(
        line.starts_with(
            "payment simulator (test double for a card payment provider) listening on http://"
        ),
        "unexpected announcement: {line:?}"
    );
    let url = line
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    (child, url)
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_serves_on_its_announced_address_until_sigterm() {
    let mut command = command();
    command.args(["--port", "0", "--api-key", "sk_test_from_flag"]);
    let (mut child, url) = start(command).await;
    let client = reqwest::Client::new();

    let charge = send(
        client
            .post(format!("{url}/v1/charges"))
            .bearer_auth("sk_test_from_flag")
            .json(&charge_body(100, tokens::SUCCESS)),
    )
    .await;
    charge.assert_status(StatusCode::CREATED);

    let pid = child.id().expect("the child is running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let status = tokio::time::timeout(STARTUP_TIMEOUT, child.wait())
        .await
        .expect("payment-sim exited after SIGTERM")
        .expect("wait for payment-sim");
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn the_binary_takes_its_settings_from_the_environment() {
    let mut command = command();
    command
        .env("PAYMENT_SIM_PORT", "0")
        .env("PAYMENT_SIM_API_KEY", "sk_test_from_env")
        .env("PAYMENT_SIM_FAILURE_RATE", "1")
        .env("PAYMENT_SIM_LOSE_ANSWER_RATE", "0.25")
        .env("PAYMENT_SIM_SEED", "7");
    let (_child, url) = start(command).await;
    let client = reqwest::Client::new();

    let answer = send(
        client
            .get(format!("{url}/v1/charges"))
            .bearer_auth("sk_test_from_env"),
    )
    .await;
    let faults = send(
        client
            .get(format!("{url}/sim/faults"))
            .bearer_auth("sk_test_from_env"),
    )
    .await;

    answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "api_error");
    assert_eq!(faults.body["lose_answer_rate"], 0.25);
    assert_eq!(faults.body["seed"], 7);
}

#[tokio::test]
async fn the_binary_refuses_a_rate_outside_zero_to_one() {
    for flag in ["--failure-rate", "--lose-answer-rate"] {
        for rate in ["1.5", "-0.1", "NaN", "often"] {
            let output = command()
                .args(["--port", "0", flag, rate])
                .output()
                .await
                .expect("run payment-sim");

            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "accepted {flag} {rate}");
            assert!(stderr.contains(flag), "{flag} {rate}: {stderr}");
            assert!(
                stderr.contains("0 to 1") || stderr.contains("0..=1"),
                "{flag} {rate}: {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn the_binary_refuses_a_seed_that_is_not_a_whole_number() {
    for seed in ["-1", "1.5", "soon"] {
        let output = command()
            .args(["--port", "0", "--seed", seed])
            .output()
            .await
            .expect("run payment-sim");

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "accepted --seed {seed}");
        assert!(stderr.contains("--seed"), "seed {seed}: {stderr}");
    }
}

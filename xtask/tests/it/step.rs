//! `cargo xtask step 0`: a passing run, and a run with a forced failure.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The built xtask with a private temp dir, never the services of the calling environment
/// (under `cargo xtask test` a shared MONGODB_URI is set; here xtask must start its own),
/// and without the variables the outer nextest sets for its tests (`NEXTEST_TEST_THREADS`
/// would limit the inner run); a chosen profile (`NEXTEST_PROFILE`, CI's) is kept.
fn xtask(tmp: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .env("CARGO", env!("CARGO"))
        .env("TMPDIR", tmp)
        .env_remove("MONGODB_URI");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("NEXTEST_") && name != "NEXTEST_PROFILE" {
            command.env_remove(&*name);
        }
    }
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("xtask runs");
    eprintln!(
        "--- xtask stdout ---\n{}\n--- xtask stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the JSON report was written");
    serde_json::from_str(&text).expect("the JSON report parses")
}

/// Nothing the run started outlives it: no process mentions its temp dir, no `stepwise-*`
/// dir is left in it, and the MongoDB it reports is gone.
fn assert_nothing_left(tmp: &Path, report: &Value) {
    let leftovers: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stepwise-"))
        .collect();
    assert!(leftovers.is_empty(), "temp dirs left behind: {leftovers:?}");

    let marker = tmp.to_string_lossy().into_owned();
    let mut running = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&marker) {
            running.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    assert!(running.is_empty(), "processes left running: {running:#?}");

    for service in report["services"].as_array().unwrap() {
        if let Some(pid) = service["pid"].as_u64() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                stat.is_empty() || stat.contains(") Z"),
                "{} (pid {pid}) still runs",
                service["source"]
            );
        }
        // Local server or container alike: nothing answers on its port any more.
        if let Some(port) = service["port"].as_u64() {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
            assert!(
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1))
                    .is_err(),
                "{} still answers on port {port}",
                service["source"]
            );
        }
    }
}

#[test]
fn step_0_passes_end_to_end_reports_every_check_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    let output = run(xtask(tmp.path())
        .args(["step", "0"])
        .arg(format!("--json={}", json.display())));
    let report = read_report(&json);
    assert!(output.status.success(), "step 0 failed: {report:#}");

    assert_eq!(report["schema"], "stepwise-shop/step-report/v1");
    assert_eq!(report["passed"], true);
    let totals = &report["totals"];
    assert_eq!(totals["failed"], 0);
    assert!(totals["passed"].as_u64().unwrap() > 10, "{totals}");
    assert_eq!(totals["checks"], report["checks"].as_array().unwrap().len());
    let checks = report["checks"].as_array().unwrap();
    let kinds: Vec<&str> = checks.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..2], ["service", "build"]);
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "contract::step00::passes_against_this_step"),
        "the step-0 contract suite ran"
    );
    assert_eq!(report["services"][0]["service"], "mongodb");
    let source = report["services"][0]["source"].as_str().unwrap();
    assert!(
        source.starts_with("local") || source.starts_with("container"),
        "xtask started its own MongoDB, not {source}"
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("step 0: the baseline monolith (package common)"),
        "{stdout}"
    );
    assert!(stdout.contains("  PASS "), "{stdout}");
    assert!(stdout.contains("step 0 PASSED in "), "{stdout}");
    assert_nothing_left(tmp.path(), &report);
}

/// The failure is real and comes from the runner, not from a hook in xtask: a nextest config
/// whose slow-timeout kills any test after 100 ms, applied to one real test.
#[test]
fn a_failing_test_fails_the_step_with_exit_code_1_and_its_rerun_command() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    let config = tmp.path().join("nextest.toml");
    std::fs::write(
        &config,
        "[profile.default]\nslow-timeout = { period = \"100ms\", terminate-after = 1 }\n",
    )
    .unwrap();
    let test = "contract::step00::passes_against_this_step";
    let output = run(xtask(tmp.path())
        .args(["step", "0"])
        .arg(format!("--json={}", json.display()))
        .args(["--", "--config-file"])
        .arg(&config)
        .args(["--profile", "default", "-E"])
        .arg(format!("test(={test})")));
    let report = read_report(&json);

    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["totals"]["failed"], 1, "{report:#}");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["kind"], "test");
    assert_eq!(failed[0]["group"], "common::it");
    assert_eq!(failed[0]["name"], test);
    let rerun = format!("cargo nextest run -p common -E 'test(={test})'");
    assert_eq!(failed[0]["rerun"][0], rerun.as_str());

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("FAIL common::it {test}")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("rerun: {rerun}")), "{stdout}");
    assert!(stdout.contains("step 0 FAILED in "), "{stdout}");
    assert_nothing_left(tmp.path(), &report);
}

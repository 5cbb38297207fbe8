//! The load generator's own checks: the open model's intended times and its latency from the
//! intended start when a request stalls (on paused time, so exact), the report's maths, the
//! JSON's shape, the chart file, and the command line's options as `cargo xtask load` passes
//! them.

use std::time::Duration;

use clap::Parser;

use crate::Mode;
use crate::cli::{self, Cli};
use crate::mix::Scenario;
use crate::report::{self, Machine, Phase, Report};
use crate::scheduler::{self, Sample, intended_offset};

#[test]
fn intended_start_times_are_evenly_spaced_at_the_rate() {
    assert_eq!(intended_offset(0, 100.0), Duration::ZERO);
    assert_eq!(intended_offset(1, 100.0), Duration::from_millis(10));
    assert_eq!(intended_offset(250, 100.0), Duration::from_millis(2500));
}

#[tokio::test(start_paused = true)]
async fn the_open_model_sends_every_request_on_time_when_the_server_keeps_up() {
    let samples = scheduler::open(100.0, Duration::from_secs(1), 64, |_| async {
        tokio::time::sleep(Duration::from_millis(3)).await;
        ("GET /x".to_owned(), Some(200))
    })
    .await;
    assert_eq!(samples.len(), 100);
    for sample in &samples {
        assert_eq!(sample.latency, Duration::from_millis(3), "{sample:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_the_latency_of_the_requests_queued_behind_it() {
    // One slot: request 0 stalls 500 ms, so requests due during the stall wait for it. Their
    // latency runs from when they were due, not from when they could finally be sent.
    let samples = scheduler::open(100.0, Duration::from_secs(1), 1, |index| async move {
        let work = if index == 0 { 500 } else { 1 };
        tokio::time::sleep(Duration::from_millis(work)).await;
        ("GET /x".to_owned(), Some(200))
    })
    .await;
    let mut samples = samples;
    samples.sort_by_key(|s| s.at);
    assert_eq!(samples[0].latency, Duration::from_millis(500));
    // Request 1 was due at 10 ms, sent at 500 ms, answered at 501 ms.
    assert_eq!(samples[1].at, Duration::from_millis(10));
    assert_eq!(samples[1].latency, Duration::from_millis(491));
    let slow = samples
        .iter()
        .filter(|s| s.latency > Duration::from_millis(100))
        .count();
    assert!(slow > 40, "only {slow} requests show the stall");
}

#[tokio::test(start_paused = true)]
async fn the_closed_model_measures_from_each_send() {
    let samples = scheduler::closed(2, Duration::from_millis(100), |_| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        ("GET /x".to_owned(), Some(200))
    })
    .await;
    assert_eq!(samples.len(), 20);
    assert!(
        samples
            .iter()
            .all(|s| s.latency == Duration::from_millis(10))
    );
}

fn sample(endpoint: &str, status: Option<u16>, millis: u64) -> Sample {
    Sample {
        endpoint: endpoint.to_owned(),
        status,
        latency: Duration::from_millis(millis),
        at: Duration::ZERO,
    }
}

fn example_report() -> Report {
    let mut samples: Vec<Sample> = (1..=100)
        .map(|ms| sample("GET /a", Some(200), ms))
        .collect();
    samples.push(sample("GET /b", Some(429), 5));
    samples.push(sample("GET /b", Some(500), 5));
    samples.push(sample("GET /b", None, 5));
    let reference: Vec<Sample> = (0..400).map(|_| sample("noop", Some(200), 1)).collect();
    let phase = Phase {
        samples: &samples,
        elapsed: Duration::from_secs(2),
    };
    let mut rows = report::rows(&phase);
    let reference = report::reference_row(
        &Phase {
            samples: &reference,
            elapsed: Duration::from_secs(2),
        },
        "GET /internal/noop (reference)",
    );
    report::relate_to_reference(&mut rows, &reference);
    let mut reference = reference;
    let ceiling = reference.clone();
    report::relate_to_reference(std::slice::from_mut(&mut reference), &ceiling);
    Report {
        step: Some(4),
        base_url: "http://127.0.0.1:8080".into(),
        scenario: "mix".into(),
        mode: "max (closed, 2 workers)".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_secs: 2.0,
        machine: Machine {
            cpus: 2,
            os: "linux".into(),
            arch: "x86_64".into(),
            server_build: "debug".into(),
        },
        reference: Some(reference),
        rows,
    }
}

#[test]
fn rows_carry_rates_percentiles_errors_by_status_and_the_share_of_the_reference() {
    let report = example_report();
    let a = &report.rows[0];
    assert_eq!(a.endpoint, "GET /a");
    assert_eq!(a.requests, 100);
    assert!((a.requests_per_sec - 50.0).abs() < 1e-9);
    // HDR with 3 significant digits: within 0.1% of the exact value.
    assert!((a.p50_ms - 50.0).abs() < 0.1, "{}", a.p50_ms);
    assert!((a.p90_ms - 90.0).abs() < 0.1, "{}", a.p90_ms);
    assert!((a.p99_ms - 99.0).abs() < 0.1, "{}", a.p99_ms);
    assert!((a.max_ms - 100.0).abs() < 0.1, "{}", a.max_ms);
    assert!(a.errors.is_empty());
    assert!((a.percent_of_reference.unwrap() - 25.0).abs() < 1e-9);
    let b = &report.rows[1];
    assert_eq!(b.errors["429"], 1);
    assert_eq!(b.errors["500"], 1);
    assert_eq!(b.errors["transport"], 1);
    let all = report.rows.last().unwrap();
    assert_eq!(all.endpoint, report::OVERALL);
    assert_eq!(all.requests, 103);
    // The 429 is intended; the 500 and the transport error are not.
    assert_eq!(report.unexpected_errors(), 2);
}

#[test]
fn the_json_report_has_the_reference_every_row_and_the_machine() {
    let json = serde_json::to_value(example_report()).unwrap();
    assert_eq!(json["step"], 4);
    assert_eq!(json["machine"]["cpus"], 2);
    assert_eq!(
        json["reference"]["endpoint"],
        "GET /internal/noop (reference)"
    );
    assert_eq!(json["reference"]["percent_of_reference"], 100.0);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for key in [
        "requests",
        "requests_per_sec",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "errors",
        "percentiles",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing from {}", rows[0]);
    }
    let table = example_report().table();
    assert!(table.contains("GET /internal/noop (reference)"), "{table}");
    assert!(table.contains("500: 1"), "{table}");
}

#[test]
fn a_run_answered_mostly_with_429s_says_so_in_its_headline() {
    let report = example_report();
    assert_eq!(report.rate_limited(), None, "1 of 103 is not most");
    assert!(report.table().starts_with("step 4 - scenario mix"));

    let mut samples: Vec<Sample> = (0..90).map(|_| sample("GET /a", Some(429), 1)).collect();
    samples.extend((0..10).map(|_| sample("GET /a", Some(200), 1)));
    let limited = Report {
        rows: report::rows(&Phase {
            samples: &samples,
            elapsed: Duration::from_secs(1),
        }),
        ..example_report()
    };
    assert_eq!(limited.rate_limited(), Some((90, 100)));
    let table = limited.table();
    let headline = table.lines().next().unwrap();
    assert!(
        headline.starts_with("RATE LIMITED: 90 of 100 answers (90.0%) were 429"),
        "{headline}"
    );
    assert!(headline.contains("--no-rate-limits"), "{headline}");
    assert_eq!(
        limited.unexpected_errors(),
        0,
        "429s are still not failures"
    );
    // Such a run fails, unless the rate limits were on on purpose.
    assert_eq!(
        cli::verdict(&limited, false),
        std::process::ExitCode::FAILURE
    );
    assert_eq!(
        cli::verdict(&limited, true),
        std::process::ExitCode::SUCCESS
    );
    let healthy: Vec<Sample> = (0..100).map(|_| sample("GET /a", Some(200), 1)).collect();
    let healthy = Report {
        rows: report::rows(&Phase {
            samples: &healthy,
            elapsed: Duration::from_secs(1),
        }),
        ..example_report()
    };
    assert_eq!(
        cli::verdict(&healthy, false),
        std::process::ExitCode::SUCCESS
    );
    // The example run has a 500 and a dropped connection: it fails either way.
    assert_eq!(cli::verdict(&report, true), std::process::ExitCode::FAILURE);
}

#[test]
fn the_chart_legend_sits_beside_the_plot_not_over_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (_, svg) = crate::write(&example_report(), dir.path(), "20260101-000000").unwrap();
    let svg = std::fs::read_to_string(svg).unwrap();
    // Every legend entry is a text element right of the plot area.
    for label in ["GET /a (", "GET /internal/noop (reference) ("] {
        let at = svg
            .find(label)
            .unwrap_or_else(|| panic!("{label} in the legend"));
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let x: f64 = tag
            .split("x=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no x in {tag}"));
        assert!(
            x >= f64::from(crate::chart::PLOT_WIDTH),
            "{label} at x={x}: {tag}"
        );
    }
}

#[test]
fn the_report_is_written_as_json_and_an_svg_chart_with_a_line_per_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = crate::write(&example_report(), dir.path(), "20260101-000000").unwrap();
    assert!(json.ends_with("load-step4-mix-20260101-000000.json"));
    let parsed: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(parsed["rows"].as_array().unwrap().len(), 3);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    assert!(svg.contains("GET /a"), "the legend names the endpoints");
    assert!(svg.contains("latency by percentile"));
    // One series line per row and one legend sample each.
    assert!(
        svg.matches("<polyline").count() >= 4,
        "reference, a, b, all"
    );
}

#[test]
fn a_report_of_no_known_step_is_named_after_its_server() {
    let mut report = example_report();
    report.step = None;
    assert!(
        report
            .table()
            .starts_with("http://127.0.0.1:8080 - scenario mix - ")
    );
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = crate::write(&report, dir.path(), "20260101-000000").unwrap();
    assert!(json.ends_with("load-mix-20260101-000000.json"), "{json:?}");
    let parsed: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(parsed["step"], serde_json::Value::Null);
    assert_eq!(parsed["base_url"], "http://127.0.0.1:8080");
}

fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
}

#[test]
fn the_command_line_cargo_xtask_passes_becomes_the_plan() {
    let plan = cli(&[
        "--base-url",
        "http://127.0.0.1:9000",
        "--scenario",
        "detail",
        "--rate",
        "800",
        "--max-in-flight",
        "16",
        "--duration",
        "30",
        "--concurrency",
        "8",
        "--reference-secs",
        "0",
        "--users",
        "4",
        "--out",
        "/tmp/reports",
        "--step",
        "4",
        "--server-build",
        "release",
        "--profile-seconds",
        "10",
    ])
    .unwrap()
    .plan()
    .unwrap();
    assert_eq!(plan.step, Some(4));
    assert_eq!(plan.scenario, Scenario::Detail);
    assert!(matches!(
        plan.mode,
        Mode::Rate { per_sec, max_in_flight: 16 } if per_sec == 800.0
    ));
    assert_eq!(plan.duration, Duration::from_secs(30));
    assert_eq!(plan.reference, Duration::ZERO);
    assert_eq!(plan.reference_concurrency, 8);
    assert_eq!(plan.server_build, "release");
    assert_eq!(plan.profile, Some(Duration::from_secs(10)));

    let orders = cli(&["--base-url", "http://x", "--scenario", "orders"])
        .unwrap()
        .plan()
        .unwrap();
    assert_eq!(orders.scenario, Scenario::Orders);
    assert_eq!(Scenario::Orders.name(), "orders");

    let defaults = cli(&["--base-url", "http://x"]).unwrap().plan().unwrap();
    assert_eq!(defaults.scenario, Scenario::Mix);
    assert!(matches!(defaults.mode, Mode::Max { concurrency: 32 }));
    assert_eq!(defaults.server_build, "external");
    assert_eq!(defaults.step, None);
}

#[test]
fn options_that_cannot_run_are_refused_before_any_request() {
    assert!(cli(&[]).is_err(), "a base URL is required");
    assert!(cli(&["--base-url", "http://x", "--rate", "5", "--max"]).is_err());
    assert!(cli(&["--base-url", "http://x", "--scenario", "checkout"]).is_err());
    let short = cli(&[
        "--base-url",
        "http://x",
        "--duration",
        "5",
        "--profile-seconds",
        "4",
    ])
    .unwrap()
    .plan()
    .err()
    .expect("refused");
    assert!(short.to_string().contains("--duration"), "{short}");
    let zero = cli(&["--base-url", "http://x", "--rate", "0"])
        .unwrap()
        .plan()
        .err()
        .expect("refused");
    assert!(zero.to_string().contains("--rate"), "{zero}");
}

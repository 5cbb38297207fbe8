//! `cargo xtask load` against a live step 4: the real xtask binary (testkit's `xtask_binary`)
//! drives a real server over HTTP and the test reads the report it wrote. A clean run has a
//! reference row, a row per endpoint of the mix and no error, and its writes reached the
//! database; a server that fails makes the command exit 1 with the failures counted by status;
//! intended 429s are counted apart and do not fail the run.

use std::path::{Path, PathBuf};
use std::process::Output;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mongodb::bson::doc;
use serde_json::{Value, json};

use crate::support::App;

/// The mix's reference row label, as the report writes it.
const REFERENCE: &str = "GET /internal/noop (reference)";

/// Products in stock for the load users to list, view, review and order.
async fn stock_products(app: &App, count: usize) {
    let (_, admin) = app.admin().await;
    for i in 0..count {
        app.create_product(
            &admin,
            json!({
                "name": format!("Load product {i}"),
                "stock": 100_000,
                "category": if i % 2 == 0 { "books" } else { "garden" },
            }),
        )
        .await;
    }
}

/// Runs `xtask load 4 --base-url <app> <args>` with its reports in a fresh directory; returns
/// the process's output and the JSON report (when one was written).
async fn load(app: &App, args: &[&str]) -> (Output, Option<Value>, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("a reports dir");
    let mut command_args: Vec<String> = [
        "load",
        "4",
        "--base-url",
        &app.url(""),
        "--duration",
        "2",
        "--reference-secs",
        "1",
        "--concurrency",
        "4",
        "--out",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    command_args.push(out.path().display().to_string());
    command_args.extend(args.iter().map(|s| (*s).to_owned()));
    let output = tokio::task::spawn_blocking(move || {
        let xtask = testkit::cargo::xtask_binary().expect("the xtask binary");
        std::process::Command::new(xtask)
            .args(&command_args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("xtask runs")
    })
    .await
    .unwrap();
    let report = only_file(out.path(), "json").map(|path| {
        serde_json::from_slice(&std::fs::read(path).unwrap()).expect("the report is JSON")
    });
    (output, report, out)
}

fn only_file(dir: &Path, extension: &str) -> Option<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    assert!(found.len() <= 1, "one .{extension} per run: {found:?}");
    found.into_iter().next()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn row<'a>(report: &'a Value, endpoint: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("a row for {endpoint}: {report:#}"))
}

fn requests(row: &Value) -> u64 {
    row["requests"].as_u64().expect("a request count")
}

fn errors(row: &Value) -> &serde_json::Map<String, Value> {
    row["errors"].as_object().expect("errors by status")
}

#[tokio::test]
async fn the_load_command_reports_every_endpoint_of_the_mix_against_a_live_step() {
    let app = App::spawn_with(|config| config.apis.rate_limit.enabled = false).await;
    stock_products(&app, 12).await;

    let (output, report, out) = load(&app, &["--scenario", "mix", "--users", "4"]).await;
    assert!(output.status.success(), "{}", describe(&output));
    let report = report.unwrap_or_else(|| panic!("a JSON report: {}", describe(&output)));

    assert_eq!(report["step"], 4);
    assert_eq!(report["scenario"], "mix");
    assert_eq!(report["machine"]["server_build"], "external");
    let reference = &report["reference"];
    assert_eq!(reference["endpoint"], REFERENCE);
    assert!(requests(reference) > 0, "{reference:#}");
    assert!(errors(reference).is_empty(), "{reference:#}");
    assert_eq!(reference["percent_of_reference"], 100.0);

    for endpoint in [
        "GET /products",
        "GET /products/{id}",
        "GET /products/{id}/reviews",
    ] {
        assert!(requests(row(&report, endpoint)) > 0, "{endpoint}");
    }
    let overall = row(&report, "all");
    assert!(errors(overall).is_empty(), "no request failed: {overall:#}");
    let per_endpoint: u64 = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] != "all")
        .map(requests)
        .sum();
    assert_eq!(requests(overall), per_endpoint, "the overall row adds up");
    let share = overall["percent_of_reference"].as_f64().expect("a share");
    assert!(share > 0.0, "{overall:#}");
    for field in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(
            overall[field].as_f64().unwrap() > 0.0,
            "{field}: {overall:#}"
        );
    }
    let (p50, p99, max) = (
        overall["p50_ms"].as_f64().unwrap(),
        overall["p99_ms"].as_f64().unwrap(),
        overall["max_ms"].as_f64().unwrap(),
    );
    assert!(
        p50 <= p99 && p99 <= max,
        "percentiles are ordered: {overall:#}"
    );

    // The table went to the terminal and the chart beside the JSON.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(REFERENCE), "{stdout}");
    assert!(stdout.contains("GET /products/{id}"), "{stdout}");
    let chart = only_file(out.path(), "svg").expect("a chart");
    let svg = std::fs::read_to_string(chart).unwrap();
    assert!(svg.contains("<svg"), "an SVG image");

    // The mix's writes reached the server: its load users exist and placed orders.
    let db = app.database();
    let users = db
        .collection::<mongodb::bson::Document>("users")
        .count_documents(doc! { "email": { "$regex": "^load-" } })
        .await
        .unwrap();
    assert!(users >= 4, "the mix registered its users: {users}");
    let orders = db
        .collection::<mongodb::bson::Document>("orders")
        .count_documents(doc! {})
        .await
        .unwrap();
    let placed = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "POST /orders")
        .map(requests)
        .sum::<u64>();
    assert!(
        orders > 0 || placed == 0,
        "{placed} orders were placed through the API, {orders} are stored"
    );
}

/// Product detail answers 500: the command must say so.
async fn failing_detail(request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() == Method::GET
        && path.starts_with("/api/v1/products/")
        && !path.ends_with("/reviews")
    {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    next.run(request).await
}

#[tokio::test]
async fn failed_requests_make_the_load_command_exit_1_and_are_counted_by_status() {
    let app = App::builder()
        .config(|config| config.apis.rate_limit.enabled = false)
        .router(|router: Router| router.layer(middleware::from_fn(failing_detail)))
        .spawn()
        .await;
    stock_products(&app, 3).await;

    let (output, report, _out) = load(&app, &["--scenario", "detail"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("failed (other than 429)"),
        "{}",
        describe(&output)
    );
    let report = report.expect("the report is written even when requests failed");
    let detail = row(&report, "GET /products/{id}");
    let failed = errors(detail).get("500").and_then(Value::as_u64);
    assert_eq!(
        failed,
        Some(requests(detail)),
        "every detail read failed with 500: {detail:#}"
    );
}

#[tokio::test]
async fn intended_429s_are_counted_apart_and_do_not_fail_the_load_command() {
    let app = App::spawn_with(|config| {
        let limits = &mut config.apis.rate_limit;
        limits.default.requests = 20;
    })
    .await;
    stock_products(&app, 3).await;

    // The limits are on on purpose here: their 429s are what the run is about.
    let (output, report, _out) = load(&app, &["--scenario", "detail", "--keep-rate-limits"]).await;
    assert!(output.status.success(), "{}", describe(&output));
    let report = report.expect("a report");
    let detail = row(&report, "GET /products/{id}");
    let limited = errors(detail)
        .get("429")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    assert!(limited > 0, "the limit was reached: {detail:#}");
    assert_eq!(
        errors(detail).len(),
        1,
        "429 is the only error status: {detail:#}"
    );
    assert!(
        report["reference"]["errors"]
            .as_object()
            .unwrap()
            .is_empty(),
        "the reference endpoint is never limited"
    );
}

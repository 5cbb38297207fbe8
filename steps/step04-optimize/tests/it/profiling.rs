//! The CPU profile endpoint: a flamegraph SVG of the project's frames recorded while requests
//! run; 404 when profiling is off; 400 for a bad duration; 409 while another profile runs, and
//! when nothing ran to sample.

use std::time::Duration;

use serde_json::json;

use crate::support::App;

/// Requests until aborted: registrations hash passwords (argon2id), CPU in the project's own
/// code for the profiler to sample.
fn load(app: &App) -> tokio::task::JoinHandle<()> {
    let (http, base) = (app.http.clone(), app.address.clone());
    tokio::spawn(async move {
        for n in 0.. {
            let body = json!({
                "email": format!("load{n}-{}@example.com", uuid::Uuid::new_v4().simple()),
                "password": "correct horse battery staple",
                "name": "Load",
            });
            let _ = http
                .post(format!("{base}/api/v1/auth/register"))
                .json(&body)
                .send()
                .await;
            let _ = http.get(format!("{base}/api/v2/products")).send().await;
        }
    })
}

#[tokio::test]
async fn a_profile_taken_under_load_is_an_svg_naming_the_projects_frames() {
    let app = App::spawn_with(|config| config.optimize.profiling_enabled = Some(true)).await;
    let load = load(&app);
    let response = app.get("/internal/profile?seconds=2", None).await;
    load.abort();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(
        svg.contains("step01_security") || svg.contains("common::") || svg.contains("step0"),
        "the flamegraph names the project's frames"
    );
}

#[tokio::test]
async fn the_profile_endpoint_is_404_when_profiling_is_off() {
    let app = App::spawn_with(|config| config.optimize.profiling_enabled = Some(false)).await;
    let response = app.get("/internal/profile?seconds=1", None).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn profiling_is_off_by_default_outside_development() {
    let app = App::spawn_with(|_| {}).await;
    assert!(!app.config.profiling_enabled(), "the tests run as `test`");
    assert_eq!(app.get("/internal/profile", None).await.status(), 404);
}

#[tokio::test]
async fn a_bad_duration_is_a_400_and_a_second_profile_meanwhile_a_409() {
    let app = App::spawn_with(|config| {
        config.optimize.profiling_enabled = Some(true);
        config.optimize.max_profile_seconds = 5;
    })
    .await;
    // The API's one error shape, as on every other route: the parameter named, a request id.
    for bad in ["0", "6", "abc", "-1"] {
        let response = app
            .get(&format!("/internal/profile?seconds={bad}"), None)
            .await;
        let body = testkit::expect_error(response, 400, "INVALID_PARAMETER").await;
        assert_eq!(
            body["error"]["fields"][0]["field"], "seconds",
            "seconds={bad}: {body}"
        );
        assert!(
            body["error"]["request_id"].is_string(),
            "seconds={bad}: a request id in {body}"
        );
    }
    // Something to sample while the first profile runs.
    let busy = load(&app);
    let first = {
        let (http, base) = (app.http.clone(), app.address.clone());
        tokio::spawn(async move {
            let response = http
                .get(format!("{base}/internal/profile?seconds=2"))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect::<String>(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    testkit::expect_error(
        app.get("/internal/profile?seconds=1", None).await,
        409,
        "PROFILE_RUNNING",
    )
    .await;
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "{body}");
    busy.abort();
}

#[tokio::test]
async fn a_profile_of_an_idle_server_is_409_no_samples_not_an_empty_flamegraph() {
    let app = App::spawn_with(|config| {
        config.optimize.profiling_enabled = Some(true);
        // Really idle: the near cache's heartbeat (a Redis ping every 50 ms) is work the
        // profiler would sample.
        config.cache.near.enabled = false;
    })
    .await;
    let body = testkit::expect_error(
        app.get("/internal/profile?seconds=1", None).await,
        409,
        "NO_SAMPLES",
    )
    .await;
    assert!(body["error"]["request_id"].is_string(), "{body}");
}

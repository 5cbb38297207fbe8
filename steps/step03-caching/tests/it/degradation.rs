//! Redis failing under a running app: stopped (connection refused) or hung (SIGSTOP: the
//! socket stays open and nothing answers). Reads keep answering 200 from MongoDB, no request
//! waits on Redis longer than its timeout, writes still succeed and are read back, and when
//! Redis returns the cache works again without anyone restarting the app. Each test starts its
//! own `redis-server` on a port it keeps, since it stops that server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use step03_caching::AppState;
use testkit::expect_status;
use testkit::services::process::{Launch, LocalServer};
use testkit::services::redis::{TestRedis, find_redis_server};

use crate::support::{App, spawn_built};

/// A `redis-server` of this test's own, restartable on the same port.
struct OwnRedis {
    server: Option<LocalServer>,
    port: u16,
    program: PathBuf,
}

fn launch(program: &Path, port: u16, dir: &Path) -> Launch {
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir.to_string_lossy(),
        "--logfile",
        "",
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(std::ffi::OsString::from)
    .to_vec();
    Launch {
        program: program.to_owned(),
        args,
        ..Launch::default()
    }
}

impl OwnRedis {
    async fn start() -> Self {
        tokio::task::spawn_blocking(|| {
            let program =
                find_redis_server(std::env::var_os("PATH").as_deref()).expect("redis-server");
            let p = program.clone();
            let server =
                LocalServer::start("redis-server", Duration::from_secs(20), move |port, dir| {
                    Ok(launch(&p, port, dir))
                })
                .expect("a local redis-server starts");
            OwnRedis {
                port: server.port(),
                server: Some(server),
                program,
            }
        })
        .await
        .unwrap()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its data goes with it, as after a crash without persistence).
    async fn stop(&mut self) {
        let server = self.server.take().expect("running");
        tokio::task::spawn_blocking(move || drop(server))
            .await
            .unwrap();
    }

    /// Starts it again on the same port.
    async fn restart(&mut self) {
        let (program, port) = (self.program.clone(), self.port);
        let server = tokio::task::spawn_blocking(move || {
            LocalServer::start_at(
                "redis-server",
                Some(port),
                Duration::from_secs(20),
                move |port, dir| Ok(launch(&program, port, dir)),
            )
        })
        .await
        .unwrap()
        .expect("redis-server restarts on its port");
        self.server = Some(server);
    }

    /// SIGSTOP (`pause`) or SIGCONT: a hung server keeps its connections open.
    fn signal(&self, signal: &str) {
        let pid = self.server.as_ref().expect("running").pid();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

async fn spawn_on(redis: &OwnRedis) -> App {
    let prefix = Arc::new(TestRedis::create_on(&redis.url()).unwrap());
    spawn_built(
        prefix,
        |config| {
            config.redis.response_timeout_ms = 250;
            config.redis.retry_after_ms = 300;
        },
        |config| async move { AppState::build(&config).await },
    )
    .await
}

/// `GET path`, expecting 200 within `bound`; the body.
async fn timed_get(app: &App, path: &str, bound: Duration) -> serde_json::Value {
    let started = Instant::now();
    let body = expect_status(app.get(path, None).await, 200).await;
    let took = started.elapsed();
    assert!(took < bound, "{path} took {took:?}, more than {bound:?}");
    body
}

/// Polls until the app reports a new hit (the cache works again), for at most 10 s.
async fn until_hits_resume(app: &App, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = app.counters().hits;
        app.get_ok(path).await;
        app.get_ok(path).await;
        if app.counters().hits > before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "hits never resumed: {:?}",
            app.counters()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_200_while_redis_is_stopped_and_hits_resume_when_it_starts_again() {
    let mut redis = OwnRedis::start().await;
    let app = spawn_on(&redis).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Kettle" }))
        .await;
    let id = product["id"].as_str().unwrap().to_owned();
    let detail = format!("/api/v1/products/{id}");
    app.get_ok(&detail).await;
    until_hits_resume(&app, &detail).await;

    redis.stop().await;
    let errors_before = app.counters().errors;
    for _ in 0..5 {
        let body = timed_get(&app, &detail, Duration::from_secs(1)).await;
        assert_eq!(body["name"], "Kettle");
        let listing = timed_get(&app, "/api/v2/products", Duration::from_secs(1)).await;
        assert_eq!(listing["items"][0]["name"], "Kettle");
    }
    assert!(
        app.counters().errors > errors_before,
        "{:?}",
        app.counters()
    );
    let status = app.get_ok("/internal/cache").await;
    assert_eq!(status["redis"]["status"], "unavailable", "{status}");
    // A write while Redis is down succeeds, and the writer reads it back.
    expect_status(
        app.request(
            reqwest::Method::PUT,
            &detail,
            Some(&admin),
            Some(json!({
                "sku": product["sku"], "name": "Kettle 2", "description": "d",
                "price_minor": 900, "currency": "EUR", "stock": 3, "category": "c", "tags": []
            })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(app.get_ok(&detail).await["name"], "Kettle 2");

    redis.restart().await;
    until_hits_resume(&app, &detail).await;
    assert_eq!(app.get_ok(&detail).await["name"], "Kettle 2");
    assert_eq!(app.get_ok("/internal/cache").await["redis"]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_no_request_more_than_its_timeout_and_reads_still_answer() {
    let redis = OwnRedis::start().await;
    let app = spawn_on(&redis).await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "name": "Teapot" }))
        .await;
    let detail = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    app.get_ok(&detail).await;
    until_hits_resume(&app, &detail).await;

    redis.signal("-STOP");
    let started = Instant::now();
    for _ in 0..10 {
        // The 250 ms Redis timeout, plus MongoDB, plus a loaded 2-core machine's slack.
        let body = timed_get(&app, &detail, Duration::from_millis(900)).await;
        assert_eq!(body["name"], "Teapot");
    }
    let took = started.elapsed();
    let counters = app.state.redis.counters();
    redis.signal("-CONT");
    // The first call after the hang fails on the timeout (ours or the manager's, whichever
    // fires first), then the breaker opens.
    assert!(counters.timeouts + counters.errors >= 1, "{counters:?}");
    // The breaker: not every one of the ten requests paid a timeout.
    assert!(counters.skipped >= 1, "{counters:?}");
    assert!(took < Duration::from_secs(4), "ten reads took {took:?}");

    until_hits_resume(&app, &detail).await;
}

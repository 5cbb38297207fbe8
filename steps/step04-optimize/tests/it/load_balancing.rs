//! Two step-4 instances behind nginx (the repo's `docker/nginx/nginx.conf`), sharing one MongoDB
//! database and one Redis prefix: a client may land on either, so what one instance decides
//! (a session, a logout, a rate-limit count) must hold on the other; one instance dying in the
//! middle of a load run costs no failed GET (nginx retries it on the other), and a POST that
//! reached the dying instance is not retried (it may have placed an order already).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::{Value, json};
use step04_optimize::Config;
use testkit::app::TEST_PASSWORD;
use testkit::services::NginxServer;
use testkit::{expect_status, unique_email};

use crate::support::App;

/// Everything local is 127.0.0.1, nginx included: limits high enough that a load run is never
/// refused, and nginx's address trusted as in production, so its `X-Forwarded-For` is believed.
fn behind_nginx(config: &mut Config) {
    let limits = &mut config.apis.rate_limit;
    limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    for quota in [
        &mut limits.default,
        &mut limits.credentials,
        &mut limits.orders,
    ] {
        quota.requests = 1_000_000;
    }
}

/// Two instances on one database and one Redis prefix, and nginx in front of them.
async fn two_behind_nginx(
    customize: fn(&mut Config),
    wrap_second: impl FnOnce(Router) -> Router + Send + 'static,
) -> (App, App, NginxServer) {
    let a = App::spawn_with(customize).await;
    let b = a.beside().router(wrap_second).spawn().await;
    let upstreams = vec![a.addr, b.addr];
    let nginx = tokio::task::spawn_blocking(move || NginxServer::start(&upstreams))
        .await
        .unwrap()
        .expect("nginx starts in front of both instances");
    (a, b, nginx)
}

/// Makes an instance die like a killed process: the connection that carries the request is
/// dropped without an answer. `resume_unwind` skips the panic hook (no noise in the output)
/// and unwinds past step 0's catch-panic layer, which sits inside this one.
fn die() -> ! {
    std::panic::resume_unwind(Box::new("this instance crashed (simulated by the test)"))
}

/// Once `switch` is on, every request the instance receives dies (see [`die`]).
fn crash_when(switch: Arc<AtomicBool>) -> impl FnOnce(Router) -> Router + Send + 'static {
    move |router| {
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let switch = switch.clone();
            async move {
                if switch.load(Ordering::SeqCst) {
                    die()
                }
                next.run(request).await
            }
        }))
    }
}

/// The instance places an order, then dies before its answer leaves.
fn dies_after_placing_an_order(router: Router) -> Router {
    router.layer(middleware::from_fn(
        |request: Request, next: Next| async move {
            let placing =
                request.method() == Method::POST && request.uri().path() == "/api/v1/orders";
            let response: Response = next.run(request).await;
            if placing {
                die()
            }
            response
        },
    ))
}

async fn me_status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_token_from_a_sign_in_through_nginx_works_on_both_instances_until_a_logout_through_nginx()
{
    let (a, b, nginx) = two_behind_nginx(behind_nginx, |router| router).await;
    let http = reqwest::Client::new();
    let signed_in = expect_status(
        http.post(format!("{}/api/v1/auth/register", nginx.url()))
            .json(&json!({
                "email": unique_email("lb"),
                "password": TEST_PASSWORD,
                "name": "Balanced Customer",
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = signed_in["access_token"].as_str().expect("an access token");

    assert_eq!(me_status(&http, &a.address, token).await, 200, "instance a");
    assert_eq!(me_status(&http, &b.address, token).await, 200, "instance b");

    let logout = http
        .post(format!("{}/api/v1/auth/logout", nginx.url()))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    assert_eq!(me_status(&http, &a.address, token).await, 401, "instance a");
    assert_eq!(me_status(&http, &b.address, token).await, 401, "instance b");
    for _ in 0..4 {
        assert_eq!(me_status(&http, nginx.url(), token).await, 401, "via nginx");
    }
}

#[tokio::test]
async fn a_rate_limit_through_nginx_counts_the_real_client_across_both_instances() {
    fn three_per_minute(config: &mut Config) {
        behind_nginx(config);
        config.apis.rate_limit.default.requests = 3;
    }
    let (_a, _b, nginx) = two_behind_nginx(three_per_minute, |router| router).await;
    let http = reqwest::Client::new();
    let get_as = |client: &'static str| {
        http.get(format!("{}/api/v1/products", nginx.url()))
            .header("x-forwarded-for", client)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(get_as("203.0.113.7").await.unwrap().status(), 200);
    }
    // Round robin sent those three to both instances: the count is one, in Redis.
    assert_eq!(
        get_as("203.0.113.7").await.unwrap().status(),
        429,
        "the fourth request of the same client is refused, whichever instance gets it"
    );
    assert_eq!(
        get_as("203.0.113.8").await.unwrap().status(),
        200,
        "another client behind the same nginx has its own quota"
    );
}

/// One answered request of the load run.
struct Sample {
    /// Since the run started.
    at: Duration,
    /// 0: no HTTP answer at all (connection refused or reset between client and nginx).
    status: u16,
    latency: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, samples: &[&Sample]) -> String {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let mut errors: BTreeMap<u16, usize> = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.status != 200) {
        *errors.entry(sample.status).or_default() += 1;
    }
    format!(
        "{name}: {} requests, errors by status {errors:?}, p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
    )
}

/// How the upstream field of nginx's access log names one instance, or a retry from one to
/// the other.
fn log_lines_with(log: &str, upstream: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(&format!("upstream={upstream} ")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_instance_mid_run_costs_no_failed_get_because_nginx_retries_it_on_the_other() {
    const CLIENTS: usize = 8;
    const RUN: Duration = Duration::from_secs(4);
    const CRASH_AT: Duration = Duration::from_millis(1500);
    const SWITCH: Duration = Duration::from_secs(1);

    let crashed = Arc::new(AtomicBool::new(false));
    let (a, b, nginx) = two_behind_nginx(behind_nginx, crash_when(crashed.clone())).await;
    let (_, admin) = a.admin().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let product = a
            .create_product(&admin, json!({ "name": format!("Balanced {i}") }))
            .await;
        ids.push(product["id"].as_str().unwrap().to_owned());
    }
    let paths: Arc<Vec<String>> = Arc::new(
        [
            "/api/v1/products".to_owned(),
            "/api/v1/products?limit=5".to_owned(),
        ]
        .into_iter()
        .chain(ids.iter().map(|id| format!("/api/v1/products/{id}")))
        .collect(),
    );
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (a.addr, b.addr);

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let paths = paths.clone();
            let base = nginx.url().to_owned();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut samples = Vec::new();
                let mut next = client;
                while started.elapsed() < RUN {
                    let path = &paths[next % paths.len()];
                    next += 1;
                    let sent = Instant::now();
                    let status = match http.get(format!("{base}{path}")).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    samples.push(Sample {
                        at: sent - started,
                        status,
                        latency: sent.elapsed(),
                    });
                }
                samples
            })
        })
        .collect();

    tokio::time::sleep(CRASH_AT).await;
    // Instance b dies: requests on its open connections get no answer, and with its listener
    // gone, new connections are refused.
    crashed.store(true, Ordering::SeqCst);
    drop(b);

    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.unwrap());
    }
    // nginx flushes its access log every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = nginx.access_log().unwrap();

    let all: Vec<&Sample> = samples.iter().collect();
    let before: Vec<&Sample> = samples.iter().filter(|s| s.at < CRASH_AT).collect();
    let switch: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= CRASH_AT && s.at < CRASH_AT + SWITCH)
        .collect();
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= CRASH_AT).collect();
    let retried = log_lines_with(&log, &format!("{b_addr}, {a_addr}"));
    eprintln!("load balancing, {CLIENTS} clients for {RUN:?}, instance b killed at {CRASH_AT:?}:");
    eprintln!("  {}", summary("whole run", &all));
    eprintln!("  {}", summary("before the kill", &before));
    eprintln!("  {}", summary("first second after the kill", &switch));
    eprintln!(
        "  nginx: {} served by a, {} by b, {retried} tried on b then retried on a",
        log_lines_with(&log, &a_addr.to_string()),
        log_lines_with(&log, &b_addr.to_string()),
    );

    let failed: Vec<(Duration, u16)> = samples
        .iter()
        .filter(|s| s.status != 200)
        .map(|s| (s.at, s.status))
        .collect();
    assert!(failed.is_empty(), "a client saw errors: {failed:?}");
    assert!(
        log_lines_with(&log, &b_addr.to_string()) > 0
            && log_lines_with(&log, &a_addr.to_string()) > 0,
        "both instances served before the kill"
    );
    assert!(
        after.len() > CLIENTS,
        "requests went on after the kill: {}",
        after.len()
    );
    assert!(
        retried >= 1,
        "some GET met the dead instance and nginx replayed it on the other"
    );
}

#[tokio::test]
async fn a_post_that_reaches_a_dying_instance_is_not_retried_so_no_order_is_placed_twice() {
    let (a, _b, nginx) = two_behind_nginx(behind_nginx, dies_after_placing_an_order).await;
    let (_, admin) = a.admin().await;
    let product = a.create_product(&admin, json!({ "stock": 100 })).await;
    let http = reqwest::Client::new();

    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (_, token) = a.customer().await;
        let response = http
            .post(format!("{}/api/v1/orders", nginx.url()))
            .bearer_auth(&token)
            .json(&json!({ "items": [{ "product_id": product["id"], "quantity": 1 }] }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        let orders: Value = expect_status(a.get("/api/v1/orders", Some(&token)).await, 200).await;
        assert_eq!(
            orders["total"], 1,
            "one attempt, one order (statuses so far {statuses:?}): {orders}"
        );
    }
    assert!(
        statuses.contains(&502),
        "an attempt reached the dying instance and its client saw the failure: {statuses:?}"
    );
    assert!(
        statuses.contains(&201),
        "the others were placed by the healthy instance: {statuses:?}"
    );
}

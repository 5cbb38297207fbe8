//! The shipped monitoring, end to end: a real Prometheus and Alertmanager
//! (`provision::monitoring`, running `docker/monitoring/` as shipped) scraping a step-9
//! server that the load generator drives. Prometheus's counts must be the generator's; every
//! dashboard panel's query must return series; and with Redis stopped, `RedisDown` must reach
//! Alertmanager within the rule's window.

use std::time::{Duration, Instant};

use loadgen::mix::Scenario;
use loadgen::{Mode, Plan};
use serde_json::json;
use testkit::services::grafana;
use testkit::services::monitoring::{Monitoring, Sample};
use testkit::services::redis::{RestartableRedis, TestRedis};

use crate::metrics::App;

/// The route the load generator's `detail` scenario reads, as the metrics label it.
const DETAIL: &str = "/api/v1/products/{id}";

/// How long Prometheus may take to see a change: two scrape intervals (10 s) and slack.
const SEEN_WITHIN: Duration = Duration::from_secs(45);

/// The value of a query that sums to one sample (0 when it returns none).
fn value(samples: &[Sample]) -> f64 {
    samples.first().map_or(0.0, |s| s.value)
}

/// `sum(...)` of the detail route's GET requests, as Prometheus has them.
fn detail_requests(metric: &str) -> String {
    format!(r#"sum({metric}{{job="shop", route="{DETAIL}", method="GET"}})"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counts_what_the_load_generator_sent_every_panel_has_series_and_redis_down_reaches_alertmanager()
 {
    let mut redis = RestartableRedis::start().expect("a local redis-server starts");
    let app = App::builder()
        .redis(TestRedis::create_on(&redis.url()).expect("a key prefix"))
        .spawn()
        .await;
    let admin = crate::metrics::admin(&app).await;
    let target = admin.addr;
    let monitoring = tokio::task::spawn_blocking(move || Monitoring::start(&[target]))
        .await
        .expect("not panicked")
        .expect("Prometheus and Alertmanager start");
    eprintln!(
        "Prometheus at {}, Alertmanager at {}, both ready in {:?}",
        monitoring.prometheus_url(),
        monitoring.alertmanager_url(),
        monitoring.startup_time()
    );
    monitoring
        .wait_until(r#"up{job="shop"}"#, |s| value(s) == 1.0, SEEN_WITHIN)
        .await
        .expect("Prometheus scrapes the admin listener");

    // What the business, saga and failure panels show: orders placed, paid, declined and
    // refunded, a few products to read.
    let (_, admin_token) = app.admin().await;
    for n in 0..5 {
        app.create_product(
            &admin_token,
            json!({ "name": format!("Lamp {n}"), "stock": 1000 }),
        )
        .await;
    }
    let paid = app.place_new_order(&admin_token, json!({}), 1).await;
    assert_eq!(
        app.pay_order(&paid.token, &paid.id, "tok_success")
            .await
            .status(),
        200
    );
    assert_eq!(app.cancel_order(&admin_token, &paid.id).await.status(), 200);
    let declined = app.place_new_order(&admin_token, json!({}), 1).await;
    assert_eq!(
        app.pay_order(&declined.token, &declined.id, "tok_decline")
            .await
            .status(),
        402
    );

    // Prometheus and the server agree on the detail route before the run...
    let before = crate::metrics::scrape(&admin).await.sum(
        "http_requests_total",
        &[("route", DETAIL), ("method", "GET")],
    );
    monitoring
        .wait_until(
            &detail_requests("http_requests_total"),
            |s| value(s) == before,
            SEEN_WITHIN,
        )
        .await
        .expect("Prometheus has the count from before the run");

    // ... the generator reads product details at a fixed rate ...
    let run = loadgen::run(&Plan {
        step: Some(9),
        base_url: app.address.clone(),
        scenario: Scenario::Detail,
        mode: Mode::Rate {
            per_sec: 40.0,
            max_in_flight: 16,
        },
        duration: Duration::from_secs(10),
        reference: Duration::ZERO,
        reference_concurrency: 1,
        users: 0,
        server_build: "debug".to_owned(),
        profile: None,
    })
    .await
    .expect("the load run completes");
    let row = run
        .report
        .rows
        .iter()
        .find(|r| r.endpoint == "GET /products/{id}")
        .unwrap_or_else(|| panic!("a detail row in {:?}", run.report.rows));
    assert!(
        row.requests >= 300,
        "the run sent {} requests",
        row.requests
    );
    assert!(row.errors.is_empty(), "failed requests: {:?}", row.errors);

    // ... and Prometheus counts exactly what it sent, in the counter and the histogram.
    let sent = row.requests as f64;
    for metric in ["http_requests_total", "http_request_duration_seconds_count"] {
        monitoring
            .wait_until(
                &detail_requests(metric),
                |s| value(s) == before + sent,
                SEEN_WITHIN,
            )
            .await
            .unwrap_or_else(|e| panic!("{metric}: {sent} requests sent: {e:#}"));
    }
    let ok = monitoring
        .query(&format!(
            r#"sum(http_requests_total{{job="shop", route="{DETAIL}", method="GET", status="200"}})"#
        ))
        .await
        .expect("a query");
    assert_eq!(value(&ok), before + sent, "every detail read was a 200");

    // Every panel of every dashboard returns series (queries the generator's traffic and the
    // orders above feed; a rate needs two scrapes, so each may wait for the next).
    let queries = grafana::panel_queries(&grafana::dashboards_dir()).expect("the dashboards");
    assert!(queries.len() > 20, "{} panel queries", queries.len());
    let mut empty = Vec::new();
    for query in &queries {
        if let Err(e) = monitoring
            .wait_until(&query.expr, |s| !s.is_empty(), Duration::from_secs(20))
            .await
        {
            empty.push(format!(
                "{} / {}: {}\n  {e:#}",
                query.dashboard, query.panel, query.expr
            ));
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} panel queries returned no series:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );

    // Redis up: no RedisDown. Stopped: RedisDown reaches Alertmanager within the rule's
    // window (its `for` of 30 s, a scrape and an evaluation interval of 10 s each, and the
    // send to Alertmanager).
    monitoring
        .wait_until(
            r#"shop_dependency_up{job="shop", dependency="redis"}"#,
            |s| value(s) == 1.0,
            SEEN_WITHIN,
        )
        .await
        .expect("Redis is up");
    let held = monitoring
        .firing_alerts()
        .await
        .expect("Alertmanager answers");
    assert!(
        held.iter().all(|a| a.name != "RedisDown"),
        "RedisDown with Redis up: {held:?}"
    );
    redis.stop();
    let stopped = Instant::now();
    let down = monitoring
        .wait_until(
            r#"shop_dependency_up{job="shop", dependency="redis"}"#,
            |s| value(s) == 0.0 && !s.is_empty(),
            SEEN_WITHIN,
        )
        .await
        .map(|_| stopped.elapsed())
        .expect("Prometheus sees Redis down");
    let alert = monitoring
        .wait_for_alert("RedisDown", Duration::from_secs(120))
        .await
        .expect("RedisDown reaches Alertmanager");
    let fired = stopped.elapsed();
    eprintln!(
        "Redis stopped: seen down by Prometheus after {down:?}, RedisDown at Alertmanager after {fired:?}"
    );
    assert!(
        fired >= Duration::from_secs(30),
        "RedisDown after {fired:?}, before its `for` of 30 s ran"
    );
    assert_eq!(
        alert.labels.get("severity").map(String::as_str),
        Some("page")
    );
    assert!(
        alert
            .annotations
            .get("runbook_url")
            .is_some_and(|url| url.ends_with("docs/09-monitoring.md#alert-redisdown")),
        "{alert:?}"
    );
    // The shop itself stayed up and scraped: only Redis is down.
    let held = monitoring
        .firing_alerts()
        .await
        .expect("Alertmanager answers");
    assert!(
        held.iter().all(|a| a.name != "ShopInstanceDown"),
        "{held:?}"
    );
}

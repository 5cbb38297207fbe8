//! `/metrics` on the admin listener of a real step-9 server: what it serves and where, that
//! the counts match the requests sent, that every client and business figure moves when its
//! path runs, and that no label grows with what clients send (ids, paths, methods).

use std::collections::{BTreeMap, BTreeSet};

use common::Step;
use common::step::AdminServer;
use serde_json::json;
use step09_monitoring::AppState;
use testkit::TestApp;

pub type App = TestApp<AppState>;

/// One scrape, parsed: every sample's name, labels and value.
pub struct Scrape {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses Prometheus's text format (version 0.0.4), as the registry writes it.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
                    None => (series, BTreeMap::new()),
                };
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("a number in {line:?}")),
                };
                (name.to_owned(), labels, value)
            })
            .collect();
        Self { samples }
    }

    /// The sum of the samples named `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|s| s.2)
            .sum()
    }

    /// Every series, as `name{labels}`.
    pub fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|(n, l, _)| format!("{n}{l:?}"))
            .collect()
    }
}

fn labels_of(text: &str) -> BTreeMap<String, String> {
    // The registry escapes `"` and `\` in values; the tests' values hold neither.
    text.split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
            (k.to_owned(), v.trim_end_matches('"').to_owned())
        })
        .collect()
}

/// The app's admin listener, started as `serve` starts it (every test of the binary that
/// reads `/metrics` starts it here).
pub async fn admin(app: &App) -> AdminServer {
    app.state
        .admin(&app.config)
        .expect("step 9 has an admin listener")
        .spawn()
        .await
        .expect("the admin listener binds")
}

/// One scrape of `admin`'s `/metrics`, parsed.
pub async fn scrape(admin: &AdminServer) -> Scrape {
    let response = reqwest::get(format!("http://{}/metrics", admin.addr))
        .await
        .expect("the admin listener answers");
    assert_eq!(response.status(), 200);
    Scrape::parse(&response.text().await.expect("a body"))
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_listener_and_not_on_the_public_port() {
    let app = App::spawn().await;
    let admin = admin(&app).await;
    assert_ne!(admin.addr.port(), app.addr.port());
    // A family with labels shows once it has a series: one request gives the HTTP ones.
    assert_eq!(app.get("/api/v1/products", None).await.status(), 200);
    let response = reqwest::get(format!("http://{}/metrics", admin.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for family in [
        "http_requests_total",
        "shop_build_info",
        "process_resident_memory_bytes",
        "shop_dependency_up",
        "shop_sagas",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} in:\n{text}"
        );
    }
    let public = app.get("/metrics", None).await;
    assert_eq!(
        public.status(),
        404,
        "the public port must not serve /metrics"
    );
}

#[tokio::test]
async fn request_counts_and_durations_match_what_was_sent() {
    let app = App::spawn().await;
    let admin = admin(&app).await;
    for _ in 0..7 {
        assert_eq!(app.get("/api/v1/products", None).await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/nowhere", None).await.status(), 404);
    }
    let s = scrape(&admin).await;
    let listing = [("method", "GET"), ("route", "/api/v1/products")];
    assert_eq!(
        s.sum(
            "http_requests_total",
            &[listing[0], listing[1], ("status", "200")]
        ),
        7.0
    );
    assert_eq!(s.sum("http_request_duration_seconds_count", &listing), 7.0);
    assert!(s.sum("http_request_duration_seconds_sum", &listing) > 0.0);
    assert_eq!(
        s.sum(
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        3.0
    );
    // The scrape's own request is not among them: `/metrics` is not a public route.
    assert_eq!(s.sum("http_requests_in_flight", &[]), 0.0);
}

#[tokio::test]
async fn labels_stay_bounded_whatever_ids_paths_and_methods_clients_send() {
    let app = App::spawn().await;
    let admin = admin(&app).await;
    let (_, token) = app.customer().await;
    let client = reqwest::Client::new();
    let mut sent = Vec::new();
    // One round: distinct ids in every route that takes one, distinct unknown paths,
    // distinct odd methods. The second round sends new ones of each: no series may appear.
    let round = |n: u32| {
        let (client, app, token) = (client.clone(), &app, token.clone());
        async move {
            let mut ids = Vec::new();
            for i in 0..n {
                let id = format!("{:024x}", u128::from(i) * 7_919 + u128::from(n) * 1_000_003);
                let path = format!("/nothing-here/{}", uuid::Uuid::new_v4());
                let method = reqwest::Method::from_bytes(format!("X{i}{n}").as_bytes()).unwrap();
                app.get(&format!("/api/v1/products/{id}"), None).await;
                app.get(&format!("/api/v1/orders/{id}"), Some(&token)).await;
                app.get(&format!("/api/v2/products/{id}/reviews"), None)
                    .await;
                app.get(&path, None).await;
                client
                    .request(method, app.url("/api/v1/products"))
                    .send()
                    .await
                    .unwrap();
                ids.push(id);
                ids.push(path);
            }
            ids
        }
    };
    sent.extend(round(40).await);
    let first = scrape(&admin).await.series();
    sent.extend(round(40).await);
    let second = scrape(&admin).await.series();
    let new: Vec<_> = second.difference(&first).collect();
    assert!(
        new.is_empty(),
        "series appeared for new ids, paths or methods (an unbounded label): {new:#?}"
    );
    let text = reqwest::get(format!("http://{}/metrics", admin.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for value in &sent {
        let tail = value.rsplit('/').next().unwrap();
        assert!(!text.contains(tail), "{tail} became a label value");
    }
    assert!(text.contains("method=\"other\""), "odd methods are `other`");
}

#[tokio::test]
async fn every_client_and_business_figure_moves_when_its_path_runs() {
    let app = App::spawn().await;
    let admin = admin(&app).await;
    let (_, admin_token) = app.admin().await;
    let paid = app
        .place_new_order(&admin_token, json!({ "price_minor": 1250 }), 2)
        .await;
    assert_eq!(
        app.pay_order(&paid.token, &paid.id, "tok_success")
            .await
            .status(),
        200
    );
    let declined = app.place_new_order(&admin_token, json!({}), 1).await;
    assert_eq!(
        app.pay_order(&declined.token, &declined.id, "tok_decline")
            .await
            .status(),
        402
    );
    app.get(&format!("/api/v1/products/{}", paid.product_id), None)
        .await;
    app.get(&format!("/api/v1/products/{}", paid.product_id), None)
        .await;
    // The business figures come from the outbox's events, a moment after the answers.
    let mut s = scrape(&admin).await;
    for _ in 0..100 {
        if s.sum("shop_revenue_minor_units_total", &[]) > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        s = scrape(&admin).await;
    }
    let calls = |client: &str| {
        s.sum(
            "shop_client_request_duration_seconds_count",
            &[("client", client)],
        )
    };
    for client in ["mongodb", "postgres", "redis", "payments"] {
        assert!(calls(client) > 0.0, "no {client} call was timed");
    }
    assert_eq!(
        s.sum(
            "shop_client_request_duration_seconds_count",
            &[("client", "payments"), ("operation", "charge")]
        ),
        2.0
    );
    assert_eq!(
        s.sum("shop_orders_placed_total", &[("currency", "EUR")]),
        2.0
    );
    assert_eq!(
        s.sum("shop_revenue_minor_units_total", &[("currency", "EUR")]),
        2500.0
    );
    assert_eq!(
        s.sum(
            "shop_payment_failures_total",
            &[("reason", "card_declined")]
        ),
        1.0
    );
    assert_eq!(
        s.sum("shop_client_errors_total", &[("client", "payments")]),
        0.0
    );
    assert!(s.sum("shop_cache_requests_total", &[("tier", "redis")]) > 0.0);
    // Both tiers' evictions have a series from the start; Redis's is the server's own count.
    for tier in ["near", "redis"] {
        assert!(
            s.samples
                .iter()
                .any(|(n, l, _)| n == "shop_cache_evictions_total"
                    && l.get("tier").map(String::as_str) == Some(tier)),
            "no {tier} evictions series"
        );
    }
    let mut info = redis::cmd("INFO");
    info.arg("stats");
    let text: String = app
        .state
        .sources
        .redis
        .query("info", &info)
        .await
        .expect("INFO stats");
    let evicted = step09_monitoring::metrics::scrape::evicted_keys(&text).expect("evicted_keys");
    assert_eq!(
        s.sum("shop_cache_evictions_total", &[("tier", "redis")]),
        evicted as f64
    );
    assert_eq!(
        step09_monitoring::metrics::scrape::evicted_keys(
            "# Stats\r\nexpired_keys:3\r\nevicted_keys:17\r\n"
        ),
        Some(17)
    );
    assert!(s.sum("shop_pool_max_connections", &[("pool", "postgres")]) > 0.0);
    assert!(s.sum("shop_pool_max_connections", &[("pool", "mongodb")]) > 0.0);
    for dependency in ["mongodb", "postgresql", "redis"] {
        assert_eq!(
            s.sum("shop_dependency_up", &[("dependency", dependency)]),
            1.0,
            "{dependency}"
        );
    }
    // Two place sagas and two pay sagas ran to their end (the declined one ends too: the
    // order stays payable).
    assert_eq!(
        s.sum("shop_sagas", &[("kind", "place"), ("state", "done")]),
        2.0
    );
    assert_eq!(s.sum("shop_sagas", &[("state", "running")]), 0.0);
    assert_eq!(s.sum("shop_sagas_stuck", &[]), 0.0);
}

#[test]
fn the_currency_label_keeps_the_first_values_it_sees_and_calls_the_rest_other() {
    use step09_monitoring::metrics::business::BoundedLabel;
    let label = BoundedLabel::new(2);
    assert_eq!(label.of("EUR"), "EUR");
    assert_eq!(label.of("USD"), "USD");
    assert_eq!(label.of("GBP"), "other");
    assert_eq!(label.of("JPY"), "other");
    // The ones kept stay themselves.
    assert_eq!(label.of("EUR"), "EUR");
    assert_eq!(label.of("USD"), "USD");
}

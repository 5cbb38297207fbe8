//! Randomized runs: for each seed, a schedule of faults and crashes drawn from the seed, under
//! concurrent customers placing, paying and cancelling orders against two instances of the
//! shop: the in-process app, and the real binary as a child process whose PostgreSQL, MongoDB,
//! Redis and payments-service connections go through fault proxies (`testkit::fault_proxy`)
//! and which is killed with SIGKILL and started again. The provider, seeded too, fails or loses its answers for
//! a while. Then the faults are lifted, the sagas settle, and the invariant checker judges.
//!
//! The report is a table, one row per seed (orders, faults, crashes, violations). Any
//! violation fails the test, naming the seed; `STEP6_SEEDS=17 cargo nextest run -p
//! step06-distributed randomized` replays it (`STEP6_SEEDS=0..40` runs more).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use serde_json::json;
use testkit::fault_proxy::{self, Fault, FaultProxy};
use tokio::sync::{Mutex, RwLock};

use crate::support::{App, Server, Start, invariants_of, sagas_of};

/// How many seeds a run takes unless `STEP6_SEEDS` says otherwise, and how many run at once.
const SEEDS: u64 = 20;
const AT_ONCE: usize = 4;
const CUSTOMERS: usize = 4;
const OPS_PER_CUSTOMER: usize = 8;
/// The schedule's span: faults and crashes start within it.
const SPAN_MS: u64 = 2_500;

/// One seed's row of the report.
#[derive(Debug)]
struct Row {
    seed: u64,
    orders: usize,
    faults: usize,
    crashes: usize,
    violations: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Postgres,
    Mongo,
    Redis,
    Payments,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    /// The child's connections to one store misbehave for a while.
    Network {
        target: Target,
        fault: Fault,
        for_ms: u64,
    },
    /// The provider fails or loses its answers for a while.
    Provider {
        failure_rate: f64,
        lose_answer_rate: f64,
        for_ms: u64,
    },
    /// SIGKILL the child, start it again after a while.
    Crash { down_ms: u64 },
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Place { product: usize, quantity: u32 },
    Pay { card: &'static str },
    Cancel,
}

fn schedule(rng: &mut StdRng) -> Vec<(u64, Event)> {
    let mut events: Vec<(u64, Event)> = (0..rng.random_range(3..=6))
        .map(|_| {
            let at = rng.random_range(0..SPAN_MS);
            let event = match rng.random_range(0..10) {
                0..=4 => {
                    let target = match rng.random_range(0..4) {
                        0 => Target::Postgres,
                        1 => Target::Mongo,
                        2 => Target::Redis,
                        _ => Target::Payments,
                    };
                    let fault = match rng.random_range(0..4) {
                        0 => Fault::Latency {
                            delay: Duration::from_millis(rng.random_range(20..200)),
                            jitter: Duration::from_millis(50),
                        },
                        1 => Fault::Reset,
                        2 => Fault::BlackHole,
                        _ => Fault::Refuse,
                    };
                    Event::Network {
                        target,
                        fault,
                        for_ms: rng.random_range(100..600),
                    }
                }
                5..=7 => Event::Provider {
                    failure_rate: rng.random_range(0.0..0.5),
                    lose_answer_rate: rng.random_range(0.0..0.5),
                    for_ms: rng.random_range(200..1_000),
                },
                _ => Event::Crash {
                    down_ms: rng.random_range(50..500),
                },
            };
            (at, event)
        })
        .collect();
    events.sort_by_key(|(at, _)| *at);
    events
}

fn plan(rng: &mut StdRng, products: usize) -> Vec<(bool, Op)> {
    (0..OPS_PER_CUSTOMER)
        .map(|_| {
            let on_child = rng.random_bool(0.6);
            let op = match rng.random_range(0..10) {
                0..=4 => Op::Place {
                    product: rng.random_range(0..products),
                    quantity: rng.random_range(1..=3),
                },
                5..=7 => Op::Pay {
                    card: if rng.random_bool(0.8) {
                        "tok_success"
                    } else {
                        "tok_decline"
                    },
                },
                _ => Op::Cancel,
            };
            (on_child, op)
        })
        .collect()
}

/// The host and port of a URL (`scheme://[user@]host:port/...`).
fn address_in(url: &str) -> SocketAddr {
    fault_proxy::address_in(url).expect("a service URL")
}

fn via(url: &str, proxy: SocketAddr) -> String {
    fault_proxy::via(url, proxy).expect("a service URL")
}

/// The child, and where it listens now (it moves with every restart).
struct Child {
    server: Mutex<Option<Server>>,
    base: RwLock<String>,
    overrides: Vec<(&'static str, String)>,
}

impl Child {
    /// Starts it again, as an operator's supervisor would: again and again while its stores
    /// are behind a fault that keeps it from starting.
    async fn restart(&self, app: &App) -> anyhow::Result<()> {
        let mut attempts = 0;
        let server = loop {
            attempts += 1;
            match Server::try_start_with(app, &[], &self.overrides).await {
                Ok(server) => break server,
                Err(e) if attempts < 10 => {
                    tracing::info!(error = %e, attempts, "the child did not start; again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        };
        *self.base.write().await = server.base.clone();
        *self.server.lock().await = Some(server);
        Ok(())
    }
}

async fn run_seed(seed: u64) -> Row {
    let app = App::spawn_with(|config| config.saga.retry_after_ms = 300).await;
    let (_, admin) = app.admin().await;
    let mut products = Vec::new();
    let mut initial = HashMap::new();
    for _ in 0..3 {
        let product = app.create_product(&admin, json!({ "stock": 15 })).await;
        let id = product["id"].as_str().expect("a product id").to_owned();
        initial.insert(id.clone(), 15);
        products.push(id);
    }
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(app.customer().await.1);
    }

    let postgres_url = app.config.postgres.url.expose_secret().to_owned();
    let mongo_url = app.config.mongodb.uri.expose_secret().to_owned();
    let postgres = FaultProxy::start(address_in(&postgres_url), seed)
        .await
        .expect("a PostgreSQL proxy");
    let mongo = FaultProxy::start(address_in(&mongo_url), seed.wrapping_add(1))
        .await
        .expect("a MongoDB proxy");
    let redis_url = app.config.redis.url.expose_secret().to_owned();
    let redis = FaultProxy::start(address_in(&redis_url), seed.wrapping_add(2))
        .await
        .expect("a Redis proxy");
    let payments_url = app.config.apis.payments.url.clone();
    let payments = FaultProxy::start(address_in(&payments_url), seed.wrapping_add(3))
        .await
        .expect("a payments-service proxy");
    let child = Arc::new(Child {
        server: Mutex::new(None),
        base: RwLock::new(String::new()),
        overrides: vec![
            ("APP__POSTGRES__URL", via(&postgres_url, postgres.addr())),
            ("APP__MONGODB__URI", via(&mongo_url, mongo.addr())),
            ("APP__REDIS__URL", via(&redis_url, redis.addr())),
            (
                "APP__APIS__PAYMENTS__URL",
                via(&payments_url, payments.addr()),
            ),
        ],
    });
    child.restart(&app).await.expect("the child starts");
    app.payments.set_seed(Some(seed));

    let mut rng = StdRng::seed_from_u64(seed);
    let events = schedule(&mut rng);
    let plans: Vec<Vec<(bool, Op)>> = (0..CUSTOMERS)
        .map(|_| plan(&mut rng, products.len()))
        .collect();
    let faults = events
        .iter()
        .filter(|(_, e)| !matches!(e, Event::Crash { .. }))
        .count();
    let crashes = events.len() - faults;

    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let chaos = join_all(events.into_iter().map(|(at, event)| {
        let (app, child) = (&app, child.clone());
        let proxies = (&postgres, &mongo, &redis, &payments);
        async move {
            tokio::time::sleep_until((started + Duration::from_millis(at)).into()).await;
            match event {
                Event::Network {
                    target,
                    fault,
                    for_ms,
                } => {
                    let proxy = match target {
                        Target::Postgres => proxies.0,
                        Target::Mongo => proxies.1,
                        Target::Redis => proxies.2,
                        Target::Payments => proxies.3,
                    };
                    let _ = proxy.set(fault).await;
                    tokio::time::sleep(Duration::from_millis(for_ms)).await;
                    let _ = proxy.set(Fault::Pass).await;
                }
                Event::Provider {
                    failure_rate,
                    lose_answer_rate,
                    for_ms,
                } => {
                    app.payments.set_failure_rate(failure_rate);
                    app.payments.set_lose_answer_rate(lose_answer_rate);
                    tokio::time::sleep(Duration::from_millis(for_ms)).await;
                    app.payments.set_failure_rate(0.0);
                    app.payments.set_lose_answer_rate(0.0);
                }
                Event::Crash { down_ms } => {
                    let server = child.server.lock().await.take();
                    if let Some(server) = server {
                        server.kill().await;
                        tokio::time::sleep(Duration::from_millis(down_ms)).await;
                        if let Err(e) = child.restart(app).await {
                            tracing::warn!(error = %e, "the child did not start again in time");
                        }
                    }
                }
            }
        }
    }));
    let workload = join_all(customers.iter().zip(plans).map(|(token, plan)| {
        let (http, app, child, products, admin) = (&http, &app, child.clone(), &products, &admin);
        async move {
            let mut mine: Vec<String> = Vec::new();
            let mut placed = 0;
            for (on_child, op) in plan {
                let base = if on_child {
                    child.base.read().await.clone()
                } else {
                    app.address.clone()
                };
                let sent = match op {
                    Op::Place { product, quantity } => http
                        .post(format!("{base}/api/v1/orders"))
                        .bearer_auth(token)
                        .json(&json!({ "items": [{ "product_id": products[product], "quantity": quantity }] })),
                    Op::Pay { card } => match mine.last() {
                        Some(order) => http
                            .post(format!("{base}/api/v1/orders/{order}/pay"))
                            .bearer_auth(token)
                            .json(&json!({ "card_token": card })),
                        None => continue,
                    },
                    Op::Cancel => match mine.first() {
                        Some(order) => http
                            .post(format!("{base}/api/v1/orders/{order}/cancel"))
                            .bearer_auth(admin)
                            .json(&json!({})),
                        None => continue,
                    },
                }
                .send()
                .await;
                if let (Op::Place { .. }, Ok(response)) = (op, sent)
                    && response.status() == 201
                    && let Ok(order) = response.json::<serde_json::Value>().await
                    && let Some(id) = order["id"].as_str()
                {
                    mine.push(id.to_owned());
                    placed += 1;
                }
            }
            placed
        }
    }));
    let (placed, _) = futures::join!(workload, chaos);

    // Everything healthy again, a child running, then the verdict.
    for proxy in [&postgres, &mongo, &redis, &payments] {
        let _ = proxy.set(Fault::Pass).await;
    }
    app.payments.set_failure_rate(0.0);
    app.payments.set_lose_answer_rate(0.0);
    let mut violations = Vec::new();
    if child.server.lock().await.is_none()
        && let Err(e) = child.restart(&app).await
    {
        violations.push(format!("the child could not be started again: {e}"));
    }
    // Each violation that names an order says what its sagas did, for the replay.
    for violation in invariants_of(&app, &initial).await.violations {
        let sagas = match order_named(&violation) {
            Some(order) => format!(" [its sagas: {:?}]", sagas_of(&app, order).await),
            None => String::new(),
        };
        violations.push(format!("{violation}{sagas}"));
    }
    Row {
        seed,
        orders: placed.iter().sum(),
        faults,
        crashes,
        violations,
    }
}

/// The order id a violation names (`order <24 hex digits>`).
fn order_named(violation: &str) -> Option<&str> {
    violation.split("order ").skip(1).find_map(|rest| {
        let id = rest.get(..24)?;
        id.bytes().all(|b| b.is_ascii_hexdigit()).then_some(id)
    })
}

/// `STEP6_SEEDS`: `a..b`, or seeds separated by commas; `0..20` by default.
fn seeds() -> Vec<u64> {
    let Ok(spec) = std::env::var("STEP6_SEEDS") else {
        return (0..SEEDS).collect();
    };
    if let Some((from, to)) = spec.split_once("..") {
        let (from, to): (u64, u64) = (
            from.trim().parse().expect("STEP6_SEEDS: a..b"),
            to.trim().parse().expect("STEP6_SEEDS: a..b"),
        );
        return (from..to).collect();
    }
    spec.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("STEP6_SEEDS: seeds separated by commas")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_runs_of_faults_and_crashes_lose_nothing() {
    let seeds = seeds();
    let mut rows = Vec::new();
    for batch in seeds.chunks(AT_ONCE) {
        rows.extend(join_all(batch.iter().map(|&seed| run_seed(seed))).await);
    }
    let mut table =
        String::from("| seed | orders | faults | crashes | violations |\n|---|---|---|---|---|\n");
    for row in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.seed,
            row.orders,
            row.faults,
            row.crashes,
            row.violations.len()
        ));
    }
    let total = |f: fn(&Row) -> usize| rows.iter().map(f).sum::<usize>();
    table.push_str(&format!(
        "| {} seeds | {} | {} | {} | {} |\n",
        rows.len(),
        total(|r| r.orders),
        total(|r| r.faults),
        total(|r| r.crashes),
        total(|r| r.violations.len())
    ));
    eprintln!("{table}");
    if let Ok(dir) = std::env::var("CARGO_TARGET_TMPDIR") {
        let _ = std::fs::write(format!("{dir}/step06-randomized.md"), &table);
    }
    let failing: Vec<&Row> = rows.iter().filter(|r| !r.violations.is_empty()).collect();
    assert!(
        failing.is_empty(),
        "violations (replay one with STEP6_SEEDS=<seed>):\n{}",
        failing
            .iter()
            .map(|r| format!("seed {}:\n  {}", r.seed, r.violations.join("\n  ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(total(|r| r.orders) > 0, "the runs placed orders:\n{table}");
}

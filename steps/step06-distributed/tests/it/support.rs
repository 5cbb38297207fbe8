//! Step 6's tests run testkit's `TestApp` with step 6's test configuration, and read what the
//! sagas and the outbox leave in PostgreSQL, MongoDB and Redis.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc, oid::ObjectId};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// A running step-6 app.
pub type App = testkit::TestApp<step06_distributed::AppState>;

pub fn pool(app: &App) -> PgPool {
    app.state.sagas.pool.clone()
}

/// `(kind, step, state)` of every saga of `order`, oldest first.
pub async fn sagas_of(app: &App, order: &str) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT kind, step, state FROM sagas WHERE order_id = $1::bpchar ORDER BY id")
        .bind(order)
        .fetch_all(&pool(app))
        .await
        .expect("reading the sagas")
}

/// `(quantity, state)` of every reservation of `order`.
pub async fn reservations_of(app: &App, order: &str) -> Vec<(i32, String)> {
    sqlx::query_as(
        "SELECT quantity, state FROM stock_reservations WHERE order_id = $1::bpchar \
         ORDER BY product_id",
    )
    .bind(order)
    .fetch_all(&pool(app))
    .await
    .expect("reading the reservations")
}

/// The kinds of `order`'s outbox events, in order.
pub async fn events_of(app: &App, order: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM outbox WHERE order_id = $1::bpchar ORDER BY id")
        .bind(order)
        .fetch_all(&pool(app))
        .await
        .expect("reading the outbox")
}

/// The product's document as MongoDB holds it (stock and any stock-move marks).
pub async fn product_doc(app: &App, id: &str) -> Document {
    app.database()
        .collection::<Document>("products")
        .find_one(doc! { "_id": ObjectId::parse_str(id).expect("a product id") })
        .await
        .expect("reading the product")
        .expect("the product exists")
}

pub async fn stock_of(app: &App, id: &str) -> i64 {
    let product = product_doc(app, id).await;
    match product.get("stock") {
        Some(mongodb::bson::Bson::Int64(n)) => *n,
        Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
        other => panic!("the product's stock is {other:?}"),
    }
}

/// The stock-move marks the product holds (none once every move is recorded).
pub async fn marks_of(app: &App, id: &str) -> Vec<String> {
    product_doc(app, id)
        .await
        .get_array("stock_moves")
        .map(|marks| {
            marks
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `probe` until it returns `Some`, for up to `within`; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Redis connection on the app's Redis.
pub async fn redis(app: &App) -> redis::aio::MultiplexedConnection {
    redis::Client::open(app.config.redis.url.expose_secret())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis")
}

/// What the invariant checker reports for `app`'s run over the products in `initial_stock`,
/// once the sagas and the outbox have settled.
pub async fn invariants_of(
    app: &App,
    initial_stock: &HashMap<String, i64>,
) -> step06_distributed::invariants::Report {
    use step06_distributed::invariants::{self, Charge, Expected};
    use step06_distributed::workers::consumers;
    let settled = invariants::settle(&pool(app), consumers().len(), Duration::from_secs(30)).await;
    let charges: Vec<Charge> =
        serde_json::from_value(serde_json::Value::Array(app.provider_charges().await))
            .expect("the provider's charges");
    invariants::check(
        &pool(app),
        &app.database(),
        &charges,
        &consumers(),
        Expected {
            initial_stock,
            pending_bound: Duration::from_secs(app.config.saga.order_expiry_secs + 5),
        },
    )
    .await
    .map(|mut report| {
        if let Err(e) = settled {
            report.violations.insert(0, e.to_string());
        }
        report
    })
    .expect("the checker runs")
}

/// Settles, then checks every invariant over the run's products: none may be violated.
pub async fn nothing_lost(app: &App, initial_stock: HashMap<String, i64>) {
    let report = invariants_of(app, &initial_stock).await;
    assert!(
        report.violations.is_empty(),
        "violations: {:#?}",
        report.violations
    );
    assert!(
        report.orders + report.products > 0,
        "the checker saw the run: {report:?}"
    );
}

/// A step-6 server in a process of its own.
pub struct Server {
    process: tokio::process::Child,
    pub base: String,
    said: mpsc::UnboundedReceiver<String>,
}

impl Server {
    /// Starts the binary on `app`'s services; `pause_at` names the saga steps it stops at.
    pub async fn start(app: &App, pause_at: &[&str]) -> Server {
        Server::start_with(app, pause_at, &[]).await
    }

    /// The same, with `overrides` replacing (or adding to) the variables it gets: another
    /// PostgreSQL or MongoDB address, e.g. a fault proxy's.
    pub async fn start_with(app: &App, pause_at: &[&str], overrides: &[(&str, String)]) -> Server {
        Server::try_start_with(app, pause_at, overrides)
            .await
            .expect("the child server starts")
    }

    /// The same; an error when it exits or does not answer `/health` within 30 s (its
    /// MongoDB or PostgreSQL may be behind a fault at that moment).
    pub async fn try_start_with(
        app: &App,
        pause_at: &[&str],
        overrides: &[(&str, String)],
    ) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let c = &app.config;
        let mut env: Vec<(String, String)> = vec![
            ("APP__SERVER__HOST".into(), "127.0.0.1".into()),
            ("APP__SERVER__PORT".into(), port.to_string()),
            (
                "APP__MONGODB__URI".into(),
                c.mongodb.uri.expose_secret().to_owned(),
            ),
            ("APP__MONGODB__DATABASE".into(), c.mongodb.database.clone()),
            (
                "APP__POSTGRES__URL".into(),
                c.postgres.url.expose_secret().to_owned(),
            ),
            (
                "APP__REDIS__URL".into(),
                c.redis.url.expose_secret().to_owned(),
            ),
            ("APP__CACHE__KEY_PREFIX".into(), c.cache.key_prefix.clone()),
            (
                "APP__PAYMENTS__BASE_URL".into(),
                c.payments.base_url.clone(),
            ),
            (
                "APP__PAYMENTS__TIMEOUT_MS".into(),
                c.payments.timeout_ms.to_string(),
            ),
            (
                "APP__APIS__PAYMENTS__URL".into(),
                c.apis.payments.url.clone(),
            ),
            (
                "APP__APIS__PAYMENTS__DEADLINE_MS".into(),
                c.apis.payments.deadline_ms.to_string(),
            ),
            ("APP__SAGA__LEASE_MS".into(), c.saga.lease_ms.to_string()),
            (
                "APP__POSTGRES__STATEMENT_TIMEOUT_MS".into(),
                c.postgres.statement_timeout_ms.to_string(),
            ),
            (
                "APP__POSTGRES__LOCK_TIMEOUT_MS".into(),
                c.postgres.lock_timeout_ms.to_string(),
            ),
            (
                "APP__POSTGRES__IDLE_IN_TRANSACTION_TIMEOUT_MS".into(),
                c.postgres.idle_in_transaction_timeout_ms.to_string(),
            ),
            ("APP__SAGA__RECOVERY_INTERVAL_MS".into(), "100".into()),
            ("APP__SAGA__RETRY_AFTER_MS".into(), "300".into()),
            ("APP__OUTBOX__POLL_MS".into(), "20".into()),
            ("APP__SAGA__PAUSE_AT".into(), format!("{pause_at:?}")),
        ];
        if let Some(secret) = &c.auth.jwt_secret {
            env.push((
                "APP__AUTH__JWT_SECRET".into(),
                secret.expose_secret().to_owned(),
            ));
        }
        if let Some(token) = &c.apis.payments.service_token {
            env.push((
                "APP__APIS__PAYMENTS__SERVICE_TOKEN".into(),
                token.expose_secret().to_owned(),
            ));
        }
        for (kid, key) in &c.security.encryption.keys {
            env.push((
                format!("APP__SECURITY__ENCRYPTION__KEYS__{}", kid.to_uppercase()),
                key.expose_secret().to_owned(),
            ));
        }
        for (name, value) in overrides {
            env.retain(|(n, _)| n != name);
            env.push(((*name).to_owned(), value.clone()));
        }
        let mut process = Command::new(env!("CARGO_BIN_EXE_step06-distributed"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting step06-distributed");
        // Both streams are read to the end (a full pipe would block the child); the logs are
        // shown with TEST_LOG, as the harness shows an in-process app's.
        let (tx, said) = mpsc::unbounded_channel();
        let mut said_lines = BufReader::new(process.stderr.take().expect("its stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = said_lines.next_line().await {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("child: {line}");
                }
                let _ = tx.send(line);
            }
        });
        let mut logs = BufReader::new(process.stdout.take().expect("its stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = logs.next_line().await {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("child: {line}");
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(health) = http.get(format!("{base}/health")).send().await
                && health.status().is_success()
            {
                break;
            }
            if let Some(exit) = process.try_wait()? {
                anyhow::bail!("the child server exited ({exit}) before answering");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the child server did not answer /health within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            process,
            base,
            said,
        })
    }

    /// Waits until the child says a saga has stopped at `step`.
    pub async fn paused_at(&mut self, step: &str) {
        let wanted = format!("paused at {step} ");
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.said.recv().await {
                if line.contains(&wanted) {
                    return;
                }
            }
            panic!("the child ended before pausing at {step}");
        })
        .await;
        assert!(waited.is_ok(), "no saga paused at {step} within 30 s");
    }

    /// SIGKILL, then wait for the process to be gone.
    pub async fn kill(mut self) {
        self.process.kill().await.expect("killing the child");
    }
}

/// Refunds, at the provider and behind the shop's back, the charge `order` was paid with,
/// under `key`; the charge's id.
pub async fn refunded_behind_the_shops_back(app: &App, order: &str, key: &str) -> String {
    let (_, admin) = app.admin().await;
    let charge = app.order(&admin, order).await["payment"]["provider_reference"]
        .as_str()
        .expect("a paid order's charge")
        .to_owned();
    let key = key.replace("{charge}", &charge);
    app.state
        .sagas
        .gateway
        .refund(&charge, &key)
        .await
        .expect("the provider refunds");
    charge
}

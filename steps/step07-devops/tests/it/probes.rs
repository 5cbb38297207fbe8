//! `/healthz` and `/readyz` against a real step-7 server: ready with every check ok; not
//! ready, naming the check, while PostgreSQL or MongoDB is cut off, a migration is missing or
//! the workers have stopped, and ready again once it is back; ready but `degraded` while
//! Redis is cut off; not ready at once when asked to stop. Liveness stays 200 throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use testkit::fault_proxy::{self, Fault, FaultProxy};

pub type App = testkit::TestApp<step07_devops::AppState>;

/// `(status, body)` of `GET path`.
async fn probe(app: &App, path: &str) -> (u16, Value) {
    let response = app.get(path, None).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Polls `/readyz` until it answers `status` (a pool notices a dead connection on its next
/// use, a reconnection takes a moment); its body.
async fn readyz_becomes(app: &App, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, body) = probe(app, step07_devops::probes::READINESS).await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not become {status} within 20 s; last: {now} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn alive(app: &App) {
    let (status, body) = probe(app, step07_devops::probes::LIVENESS).await;
    assert_eq!((status, body), (200, json!({ "status": "alive" })));
}

fn via(url: &str, proxy: SocketAddr) -> SecretString {
    fault_proxy::via(url, proxy).expect("a service URL").into()
}

fn address_in(url: &str) -> SocketAddr {
    fault_proxy::address_in(url).expect("a service URL")
}

/// A second server on `app`'s databases whose PostgreSQL, MongoDB and Redis are each behind
/// a fault proxy (passing for now).
struct Proxied {
    app: App,
    postgres: FaultProxy,
    mongo: FaultProxy,
    redis: FaultProxy,
}

async fn proxied(app: &App) -> Proxied {
    let c = &app.config;
    let (pg, mongo, redis) = (
        c.postgres.url.expose_secret().to_owned(),
        c.mongodb.uri.expose_secret().to_owned(),
        c.redis.url.expose_secret().to_owned(),
    );
    let postgres = FaultProxy::start(address_in(&pg), 1)
        .await
        .expect("a proxy");
    let mongo_proxy = FaultProxy::start(address_in(&mongo), 2)
        .await
        .expect("a proxy");
    let redis_proxy = FaultProxy::start(address_in(&redis), 3)
        .await
        .expect("a proxy");
    let (p, m, r) = (postgres.addr(), mongo_proxy.addr(), redis_proxy.addr());
    let second = app
        .beside()
        .config(move |c| {
            c.postgres.url = via(&pg, p);
            c.mongodb.uri = via(&mongo, m);
            c.redis.url = via(&redis, r);
        })
        .spawn()
        .await;
    Proxied {
        app: second,
        postgres,
        mongo: mongo_proxy,
        redis: redis_proxy,
    }
}

#[tokio::test]
async fn a_healthy_server_is_alive_and_ready_with_every_check_ok() {
    let app = App::spawn().await;
    alive(&app).await;
    let (status, body) = probe(&app, step07_devops::probes::READINESS).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["mongodb", "postgresql", "migrations", "workers", "redis"] {
        assert_eq!(body["checks"][check], "ok", "{check} in {body}");
    }
}

/// With the database behind `proxy` resetting every connection, `/readyz` turns 503 naming
/// `check` (and only it), `/healthz` stays 200; once it passes again, the server is ready.
async fn a_required_store_cut_off(check: &str, proxy: fn(&Proxied) -> &FaultProxy) {
    let app = App::spawn().await;
    let p = proxied(&app).await;
    readyz_becomes(&p.app, 200).await;

    proxy(&p).set(Fault::Reset).await.expect("the fault");
    let body = readyz_becomes(&p.app, 503).await;
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"][check], "unavailable", "{body}");
    for other in ["mongodb", "postgresql"]
        .into_iter()
        .filter(|c| *c != check)
    {
        assert_eq!(body["checks"][other], "ok", "{body}");
    }
    alive(&p.app).await;

    proxy(&p).set(Fault::Pass).await.expect("the fault lifted");
    let body = readyz_becomes(&p.app, 200).await;
    assert_eq!(body["checks"][check], "ok", "{body}");
}

#[tokio::test]
async fn with_postgresql_cut_off_readyz_is_503_naming_it_and_healthz_stays_200() {
    a_required_store_cut_off("postgresql", |p| &p.postgres).await;
}

#[tokio::test]
async fn with_mongodb_cut_off_readyz_is_503_naming_it_and_healthz_stays_200() {
    a_required_store_cut_off("mongodb", |p| &p.mongo).await;
}

#[tokio::test]
async fn with_redis_cut_off_the_server_stays_ready_and_says_degraded() {
    let app = App::spawn().await;
    let p = proxied(&app).await;
    readyz_becomes(&p.app, 200).await;

    p.redis.set(Fault::Reset).await.expect("the fault");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = probe(&p.app, step07_devops::probes::READINESS).await;
        assert_eq!(status, 200, "Redis is not required: {body}");
        if body["checks"]["redis"] == "degraded" {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis never reported degraded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Products are still served meanwhile.
    assert_eq!(p.app.get("/api/v1/products", None).await.status(), 200);

    p.redis.set(Fault::Pass).await.expect("the fault lifted");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = probe(&p.app, step07_devops::probes::READINESS).await;
        if body["checks"]["redis"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "redis never came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_missing_migration_makes_readyz_503_naming_it() {
    let app = App::spawn().await;
    readyz_becomes(&app, 200).await;
    let pool = app.state.sagas.pool.clone();
    let newest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("the migrations' history");
    sqlx::query("UPDATE _sqlx_migrations SET success = false WHERE version = $1")
        .bind(newest)
        .execute(&pool)
        .await
        .expect("marking it failed");

    let body = readyz_becomes(&app, 503).await;
    assert_eq!(body["checks"]["migrations"], "unavailable", "{body}");
    assert_eq!(body["checks"]["postgresql"], "ok", "{body}");
}

#[tokio::test]
async fn with_the_workers_stopped_readyz_is_503_naming_them() {
    let app = App::spawn().await;
    readyz_becomes(&app, 200).await;
    app.state.workers.stop().await;

    let body = readyz_becomes(&app, 503).await;
    assert_eq!(body["checks"]["workers"], "unavailable", "{body}");
    alive(&app).await;
}

#[tokio::test]
async fn once_asked_to_stop_readyz_is_503_at_once_while_everything_else_is_served() {
    let app = App::spawn().await;
    readyz_becomes(&app, 200).await;
    app.state.stopping.set();

    let (status, body) = probe(&app, step07_devops::probes::READINESS).await;
    assert_eq!((status, body), (503, json!({ "status": "stopping" })));
    alive(&app).await;
    assert_eq!(app.get("/api/v1/products", None).await.status(), 200);
}

#[tokio::test]
async fn the_probes_answer_with_the_same_headers_as_every_route() {
    let app = App::spawn().await;
    for path in [
        step07_devops::probes::LIVENESS,
        step07_devops::probes::READINESS,
    ] {
        let response = app.get(path, None).await;
        assert!(
            response.headers().contains_key("x-request-id"),
            "{path}: {:?}",
            response.headers()
        );
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}

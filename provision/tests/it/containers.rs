//! Services in containers, end to end, with the images this repo builds (`STEPWISE_IMAGES=
//! local`: this machine cannot pull the official ones), and the no-orphans guarantees.
//!
//! Skipped, saying so, only when no Docker engine answers. Missing images are built through
//! `images::ensure_local_image` (minutes the first time, cached after); if that cannot work
//! here, the test fails with the builder's message.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use provision::docker::{self, OWNER_PID_LABEL, reap_orphans};
use provision::images::{ImageOptions, LocalImage, ensure_local_image};
use provision::mongo::MongoSettings;
use provision::postgres::PostgresSettings;
use provision::redis::RedisSettings;
use provision::{
    MongoServer, PostgresServer, RedisServer, ServiceKind, ServiceSource, TestDatabase,
    TestPostgresDatabase, TestRedis,
};
use redis::AsyncCommands;

use crate::child::{Mode, Service, start_service_child};
use crate::support::{Server, containers, start_blocking};
use crate::watchdog::{eventually, process_is_alive};

/// Redis from containers only, from the local image: a fallback to local binaries would fail
/// the test.
fn redis_in_a_container() -> RedisSettings {
    RedisSettings {
        env_url: None,
        search_path: None,
        policy: containers(),
    }
}

/// `true` when Docker answers and `kind`'s local image is ready (built now if needed);
/// `false`, after saying why on stderr, when no engine answers.
fn docker_with_image(test: &str, kind: ServiceKind) -> bool {
    if let Err(reason) = docker::engine_status() {
        eprintln!("SKIPPED {test}: no Docker engine answers ({reason})");
        return false;
    }
    let started = Instant::now();
    let reports = ensure_local_image(LocalImage::for_service(kind), &ImageOptions::default())
        .unwrap_or_else(|err| {
            panic!("the local image for {kind} is missing and could not be built: {err:#}")
        });
    eprintln!("images ready in {:?}: {reports:?}", started.elapsed());
    true
}

/// Whether the engine knows container `id` (running or not).
fn container_exists(id: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running docker container inspect")
        .success()
}

/// A server started by `start` in a container of `kind`'s local image, or `None` (after
/// saying why) when no Docker engine answers.
async fn start_in_a_container<S: Server>(
    test: &str,
    kind: ServiceKind,
    start: impl FnOnce() -> anyhow::Result<S> + Send + 'static,
) -> Option<S> {
    if !docker_with_image(test, kind) {
        return None;
    }
    let server = start_blocking(start).await;
    assert!(server.source().is_container());
    Some(server)
}

/// Drops `server` and checks its container went with it.
fn assert_container_removed_on_drop(server: impl Server) {
    let id = server.container().expect("a container").id().to_owned();
    drop(server);
    assert!(!container_exists(&id), "container {id} left behind");
}

#[tokio::test]
async fn postgres_runs_in_a_container_from_the_local_image_with_a_database_per_test() {
    let settings = PostgresSettings {
        env_url: None,
        search_path: None,
        policy: containers(),
    };
    let Some(server) =
        start_in_a_container("postgres container", ServiceKind::Postgres, move || {
            PostgresServer::start_with(&settings)
        })
        .await
    else {
        return;
    };
    let container = server.container().expect("a container");
    assert_eq!(
        server.source(),
        &ServiceSource::Container {
            image: "stepwise/postgres:15".into(),
            port: container.port()
        }
    );

    let db = TestPostgresDatabase::create_on(server.url()).await.unwrap();
    for sql in ["CREATE TABLE t (n int)", "INSERT INTO t VALUES (7)"] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    let n: i32 = sqlx::query_scalar("SELECT n FROM t")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 7);
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(fsync, "off", "the container got the harness's settings");
    drop(db);

    assert_container_removed_on_drop(server);
}

#[tokio::test]
async fn redis_runs_in_a_container_from_the_local_image_with_a_prefix_per_test() {
    let Some(server) = start_in_a_container("redis container", ServiceKind::Redis, || {
        RedisServer::start_with(&redis_in_a_container())
    })
    .await
    else {
        return;
    };

    let test = TestRedis::create_on(server.url()).unwrap();
    let mut conn = test.connection().await.unwrap();
    let _: () = conn.set(test.key("k"), "v").await.unwrap();
    let value: String = conn.get(test.key("k")).await.unwrap();
    assert_eq!(value, "v");
    let key = test.key("k");
    drop(test);
    let left: Option<String> = conn.get(&key).await.unwrap();
    assert_eq!(left, None, "the test's keys went with its guard");

    assert_container_removed_on_drop(server);
}

#[tokio::test]
async fn the_mongodb_stand_in_runs_in_a_container_from_the_local_image() {
    let settings = MongoSettings {
        env_uri: None,
        search_path: None,
        cache_dir: None,
        policy: containers(),
    };
    let Some(server) = start_in_a_container("mongo container", ServiceKind::Mongo, move || {
        MongoServer::start_with(&settings)
    })
    .await
    else {
        return;
    };
    assert_eq!(
        server.source().to_string(),
        "container stepwise/mongo-standin:local"
    );

    let db = TestDatabase::create_on(server.uri()).await.unwrap();
    let products = db.db().collection::<Document>("products");
    products.insert_one(doc! { "sku": "A-1" }).await.unwrap();
    assert_eq!(products.count_documents(doc! {}).await.unwrap(), 1);
    drop(db);

    assert_container_removed_on_drop(server);
}

/// Env for a child that starts a Redis container from the local image.
const CONTAINER_CHILD: &[(&str, &str)] = &[
    ("STEPWISE_SERVICES", "container"),
    ("STEPWISE_IMAGES", "local"),
];

#[test]
fn a_container_is_removed_when_the_process_that_started_it_is_killed() {
    if !docker_with_image("lifeline", ServiceKind::Redis) {
        return;
    }
    let (mut child, report) =
        start_service_child(Mode::WaitToBeKilled, Service::Redis, CONTAINER_CHILD);
    let (id, lifeline) = report.container.expect("the child started a container");
    assert!(lifeline.is_some(), "a docker CLI is here, so a lifeline");
    assert!(container_exists(&id));

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reaping the child");

    assert!(
        eventually(Duration::from_secs(15), || !container_exists(&id)),
        "container {id} outlived its process"
    );
}

#[test]
fn a_container_whose_owner_and_lifeline_were_killed_is_reaped_by_the_next_start() {
    if !docker_with_image("reaper", ServiceKind::Redis) {
        return;
    }
    let (mut child, report) =
        start_service_child(Mode::WaitToBeKilled, Service::Redis, CONTAINER_CHILD);
    let (id, lifeline) = report.container.expect("the child started a container");
    // The harshest end: the lifeline goes first (as in a kill of everything, or a machine
    // that loses power), then the owner. Nothing of ours is left to clean up.
    let lifeline = lifeline.expect("a lifeline");
    Command::new("kill")
        .args(["-9", &lifeline.to_string()])
        .status()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || !process_is_alive(
        lifeline
    )));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reaping the child");
    // Nothing of ours can remove the orphan now but the reaper. (Not asserted that it is
    // still there: a container test running in parallel may be the "next start" already.)

    // The next start of any service reaps it first.
    let next = RedisServer::start_with(&redis_in_a_container()).expect("the next start");

    assert!(!container_exists(&id), "orphan {id} was not reaped");
    assert!(next.source().is_container());
}

#[test]
fn the_reaper_leaves_containers_of_live_processes_alone() {
    if !docker_with_image("reaper spares the living", ServiceKind::Redis) {
        return;
    }
    let mine = RedisServer::start_with(&redis_in_a_container()).expect("a container");
    let id = mine.container().unwrap().id().to_owned();

    let reaped = reap_orphans().expect("reaping");

    assert!(
        reaped.iter().all(|r| r.id != id),
        "reaped a live container: {reaped:?}"
    );
    assert!(container_exists(&id));
    let labels = Command::new("docker")
        .args(["container", "inspect", "--format"])
        .arg(format!(
            "{{{{index .Config.Labels \"{OWNER_PID_LABEL}\"}}}}"
        ))
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&labels.stdout).trim(),
        std::process::id().to_string(),
        "labelled with its owner"
    );
}

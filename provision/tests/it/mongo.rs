//! MongoDB provisioning: the precedence rule, local servers, and per-test databases.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use mongodb::Client;
use mongodb::bson::{Document, doc};
use provision::mongo::{MongoChoice, MongoSettings, choose_source};
use provision::{MongoServer, ServiceSource, SourcePolicy, cache, nx27017, test_database};

use crate::child::{Mode, start_child};
use crate::support::{
    assert_from_env_and_nothing_started, assert_local_server_answers_and_stops_on_drop,
    assert_unreachable_env_url_fails_clearly, containers, start_blocking,
};

fn start_local() -> anyhow::Result<MongoServer> {
    MongoServer::start_with(&MongoSettings::from_env().local_only())
}

async fn ping(uri: &str) {
    let client = Client::with_uri_str(uri).await.expect("client");
    let reply = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .expect("ping");
    assert_eq!(
        reply
            .get_f64("ok")
            .ok()
            .or(reply.get_i32("ok").ok().map(f64::from)),
        Some(1.0)
    );
}

#[test]
fn a_non_blank_mongodb_uri_wins_over_everything() {
    let mongod = Some(PathBuf::from("/usr/bin/mongod"));
    assert_eq!(
        choose_source(Some("mongodb://db:27017".into()), mongod),
        MongoChoice::Uri("mongodb://db:27017".into())
    );
    assert_eq!(
        choose_source(Some(" mongodb://db:27017\n".into()), None),
        MongoChoice::Uri("mongodb://db:27017".into()),
        "surrounding whitespace is trimmed"
    );
}

#[test]
fn without_a_uri_a_mongod_on_path_is_preferred_over_nx_27017() {
    let mongod = PathBuf::from("/opt/mongo/bin/mongod");
    assert_eq!(
        choose_source(None, Some(mongod.clone())),
        MongoChoice::Mongod(mongod.clone())
    );
    assert_eq!(
        choose_source(Some("  ".into()), Some(mongod.clone())),
        MongoChoice::Mongod(mongod),
        "a blank MONGODB_URI counts as unset"
    );
    assert_eq!(choose_source(None, None), MongoChoice::Nx27017);
    assert_eq!(
        choose_source(Some(String::new()), None),
        MongoChoice::Nx27017
    );
}

#[test]
fn service_sources_read_as_where_the_server_came_from() {
    assert_eq!(
        ServiceSource::FromEnv { var: "MONGODB_URI" }.to_string(),
        "MONGODB_URI"
    );
    let local = ServiceSource::Local {
        server: "nx-27017",
        port: 1234,
    };
    assert_eq!(local.to_string(), "local nx-27017");
    assert!(local.is_local());
}

#[tokio::test]
async fn a_local_server_starts_answers_a_ping_and_stops_on_drop() {
    let server = start_blocking(start_local).await;
    assert_local_server_answers_and_stops_on_drop(
        server,
        &["mongod", "nx-27017"],
        |uri| async move {
            ping(&uri).await;
        },
    )
    .await;
}

#[tokio::test]
async fn mongodb_uri_wins_and_no_second_server_is_started() {
    let first = start_blocking(start_local).await;
    // No mongod, no python3, no cache dir, and containers required: if the URI were
    // ignored, starting would fail (or start a container).
    let nothing_on_path = tempfile::tempdir().unwrap();
    let settings = MongoSettings {
        env_uri: Some(first.uri().to_owned()),
        search_path: Some(nothing_on_path.path().into()),
        cache_dir: None,
        policy: containers(),
    };

    let second = start_blocking(move || MongoServer::start_with(&settings)).await;

    assert_from_env_and_nothing_started(&second, "MONGODB_URI");
    assert_eq!(second.uri(), first.uri());
    ping(second.uri()).await;
}

#[test]
fn start_reads_mongodb_uri_from_the_environment() {
    let server = start_local().unwrap();
    let (mut child, report) = start_child(Mode::ReportSource, &[("MONGODB_URI", server.uri())]);
    assert!(child.wait().unwrap().success());
    assert_eq!(report.source, "MONGODB_URI");
    assert!(
        report.local.is_none(),
        "the child started a server of its own"
    );
}

#[test]
fn an_unreachable_mongodb_uri_is_a_clear_error_that_hides_the_uri() {
    assert_unreachable_env_url_fails_clearly(
        "MONGODB_URI",
        "MongoDB",
        |port| format!("mongodb://user:s3cret@127.0.0.1:{port}/"),
        |uri| {
            MongoServer::start_with(&MongoSettings {
                env_uri: Some(uri),
                ..MongoSettings::default()
            })
        },
    );
}

#[test]
fn a_mongod_on_path_is_started_with_its_files_in_the_temp_dir() {
    // A stand-in `mongod` that records its arguments and serves with nx-27017 on the port it
    // was given: enough to check the command line and that the mongod branch is taken.
    let python = nx27017::ensure_venv(
        &cache::cache_dir().expect("a cache dir"),
        std::env::var_os("PATH").as_deref(),
    )
    .expect("nx-27017 venv");
    let bin = tempfile::tempdir().unwrap();
    let args_file = bin.path().join("args");
    let script = format!(
        "#!/bin/sh\n\
         printf '%s\\n' \"$@\" > '{args}'\n\
         prev=; for a in \"$@\"; do [ \"$prev\" = --port ] && port=$a; prev=$a; done\n\
         exec '{python}' -W ignore -m nx_27017.nx_27017 --data-dir memory --port \"$port\" \
         --log-file ./nx.log --pid-file ./nx.pid\n",
        args = args_file.display(),
        python = python.display(),
    );
    let mongod = bin.path().join("mongod");
    fs::write(&mongod, script).unwrap();
    fs::set_permissions(&mongod, fs::Permissions::from_mode(0o755)).unwrap();
    let settings = MongoSettings {
        env_uri: None,
        search_path: Some(bin.path().into()),
        cache_dir: None,
        policy: SourcePolicy::local(),
    };

    let server = MongoServer::start_with(&settings).expect("fake mongod starts");

    let local = server.local().expect("local");
    assert_eq!(
        server.source(),
        &ServiceSource::Local {
            server: "mongod",
            port: local.port()
        }
    );
    let args: Vec<String> = fs::read_to_string(&args_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let dir = local.dir().display().to_string();
    let port = local.port().to_string();
    let expected = [
        "--dbpath",
        &dir,
        "--port",
        &port,
        "--bind_ip",
        "127.0.0.1",
        "--unixSocketPrefix",
        &dir,
        "--quiet",
    ];
    assert_eq!(args, expected);
}

#[tokio::test]
async fn two_test_databases_do_not_see_each_others_documents() {
    let first = test_database().await.expect("first database");
    let second = test_database().await.expect("second database");
    assert_ne!(first.name, second.name);
    assert!(first.name.starts_with("test_") && first.name.len() == "test_".len() + 32);

    let products = |db: &provision::TestDatabase| db.db().collection::<Document>("products");
    products(&first)
        .insert_one(doc! { "sku": "FIRST-1" })
        .await
        .unwrap();
    products(&second)
        .insert_one(doc! { "sku": "SECOND-1" })
        .await
        .unwrap();
    products(&second)
        .insert_one(doc! { "sku": "SECOND-2" })
        .await
        .unwrap();

    assert_eq!(products(&first).count_documents(doc! {}).await.unwrap(), 1);
    assert_eq!(products(&second).count_documents(doc! {}).await.unwrap(), 2);
    let seen = products(&first).find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(seen.get_str("sku").unwrap(), "FIRST-1");
    assert_eq!(
        products(&first)
            .count_documents(doc! { "sku": "SECOND-1" })
            .await
            .unwrap(),
        0
    );

    // Dropping one database leaves the other intact.
    first.db().drop().await.unwrap();
    assert_eq!(products(&second).count_documents(doc! {}).await.unwrap(), 2);
}

#[tokio::test]
async fn a_test_database_is_dropped_when_its_guard_drops() {
    let db = test_database().await.expect("database");
    let (name, uri) = (db.name.clone(), db.uri.clone());
    db.db()
        .collection::<Document>("orders")
        .insert_one(doc! { "n": 1 })
        .await
        .unwrap();
    let observer = Client::with_uri_str(&uri).await.unwrap();
    let names = observer.list_database_names().await.unwrap();
    assert!(names.contains(&name), "{name} not listed in {names:?}");

    drop(db);

    let names = observer.list_database_names().await.unwrap();
    assert!(
        !names.contains(&name),
        "{name} still listed after drop: {names:?}"
    );
    let left = observer
        .database(&name)
        .collection::<Document>("orders")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(left, 0, "documents survived the drop");
}

//! PostgreSQL provisioning: local servers (run as the `postgres` user when we are root),
//! `DATABASE_URL`, a fresh database per test, and a streaming replica.

use std::time::{Duration, Instant};

use provision::postgres::{PostgresSettings, TestPostgresDatabase, find_bin_dir, with_database};
use provision::{PostgresServer, SourcePolicy, test_postgres_database};
use sqlx::{Connection, PgConnection};

use crate::support::{
    assert_from_env_and_nothing_started, assert_local_server_answers_and_stops_on_drop,
    assert_missing_binaries_name_the_package, assert_unreachable_env_url_fails_clearly, containers,
    start_blocking,
};
use crate::watchdog::{eventually, process_is_alive};

fn start_local() -> anyhow::Result<PostgresServer> {
    PostgresServer::start_with(&PostgresSettings::from_env().local_only())
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let value: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .expect(sql);
    conn.close().await.unwrap();
    value
}

#[tokio::test]
async fn a_local_postgres_starts_answers_a_query_and_stops_on_drop() {
    let server = start_blocking(start_local).await;
    assert_eq!(
        server.url(),
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            server.local().expect("a local server").port()
        )
    );
    assert_local_server_answers_and_stops_on_drop(server, &["postgres"], |url| async move {
        assert_eq!(scalar(&url, "SELECT 40 + 2::bigint").await, 42);
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(fsync, "off", "a test cluster skips durability");
    })
    .await;
}

#[tokio::test]
async fn database_url_wins_and_no_second_server_is_started() {
    let first = start_blocking(start_local).await;
    // No binaries and container mode with images that do not exist: if the URL were
    // ignored, starting would fail.
    let nothing = tempfile::tempdir().unwrap();
    let settings = PostgresSettings {
        env_url: Some(first.url().to_owned()),
        search_path: Some(nothing.path().into()),
        policy: containers(),
    };

    let second = start_blocking(move || PostgresServer::start_with(&settings)).await;

    assert_from_env_and_nothing_started(&second, "DATABASE_URL");
    assert_eq!(scalar(second.url(), "SELECT 1::bigint").await, 1);
}

#[test]
fn an_unreachable_database_url_is_a_clear_error_that_hides_the_password() {
    assert_unreachable_env_url_fails_clearly(
        "DATABASE_URL",
        "PostgreSQL",
        |port| format!("postgres://app:s3cret@127.0.0.1:{port}/shop"),
        |url| {
            PostgresServer::start_with(&PostgresSettings {
                env_url: Some(url),
                ..PostgresSettings::default()
            })
        },
    );
}

#[test]
fn without_postgres_binaries_the_error_names_the_package_and_the_command() {
    let nothing = tempfile::tempdir().unwrap();
    let settings = PostgresSettings {
        env_url: None,
        search_path: Some(nothing.path().into()),
        policy: SourcePolicy::local(),
    };

    let message = assert_missing_binaries_name_the_package(
        "postgresql",
        "DATABASE_URL",
        PostgresServer::start_with(&settings),
    );
    assert!(message.contains("initdb"), "{message}");
    assert!(message.contains("Docker"), "{message}");
}

#[test]
fn the_bin_dir_is_where_the_binaries_really_are_on_path_or_in_debians_dir() {
    // PATH, then /usr/lib/postgresql/<major>/bin; links (this machine has some in
    // /usr/local/bin) are followed, so the replica's pg_basebackup is found beside them.
    let settings = PostgresSettings::from_env();
    let dir = find_bin_dir(settings.search_path.as_deref()).expect("postgres installed");
    for program in ["postgres", "initdb", "pg_basebackup"] {
        assert!(
            dir.join(program).is_file(),
            "{program} in {}",
            dir.display()
        );
    }
}

#[test]
fn with_database_replaces_only_the_database_of_a_url() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "test_1"),
        "postgres://postgres@127.0.0.1:5432/test_1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/shop?sslmode=require", "test_1"),
        "postgres://u:p@db:5432/test_1?sslmode=require"
    );
    assert_eq!(
        with_database("postgres://db:5432", "test_1"),
        "postgres://db:5432/test_1"
    );
    assert_eq!(
        with_database("postgresql://u:a%2Fb@db/shop", "test_1"),
        "postgresql://u:a%2Fb@db/test_1",
        "an encoded '/' in the password is not the path"
    );
}

#[tokio::test]
async fn two_test_databases_do_not_see_each_others_tables() {
    let first = test_postgres_database().await.expect("first database");
    let second = test_postgres_database().await.expect("second database");
    assert_ne!(first.name, second.name);
    assert!(first.name.starts_with("test_") && first.name.len() == "test_".len() + 32);
    assert!(first.url.ends_with(&format!("/{}", first.name)));

    for db in [&first, &second] {
        sqlx::query("CREATE TABLE orders (id bigint PRIMARY KEY)")
            .execute(&db.pool)
            .await
            .expect("the same table name in both databases");
    }
    sqlx::query("INSERT INTO orders VALUES (1)")
        .execute(&first.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders VALUES (1), (2)")
        .execute(&second.pool)
        .await
        .unwrap();

    let count = |db: &TestPostgresDatabase| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(&first).await, 1);
    assert_eq!(count(&second).await, 2);
}

#[tokio::test]
async fn a_test_database_is_dropped_with_its_guard_even_while_connections_are_open() {
    let db = test_postgres_database().await.expect("database");
    let (name, server_url) = (db.name.clone(), db.server_url.clone());
    sqlx::query("CREATE TABLE t (n int)")
        .execute(&db.pool)
        .await
        .unwrap();
    let exists_sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    assert_eq!(scalar(&server_url, &exists_sql).await, 1);
    // A connection the test forgot to close: DROP ... WITH (FORCE) must not wait for it.
    let mut open = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut open).await.unwrap();

    let started = Instant::now();
    drop(db);

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(scalar(&server_url, &exists_sql).await, 0, "{name} survived");
    assert!(
        sqlx::query("SELECT 1").execute(&mut open).await.is_err(),
        "the open connection was closed by the drop"
    );
}

#[tokio::test]
async fn creating_a_test_database_on_a_server_that_is_gone_fails_clearly() {
    let port = provision::free_port().unwrap();
    let err =
        TestPostgresDatabase::create_on(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .await
            .expect_err("no server");
    assert!(
        format!("{err:#}").contains("connecting to create a test database"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_replica_serves_what_was_written_to_its_primary() {
    let primary = start_blocking(start_local).await;
    let started = Instant::now();
    let (primary, replica) = tokio::task::spawn_blocking(move || {
        let replica = PostgresServer::start_replica_of(&primary).expect("replica");
        (primary, replica)
    })
    .await
    .unwrap();
    eprintln!("replica ready in {:?}", started.elapsed());
    assert_ne!(replica.url(), primary.url());

    let mut writer = PgConnection::connect(primary.url()).await.unwrap();
    sqlx::query("CREATE TABLE notes (body text)")
        .execute(&mut writer)
        .await
        .unwrap();
    sqlx::query("INSERT INTO notes VALUES ('hello')")
        .execute(&mut writer)
        .await
        .unwrap();

    // Replication is asynchronous: poll.
    let mut reader = PgConnection::connect(replica.url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&mut reader)
            .await;
        if matches!(seen, Ok(1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert!(in_recovery, "the replica is a standby");
    let write = sqlx::query("INSERT INTO notes VALUES ('no')")
        .execute(&mut reader)
        .await;
    assert!(write.is_err(), "a standby refuses writes");

    let replica_pid = replica.local().unwrap().pid();
    reader.close().await.unwrap();
    drop(replica);
    assert!(eventually(Duration::from_secs(5), || !process_is_alive(
        replica_pid
    )));
}

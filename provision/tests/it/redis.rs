//! Redis provisioning: local servers, `REDIS_URL`, and a key prefix per test.

use provision::redis::RedisSettings;
use provision::{RedisServer, SourcePolicy, TestRedis, test_redis};
use redis::AsyncCommands;

use crate::support::{
    assert_from_env_and_nothing_started, assert_local_server_answers_and_stops_on_drop,
    assert_missing_binaries_name_the_package, assert_unreachable_env_url_fails_clearly, containers,
    start_blocking,
};

fn start_local() -> anyhow::Result<RedisServer> {
    RedisServer::start_with(&RedisSettings::from_env().local_only())
}

async fn get(url: &str, key: &str) -> Option<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    conn.get(key).await.unwrap()
}

#[tokio::test]
async fn a_local_redis_starts_answers_and_stops_on_drop() {
    let server = start_blocking(start_local).await;
    assert_local_server_answers_and_stops_on_drop(server, &["redis-server"], |url| async move {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = conn.set("greeting", "hello").await.unwrap();
        assert_eq!(get(&url, "greeting").await.as_deref(), Some("hello"));
        let save: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(save, ["save", ""], "no snapshots on a test server");
    })
    .await;
}

#[tokio::test]
async fn redis_url_wins_and_no_second_server_is_started() {
    let first = start_blocking(start_local).await;
    let nothing = tempfile::tempdir().unwrap();
    let settings = RedisSettings {
        env_url: Some(format!("  {}  ", first.url())),
        search_path: Some(nothing.path().into()),
        policy: containers(),
    };

    let second = start_blocking(move || RedisServer::start_with(&settings)).await;

    assert_from_env_and_nothing_started(&second, "REDIS_URL");
    assert_eq!(second.url(), first.url(), "trimmed");
}

#[test]
fn an_unreachable_redis_url_is_a_clear_error_that_hides_the_password() {
    assert_unreachable_env_url_fails_clearly(
        "REDIS_URL",
        "Redis",
        |port| format!("redis://:s3cret@127.0.0.1:{port}"),
        |url| {
            RedisServer::start_with(&RedisSettings {
                env_url: Some(url),
                ..RedisSettings::default()
            })
        },
    );
}

#[test]
fn without_redis_server_the_error_names_the_package_and_the_command() {
    let nothing = tempfile::tempdir().unwrap();
    let settings = RedisSettings {
        env_url: None,
        search_path: Some(nothing.path().into()),
        policy: SourcePolicy::local(),
    };

    assert_missing_binaries_name_the_package(
        "redis-server",
        "REDIS_URL",
        RedisServer::start_with(&settings),
    );
}

#[tokio::test]
async fn two_test_prefixes_do_not_see_each_others_keys() {
    let first = test_redis().await.expect("first prefix");
    let second = test_redis().await.expect("second prefix");
    assert_ne!(first.prefix, second.prefix);
    assert!(first.prefix.starts_with("test:") && first.prefix.ends_with(':'));
    assert_eq!(first.key("cart:1"), format!("{}cart:1", first.prefix));

    let mut a = first.connection().await.unwrap();
    let mut b = second.connection().await.unwrap();
    let _: () = a.set(first.key("cart:1"), "first").await.unwrap();
    let _: () = b.set(second.key("cart:1"), "second").await.unwrap();
    let _: () = b.set(second.key("cart:2"), "second").await.unwrap();

    assert_eq!(first.keys().await.unwrap(), [first.key("cart:1")]);
    assert_eq!(second.keys().await.unwrap().len(), 2);
    let seen: String = a.get(first.key("cart:1")).await.unwrap();
    assert_eq!(seen, "first");
}

#[tokio::test]
async fn a_test_prefix_is_emptied_when_its_guard_drops_and_other_keys_stay() {
    let doomed = test_redis().await.expect("prefix");
    let neighbour = test_redis().await.expect("prefix");
    let mut conn = doomed.connection().await.unwrap();
    // More keys than one SCAN step returns, to exercise the cursor loop.
    for n in 0..2500 {
        let _: () = conn.set(doomed.key(&format!("k{n}")), n).await.unwrap();
    }
    let _: () = conn.set(neighbour.key("kept"), 1).await.unwrap();
    let url = doomed.url.clone();
    let sample = doomed.key("k1234");

    drop(doomed);

    assert_eq!(get(&url, &sample).await, None);
    assert_eq!(neighbour.keys().await.unwrap(), [neighbour.key("kept")]);
}

#[test]
fn a_test_prefix_needs_a_valid_url() {
    let err = TestRedis::create_on("not a url").expect_err("bad URL");
    assert!(
        format!("{err:#}").contains("parsing the Redis URL"),
        "{err:#}"
    );
}

//! Step 3's settings load from the same layers as every step (`APP__REDIS__URL` is what xtask
//! sets), and bad values are refused at startup with the key named, before anything connects.

use common::StepConfig;
use step03_caching::Config;

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn redis_and_cache_settings_load_from_app_variables_beside_earlier_steps_keys() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("APP__REDIS__URL", "redis://127.0.0.1:6390");
        jail.set_env("APP__REDIS__RESPONSE_TIMEOUT_MS", "100");
        jail.set_env("APP__CACHE__ENABLED", "false");
        jail.set_env("APP__CACHE__KEY_PREFIX", "shop-a:");
        jail.set_env("APP__APIS__RATE_LIMIT__ENABLED", "false");
        let config = Config::load().map_err(|e| format!("{e:#}"))?;
        use secrecy::ExposeSecret;
        assert_eq!(config.redis.url.expose_secret(), "redis://127.0.0.1:6390");
        assert_eq!(config.redis.response_timeout_ms, 100);
        assert!(!config.cache.enabled);
        assert_eq!(config.cache.key_prefix, "shop-a:");
        assert!(!config.base.apis.rate_limit.enabled);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn bad_redis_and_cache_settings_are_refused_with_the_key_named() {
    let cases = [
        ("APP__REDIS__URL", "http://not-redis", "redis.url"),
        (
            "APP__REDIS__RESPONSE_TIMEOUT_MS",
            "0",
            "redis.response_timeout_ms",
        ),
        (
            "APP__REDIS__CONNECT_TIMEOUT_MS",
            "60000",
            "redis.connect_timeout_ms",
        ),
        ("APP__CACHE__KEY_PREFIX", "has space", "cache.key_prefix"),
        ("APP__CACHE__TTL_SECS", "0", "cache.ttl_secs"),
        ("APP__CACHE__JITTER_PERCENT", "90", "cache.jitter_percent"),
        ("APP__CACHE__LOCK_WAIT_MS", "999999", "cache.lock_wait_ms"),
        ("APP__CACHE__TTL_SECS", "soon", "ttl_secs"),
    ];
    for (var, value, named) in cases {
        figment::Jail::expect_with(|jail| {
            jail.set_env(var, value);
            let error = format!("{:#}", Config::load().expect_err(var));
            assert!(
                error.to_lowercase().contains(named),
                "{var}={value}: {error}"
            );
            Ok(())
        });
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn the_redis_url_never_appears_in_debug_output_or_errors() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("APP__REDIS__URL", "redis://:hunter2-secret@127.0.0.1:6390");
        let config = Config::load().map_err(|e| format!("{e:#}"))?;
        assert!(!format!("{config:?}").contains("hunter2"));
        jail.set_env("APP__REDIS__URL", "nope://:hunter2-secret@x");
        let error = format!("{:#}", Config::load().expect_err("a bad URL"));
        assert!(!error.contains("hunter2"), "{error}");
        Ok(())
    });
}

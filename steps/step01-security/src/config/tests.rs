//! Configuration rules: step 0's keys still load under the flattened config, the `security`
//! section has safe defaults, and unsafe settings are refused with a message naming the fix.

use common::config::StepConfig;

use super::*;

fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
    Config::from_figment(common::testing::figment(pairs))
}

const KEY_A: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="; // 32 x 'A'
const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn development_runs_with_defaults_and_a_development_encryption_key() {
    let config = load(&[]).unwrap();
    assert_eq!(config.base.server.port, 8080);
    assert_eq!(config.security.tokens.access_ttl_secs, 900);
    assert_eq!(config.security.passwords.memory_kib, 19_456);
    assert_eq!(config.signing_kid().unwrap(), DEFAULT_TOKEN_KID);
    assert_eq!(config.active_encryption_kid().unwrap(), "dev");
    assert!(config.security.google.client_id.is_none());
    assert_eq!(
        config.security.google.token_url,
        "https://oauth2.googleapis.com/token"
    );
}

#[test]
fn outside_development_an_encryption_key_is_required() {
    let error = load(&[("environment", "test"), ("auth.jwt_secret", SECRET)]).unwrap_err();
    assert!(error.to_string().contains("ENCRYPTION__KEYS"), "{error}");
    let config = load(&[
        ("environment", "test"),
        ("auth.jwt_secret", SECRET),
        ("security.encryption.keys.k1", KEY_A),
    ])
    .unwrap();
    assert_eq!(config.active_encryption_kid().unwrap(), "k1");
}

#[test]
fn several_keys_need_an_active_one_that_exists() {
    let both = [
        ("security.encryption.keys.k1", KEY_A),
        ("security.encryption.keys.k2", KEY_A),
    ];
    assert!(load(&both).unwrap_err().to_string().contains("ACTIVE_KEY"));
    let mut chosen = both.to_vec();
    chosen.push(("security.encryption.active_key", "k2"));
    assert_eq!(
        load(&chosen).unwrap().active_encryption_kid().unwrap(),
        "k2"
    );
    let mut missing = both.to_vec();
    missing.push(("security.encryption.active_key", "k9"));
    assert!(load(&missing).unwrap_err().to_string().contains("k9"));
}

#[test]
fn malformed_keys_are_refused() {
    for (key, value) in [
        ("security.encryption.keys.short", "c2hvcnQ="),
        ("security.encryption.keys.bad", "not base64!"),
        ("security.tokens.keys.weak", "too-short"),
    ] {
        assert!(load(&[(key, value)]).is_err(), "{key}={value}");
    }
}

#[test]
fn a_token_key_ring_signs_with_the_chosen_kid() {
    let config = load(&[
        ("security.tokens.keys.old", SECRET),
        ("security.tokens.keys.new", SECRET),
        ("security.tokens.signing_kid", "new"),
    ])
    .unwrap();
    assert_eq!(config.signing_kid().unwrap(), "new");
    assert_eq!(config.token_keys().len(), 2);
}

#[test]
fn unsafe_settings_are_refused() {
    for pairs in [
        vec![("security.tokens.access_ttl_secs", "86400")],
        vec![("security.google.client_id", "id-without-secret")],
        vec![("security.google.token_url", "ftp://example.test/token")],
        vec![(
            "security.cors.allowed_origins",
            "[\"https://shop.example/\"]",
        )],
        vec![
            ("environment", "production"),
            ("auth.jwt_secret", SECRET),
            ("security.encryption.keys.k1", KEY_A),
            ("security.passwords.memory_kib", "4096"),
        ],
    ] {
        assert!(load(&pairs).is_err(), "{pairs:?} should be refused");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn environment_variables_reach_both_step_0_and_step_1_keys() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("APP__SERVER__PORT", "9191");
        jail.set_env("APP__SECURITY__TOKENS__ACCESS_TTL_SECS", "600");
        jail.set_env("APP__SECURITY__ENCRYPTION__KEYS__K7", KEY_A);
        jail.set_env(
            "APP__SECURITY__CORS__ALLOWED_ORIGINS",
            "[\"https://shop.example\"]",
        );
        let config = Config::load().map_err(|e| e.to_string())?;
        assert_eq!(config.base.server.port, 9191);
        assert_eq!(config.security.tokens.access_ttl_secs, 600);
        assert_eq!(config.active_encryption_kid().unwrap(), "k7");
        assert_eq!(
            config.security.cors.allowed_origins,
            vec!["https://shop.example".to_owned()]
        );
        Ok(())
    });
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let config = load(&[
        (
            "security.tokens.keys.k1",
            "a-very-long-token-secret-value-40-bytes!",
        ),
        ("security.encryption.keys.k1", KEY_A),
    ])
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("a-very-long-token-secret"));
    assert!(!shown.contains(KEY_A));
}

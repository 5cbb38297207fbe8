//! Step 8's configuration layers, read the way the binary reads them (process environment,
//! files, profiles; figment's `Jail` gives each test its own environment and working folder):
//! the order of the layers, secret files and the secret store, unknown keys refused with
//! their source, every profile loading, and `config`'s report from the real binary.

use std::collections::BTreeMap;

use common::config::StepConfig;
use figment::Jail;
use step08_cloud::Config;
use step08_cloud::config::Profile;
use step08_cloud::layers;

const SECRET: &str = "a-jwt-secret-of-more-than-32-bytes-from-";

fn load() -> anyhow::Result<Config> {
    Config::load()
}

/// The error of loading, as text.
fn refusal() -> String {
    format!("{:#}", load().expect_err("the configuration is refused"))
}

/// Runs `f` in a jail: its own environment variables and working folder.
#[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
fn jailed(f: impl FnOnce(&mut Jail) -> Result<(), String>) {
    Jail::expect_with(|jail| f(jail).map_err(figment::Error::from));
}

#[test]
fn with_nothing_set_every_key_has_its_default_and_the_profile_is_local() {
    jailed(|_| {
        let config = load().map_err(|e| format!("{e:#}"))?;
        assert_eq!(config.cloud.profile, Profile::Local);
        assert_eq!(config.server.port, 8080);
        Ok(())
    });
}

#[test]
fn each_layer_overrides_the_one_below_it() {
    // One key, set in every layer that can set it: the highest wins, and each lower one
    // wins once the layers above it are gone.
    let key_env = "APP__AUTH__JWT_SECRET";
    let layers = [
        "shop.toml",
        "environment file",
        "environment variable",
        "secret store",
        "secret file",
    ];
    for (top, layer) in layers.iter().enumerate() {
        jailed(|jail| {
            jail.create_file(
                "shop.toml",
                &format!("[auth]\njwt_secret = \"{SECRET}shop.toml\"\n"),
            )
            .map_err(|e| e.to_string())?;
            jail.create_dir("config").map_err(|e| e.to_string())?;
            if top >= 1 {
                jail.create_file(
                    "config/development.toml",
                    &format!("[auth]\njwt_secret = \"{SECRET}environment file\"\n"),
                )
                .map_err(|e| e.to_string())?;
            }
            if top >= 2 {
                jail.set_env(key_env, format!("{SECRET}environment variable"));
            }
            if top >= 3 {
                jail.set_env("APP__SECRETS__AWS_SECRET_ID", "shop/test");
            }
            if top >= 4 {
                jail.create_file("jwt", &format!("{SECRET}secret file\n"))
                    .map_err(|e| e.to_string())?;
                jail.set_env("APP__AUTH__JWT_SECRET_FILE", "jwt");
            }
            let figment = layers::figment_with(|secrets| {
                assert_eq!(secrets.aws_secret_id.as_deref(), Some("shop/test"));
                Ok(BTreeMap::from([(
                    "auth.jwt_secret".to_owned(),
                    format!("{SECRET}secret store"),
                )]))
            })
            .map_err(|e| format!("{e:#}"))?;
            let config = Config::from_figment(figment).map_err(|e| format!("{e:#}"))?;
            assert_eq!(
                config.auth.secret(),
                format!("{SECRET}{layer}"),
                "with layers up to the {layer}"
            );
            Ok(())
        });
    }
}

#[test]
fn the_profile_sits_above_the_files_and_below_the_environment() {
    jailed(|jail| {
        // The AWS profile sets the cloud's managed-service settings; a file cannot undo
        // them, a variable can.
        let (key, profile_value) = (AWS_SETTING.0.to_owned(), AWS_SETTING.1);
        let (section, leaf) = key
            .rsplit_once('.')
            .expect("a profile key sits in a section");
        jail.create_file(
            "shop.toml",
            &format!("[cloud]\nprofile = \"aws\"\n[{section}]\n{leaf} = \"require\"\n"),
        )
        .map_err(|e| e.to_string())?;
        for (name, value) in deploy_settings(jail.directory()) {
            jail.set_env(name, value);
        }
        let figment = layers::figment().map_err(|e| format!("{e:#}"))?;
        let found: String = figment.extract_inner(&key).map_err(|e| e.to_string())?;
        assert_eq!(
            found, profile_value,
            "{key}: the profile wins over the file"
        );
        let source = common::config::source_of(&figment, &key);
        assert_eq!(source, "cloud profile aws", "{key}'s source");

        jail.set_env(common::config::env_name(&key), "verify-ca");
        let figment = layers::figment().map_err(|e| format!("{e:#}"))?;
        let found: String = figment.extract_inner(&key).map_err(|e| e.to_string())?;
        assert_eq!(found, "verify-ca", "{key}: the environment wins");
        Ok(())
    });
}

/// A setting the AWS profile makes, and its value there.
const AWS_SETTING: (&str, &str) = ("managed.postgres.tls", "verify-full");

#[test]
fn the_aws_profile_file_makes_the_setting_the_tests_rely_on() {
    let table: toml::Table = layers::profile_toml(Profile::Aws)
        .parse()
        .expect("the profile is TOML");
    assert_eq!(
        table["managed"]["postgres"]["tls"].as_str(),
        Some(AWS_SETTING.1)
    );
}

/// What a deploy adds to a cloud profile for it to start: the CA bundles the profile names
/// (a test CA's certificate here, where the providers' bundles are not mounted) and the
/// bucket. `(variable, value)` pairs, with the CA written into `dir`.
fn deploy_settings(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let ca =
        testkit::services::tls::TestCa::new("stepwise-shop config test CA").expect("a test CA");
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).expect("writing the CA");
    let path = path.display().to_string();
    vec![
        ("APP__MANAGED__POSTGRES__CA_BUNDLE", path.clone()),
        ("APP__MANAGED__REDIS__CA_BUNDLE", path.clone()),
        ("APP__MANAGED__MONGODB__CA_BUNDLE", path),
        ("APP__STORAGE__BUCKET", "shop-images".to_owned()),
    ]
}

#[test]
fn every_profile_loads_with_no_unknown_key_and_names_itself() {
    for profile in [Profile::Local, Profile::Aws, Profile::Gcp, Profile::Azure] {
        jailed(|jail| {
            jail.set_env("APP__CLOUD__PROFILE", profile.name());
            if profile != Profile::Local {
                for (name, value) in deploy_settings(jail.directory()) {
                    jail.set_env(name, value);
                }
            }
            let config = load().map_err(|e| format!("{}: {e:#}", profile.name()))?;
            assert_eq!(config.cloud.profile, profile);
            Ok(())
        });
    }
}

#[test]
fn a_misspelt_variable_is_refused_naming_it_and_the_key_meant() {
    jailed(|jail| {
        jail.set_env("APP__SERVER__PROT", "9090");
        let error = refusal();
        assert!(error.contains("server.prot"), "{error}");
        assert!(error.contains("APP__SERVER__PROT (environment)"), "{error}");
        assert!(error.contains("did you mean server.port?"), "{error}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_in_a_file_is_refused_naming_the_file() {
    jailed(|jail| {
        jail.create_dir("config").map_err(|e| e.to_string())?;
        jail.create_file(
            "config/development.toml",
            "[postgress]\nurl = \"postgres://x\"\n",
        )
        .map_err(|e| e.to_string())?;
        let error = refusal();
        // The whole section is unknown: reported once, as the section.
        assert!(error.contains("postgress (from"), "{error}");
        assert!(error.contains("config/development.toml"), "{error}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_inside_a_known_section_of_an_earlier_step_is_refused() {
    jailed(|jail| {
        // `apis` is step 2's section, flattened into every later step's configuration.
        jail.set_env("APP__APIS__RATE_LIMIT__ENABLD", "false");
        let error = refusal();
        assert!(error.contains("apis.rate_limit.enabld"), "{error}");
        assert!(
            error.contains("did you mean apis.rate_limit.enabled?"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn a_key_set_with_one_part_of_a_pair_missing_names_the_missing_key() {
    jailed(|jail| {
        // A quota is `requests` per `window_secs`, both required once either is set.
        jail.set_env("APP__APIS__RATE_LIMIT__ORDERS__REQUESTS", "5");
        let error = refusal();
        assert!(
            error.contains("the required key apis.rate_limit.orders.window_secs is not set"),
            "{error}"
        );
        assert!(
            error.contains("APP__APIS__RATE_LIMIT__ORDERS__WINDOW_SECS"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn a_secrets_dir_sets_each_key_it_names_and_skips_a_volumes_hidden_entries() {
    jailed(|jail| {
        jail.create_dir("secrets/..2026_12_03")
            .map_err(|e| e.to_string())?;
        jail.create_file("secrets/..2026_12_03/ignored", "nothing")
            .map_err(|e| e.to_string())?;
        jail.create_file("secrets/..data", "not a key")
            .map_err(|e| e.to_string())?;
        jail.create_file("secrets/auth.jwt_secret", &format!("{SECRET}dir\r\n"))
            .map_err(|e| e.to_string())?;
        jail.create_file(
            "secrets/POSTGRES__URL",
            "postgres://shop@db.internal/shop\n",
        )
        .map_err(|e| e.to_string())?;
        jail.set_env("APP_SECRETS_DIR", "secrets");
        let config = load().map_err(|e| format!("{e:#}"))?;
        assert_eq!(config.auth.secret(), format!("{SECRET}dir"));
        use secrecy::ExposeSecret;
        assert_eq!(
            config.postgres.url.expose_secret(),
            "postgres://shop@db.internal/shop"
        );
        let figment = layers::figment().map_err(|e| format!("{e:#}"))?;
        let source = common::config::source_of(&figment, "auth.jwt_secret");
        assert!(
            source.ends_with("secrets/auth.jwt_secret (secret file)"),
            "{source}"
        );
        Ok(())
    });
}

#[test]
fn a_secret_file_that_cannot_be_read_is_an_error_naming_it() {
    jailed(|jail| {
        jail.set_env("APP__AUTH__JWT_SECRET_FILE", "/nonexistent/jwt");
        let error = refusal();
        assert!(error.contains("/nonexistent/jwt"), "{error}");
        Ok(())
    });
}

#[test]
fn no_key_ends_in_file_so_a_file_variable_reads_one_way() {
    jailed(|_| {
        let figment = layers::figment().map_err(|e| format!("{e:#}"))?;
        let config = load().map_err(|e| format!("{e:#}"))?;
        let keys: Vec<String> = common::config::shown(&figment, &config)
            .into_iter()
            .map(|line| line.key)
            .filter(|key| key.ends_with("_file"))
            .collect();
        assert!(keys.is_empty(), "keys ending in _file: {keys:?}");
        Ok(())
    });
}

#[test]
fn the_config_command_shows_every_key_with_its_source_and_no_secret() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("jwt"), format!("{SECRET}shown\n")).expect("a secret file");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_step08-cloud"))
        .arg("config")
        .current_dir(dir.path())
        .env_clear()
        .envs(deploy_settings(dir.path()))
        .env("APP__CLOUD__PROFILE", "aws")
        .env("APP__SERVER__PORT", "9191")
        .env("APP__AUTH__JWT_SECRET_FILE", dir.path().join("jwt"))
        .output()
        .expect("running step08-cloud config");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |key: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no line for {key} in\n{stdout}"))
            .to_owned()
    };
    assert!(line("server.port").contains("9191"), "{stdout}");
    assert!(
        line("server.port").ends_with("# APP__SERVER__PORT (environment)"),
        "{stdout}"
    );
    assert!(line("server.host").ends_with("# default"), "{stdout}");
    assert!(
        line("cloud.profile").ends_with("# APP__CLOUD__PROFILE (environment)"),
        "{stdout}"
    );
    let secret = line("auth.jwt_secret");
    assert!(secret.contains("\"[redacted]\""), "{secret}");
    assert!(secret.ends_with("(secret file)"), "{secret}");
    assert!(
        line(AWS_SETTING.0).ends_with("# cloud profile aws"),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET), "a secret was shown:\n{stdout}");
    assert!(stdout.contains("# accepted"), "{stdout}");
}

#[test]
fn the_config_command_exits_non_zero_on_an_unknown_key_after_showing_the_rest() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_step08-cloud"))
        .arg("config")
        .current_dir(dir.path())
        .env_clear()
        .env("APP__STORAGE__BUCKIT", "images")
        .output()
        .expect("running step08-cloud config");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("server.port = 8080"), "{stdout}");
    assert!(stderr.contains("storage.buckit"), "{stderr}");
}

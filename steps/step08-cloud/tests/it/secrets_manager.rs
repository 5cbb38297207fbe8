//! The Secrets Manager reader against a real local Secrets Manager API (moto's server, one
//! per test): the secrets are created through the same SigV4-signed client, then read with
//! `fetch_with`; a missing secret, a value that is not an object of strings, credentials the
//! server refuses and a server that is down each give their own error, naming the secret.

use serde_json::json;
use step08_cloud::secrets_manager::{
    AwsEnvironment, Client, SecretsError, SecretsManagerSettings, fetch_with,
};
use testkit::services::moto::{self, MotoServer};

async fn moto() -> MotoServer {
    tokio::task::spawn_blocking(MotoServer::start)
        .await
        .unwrap()
        .expect("moto starts")
}

fn settings(moto: &MotoServer, secret: &str) -> SecretsManagerSettings {
    SecretsManagerSettings {
        secret_id: secret.to_owned(),
        region: None,
        endpoint: Some(moto.url()),
    }
}

/// moto's credentials and region, as the standard variables would give them.
fn aws() -> AwsEnvironment {
    AwsEnvironment::from_lookup(|name| match name {
        "AWS_ACCESS_KEY_ID" => Some(moto::ACCESS_KEY_ID.to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some(moto::SECRET_ACCESS_KEY.to_owned()),
        "AWS_REGION" => Some(moto::REGION.to_owned()),
        _ => None,
    })
}

async fn create(moto: &MotoServer, name: &str, value: &str) {
    Client::new(&settings(moto, name), &aws())
        .expect("a client")
        .call(
            "CreateSecret",
            &json!({ "Name": name, "SecretString": value }),
        )
        .await
        .expect("the secret is created");
}

#[tokio::test]
async fn a_secret_holding_a_json_object_of_strings_is_read_key_by_key() {
    let moto = moto().await;
    let value = json!({
        "auth.jwt_secret": "a-jwt-secret-that-is-long-enough-for-hs256",
        "postgres.url": "postgres://shop:pw@db.internal:5432/shop?sslmode=verify-full",
    });
    create(&moto, "shop/prod", &value.to_string()).await;
    let values = fetch_with(&settings(&moto, "shop/prod"), &aws())
        .await
        .expect("the secret is read");
    assert_eq!(values.len(), 2);
    assert_eq!(
        values["auth.jwt_secret"],
        "a-jwt-secret-that-is-long-enough-for-hs256"
    );
    assert_eq!(
        values["postgres.url"],
        "postgres://shop:pw@db.internal:5432/shop?sslmode=verify-full"
    );
}

#[tokio::test]
async fn a_missing_secret_and_values_that_are_not_an_object_of_strings_are_refused_naming_them() {
    let moto = moto().await;
    let error = fetch_with(&settings(&moto, "shop/absent"), &aws())
        .await
        .expect_err("no such secret");
    assert!(matches!(error, SecretsError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("shop/absent"), "{error}");

    for (name, value, says) in [
        ("shop/array", "[\"a\"]", "an array"),
        (
            "shop/number",
            "{\"server.port\": 8080}",
            "`server.port` is a number",
        ),
        ("shop/text", "just a password", "not JSON"),
    ] {
        create(&moto, name, value).await;
        let error = fetch_with(&settings(&moto, name), &aws())
            .await
            .expect_err(name);
        assert!(
            matches!(error, SecretsError::NotAnObjectOfStrings { .. }),
            "{name}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(name) && text.contains(says), "{name}: {text}");
    }
}

#[tokio::test]
async fn credentials_the_server_does_not_know_are_access_denied() {
    let moto = moto().await;
    create(&moto, "shop/guarded", "{}").await;
    // From now on moto checks every request's credentials against its IAM users: ours are
    // no user's.
    let switched = reqwest::Client::new()
        .post(format!("{}/moto-api/reset-auth", moto.url()))
        .body("0")
        .send()
        .await
        .expect("moto answers");
    assert!(switched.status().is_success());
    let error = fetch_with(&settings(&moto, "shop/guarded"), &aws())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, SecretsError::AccessDenied { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("secretsmanager:GetSecretValue"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable_naming_the_endpoint() {
    let mut moto = moto().await;
    let settings = settings(&moto, "shop/prod");
    moto.stop();
    let error = fetch_with(&settings, &aws()).await.expect_err("down");
    assert!(
        matches!(error, SecretsError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&moto.url()), "{error}");
}

#[tokio::test]
async fn without_credentials_nothing_is_sent_and_the_error_names_the_variables() {
    let none =
        AwsEnvironment::from_lookup(|name| (name == "AWS_REGION").then(|| moto::REGION.to_owned()));
    let nowhere = SecretsManagerSettings {
        secret_id: "shop/prod".to_owned(),
        region: None,
        endpoint: Some("http://127.0.0.1:9".to_owned()),
    };
    let error = fetch_with(&nowhere, &none)
        .await
        .expect_err("no credentials");
    assert!(
        matches!(error, SecretsError::NoCredentials { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("AWS_SECRET_ACCESS_KEY"),
        "{error}"
    );
}

/// The whole way, as a deploy runs it: the real binary, told only which secret to read and
/// where (its variables), takes its JWT secret from the store, shows where it came from and
/// not what it is, and refuses to start when the secret holds a key nothing reads.
#[tokio::test]
async fn the_binary_takes_its_secrets_from_secrets_manager_through_its_layers() {
    let moto = moto().await;
    let jwt = "a-jwt-secret-from-secrets-manager-long-enough";
    create(
        &moto,
        "shop/config",
        &json!({ "auth.jwt_secret": jwt }).to_string(),
    )
    .await;
    create(
        &moto,
        "shop/typo",
        &json!({ "auth.jwt_secert": jwt }).to_string(),
    )
    .await;
    let show = |secret: &str| {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::process::Command::new(env!("CARGO_BIN_EXE_step08-cloud"))
            .arg("config")
            .current_dir(dir.path())
            .env_clear()
            .env("APP__SECRETS__AWS_SECRET_ID", secret)
            .env("APP__SECRETS__AWS_ENDPOINT", moto.url())
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
            .env("AWS_REGION", moto::REGION)
            .output()
            .expect("running step08-cloud config")
    };
    let read = show("shop/config");
    let stdout = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with("auth.jwt_secret = "))
        .unwrap_or_else(|| panic!("no auth.jwt_secret in\n{stdout}"));
    assert!(line.contains("\"[redacted]\""), "{line}");
    assert!(
        line.ends_with("# AWS Secrets Manager secret shop/config"),
        "{line}"
    );
    assert!(!stdout.contains(jwt), "the secret was shown:\n{stdout}");

    let typo = show("shop/typo");
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success(), "a key nothing reads was accepted");
    assert!(stderr.contains("auth.jwt_secert"), "{stderr}");
    assert!(
        stderr.contains("AWS Secrets Manager secret shop/typo"),
        "{stderr}"
    );
    assert!(!stderr.contains(jwt), "the secret was shown:\n{stderr}");

    let missing = show("shop/none");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success(),
        "a missing secret was not an error"
    );
    assert!(stderr.contains("shop/none"), "{stderr}");
}

//! The real binary started with each cloud profile (`aws`, `gcp`, `azure`) and pointed at
//! this machine's services as a deploy points it at the cloud's: PostgreSQL with TLS on,
//! Redis on its TLS port only, MongoDB behind a TLS endpoint, S3 on moto, the CA bundles
//! the profiles name replaced by the test CA's. The profile (not the test) turns TLS on and
//! picks the MongoDB flavour; each start must be ready, with Redis `ok` (not `degraded`), and
//! serve. Cloud Storage and Blob Storage have no local server here: the `gcp` and `azure`
//! starts keep S3 on moto, and say so.

use secrecy::ExposeSecret;
use serde_json::Value;
use step06_distributed::testing::Child;
use step08_cloud::config::Profile;
use testkit::services::moto;
use testkit::services::redis::TlsRedis;
use testkit::services::tls::TlsFiles;

use crate::tls::{App, TlsProxy, mongo_address, postgres_with_tls};

#[tokio::test]
async fn each_cloud_profile_pointed_at_local_services_over_tls_starts_ready_and_serves() {
    let (_ca, files) = TlsFiles::localhost("stepwise-shop profiles test CA").unwrap();
    let (_postgres, db) = postgres_with_tls(&files).await;
    let redis = TlsRedis::start(&files).expect("Redis starts with TLS on");
    // The test environment: the MongoDB stand-in, the payments service and the simulator.
    let plain = App::builder().spawn().await;
    let proxy = TlsProxy::start(&files, mongo_address(&plain.config)).await;
    let (moto, storage) = crate::storage::moto_with_bucket().await;

    let ca = files.ca_file.display().to_string();
    // The database URL as a deploy writes it, by host name (the certificate's), with no TLS
    // parameters: the profile adds them.
    let postgres_url = db.url.replace("127.0.0.1", "localhost");
    for profile in [Profile::Aws, Profile::Gcp, Profile::Azure] {
        let overrides: Vec<(&str, String)> = vec![
            ("APP__CLOUD__PROFILE", profile.name().to_owned()),
            ("APP__POSTGRES__URL", postgres_url.clone()),
            (
                "APP__REDIS__URL",
                format!("redis://localhost:{}", redis.port()),
            ),
            (
                "APP__MONGODB__URI",
                format!("mongodb://localhost:{}/?directConnection=true", proxy.port),
            ),
            ("APP__MANAGED__POSTGRES__CA_BUNDLE", ca.clone()),
            ("APP__MANAGED__REDIS__CA_BUNDLE", ca.clone()),
            ("APP__MANAGED__MONGODB__CA_BUNDLE", ca.clone()),
            // S3 on moto for every profile: the only object store with a server here.
            ("APP__STORAGE__BACKEND", "s3".to_owned()),
            ("APP__STORAGE__BUCKET", storage.bucket.clone()),
            ("APP__STORAGE__ENDPOINT", moto.url()),
            ("APP__STORAGE__REGION", moto::REGION.to_owned()),
            (
                "APP__STORAGE__OPTIONS__AWS_ACCESS_KEY_ID",
                moto::ACCESS_KEY_ID.to_owned(),
            ),
            (
                "APP__STORAGE__OPTIONS__AWS_SECRET_ACCESS_KEY",
                moto::SECRET_ACCESS_KEY.to_owned(),
            ),
        ];
        let before = proxy.handshakes();
        let child = Child::spawn(
            env!("CARGO_BIN_EXE_step08-cloud"),
            &plain.config,
            &[],
            &overrides,
        )
        .await
        .unwrap_or_else(|e| panic!("step 8 with the {} profile: {e:#}", profile.name()));
        let http = reqwest::Client::new();
        // Ready with every check `ok`: Redis's connection is made on first use, so the
        // first answers may say `degraded` for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let body = loop {
            let ready = http
                .get(format!("{}/readyz", child.base))
                .send()
                .await
                .expect("/readyz answers");
            let status = ready.status();
            let body: Value = ready.json().await.expect("a JSON body");
            let all_ok = ["mongodb", "postgresql", "migrations", "workers", "redis"]
                .iter()
                .all(|check| body["checks"][check] == "ok");
            if status == 200 && all_ok {
                break body;
            }
            if std::time::Instant::now() > deadline {
                let mut child = child;
                child.terminate().expect("stopping the child");
                let said = child.said_to_the_end().await;
                panic!(
                    "{}: not ready with every check ok within 15 s: {status} {body}\n{}",
                    profile.name(),
                    said.join("\n")
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(body["status"], "ready", "{}", profile.name());
        assert!(
            proxy.handshakes() > before,
            "{}: MongoDB was reached over TLS",
            profile.name()
        );
        let products = http
            .get(format!("{}/api/v1/products", child.base))
            .send()
            .await
            .expect("the catalog answers");
        assert_eq!(products.status(), 200, "{}", profile.name());
        child.kill().await;
    }
    // The URL the test gave carried no TLS: it was the profiles that asked for it.
    assert!(!postgres_url.contains("sslmode"));
    assert!(!plain.config.redis.url.expose_secret().starts_with("rediss"));
}

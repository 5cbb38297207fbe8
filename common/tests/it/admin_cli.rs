//! `shop create-admin` and `shop seed`, run as the real binary against the test database.

use std::process::Command;

use testkit::app::TEST_PASSWORD;
use testkit::{expect_status, spawn_app, unique_email};

fn shop(app: &testkit::TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shop"));
    command
        .env("APP__MONGODB__URI", &app.db.uri)
        .env("APP__MONGODB__DATABASE", &app.db.name)
        .env_remove("APP_CONFIG")
        // No shop.toml there: the command sees only what the test sets.
        .current_dir(std::env::temp_dir())
        .env("APP__AUTH__BCRYPT_COST", "4")
        .env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn create_admin_makes_an_account_that_can_manage_the_catalog() {
    let app = spawn_app().await;
    let email = unique_email("root");
    let output = shop(&app)
        .args(["create-admin", "--email", &email, "--name", "Root"])
        .env("SHOP_ADMIN_PASSWORD", TEST_PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin"));

    let login = expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    assert_eq!(login["user"]["role"], "admin");
    let token = login["token"].as_str().unwrap();
    app.create_product(token, serde_json::json!({})).await;
}

#[tokio::test]
async fn create_admin_promotes_an_existing_customer_and_keeps_their_password() {
    let app = spawn_app().await;
    let (email, _) = app.customer().await;
    let output = shop(&app)
        .args([
            "create-admin",
            "--email",
            &email,
            "--password",
            "ignored-for-existing",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("promoted"));
    let login = expect_status(app.login(&email, TEST_PASSWORD).await, 200).await;
    assert_eq!(login["user"]["role"], "admin");
}

#[tokio::test]
async fn create_admin_refuses_a_short_password_and_a_bad_email() {
    let app = spawn_app().await;
    let short = shop(&app)
        .args([
            "create-admin",
            "--email",
            &unique_email("x"),
            "--password",
            "short",
        ])
        .output()
        .unwrap();
    assert!(!short.status.success());
    let bad = shop(&app)
        .args([
            "create-admin",
            "--email",
            "not-an-email",
            "--password",
            TEST_PASSWORD,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));
}

#[tokio::test]
async fn seed_inserts_the_demo_catalog_once() {
    let app = spawn_app().await;
    let first = shop(&app).arg("seed").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("36 products inserted"));
    let second = shop(&app).arg("seed").output().unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 products inserted"));

    let page = expect_status(app.get("/api/v1/products?limit=100", None).await, 200).await;
    assert_eq!(page["total"], 36);
    let categories: std::collections::BTreeSet<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["category"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(categories.len(), 6);
}

//! Field encryption at rest: the profile round trip, what the raw MongoDB document holds (no
//! plaintext), ciphertexts that were moved, tampered or sealed under an unknown key, and the
//! resumable key rotation, in-process and through the binary's `rotate-keys` command.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::domain::UserId;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use step01_security::crypto::FieldCipher;
use step01_security::profiles::{self, Profile, Profiles};
use step01_security::store::mongo::MongoProfiles;
use testkit::{expect_error, expect_status};

use crate::support::Sessions as _;
use crate::support::{App, random_key};

const PHONE: &str = "+49 151 2345-6789";
const STREET: &str = "Unter den Linden 77";
const CARD_REF: &str = "pm_1QbSecretReference";

fn profile_body() -> Value {
    json!({
        "phone": PHONE,
        "shipping_addresses": [{
            "name": "Ada Lovelace", "line1": STREET, "city": "Berlin",
            "postal_code": "10117", "country": "de",
        }],
        "payment_method": CARD_REF,
    })
}

async fn put_profile(app: &App, token: &str, body: Value) -> reqwest::Response {
    app.request(
        reqwest::Method::PUT,
        "/api/v1/profile",
        Some(token),
        Some(body),
    )
    .await
}

async fn raw_profile(app: &App, user_id: &str) -> Document {
    app.database()
        .collection::<Document>("profiles")
        .find_one(doc! { "_id": ObjectId::parse_str(user_id).unwrap() })
        .await
        .unwrap()
        .expect("a profile document")
}

#[tokio::test]
async fn a_profile_round_trips_and_the_raw_document_holds_no_plaintext() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let saved = expect_status(
        put_profile(&app, &session.access, profile_body()).await,
        200,
    )
    .await;
    assert_eq!(saved["phone"], "+4915123456789", "normalised");
    let read = expect_status(app.get("/api/v1/profile", Some(&session.access)).await, 200).await;
    assert_eq!(read, saved);
    assert_eq!(read["shipping_addresses"][0]["country"], "DE");
    assert_eq!(read["payment_method"], CARD_REF);

    let raw = raw_profile(&app, &session.user_id).await;
    let dump = format!("{raw:?}");
    for plain in [
        "4915123456789",
        "2345",
        "Linden",
        "Berlin",
        "Lovelace",
        "pm_1Qb",
        "Secret",
    ] {
        assert!(
            !dump.contains(plain),
            "{plain:?} in the stored document: {dump}"
        );
    }
    for field in ["phone", "shipping_addresses", "payment_method"] {
        let sealed = raw.get_document(field).unwrap();
        assert_eq!(sealed.get_str("kid").unwrap(), "k1");
        assert_eq!(
            STANDARD
                .decode(sealed.get_str("nonce").unwrap())
                .unwrap()
                .len(),
            12
        );
        assert!(matches!(sealed.get("ct"), Some(Bson::String(_))));
    }
    assert_eq!(raw.get_str("kid").unwrap(), "k1");
}

#[tokio::test]
async fn an_empty_profile_reads_as_empty_and_bad_fields_are_422() {
    let app = App::spawn().await;
    let (_, session) = app.customer_session().await;
    let empty = expect_status(app.get("/api/v1/profile", Some(&session.access)).await, 200).await;
    assert_eq!(
        empty,
        json!({"phone": null, "shipping_addresses": [], "payment_method": null})
    );
    for (body, field) in [
        (json!({"phone": "call me"}), "phone"),
        (json!({"phone": "+1 23"}), "phone"),
        (
            json!({"payment_method": "4111 1111 1111 1111"}),
            "payment_method",
        ),
        (
            json!({"shipping_addresses": [{"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "Germany"}]}),
            "shipping_addresses[0].country",
        ),
    ] {
        let answer = put_profile(&app, &session.access, body.clone()).await;
        let error = expect_error(answer, 422, "VALIDATION_FAILED").await;
        assert_eq!(error["error"]["fields"][0]["field"], field, "{body}");
    }
    let unknown = put_profile(&app, &session.access, json!({"ssn": "123"})).await;
    expect_error(unknown, 422, "VALIDATION_FAILED").await;
    expect_error(app.get("/api/v1/profile", None).await, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_ciphertext_moved_tampered_or_under_an_unknown_key_is_a_clear_500_without_plaintext() {
    let app = App::spawn().await;
    let (_, victim) = app.customer_session().await;
    let (_, attacker) = app.customer_session().await;
    expect_status(put_profile(&app, &victim.access, profile_body()).await, 200).await;
    expect_status(
        put_profile(&app, &attacker.access, json!({"phone": "+1 555 0100 999"})).await,
        200,
    )
    .await;
    let profiles = app.database().collection::<Document>("profiles");
    let victim_phone = raw_profile(&app, &victim.user_id)
        .await
        .get_document("phone")
        .unwrap()
        .clone();
    let attacker_id = ObjectId::parse_str(&attacker.user_id).unwrap();

    let mut tampered = victim_phone.clone();
    let mut ct = STANDARD.decode(tampered.get_str("ct").unwrap()).unwrap();
    ct[0] ^= 0x01;
    tampered.insert("ct", STANDARD.encode(ct));
    let mut unknown_key = victim_phone.clone();
    unknown_key.insert("kid", "k-gone");

    for (what, phone) in [
        (
            "the victim's phone copied into the attacker's document",
            victim_phone,
        ),
        ("a ciphertext with one bit flipped", tampered),
        ("a value under a key id that is not loaded", unknown_key),
    ] {
        profiles
            .update_one(
                doc! { "_id": attacker_id },
                doc! { "$set": { "phone": phone } },
            )
            .await
            .unwrap();
        let answer = app.get("/api/v1/profile", Some(&attacker.access)).await;
        let body = expect_error(answer, 500, "INTERNAL").await;
        let text = body.to_string();
        assert!(
            !text.contains("4915") && !text.contains("Linden"),
            "{what}: {text}"
        );
        assert!(
            !text.contains("k-gone") && !text.contains("profiles/"),
            "{what}: {text}"
        );
    }
    // The victim's own profile is untouched.
    let read = expect_status(app.get("/api/v1/profile", Some(&victim.access)).await, 200).await;
    assert_eq!(read["phone"], "+4915123456789");
}

/// A `Profiles` over the app's database with the given keys.
fn profiles_with(app: &App, keys: &[(&str, &str)], active: &str) -> Profiles {
    let keys: BTreeMap<String, [u8; 32]> = keys
        .iter()
        .map(|(kid, b64)| {
            let bytes: [u8; 32] = STANDARD.decode(b64).unwrap().try_into().unwrap();
            ((*kid).to_owned(), bytes)
        })
        .collect();
    Profiles::new(
        Arc::new(MongoProfiles::new(&app.database())),
        FieldCipher::new(keys, active.to_owned()).unwrap(),
    )
}

fn k1(app: &App) -> String {
    app.config.security.encryption.keys["k1"]
        .expose_secret()
        .to_owned()
}

async fn kids(app: &App) -> Vec<String> {
    use futures::TryStreamExt;
    let docs: Vec<Document> = app
        .database()
        .collection::<Document>("profiles")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    docs.iter()
        .map(|d| d.get_str("kid").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn key_rotation_re_encrypts_in_batches_and_resumes_where_it_stopped() {
    let app = App::spawn().await;
    let old = k1(&app);
    let new = random_key();
    let mut users = Vec::new();
    for _ in 0..5 {
        let (_, session) = app.customer_session().await;
        expect_status(
            put_profile(&app, &session.access, profile_body()).await,
            200,
        )
        .await;
        users.push(session.user_id.parse::<UserId>().unwrap());
    }
    let rotating = profiles_with(&app, &[("k1", &old), ("k2", &new)], "k2");

    let first = profiles::rotate_keys(&rotating, 2, Some(1)).await.unwrap();
    assert_eq!(
        (first.scanned, first.rotated, first.complete),
        (2, 2, false)
    );
    let rest = profiles::rotate_keys(&rotating, 2, None).await.unwrap();
    assert_eq!((rest.rotated, rest.failed, rest.complete), (3, 0, true));
    assert!(kids(&app).await.iter().all(|k| k == "k2"));
    let again = profiles::rotate_keys(&rotating, 2, None).await.unwrap();
    assert_eq!(again.scanned, 0, "nothing left to do");

    // Every value still opens, with the new key alone: the old one can be retired.
    let retired = profiles_with(&app, &[("k2", &new)], "k2");
    for user in users {
        let profile = retired.get(user).await.unwrap();
        assert_eq!(profile.payment_method.as_deref(), Some(CARD_REF));
    }
}

#[tokio::test]
async fn key_rotation_while_the_app_serves_loses_no_update() {
    let app = App::spawn().await;
    let old = k1(&app);
    let new = random_key();
    let (_, writer) = app.customer_session().await;
    for _ in 0..20 {
        let (_, session) = app.customer_session().await;
        expect_status(
            put_profile(&app, &session.access, profile_body()).await,
            200,
        )
        .await;
    }
    expect_status(put_profile(&app, &writer.access, profile_body()).await, 200).await;
    let rotating = profiles_with(&app, &[("k1", &old), ("k2", &new)], "k2");

    // The running app (still on k1 only) keeps updating one profile during the rotation.
    let updates = async {
        for i in 0..15 {
            let body = json!({ "phone": format!("+49 30 {:07}", i), "payment_method": CARD_REF });
            expect_status(put_profile(&app, &writer.access, body).await, 200).await;
        }
    };
    let (report, ()) = tokio::join!(profiles::rotate_keys(&rotating, 3, None), updates);
    let report = report.unwrap();
    assert_eq!(report.failed, 0);

    // The last update won, whoever wrote last.
    let user: UserId = writer.user_id.parse().unwrap();
    let last: Profile = rotating.get(user).await.unwrap();
    assert_eq!(last.phone.as_deref(), Some("+49300000014"));
    // A second run picks up whatever the old-config writer sealed under k1 meanwhile.
    let finish = profiles::rotate_keys(&rotating, 3, None).await.unwrap();
    assert!(finish.complete);
    assert!(kids(&app).await.iter().all(|k| k == "k2"));
    assert_eq!(
        rotating.get(user).await.unwrap().phone.as_deref(),
        Some("+49300000014")
    );
}

#[tokio::test]
async fn the_rotate_keys_command_rotates_a_live_database() {
    let app = App::spawn().await;
    let old = k1(&app);
    let new = random_key();
    let (_, session) = app.customer_session().await;
    expect_status(
        put_profile(&app, &session.access, profile_body()).await,
        200,
    )
    .await;

    let base = &app.config.base;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_step01-security"))
        .args(["rotate-keys", "--batch-size", "10"])
        // No config file: run where there is no shop.toml, with nothing named.
        .env_remove("APP_CONFIG")
        .current_dir(std::env::temp_dir())
        .env("APP__ENVIRONMENT", "test")
        .env("APP__MONGODB__URI", base.mongodb.uri.expose_secret())
        .env("APP__MONGODB__DATABASE", &base.mongodb.database)
        .env("APP__AUTH__JWT_SECRET", testkit::app::TEST_JWT_SECRET)
        .env("APP__SECURITY__ENCRYPTION__KEYS__K1", &old)
        .env("APP__SECURITY__ENCRYPTION__KEYS__K2", &new)
        .env("APP__SECURITY__ENCRYPTION__ACTIVE_KEY", "k2")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rotate-keys failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rotated 1 of 1"), "{stdout}");
    assert_eq!(kids(&app).await, vec!["k2".to_owned()]);
    assert!(
        !stdout.contains("4915") && !stdout.contains(&new),
        "{stdout}"
    );
}

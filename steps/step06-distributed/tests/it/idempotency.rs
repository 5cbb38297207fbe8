//! `Idempotency-Key` on placing and paying orders, against a real step-6 server: a replay is
//! the first answer and runs nothing (no second order, no second charge), a key is bound to
//! its request and its user, a running key is 409 and a dead one is taken over, a 5xx is not
//! kept, keys expire, and malformed keys are refused before anything runs.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use sqlx::Row;
use step06_distributed::idempotency::{self, KEY_IN_USE, KEY_REUSED};

use crate::support::{App, eventually, pool, stock_of};

const ORDERS: &str = "/api/v1/orders";

/// One answer, read whole.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn replayed(&self) -> bool {
        self.headers
            .get(idempotency::REPLAYED)
            .is_some_and(|v| v == "true")
    }

    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }

    fn retry_after(&self) -> Option<&[u8]> {
        self.headers.get("retry-after").map(|v| v.as_bytes())
    }

    fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    fn expect_error(self, status: u16, code: &str) -> Reply {
        let reply = self.expect(status);
        assert_eq!(reply.code(), code, "error code; body: {}", reply.body);
        reply
    }
}

/// `"key"`: the draft's form, a Structured Field String.
fn quoted(key: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{key}\"")).expect("a printable key")
}

/// A fresh key, and its header value.
fn new_key() -> (String, HeaderValue) {
    let key = uuid::Uuid::new_v4().to_string();
    let value = quoted(&key);
    (key, value)
}

/// A POST of `body` (serialized here, so a test can fingerprint the same bytes) with every
/// one of `keys` as an `Idempotency-Key` header.
async fn send(
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    keys: Vec<HeaderValue>,
    body: Value,
) -> Reply {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("JSON"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for key in keys {
        request = request.header(idempotency::HEADER, key);
    }
    let response = request.send().await.expect("the request reaches the app");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

fn order_body(product: &str, quantity: i64) -> Value {
    json!({ "items": [{ "product_id": product, "quantity": quantity }] })
}

fn pay_path(order: &str) -> String {
    format!("{ORDERS}/{order}/pay")
}

fn card(token: &str) -> Value {
    json!({ "card_token": token })
}

/// A customer of the app (or nobody, without a token), sending keyed requests.
struct Buyer<'a> {
    app: &'a App,
    token: Option<String>,
}

impl<'a> Buyer<'a> {
    async fn new(app: &'a App) -> Buyer<'a> {
        let (_, token) = app.customer().await;
        Buyer {
            app,
            token: Some(token),
        }
    }

    fn token(&self) -> &str {
        self.token.as_deref().expect("a signed-in buyer")
    }

    async fn post(&self, path: &str, keys: &[&HeaderValue], body: &Value) -> Reply {
        send(
            self.app.http.clone(),
            self.app.url(path),
            self.token.clone(),
            keys.iter().map(|&key| key.clone()).collect(),
            body.clone(),
        )
        .await
    }

    async fn place(&self, keys: &[&HeaderValue], body: &Value) -> Reply {
        self.post(ORDERS, keys, body).await
    }

    async fn pay(&self, order: &str, keys: &[&HeaderValue]) -> Reply {
        self.post(&pay_path(order), keys, &card("tok_success"))
            .await
    }

    /// `n` copies of one POST, sent at once, each from a task of its own.
    async fn at_once(&self, n: usize, path: &str, key: &HeaderValue, body: &Value) -> Vec<Reply> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            tasks.spawn(send(
                self.app.http.clone(),
                self.app.url(path),
                self.token.clone(),
                vec![key.clone()],
                body.clone(),
            ));
        }
        tasks.join_all().await
    }

    /// How many orders the buyer has.
    async fn orders(&self) -> u64 {
        let page = self.app.get(ORDERS, Some(self.token())).await;
        testkit::expect_status(page, 200).await["total"]
            .as_u64()
            .expect("a total")
    }

    async fn user_id(&self) -> String {
        let me = self.app.get("/api/v1/auth/me", Some(self.token())).await;
        testkit::expect_status(me, 200).await["id"]
            .as_str()
            .expect("a user id")
            .to_owned()
    }
}

/// A fresh product (stock 10) and a fresh customer.
async fn shop(app: &App) -> (String, Buyer<'_>) {
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 10 })).await;
    let product = product["id"].as_str().expect("an id").to_owned();
    (product, Buyer::new(app).await)
}

/// A customer's pending order (stock 3, one unit), and the customer.
async fn pending_order(app: &App) -> (String, Buyer<'_>) {
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 3 }), 1).await;
    let buyer = Buyer {
        app,
        token: Some(placed.token),
    };
    (placed.id, buyer)
}

/// The charges the provider holds for `order`.
async fn charges_of(app: &App, order: &str) -> Vec<Value> {
    app.provider_charges()
        .await
        .into_iter()
        .filter(|c| c["description"].as_str().is_some_and(|d| d.contains(order)))
        .collect()
}

/// How many rows the table holds for `key`, whoever's.
async fn rows_for(app: &App, key: &str) -> i64 {
    sqlx::query("SELECT count(*) AS n FROM idempotency_keys WHERE key = $1")
        .bind(key)
        .fetch_one(&pool(app))
        .await
        .expect("counting keys")
        .get("n")
}

/// What a request running on another instance leaves: `user`'s `key`, running, bound to
/// `fingerprint`, its lease running out `lease_secs` from now (in the past when negative).
async fn running_key(app: &App, user: &str, key: &str, fingerprint: &[u8], lease_secs: i64) {
    sqlx::query(
        "INSERT INTO idempotency_keys \
         (user_id, key, fingerprint, state, owner, lease_until, expires_at) \
         VALUES ($1::bpchar, $2, $3, 'running', gen_random_uuid(), \
         now() + $4::bigint * interval '1 second', now() + interval '1 day')",
    )
    .bind(user)
    .bind(key)
    .bind(fingerprint)
    .bind(lease_secs)
    .execute(&pool(app))
    .await
    .expect("a running key");
}

#[tokio::test]
async fn an_order_placed_again_with_its_key_is_the_same_order_replayed_and_no_second_one() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (_, key) = new_key();
    let body = order_body(&product, 2);

    let first = buyer.place(&[&key], &body).await.expect(201);
    assert!(!first.replayed(), "the first answer is not a replay");
    let again = buyer.place(&[&key], &body).await.expect(201);

    assert!(again.replayed(), "the second answer says it is a replay");
    assert_eq!(again.body, first.body, "the same order, byte for byte");
    assert_eq!(
        again.headers.get("content-type"),
        first.headers.get("content-type")
    );
    assert_ne!(
        again.headers.get("x-request-id"),
        first.headers.get("x-request-id"),
        "a replay is a request of its own"
    );
    assert_eq!(buyer.orders().await, 1, "no second order");
    assert_eq!(stock_of(&app, &product).await, 8, "the stock moved once");
}

#[tokio::test]
async fn a_payment_sent_again_with_its_key_is_the_first_payment_replayed_and_one_charge() {
    let app = App::spawn().await;
    let (order, buyer) = pending_order(&app).await;
    let (_, key) = new_key();

    let first = buyer.pay(&order, &[&key]).await.expect(200);
    let again = buyer.pay(&order, &[&key]).await.expect(200);

    assert!(again.replayed());
    assert_eq!(again.body, first.body);
    assert_eq!(again.body["status"], "paid");
    assert_eq!(charges_of(&app, &order).await.len(), 1, "one charge");
    // Without the key the same retry is refused: the order is paid already.
    buyer.pay(&order, &[]).await.expect(409);
}

#[tokio::test]
async fn a_key_sent_again_with_another_body_or_on_another_route_is_422_and_runs_nothing() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (_, key) = new_key();
    let order = buyer
        .place(&[&key], &order_body(&product, 1))
        .await
        .expect(201)
        .id();

    let other_body = buyer
        .place(&[&key], &order_body(&product, 3))
        .await
        .expect_error(422, KEY_REUSED);
    assert_eq!(
        other_body.body["error"]["fields"][0]["field"],
        idempotency::HEADER
    );
    buyer
        .pay(&order, &[&key])
        .await
        .expect_error(422, KEY_REUSED);

    assert_eq!(buyer.orders().await, 1);
    assert_eq!(
        stock_of(&app, &product).await,
        9,
        "only the first order took stock"
    );
    let status = app.order(buyer.token(), &order).await["status"].clone();
    assert_eq!(status, "pending", "the payment did not run");
    assert!(charges_of(&app, &order).await.is_empty());
}

#[tokio::test]
async fn concurrent_payments_with_one_key_charge_once_and_the_others_are_409_or_a_replay() {
    let app = App::spawn().await;
    let (order, buyer) = pending_order(&app).await;
    // A slow provider keeps the first payment running while the others arrive.
    app.payments.set_latency(Duration::from_millis(400));
    let (_, key) = new_key();

    let replies = buyer
        .at_once(8, &pay_path(&order), &key, &card("tok_success"))
        .await;

    let mut ran = 0;
    let mut in_use = 0;
    for reply in replies {
        match reply.status {
            200 if reply.replayed() => {}
            200 => ran += 1,
            _ => {
                let reply = reply.expect_error(409, KEY_IN_USE);
                assert_eq!(reply.retry_after(), Some(&b"1"[..]));
                in_use += 1;
            }
        }
    }
    assert_eq!(ran, 1, "exactly one of the payments ran");
    assert!(
        in_use >= 1,
        "a payment that came while the first ran was told 409"
    );
    assert_eq!(charges_of(&app, &order).await.len(), 1, "one charge");
}

#[tokio::test]
async fn concurrent_orders_with_one_key_place_one_order() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (_, key) = new_key();

    let replies = buyer
        .at_once(8, ORDERS, &key, &order_body(&product, 1))
        .await;

    let mut ids = std::collections::BTreeSet::new();
    for reply in replies {
        if reply.status == 201 {
            ids.insert(reply.id());
        } else {
            reply.expect_error(409, KEY_IN_USE);
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the one order: {ids:?}");
    assert_eq!(buyer.orders().await, 1);
    assert_eq!(stock_of(&app, &product).await, 9);
}

#[tokio::test]
async fn a_running_key_is_409_with_retry_after_and_one_whose_lease_ran_out_is_taken_over() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (key_text, key) = new_key();
    let body = order_body(&product, 1);
    let fingerprint = idempotency::fingerprint(
        &reqwest::Method::POST,
        ORDERS,
        &serde_json::to_vec(&body).expect("JSON"),
    );
    running_key(&app, &buyer.user_id().await, &key_text, &fingerprint, 60).await;

    let waiting = buyer
        .place(&[&key], &body)
        .await
        .expect_error(409, KEY_IN_USE);
    assert_eq!(waiting.retry_after(), Some(&b"1"[..]));
    assert_eq!(buyer.orders().await, 0, "nothing ran");

    // Its process died: the lease runs out, and the next request takes the key over.
    sqlx::query(
        "UPDATE idempotency_keys SET lease_until = now() - interval '1 second' WHERE key = $1",
    )
    .bind(&key_text)
    .execute(&pool(&app))
    .await
    .expect("the lease runs out");
    let taken = buyer.place(&[&key], &body).await.expect(201);
    assert!(!taken.replayed());
    let again = buyer.place(&[&key], &body).await.expect(201);
    assert!(again.replayed(), "the taken-over key stored its answer");
    assert_eq!(again.id(), taken.id());
    assert_eq!(buyer.orders().await, 1);
}

#[tokio::test]
async fn a_running_key_whose_lease_ran_out_is_still_refused_for_another_request() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (key_text, key) = new_key();
    running_key(&app, &buyer.user_id().await, &key_text, &[7; 32], -1).await;

    buyer
        .place(&[&key], &order_body(&product, 1))
        .await
        .expect_error(422, KEY_REUSED);
    assert_eq!(buyer.orders().await, 0);
}

#[tokio::test]
async fn the_same_key_from_two_users_is_two_independent_keys() {
    let app = App::spawn().await;
    let (product, ann) = shop(&app).await;
    let bob = Buyer::new(&app).await;
    let (_, key) = new_key();
    let body = order_body(&product, 1);

    let anns = ann.place(&[&key], &body).await.expect(201);
    let bobs = bob.place(&[&key], &body).await.expect(201);

    assert!(!bobs.replayed(), "Bob's request ran");
    assert_ne!(bobs.id(), anns.id(), "Bob got an order of his own");
    for (who, buyer, first) in [("Ann", &ann, &anns), ("Bob", &bob, &bobs)] {
        let again = buyer.place(&[&key], &body).await.expect(201);
        assert!(again.replayed(), "{who}'s retry is a replay");
        assert_eq!(again.id(), first.id(), "{who}'s retry is {who}'s order");
        assert_eq!(buyer.orders().await, 1, "{who}'s orders");
    }
    assert_eq!(stock_of(&app, &product).await, 8);
}

#[tokio::test]
async fn a_payment_that_failed_with_a_503_is_not_stored_and_its_retry_with_the_key_pays() {
    let app = App::spawn().await;
    let (order, buyer) = pending_order(&app).await;
    let (key_text, key) = new_key();

    app.payments.set_failure_rate(1.0);
    buyer.pay(&order, &[&key]).await.expect(503);
    assert_eq!(
        rows_for(&app, &key_text).await,
        0,
        "the 503 released the key"
    );

    app.payments.set_failure_rate(0.0);
    let retried = buyer.pay(&order, &[&key]).await.expect(200);
    assert!(!retried.replayed(), "the retry ran");
    assert_eq!(retried.body["status"], "paid");
    let kept = buyer.pay(&order, &[&key]).await.expect(200);
    assert!(kept.replayed(), "the 200 was stored where the 503 was not");
    assert_eq!(charges_of(&app, &order).await.len(), 1, "one charge");
}

#[tokio::test]
async fn a_request_cut_off_by_the_request_timeout_runs_on_and_its_retry_gets_its_answer() {
    let app = App::spawn_with(|config| config.server.request_timeout_ms = 500).await;
    let (order, buyer) = pending_order(&app).await;
    app.payments.set_latency(Duration::from_millis(1_200));
    let (_, key) = new_key();

    buyer
        .pay(&order, &[&key])
        .await
        .expect_error(503, "TIMEOUT");

    let answer = eventually(
        "the payment's answer is stored",
        Duration::from_secs(10),
        || async {
            let reply = buyer.pay(&order, &[&key]).await;
            (reply.status != 409).then_some(reply)
        },
    )
    .await
    .expect(200);
    assert!(answer.replayed(), "the retry got the stored answer");
    assert_eq!(answer.body["status"], "paid");
    assert_eq!(charges_of(&app, &order).await.len(), 1);
}

#[tokio::test]
async fn a_stored_error_is_replayed_with_its_code_and_this_requests_id() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (_, key) = new_key();
    let body = order_body(&product, 50);

    let first = buyer
        .place(&[&key], &body)
        .await
        .expect_error(409, "OUT_OF_STOCK");
    let again = buyer
        .place(&[&key], &body)
        .await
        .expect_error(409, "OUT_OF_STOCK");

    assert!(again.replayed());
    assert_eq!(
        again.body["error"]["message"],
        first.body["error"]["message"]
    );
    let id = again
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    assert_eq!(again.body["error"]["request_id"].as_str(), id);
    assert_ne!(
        again.body["error"]["request_id"],
        first.body["error"]["request_id"]
    );
}

#[tokio::test]
async fn a_key_past_its_ttl_is_as_if_new_and_the_sweeper_deletes_it() {
    let app = App::spawn_with(|config| {
        config.idempotency.ttl_secs = 1;
        config.idempotency.sweep_interval_secs = 1;
    })
    .await;
    let (product, buyer) = shop(&app).await;
    let (key_text, key) = new_key();
    let body = order_body(&product, 1);

    let first = buyer.place(&[&key], &body).await.expect(201);
    let within = buyer.place(&[&key], &body).await.expect(201);
    assert!(within.replayed(), "within its ttl the key is remembered");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let later = buyer.place(&[&key], &body).await.expect(201);

    assert!(!later.replayed(), "the expired key ran again");
    assert_ne!(later.id(), first.id());
    assert_eq!(buyer.orders().await, 2);
    assert_eq!(
        rows_for(&app, &key_text).await,
        1,
        "the key is remembered again"
    );
    eventually(
        "the sweeper deletes the key",
        Duration::from_secs(5),
        || async { (rows_for(&app, &key_text).await == 0).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn malformed_keys_are_400_naming_the_header_and_change_nothing() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let body = order_body(&product, 1);
    let long = format!("\"{}\"", "k".repeat(idempotency::MAX_KEY_LEN + 1));
    let bad: Vec<(&str, Vec<HeaderValue>)> = vec![
        ("an empty value", vec![HeaderValue::from_static("")]),
        ("an empty string", vec![HeaderValue::from_static("\"\"")]),
        (
            "256 characters",
            vec![HeaderValue::from_str(&long).unwrap()],
        ),
        ("a tab inside", vec![HeaderValue::from_static("\"a\tb\"")]),
        (
            "bytes that are not ASCII",
            vec![HeaderValue::from_bytes("\"clé\"".as_bytes()).unwrap()],
        ),
        ("a list", vec![HeaderValue::from_static("\"a\", \"b\"")]),
        (
            "two headers",
            vec![
                HeaderValue::from_static("\"a\""),
                HeaderValue::from_static("\"b\""),
            ],
        ),
        ("no closing quote", vec![HeaderValue::from_static("\"abc")]),
        ("parameters", vec![HeaderValue::from_static("\"abc\";p=1")]),
        ("a bad escape", vec![HeaderValue::from_static("\"a\\x\"")]),
        (
            "a bare key with a space",
            vec![HeaderValue::from_static("a b")],
        ),
    ];
    for (what, keys) in bad {
        let keys: Vec<&HeaderValue> = keys.iter().collect();
        let reply = buyer.place(&keys, &body).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert_eq!(reply.code(), "INVALID_PARAMETER", "{what}: {}", reply.body);
        assert_eq!(
            reply.body["error"]["fields"][0]["field"],
            idempotency::HEADER,
            "{what}"
        );
    }
    assert_eq!(buyer.orders().await, 0, "nothing was placed");
    assert_eq!(stock_of(&app, &product).await, 10);
}

#[tokio::test]
async fn a_quoted_key_and_the_same_key_bare_are_one_key() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (key_text, key) = new_key();
    let body = order_body(&product, 1);

    buyer.place(&[&key], &body).await.expect(201);
    let bare = HeaderValue::from_str(&key_text).expect("a bare key");
    let again = buyer.place(&[&bare], &body).await.expect(201);

    assert!(again.replayed(), "the bare form names the same key");
    assert_eq!(buyer.orders().await, 1);
    let escaped = idempotency::Key::parse(br#""a\"b\\c""#).map(|k| k.as_str().to_owned());
    assert_eq!(escaped, Ok(r#"a"b\c"#.to_owned()), "escapes are undone");
}

#[tokio::test]
async fn a_keyed_request_without_a_valid_token_is_401_as_without_a_key() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let body = order_body(&product, 1);
    for token in [None, Some("e30.e30.e30")] {
        let anonymous = Buyer {
            app: &app,
            token: token.map(str::to_owned),
        };
        for key in [new_key().1, HeaderValue::from_static("")] {
            let reply = anonymous.place(&[&key], &body).await;
            assert_eq!(
                (reply.status, reply.code()),
                (401, "UNAUTHORIZED"),
                "token {token:?}, key {key:?}: {}",
                reply.body
            );
        }
    }
    assert_eq!(buyer.orders().await, 0);
    assert_eq!(stock_of(&app, &product).await, 10);
}

#[tokio::test]
async fn v2_has_no_order_writes_and_a_keyed_post_there_is_answered_as_without_a_key() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let body = order_body(&product, 1);
    let plain = buyer.post("/api/v2/orders", &[], &body).await;
    let keyed = buyer
        .post("/api/v2/orders", &[&HeaderValue::from_static("")], &body)
        .await;

    assert_eq!(plain.status, 405, "{}", plain.body);
    assert_eq!(keyed.status, plain.status);
    assert_eq!(keyed.body["code"], plain.body["code"], "{}", keyed.body);
    assert_eq!(buyer.orders().await, 0);
}

#[tokio::test]
async fn idempotency_settings_that_could_run_a_request_twice_or_never_expire_are_refused() {
    use common::StepConfig;
    type Change = fn(&mut step06_distributed::Config);
    let app = App::spawn().await;
    app.config
        .validate()
        .expect("the test configuration is valid");
    let cases: [(&str, Change, &str); 4] = [
        (
            "a lease no longer than the request timeout",
            |c| c.idempotency.lease_ms = c.server.request_timeout_ms,
            "idempotency.lease_ms",
        ),
        (
            "a lease shorter than a saga's",
            |c| {
                c.server.request_timeout_ms = 100;
                c.idempotency.lease_ms = c.saga.lease_ms - 1;
            },
            "idempotency.lease_ms",
        ),
        (
            "a ttl of zero",
            |c| c.idempotency.ttl_secs = 0,
            "idempotency.ttl_secs",
        ),
        (
            "no sweeps",
            |c| c.idempotency.sweep_interval_secs = 0,
            "idempotency.sweep_interval_secs",
        ),
    ];
    for (what, change, named) in cases {
        let mut config = app.config.clone();
        change(&mut config);
        let error = format!("{:#}", config.validate().expect_err(what));
        assert!(error.contains(named), "{what}: {error}");
    }
}

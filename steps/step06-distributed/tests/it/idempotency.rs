//! `Idempotency-Key` on placing and paying orders, against a real step-6 server: a replay is
//! the first answer and runs nothing (no second order, no second charge), a key is bound to
//! its request and its user, a running key is 409 and a dead one is taken over, a 5xx is not
//! kept, keys expire, and malformed keys are refused before anything runs. GraphQL's
//! `placeOrder` and `payOrder` take the same keys as their `idempotencyKey` argument, with the
//! same answers; step 5 neither shows nor ignores the argument; the OpenAPI document says it.

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

/// Of concurrent payments of `order` with one key: `ran` ran and `in_use` were told 409; one
/// must have run, one at least must have come while it ran, and the card charged once.
async fn ran_once_and_charged_once(app: &App, order: &str, ran: usize, in_use: usize) {
    assert_eq!(ran, 1, "exactly one of the payments ran");
    assert!(
        in_use >= 1,
        "a payment that came while the first ran was told 409"
    );
    assert_eq!(charges_of(app, order).await.len(), 1, "one charge");
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
    ran_once_and_charged_once(&app, &order, ran, in_use).await;
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

// --- GraphQL's `idempotencyKey` ----------------------------------------------------------------

const PLACE: &str = "mutation Place($items: [OrderItemInput!]!, $key: String) { \
    placeOrder(items: $items, idempotencyKey: $key) { id status totalMinor } }";

const PAY: &str = "mutation Pay($order: ID!, $card: String!, $key: String) { \
    payOrder(orderId: $order, cardToken: $card, idempotencyKey: $key) { id status } }";

/// One GraphQL answer: the HTTP status and headers, and the JSON.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The first error's extensions.
    fn error(&self) -> &Value {
        &self.body["errors"][0]["extensions"]
    }

    fn code(&self) -> &str {
        self.error()["code"].as_str().unwrap_or_default()
    }

    /// The replay's two marks, which must agree: the header, and the response keys listed in
    /// `extensions.idempotentReplayed`.
    fn replayed(&self) -> Vec<String> {
        let keys: Vec<String> = self.body["extensions"]["idempotentReplayed"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let header = self
            .headers
            .get(idempotency::REPLAYED)
            .is_some_and(|v| v == "true");
        assert_eq!(header, !keys.is_empty(), "the header and {}", self.body);
        keys
    }

    /// The order a mutation answered (the response key `field`).
    fn order(&self, field: &str) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let order = &self.body["data"][field];
        assert!(order["id"].is_string(), "an order: {}", self.body);
        order
    }

    /// The one error the answer holds, which must be `code` with `status`; its extensions.
    fn refused(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.status, 200,
            "GraphQL answers its errors with 200: {}",
            self.body
        );
        assert_eq!(self.code(), code, "{}", self.body);
        assert_eq!(self.error()["status"], status, "{}", self.body);
        assert!(
            self.body["data"].is_null(),
            "no order with the error: {}",
            self.body
        );
        self.error()
    }
}

/// POSTs a GraphQL operation to `url`.
async fn graphql(
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    query: String,
    variables: Value,
) -> Answer {
    let mut request = http
        .post(url)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the request reaches the app");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

impl Buyer<'_> {
    async fn graphql(&self, query: &str, variables: Value) -> Answer {
        graphql(
            self.app.http.clone(),
            self.app.url("/graphql"),
            self.token.clone(),
            query.to_owned(),
            variables,
        )
        .await
    }

    /// `placeOrder` of `quantity` units of `product` with `key` (none for null).
    async fn place_gql(&self, product: &str, quantity: i64, key: Value) -> Answer {
        let items = json!([{ "productId": product, "quantity": quantity }]);
        self.graphql(PLACE, json!({ "items": items, "key": key }))
            .await
    }

    async fn pay_gql(&self, order: &str, card: &str, key: Value) -> Answer {
        self.graphql(PAY, json!({ "order": order, "card": card, "key": key }))
            .await
    }
}

/// A key of its own as a GraphQL argument.
fn gql_key() -> Value {
    Value::String(uuid::Uuid::new_v4().to_string())
}

#[tokio::test]
async fn a_graphql_order_placed_again_with_its_key_is_the_same_order_replayed_and_no_second_one() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let key = gql_key();

    let first = buyer.place_gql(&product, 2, key.clone()).await;
    assert!(first.replayed().is_empty(), "the first answer ran");
    let again = buyer.place_gql(&product, 2, key.clone()).await;
    // The same arguments written as literals rather than variables: the same request.
    let literal = format!(
        "mutation {{ again: placeOrder(items: [{{ productId: \"{product}\", quantity: 2 }}], \
         idempotencyKey: {key}) {{ id status totalMinor }} }}"
    );
    let as_literal = buyer.graphql(&literal, json!({})).await;

    assert_eq!(again.replayed(), ["placeOrder"]);
    assert_eq!(again.order("placeOrder"), first.order("placeOrder"));
    assert_eq!(as_literal.replayed(), ["again"], "aliases name the replay");
    assert_eq!(as_literal.order("again"), first.order("placeOrder"));
    assert_eq!(buyer.orders().await, 1, "no second order");
    assert_eq!(stock_of(&app, &product).await, 8, "the stock moved once");
}

#[tokio::test]
async fn a_graphql_payment_sent_again_with_its_key_is_replayed_and_charges_once() {
    let app = App::spawn().await;
    let (order, buyer) = pending_order(&app).await;
    let key = gql_key();

    let first = buyer.pay_gql(&order, "tok_success", key.clone()).await;
    let again = buyer.pay_gql(&order, "tok_success", key.clone()).await;

    assert_eq!(first.order("payOrder")["status"], "paid");
    assert_eq!(again.replayed(), ["payOrder"]);
    assert_eq!(again.order("payOrder"), first.order("payOrder"));
    assert_eq!(charges_of(&app, &order).await.len(), 1, "one charge");
    // Without the key the same retry is refused: the order is paid already.
    let unkeyed = buyer.pay_gql(&order, "tok_success", Value::Null).await;
    assert!(unkeyed.replayed().is_empty());
    unkeyed.refused(409, "ALREADY_PAID");
}

#[tokio::test]
async fn a_declined_graphql_payment_is_stored_and_replayed_as_the_same_error() {
    let app = App::spawn().await;
    let (order, buyer) = pending_order(&app).await;
    let key = gql_key();

    let first = buyer.pay_gql(&order, "tok_decline", key.clone()).await;
    let declined = first.refused(402, "PAYMENT_DECLINED").clone();
    let attempts = app.provider_charges().await.len();
    let again = buyer.pay_gql(&order, "tok_decline", key.clone()).await;

    assert_eq!(again.replayed(), ["payOrder"]);
    assert_eq!(again.refused(402, "PAYMENT_DECLINED"), &declined);
    assert_eq!(
        again.body["errors"][0]["message"],
        first.body["errors"][0]["message"]
    );
    assert_eq!(declined["fields"][0]["field"], "cardToken");
    assert_eq!(
        app.provider_charges().await.len(),
        attempts,
        "the replay asked the provider nothing"
    );
    // Another card with the same key is another request.
    buyer
        .pay_gql(&order, "tok_success", key)
        .await
        .refused(422, KEY_REUSED);
    let status = app.order(buyer.token(), &order).await["status"].clone();
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn a_key_used_on_rest_or_with_other_arguments_is_reused_on_graphql_and_runs_nothing() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let (rest_key, rest_header) = new_key();
    buyer
        .place(&[&rest_header], &order_body(&product, 1))
        .await
        .expect(201);

    // The same order, the same key, the other API: another request.
    let across = buyer.place_gql(&product, 1, Value::String(rest_key)).await;
    let error = across.refused(422, KEY_REUSED);
    assert_eq!(error["fields"][0]["field"], "idempotencyKey");

    let (gql_key_text, gql_header) = new_key();
    let key = Value::String(gql_key_text);
    let placed = buyer.place_gql(&product, 1, key.clone()).await;
    let order = placed.order("placeOrder")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    buyer
        .place_gql(&product, 3, key.clone())
        .await
        .refused(422, KEY_REUSED);
    buyer
        .pay_gql(&order, "tok_success", key.clone())
        .await
        .refused(422, KEY_REUSED);
    // And the GraphQL key on REST.
    let on_rest = buyer
        .place(&[&gql_header], &order_body(&product, 1))
        .await
        .expect_error(422, KEY_REUSED);
    assert_eq!(
        on_rest.body["error"]["fields"][0]["field"],
        idempotency::HEADER
    );

    assert_eq!(buyer.orders().await, 2);
    assert_eq!(stock_of(&app, &product).await, 8);
    assert!(charges_of(&app, &order).await.is_empty(), "nothing paid");
}

#[tokio::test]
async fn a_running_graphql_key_is_409_with_retry_after_and_concurrent_payments_charge_once() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let key = uuid::Uuid::new_v4().to_string();
    // The arguments as step 2 hands them over: a request running on another instance.
    let arguments = json!({ "items": [{ "productId": product, "quantity": 1 }] });
    let fingerprint = idempotency::mutation_fingerprint("placeOrder", &arguments);
    running_key(&app, &buyer.user_id().await, &key, &fingerprint, 60).await;

    let waiting = buyer.place_gql(&product, 1, Value::String(key)).await;
    let error = waiting.refused(409, KEY_IN_USE);
    assert_eq!(error["retryAfter"], 1);
    assert_eq!(buyer.orders().await, 0, "nothing ran");

    let (order, payer) = pending_order(&app).await;
    app.payments.set_latency(Duration::from_millis(400));
    let key = gql_key();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        tasks.spawn(graphql(
            app.http.clone(),
            app.url("/graphql"),
            payer.token.clone(),
            PAY.to_owned(),
            json!({ "order": order, "card": "tok_success", "key": key }),
        ));
    }
    let (mut ran, mut in_use) = (0, 0);
    for answer in tasks.join_all().await {
        if answer.code() == KEY_IN_USE {
            assert_eq!(answer.error()["retryAfter"], 1);
            in_use += 1;
        } else if answer.replayed().is_empty() {
            assert_eq!(answer.order("payOrder")["status"], "paid");
            ran += 1;
        }
    }
    ran_once_and_charged_once(&app, &order, ran, in_use).await;
}

#[tokio::test]
async fn a_graphql_payment_cut_off_by_the_request_timeout_runs_on_and_its_retry_gets_its_answer() {
    let app = App::spawn_with(|config| config.server.request_timeout_ms = 500).await;
    let (order, buyer) = pending_order(&app).await;
    app.payments.set_latency(Duration::from_millis(1_200));
    let key = gql_key();

    let cut = buyer.pay_gql(&order, "tok_success", key.clone()).await;
    assert_eq!(cut.status, 503, "{}", cut.body);

    let answer = eventually(
        "the payment's answer is stored",
        Duration::from_secs(10),
        || async {
            let answer = buyer.pay_gql(&order, "tok_success", key.clone()).await;
            (answer.code() != KEY_IN_USE).then_some(answer)
        },
    )
    .await;
    assert_eq!(
        answer.replayed(),
        ["payOrder"],
        "the retry got the stored answer"
    );
    assert_eq!(answer.order("payOrder")["status"], "paid");
    assert_eq!(charges_of(&app, &order).await.len(), 1);
}

#[tokio::test]
async fn the_same_graphql_key_from_two_users_is_two_independent_keys() {
    let app = App::spawn().await;
    let (product, ann) = shop(&app).await;
    let bob = Buyer::new(&app).await;
    let key = gql_key();

    let anns = ann.place_gql(&product, 1, key.clone()).await;
    let bobs = bob.place_gql(&product, 1, key.clone()).await;

    assert!(bobs.replayed().is_empty(), "Bob's request ran");
    assert_ne!(
        bobs.order("placeOrder")["id"],
        anns.order("placeOrder")["id"]
    );
    for (who, buyer, first) in [("Ann", &ann, &anns), ("Bob", &bob, &bobs)] {
        let again = buyer.place_gql(&product, 1, key.clone()).await;
        assert_eq!(
            again.replayed(),
            ["placeOrder"],
            "{who}'s retry is a replay"
        );
        assert_eq!(
            again.order("placeOrder"),
            first.order("placeOrder"),
            "{who}'s retry is {who}'s order"
        );
        assert_eq!(buyer.orders().await, 1, "{who}'s orders");
    }
}

#[tokio::test]
async fn malformed_graphql_keys_are_400_naming_the_argument_and_change_nothing() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let bad = [
        ("an empty key", String::new()),
        ("256 characters", "k".repeat(idempotency::MAX_KEY_LEN + 1)),
        ("a tab", "a\tb".to_owned()),
        ("a NUL", "a\0b".to_owned()),
        ("a line feed", "a\nb".to_owned()),
        ("a DEL", "a\u{7f}b".to_owned()),
        ("another alphabet", "clé".to_owned()),
    ];
    for (what, key) in bad {
        let answer = buyer.place_gql(&product, 1, Value::String(key)).await;
        let error = answer.refused(400, "INVALID_PARAMETER");
        assert_eq!(error["fields"][0]["field"], "idempotencyKey", "{what}");
        assert!(answer.replayed().is_empty(), "{what}");
    }
    // Not header syntax: quotes, backslashes and spaces are a key's characters.
    let odd = Value::String(r#" "a" \b "#.to_owned());
    let placed = buyer.place_gql(&product, 1, odd.clone()).await;
    placed.order("placeOrder");
    let again = buyer.place_gql(&product, 1, odd).await;
    assert_eq!(again.replayed(), ["placeOrder"]);
    assert_eq!(
        buyer.orders().await,
        1,
        "only the well-formed key placed an order"
    );
    assert_eq!(stock_of(&app, &product).await, 9);
}

#[tokio::test]
async fn a_keyed_graphql_mutation_without_a_token_is_unauthenticated_and_places_nothing() {
    let app = App::spawn().await;
    let (product, buyer) = shop(&app).await;
    let anonymous = Buyer {
        app: &app,
        token: None,
    };
    for key in [gql_key(), Value::String(String::new())] {
        let answer = anonymous.place_gql(&product, 1, key).await;
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{}", answer.body);
    }
    assert_eq!(buyer.orders().await, 0);
    assert_eq!(stock_of(&app, &product).await, 10);
}

/// The mutations' arguments as introspection shows them, by mutation.
async fn mutation_arguments(app_url: String, http: &reqwest::Client) -> Value {
    let query = "{ __type(name: \"Mutation\") { fields { name args { name } } } }";
    let body: Value = http
        .post(format!("{app_url}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the request reaches the app")
        .json()
        .await
        .expect("JSON");
    let fields = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("introspection answered: {body}"));
    fields
        .iter()
        .map(|field| {
            let args: Vec<Value> = field["args"]
                .as_array()
                .map(|args| args.iter().map(|a| a["name"].clone()).collect())
                .unwrap_or_default();
            (
                field["name"].as_str().unwrap_or_default().to_owned(),
                Value::Array(args),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test]
async fn the_argument_shows_in_step_6_and_step_5_neither_shows_nor_silently_ignores_it() {
    use common::config::Environment;
    let six = App::spawn_with(|c| c.environment = Environment::Development).await;
    let five = testkit::TestApp::<step05_hybrid_dbs::AppState>::spawn_with(|c| {
        c.environment = Environment::Development;
    })
    .await;

    let shown = mutation_arguments(six.url(""), &six.http).await;
    assert_eq!(shown["placeOrder"], json!(["items", "idempotencyKey"]));
    assert_eq!(
        shown["payOrder"],
        json!(["orderId", "cardToken", "idempotencyKey"])
    );
    let before = mutation_arguments(five.url(""), &five.http).await;
    assert_eq!(before["placeOrder"], json!(["items"]));
    assert_eq!(before["payOrder"], json!(["orderId", "cardToken"]));

    // Step 5 still accepts the argument (visibility is introspection's alone) and refuses it:
    // a client that believes its retry is safe learns it is not.
    let (_, admin) = five.admin().await;
    let product = five.create_product(&admin, json!({ "stock": 5 })).await;
    let (_, token) = five.customer().await;
    let answer: Value = five
        .http
        .post(five.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({
            "query": PLACE,
            "variables": {
                "items": [{ "productId": product["id"], "quantity": 1 }],
                "key": "k-1",
            },
        }))
        .send()
        .await
        .expect("the request reaches the app")
        .json()
        .await
        .expect("JSON");
    let error = &answer["errors"][0]["extensions"];
    assert_eq!(error["code"], "INVALID_PARAMETER", "{answer}");
    assert_eq!(error["status"], 400);
    assert_eq!(error["fields"][0]["field"], "idempotencyKey");
    let orders = testkit::expect_status(five.get(ORDERS, Some(&token)).await, 200).await;
    assert_eq!(orders["total"], 0, "step 5 placed nothing");
}

#[tokio::test]
async fn the_served_document_describes_the_key_on_placing_and_paying() {
    let app = App::spawn().await;
    let doc = testkit::expect_status(app.get("/api-docs/openapi.json", None).await, 200).await;
    for (path, success) in [(ORDERS, "201"), ("/api/v1/orders/{id}/pay", "200")] {
        let operation = &doc["paths"][path]["post"];
        let parameter = operation["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == idempotency::HEADER))
            .unwrap_or_else(|| panic!("{path}: no {} parameter", idempotency::HEADER));
        assert_eq!(parameter["in"], "header", "{path}");
        assert_eq!(parameter["required"], false, "{path}");
        assert_eq!(parameter["schema"]["type"], "string", "{path}");
        let described = parameter["description"].as_str().unwrap_or_default();
        assert!(
            described.contains("idempotency.ttl_secs"),
            "{path}: {described}"
        );
        let responses = &operation["responses"];
        for (status, code) in [
            ("400", "INVALID_PARAMETER"),
            ("409", KEY_IN_USE),
            ("422", KEY_REUSED),
        ] {
            let said = responses[status]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(said.contains(code), "{path} {status}: {said}");
            assert!(
                responses[status]["content"]["application/json"].is_object(),
                "{path} {status}: the error body"
            );
        }
        assert!(
            responses["409"]["headers"]["Retry-After"].is_object(),
            "{path}: 409's Retry-After"
        );
        assert!(
            responses[success]["headers"][idempotency::REPLAYED].is_object(),
            "{path}: {success}'s {}",
            idempotency::REPLAYED
        );
        assert!(
            responses[success]["content"]["application/json"].is_object(),
            "{path}: {success} keeps its body"
        );
        // Step 2's layer-given responses stay.
        assert!(
            responses["429"].is_object() && responses["503"].is_object(),
            "{path}"
        );
    }
    let other = &doc["paths"]["/api/v1/orders/{id}/ship"]["post"];
    assert!(
        !other.to_string().contains(idempotency::HEADER),
        "only the guarded operations take the key"
    );
}

//! Hostile `Idempotency-Key` headers on placing and paying orders. A key that is not one (control
//! characters, NUL, CR or LF, 10,000 characters, empty, a list) is refused before anything
//! runs: 400 `INVALID_PARAMETER` naming `Idempotency-Key`, or the HTTP server's own 400 for
//! bytes HTTP forbids in a header. A key used for one request and sent with another (another
//! route, another body) is 422 `IDEMPOTENCY_KEY_REUSED`, and the other request does not run.
//! Another customer's key is a key of their own: it replays nothing of the first customer.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{API, Reply};
use crate::fixtures::{self, Customer};
use crate::model::{Order, Page, Product};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        keys_with_control_characters_nul_cr_or_lf_are_400_and_place_nothing,
        a_key_of_ten_thousand_characters_is_refused_and_places_nothing,
        an_empty_key_is_400_and_places_nothing,
        a_list_of_two_keys_is_400_and_places_nothing,
        one_key_on_two_routes_is_422_and_the_second_request_does_not_run,
        one_key_reused_with_another_body_is_422_and_places_nothing_more,
        another_customers_key_replays_nothing_of_the_first_customer,
    ]
}

pub(super) const HEADER: &str = "Idempotency-Key";
const ORDERS: &str = "/api/v1/orders";

/// How long a raw exchange may take.
const ANSWERED_WITHIN: Duration = Duration::from_secs(30);

/// A customer and a product of their own (stock 5) to order.
pub(super) struct Fixture {
    pub(super) customer: Customer,
    pub(super) product: Product,
}

impl Fixture {
    pub(super) async fn new(t: &Target) -> Result<Self> {
        let (admin, customer) = fixtures::admin_and_customer(t).await?;
        let product = fixtures::product(&admin, 2500, 5).await?;
        Ok(Self { customer, product })
    }

    pub(super) fn order_body(&self, quantity: i64) -> Value {
        fixtures::order_body(&[(&self.product.id, quantity)])
    }

    async fn place(&self, keys: &[&[u8]], quantity: i64) -> Result<Reply> {
        let headers: Vec<(&str, &[u8])> = keys.iter().map(|key| (HEADER, *key)).collect();
        self.customer
            .api
            .post_with_headers(ORDERS, &headers, &self.order_body(quantity))
            .await
    }

    /// [`Fixture::place`] with one key, which must place the order.
    pub(super) async fn placed(&self, key: &str, quantity: i64, what: &str) -> Result<Order> {
        self.place(&[key.as_bytes()], quantity)
            .await?
            .expect_json(201)
            .with_context(|| what.to_owned())
    }

    /// Fails unless the customer has `orders` orders and the product `stock` units.
    pub(super) async fn holds(&self, orders: i64, stock: i64, what: &str) -> Result<()> {
        let page: Page<Order> = self
            .customer
            .api
            .list_orders("")
            .await?
            .expect_json(200)
            .context("listing the customer's orders")?;
        check::eq(
            &format!("{what}: the customer's orders"),
            page.total,
            orders,
        )?;
        let left = fixtures::stock_of(&self.customer.api, &self.product.id).await?;
        check::eq(&format!("{what}: the product's stock"), left, stock)
    }
}

/// A fresh key, quoted as the draft has it.
pub(super) fn new_key() -> String {
    format!("\"{}\"", fixtures::unique_suffix())
}

/// 400 `INVALID_PARAMETER` naming the header.
fn expect_key_refused(reply: Reply, what: &str) -> Result<()> {
    let error = reply
        .expect_error(400, "INVALID_PARAMETER")
        .with_context(|| what.to_owned())?;
    check::that(error.names_field(HEADER), || {
        format!("{what}: expected the refusal to name {HEADER}, got {error:?}")
    })
}

async fn keys_with_control_characters_nul_cr_or_lf_are_400_and_place_nothing(
    t: Target,
) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let token = fixture.customer.api.token().context("a token")?.to_owned();
    let body = fixture.order_body(1).to_string();
    // Bytes a client library refuses to put in a header: over raw TCP.
    let raw: [(&str, &[u8]); 8] = [
        ("a NUL", b"\"a\x00b\""),
        ("a SOH", b"\"a\x01b\""),
        ("an ESC", b"\"a\x1bb\""),
        ("a DEL", b"\"a\x7fb\""),
        ("a bare CR", b"\"a\rb\""),
        ("a bare LF", b"\"a\nb\""),
        ("a folded line (CR LF SP)", b"\"a\r\n b\""),
        (
            "a second key smuggled by CR LF",
            b"\"a\"\r\nIdempotency-Key: \"b\"",
        ),
    ];
    for (what, key) in raw {
        let status = raw_post(&t, &token, ORDERS, key, body.as_bytes()).await?;
        check::that(status == 400, || {
            format!("a key with {what} over raw TCP: expected 400, got {status}")
        })?;
    }
    // What a client library does send: a tab, and bytes of another alphabet.
    for (what, key) in [
        ("a tab", "\"a\tb\"".as_bytes()),
        ("UTF-8", "\"clé\"".as_bytes()),
        ("Latin-1", b"\"cl\xe9\"".as_slice()),
    ] {
        expect_key_refused(
            fixture.place(&[key], 1).await?,
            &format!("a key with {what}"),
        )?;
    }
    fixture
        .holds(0, 5, "after keys with control characters")
        .await
}

async fn a_key_of_ten_thousand_characters_is_refused_and_places_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for key in [
        format!("\"{}\"", "k".repeat(10_000)),
        "k".repeat(10_000),
        format!("\"{}\"", "k".repeat(256)),
    ] {
        let what = format!("a key of {} characters", key.trim_matches('"').len());
        let reply = fixture.place(&[key.as_bytes()], 1).await?;
        // A proxy in front may refuse so long a header itself, in its own words.
        if reply.is_json() || reply.status.as_u16() != 431 {
            expect_key_refused(reply, &what)?;
        }
    }
    fixture.holds(0, 5, "after keys too long").await
}

async fn an_empty_key_is_400_and_places_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    for (what, key) in [
        ("an empty value", b"".as_slice()),
        ("an empty string", b"\"\""),
        ("white space", b"   "),
    ] {
        expect_key_refused(fixture.place(&[key], 1).await?, what)?;
    }
    fixture.holds(0, 5, "after empty keys").await
}

async fn a_list_of_two_keys_is_400_and_places_nothing(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let lists: [(&str, Vec<&[u8]>); 3] = [
        ("a list in one header", vec![b"\"a\", \"b\""]),
        ("a bare list", vec![b"a,b"]),
        ("two headers", vec![b"\"a\"", b"\"b\""]),
    ];
    for (what, keys) in lists {
        expect_key_refused(fixture.place(&keys, 1).await?, what)?;
    }
    fixture.holds(0, 5, "after lists of keys").await
}

async fn one_key_on_two_routes_is_422_and_the_second_request_does_not_run(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let key = new_key();
    let order = fixture
        .placed(&key, 1, "placing an order with a key")
        .await?;
    let body = serde_json::json!({ "card_token": "tok_success" });
    fixture
        .customer
        .api
        .post_with_headers(
            &format!("{API}/orders/{}/pay", order.id),
            &[(HEADER, key.as_bytes())],
            &body,
        )
        .await?
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED")
        .context("paying with the key the order was placed with")?;
    let now = fixtures::get_order(&fixture.customer.api, &order.id).await?;
    check::eq("the order after the refused payment", now.status, "pending")?;
    fixture.holds(1, 4, "after one key on two routes").await
}

async fn one_key_reused_with_another_body_is_422_and_places_nothing_more(t: Target) -> Result<()> {
    let fixture = Fixture::new(&t).await?;
    let key = new_key();
    let first = fixture
        .placed(&key, 1, "placing an order with a key")
        .await?;
    fixture
        .place(&[key.as_bytes()], 2)
        .await?
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED")
        .context("the same key with another quantity")?;
    let again = fixture
        .placed(&key, 1, "the same key with the first body again")
        .await?;
    check::eq("the first body again: the order", &again.id, &first.id)?;
    fixture.holds(1, 4, "after one key with two bodies").await
}

async fn another_customers_key_replays_nothing_of_the_first_customer(t: Target) -> Result<()> {
    let ann = Fixture::new(&t).await?;
    let bob = fixtures::customer(&t).await?;
    let key = new_key();
    let anns = ann
        .placed(&key, 1, "Ann places an order with a key")
        .await?;
    let reply = bob
        .api
        .post_with_headers(ORDERS, &[(HEADER, key.as_bytes())], &ann.order_body(1))
        .await?;
    let text = reply.describe();
    let bobs: Order = reply
        .expect_json(201)
        .context("Bob places an order with Ann's key")?;
    check::that(bobs.id != anns.id && bobs.user_id == bob.user.id, || {
        format!("Bob with Ann's key: expected an order of Bob's own, got {text}")
    })?;
    check::that(!text.contains(&ann.customer.user.id), || {
        format!("Bob with Ann's key: nothing of Ann in the answer, got {text}")
    })?;
    ann.holds(1, 3, "Ann, after Bob used her key").await
}

/// POSTs `body` to `path` over a connection of its own with `key` as the header's bytes,
/// exactly as given; the answer's status. The connection is closed after one exchange.
async fn raw_post(t: &Target, token: &str, path: &str, key: &[u8], body: &[u8]) -> Result<u16> {
    let url = reqwest::Url::parse(&t.base_url).context("the base URL")?;
    if url.scheme() != "http" {
        bail!(
            "raw header cases speak plain HTTP; the base URL is {}",
            t.base_url
        );
    }
    let host = url.host_str().context("a base URL with a host")?;
    let addr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\
         {HEADER}: ",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(key);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = TcpStream::connect(&addr).await?;
        stream.write_all(&request).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(ANSWERED_WITHIN, exchange)
        .await
        .context("no answer in time")?
        .with_context(|| format!("POST {path} over raw TCP to {addr}"))?;
    let status_line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    let status = std::str::from_utf8(status_line)
        .ok()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    status.with_context(|| {
        format!(
            "POST {path} over raw TCP: expected a status line, got {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        )
    })
}

//! Test data that keeps cases independent: unique emails and SKUs (so concurrent cases never
//! collide on a unique index), a freshly registered customer per case, the target's admin,
//! and valid request bodies that a case changes one field at a time.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Target;
use crate::client::Api;
use crate::model::{Order, Product, Registered, User};

/// Long enough for every step's password policy (step 0 asks for 8 characters).
pub const PASSWORD: &str = "correct-horse-battery-9";

/// A product id that is well formed but, with overwhelming likelihood, names nothing.
pub const UNKNOWN_ID: &str = "0000000000000000000000ff";

pub fn unique_suffix() -> String {
    Uuid::new_v4().simple().to_string()
}

/// `c-<uuid>@example.test`: `.test` is reserved, so no mail can ever go anywhere.
pub fn unique_email() -> String {
    format!("c-{}@example.test", unique_suffix())
}

/// Lowercase on purpose: the server stores SKUs uppercased, and cases check that it does.
pub fn unique_sku() -> String {
    format!("ct-{}", unique_suffix())
}

/// A customer registered for one case.
#[derive(Clone, Debug)]
pub struct Customer {
    /// Signed in as this customer.
    pub api: Api,
    pub user: User,
    pub email: String,
    pub password: String,
}

/// Registers a new customer with a unique email.
pub async fn customer(target: &Target) -> Result<Customer> {
    customer_named(target, "Contract Customer").await
}

pub async fn customer_named(target: &Target, name: &str) -> Result<Customer> {
    let api = Api::new(&target.base_url);
    let email = unique_email();
    let registered: Registered = api
        .register(&email, PASSWORD, name)
        .await?
        .expect_json(201)
        .context("registering a fresh customer")?;
    Ok(Customer {
        api: api.with_token(registered.token),
        user: registered.user,
        email,
        password: PASSWORD.to_owned(),
    })
}

/// A client signed in as the target's admin.
pub async fn admin(target: &Target) -> Result<Api> {
    let api = Api::new(&target.base_url);
    let token = api
        .admin_token(&target.admin_email, &target.admin_password)
        .await?;
    Ok(api.with_token(token))
}

/// The admin and a fresh customer, signed in concurrently (both hash a password).
pub async fn admin_and_customer(target: &Target) -> Result<(Api, Customer)> {
    futures::try_join!(admin(target), customer(target))
}

/// A valid create/update body with a unique SKU; change fields with [`with`].
pub fn product_body(price_minor: i64, stock: i64) -> Value {
    json!({
        "sku": unique_sku(),
        "name": "Contract Test Mug",
        "description": "A mug that exists only for the contract suite.",
        "price_minor": price_minor,
        "currency": "EUR",
        "stock": stock,
        "category": "kitchen",
        "tags": ["mug", "contract"],
    })
}

/// `body` with `key` set to `value`; to drop a key use [`without`].
pub fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[key] = value;
    body
}

/// `body` without `key`.
pub fn without(body: &Value, key: &str) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove(key);
    }
    body
}

pub async fn create_product(admin: &Api, body: &Value) -> Result<Product> {
    admin
        .create_product(body)
        .await?
        .expect_json(201)
        .context("creating a product as admin")
}

/// A fresh EUR product with this price and stock.
pub async fn product(admin: &Api, price_minor: i64, stock: i64) -> Result<Product> {
    create_product(admin, &product_body(price_minor, stock)).await
}

pub async fn get_product(api: &Api, id: &str) -> Result<Product> {
    api.get_product(id)
        .await?
        .expect_json(200)
        .with_context(|| format!("reading product {id}"))
}

pub async fn stock_of(api: &Api, product_id: &str) -> Result<i64> {
    Ok(get_product(api, product_id).await?.stock)
}

/// `{"items": [{"product_id", "quantity"}, ...]}`.
pub fn order_body(items: &[(&str, i64)]) -> Value {
    json!({
        "items": items
            .iter()
            .map(|(product_id, quantity)| json!({ "product_id": product_id, "quantity": quantity }))
            .collect::<Vec<_>>(),
    })
}

pub async fn place_order(api: &Api, items: &[(&str, i64)]) -> Result<Order> {
    api.place_order(&order_body(items))
        .await?
        .expect_json(201)
        .context("placing an order")
}

pub async fn get_order(api: &Api, id: &str) -> Result<Order> {
    api.get_order(id)
        .await?
        .expect_json(200)
        .with_context(|| format!("reading order {id}"))
}

pub async fn pay(api: &Api, order_id: &str) -> Result<Order> {
    api.pay_order(order_id, "tok_success")
        .await?
        .expect_json(200)
        .with_context(|| format!("paying order {order_id} with tok_success"))
}

/// A customer's order for one unit of a fresh product (price 2500, stock 5).
pub async fn pending_order(admin: &Api, customer: &Customer) -> Result<(Product, Order)> {
    let product = product(admin, 2500, 5).await?;
    let order = place_order(&customer.api, &[(&product.id, 1)]).await?;
    Ok((product, order))
}

/// Like [`pending_order`], then paid with `tok_success`.
pub async fn paid_order(admin: &Api, customer: &Customer) -> Result<(Product, Order)> {
    let (product, order) = pending_order(admin, customer).await?;
    let order = pay(&customer.api, &order.id).await?;
    Ok((product, order))
}

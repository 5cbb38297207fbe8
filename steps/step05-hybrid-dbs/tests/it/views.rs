//! Order views: orders from PostgreSQL with their products as MongoDB has them now. A page of
//! orders reads its products in one catalog call whatever the number of orders and items
//! (counted at MongoDB, beneath step 3's cache: products the cache holds cost none); a
//! renamed product shows
//! its new name beside the name the order recorded; a deleted one is `null`; someone else's
//! order is a 404, and bad parameters are 400s.

use std::sync::Arc;

use serde_json::{Value, json};
use testkit::counting::{Calls, CountedProducts};
use testkit::expect_status;

use crate::support::App;

async fn spawn_counted() -> (App, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let counter = calls.clone();
    let app = App::builder()
        .parts(move |parts| {
            parts.stores.products =
                Arc::new(CountedProducts(parts.stores.products.clone(), counter));
            Ok(())
        })
        .spawn()
        .await;
    (app, calls)
}

fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

/// Renames `product` through the admin API (which also drops it from the cache).
async fn rename(app: &App, admin: &str, product: &Value, name: &str) {
    let put = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/products/{}", id(product)),
            Some(admin),
            Some(json!({
                "sku": product["sku"], "name": name, "description": "",
                "price_minor": product["price_minor"], "currency": product["currency"],
                "stock": 50, "category": product["category"], "tags": []
            })),
        )
        .await;
    expect_status(put, 200).await;
}

#[tokio::test]
async fn a_page_of_order_views_reads_its_products_in_one_catalog_call() {
    let (app, calls) = spawn_counted().await;
    let (_, admin) = app.admin().await;
    let (_, token) = app.customer().await;
    let mut products = Vec::new();
    for i in 0..6 {
        let name = format!("Lamp {i}");
        products.push(app.create_product(&admin, json!({ "name": name })).await);
    }
    // Four orders of three items each: twelve items over six products.
    for k in 0..4 {
        let items: Vec<Value> = (0..3)
            .map(|j| json!({ "product_id": id(&products[(k + j) % 6]), "quantity": 1 }))
            .collect();
        expect_status(app.place_order(&token, json!(items)).await, 201).await;
    }
    let renamed = id(&products[0]);
    rename(&app, &admin, &products[0], "Lamp, renamed").await;
    let deleted = id(&products[1]);
    let delete = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/products/{deleted}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(delete.status(), 204);

    calls.reset();
    let page = expect_status(
        app.get("/api/v2/order-views?limit=10", Some(&token)).await,
        200,
    )
    .await;
    assert_eq!(calls.products(), 1, "one batched catalog read for the page");
    assert_eq!(page["total"], 4);
    let orders = page["items"].as_array().unwrap();
    assert_eq!(orders.len(), 4);
    let mut seen = 0;
    for order in orders {
        for item in order["items"].as_array().unwrap() {
            seen += 1;
            let product = item["product_id"].as_str().unwrap();
            if product == renamed {
                assert_eq!(item["name"], "Lamp 0", "what was bought: {item}");
                assert_eq!(item["product"]["name"], "Lamp, renamed", "{item}");
                assert_eq!(item["product"]["available"], true);
            } else if product == deleted {
                assert_eq!(item["name"], "Lamp 1");
                assert_eq!(item["product"], Value::Null, "{item}");
            } else {
                assert_eq!(item["product"]["name"], item["name"], "{item}");
                assert!(item["product"]["price"]["amount"].is_i64(), "{item}");
            }
            assert!(item["unit_price"]["amount"].is_i64(), "the v2 item: {item}");
        }
    }
    assert_eq!(seen, 12);

    // One order's view. The page's read left its products in step 3's cache, so it costs no
    // MongoDB call; with one of them changed since (and so dropped from the cache), one call.
    let newest = &orders[0];
    let first = newest["id"].as_str().unwrap();
    let path = format!("/api/v2/order-views/{first}");
    calls.reset();
    let one = expect_status(app.get(&path, Some(&token)).await, 200).await;
    assert_eq!(calls.products(), 0, "every product from the cache");
    assert_eq!(&one, newest, "the same view as in the page");
    let item = newest["items"][0]["product_id"].as_str().unwrap();
    let changed = products.iter().find(|p| id(p) == item).unwrap();
    rename(&app, &admin, changed, "Lamp, changed").await;
    calls.reset();
    let one = expect_status(app.get(&path, Some(&token)).await, 200).await;
    assert_eq!(calls.products(), 1, "the changed product in one read");
    assert_eq!(one["items"][0]["product"]["name"], "Lamp, changed");
}

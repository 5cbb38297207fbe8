//! Orders under pressure: concurrent buyers of scarce stock, all-or-nothing stock taking,
//! prices captured at order time.

use serde_json::json;
use testkit::{expect_error, expect_status, spawn_app};

#[tokio::test]
async fn concurrent_orders_never_oversell_and_never_drive_stock_negative() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({"stock": 7})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let mut buyers = Vec::new();
    for _ in 0..6 {
        buyers.push(app.customer().await.1);
    }

    // 6 buyers x 3 concurrent orders of 1 unit = 18 attempts for 7 units.
    let attempts = buyers.iter().flat_map(|token| {
        (0..3).map(|_| app.place_order(token, json!([{ "product_id": id, "quantity": 1 }])))
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.product(&id).await["stock"], 0);
}

#[tokio::test]
async fn a_short_line_takes_no_stock_from_the_other_lines() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let plenty = app.create_product(&admin, json!({"stock": 50})).await;
    let scarce = app.create_product(&admin, json!({"stock": 1})).await;
    let (_, token) = app.customer().await;

    let response = app
        .place_order(
            &token,
            json!([
                { "product_id": plenty["id"], "quantity": 5 },
                { "product_id": scarce["id"], "quantity": 2 },
            ]),
        )
        .await;
    let body = expect_error(response, 409, "OUT_OF_STOCK").await;
    assert_eq!(body["error"]["fields"][0]["field"], "items[1].quantity");

    assert_eq!(
        app.product(plenty["id"].as_str().unwrap()).await["stock"],
        50
    );
    assert_eq!(
        app.product(scarce["id"].as_str().unwrap()).await["stock"],
        1
    );
}

#[tokio::test]
async fn an_order_keeps_the_prices_it_was_placed_at_and_totals_server_side() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let a = app
        .create_product(&admin, json!({"price_minor": 1999}))
        .await;
    let b = app
        .create_product(&admin, json!({"price_minor": 250}))
        .await;
    let (_, token) = app.customer().await;

    let order = expect_status(
        app.post(
            "/api/v1/orders",
            Some(&token),
            json!({"items": [
                {"product_id": a["id"], "quantity": 2},
                {"product_id": b["id"], "quantity": 3},
            ], "total_minor": 1}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(order["total_minor"], 2 * 1999 + 3 * 250);
    assert_eq!(order["items"][0]["line_total_minor"], 3998);

    let mut changed = a.clone();
    changed["price_minor"] = json!(9999);
    for key in [
        "id",
        "rating_average",
        "rating_count",
        "created_at",
        "updated_at",
    ] {
        changed.as_object_mut().unwrap().remove(key);
    }
    let path = format!("/api/v1/products/{}", a["id"].as_str().unwrap());
    expect_status(
        app.request(reqwest::Method::PUT, &path, Some(&admin), Some(changed))
            .await,
        200,
    )
    .await;

    let again = expect_status(
        app.get(
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            Some(&token),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["items"][0]["unit_price_minor"], 1999);
    assert_eq!(again["total_minor"], order["total_minor"]);
}

#[tokio::test]
async fn cancelling_returns_the_stock_and_refunds_a_paid_order_at_the_provider() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({"stock": 5})).await;
    let id = product["id"].as_str().unwrap();
    let (_, token) = app.customer().await;
    let order = expect_status(
        app.place_order(&token, json!([{ "product_id": id, "quantity": 3 }]))
            .await,
        201,
    )
    .await;
    let order_id = order["id"].as_str().unwrap();
    let paid = expect_status(app.pay_order(&token, order_id, "tok_success").await, 200).await;
    assert_eq!(app.product(id).await["stock"], 2);

    let cancelled = expect_status(app.cancel_order(&admin, order_id).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.product(id).await["stock"], 5);

    let charge_id = paid["payment"]["provider_reference"].as_str().unwrap();
    let charge = app.provider_charge(charge_id).await;
    assert_eq!(charge["amount_refunded"], paid["total_minor"]);
}

async fn paid_order(app: &testkit::TestApp, admin: &str, stock: i64) -> (String, String, String) {
    let placed = app.place_new_order(admin, json!({"stock": stock}), 2).await;
    expect_status(
        app.pay_order(&placed.token, &placed.id, "tok_success")
            .await,
        200,
    )
    .await;
    (placed.product_id, placed.id, placed.token)
}

async fn refunded_at_provider(app: &testkit::TestApp, admin: &str, order_id: &str) -> i64 {
    let path = format!("/api/v1/orders/{order_id}");
    let order = expect_status(app.get(&path, Some(admin)).await, 200).await;
    let charge = order["payment"]["provider_reference"].as_str().unwrap();
    app.provider_charge(charge).await["amount_refunded"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_refund_the_provider_cannot_make_leaves_the_order_paid_and_the_stock_taken() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (product, order_id, _) = paid_order(&app, &admin, 5).await;

    app.payments.set_failure_rate(1.0);
    let cancel = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await;
    expect_error(cancel, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    app.payments.set_failure_rate(0.0);

    let order = app.order(&admin, &order_id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payment"]["status"], "succeeded");
    assert_eq!(app.product(&product).await["stock"], 3);
    assert_eq!(refunded_at_provider(&app, &admin, &order_id).await, 0);

    let cancelled = expect_status(app.cancel_order(&admin, &order_id).await, 200).await;
    assert_eq!(cancelled["payment"]["status"], "refunded");
    assert_eq!(app.product(&product).await["stock"], 5);
}

#[tokio::test]
async fn shipping_and_cancelling_at_once_never_ship_a_refunded_order() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    for _ in 0..5 {
        let (product, order_id, _) = paid_order(&app, &admin, 5).await;
        let (ship_path, cancel_path) = (
            format!("/api/v1/orders/{order_id}/ship"),
            format!("/api/v1/orders/{order_id}/cancel"),
        );
        let ship = app.post(&ship_path, Some(&admin), json!({}));
        let cancel = app.post(&cancel_path, Some(&admin), json!({}));
        let (ship, cancel) = tokio::join!(ship, cancel);
        let statuses = (ship.status().as_u16(), cancel.status().as_u16());
        assert!(
            statuses == (200, 409) || statuses == (409, 200),
            "{statuses:?}"
        );

        let order = app.order(&admin, &order_id).await;
        let refunded = refunded_at_provider(&app, &admin, &order_id).await;
        let stock = app.product(&product).await["stock"].as_i64().unwrap();
        match order["status"].as_str().unwrap() {
            "shipped" => assert_eq!((refunded, stock), (0, 3)),
            "cancelled" => assert_eq!(
                (refunded, stock),
                (order["total_minor"].as_i64().unwrap(), 5)
            ),
            other => panic!("unexpected status {other}"),
        }
    }
}

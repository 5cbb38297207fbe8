//! Orders under pressure: concurrent buyers of scarce stock, all-or-nothing stock taking,
//! prices captured at order time. Cancelling and refunding a paid order, when the provider
//! refunds and when it cannot, and a ship racing a cancel, are the `ordering00` contract
//! suite's: a client and the provider see all of it.

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

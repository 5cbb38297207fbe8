//! The query-driven indexes: after startup every index of the plan exists (on the stand-in,
//! without the `_id` tie-break it cannot take), a second pass creates nothing, the listing
//! still inserts and reads (the stand-in's `_id` gap would break inserts), and startup with
//! `create_indexes` off leaves step 4's indexes out (the "before" of the comparison).

use serde_json::json;
use step04_optimize::indexes::{PLAN, Server, Status, ensure, existing, same_keys};

use crate::support::App;

#[tokio::test]
async fn every_index_of_the_plan_exists_after_startup_and_a_second_pass_creates_none() {
    let app = App::spawn().await;
    let db = app.db.db();
    let server = Server::detect(&db).await.unwrap();
    for index in PLAN {
        let keys = index.keys_for(server);
        let present = existing(&db, index.collection).await.unwrap();
        assert!(
            present.iter().any(|p| same_keys(server, p, &keys)),
            "{} has an index {keys} for {:?}; it has {present:?}",
            index.collection,
            index.serves
        );
    }
    let again = ensure(&db).await.unwrap();
    assert!(
        again.iter().all(|o| o.status == Status::Existed),
        "{again:#?}"
    );
}

#[tokio::test]
async fn the_indexed_collections_still_take_inserts_and_answer_reads() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    for n in 0..3 {
        let body = json!({
            "sku": format!("IDX-{n}"), "name": format!("Indexed {n}"), "description": "d",
            "price_minor": 100 + n, "currency": "EUR", "stock": 5, "category": "books",
            "tags": ["t"],
        });
        let response = app.post("/api/v1/products", Some(&admin), body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
    let page = app
        .get_ok("/api/v2/products?category=books&sort=price&limit=2")
        .await;
    let prices: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["price"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [100, 101]);
}

#[tokio::test]
async fn with_create_indexes_off_step_4s_own_indexes_are_left_out() {
    let app = App::spawn_with(|config| config.optimize.create_indexes = false).await;
    let db = app.db.db();
    let server = Server::detect(&db).await.unwrap();
    let orders = PLAN
        .iter()
        .find(|i| i.collection == "payments" && i.step == 4)
        .unwrap();
    let present = existing(&db, orders.collection).await.unwrap();
    assert!(
        !present
            .iter()
            .any(|p| same_keys(server, p, &orders.keys_for(server))),
        "{present:?}"
    );
}

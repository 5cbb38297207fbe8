//! The stored rating average: kept on every rated product through the API, absent on unrated
//! ones, correct after concurrent reviews, withdrawn with the last rating, filled in at
//! startup for products rated before step 4, and the `-rating` sort (v1 pages and v2
//! cursors, across ties and into the unrated products) in exactly the order step 2 computes.

use std::sync::Arc;

use common::domain::{ProductId, Rating};
use common::store::ProductStore;
use common::store::mongo::MongoProducts;
use futures::future::join_all;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde_json::{Value, json};
use step04_optimize::rating::{self, RatedProducts};

use crate::support::App;

async fn review(app: &App, token: &str, product: &str, rating: i64) {
    testkit::expect_status(
        app.post(
            &format!("/api/v1/products/{product}/reviews"),
            Some(token),
            json!({ "rating": rating, "comment": "Measured." }),
        )
        .await,
        201,
    )
    .await;
}

async fn product_doc(app: &App, id: &str) -> Document {
    app.database()
        .collection::<Document>("products")
        .find_one(doc! { "_id": ObjectId::parse_str(id).unwrap() })
        .await
        .unwrap()
        .expect("the product exists")
}

/// Step 2's order: average descending (unrated as 0, last), ties by id ascending.
fn expected_order(products: &[(String, Vec<i64>)]) -> Vec<String> {
    let mut ranked: Vec<(f64, String)> = products
        .iter()
        .map(|(id, ratings)| {
            let avg = if ratings.is_empty() {
                0.0
            } else {
                ratings.iter().sum::<i64>() as f64 / ratings.len() as f64
            };
            (avg, id.clone())
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, id)| id).collect()
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_rating_sort_reads_the_stored_average_in_step_2s_order_across_pages() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    // Ties (4.5 twice, 3 twice), a single 5, and three unrated products.
    let ratings: [&[i64]; 9] = [&[4, 5], &[3], &[], &[5, 4], &[5], &[], &[2, 4], &[1], &[]];
    let mut customers = Vec::new();
    for _ in 0..2 {
        customers.push(app.customer().await.1);
    }
    let mut products = Vec::new();
    for (i, given) in ratings.iter().enumerate() {
        let product = app
            .create_product(&admin, json!({ "name": format!("Rated {i}") }))
            .await;
        let id = product["id"].as_str().unwrap().to_owned();
        for (customer, rating) in customers.iter().zip(given.iter()) {
            review(&app, customer, &id, *rating).await;
        }
        products.push((id, given.to_vec()));
    }

    for (id, given) in &products {
        let stored = product_doc(&app, id).await;
        match rating::average(given.iter().sum(), given.len() as i64) {
            Some(avg) => assert_eq!(stored.get_f64(rating::FIELD), Ok(avg), "{stored}"),
            None => assert!(!stored.contains_key(rating::FIELD), "{stored}"),
        }
    }

    let expected = expected_order(&products);
    let v1 = app.get_ok("/api/v1/products?sort=-rating&limit=100").await;
    assert_eq!(ids(&v1["items"]), expected, "v1, one page");
    let mut paged = Vec::new();
    for page in 1..=5 {
        let body = app
            .get_ok(&format!(
                "/api/v1/products?sort=-rating&limit=2&page={page}"
            ))
            .await;
        assert_eq!(body["total"], 9);
        paged.extend(ids(&body["items"]));
    }
    assert_eq!(paged, expected, "v1, pages of 2");

    let mut walked = Vec::new();
    let mut url = "/api/v2/products?sort=-rating&limit=2".to_owned();
    loop {
        let body = app.get_ok(&url).await;
        walked.extend(ids(&body["items"]));
        match body["next_cursor"].as_str() {
            Some(cursor) => url = format!("/api/v2/products?sort=-rating&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, expected, "v2, keyset cursors of 2");
}

#[tokio::test]
async fn concurrent_reviews_leave_the_average_of_the_final_sum() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let mut customers = Vec::new();
    for _ in 0..12 {
        customers.push(app.customer().await.1);
    }
    let ratings: Vec<i64> = (0..12).map(|i| i % 5 + 1).collect();
    join_all(
        customers
            .iter()
            .zip(&ratings)
            .map(|(customer, rating)| review(&app, customer, &id, *rating)),
    )
    .await;

    let stored = product_doc(&app, &id).await;
    let count = match stored.get("rating_count") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        other => panic!("rating_count is {other:?}"),
    };
    assert_eq!(count, 12, "{stored}");
    let sum: i64 = ratings.iter().sum();
    assert_eq!(
        stored.get_f64(rating::FIELD),
        Ok(sum as f64 / 12.0),
        "{stored}"
    );
}

#[tokio::test]
async fn withdrawing_the_last_rating_removes_the_average() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let db = app.database();
    let store = RatedProducts::new(Arc::new(MongoProducts::new(&db)), &db);
    let product_id = ProductId::from_object_id(ObjectId::parse_str(&id).unwrap());

    assert!(
        store
            .adjust_rating(product_id, Rating::parse(4).unwrap(), 1)
            .await
            .unwrap()
    );
    assert!(
        store
            .adjust_rating(product_id, Rating::parse(1).unwrap(), 1)
            .await
            .unwrap()
    );
    assert_eq!(product_doc(&app, &id).await.get_f64(rating::FIELD), Ok(2.5));
    store
        .adjust_rating(product_id, Rating::parse(4).unwrap(), -1)
        .await
        .unwrap();
    assert_eq!(product_doc(&app, &id).await.get_f64(rating::FIELD), Ok(1.0));
    store
        .adjust_rating(product_id, Rating::parse(1).unwrap(), -1)
        .await
        .unwrap();
    let stored = product_doc(&app, &id).await;
    assert!(
        !stored.contains_key(rating::FIELD),
        "unrated again: {stored}"
    );
}

#[tokio::test]
async fn products_rated_before_step_4_get_their_average_at_startup() {
    let first = App::spawn().await;
    let products = first.database().collection::<Document>("products");
    let rated = ObjectId::new();
    let unrated = ObjectId::new();
    for (id, sum, count) in [(rated, 7_i64, 2_i64), (unrated, 0, 0)] {
        products
            .insert_one(doc! {
                "_id": id, "sku": format!("OLD-{id}"), "name": "Rated under step 3",
                "description": "", "price_minor": 100_i64, "currency": "EUR", "stock": 1_i64,
                "category": "old", "tags": Bson::Array(vec![]),
                "rating_sum": sum, "rating_count": count,
                "created_at": mongodb::bson::DateTime::now(),
                "updated_at": mongodb::bson::DateTime::now(),
            })
            .await
            .unwrap();
    }

    // A second instance on the same database starts, and fills the field in.
    let _second = first.beside().spawn().await;
    let stored = product_doc(&first, &rated.to_hex()).await;
    assert_eq!(stored.get_f64(rating::FIELD), Ok(3.5), "{stored}");
    let stored = product_doc(&first, &unrated.to_hex()).await;
    assert!(!stored.contains_key(rating::FIELD), "{stored}");
    assert_eq!(
        rating::backfill(&first.database()).await.unwrap(),
        0,
        "a second pass has nothing to do"
    );
}

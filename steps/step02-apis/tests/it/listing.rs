//! The product listing over HTTP, against real MongoDB: every filter and sort on v1, cursor
//! paging on v2 that stays exact while products are inserted, and the 400s that name an
//! unknown or malformed parameter or a foreign cursor. v1 keeps step 0's shape and defaults
//! and now announces its deprecation.

use serde_json::{Value, json};
use testkit::{expect_error, expect_status};

use crate::support::App;

/// Creates products as an admin; each entry overrides the harness's valid default.
async fn seed(app: &App, products: &[Value]) -> Vec<Value> {
    let (_, admin) = app.admin().await;
    let mut created = Vec::new();
    for overrides in products {
        created.push(app.create_product(&admin, overrides.clone()).await);
    }
    created
}

async fn names(app: &App, path: &str) -> Vec<String> {
    let body = expect_status(app.get(path, None).await, 200).await;
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn catalog() -> Vec<Value> {
    vec![
        json!({"name": "Blue Mug", "price_minor": 900, "category": "kitchen", "tags": ["blue", "ceramic"], "stock": 5, "description": "a mug for tea"}),
        json!({"name": "Red Mug", "price_minor": 1100, "category": "kitchen", "tags": ["red", "ceramic"], "stock": 0, "description": "a mug for coffee"}),
        json!({"name": "Anvil", "price_minor": 50000, "category": "tools", "tags": ["heavy"], "stock": 2, "description": "cast iron"}),
        json!({"name": "Chisel", "price_minor": 2500, "category": "tools", "tags": ["blue", "steel"], "stock": 9, "description": "a sharp steel edge"}),
    ]
}

#[tokio::test]
async fn every_filter_narrows_the_v1_listing() {
    let app = App::spawn().await;
    seed(&app, &catalog()).await;
    let cases = [
        ("category=kitchen", vec!["Blue Mug", "Red Mug"]),
        ("min_price=1000", vec!["Red Mug", "Anvil", "Chisel"]),
        ("max_price=2500", vec!["Blue Mug", "Red Mug", "Chisel"]),
        ("min_price=1000&max_price=2500", vec!["Red Mug", "Chisel"]),
        ("tag=blue", vec!["Blue Mug", "Chisel"]),
        ("tag=blue&tag=ceramic", vec!["Blue Mug"]),
        ("in_stock=false", vec!["Red Mug"]),
        ("in_stock=true&category=kitchen", vec!["Blue Mug"]),
        ("q=steel", vec!["Chisel"]),
        ("q=mug&max_price=1000", vec!["Blue Mug"]),
        ("category=garden", vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            names(&app, &format!("/api/v1/products?{query}")).await,
            expected,
            "?{query}"
        );
    }
    let body = expect_status(app.get("/api/v1/products?tag=ceramic", None).await, 200).await;
    assert_eq!(
        body["total"], 2,
        "the total counts matches, not the catalog"
    );
}

#[tokio::test]
async fn every_sort_orders_the_listing_and_oldest_first_is_the_default() {
    let app = App::spawn().await;
    let created = seed(&app, &catalog()).await;
    // Ratings: Chisel 5, Anvil 4 and 2 (3.0), Blue Mug 1; Red Mug none.
    let rate = |index: usize, rating: i64| {
        let id = created[index]["id"].as_str().unwrap().to_owned();
        let app = &app;
        async move {
            let (_, token) = app.customer().await;
            let path = format!("/api/v1/products/{id}/reviews");
            let response = app
                .post(
                    &path,
                    Some(&token),
                    json!({"rating": rating, "comment": "ok"}),
                )
                .await;
            expect_status(response, 201).await;
        }
    };
    rate(3, 5).await;
    rate(2, 4).await;
    rate(2, 2).await;
    rate(0, 1).await;
    let cases = [
        ("", vec!["Blue Mug", "Red Mug", "Anvil", "Chisel"]),
        (
            "?sort=oldest",
            vec!["Blue Mug", "Red Mug", "Anvil", "Chisel"],
        ),
        (
            "?sort=newest",
            vec!["Chisel", "Anvil", "Red Mug", "Blue Mug"],
        ),
        (
            "?sort=price",
            vec!["Blue Mug", "Red Mug", "Chisel", "Anvil"],
        ),
        (
            "?sort=-price",
            vec!["Anvil", "Chisel", "Red Mug", "Blue Mug"],
        ),
        ("?sort=name", vec!["Anvil", "Blue Mug", "Chisel", "Red Mug"]),
        (
            "?sort=-rating",
            vec!["Chisel", "Anvil", "Blue Mug", "Red Mug"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            names(&app, &format!("/api/v1/products{query}")).await,
            expected,
            "v1 {query}"
        );
        // v2 pages by cursor through the same order, two at a time.
        let mut seen = Vec::new();
        let mut next = Some(String::new());
        let sep = if query.is_empty() { "?" } else { "&" };
        while let Some(cursor) = next {
            let cursor = if cursor.is_empty() {
                String::new()
            } else {
                format!("&cursor={cursor}")
            };
            let path = format!("/api/v2/products{query}{sep}limit=2{cursor}");
            let body = expect_status(app.get(&path, None).await, 200).await;
            for item in body["items"].as_array().unwrap() {
                seen.push(item["name"].as_str().unwrap().to_owned());
            }
            next = body["next_cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, expected, "v2 {query}");
    }
}

#[tokio::test]
async fn v1_pages_keep_step_0s_shape_defaults_and_order() {
    let app = App::spawn().await;
    let created = seed(&app, &[json!({}), json!({}), json!({})]).await;
    let response = app.get("/api/v1/products?page=2&limit=2", None).await;
    let body = expect_status(response, 200).await;
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["items", "limit", "page", "total"]);
    assert_eq!(
        (
            body["page"].clone(),
            body["limit"].clone(),
            body["total"].clone()
        ),
        (json!(2), json!(2), json!(3))
    );
    assert_eq!(body["items"][0]["id"], created[2]["id"]);
    // The item is exactly what step 0's product detail answers.
    let id = created[2]["id"].as_str().unwrap();
    assert_eq!(body["items"][0], app.product(id).await);
    let defaults = expect_status(app.get("/api/v1/products", None).await, 200).await;
    assert_eq!(
        (defaults["page"].clone(), defaults["limit"].clone()),
        (json!(1), json!(20))
    );
}

#[tokio::test]
async fn every_v1_response_carries_the_deprecation_headers() {
    let app = App::spawn().await;
    let created = seed(&app, &[json!({})]).await;
    let id = created[0]["id"].as_str().unwrap();
    for (path, successor) in [
        (
            "/api/v1/products".to_owned(),
            Some("/api/v2/products".to_owned()),
        ),
        (
            format!("/api/v1/products/{id}"),
            Some(format!("/api/v2/products/{id}")),
        ),
        (
            "/api/v1/products?colour=red".to_owned(),
            Some("/api/v2/products".to_owned()),
        ),
        ("/api/v1/auth/me".to_owned(), None),
        ("/api/v1/nowhere".to_owned(), None),
    ] {
        let response = app.get(&path, None).await;
        let headers = response.headers();
        let deprecation = headers["deprecation"].to_str().unwrap();
        assert!(
            deprecation.starts_with('@') && deprecation[1..].parse::<i64>().is_ok(),
            "{path}: {deprecation}"
        );
        assert_eq!(headers["sunset"], "Wed, 01 Dec 2027 00:00:00 GMT", "{path}");
        let link = headers.get("link").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            link,
            successor.map(|s| format!("<{s}>; rel=\"successor-version\"")),
            "{path}"
        );
    }
    let v2 = app.get("/api/v2/products", None).await;
    assert!(
        v2.headers().get("deprecation").is_none(),
        "v2 is not deprecated"
    );
    assert!(
        app.get("/health", None)
            .await
            .headers()
            .get("sunset")
            .is_none()
    );
}

#[tokio::test]
async fn the_sunset_date_comes_from_the_configuration() {
    let app = App::spawn_with(|config| {
        config.apis.rest.v1_sunset = "2028-06-30".to_owned();
    })
    .await;
    assert_eq!(app.config.apis.rest.v1_sunset, "2028-06-30");
    let response = app.get("/api/v1/products", None).await;
    assert_eq!(
        response.headers()["sunset"],
        "Fri, 30 Jun 2028 00:00:00 GMT"
    );
}

#[tokio::test]
async fn cursor_pages_neither_repeat_nor_miss_while_products_are_inserted() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let mut originals = Vec::new();
    for price in [500, 700, 700, 700, 900, 1100, 1300] {
        let p = app
            .create_product(&admin, json!({"price_minor": price}))
            .await;
        originals.push(p["id"].as_str().unwrap().to_owned());
    }
    for sort in ["oldest", "price", "-price", "newest"] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        loop {
            let after = cursor
                .as_deref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default();
            let path = format!("/api/v2/products?sort={sort}&limit=3{after}");
            let body = expect_status(app.get(&path, None).await, 200).await;
            for item in body["items"].as_array().unwrap() {
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            // Between pages, products land at both ends of every order: an offset page would
            // now shift and show an item twice.
            for price in [1, 9_999_999] {
                app.create_product(&admin, json!({"price_minor": price}))
                    .await;
                inserted += 1;
            }
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(inserted < 100, "paging must end");
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{sort}: no product twice");
        for id in &originals {
            assert!(seen.contains(id), "{sort}: product {id} was missed");
        }
    }
}

#[tokio::test]
async fn a_cursor_made_for_another_sort_or_garbage_is_a_400_naming_cursor() {
    let app = App::spawn().await;
    seed(&app, &[json!({}), json!({}), json!({})]).await;
    let body = expect_status(
        app.get("/api/v2/products?sort=price&limit=1", None).await,
        200,
    )
    .await;
    let cursor = body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let ok = app
        .get(
            &format!("/api/v2/products?sort=price&limit=1&cursor={cursor}"),
            None,
        )
        .await;
    expect_status(ok, 200).await;
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for query in [
        format!("sort=-price&cursor={cursor}"),
        format!("cursor={cursor}"),
        "sort=price&cursor=not-a-cursor".to_owned(),
        format!("sort=price&cursor={tampered}"),
        "sort=price&cursor=".to_owned(),
    ] {
        let response = app.get(&format!("/api/v2/products?{query}"), None).await;
        let problem = expect_status(response, 400).await;
        assert_eq!(problem["code"], "INVALID_PARAMETER", "?{query}");
        assert_eq!(
            problem["errors"][0]["field"], "cursor",
            "?{query}: {problem}"
        );
    }
}

#[tokio::test]
async fn unknown_and_malformed_parameters_are_a_400_naming_them() {
    let app = App::spawn().await;
    let cases = [
        ("catgory=tools", "catgory"),
        ("cursor=abc", "cursor"),
        ("min_price=cheap", "min_price"),
        ("min_price=-1", "min_price"),
        ("max_price=1.5", "max_price"),
        ("min_price=500&max_price=100", "max_price"),
        ("in_stock=yes", "in_stock"),
        ("sort=price_desc", "sort"),
        ("sort=price&sort=name", "sort"),
        ("page=0", "page"),
        ("page=two", "page"),
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("q=%20%20", "q"),
        ("tag=", "tag"),
        ("category=", "category"),
    ];
    for (query, name) in cases {
        let response = app.get(&format!("/api/v1/products?{query}"), None).await;
        let body = expect_error(response, 400, "INVALID_PARAMETER").await;
        assert_eq!(
            body["error"]["fields"][0]["field"], name,
            "v1 ?{query}: {body}"
        );
    }
    let v2 = [
        ("page=2", "page"),
        ("limit=x", "limit"),
        ("tag=a&colour=red", "colour"),
    ];
    for (query, name) in v2 {
        let response = app.get(&format!("/api/v2/products?{query}"), None).await;
        let problem = expect_status(response, 400).await;
        assert_eq!(
            problem["errors"][0]["field"], name,
            "v2 ?{query}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_restart_over_a_populated_catalog_keeps_its_indexes_and_text_search() {
    let app = App::spawn().await;
    seed(&app, &catalog()).await;

    // What the next start of the app does: the indexes exist and the collection is full.
    step02_apis::listing::ensure_indexes(&app.database())
        .await
        .expect("creating the listing's indexes again succeeds");

    assert_eq!(
        names(&app, "/api/v1/products?q=steel").await,
        ["Chisel"],
        "text search still works"
    );
}

//! `/api/v2` over HTTP: money as objects, embedded ratings, orders under v1's rules, and
//! RFC 9457 problem+json for every kind of error, including ones a layer produces.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::error::ErrorDetail;
use reqwest::Response;
use serde_json::{Value, json};
use step02_apis::rest::{RestConfig, with_versioning_layers};
use testkit::expect_status;
use tower::ServiceExt;

use crate::support::App;

/// Asserts a problem+json response and returns it.
async fn expect_problem(response: Response, status: u16, code: &str) -> Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let request_id = response.headers().get("x-request-id").cloned();
    let path = response.url().path().to_owned();
    let problem = expect_status(response, status).await;
    assert_eq!(content_type, "application/problem+json", "{problem}");
    assert_eq!(problem["status"], status);
    assert_eq!(problem["code"], code, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with(&code.to_ascii_lowercase().replace('_', "-"))
    );
    assert!(!problem["title"].as_str().unwrap().is_empty());
    assert!(!problem["detail"].as_str().unwrap().is_empty());
    assert_eq!(problem["instance"], path);
    assert!(
        problem.get("error").is_none(),
        "not v1's envelope: {problem}"
    );
    let request_id = request_id.expect("a request id header");
    assert_eq!(problem["request_id"], request_id.to_str().unwrap());
    problem
}

#[tokio::test]
async fn a_v2_product_has_a_money_object_and_an_embedded_rating() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(
            &admin,
            json!({"price_minor": 1999, "currency": "EUR", "stock": 0}),
        )
        .await;
    let id = product["id"].as_str().unwrap();
    let (_, customer) = app.customer().await;
    let review = app
        .post(
            &format!("/api/v1/products/{id}/reviews"),
            Some(&customer),
            json!({"rating": 4, "comment": "good"}),
        )
        .await;
    expect_status(review, 201).await;
    let body = expect_status(app.get(&format!("/api/v2/products/{id}"), None).await, 200).await;
    assert_eq!(
        body["price"],
        json!({"amount": 1999, "currency": "EUR", "formatted": "19.99 EUR"})
    );
    assert_eq!(body["rating"], json!({"average": 4.0, "count": 1}));
    assert_eq!(body["in_stock"], false);
    assert!(body.get("price_minor").is_none() && body.get("rating_average").is_none());
    let yen = app
        .create_product(&admin, json!({"price_minor": 1500, "currency": "JPY"}))
        .await;
    let yen = expect_status(
        app.get(
            &format!("/api/v2/products/{}", yen["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(yen["price"]["formatted"], "1500 JPY");
    let list = expect_status(app.get("/api/v2/products", None).await, 200).await;
    assert_eq!(
        list["items"][0], body,
        "the list shows the same product shape"
    );
    assert_eq!(list["next_cursor"], Value::Null);
    let reviews = expect_status(
        app.get(&format!("/api/v2/products/{id}/reviews"), None)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (
            reviews["total"].clone(),
            reviews["items"][0]["rating"].clone()
        ),
        (json!(1), json!(4))
    );
    assert_eq!(reviews["items"][0]["comment"], "good");
}

#[tokio::test]
async fn v2_orders_use_money_objects_and_hide_another_customers_order() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let placed = app
        .place_new_order(&admin, json!({"price_minor": 250}), 3)
        .await;
    let list = expect_status(app.get("/api/v2/orders", Some(&placed.token)).await, 200).await;
    assert_eq!(list["total"], 1);
    let order = &list["items"][0];
    assert_eq!(order["id"], placed.id.as_str());
    assert_eq!(
        order["total"],
        json!({"amount": 750, "currency": "EUR", "formatted": "7.50 EUR"})
    );
    assert_eq!(order["items"][0]["unit_price"]["amount"], 250);
    assert_eq!(order["items"][0]["line_total"]["amount"], 750);
    assert_eq!(order["status"], "pending");
    let detail = expect_status(
        app.get(
            &format!("/api/v2/orders/{}", placed.id),
            Some(&placed.token),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(&detail, order);

    let (_, stranger) = app.customer().await;
    let response = app
        .get(&format!("/api/v2/orders/{}", placed.id), Some(&stranger))
        .await;
    expect_problem(response, 404, "NOT_FOUND").await;
    let theirs = expect_status(app.get("/api/v2/orders", Some(&stranger)).await, 200).await;
    assert_eq!(theirs["total"], 0, "another customer's list stays empty");
}

#[tokio::test]
async fn every_kind_of_v2_error_is_problem_json() {
    let app = App::spawn().await;
    expect_problem(app.get("/api/v2/nowhere", None).await, 404, "NOT_FOUND").await;
    expect_problem(app.get("/api/v2", None).await, 404, "NOT_FOUND").await;
    let missing = format!("/api/v2/products/{}", "0".repeat(24));
    expect_problem(app.get(&missing, None).await, 404, "NOT_FOUND").await;
    let post = app.post("/api/v2/products", None, json!({})).await;
    expect_problem(post, 405, "METHOD_NOT_ALLOWED").await;
    expect_problem(app.get("/api/v2/orders", None).await, 401, "UNAUTHORIZED").await;
    expect_problem(
        app.get("/api/v2/orders", Some("not-a-token")).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let bad_id = expect_problem(
        app.get("/api/v2/products/42", None).await,
        400,
        "INVALID_PARAMETER",
    )
    .await;
    assert_eq!(bad_id["errors"][0]["field"], "id");
    let bad = expect_problem(
        app.get("/api/v2/products?sort=cheapest", None).await,
        400,
        "INVALID_PARAMETER",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "sort");
    assert!(
        bad["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("-price")
    );
    let (_, customer) = app.customer().await;
    let page = expect_problem(
        app.get("/api/v2/orders?page=0", Some(&customer)).await,
        400,
        "INVALID_PARAMETER",
    )
    .await;
    assert_eq!(page["errors"][0]["field"], "page");
    // v1 still answers in its own shape, from the same errors.
    let v1 = app.get("/api/v1/products/42", None).await;
    testkit::expect_error(v1, 400, "INVALID_PARAMETER").await;
}

async fn problem_from(router: Router, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_429_from_any_layer_inside_v2_becomes_a_problem_with_its_headers_kept() {
    let detailed = || async {
        let detail = ErrorDetail {
            code: "RATE_LIMITED",
            message: "slow down".to_owned(),
            fields: vec![],
            request_id: Some("r-1".to_owned()),
        };
        let mut response = detail.into_response_with(StatusCode::TOO_MANY_REQUESTS);
        response
            .headers_mut()
            .insert("retry-after", "7".parse().unwrap());
        response
    };
    let bare = || async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3")]) };
    let routes = Router::new()
        .route("/api/v2/detailed", get(detailed))
        .route("/api/v2/bare", get(bare))
        .route("/api/v1/bare", get(bare));
    let router = with_versioning_layers(routes, &RestConfig::default());

    let (status, headers, problem) = problem_from(router.clone(), "/api/v2/detailed").await;
    assert_eq!(status, 429);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(problem["code"], "RATE_LIMITED");
    assert_eq!(problem["detail"], "slow down");
    assert_eq!(problem["request_id"], "r-1");
    assert_eq!(problem["title"], "Too Many Requests");

    let (status, headers, problem) = problem_from(router.clone(), "/api/v2/bare").await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(problem["code"], "RATE_LIMITED");
    assert_eq!(problem["instance"], "/api/v2/bare");

    let (status, headers, _) = problem_from(router, "/api/v1/bare").await;
    assert_eq!(status, 429);
    assert_ne!(
        headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    assert!(headers.contains_key("deprecation"));
}

#[test]
fn the_rest_openapi_part_holds_exactly_its_paths_with_problem_errors() {
    let doc = serde_json::to_value(step02_apis::rest::openapi()).unwrap();
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/api/v1/products",
            "/api/v2/orders",
            "/api/v2/orders/{id}",
            "/api/v2/products",
            "/api/v2/products/{id}",
            "/api/v2/products/{id}/reviews",
        ]
    );
    let not_found = &doc["paths"]["/api/v2/orders/{id}"]["get"]["responses"]["404"]["content"];
    assert!(
        not_found.get("application/problem+json").is_some(),
        "{not_found}"
    );
    let params = doc["paths"]["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in [
        "category",
        "min_price",
        "max_price",
        "tag",
        "in_stock",
        "q",
        "sort",
        "page",
        "limit",
    ] {
        assert!(names.contains(&name), "{name} documented: {names:?}");
    }
    assert!(!names.contains(&"cursor"), "v1 pages by page: {names:?}");
    let v2_names: Vec<&str> = doc["paths"]["/api/v2/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        v2_names.contains(&"cursor") && !v2_names.contains(&"page"),
        "v2 pages by cursor: {v2_names:?}"
    );
    for schema in ["Problem", "MoneyV2", "ProductV2", "OrderV2"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
}

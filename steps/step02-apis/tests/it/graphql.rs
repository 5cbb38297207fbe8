//! GraphQL at `/graphql`, over HTTP against a real step-2 server: every query and mutation,
//! the REST rules (ownership, validation, error codes), batched loading measured in store
//! calls, every request limit, and the GraphiQL page with its vendored assets.

mod counting;
mod hostile;

use common::config::Environment;
use serde_json::{Value, json};
use step02_apis::graphql::{GraphqlConfig, GraphqlSchema};
use testkit::app::expect_status;

use crate::support::App;

/// Posts one operation; returns the status and the JSON body.
async fn gql(app: &App, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    post_raw(
        app,
        token,
        json!({ "query": query, "variables": variables }).to_string(),
    )
    .await
}

async fn post_raw(app: &App, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the app answers");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

/// The data of a successful operation (no errors).
async fn data(app: &App, token: Option<&str>, query: &str, variables: Value) -> Value {
    let (status, body) = gql(app, token, query, variables).await;
    assert_eq!(status, 200, "body: {body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The first error's code.
fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error code in {body}"))
}

/// The fields named by the first error.
fn fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn review(app: &App, token: &str, product: &str, rating: i64) {
    expect_status(
        app.post(
            &format!("/api/v1/products/{product}/reviews"),
            Some(token),
            json!({ "rating": rating, "comment": "from a test" }),
        )
        .await,
        201,
    )
    .await;
}

const PRODUCT_WITH_REVIEWS: &str = "query($id: ID!) { product(id: $id) {
    id sku name priceMinor currency stock ratingAverage ratingCount
    reviews(first: 5) { rating authorName comment }
} }";

#[tokio::test]
async fn a_product_comes_with_its_rating_and_newest_reviews() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app
        .create_product(&admin, json!({ "price_minor": 1999 }))
        .await;
    let id = product["id"].as_str().unwrap();
    let (_, ann) = app.customer().await;
    let (_, bob) = app.customer().await;
    review(&app, &ann, id, 4).await;
    review(&app, &bob, id, 5).await;

    let data = data(&app, None, PRODUCT_WITH_REVIEWS, json!({ "id": id })).await;

    let product = &data["product"];
    assert_eq!(product["id"], id);
    assert_eq!(product["priceMinor"], 1999);
    assert_eq!(product["currency"], "EUR");
    assert_eq!(product["ratingAverage"], 4.5);
    assert_eq!(product["ratingCount"], 2);
    let ratings: Vec<_> = product["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rating"].as_i64().unwrap())
        .collect();
    assert_eq!(ratings, [5, 4], "newest first");
}

#[tokio::test]
async fn an_unknown_product_is_not_found_and_a_malformed_id_is_invalid() {
    let app = App::spawn().await;
    let query = "query($id: ID!) { product(id: $id) { name } }";

    let (status, body) = gql(
        &app,
        None,
        query,
        json!({ "id": "0123456789abcdef01234567" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "NOT_FOUND");
    assert!(body["data"].is_null(), "{body}");

    let (_, body) = gql(&app, None, query, json!({ "id": "not-an-id" })).await;
    assert_eq!(code(&body), "INVALID_PARAMETER");
    assert_eq!(fields(&body), ["id"]);
}

#[tokio::test]
async fn me_is_the_signed_in_user_and_unauthenticated_without_a_token() {
    let app = App::spawn().await;
    let (email, token) = app.customer().await;

    let me = data(
        &app,
        Some(&token),
        "{ me { id email name role } }",
        json!({}),
    )
    .await;
    assert_eq!(me["me"]["email"], email);
    assert_eq!(me["me"]["role"], "customer");

    let (status, body) = gql(&app, None, "{ me { email } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert!(body["data"].is_null());
}

#[tokio::test]
async fn a_bad_or_revoked_token_is_refused_rather_than_treated_as_anonymous() {
    let app = App::spawn().await;
    // Public fields only: an anonymous request would succeed.
    let query = "{ products(first: 1) { edges { node { id } } } }";
    for token in ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"] {
        let (status, body) = gql(&app, Some(token), query, json!({})).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    let (status, body) = post_raw_with_header(&app, "Basic dXNlcjpwYXNz", query).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"));

    let (_, token) = app.customer().await;
    data(&app, Some(&token), "{ me { id } }", json!({})).await;
    expect_status(
        app.post("/api/v1/auth/logout", Some(&token), json!({}))
            .await,
        204,
    )
    .await;
    let (status, body) = gql(&app, Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"));
}

async fn post_raw_with_header(app: &App, authorization: &str, query: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("authorization", authorization)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

const PLACE: &str = "mutation($items: [OrderItemInput!]!) {
    placeOrder(items: $items) { id status totalMinor currency items { sku quantity lineTotalMinor } }
}";
const PAY: &str = "mutation($id: ID!, $card: String!) {
    payOrder(orderId: $id, cardToken: $card) { id status payment { amountMinor status } }
}";

#[tokio::test]
async fn placing_paying_and_listing_orders_works_with_items_and_their_products() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let lamp = app
        .create_product(
            &admin,
            json!({ "name": "Lamp", "price_minor": 1000, "stock": 5 }),
        )
        .await;
    let desk = app
        .create_product(&admin, json!({ "name": "Desk", "price_minor": 5000 }))
        .await;
    let (_, token) = app.customer().await;

    let placed = data(
        &app,
        Some(&token),
        PLACE,
        json!({ "items": [
            { "productId": lamp["id"], "quantity": 2 },
            { "productId": desk["id"], "quantity": 1 },
        ] }),
    )
    .await;
    let order = &placed["placeOrder"];
    assert_eq!(order["status"], "pending");
    assert_eq!(order["totalMinor"], 7000);
    assert_eq!(app.product(lamp["id"].as_str().unwrap()).await["stock"], 3);

    let paid = data(
        &app,
        Some(&token),
        PAY,
        json!({ "id": order["id"], "card": payment_sim::tokens::SUCCESS }),
    )
    .await;
    assert_eq!(paid["payOrder"]["status"], "paid");
    assert_eq!(paid["payOrder"]["payment"]["amountMinor"], 7000);

    let mine = data(
        &app,
        Some(&token),
        "{ myOrders { total items { id status items { quantity product { name stock } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(mine["myOrders"]["total"], 1);
    let listed = &mine["myOrders"]["items"][0];
    assert_eq!(listed["id"], order["id"]);
    assert_eq!(listed["status"], "paid");
    assert_eq!(listed["items"][0]["product"]["name"], "Lamp");
    assert_eq!(listed["items"][0]["product"]["stock"], 3);
    assert_eq!(listed["items"][1]["product"]["name"], "Desk");

    let one = data(
        &app,
        Some(&token),
        "query($id: ID!) { order(id: $id) { status } }",
        json!({ "id": order["id"] }),
    )
    .await;
    assert_eq!(one["order"]["status"], "paid");

    let (_, body) = gql(
        &app,
        Some(&token),
        PAY,
        json!({ "id": order["id"], "card": payment_sim::tokens::SUCCESS }),
    )
    .await;
    assert_eq!(code(&body), "ALREADY_PAID");
}

#[tokio::test]
async fn a_customer_never_sees_or_pays_another_customers_order() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({}), 1).await;
    let (_, other) = app.customer().await;

    let (_, body) = gql(
        &app,
        Some(&other),
        "query($id: ID!) { order(id: $id) { id userId } }",
        json!({ "id": placed.id }),
    )
    .await;
    assert_eq!(code(&body), "NOT_FOUND");
    assert!(body["data"].is_null());

    let mine = data(
        &app,
        Some(&other),
        "{ myOrders { total items { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(mine["myOrders"]["total"], 0);

    let (_, body) = gql(
        &app,
        Some(&other),
        PAY,
        json!({ "id": placed.id, "card": payment_sim::tokens::SUCCESS }),
    )
    .await;
    assert_eq!(code(&body), "NOT_FOUND");
    assert_eq!(
        app.order(&placed.token, &placed.id).await["status"],
        "pending"
    );
    assert!(
        app.provider_charges().await.is_empty(),
        "nothing was charged"
    );
}

#[tokio::test]
async fn bad_input_gets_the_rest_codes_with_the_fields_named_and_changes_nothing() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 2 })).await;
    let id = product["id"].as_str().unwrap();
    let (_, token) = app.customer().await;

    let review =
        "mutation($id: ID!, $rating: Int!) { addReview(productId: $id, rating: $rating) { id } }";
    let (_, body) = gql(&app, Some(&token), review, json!({ "id": id, "rating": 9 })).await;
    assert_eq!(code(&body), "VALIDATION_FAILED");
    assert_eq!(fields(&body), ["rating"]);

    let (_, body) = gql(
        &app,
        Some(&token),
        PLACE,
        json!({ "items": [
        { "productId": id, "quantity": 0 },
        { "productId": "nope", "quantity": 1 },
    ] }),
    )
    .await;
    assert_eq!(code(&body), "VALIDATION_FAILED");
    assert_eq!(fields(&body), ["items[1].productId"]);
    let (_, body) = gql(
        &app,
        Some(&token),
        PLACE,
        json!({ "items": [{ "productId": id, "quantity": 0 }] }),
    )
    .await;
    assert_eq!(fields(&body), ["items[0].quantity"]);

    let (_, body) = gql(
        &app,
        Some(&token),
        PLACE,
        json!({ "items": [{ "productId": id, "quantity": 3 }] }),
    )
    .await;
    assert_eq!(code(&body), "OUT_OF_STOCK");
    assert_eq!(app.product(id).await["stock"], 2, "no stock taken");

    let placed = data(
        &app,
        Some(&token),
        PLACE,
        json!({ "items": [{ "productId": id, "quantity": 1 }] }),
    )
    .await;
    let order = placed["placeOrder"]["id"].clone();
    let (_, body) = gql(
        &app,
        Some(&token),
        PAY,
        json!({ "id": order, "card": "not a token!" }),
    )
    .await;
    assert_eq!(code(&body), "VALIDATION_FAILED");
    assert_eq!(fields(&body), ["cardToken"]);
    let (_, body) = gql(
        &app,
        Some(&token),
        PAY,
        json!({ "id": order, "card": payment_sim::tokens::DECLINE }),
    )
    .await;
    assert_eq!(code(&body), "PAYMENT_DECLINED");
    assert_eq!(
        app.order(&token, order.as_str().unwrap()).await["status"],
        "pending"
    );

    // Wrong argument types never reach a resolver.
    let (_, body) = gql(
        &app,
        Some(&token),
        review,
        json!({ "id": id, "rating": "five" }),
    )
    .await;
    assert!(
        body["data"].is_null() && !body["errors"].as_array().unwrap().is_empty(),
        "{body}"
    );
    let reviews = data(&app, None, PRODUCT_WITH_REVIEWS, json!({ "id": id })).await;
    assert_eq!(reviews["product"]["ratingCount"], 0, "no review was stored");
}

#[tokio::test]
async fn a_payment_provider_outage_is_a_clear_unavailable_error_and_the_order_stays_pending() {
    let app = App::spawn_with(|config| {
        // Nothing listens on port 9 (discard) here: the payments service is unreachable.
        config.apis.payments.url = "http://127.0.0.1:9".to_owned();
    })
    .await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({}), 1).await;

    let (status, body) = gql(
        &app,
        Some(&placed.token),
        PAY,
        json!({ "id": placed.id, "card": payment_sim::tokens::SUCCESS }),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(code(&body), "PAYMENT_PROVIDER_UNAVAILABLE");
    assert_eq!(body["errors"][0]["extensions"]["status"], 503);
    assert_eq!(
        app.order(&placed.token, &placed.id).await["status"],
        "pending"
    );
}

#[tokio::test]
async fn the_products_connection_pages_with_cursors_and_rejects_bad_arguments() {
    let (app, _) = counting::spawn_counted().await;
    let (_, admin) = app.admin().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_product(&admin, json!({})).await["id"].clone());
    }
    let query = "query($after: String) { products(first: 2, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor }
    } }";

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = data(&app, None, query, json!({ "after": after })).await;
        let connection = &page["products"];
        for edge in connection["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].clone());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ids, "every product once, in order");

    let (_, body) = gql(&app, None, "{ products(first: 0, after: \"%%\", filter: { minPriceMinor: 5, maxPriceMinor: 1 }) { edges { cursor } } }", json!({})).await;
    assert_eq!(code(&body), "VALIDATION_FAILED");
    assert_eq!(fields(&body), ["first", "after", "filter.maxPriceMinor"]);
}

#[tokio::test]
async fn a_page_of_50_products_with_reviews_costs_two_store_calls() {
    let (app, calls) = counting::spawn_counted().await;
    let (_, admin) = app.admin().await;
    let (_, ann) = app.customer().await;
    let (_, bob) = app.customer().await;
    for i in 0..50 {
        let product = app.create_product(&admin, json!({})).await;
        let id = product["id"].as_str().unwrap();
        review(&app, &ann, id, 1 + i % 5).await;
        if i % 2 == 0 {
            review(&app, &bob, id, 5).await;
        }
    }
    let query = "{ products(first: 50) { edges { node { id ratingCount reviews(first: 5) { rating authorName } } } } }";

    calls.reset();
    let page = data(&app, None, query, json!({})).await;

    let edges = page["products"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    for edge in edges {
        let node = &edge["node"];
        assert_eq!(
            node["reviews"].as_array().unwrap().len() as i64,
            node["ratingCount"].as_i64().unwrap(),
            "each product gets its own reviews: {node}"
        );
    }
    // One listing call, one batched review lookup: not 1 + 50.
    assert_eq!((calls.products(), calls.reviews()), (1, 1));
}

#[tokio::test]
async fn order_items_load_their_products_in_one_batch() {
    let (app, calls) = counting::spawn_counted().await;
    let (_, admin) = app.admin().await;
    let (_, token) = app.customer().await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(app.create_product(&admin, json!({})).await["id"].clone());
    }
    for pair in products.chunks(2) {
        let items: Vec<_> = pair
            .iter()
            .map(|id| json!({ "productId": id, "quantity": 1 }))
            .collect();
        data(&app, Some(&token), PLACE, json!({ "items": items })).await;
    }

    calls.reset();
    let mine = data(
        &app,
        Some(&token),
        "{ myOrders { items { items { product { id reviews { rating } } } } } }",
        json!({}),
    )
    .await;

    let loaded: usize = mine["myOrders"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["items"].as_array().unwrap().len())
        .sum();
    assert_eq!(loaded, 4);
    // One `get_many` for the four products, one review lookup for all four.
    assert_eq!((calls.products(), calls.reviews()), (1, 1));
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused() {
    let (app, _) = counting::spawn_counted_with(|c| c.apis.graphql.max_depth = 4).await;
    let depth_4 = "{ products(first: 1) { edges { node { id } } } }";
    let depth_5 = "{ products(first: 1) { edges { node { reviews { rating } } } } }";

    data(&app, None, depth_4, json!({})).await;
    let (status, body) = gql(&app, None, depth_5, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "QUERY_TOO_DEEP");

    // Past async-graphql's own bound (32 levels), checked before ours: the same code.
    let mut deep = String::from("name");
    for _ in 0..40 {
        deep = format!("ofType {{ {deep} }}");
    }
    let deep = format!("{{ __type(name: \"Product\") {{ fields {{ type {{ {deep} }} }} }} }}");
    let (status, body) = gql(&app, None, &deep, json!({})).await;
    assert_eq!((status, code(&body)), (200, "QUERY_TOO_DEEP"), "{body}");
}

#[tokio::test]
async fn queries_costlier_than_the_complexity_limit_are_refused() {
    let (app, _) = counting::spawn_counted_with(|c| c.apis.graphql.max_complexity = 50).await;
    let cheap = "{ products(first: 5) { edges { node { id } } } }";
    let costly = "{ products(first: 50) { edges { node { id } } } }";

    data(&app, None, cheap, json!({})).await;
    let (_, body) = gql(&app, None, costly, json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn introspection_is_answered_in_development_only() {
    let introspect = "{ __schema { queryType { name } } }";
    let test_env = App::spawn().await;
    let (_, body) = gql(&test_env, None, introspect, json!({})).await;
    // Disabled introspection answers nothing rather than failing the operation.
    assert!(body["data"]["__schema"].is_null(), "{body}");

    let development = App::spawn_with(|c| c.environment = Environment::Development).await;
    let data = data(&development, None, introspect, json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn field_suggestions_are_given_except_in_production() {
    let misspelt = "{ prodcts { edges { cursor } } }";
    let app = App::spawn().await;
    let (_, body) = gql(&app, None, misspelt, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");

    // Production refuses the test configuration (cheap password hashing), so the production
    // schema is run directly: suggestions are decided while validating, before any resolver.
    let production = GraphqlSchema::new(&GraphqlConfig::default(), Environment::Production);
    let response = production.schema.execute(misspelt.into()).await;
    let message = &response.errors[0].message;
    assert!(message.contains("Unknown field"), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn batches_are_refused_by_default_and_capped_when_enabled() {
    let one = json!({ "query": "{ products(first: 1) { edges { cursor } } }" });
    let app = App::spawn().await;
    assert_eq!(app.config.apis.graphql.max_batch_size, 0, "off by default");
    let (status, body) = post_raw(&app, None, json!([one, one]).to_string()).await;
    assert_eq!((status, code(&body)), (400, "BATCH_NOT_ALLOWED"));

    let (app, _) = counting::spawn_counted_with(|c| c.apis.graphql.max_batch_size = 2).await;
    let (status, body) = post_raw(&app, None, json!([one, one]).to_string()).await;
    assert_eq!(status, 200, "{body}");
    let answers = body.as_array().expect("one answer per operation");
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| a.get("errors").is_none()), "{body}");
    let (status, body) = post_raw(&app, None, json!([one, one, one]).to_string()).await;
    assert_eq!((status, code(&body)), (400, "BATCH_TOO_LARGE"));
}

#[tokio::test]
async fn oversized_queries_and_bodies_are_refused_before_parsing() {
    let (app, _) = counting::spawn_counted_with(|c| {
        c.apis.graphql.max_query_bytes = 256;
        c.apis.graphql.max_body_bytes = 1024;
    })
    .await;
    let query = |len: usize| {
        let base = "{ products(first: 1) { edges { cursor } } }";
        format!("{base}\n#{}", "x".repeat(len - base.len() - 2))
    };

    data(&app, None, &query(256), json!({})).await;
    let (status, body) = gql(&app, None, &query(257), json!({})).await;
    assert_eq!((status, code(&body)), (413, "QUERY_TOO_LARGE"));

    let padding = "y".repeat(1024);
    let body = json!({ "query": query(100), "variables": { "padding": padding } }).to_string();
    let (status, body) = post_raw(&app, None, body).await;
    assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"));

    let (status, body) = post_raw(&app, None, "{not json".to_owned()).await;
    assert_eq!((status, code(&body)), (400, "MALFORMED_JSON"));
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_with_every_asset_it_references() {
    let app = App::spawn().await;
    let response = app.get("/graphql", None).await;
    assert_eq!(response.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header(&response, "content-type").starts_with("text/html"));
    let csp = header(&response, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let page = response.text().await.unwrap();
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"));

    let references: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert_eq!(references.len(), 6, "{page}");
    for path in references {
        let asset = app.get(path, None).await;
        assert_eq!(asset.status(), 200, "{path}");
        let content_type = header(&asset, "content-type");
        let expected = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(content_type.starts_with(expected), "{path}: {content_type}");
        assert!(
            header(&asset, "cache-control").contains("max-age"),
            "{path}"
        );
        assert!(asset.bytes().await.unwrap().len() > 10, "{path}");
    }

    let missing = app.get("/graphql/assets/evil.js", None).await;
    testkit::app::expect_error(missing, 404, "NOT_FOUND").await;
    let api = app.get("/api/v1/products", None).await;
    assert!(
        header(&api, "content-security-policy").starts_with("default-src 'none'"),
        "the page's policy stays on the page"
    );
}

/// GraphiQL's own introspection query: what the vendored `assets/graphiql/graphiql.min.js`
/// sends to learn the schema (graphql-js's `getIntrospectionQuery` with GraphiQL's defaults:
/// descriptions on, nothing else), as that file builds it.
const GRAPHIQL_INTROSPECTION: &str = include_str!("graphql/graphiql-introspection.graphql");

#[test]
fn the_introspection_fixture_is_the_query_the_vendored_graphiql_builds() {
    let asset = include_str!("../../assets/graphiql/graphiql.min.js");
    let start = asset
        .find("return`\\n    query IntrospectionQuery {")
        .expect("graphql-js's introspection template in the vendored GraphiQL")
        + "return`".len();
    let end = start + asset[start..].find("`}").expect("the template's end");
    // The template with GraphiQL's defaults filled in.
    let mut built = asset[start..end]
        .replace("${t.schemaDescription?n:\"\"}", "")
        .replace("${n}", "description")
        .replace("${r}", "")
        .replace("${i}", "")
        .replace("\\n", "\n");
    while let Some(at) = built.find("${o(\"") {
        let close = at + built[at..].find("\")}").expect("a closed ${o(..)}") + 3;
        built.replace_range(at..close, "");
    }
    assert!(!built.contains("${"), "every placeholder filled: {built}");
    assert_eq!(built, GRAPHIQL_INTROSPECTION);
}

#[tokio::test]
async fn graphiqls_own_introspection_query_works_in_development_and_nowhere_else() {
    // A depth limit far below the introspection query's (13 levels), so only the exemption
    // can let it through.
    let development = App::spawn_with(|config| {
        config.environment = Environment::Development;
        config.apis.graphql.max_depth = 4;
    })
    .await;
    let schema = data(&development, None, GRAPHIQL_INTROSPECTION, json!({})).await;
    assert_eq!(schema["__schema"]["queryType"]["name"], "Query");
    let types = schema["__schema"]["types"].as_array().expect("the types");
    assert!(
        types.iter().any(|t| t["name"] == "Product"),
        "the schema's own types are listed"
    );
    // The limits still hold for every other request there.
    let depth_5 = "{ products(first: 1) { edges { node { reviews { rating } } } } }";
    let (status, body) = gql(&development, None, depth_5, json!({})).await;
    assert_eq!((status, code(&body)), (200, "QUERY_TOO_DEEP"), "{body}");
    let mixed = "{ __typename products(first: 1) { edges { node { reviews { rating } } } } }";
    let (status, body) = gql(&development, None, mixed, json!({})).await;
    assert_eq!((status, code(&body)), (200, "QUERY_TOO_DEEP"), "{body}");

    // Outside development, introspection is off, whatever the query.
    let test = App::spawn().await;
    let (status, body) = gql(&test, None, GRAPHIQL_INTROSPECTION, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["errors"].is_array(),
        "introspection is refused: {body}"
    );
    assert!(
        body["data"].is_null() || body["data"]["__schema"].is_null(),
        "{body}"
    );
}

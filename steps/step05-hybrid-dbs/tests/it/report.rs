//! The sales report over fixed fixtures: products in two categories made through the API,
//! orders written to PostgreSQL with fixed times and statuses. Only paid and shipped orders
//! inside `[from, to)` count, per currency; by product the rows carry the current name and
//! category, a deleted product keeps its sales under `(deleted)`; by category the products
//! fold together. Only admins may read it, and every bad parameter is a 400 naming it.

use common::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, PaymentInfo, Quantity, Sku, UserId,
};
use common::store::OrderStore;
use reqwest::Method;
use serde_json::{Value, json};
use step05_hybrid_dbs::store::PgOrders;
use testkit::expect_status;
use time::macros::datetime;

use crate::support::App;

fn money(minor: i64, currency: &str) -> Money {
    Money::price(minor, Currency::parse(currency).unwrap()).unwrap()
}

/// An order of `lines` (product, unit price, quantity), placed at `at`, in `status`.
fn order(
    at: time::OffsetDateTime,
    status: OrderStatus,
    currency: &str,
    lines: &[(&Value, i64, i64)],
) -> Order {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|(product, price, quantity)| OrderLine {
            product_id: product["id"].as_str().unwrap().parse().unwrap(),
            sku: Sku::parse(product["sku"].as_str().unwrap()).unwrap(),
            name: product["name"].as_str().unwrap().to_owned(),
            unit_price: money(*price, currency),
            quantity: Quantity::parse(*quantity).unwrap(),
        })
        .collect();
    let total: i64 = lines
        .iter()
        .map(|l| l.unit_price.minor * i64::from(l.quantity.get()))
        .sum();
    let paid = matches!(status, OrderStatus::Paid | OrderStatus::Shipped);
    Order {
        id: OrderId::new(),
        user_id: UserId::new(),
        lines,
        total: money(total, currency),
        status,
        payment: paid.then(|| PaymentInfo {
            provider_reference: "ch".to_owned(),
            amount: money(total, currency),
            status: "succeeded".to_owned(),
            paid_at: at,
        }),
        created_at: at,
        updated_at: at,
    }
}

const PERIOD: &str = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

/// The report for `query` (a query string), read with `token`, which must be a 200.
async fn report(app: &App, token: &str, query: &str) -> Value {
    expect_status(
        app.get(&format!("/api/v2/reports/sales?{query}"), Some(token))
            .await,
        200,
    )
    .await
}

/// Fixtures: mug and cup (kitchen), lamp (living), and a vase sold, then deleted.
async fn fixtures(app: &App, admin: &str) {
    let product = |name: &str, category: &str| json!({ "name": name, "category": category, "price_minor": 100, "stock": 100 });
    let mug = app.create_product(admin, product("Mug", "kitchen")).await;
    let cup = app.create_product(admin, product("Cup", "kitchen")).await;
    let lamp = app.create_product(admin, product("Lamp", "living")).await;
    let vase = app.create_product(admin, product("Vase", "living")).await;
    let orders = PgOrders::new(app.state.postgres.clone());
    let inside = datetime!(2026-11-10 12:00 UTC);
    for order in [
        order(
            inside,
            OrderStatus::Paid,
            "EUR",
            &[(&mug, 1000, 2), (&cup, 300, 1)],
        ),
        order(
            inside,
            OrderStatus::Shipped,
            "EUR",
            &[(&mug, 1000, 1), (&lamp, 5000, 1)],
        ),
        order(inside, OrderStatus::Paid, "USD", &[(&lamp, 6000, 1)]),
        order(inside, OrderStatus::Paid, "EUR", &[(&vase, 700, 3)]),
        // Not sales: pending, cancelled, and paid outside the period (before, and at `to`).
        order(inside, OrderStatus::Pending, "EUR", &[(&mug, 1000, 9)]),
        order(inside, OrderStatus::Cancelled, "EUR", &[(&mug, 1000, 9)]),
        order(
            datetime!(2026-10-31 23:59:59 UTC),
            OrderStatus::Paid,
            "EUR",
            &[(&mug, 1000, 9)],
        ),
        order(
            datetime!(2026-12-01 00:00 UTC),
            OrderStatus::Paid,
            "EUR",
            &[(&mug, 1000, 9)],
        ),
    ] {
        orders.insert(&order).await.unwrap();
    }
    let vase_path = format!("/api/v1/products/{}", vase["id"].as_str().unwrap());
    expect_status(
        app.request(Method::DELETE, &vase_path, Some(admin), None)
            .await,
        204,
    )
    .await;
}

/// `(key, name, category, units, amount, currency)` of every row.
fn rows(report: &Value) -> Vec<(String, Value, Value, i64, i64, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["name"].clone(),
                r["category"].clone(),
                r["units"].as_i64().unwrap(),
                r["revenue"]["amount"].as_i64().unwrap(),
                r["revenue"]["currency"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sales_by_product_and_by_category_count_only_paid_and_shipped_orders_in_the_period() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    fixtures(&app, &admin).await;

    let by_product = report(&app, &admin, &format!("{PERIOD}&group_by=product")).await;
    let named: Vec<(Value, Value, i64, i64, String)> = rows(&by_product)
        .into_iter()
        .map(|(_, name, category, units, amount, currency)| {
            (name, category, units, amount, currency)
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (json!("Lamp"), json!("living"), 1, 6000, "USD".to_owned()),
            (json!("Lamp"), json!("living"), 1, 5000, "EUR".to_owned()),
            (json!("Mug"), json!("kitchen"), 3, 3000, "EUR".to_owned()),
            (json!("Vase"), json!("(deleted)"), 3, 2100, "EUR".to_owned()),
            (json!("Cup"), json!("kitchen"), 1, 300, "EUR".to_owned()),
        ],
        "{by_product}"
    );
    assert_eq!(
        by_product["totals"],
        json!([{ "amount": 10400, "currency": "EUR" }, { "amount": 6000, "currency": "USD" }])
    );

    let by_category = report(&app, &admin, &format!("{PERIOD}&group_by=category")).await;
    let grouped: Vec<(String, i64, i64, String)> = rows(&by_category)
        .into_iter()
        .map(|(key, _, _, units, amount, currency)| (key, units, amount, currency))
        .collect();
    assert_eq!(
        grouped,
        vec![
            ("living".to_owned(), 1, 6000, "USD".to_owned()),
            ("living".to_owned(), 1, 5000, "EUR".to_owned()),
            ("kitchen".to_owned(), 4, 3300, "EUR".to_owned()),
            ("(deleted)".to_owned(), 3, 2100, "EUR".to_owned()),
        ],
        "{by_category}"
    );
    // The default grouping is by product.
    let default = report(&app, &admin, PERIOD).await;
    assert_eq!(default["group_by"], "product");
    assert_eq!(rows(&default), rows(&by_product));
}

#[tokio::test]
async fn only_admins_read_the_report_and_every_bad_parameter_is_a_400_naming_it() {
    let app = App::spawn().await;
    let (_, customer) = app.customer().await;
    let (_, admin) = app.admin().await;
    let path = format!("/api/v2/reports/sales?{PERIOD}");
    assert_eq!(app.get(&path, None).await.status(), 401);
    assert_eq!(app.get(&path, Some(&customer)).await.status(), 403);
    for (query, parameter) in [
        ("to=2026-12-01T00:00:00Z", "from"),
        ("from=2026-11-01T00:00:00Z", "to"),
        ("from=yesterday&to=2026-12-01T00:00:00Z", "from"),
        ("from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        (
            "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=user",
            "group_by",
        ),
        (
            "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by[$ne]=x",
            "group_by",
        ),
    ] {
        let answer = app
            .get(&format!("/api/v2/reports/sales?{query}"), Some(&admin))
            .await;
        assert_eq!(answer.status(), 400, "{query}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], "INVALID_PARAMETER", "{query}: {problem}");
        let named = problem["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|f| f["field"] == parameter))
            || problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(parameter));
        assert!(named, "{query}: {problem} names {parameter}");
    }
}

#[tokio::test]
async fn the_large_dataset_seeds_two_and_a_half_lines_an_order_once_and_the_report_reads_it() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    for name in ["A", "B", "C", "D"] {
        app.create_product(&admin, json!({ "name": name, "category": name }))
            .await;
    }
    let db = common::store::mongo::connect(&app.config.mongodb)
        .await
        .unwrap();
    let products = common::store::mongo::MongoProducts::new(&db);
    let pool = &app.state.postgres;
    let seeded = step05_hybrid_dbs::large_orders::seed_orders(pool, &products, 1_000)
        .await
        .unwrap();
    assert_eq!(seeded, (1_000, 2_500), "one to four lines an order");
    let again = step05_hybrid_dbs::large_orders::seed_orders(pool, &products, 1_000)
        .await
        .unwrap();
    assert_eq!(again, seeded, "seeding twice keeps what is there");

    let now = time::OffsetDateTime::now_utc();
    let format = &time::format_description::well_known::Rfc3339;
    let year = format!(
        "from={}&to={}&group_by=category",
        (now - time::Duration::days(365) - time::Duration::minutes(1))
            .format(format)
            .unwrap(),
        (now + time::Duration::minutes(1)).format(format).unwrap()
    );
    let report = report(&app, &admin, &year).await;
    let keys: Vec<String> = rows(&report).into_iter().map(|r| r.0).collect();
    assert_eq!(keys.len(), 4, "{report}");
    // Eight in ten orders are paid or shipped: that many lines' units are counted.
    let units: i64 = rows(&report).iter().map(|r| r.3).sum();
    let sold: i64 = sqlx::query_scalar(
        "SELECT sum(quantity)::bigint FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.status IN ('paid', 'shipped')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(units, sold, "{report}");
}

/// `query` on `/graphql` with `token`: the whole answer.
async fn graphql(app: &App, token: &str, query: &str) -> Value {
    expect_status(
        app.post("/graphql", Some(token), json!({ "query": query }))
            .await,
        200,
    )
    .await
}

#[tokio::test]
async fn the_graphql_sales_report_is_the_rest_report_with_the_same_rules() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let (_, customer) = app.customer().await;
    fixtures(&app, &admin).await;
    let rest = report(&app, &admin, &format!("{PERIOD}&group_by=category")).await;

    let field = |args: &str| {
        format!(
            "{{ salesReport({args}) {{ groupBy rows {{ key name category units revenue {{ amount currency }} }} totals {{ amount currency }} }} }}"
        )
    };
    let period = r#"from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z""#;
    let answer = graphql(
        &app,
        &admin,
        &field(&format!("{period}, groupBy: CATEGORY")),
    )
    .await;
    let report = &answer["data"]["salesReport"];
    assert_eq!(report["groupBy"], "CATEGORY", "{answer}");
    // REST leaves out what a category row lacks; GraphQL says `null`.
    let mut rows = report["rows"].clone();
    for row in rows.as_array_mut().unwrap() {
        row.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    }
    assert_eq!(rows, rest["rows"], "the same rows as REST");
    assert_eq!(report["totals"], rest["totals"]);

    // The same refusals as REST, with REST's codes in `extensions.code`.
    for (token, args, code) in [
        (&customer, period.to_owned(), "FORBIDDEN"),
        (
            &admin,
            r#"from: "yesterday", to: "2026-12-01T00:00:00Z""#.to_owned(),
            "INVALID_PARAMETER",
        ),
        (
            &admin,
            r#"from: "2020-01-01T00:00:00Z", to: "2026-12-01T00:00:00Z""#.to_owned(),
            "INVALID_PARAMETER",
        ),
    ] {
        let answer = graphql(&app, token, &field(&args)).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], code,
            "{args}: {answer}"
        );
        assert_eq!(answer["data"], Value::Null, "{args}: no report: {answer}");
    }
    let anonymous = expect_status(
        app.post("/graphql", None, json!({ "query": field(period) }))
            .await,
        200,
    )
    .await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_report_and_the_order_views() {
    let app = App::spawn().await;
    let document = expect_status(app.get("/api-docs/openapi.json", None).await, 200).await;
    let paths = &document["paths"];
    let report = &paths["/api/v2/reports/sales"]["get"];
    let parameters: Vec<&str> = report["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(parameters, ["from", "to", "group_by"], "{report}");
    for status in ["200", "400", "401", "403", "429", "503"] {
        assert!(
            report["responses"].get(status).is_some(),
            "report {status}: {report}"
        );
    }
    for path in ["/api/v2/order-views", "/api/v2/order-views/{id}"] {
        let get = &paths[path]["get"];
        assert!(get["responses"].get("200").is_some(), "{path}: {get}");
        assert!(
            get["responses"].get("429").is_some(),
            "{path}: the layers' answers too"
        );
    }
    // Step 2's paths are all still there.
    assert!(paths.get("/api/v2/products").is_some());
    assert!(paths.get("/api/v1/orders").is_some());
    let schemas = &document["components"]["schemas"];
    for schema in ["SalesReport", "OrderViewV2", "ProductNowV2"] {
        assert!(schemas.get(schema).is_some(), "{schema}");
    }
}

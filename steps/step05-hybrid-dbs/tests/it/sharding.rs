//! The shard keys of `step05_hybrid_dbs::sharding` against the queries the app really sends.
//! A second instance of a test's deployment runs on a MongoDB client whose command monitor
//! records every command it starts; the test drives every route that touches MongoDB through
//! it, classifies each recorded query, and compares the shapes that reach every shard with
//! the documented list. No real `mongos` runs here (the local MongoDB is the stand-in, which
//! has no sharding): the routing is the router's documented rules applied to the recorded
//! commands, not a real cluster's `explain`. The rules themselves are tested first, on
//! hand-made commands, so each can be seen to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use common::Step;
use common::config::StepConfig;
use contract::client::{Api, Reply};
use contract::{Target, fixtures};
use mongodb::bson::{Bson, Document, doc};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use step05_hybrid_dbs::AppState;
use step05_hybrid_dbs::sharding::{
    self, ADMINISTRATIVE, PLACEMENTS, Query, Routing, SCATTER_GATHER, classify, placement,
};
use time::format_description::well_known::Rfc3339;

use crate::support::App;

/// The compose file's shard keys, which `docker/mongo-sharded/init.js` applies.
const SHARD_KEYS_FILE: &str = "../../docker/mongo-sharded/shard-keys.json";

/// The routing of a hand-made command's one query.
fn routing_of(command: Document) -> Routing {
    only(command).routing
}

fn only(command: Document) -> Query {
    let mut queries = classify(&command).expect("a classified command");
    assert_eq!(queries.len(), 1, "one query in {command}");
    queries.remove(0)
}

fn find(collection: &str, filter: Document) -> Document {
    doc! { "find": collection, "filter": filter }
}

fn update_one(collection: &str, q: Document, u: Document, upsert: bool) -> Document {
    doc! { "update": collection, "updates": [{ "q": q, "u": u, "multi": false, "upsert": upsert }] }
}

#[test]
fn a_hashed_key_targets_equality_and_in_and_sends_ranges_to_every_shard() {
    let id = mongodb::bson::oid::ObjectId::new();
    let other = mongodb::bson::oid::ObjectId::new();
    assert_eq!(
        routing_of(find("products", doc! { "_id": id })),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find(
            "products",
            doc! { "_id": { "$eq": id }, "stock": { "$gte": 1 } }
        )),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find("products", doc! { "_id": { "$in": [id] } })),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find("products", doc! { "_id": { "$in": [id, other] } })),
        Routing::SomeShards
    );
    assert_eq!(
        routing_of(find("products", doc! { "_id": { "$gt": id } })),
        Routing::AllShards,
        "a hash keeps no order: a range on a hashed key reaches every shard"
    );
    assert_eq!(
        routing_of(find(
            "products",
            doc! { "category": "mugs", "price_minor": { "$lte": 9 } }
        )),
        Routing::AllShards
    );
    assert_eq!(
        routing_of(find("products", doc! { "_id": { "$ne": id } })),
        Routing::AllShards
    );
    assert_eq!(
        routing_of(find("products", doc! { "_id": { "$in": [] } })),
        Routing::OneShard,
        "a filter that matches nothing is sent to one shard for its empty answer"
    );
}

#[test]
fn a_ranged_key_targets_equality_in_and_ranges_on_its_prefix_only() {
    assert_eq!(
        routing_of(find("users", doc! { "email": "a@example.test" })),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find("users", doc! { "email": { "$gte": "a", "$lt": "b" } })),
        Routing::SomeShards
    );
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "_id": mongodb::bson::oid::ObjectId::new() }
        )),
        Routing::AllShards
    );
    assert_eq!(
        routing_of(find("reviews", doc! { "product_id": "p" })),
        Routing::SomeShards,
        "the prefix of a compound key bounds the chunks, which may sit on several shards"
    );
    assert_eq!(
        routing_of(find("reviews", doc! { "user_id": "u", "product_id": "p" })),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find("reviews", doc! { "user_id": "u" })),
        Routing::AllShards,
        "the second field of a key without its first bounds nothing"
    );
    assert_eq!(
        routing_of(find("users", doc! { "email": { "$regex": "^a" } })),
        Routing::AllShards
    );
    assert_eq!(routing_of(find("orders", doc! {})), Routing::Unsharded);
}

#[test]
fn an_or_is_targeted_only_when_every_branch_is_and_an_and_narrows() {
    let (a, b) = ("a@example.test", "b@example.test");
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "$or": [{ "email": a }, { "email": b }] }
        )),
        Routing::SomeShards
    );
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "$or": [{ "email": a }, { "email": a, "role": "admin" }] }
        )),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "$or": [{ "email": a }, { "name": "Ann" }] }
        )),
        Routing::AllShards,
        "one untargeted branch sends the whole query everywhere"
    );
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "email": a, "$or": [{ "name": "Ann" }, { "role": "admin" }] }
        )),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find(
            "users",
            doc! { "$and": [{ "email": { "$in": [a, b] } }, { "email": a }] }
        )),
        Routing::OneShard
    );
    assert_eq!(
        routing_of(find("users", doc! { "$nor": [{ "email": a }] })),
        Routing::AllShards
    );
}

#[test]
fn an_aggregation_is_routed_by_the_match_it_opens_with() {
    let pipeline = doc! { "aggregate": "reviews", "pipeline": [
        { "$match": { "product_id": { "$in": ["p", "q"] } } },
        { "$setWindowFields": { "partitionBy": "$product_id" } },
        { "$match": { "product_id": "p", "user_id": "u" } },
    ], "cursor": {} };
    let query = only(pipeline);
    assert_eq!(query.shape, "reviews aggregate {product_id: {$in: ?}}");
    assert_eq!(query.routing, Routing::SomeShards);
    let late = doc! { "aggregate": "reviews", "pipeline": [
        { "$sort": { "_id": -1 } },
        { "$match": { "product_id": "p" } },
    ], "cursor": {} };
    assert_eq!(routing_of(late), Routing::AllShards);
}

#[test]
fn single_document_writes_that_a_mongodb_7_mongos_refuses_are_named() {
    let id = mongodb::bson::oid::ObjectId::new();
    let set_name = || doc! { "$set": { "name": "A" } };
    let set_email = doc! { "$set": { "email": "new@example.test" } };
    let rotate = doc! { "$set": { "status": "rotated" } };
    let delete = |collection: &str, q: Document, limit: i32| {
        doc! { "delete": collection, "deletes": [{ "q": q, "limit": limit }] }
    };
    let find_and_modify = |query: Document| {
        doc! { "findAndModify": "refresh_tokens", "query": query, "update": rotate.clone() }
    };
    let cases = [
        (
            "an updateOne naming `_id` exactly may broadcast",
            update_one("users", doc! { "_id": id }, set_name(), false),
            Routing::AllShards,
            false,
        ),
        (
            "an updateOne by another field may not",
            update_one("users", doc! { "name": "A" }, set_name(), false),
            Routing::AllShards,
            true,
        ),
        (
            "an upsert must pin the key",
            update_one("users", doc! { "_id": id }, set_name(), true),
            Routing::AllShards,
            true,
        ),
        (
            "the whole key pinned may change it",
            update_one(
                "users",
                doc! { "email": "a@example.test" },
                set_email.clone(),
                false,
            ),
            Routing::OneShard,
            false,
        ),
        (
            "a change of the key must pin it",
            doc! { "update": "users", "updates": [{ "q": { "_id": id }, "u": set_email, "multi": true }] },
            Routing::AllShards,
            true,
        ),
        (
            "a findAndModify pinning the key",
            find_and_modify(doc! { "_id": "hash", "status": "active" }),
            Routing::OneShard,
            false,
        ),
        (
            "a findAndModify by another field",
            find_and_modify(doc! { "session_id": "s" }),
            Routing::AllShards,
            true,
        ),
        (
            "a deleteOne naming `_id` exactly may broadcast",
            delete("reviews", doc! { "_id": id }, 1),
            Routing::AllShards,
            false,
        ),
        (
            "a deleteOne by another field may not",
            delete("sessions", doc! { "user_id": "u" }, 1),
            Routing::AllShards,
            true,
        ),
        (
            "a deleteMany may reach every shard",
            delete("sessions", doc! { "user_id": "u" }, 0),
            Routing::AllShards,
            false,
        ),
        (
            "an unsharded collection takes any write",
            update_one("orders", doc! { "user_id": "u" }, set_name(), true),
            Routing::Unsharded,
            false,
        ),
    ];
    for (what, command, routing, refused) in cases {
        let query = only(command);
        assert_eq!(
            (query.routing, query.refused.is_some()),
            (routing, refused),
            "{what}: {query:?}"
        );
    }
    let two = doc! { "update": "users", "updates": [
        { "q": { "email": "a@example.test" }, "u": set_name() },
        { "q": { "role": "admin" }, "u": set_name(), "multi": true },
    ] };
    let routings: Vec<Routing> = classify(&two).unwrap().iter().map(|q| q.routing).collect();
    assert_eq!(
        routings,
        [Routing::OneShard, Routing::AllShards],
        "one per statement"
    );
}

#[test]
fn a_shape_keeps_fields_and_operators_sorted_and_erases_every_value() {
    let filter = doc! {
        "stock": { "$gt": 0 },
        "$text": { "$search": "mug" },
        "$or": [{ "price_minor": { "$gt": 5 } }, { "price_minor": 5, "_id": { "$gt": 1 } }],
        "category": "kitchen",
    };
    assert_eq!(
        only(find("products", filter)).shape,
        "products find {$or: [{price_minor: {$gt: ?}}, {_id: {$gt: ?}, price_minor: ?}], \
         $text: {$search: ?}, category: ?, stock: {$gt: ?}}"
    );
    assert_eq!(
        only(doc! { "insert": "users", "documents": [{ "email": "x" }] }).shape,
        "users insert"
    );
    assert_eq!(
        only(doc! { "count": "reviews", "query": { "product_id": "p" } }).shape,
        "reviews count {product_id: ?}"
    );
}

#[test]
fn commands_without_a_placement_or_a_known_name_are_not_classified() {
    assert!(matches!(
        classify(&doc! { "find": "wishlists", "filter": {} }),
        Err(sharding::Unclassified::NoPlacement { .. })
    ));
    assert!(matches!(
        classify(&doc! { "mapReduce": "products" }),
        Err(sharding::Unclassified::UnknownCommand(_))
    ));
    for name in ADMINISTRATIVE {
        assert_eq!(classify(&doc! { *name: "products" }), Ok(Vec::new()));
    }
}

#[test]
fn each_unique_index_is_kept_exactly_where_its_record_says_so() {
    for place in PLACEMENTS {
        for index in place.unique {
            assert_eq!(
                index.under_the_key.starts_with("kept"),
                place.keeps(index.keys),
                "{}: the unique index {:?} says {:?}",
                place.collection,
                index.keys,
                index.under_the_key
            );
        }
    }
    let products = placement("products").unwrap();
    assert!(!products.keeps(&["sku"]) && !products.deployable());
    for kept in ["users", "reviews", "sessions", "refresh_tokens"] {
        assert!(placement(kept).unwrap().deployable(), "{kept}");
    }
    assert!(placement("users").unwrap().unique_key());
    assert!(!placement("sessions").unwrap().unique_key());
    assert!(
        !placement("orders").unwrap().deployable(),
        "nothing to shard"
    );
}

/// What `docker/mongo-sharded/shard-keys.json` must hold: every deployable placement.
fn shard_keys() -> Value {
    let collections: Vec<Value> = PLACEMENTS
        .iter()
        .filter(|p| p.deployable())
        .filter_map(|p| {
            let key = p.key?;
            // Pairs, not an object: the order of a compound key's fields is the key.
            let fields: Vec<Value> = key
                .fields
                .iter()
                .map(|field| match key.kind {
                    sharding::Kind::Hashed => json!([field, "hashed"]),
                    sharding::Kind::Ranged => json!([field, 1]),
                })
                .collect();
            Some(json!({ "collection": p.collection, "key": fields, "unique": p.unique_key() }))
        })
        .collect();
    json!({
        "generated_from": "steps/step05-hybrid-dbs/src/sharding.rs",
        "collections": collections,
    })
}

#[test]
fn the_compose_files_shard_keys_are_exactly_the_deployable_placements() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SHARD_KEYS_FILE);
    let text = std::fs::read_to_string(&path).expect("the compose file's shard keys");
    let file: Value = serde_json::from_str(&text).expect("JSON");
    let expected = shard_keys();
    assert_eq!(
        file,
        expected,
        "{} differs from sharding::PLACEMENTS; write this there:\n{}",
        path.display(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

/// Every command a client started, in order.
type Seen = Arc<Mutex<Vec<Document>>>;

/// Another instance of a test app's deployment (its configuration, databases, Redis prefix
/// and payments service) on a MongoDB client of its own whose command monitor records every
/// command. It is prepared and assembled on that client as `Step::build_with` does on the one
/// it connects, so what it sends is what the app sends.
struct Monitored {
    address: String,
    seen: Seen,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Monitored {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Monitored {
    async fn beside(app: &App) -> anyhow::Result<Self> {
        let config = &app.config;
        let seen = Seen::default();
        let record = seen.clone();
        let mut options = ClientOptions::parse(config.mongodb.uri.expose_secret()).await?;
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                record.lock().expect("not poisoned").push(started.command);
            }
        }));
        let db = common::store::mongo::Mongo::plain(
            mongodb::Client::with_options(options)?.database(&config.mongodb.database),
        );
        AppState::prepare(&db, config).await.context("preparing")?;
        let state = AppState::assemble(&db, config, |_| Ok(())).await?;
        let server =
            common::Application::bind(&config.common().server, state.router(config)).await?;
        let address = format!("http://{}", server.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = server.run_until(std::future::pending()).await;
        });
        Ok(Self {
            address,
            seen,
            server,
        })
    }

    fn commands(&self) -> Vec<Document> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

/// The reply, expected with `status`; its JSON body (`null` when it has none).
fn expect(reply: anyhow::Result<Reply>, status: u16) -> anyhow::Result<Value> {
    let reply = reply?;
    if reply.status.as_u16() == status && reply.body.is_empty() {
        return Ok(Value::Null);
    }
    reply.expect_value(status)
}

async fn graphql(api: &Api, query: &str, variables: Value) -> anyhow::Result<Value> {
    let request = json!({ "query": query, "variables": variables });
    let answer = expect(api.post("/graphql", &request).await, 200)?;
    anyhow::ensure!(answer.get("errors").is_none(), "GraphQL errors: {answer}");
    Ok(answer["data"].clone())
}

fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no `{key}` in {value}"))
}

/// Every route that touches MongoDB, through `t`: accounts and sessions (step 1), the catalog
/// and its reviews, the listing of v1, v2 and GraphQL with every filter, every sort and their
/// cursors (step 2), orders, which read and take stock (steps 0 and 5), the sales report, the
/// encrypted profile and the Google sign-in's attempts.
async fn drive_every_route(t: &Target) -> anyhow::Result<()> {
    let anonymous = Api::new(&t.base_url);
    let (admin, customer) = fixtures::admin_and_customer(t).await?;
    expect(customer.api.me().await, 200)?;

    // The catalog: three products in a category of their own.
    let category = format!("shard-{}", fixtures::unique_suffix());
    let body = |price: i64, stock: i64, tags: &[&str]| {
        let body = fixtures::product_body(price, stock);
        let body = fixtures::with(&body, "category", json!(category));
        fixtures::with(&body, "tags", json!(tags))
    };
    let cheap = fixtures::create_product(&admin, &body(500, 8, &["red"])).await?;
    let dear = fixtures::create_product(&admin, &body(9000, 7, &["red", "blue"])).await?;
    let gone = fixtures::create_product(&admin, &body(1500, 0, &["blue"])).await?;
    let changed = body(600, 8, &["red"]);
    expect(admin.update_product(&cheap.id, &changed).await, 200)?;
    expect(anonymous.get_product(&dear.id).await, 200)?;
    let v2_product = format!("/api/v2/products/{}", dear.id);
    expect(anonymous.get(&v2_product).await, 200)?;

    // Reviews: one, a second refused, the pages.
    expect(customer.api.post_review(&dear.id, 4, "sturdy").await, 201)?;
    expect(customer.api.post_review(&dear.id, 5, "again").await, 409)?;
    expect(anonymous.list_reviews(&dear.id, "").await, 200)?;
    expect(anonymous.get(&format!("{v2_product}/reviews")).await, 200)?;

    // The listing: a v1 page with its total, then every filter at once.
    expect(anonymous.list_products("limit=2").await, 200)?;
    let every_filter = format!(
        "category={category}&min_price=100&max_price=9500&tag=red&in_stock=true&q=mug&sort=price"
    );
    expect(anonymous.list_products(&every_filter).await, 200)?;
    // v2: every sort, paged to the end by cursor.
    for sort in ["oldest", "newest", "price", "-price", "name", "-rating"] {
        let first = format!("/api/v2/products?category={category}&sort={sort}&limit=1");
        let mut page = expect(anonymous.get(&first).await, 200)?;
        while let Some(cursor) = page["next_cursor"].as_str() {
            let next = format!("{first}&cursor={cursor}");
            page = expect(anonymous.get(&next).await, 200)?;
        }
    }
    // GraphQL: a filtered page, the next one, a product with its reviews.
    let listing = "query($category: String!, $after: String) {
        products(first: 1, after: $after, sort: PRICE_DESC,
                 filter: {category: $category, minPriceMinor: 100, tags: [\"red\"], inStock: true}) {
          edges { cursor node { id reviews(first: 2) { rating } } }
          pageInfo { endCursor } } }";
    let first = graphql(&anonymous, listing, json!({ "category": category })).await?;
    let after = &first["products"]["pageInfo"]["endCursor"];
    graphql(
        &anonymous,
        listing,
        json!({ "category": category, "after": after }),
    )
    .await?;
    let product = "query($id: ID!) { product(id: $id) { name reviews(first: 5) { rating } } }";
    graphql(&anonymous, product, json!({ "id": dear.id })).await?;

    // Orders: placed (stock read and taken), paid, shipped; one cancelled (stock given back);
    // one refused for want of stock; listed and read in v1, v2 and GraphQL.
    let paid = fixtures::paid_order(&admin, &customer).await?.1;
    expect(admin.ship_order(&paid.id).await, 200)?;
    let two_lines = [(cheap.id.as_str(), 1), (dear.id.as_str(), 1)];
    let cancelled = fixtures::place_order(&customer.api, &two_lines).await?;
    expect(admin.cancel_order(&cancelled.id).await, 200)?;
    let too_many = fixtures::order_body(&[(&cheap.id, 100)]);
    expect(customer.api.place_order(&too_many).await, 409)?;
    expect(customer.api.list_orders("").await, 200)?;
    expect(customer.api.get_order(&paid.id).await, 200)?;
    expect(customer.api.get("/api/v2/orders").await, 200)?;
    let v2_order = format!("/api/v2/orders/{}", paid.id);
    expect(customer.api.get(&v2_order).await, 200)?;
    let mine = "query($id: ID!) { me { email } myOrders { items { id items { product { id } } } }
                                  order(id: $id) { totalMinor } }";
    graphql(&customer.api, mine, json!({ "id": paid.id })).await?;
    let place = "mutation($p: ID!) { placeOrder(items: [{productId: $p, quantity: 1}]) { id } }";
    let placed = graphql(&customer.api, place, json!({ "p": cheap.id })).await?;
    let pay_and_review = "mutation($o: ID!, $p: ID!) {
        payOrder(orderId: $o, cardToken: \"tok_success\") { status }
        addReview(productId: $p, rating: 3) { id } }";
    let ids = json!({ "o": placed["placeOrder"]["id"], "p": cheap.id });
    graphql(&customer.api, pay_and_review, ids).await?;

    // The sales report: PostgreSQL's sums, named from one batched catalog read.
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let rfc3339 = |t: time::OffsetDateTime| t.format(&Rfc3339);
    let (from, to) = (rfc3339(now - day)?, rfc3339(now + day)?);
    let report = format!("/api/v2/reports/sales?from={from}&to={to}&group_by=category");
    expect(admin.get(&report).await, 200)?;
    expect(admin.delete_product(&gone.id).await, 204)?;

    // Step 1: the encrypted profile, created then changed.
    let profile = json!({ "phone": "+44 20 7946 0958", "payment_method": "pm_shard_test" });
    expect(customer.api.put("/api/v1/profile", &profile).await, 200)?;
    expect(customer.api.get("/api/v1/profile").await, 200)?;
    let changed = fixtures::with(&profile, "payment_method", json!("pm_changed"));
    expect(customer.api.put("/api/v1/profile", &changed).await, 200)?;

    // Sessions: a refresh, the replay of its used token (reuse detection), the list, a
    // revocation, a password change, logout and logout-all.
    let login = || async {
        expect(
            anonymous.login(&customer.email, &customer.password).await,
            200,
        )
    };
    let (old, here) = (login().await?, login().await?);
    let refresh = json!({ "refresh_token": text(&here, "refresh_token")? });
    expect(anonymous.post("/api/v1/auth/refresh", &refresh).await, 200)?;
    expect(anonymous.post("/api/v1/auth/refresh", &refresh).await, 401)?;
    let signed_in = anonymous.with_token(text(&login().await?, "access_token")?);
    expect(signed_in.get("/api/v1/auth/sessions").await, 200)?;
    let old_session = format!("/api/v1/auth/sessions/{}", text(&old, "session_id")?);
    expect(signed_in.delete(&old_session).await, 204)?;
    let password = json!({
        "current_password": customer.password,
        "new_password": format!("{}-changed", customer.password),
    });
    expect(
        signed_in.post("/api/v1/auth/password", &password).await,
        200,
    )?;
    expect(signed_in.post("/api/v1/auth/logout", &json!({})).await, 204)?;
    expect(admin.post("/api/v1/auth/logout-all", &json!({})).await, 200)?;

    google_sign_in_attempt(&t.base_url).await?;
    expect(anonymous.health().await, 200)?;
    Ok(())
}

/// Starts a Google sign-in and comes back to the callback with its state: the attempt is
/// stored, then taken by the state's hash. The token exchange after it fails (no provider runs
/// here), so the linked identities are not reached.
async fn google_sign_in_attempt(base: &str) -> anyhow::Result<()> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let started = browser
        .get(format!("{base}/api/v1/auth/google/start"))
        .send()
        .await?;
    anyhow::ensure!(
        started.status() == 302,
        "google start: {}",
        started.status()
    );
    let header = |name: reqwest::header::HeaderName| {
        started
            .headers()
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .with_context(|| format!("no {name} header"))
    };
    let location = reqwest::Url::parse(&header(reqwest::header::LOCATION)?)?;
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("no state")?;
    let cookie = header(reqwest::header::SET_COOKIE)?;
    let binding = cookie.split(';').next().unwrap_or_default().to_owned();
    let callback = browser
        .get(format!("{base}/api/v1/auth/google/callback"))
        .query(&[("code", "shard-test"), ("state", state.as_str())])
        .header(reqwest::header::COOKIE, binding)
        .send()
        .await?;
    anyhow::ensure!(
        callback.status() != 404,
        "the Google routes are configured for the test"
    );
    Ok(())
}

/// Shapes the chapter states, with where they go.
const CLAIMS: &[(&str, Routing)] = &[
    ("users find {email: ?}", Routing::OneShard),
    ("users insert", Routing::OneShard),
    ("products find {_id: ?}", Routing::OneShard),
    ("products find {_id: {$in: ?}}", Routing::SomeShards),
    (
        "products updateOne {_id: ?, stock: {$gte: ?}}",
        Routing::OneShard,
    ),
    ("reviews find {product_id: ?}", Routing::SomeShards),
    (
        "reviews aggregate {product_id: {$in: ?}}",
        Routing::SomeShards,
    ),
    (
        "refresh_tokens findAndModify {_id: ?, status: ?}",
        Routing::OneShard,
    ),
    ("oauth_attempts findAndModify {_id: ?}", Routing::OneShard),
];

#[tokio::test]
async fn every_query_the_app_sends_is_routed_by_the_shard_keys_and_only_the_listed_shapes_scatter()
{
    let app = App::spawn_with(|config| {
        let google = &mut config.security.google;
        google.client_id = Some("shard-test-client".to_owned());
        google.client_secret = Some("shard-test-secret".to_owned().into());
        // Nothing listens there: the exchange fails after the attempt is taken.
        google.token_url = "http://127.0.0.1:9/token".to_owned();
    })
    .await;
    let target = app.contract_target().await;
    let monitored = Monitored::beside(&app)
        .await
        .expect("the monitored instance starts");
    let through_it = Target::new(
        &monitored.address,
        target.admin_email,
        target.admin_password,
    );
    drive_every_route(&through_it)
        .await
        .expect("every route answers as expected");

    let commands = monitored.commands();
    let mut problems = Vec::new();
    let mut shapes: BTreeMap<String, Query> = BTreeMap::new();
    let mut unique = BTreeSet::new();
    let mut administrative = BTreeSet::new();
    for command in &commands {
        if let Some(Bson::String(collection)) = command.get("createIndexes") {
            for index in command.get_array("indexes").into_iter().flatten() {
                let index = index.as_document().expect("an index document");
                if index.get_bool("unique").unwrap_or(false) {
                    let keys: Vec<String> =
                        index.get_document("key").unwrap().keys().cloned().collect();
                    unique.insert((collection.clone(), keys));
                }
            }
        }
        if let Some(name) = command
            .keys()
            .next()
            .filter(|n| ADMINISTRATIVE.contains(&n.as_str()))
        {
            administrative.insert(name.clone());
        }
        match classify(command) {
            Ok(queries) => {
                for query in queries {
                    if let Some(why) = &query.refused {
                        problems.push(format!(
                            "{}: refused by a MongoDB 7.0 mongos: {why}",
                            query.shape
                        ));
                    }
                    // One shape, its widest routing: `$in` of one id is one shard, of two
                    // ids some.
                    match shapes.get(&query.shape) {
                        Some(seen) if seen.routing >= query.routing => {}
                        _ => {
                            shapes.insert(query.shape.clone(), query);
                        }
                    }
                }
            }
            Err(error) => problems.push(format!("{error}: {command}")),
        }
    }
    let table: Vec<String> = shapes
        .values()
        .map(|q| format!("  {:<12} {}", q.routing.to_string(), q.shape))
        .collect();
    println!(
        "{} commands, {} query shapes:\n{}\nadministrative: {administrative:?}",
        commands.len(),
        shapes.len(),
        table.join("\n")
    );

    for (shape, routing) in CLAIMS {
        match shapes.get(*shape) {
            Some(query) if query.routing == *routing => {}
            Some(query) => problems.push(format!(
                "{shape}: {} where the chapter says {routing}",
                query.routing
            )),
            None => problems.push(format!("{shape}: not sent by any route driven")),
        }
    }
    let scattered: BTreeSet<&str> = shapes
        .values()
        .filter(|q| q.routing == Routing::AllShards)
        .map(|q| q.shape.as_str())
        .collect();
    let listed: BTreeSet<&str> = SCATTER_GATHER.iter().map(|(shape, _)| *shape).collect();
    for shape in scattered.difference(&listed) {
        problems.push(format!(
            "{shape}: reaches every shard and is not in sharding::SCATTER_GATHER"
        ));
    }
    for shape in listed.difference(&scattered) {
        problems.push(format!(
            "{shape}: listed in sharding::SCATTER_GATHER, but no route sent it to every shard"
        ));
    }
    let recorded: BTreeSet<(String, Vec<String>)> = PLACEMENTS
        .iter()
        .flat_map(|p| {
            p.unique.iter().map(|u| {
                (
                    p.collection.to_owned(),
                    u.keys.iter().map(|k| (*k).to_owned()).collect(),
                )
            })
        })
        .collect();
    if unique != recorded {
        problems.push(format!(
            "the unique indexes the app creates, {unique:?}, are not those sharding::PLACEMENTS \
             records, {recorded:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

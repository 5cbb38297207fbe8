//! `migrate-orders`: steps 0-4's orders, written by step 0's MongoDB stores, copied into
//! PostgreSQL. A run copies every decodable order with its lines and payments and verifies
//! each by checksum; a second run changes nothing; a dry run writes nothing; a corrupt
//! document and a payment without its order are reported and skipped; and the real binary,
//! killed with SIGKILL at random points and restarted, ends exactly where an uninterrupted
//! run ends.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, PaymentInfo, PaymentRecord,
    PaymentStatus, ProductId, Quantity, Sku, UserId,
};
use common::store::mongo::{MongoOrders, MongoPayments};
use common::store::{OrderStore, PaymentStore};
use mongodb::Database;
use mongodb::bson::{Document, doc, oid::ObjectId};
use secrecy::ExposeSecret;
use step05_hybrid_dbs::migration::{self, Options, checksum};
use step05_hybrid_dbs::store::PgOrders;

use crate::support::App;

fn eur(minor: i64) -> Money {
    Money::price(minor, Currency::parse("EUR").unwrap()).unwrap()
}

/// Order `n` of a seeded history: some pending, some paid (with their payment), some
/// cancelled, one to three lines each.
fn historic_order(n: u32) -> (Order, Option<PaymentRecord>) {
    let now = common::store::mongo::now();
    let lines: Vec<OrderLine> = (0..=(n % 3))
        .map(|i| OrderLine {
            product_id: ProductId::new(),
            sku: Sku::parse(&format!("SKU-{n}-{i}")).unwrap(),
            name: format!("Item {n}/{i}"),
            unit_price: eur(100 + i64::from(n)),
            quantity: Quantity::parse(i64::from(i) + 1).unwrap(),
        })
        .collect();
    let total = lines
        .iter()
        .map(|l| l.unit_price.minor * i64::from(l.quantity.get()))
        .sum();
    let id = OrderId::new();
    let paid = n % 3 == 1;
    let payment = paid.then(|| PaymentInfo {
        provider_reference: format!("ch_{n}"),
        amount: eur(total),
        status: "succeeded".to_owned(),
        paid_at: now,
    });
    let order = Order {
        id,
        user_id: UserId::new(),
        lines,
        total: eur(total),
        status: match n % 3 {
            0 => OrderStatus::Pending,
            1 => OrderStatus::Paid,
            _ => OrderStatus::Cancelled,
        },
        payment,
        created_at: now,
        updated_at: now,
    };
    let record = paid.then(|| PaymentRecord {
        order_id: id,
        idempotency_key: format!("pay-{n}"),
        amount: eur(total),
        status: PaymentStatus::Succeeded,
        provider_reference: Some(format!("ch_{n}")),
        reason: None,
        created_at: now,
    });
    (order, record)
}

/// `count` orders through step 0's stores, one corrupt order document and one payment whose
/// order does not exist; the ids of the good orders.
pub(crate) async fn seed(db: &Database, count: u32) -> Vec<OrderId> {
    let orders = MongoOrders::new(db);
    let payments = MongoPayments::new(db);
    let mut ids = Vec::new();
    for n in 0..count {
        let (order, record) = historic_order(n);
        orders.insert(&order).await.unwrap();
        if let Some(record) = record {
            payments.record(&record).await.unwrap();
        }
        ids.push(order.id);
    }
    let raw = db.collection::<Document>("orders");
    raw.insert_one(doc! {
        "_id": ObjectId::new(), "user_id": UserId::new().to_string(), "lines": [],
        "total_minor": 5, "currency": "euro", "status": "pending", "payment": null,
        "created_at": mongodb::bson::DateTime::now(), "updated_at": mongodb::bson::DateTime::now(),
    })
    .await
    .unwrap();
    db.collection::<Document>("payments")
        .insert_one(doc! {
            "order_id": OrderId::new().to_string(), "idempotency_key": "orphan-1",
            "amount_minor": 100, "currency": "EUR", "status": "succeeded",
            "provider_reference": "ch_x", "reason": null,
            "created_at": mongodb::bson::DateTime::now(),
        })
        .await
        .unwrap();
    ids
}

pub(crate) async fn mongo(app: &App) -> Database {
    common::store::mongo::connect(&app.config.mongodb)
        .await
        .unwrap()
}

/// Every order in PostgreSQL, as checksums, and the number of payments.
async fn postgres_state(app: &App, ids: &[OrderId]) -> (BTreeSet<String>, i64, i64) {
    let pool = &app.state.postgres;
    let orders = PgOrders::new(pool.clone()).get_many(ids).await.unwrap();
    let sums = orders.iter().map(checksum).collect();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap();
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(pool)
        .await
        .unwrap();
    (sums, count, payments)
}

#[tokio::test]
async fn a_run_copies_and_verifies_every_order_and_a_second_run_changes_nothing() {
    let app = App::spawn().await;
    let db = mongo(&app).await;
    let ids = seed(&db, 25).await;
    let options = Options {
        batch_size: 7,
        dry_run: false,
    };

    let first = migration::migrate_orders(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert_eq!(
        (first.read, first.copied, first.present),
        (26, 25, 0),
        "{first}"
    );
    assert_eq!(first.payments_copied, 8, "{first}");
    assert!(first.verification.passed(), "{first}");
    assert_eq!(first.verification.equal, 25);
    let sources: Vec<&str> = first.problems.iter().map(|p| p.source.as_str()).collect();
    assert_eq!(sources.len(), 2, "{first}");
    assert!(sources.iter().any(|s| s.starts_with("orders:")), "{first}");
    assert!(sources.contains(&"payments:orphan-1"), "{first}");
    assert!(
        first
            .problems
            .iter()
            .any(|p| p.reason.contains("does not exist")),
        "{first}"
    );
    let after_first = postgres_state(&app, &ids).await;
    assert_eq!((after_first.1, after_first.2), (25, 8));

    let second = migration::migrate_orders(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert_eq!((second.read, second.copied), (0, 0), "{second}");
    assert!(second.verification.passed(), "{second}");
    assert_eq!(postgres_state(&app, &ids).await, after_first);

    // Even from the start again (the checkpoint lost), nothing changes.
    sqlx::query("DELETE FROM migration_checkpoints")
        .execute(&app.state.postgres)
        .await
        .unwrap();
    let again = migration::migrate_orders(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert_eq!(
        (again.copied, again.present, again.payments_copied),
        (0, 25, 0),
        "{again}"
    );
    assert_eq!(postgres_state(&app, &ids).await, after_first);
}

#[tokio::test]
async fn a_dry_run_reads_and_reports_everything_and_writes_nothing() {
    let app = App::spawn().await;
    let db = mongo(&app).await;
    let ids = seed(&db, 10).await;
    let report = migration::migrate_orders(
        &db,
        &app.state.postgres,
        Options {
            batch_size: 4,
            dry_run: true,
        },
    )
    .await
    .unwrap();
    assert_eq!((report.read, report.copied), (11, 10), "{report}");
    assert_eq!(report.problems.len(), 2, "{report}");
    assert_eq!(report.verification.missing.len(), 10, "{report}");
    let (sums, orders, payments) = postgres_state(&app, &ids).await;
    assert!(sums.is_empty());
    assert_eq!((orders, payments), (0, 0));
    let checkpoints: i64 = sqlx::query_scalar("SELECT count(*) FROM migration_checkpoints")
        .fetch_one(&app.state.postgres)
        .await
        .unwrap();
    assert_eq!(checkpoints, 0);
}

/// The real binary's `migrate-orders`, against the test's databases.
fn migrate_command(app: &App, batch_size: u32) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step05-hybrid-dbs"));
    command
        .args(["migrate-orders", "--batch-size", &batch_size.to_string()])
        .env("APP__MONGODB__URI", app.config.mongodb.uri.expose_secret())
        .env("APP__MONGODB__DATABASE", &app.config.mongodb.database)
        .env(
            "APP__POSTGRES__URL",
            app.config.postgres.url.expose_secret(),
        )
        .env_remove("APP_CONFIG")
        // No shop.toml there: the command sees only what the test sets.
        .current_dir(std::env::temp_dir())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// A small deterministic generator (the seed makes a failure reproducible).
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_at_random_points_and_restarted_it_ends_as_an_uninterrupted_run() {
    // The reference: one uninterrupted run of the binary.
    let reference = App::spawn().await;
    let db = mongo(&reference).await;
    seed(&db, 150).await;
    let status = migrate_command(&reference, 10).status().unwrap();
    assert!(status.success(), "the uninterrupted run");
    let all_ids: Vec<OrderId> = sqlx::query_scalar::<_, String>("SELECT id::text FROM orders")
        .fetch_all(&reference.state.postgres)
        .await
        .unwrap()
        .iter()
        .map(|id| id.trim().parse().unwrap())
        .collect();
    let expected = postgres_state(&reference, &all_ids).await;
    assert_eq!((expected.1, expected.2), (150, 50));

    let mut total_kills = 0;
    for seed_value in [1_u64, 7, 42] {
        // The same MongoDB database, a PostgreSQL database of its own: from nothing.
        let mongodb = reference.config.mongodb.clone();
        let app = App::spawn_with(move |config| config.mongodb = mongodb).await;
        let mut rng = seed_value;
        let mut kills = 0;
        let started = Instant::now();
        loop {
            let mut child = migrate_command(&app, 5).spawn().unwrap();
            // The window widens with every kill: on a busy machine a start alone may outlast
            // the first windows, and a run that never gets past its start never ends.
            let wait = Duration::from_millis(30 + next(&mut rng) % (300 + 20 * kills));
            tokio::time::sleep(wait).await;
            match child.try_wait().unwrap() {
                Some(status) => {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
                    }
                    assert!(status.success(), "seed {seed_value}: {stderr}");
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "seed {seed_value}: never finished ({kills} kills)"
            );
        }
        let state = postgres_state(&app, &all_ids).await;
        assert_eq!(state, expected, "seed {seed_value}: after {kills} kills");
        println!("seed {seed_value}: killed {kills} times, then finished; identical");
        total_kills += kills;
    }
    assert!(
        total_kills > 0,
        "no run was ever killed: the waits are too long for this machine"
    );
}

#[tokio::test]
async fn an_order_that_differs_in_postgresql_fails_the_verification_and_the_command() {
    let app = App::spawn().await;
    let db = mongo(&app).await;
    let ids = seed(&db, 5).await;
    let options = Options {
        batch_size: 2,
        dry_run: false,
    };
    let first = migration::migrate_orders(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert!(first.verification.passed(), "{first}");

    // One line renamed and one order deleted behind the migration's back.
    let changed = ids[1].to_string();
    let gone = ids[3].to_string();
    sqlx::query("UPDATE order_lines SET name = 'Tampered' WHERE order_id = $1")
        .bind(&changed)
        .execute(&app.state.postgres)
        .await
        .unwrap();
    sqlx::query("DELETE FROM payments WHERE order_id = $1")
        .bind(&gone)
        .execute(&app.state.postgres)
        .await
        .unwrap();
    sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(&gone)
        .execute(&app.state.postgres)
        .await
        .unwrap();

    let again = migration::migrate_orders(&db, &app.state.postgres, options)
        .await
        .unwrap();
    assert!(!again.verification.passed(), "{again}");
    assert_eq!(again.verification.different, vec![changed], "{again}");
    assert_eq!(again.verification.missing, vec![gone], "{again}");
    assert_eq!(again.verification.equal, 3, "{again}");
    let output = migrate_command(&app, 2).output().unwrap();
    assert!(!output.status.success(), "the command fails on a mismatch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("verification failed"), "{stderr}");
}

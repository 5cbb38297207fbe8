//! The store conformance suite: the same checks, generic over step 0's `OrderStore` and
//! `PaymentStore`, run against the MongoDB stores (steps 0-4) and the PostgreSQL ones (step
//! 5): an order reads back as written, status transitions are compare-and-set, a user's
//! orders come newest first with their total, and payments upsert by idempotency key.

use std::sync::Arc;

use common::domain::{
    Currency, Money, Order, OrderId, OrderLine, OrderStatus, Page, PaymentInfo, PaymentRecord,
    PaymentStatus, ProductId, Quantity, Sku, UserId,
};
use common::store::mongo::{MongoOrders, MongoPayments};
use common::store::{OrderStore, PaymentStore};
use step05_hybrid_dbs::store::{PgOrders, PgPayments};

use crate::support::App;

/// Both implementations of each store, over the test's own databases.
async fn implementations(
    app: &App,
) -> Vec<(&'static str, Arc<dyn OrderStore>, Arc<dyn PaymentStore>)> {
    let db = common::store::mongo::connect(&app.config.mongodb)
        .await
        .expect("MongoDB");
    let pool = app.state.postgres.clone();
    vec![
        (
            "mongodb",
            Arc::new(MongoOrders::new(&db)),
            Arc::new(MongoPayments::new(&db)),
        ),
        (
            "postgresql",
            Arc::new(PgOrders::new(pool.clone())),
            Arc::new(PgPayments::new(pool)),
        ),
    ]
}

fn eur(minor: i64) -> Money {
    Money::price(minor, Currency::parse("EUR").unwrap()).unwrap()
}

/// A pending order of `user` with two lines, stamped at BSON's millisecond precision (what
/// both stores keep).
fn order(user: UserId) -> Order {
    let now = common::store::mongo::now();
    let line = |sku: &str, price: i64, quantity: i64| OrderLine {
        product_id: ProductId::new(),
        sku: Sku::parse(sku).unwrap(),
        name: format!("Product {sku}"),
        unit_price: eur(price),
        quantity: Quantity::parse(quantity).unwrap(),
    };
    Order {
        id: OrderId::new(),
        user_id: user,
        lines: vec![line("MUG-1", 1250, 2), line("CUP-2", 300, 1)],
        total: eur(2800),
        status: OrderStatus::Pending,
        payment: None,
        created_at: now,
        updated_at: now,
    }
}

fn summary(order: &Order) -> String {
    let lines: Vec<String> = order
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} x{}",
                l.product_id,
                l.sku.as_str(),
                l.name,
                l.unit_price.minor,
                l.quantity.get()
            )
        })
        .collect();
    format!(
        "{} user={} {} {} {:?} lines={lines:?} payment={:?} created={}",
        order.id,
        order.user_id,
        order.total.minor,
        order.total.currency.as_str(),
        order.status,
        order.payment.as_ref().map(|p| (
            &p.provider_reference,
            p.amount.minor,
            &p.status,
            p.paid_at
        )),
        order.created_at
    )
}

#[tokio::test]
async fn an_order_reads_back_exactly_as_written_from_both_stores() {
    let app = App::spawn().await;
    for (name, orders, _) in implementations(&app).await {
        let written = order(UserId::new());
        orders.insert(&written).await.unwrap();
        let read = orders.get(written.id).await.unwrap().expect("the order");
        assert_eq!(summary(&read), summary(&written), "{name}");
        assert!(
            orders.get(OrderId::new()).await.unwrap().is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_status_transition_is_a_compare_and_set_in_both_stores() {
    let app = App::spawn().await;
    for (name, orders, _) in implementations(&app).await {
        let placed = order(UserId::new());
        orders.insert(&placed).await.unwrap();
        let payment = PaymentInfo {
            provider_reference: "ch_1".to_owned(),
            amount: eur(2800),
            status: "succeeded".to_owned(),
            paid_at: common::store::mongo::now(),
        };
        let paid = orders
            .transition(
                placed.id,
                OrderStatus::Pending,
                OrderStatus::Paid,
                Some(payment),
            )
            .await
            .unwrap()
            .expect("pending -> paid");
        assert_eq!(paid.status, OrderStatus::Paid, "{name}");
        assert_eq!(
            paid.payment.as_ref().unwrap().provider_reference,
            "ch_1",
            "{name}"
        );
        assert!(paid.updated_at >= placed.updated_at, "{name}");
        // The second of two racing payments finds it paid already.
        let again = orders
            .transition(placed.id, OrderStatus::Pending, OrderStatus::Paid, None)
            .await
            .unwrap();
        assert!(again.is_none(), "{name}: a second pending -> paid");
        // Shipping keeps the payment.
        let shipped = orders
            .transition(placed.id, OrderStatus::Paid, OrderStatus::Shipped, None)
            .await
            .unwrap()
            .expect("paid -> shipped");
        assert_eq!(
            shipped.payment.unwrap().provider_reference,
            "ch_1",
            "{name}"
        );
        let unknown = orders
            .transition(
                OrderId::new(),
                OrderStatus::Pending,
                OrderStatus::Cancelled,
                None,
            )
            .await
            .unwrap();
        assert!(unknown.is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_users_orders_come_newest_first_with_their_total_in_both_stores() {
    let app = App::spawn().await;
    for (name, orders, _) in implementations(&app).await {
        let user = UserId::new();
        let mut placed = Vec::new();
        for _ in 0..3 {
            let o = order(user);
            orders.insert(&o).await.unwrap();
            placed.push(o.id);
        }
        orders.insert(&order(UserId::new())).await.unwrap();
        let first = orders
            .list_for_user(user, Page { page: 1, limit: 2 })
            .await
            .unwrap();
        let second = orders
            .list_for_user(user, Page { page: 2, limit: 2 })
            .await
            .unwrap();
        let ids = |page: &common::domain::Paged<Order>| -> Vec<OrderId> {
            page.items.iter().map(|o| o.id).collect()
        };
        assert_eq!(ids(&first), vec![placed[2], placed[1]], "{name}");
        assert_eq!(ids(&second), vec![placed[0]], "{name}");
        assert_eq!((first.total, second.total), (3, 3), "{name}");
        assert!(
            first.items.iter().all(|o| o.lines.len() == 2),
            "{name}: lines of every order"
        );
    }
}

#[tokio::test]
async fn recording_a_payment_twice_under_one_key_keeps_one_record_in_both_stores() {
    let app = App::spawn().await;
    for (name, orders, payments) in implementations(&app).await {
        let placed = order(UserId::new());
        orders.insert(&placed).await.unwrap();
        // Attempts a second apart: both stores list by time, and ties have no order.
        let start = common::store::mongo::now();
        let attempt = |key: &str, status, reference: Option<&str>, second: i64| PaymentRecord {
            order_id: placed.id,
            idempotency_key: key.to_owned(),
            amount: eur(2800),
            status,
            provider_reference: reference.map(str::to_owned),
            reason: None,
            created_at: start + time::Duration::seconds(second),
        };
        payments
            .record(&attempt("k-1", PaymentStatus::Declined, None, 0))
            .await
            .unwrap();
        payments
            .record(&attempt("k-2", PaymentStatus::Succeeded, Some("ch_2"), 1))
            .await
            .unwrap();
        // A retry of the second attempt, then its refund: still one record for that key, and
        // it keeps the time of the attempt.
        payments
            .record(&attempt("k-2", PaymentStatus::Succeeded, Some("ch_2"), 1))
            .await
            .unwrap();
        payments
            .record(&attempt("k-2", PaymentStatus::Refunded, Some("ch_2"), 2))
            .await
            .unwrap();
        let listed = payments.list_for_order(placed.id).await.unwrap();
        let seen: Vec<(String, PaymentStatus)> = listed
            .iter()
            .map(|p| (p.idempotency_key.clone(), p.status))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("k-1".to_owned(), PaymentStatus::Declined),
                ("k-2".to_owned(), PaymentStatus::Refunded)
            ],
            "{name}"
        );
        assert!(
            payments
                .list_for_order(OrderId::new())
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}

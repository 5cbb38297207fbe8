//! The sagas end to end against the real stores: what each leaves behind when it finishes,
//! and what the recovery worker does with one whose driver is gone.

use std::time::Duration;

use common::payments::{Charge, ChargeDetails, ChargeRequest, PaymentError, PaymentGateway};
use serde_json::json;
use step06_distributed::saga::{Data, Kind, PlacedLine, PlacedOrder, step, store};
use testkit::expect_status;

use crate::support::{
    App, events_of, eventually, marks_of, pool, refunded_behind_the_shops_back, reservations_of,
    sagas_of, stock_of,
};

fn triple(kind: &str, step: &str, state: &str) -> (String, String, String) {
    (kind.to_owned(), step.to_owned(), state.to_owned())
}

#[tokio::test]
async fn an_order_placed_paid_and_cancelled_leaves_finished_sagas_its_stock_back_and_no_marks() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 10 }), 3).await;
    assert_eq!(stock_of(&app, &placed.product_id).await, 7);
    assert_eq!(
        reservations_of(&app, &placed.id).await,
        [(3, "held".to_owned())]
    );

    expect_status(
        app.pay_order(&placed.token, &placed.id, "tok_success")
            .await,
        200,
    )
    .await;
    assert_eq!(
        reservations_of(&app, &placed.id).await,
        [(3, "sold".to_owned())]
    );

    expect_status(app.cancel_order(&admin, &placed.id).await, 200).await;
    assert_eq!(
        sagas_of(&app, &placed.id).await,
        [
            triple("place", "placed", "done"),
            triple("pay", "paid", "done"),
            triple("cancel", "cancelled", "done"),
        ]
    );
    assert_eq!(
        reservations_of(&app, &placed.id).await,
        [(3, "released".to_owned())]
    );
    assert_eq!(stock_of(&app, &placed.product_id).await, 10);
    assert_eq!(
        marks_of(&app, &placed.product_id).await,
        Vec::<String>::new()
    );
    assert_eq!(
        events_of(&app, &placed.id).await,
        ["order_placed", "order_paid", "order_cancelled"]
    );
}

#[tokio::test]
async fn an_order_short_of_stock_is_compensated_and_leaves_no_order_and_every_unit_in_place() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let plenty = app.create_product(&admin, json!({ "stock": 10 })).await;
    let scarce = app.create_product(&admin, json!({ "stock": 1 })).await;
    let (_, customer) = app.customer().await;

    let refused = app
        .place_order(
            &customer,
            json!([
                { "product_id": plenty["id"], "quantity": 4 },
                { "product_id": scarce["id"], "quantity": 2 },
            ]),
        )
        .await;
    testkit::expect_error(refused, 409, "OUT_OF_STOCK").await;

    let plenty_id = plenty["id"].as_str().unwrap();
    assert_eq!(stock_of(&app, plenty_id).await, 10);
    assert_eq!(stock_of(&app, scarce["id"].as_str().unwrap()).await, 1);
    assert_eq!(marks_of(&app, plenty_id).await, Vec::<String>::new());
    let (kind, step, state): (String, String, String) =
        sqlx::query_as("SELECT kind, step, state FROM sagas ORDER BY id DESC LIMIT 1")
            .fetch_one(&pool(&app))
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), step.as_str(), state.as_str()),
        ("place", "released", "compensated")
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool(&app))
        .await
        .unwrap();
    assert_eq!(orders, 0, "no order row for an order that was refused");
}

/// A place saga whose driver died after taking stock for one line and before the order was
/// stored: its client was never answered, so the worker puts the stock back.
#[tokio::test]
async fn a_place_saga_whose_driver_died_half_way_is_compensated_by_the_recovery_worker() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let first = app.create_product(&admin, json!({ "stock": 5 })).await;
    let second = app.create_product(&admin, json!({ "stock": 5 })).await;
    let (first, second) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    let order = common::domain::OrderId::new();
    let line = |product: &str| PlacedLine {
        product_id: product.to_owned(),
        sku: "SKU-1".to_owned(),
        name: "a line".to_owned(),
        unit_price_minor: 100,
        quantity: 2,
    };
    let data = Data::Place(PlacedOrder {
        user_id: common::domain::UserId::new().to_string(),
        total_minor: 400,
        currency: "EUR".to_owned(),
        lines: vec![line(&first), line(&second)],
        created_at_us: 0,
    });
    // What the dead driver left: the saga and its reservations, then one line's stock taken
    // with its mark, a lease that has already run out.
    let mut tx = pool(&app).begin().await.unwrap();
    store::begin_in(
        &mut tx,
        Kind::Place,
        order,
        step::RESERVE,
        &data,
        "dead-driver",
        -1,
    )
    .await
    .unwrap();
    store::reserve_in(&mut tx, order, &[(first.clone(), 2), (second.clone(), 2)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let products = &app.state.sagas.products;
    let moved = products
        .move_stock(first.parse().unwrap(), -2, &format!("reserve:{order}"))
        .await
        .unwrap();
    assert_eq!(moved, common::store::StockMove::Moved);
    assert_eq!(stock_of(&app, &first).await, 3);

    let order = order.to_string();
    eventually(
        "the worker compensates the saga",
        Duration::from_secs(10),
        || async {
            let sagas = sagas_of(&app, &order).await;
            (sagas == [triple("place", "released", "compensated")]).then_some(())
        },
    )
    .await;
    assert_eq!(stock_of(&app, &first).await, 5, "the taken line is back");
    assert_eq!(
        stock_of(&app, &second).await,
        5,
        "the untaken line was not given extra"
    );
    assert_eq!(
        reservations_of(&app, &order).await,
        [(2, "released".to_owned()), (2, "released".to_owned())]
    );
    assert_eq!(marks_of(&app, &first).await, Vec::<String>::new());
}

/// The provider takes the charge but the answer is lost (here: slower than the payment
/// timeout); the saga is parked and the worker asks again with the same key, which the
/// provider answers with the charge it made: the order is paid once, without the client.
#[tokio::test]
async fn a_payment_whose_answer_was_lost_is_finished_by_the_worker_with_one_charge() {
    let app = App::spawn_with(|config| config.saga.retry_after_ms = 300).await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 4 }), 1).await;
    let timeout = Duration::from_millis(app.config.payments.timeout_ms);
    app.payments
        .set_latency(timeout + Duration::from_millis(500));

    let paying = app
        .pay_order(&placed.token, &placed.id, "tok_success")
        .await;
    testkit::expect_error(paying, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    app.payments.set_latency(Duration::ZERO);

    eventually(
        "the worker finishes the payment",
        Duration::from_secs(20),
        || async {
            let order = app.order(&placed.token, &placed.id).await;
            (order["status"] == "paid").then_some(())
        },
    )
    .await;
    let charges: Vec<_> = app
        .provider_charges()
        .await
        .into_iter()
        .filter(|c| {
            c["description"]
                .as_str()
                .is_some_and(|d| d.contains(&placed.id))
        })
        .collect();
    assert_eq!(charges.len(), 1, "one charge: {charges:?}");
    assert_eq!(
        reservations_of(&app, &placed.id).await,
        [(1, "sold".to_owned())]
    );
}

#[tokio::test]
async fn an_order_left_unpaid_past_its_expiry_is_cancelled_and_its_stock_released() {
    let app = App::spawn_with(|config| config.saga.order_expiry_secs = 1).await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 6 }), 2).await;
    assert_eq!(stock_of(&app, &placed.product_id).await, 4);
    testkit::expect_error(
        app.pay_order(&placed.token, &placed.id, "tok_decline")
            .await,
        402,
        "PAYMENT_DECLINED",
    )
    .await;

    eventually("the order expires", Duration::from_secs(10), || async {
        let order = app.order(&placed.token, &placed.id).await;
        (order["status"] == "cancelled").then_some(())
    })
    .await;
    // The release saga ends after the stock is back (it drops its marks last): wait for it.
    eventually("the release saga ends", Duration::from_secs(5), || async {
        let last = sagas_of(&app, &placed.id).await.last().cloned();
        (last == Some(triple("cancel", "cancelled", "done"))).then_some(())
    })
    .await;
    assert_eq!(
        stock_of(&app, &placed.product_id).await,
        6,
        "its stock is back"
    );
    let paying = app
        .pay_order(&placed.token, &placed.id, "tok_success")
        .await;
    testkit::expect_error(paying, 409, "INVALID_STATE").await;
}

/// An admin's token and a paid order of 2 units of a product with 5.
async fn paid_order(app: &App) -> (String, testkit::PlacedOrder) {
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 5 }), 2).await;
    let paying = app
        .pay_order(&placed.token, &placed.id, "tok_success")
        .await;
    expect_status(paying, 200).await;
    (admin, placed)
}

/// The provider makes the refund and loses the answer: the cancellation asks it whether the
/// refund was made, finds it was, and finishes: cancelled, refunded once, stock back.
#[tokio::test]
async fn a_cancellation_whose_refund_answer_was_lost_asks_the_provider_and_finishes() {
    let app = App::spawn().await;
    let (admin, placed) = paid_order(&app).await;
    app.payments.set_lose_answer_rate(1.0);

    let cancelled = expect_status(app.cancel_order(&admin, &placed.id).await, 200).await;
    app.payments.set_lose_answer_rate(0.0);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["payment"]["status"], "refunded");
    let charge = cancelled["payment"]["provider_reference"].as_str().unwrap();
    let at_provider = app.provider_charge(charge).await;
    assert_eq!(at_provider["amount_refunded"], at_provider["amount"]);
    assert_eq!(stock_of(&app, &placed.product_id).await, 5);
}

/// Neither the refund nor the question whether it was made gets an answer (the provider is
/// down): the order goes back to paid (503), and the saga asks again once the provider is
/// back; finding no refund, it ends, the order paid and charged once.
#[tokio::test]
async fn a_cancellation_the_provider_could_not_answer_is_settled_once_it_is_back() {
    let app = App::spawn_with(|config| config.saga.retry_after_ms = 200).await;
    let (admin, placed) = paid_order(&app).await;
    app.payments.set_failure_rate(1.0);

    let refused = app.cancel_order(&admin, &placed.id).await;
    testkit::expect_error(refused, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(app.order(&admin, &placed.id).await["status"], "paid");
    assert_eq!(
        sagas_of(&app, &placed.id).await.last().cloned(),
        Some(triple("cancel", "verify", "running"))
    );
    let shipping = app.ship_order(&admin, &placed.id).await;
    testkit::expect_error(shipping, 409, "CANCELLATION_PENDING").await;

    app.payments.set_failure_rate(0.0);
    eventually("the saga settles", Duration::from_secs(10), || async {
        let last = sagas_of(&app, &placed.id).await.last().cloned();
        (last == Some(triple("cancel", "restored", "compensated"))).then_some(())
    })
    .await;
    assert_eq!(app.order(&admin, &placed.id).await["status"], "paid");
    assert_eq!(stock_of(&app, &placed.product_id).await, 3);
    expect_status(app.ship_order(&admin, &placed.id).await, 200).await;
}

/// A cancellation that restored its order to paid and waits at `verify` (its refund's answer
/// and the check both went unanswered), while the provider had in fact made the refund: the
/// worker's next look finds it refunded and finishes the cancellation.
#[tokio::test]
async fn a_cancellation_waiting_to_verify_a_refund_the_provider_made_finishes_it() {
    let app = App::spawn().await;
    let (admin, placed) = paid_order(&app).await;
    // What the provider did, unseen: the refund, under the cancel saga's own key.
    let charge = refunded_behind_the_shops_back(&app, &placed.id, "refund-{charge}").await;
    // What the shop recorded: the order back to paid, the saga parked at verify.
    let data = Data::Cancel {
        charge: Some(charge.clone()),
    };
    let mut tx = pool(&app).begin().await.unwrap();
    store::begin_in(
        &mut tx,
        Kind::Cancel,
        placed.id.parse().unwrap(),
        step::VERIFY,
        &data,
        "dead-driver",
        -1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    cancellation_finishes(&app, &admin, &placed, Duration::from_secs(10)).await;
    let at_provider = app.provider_charge(&charge).await;
    assert_eq!(
        at_provider["amount_refunded"], at_provider["amount"],
        "refunded once"
    );
}

/// Waits up to `within` for `placed`'s cancel saga to end `cancelled`, then finds the order
/// cancelled with its payment refunded and its stock (5) back.
async fn cancellation_finishes(
    app: &App,
    admin: &str,
    placed: &testkit::PlacedOrder,
    within: Duration,
) {
    eventually("the cancellation finishes", within, || async {
        let last = sagas_of(app, &placed.id).await.last().cloned();
        (last == Some(triple("cancel", "cancelled", "done"))).then_some(())
    })
    .await;
    let after = app.order(admin, &placed.id).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["payment"]["status"], "refunded");
    assert_eq!(stock_of(app, &placed.product_id).await, 5);
}

/// A gateway whose refunds arrive late: each is answered at once as lost, and made at the
/// provider `delay` later, as a request that reached the payments service after its caller
/// had given up on it. Charges and questions pass straight through.
struct LateRefunds {
    inner: std::sync::Arc<dyn PaymentGateway>,
    delay: Duration,
}

#[async_trait::async_trait]
impl PaymentGateway for LateRefunds {
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        self.inner.charge(request).await
    }

    async fn refund(&self, charge_id: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let (inner, delay) = (self.inner.clone(), self.delay);
        let (charge, key) = (charge_id.to_owned(), idempotency_key.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.refund(&charge, &key).await
        });
        Err(PaymentError::Unavailable(anyhow::anyhow!(
            "the answer was lost on its way"
        )))
    }

    async fn find_charge(&self, charge_id: &str) -> Result<Option<ChargeDetails>, PaymentError> {
        self.inner.find_charge(charge_id).await
    }
}

/// The refund's answer is lost and, asked at once, the provider has made no refund: the
/// refund is still on its way, and is made a moment later. The cancellation does not take
/// "none yet" for an answer: the order goes back to paid (503) and the saga asks again once
/// a refund on its way would have been made, finds it, and finishes the cancellation. Never
/// an order paid whose charge was refunded.
#[tokio::test]
async fn a_refund_made_after_its_answer_was_lost_and_a_check_found_none_still_cancels() {
    let app = App::builder()
        .parts(|parts| {
            parts.gateway = std::sync::Arc::new(LateRefunds {
                inner: parts.gateway.clone(),
                delay: Duration::from_millis(500),
            });
            Ok(())
        })
        .spawn()
        .await;
    let (admin, placed) = paid_order(&app).await;

    let refused = app.cancel_order(&admin, &placed.id).await;
    testkit::expect_error(refused, 503, "PAYMENT_PROVIDER_UNAVAILABLE").await;
    assert_eq!(app.order(&admin, &placed.id).await["status"], "paid");
    assert_eq!(
        sagas_of(&app, &placed.id).await.last().cloned(),
        Some(triple("cancel", "verify", "running"))
    );

    cancellation_finishes(&app, &admin, &placed, Duration::from_secs(30)).await;
}

//! The outbox end to end: PostgreSQL's outbox, the relay, the Redis stream and both consumer
//! groups, with the redeliveries at-least-once delivery makes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use step06_distributed::consumers::{Mailbox, Round, Runner};
use step06_distributed::outbox::{EventKind, OrderEvent};
use step06_distributed::streams::Streams;
use step06_distributed::workers::stream_key;
use testkit::expect_status;

use crate::support::{App, eventually, pool, redis};

async fn mailbox_of(app: &App, order: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT subject FROM mailbox WHERE order_id = $1::bpchar ORDER BY id")
        .bind(order)
        .fetch_all(&pool(app))
        .await
        .unwrap()
}

/// Waits until `order` has `count` messages in the mailbox.
async fn mailed(app: &App, order: &str, count: usize, what: &str) {
    eventually(what, Duration::from_secs(10), || async {
        (mailbox_of(app, order).await.len() == count).then_some(())
    })
    .await;
}

async fn sales(app: &App) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(orders), 0)::bigint, coalesce(sum(revenue_minor), 0)::bigint \
         FROM sales_by_day",
    )
    .fetch_one(&pool(app))
    .await
    .unwrap()
}

#[tokio::test]
async fn each_order_event_reaches_both_consumers_once() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let placed = app
        .place_new_order(&admin, json!({ "stock": 5, "price_minor": 2_500 }), 2)
        .await;
    expect_status(
        app.pay_order(&placed.token, &placed.id, "tok_success")
            .await,
        200,
    )
    .await;

    let subjects = eventually(
        "the confirmation is mailed",
        Duration::from_secs(10),
        || async {
            let subjects = mailbox_of(&app, &placed.id).await;
            (!subjects.is_empty()).then_some(subjects)
        },
    )
    .await;
    assert_eq!(subjects, [format!("Order {} confirmed", placed.id)]);
    eventually("the sale is projected", Duration::from_secs(10), || async {
        (sales(&app).await == (1, 5_000)).then_some(())
    })
    .await;

    expect_status(app.cancel_order(&admin, &placed.id).await, 200).await;
    eventually(
        "the refund is projected",
        Duration::from_secs(10),
        || async { (sales(&app).await == (0, 0)).then_some(()) },
    )
    .await;
    mailed(&app, &placed.id, 2, "the cancellation is mailed").await;
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&pool(&app))
            .await
            .unwrap();
    assert_eq!(unpublished, 0);
}

/// The relay publishes an event again (as it would after dying between the append and the
/// commit): the stream holds it twice, every consumer applies it once.
#[tokio::test]
async fn an_event_published_twice_is_applied_once() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let placed = app.place_new_order(&admin, json!({ "stock": 5 }), 1).await;
    expect_status(
        app.pay_order(&placed.token, &placed.id, "tok_success")
            .await,
        200,
    )
    .await;
    mailed(&app, &placed.id, 1, "the confirmation is mailed").await;
    let before = sales(&app).await;

    sqlx::query("UPDATE outbox SET published_at = NULL WHERE order_id = $1::bpchar")
        .bind(&placed.id)
        .execute(&pool(&app))
        .await
        .unwrap();
    eventually(
        "the relay publishes them again",
        Duration::from_secs(10),
        || async {
            let consumed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE order_id = $1::bpchar AND published_at IS NULL",
            )
            .bind(&placed.id)
            .fetch_one(&pool(&app))
            .await
            .unwrap();
            (consumed == 0).then_some(())
        },
    )
    .await;
    let mut conn = redis(&app).await;
    let length: i64 = redis::cmd("XLEN")
        .arg(stream_key(&app.config))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(length >= 4, "the stream holds both events twice: {length}");
    eventually(
        "both groups have read the duplicates",
        Duration::from_secs(10),
        || async {
            let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(stream_key(&app.config))
                .query_async(&mut conn.clone())
                .await
                .unwrap();
            let caught_up = groups.len() == 2
                && groups.iter().all(|g| {
                    matches!(g.get("pending"), Some(redis::Value::Int(0)))
                        && matches!(g.get("lag"), Some(redis::Value::Int(0)))
                });
            caught_up.then_some(())
        },
    )
    .await;
    assert_eq!(mailbox_of(&app, &placed.id).await.len(), 1);
    assert_eq!(sales(&app).await, before);
}

/// A member of the mailbox group on a stream of the test's own (made, with the group), so no
/// other member races it; and the stream's key.
async fn runner(app: &App, claim_idle_ms: u64, max_deliveries: u32) -> (Runner, String) {
    let stream = format!(
        "{}:{}",
        stream_key(&app.config),
        uuid::Uuid::new_v4().simple()
    );
    let runner = Runner {
        consumer: Arc::new(Mailbox),
        pool: pool(app),
        streams: Arc::new(Streams::new(&app.config.redis).unwrap()),
        stream: stream.clone(),
        member: "survivor".to_owned(),
        batch: 10,
        claim_idle_ms,
        max_deliveries,
    };
    runner
        .streams
        .ensure_group(&stream, "mailbox")
        .await
        .unwrap();
    (runner, stream)
}

fn event(order: &str) -> OrderEvent {
    OrderEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        kind: EventKind::OrderPaid,
        order_id: order.to_owned(),
        user_id: common::domain::UserId::new().to_string(),
        total_minor: 990,
        currency: "EUR".to_owned(),
        refunded_minor: 0,
        at_ms: 0,
        trace: None,
    }
}

async fn add(conn: &mut redis::aio::MultiplexedConnection, stream: &str, payload: &str) {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("payload")
        .arg(payload)
        .query_async(conn)
        .await
        .unwrap();
}

/// A member that took an entry and died before acknowledging it: after `claim_idle_ms`,
/// another member claims and applies it.
#[tokio::test]
async fn an_entry_a_dead_consumer_left_pending_is_claimed_and_applied() {
    let app = App::spawn().await;
    let (survivor, stream) = runner(&app, 300, 5).await;
    let mut conn = redis(&app).await;
    let order = common::domain::OrderId::new().to_string();
    add(
        &mut conn,
        &stream,
        &serde_json::to_string(&event(&order)).unwrap(),
    )
    .await;
    let taken: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("mailbox")
        .arg("ghost")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !matches!(taken, redis::Value::Nil),
        "the ghost took the entry"
    );

    assert_eq!(
        survivor.round().await.unwrap(),
        Round::default(),
        "not idle long enough yet"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let round = survivor.round().await.unwrap();
    assert_eq!(round.applied, 1, "{round:?}");
    assert_eq!(
        mailbox_of(&app, &order).await,
        [format!("Order {order} confirmed")]
    );
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("mailbox")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "acknowledged");
}

/// An entry no consumer can apply (here: not an event at all) is tried `max_deliveries`
/// times, then moved to the dead-letter stream with the reason, and the next entry is
/// applied.
#[tokio::test]
async fn an_entry_that_keeps_failing_goes_to_the_dead_letter_stream() {
    let app = App::spawn().await;
    let (member, stream) = runner(&app, 0, 2).await;
    let mut conn = redis(&app).await;
    add(&mut conn, &stream, "this is not an event").await;

    let mut rounds = Vec::new();
    for _ in 0..3 {
        rounds.push(member.round().await.unwrap());
    }
    assert_eq!(
        rounds
            .iter()
            .map(|r| (r.failed, r.dead))
            .collect::<Vec<_>>(),
        [(1, 0), (1, 0), (0, 1)],
        "delivered twice, then buried"
    );
    let dead: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(Runner::dead_letters(&stream))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["payload"], "this is not an event");
    assert_eq!(dead[0].1["consumer"], "mailbox");

    let order = common::domain::OrderId::new().to_string();
    add(
        &mut conn,
        &stream,
        &serde_json::to_string(&event(&order)).unwrap(),
    )
    .await;
    assert_eq!(member.round().await.unwrap().applied, 1);
    assert_eq!(mailbox_of(&app, &order).await.len(), 1);
}

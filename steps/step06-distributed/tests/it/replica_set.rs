//! The MongoDB replica-set settings (`replica_set`): what step 6 asks of the driver. The
//! stand-in has no replica set, so these check the options the driver is given; every other
//! test of this binary runs with the defaults on, against the stand-in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::domain::{Page, ProductId};
use common::store::ProductStore;
use common::store::mongo::{Mongo, MongoOptions, MongoProducts};
use mongodb::bson::{Document, Timestamp, doc};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{Acknowledgment, ReadConcern, ReadPreference, SelectionCriteria};
use reqwest::Method;
use serde_json::json;
use step06_distributed::config::{ReadMode, ReplicaSetConfig};
use step06_distributed::replica_set::tune;
use testkit::expect_status;

use crate::support::App;

async fn tuned(config: &ReplicaSetConfig) -> MongoOptions {
    let mut options = MongoOptions::from_config(&Default::default())
        .await
        .unwrap();
    tune(config, &mut options);
    options
}

#[tokio::test]
async fn the_defaults_ask_a_majority_and_read_the_catalog_from_a_secondary() {
    let options = tuned(&ReplicaSetConfig::default()).await;
    let write = options.client.write_concern.unwrap();
    assert_eq!(write.w, Some(Acknowledgment::Majority));
    assert_eq!(write.w_timeout, Some(Duration::from_millis(5_000)));
    assert_eq!(write.journal, Some(true));
    assert_eq!(options.client.read_concern, Some(ReadConcern::majority()));
    // Every other read keeps the URI's preference: the primary.
    assert_eq!(options.client.selection_criteria, None);
    let Some(SelectionCriteria::ReadPreference(ReadPreference::SecondaryPreferred {
        options: Some(read),
    })) = options.catalog_reads
    else {
        panic!("the catalog reads from a secondary by default");
    };
    assert_eq!(read.max_staleness, Some(Duration::from_secs(90)));
    assert!(options.causal_consistency);
}

#[tokio::test]
async fn a_member_count_a_tag_and_the_primary_are_taken_as_given() {
    let options = tuned(&ReplicaSetConfig {
        write_concern: "2".to_owned(),
        write_timeout_ms: 0,
        read_concern: "local".to_owned(),
        catalog_read_preference: ReadMode::Primary,
        causal_consistency: false,
        ..Default::default()
    })
    .await;
    let write = options.client.write_concern.unwrap();
    assert_eq!(write.w, Some(Acknowledgment::Nodes(2)));
    assert_eq!(write.w_timeout, None);
    assert_eq!(options.client.read_concern, Some(ReadConcern::local()));
    assert!(matches!(
        options.catalog_reads,
        Some(SelectionCriteria::ReadPreference(ReadPreference::Primary))
    ));
    assert!(!options.causal_consistency);
    let tagged = tuned(&ReplicaSetConfig {
        write_concern: "twoDataCenters".to_owned(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        tagged.client.write_concern.unwrap().w,
        Some(Acknowledgment::Custom("twoDataCenters".to_owned()))
    );
}

/// The commands the driver sent, by name, with their `readConcern` (or `None`).
type Sent = Arc<Mutex<Vec<(String, Option<Document>)>>>;

/// Step 6's handles over `app`'s database, with every command recorded.
async fn monitored(app: &App) -> (Mongo, Sent) {
    let sent = Sent::default();
    let record = sent.clone();
    let replica_set = app.config.replica_set.clone();
    let mongo = Mongo::connect(&app.config.mongodb, move |options| {
        tune(&replica_set, options);
        options.client.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                let concern = started.command.get_document("readConcern").ok().cloned();
                record
                    .lock()
                    .expect("not poisoned")
                    .push((started.command_name, concern));
            }
        }));
    })
    .await
    .expect("connecting to the app's MongoDB");
    (mongo, sent)
}

fn read_concerns_of(sent: &Sent, command: &str) -> Vec<Option<Document>> {
    let sent = sent.lock().expect("not poisoned");
    sent.iter()
        .filter(|(name, _)| name == command)
        .map(|(_, concern)| concern.clone())
        .collect()
}

#[tokio::test]
async fn a_catalog_read_asks_for_data_at_least_as_new_as_the_last_write_this_instance_saw() {
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({})).await;
    let id: ProductId = product["id"].as_str().unwrap().parse().unwrap();
    let (mongo, sent) = monitored(&app).await;
    let products = MongoProducts::over(mongo.catalog());
    assert!(mongo.catalog().is_causal());

    // The stand-in is a single server: it answers with no operation time, so nothing ties
    // one read to another, and a read asks for the majority's data alone.
    assert!(products.get(id).await.unwrap().is_some());
    assert_eq!(mongo.catalog().operation_time(), None);
    assert_eq!(
        read_concerns_of(&sent, "find"),
        vec![Some(doc! { "level": "majority" })]
    );

    // A replica set answers each operation with the time it ran at. One seen by a session of
    // the catalog's moves the clock, and every later read of the catalog starts from it.
    let written = Timestamp {
        time: 2_000_000_000,
        increment: 7,
    };
    let mut session = mongo.catalog().session().await.unwrap();
    session.advance_operation_time(written);
    mongo.catalog().observe(&session);
    assert_eq!(mongo.catalog().operation_time(), Some(written));
    let earlier = Timestamp {
        time: 1_999_999_999,
        increment: 1,
    };
    let mut late = mongo.catalog().session().await.unwrap();
    assert_eq!(late.operation_time(), Some(written));
    late.advance_operation_time(earlier);
    mongo.catalog().observe(&late);
    assert_eq!(
        mongo.catalog().operation_time(),
        Some(written),
        "an earlier time never moves the clock back"
    );

    assert!(products.get(id).await.unwrap().is_some());
    assert_eq!(
        read_concerns_of(&sent, "find").last().cloned().flatten(),
        Some(doc! { "level": "majority", "afterClusterTime": written }),
        "the driver's own read waits for the write"
    );
    products.list(Page { page: 1, limit: 10 }).await.unwrap();
    assert_eq!(
        read_concerns_of(&sent, "count").last().cloned().flatten(),
        Some(doc! { "level": "majority", "afterClusterTime": written }),
        "so does the page's count, which the shop sends as a command of its own"
    );
}

#[tokio::test]
async fn without_causal_consistency_reads_are_not_tied_to_earlier_writes() {
    let app = App::builder()
        .config(|c| c.replica_set.causal_consistency = false)
        .spawn()
        .await;
    let (mongo, _) = monitored(&app).await;
    assert!(!mongo.catalog().is_causal());
    let mut session = mongo.catalog().session().await.unwrap();
    session.advance_operation_time(Timestamp {
        time: 2_000_000_000,
        increment: 1,
    });
    mongo.catalog().observe(&session);
    assert_eq!(mongo.catalog().operation_time(), None);
    let fresh = mongo.catalog().session().await.unwrap();
    assert_eq!(fresh.operation_time(), None);
}

#[tokio::test]
async fn step_6_serves_the_catalog_with_every_replica_set_setting_on() {
    // The defaults, against the stand-in: writes with w: majority and the journal, reads
    // with the majority read concern, the catalog's from a secondary if there were one.
    let app = App::spawn().await;
    let (_, admin) = app.admin().await;
    let product = app.create_product(&admin, json!({ "stock": 3 })).await;
    let id = product["id"].as_str().unwrap();
    let mut edit = product.clone();
    edit["name"] = json!("Renamed");
    let updated = expect_status(
        app.request(
            Method::PUT,
            &format!("/api/v1/products/{id}"),
            Some(&admin),
            Some(edit),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        updated["name"], "Renamed",
        "the update answers the product as updated"
    );
    assert_eq!(app.product(id).await["name"], "Renamed");
    let (_, customer) = app.customer().await;
    let review = app
        .post(
            &format!("/api/v1/products/{id}/reviews"),
            Some(&customer),
            json!({ "rating": 4, "comment": "fine" }),
        )
        .await;
    assert_eq!(review.status(), 201);
    let reviews = app.get_ok(&format!("/api/v1/products/{id}/reviews")).await;
    assert_eq!(reviews["total"], 1, "{reviews}");
}

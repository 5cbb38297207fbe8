//! The MongoDB handles the stores are made over ([`Mongo`]), and how a step tunes them
//! ([`MongoOptions`], through [`crate::Step::tune_mongo`]).
//!
//! Before step 6 every store reads and writes one [`Database`] with the URI's settings. On a
//! replica set a step wants more: a write concern and a read concern for every operation
//! (client-wide, in [`MongoOptions::client`]), and, for the catalog alone (products, reviews,
//! listings), reads that may go to a secondary (`catalog_reads`) in causally consistent
//! sessions (`causal_consistency`). Users, sign-in state and payments keep reading the primary:
//! a client that registers and signs in at once must find its account.
//!
//! What a secondary read loses, the [`CatalogDb`]'s clock gives back on this instance: every
//! catalog operation runs in a session; a write's session hands its operation time and cluster
//! time to the clock, and every later read's session starts from them, so the driver asks the
//! server for data at least that new (`readConcern.afterClusterTime`), and a secondary that is
//! behind waits until it has caught up. An admin who updates a product and reads it back, or a
//! cache refilled right after its entry was invalidated, sees the write. Another instance's
//! reads are not ordered after it: a production system would carry the time to them (in the
//! cache's invalidation message, or to the client in a header it sends back).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use mongodb::bson::Timestamp;
use mongodb::options::{ClientOptions, DatabaseOptions, SelectionCriteria};
use mongodb::{ClientSession, ClusterTime, Collection, Database};
use secrecy::ExposeSecret;

use super::map_err;
use crate::config::MongoConfig;
use crate::store::StoreResult;

/// How [`Mongo::connect`] makes the handles; each step may change them in
/// [`crate::Step::tune_mongo`], after the steps before it.
pub struct MongoOptions {
    /// The driver's options: `mongodb.uri` parsed, with `mongodb.timeout_ms` as the server
    /// selection and connect timeouts. The write and read concern of every operation are here.
    pub client: ClientOptions,
    /// Where the catalog's reads go (a read preference, e.g. a secondary when there is one).
    /// `None`: where every read goes (the URI's `readPreference`, the primary by default).
    pub catalog_reads: Option<SelectionCriteria>,
    /// The catalog's operations in causally consistent sessions tied together by one clock
    /// per instance (see the module's doc). Off: each in a session of its own.
    pub causal_consistency: bool,
}

impl MongoOptions {
    /// The options `config` alone gives: what every step before 6 connects with.
    pub async fn from_config(config: &MongoConfig) -> anyhow::Result<Self> {
        let mut client = ClientOptions::parse(config.uri.expose_secret())
            .await
            .context("parsing the MongoDB URI")?;
        client.app_name = Some("stepwise-shop".to_owned());
        client.server_selection_timeout = Some(Duration::from_millis(config.timeout_ms));
        client.connect_timeout = Some(Duration::from_millis(config.timeout_ms));
        Ok(Self {
            client,
            catalog_reads: None,
            causal_consistency: false,
        })
    }
}

/// The database every store uses (reached through `Deref`), and the catalog's view of it.
#[derive(Clone)]
pub struct Mongo {
    db: Database,
    catalog: CatalogDb,
}

impl std::ops::Deref for Mongo {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.db
    }
}

impl Mongo {
    /// Connects lazily (the driver connects on first use) with `config`'s options as `tune`
    /// leaves them, so a MongoDB outage turns into a prompt 503 rather than a hung request.
    pub async fn connect(
        config: &MongoConfig,
        tune: impl FnOnce(&mut MongoOptions),
    ) -> anyhow::Result<Self> {
        let mut options = MongoOptions::from_config(config).await?;
        tune(&mut options);
        let MongoOptions {
            client,
            catalog_reads,
            causal_consistency,
        } = options;
        let client =
            mongodb::Client::with_options(client).context("creating the MongoDB client")?;
        let db = client.database(&config.database);
        let reads = match catalog_reads {
            Some(criteria) => client.database_with_options(
                &config.database,
                DatabaseOptions::builder()
                    .selection_criteria(criteria)
                    .build(),
            ),
            None => db.clone(),
        };
        Ok(Self {
            catalog: CatalogDb {
                primary: db.clone(),
                reads,
                clock: causal_consistency.then(Default::default),
            },
            db,
        })
    }

    /// Handles over `db` as it is: the catalog reads where every read goes, and its sessions
    /// are not tied together. For tools that work on one database (benchmarks, migrations).
    pub fn plain(db: Database) -> Self {
        Self {
            catalog: CatalogDb {
                primary: db.clone(),
                reads: db.clone(),
                clock: None,
            },
            db,
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn catalog(&self) -> &CatalogDb {
        &self.catalog
    }
}

/// The catalog's side of the database: writes (and the reads that check a write) on the
/// primary, other reads where [`MongoOptions::catalog_reads`] sends them, each operation in a
/// session that [`CatalogDb::session`] hands out and [`CatalogDb::observe`] takes back.
#[derive(Clone)]
pub struct CatalogDb {
    primary: Database,
    reads: Database,
    /// Shared by every store made over these handles: the latest time one of their writes
    /// (or reads) was seen at. `None` without causal consistency.
    clock: Option<Arc<Mutex<Clock>>>,
}

/// What a causally consistent session carries from one operation to the next.
#[derive(Default)]
struct Clock {
    operation_time: Option<Timestamp>,
    cluster_time: Option<ClusterTime>,
}

impl CatalogDb {
    /// `name` for writes, and for the reads a write depends on (the check after a conditional
    /// update that matched nothing).
    pub fn primary<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.primary.collection(name)
    }

    /// `name` for reads that may be served by a secondary.
    pub fn reads<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.reads.collection(name)
    }

    /// The database reads go to, for commands (`count`) that take one.
    pub fn reads_database(&self) -> &Database {
        &self.reads
    }

    /// A session for one operation: causally consistent and starting from the clock, or (off)
    /// a plain one, which is what the driver would have used implicitly.
    pub async fn session(&self) -> StoreResult<ClientSession> {
        let mut session = self
            .primary
            .client()
            .start_session()
            .causal_consistency(self.clock.is_some())
            .await
            .map_err(map_err("id"))?;
        if let Some(clock) = &self.clock {
            let (operation_time, cluster_time) = {
                let clock = clock.lock().unwrap_or_else(|e| e.into_inner());
                (clock.operation_time, clock.cluster_time.clone())
            };
            if let Some(time) = &cluster_time {
                session.advance_cluster_time(time);
            }
            if let Some(time) = operation_time {
                session.advance_operation_time(time);
            }
        }
        Ok(session)
    }

    /// Moves the clock to what `session` saw, if that is later.
    pub fn observe(&self, session: &ClientSession) {
        let Some(clock) = &self.clock else { return };
        let mut clock = clock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = session.operation_time()
            && clock.operation_time.is_none_or(|known| known < seen)
        {
            clock.operation_time = Some(seen);
        }
        // The same rule as the driver's own `advance_cluster_time`: a later one replaces it.
        if let Some(seen) = session.cluster_time()
            && clock.cluster_time.as_ref().is_none_or(|known| known < seen)
        {
            clock.cluster_time = Some(seen.clone());
        }
    }

    /// The clock's operation time, for tests and `/health`-style reports.
    pub fn operation_time(&self) -> Option<Timestamp> {
        let clock = self.clock.as_ref()?;
        clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .operation_time
    }

    /// Whether sessions are tied together by a clock.
    pub fn is_causal(&self) -> bool {
        self.clock.is_some()
    }

    /// Where reads go: the read preference, when one was set for the catalog.
    pub fn read_preference(&self) -> Option<&SelectionCriteria> {
        self.reads.selection_criteria()
    }
}

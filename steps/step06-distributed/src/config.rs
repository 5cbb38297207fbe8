//! Step 6's configuration: step 5's [`step05_hybrid_dbs::Config`], flattened, so every earlier
//! key keeps its name and its `APP__*` variable, plus a `saga` section (how long a driver's
//! lease lasts, how often the recovery worker looks, when an unpaid order expires), an
//! `outbox` section (the Redis stream, how the relay and the consumers poll, when a message
//! that keeps failing goes to the dead-letter stream), an `idempotency` section (how long an
//! `Idempotency-Key` is remembered, how long a request running under one owns it) and a
//! `replica` section (the PostgreSQL read replica order lists are read from, see
//! [`crate::replica`]) and a `replica_set` section (MongoDB's write and read concerns, the
//! catalog's read preference and causally consistent sessions, see [`crate::replica_set`]).

use anyhow::bail;
use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything step 6 reads.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step05_hybrid_dbs::Config,
    #[serde(default)]
    pub saga: SagaConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    #[serde(default)]
    pub replica: ReplicaConfig,
    #[serde(default)]
    pub replica_set: ReplicaSetConfig,
}

/// How sagas are driven and recovered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SagaConfig {
    /// How long a driver owns a saga without renewing. A step is cut off at nine tenths of
    /// it, so a live driver is never overtaken; after it, a saga whose driver died is resumed
    /// by another instance's recovery worker.
    pub lease_ms: u64,
    /// How often the recovery worker looks for sagas to resume and orders to expire.
    pub recovery_interval_ms: u64,
    /// How long a payment whose outcome is unknown (the provider did not answer) waits before
    /// the worker asks again with the same idempotency key; doubled per attempt, up to ten
    /// times this.
    pub retry_after_ms: u64,
    /// An order still pending this long after it was placed is cancelled and its stock
    /// released: a declined card leaves the order payable until then.
    pub order_expiry_secs: u64,
    /// Sagas (and expired orders) one pass of the worker takes on.
    pub batch: u32,
    /// For crash tests only: the steps (`reserve`, `tidy`, `release`, `charge`, `record`,
    /// `refund`, `verify`) at which a driver stops for ever, after saying so on stderr, so the test can
    /// kill the process exactly there. Empty in every real deployment.
    pub pause_at: Vec<String>,
}

impl Default for SagaConfig {
    fn default() -> Self {
        Self {
            lease_ms: 30_000,
            recovery_interval_ms: 5_000,
            retry_after_ms: 10_000,
            order_expiry_secs: 30 * 60,
            batch: 50,
            pause_at: Vec::new(),
        }
    }
}

/// Where order events go and how they are consumed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// The Redis stream the relay appends order events to (under the Redis key prefix).
    pub stream: String,
    /// How often the relay and each consumer look for new entries when idle.
    pub poll_ms: u64,
    /// Entries per batch, for the relay and each consumer.
    pub batch: u32,
    /// A consumer's entry not acknowledged this long (its consumer died, or failed on it) is
    /// claimed by another consumer of the group.
    pub claim_idle_ms: u64,
    /// Deliveries of one entry before it is moved to the dead-letter stream (`<stream>:dead`)
    /// instead of being tried again.
    pub max_deliveries: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            stream: "orders:events".to_owned(),
            poll_ms: 200,
            batch: 100,
            claim_idle_ms: 30_000,
            max_deliveries: 5,
        }
    }
}

/// How requests sent with an `Idempotency-Key` are remembered ([`crate::idempotency`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct IdempotencyConfig {
    /// How long a key is remembered after its first use: a retry within it gets the stored
    /// answer; after it the key is as if new. A day, as Stripe keeps them: long enough for any
    /// client's retries, short enough that the table stays small.
    pub ttl_secs: u64,
    /// How long a request running under a key owns it. A request the request timeout cut off
    /// runs on to its end and stores its answer, so a key outlives its lease only when the
    /// process running it died; then the next request with the key takes it over instead of
    /// being told 409 until the key expires. Longer than `server.request_timeout_ms` and
    /// than `saga.lease_ms`, so a request that is merely slow is never run twice.
    pub lease_ms: u64,
    /// How often each instance deletes the keys that have expired.
    pub sweep_interval_secs: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 3600,
            lease_ms: 60_000,
            sweep_interval_secs: 600,
        }
    }
}

/// The PostgreSQL read replica ([`crate::replica`]): where it is, and when it is not read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ReplicaConfig {
    /// A hot standby of `postgres.url`'s server, same database; a secret, since it may carry a
    /// password. None: no replica, every read goes to the primary, as at step 5.
    #[serde(serialize_with = "common::config::redacted")]
    pub url: Option<SecretString>,
    /// Connections the replica's pool opens at most (per instance, like the primary's).
    pub max_connections: u32,
    /// After a client's own order write seen by this instance, that client's order lists are
    /// read from the primary for this long, so it sees what it just wrote. Two seconds: a
    /// healthy streaming replica on one network replays within milliseconds, so this is two
    /// orders of magnitude of margin, and it covers a client's "place, then show my orders"
    /// (one round trip later) without sending its browsing to the primary for long. It must
    /// not be below `max_lag_ms`: a replica this far behind is still read, so a shorter window
    /// would let a client's list miss the order it placed.
    pub read_your_writes_ms: u64,
    /// A replica further behind than this (its replay behind what it has received, measured
    /// as the age of the last transaction it replayed) is not read: reads fall back to the
    /// primary until it catches up. `/health`'s `postgresql-replica` check fails meanwhile.
    pub max_lag_ms: u64,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            read_your_writes_ms: 2_000,
            max_lag_ms: 1_000,
        }
    }
}

/// MongoDB as a replica set ([`crate::replica_set`]). The defaults are what a replica set
/// wants; a single server (the local stand-in, a standalone MongoDB) accepts them too.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ReplicaSetConfig {
    /// The write concern's `w` on every write: `majority`, a number of members, or the name
    /// of a custom write concern the set defines (tag sets).
    pub write_concern: String,
    /// How long a write waits for its acknowledgements (`wtimeout`) before it fails (the
    /// write may still have happened: a saga step retries with the same mark). 0: no limit.
    pub write_timeout_ms: u64,
    /// Whether a member acknowledges a write only once it is in its journal (`j`).
    pub journal: bool,
    /// The read concern level of every read: `local`, `available`, `majority`,
    /// `linearizable` or `snapshot`.
    pub read_concern: String,
    /// Where the catalog's reads (products, listings, reviews) go; every other read goes to
    /// the primary (or where the URI's `readPreference` says).
    pub catalog_read_preference: ReadMode,
    /// A secondary further behind the primary than this is not read (`maxStalenessSeconds`;
    /// at least 90, MongoDB's smallest). 0: no limit. Ignored for `primary`.
    pub max_staleness_secs: u64,
    /// The catalog's reads start from the last catalog write this instance saw, so a read
    /// from a secondary never misses this instance's own writes.
    pub causal_consistency: bool,
}

impl Default for ReplicaSetConfig {
    fn default() -> Self {
        Self {
            write_concern: "majority".to_owned(),
            write_timeout_ms: 5_000,
            journal: true,
            read_concern: "majority".to_owned(),
            catalog_read_preference: ReadMode::SecondaryPreferred,
            max_staleness_secs: 90,
            causal_consistency: true,
        }
    }
}

/// A read preference mode, as MongoDB spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReadMode {
    Primary,
    PrimaryPreferred,
    Secondary,
    SecondaryPreferred,
    Nearest,
}

impl ReplicaSetConfig {
    fn check(&self) -> anyhow::Result<()> {
        let w = self.write_concern.as_str();
        if w.is_empty() || w.len() > 100 || w == "0" {
            bail!(
                "replica_set.write_concern must be `majority`, a number of members (1 or more) \
                 or a custom write concern's name, got {w:?}"
            );
        }
        between(
            "replica_set.write_timeout_ms",
            self.write_timeout_ms,
            0..=3_600_000,
        )?;
        const LEVELS: [&str; 5] = ["local", "available", "majority", "linearizable", "snapshot"];
        if !LEVELS.contains(&self.read_concern.as_str()) {
            bail!(
                "replica_set.read_concern must be one of {}, got {:?}",
                LEVELS.join(", "),
                self.read_concern
            );
        }
        if self.max_staleness_secs != 0 {
            between(
                "replica_set.max_staleness_secs",
                self.max_staleness_secs,
                90..=24 * 3600,
            )?;
        }
        Ok(())
    }
}

/// Fails naming `name` unless `value` is in `range`: the bounds check of every numeric key of
/// step 6 and later.
pub fn between(name: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> anyhow::Result<()> {
    if !range.contains(&value) {
        bail!(
            "{name} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        );
    }
    Ok(())
}

impl ExtendsConfig for Config {
    /// Step 6's sections (step 5's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        if self.postgres.cutover {
            bail!(
                "postgres.cutover is step 5's way from MongoDB's orders to PostgreSQL's; step 6 \
                 keeps its sagas beside the orders in PostgreSQL: run step 5's `cutover` first, \
                 then serve step 6 without postgres.cutover"
            );
        }
        let s = &self.saga;
        between("saga.lease_ms", s.lease_ms, 100..=3_600_000)?;
        between(
            "saga.recovery_interval_ms",
            s.recovery_interval_ms,
            10..=3_600_000,
        )?;
        between("saga.retry_after_ms", s.retry_after_ms, 10..=3_600_000)?;
        between(
            "saga.order_expiry_secs",
            s.order_expiry_secs,
            1..=30 * 24 * 3600,
        )?;
        between("saga.batch", u64::from(s.batch), 1..=10_000)?;
        if let Some(unknown) = s
            .pause_at
            .iter()
            .find(|p| !crate::saga::step::ALL.contains(&p.as_str()))
        {
            bail!(
                "saga.pause_at names no step: {unknown:?} (steps: {})",
                crate::saga::step::ALL.join(", ")
            );
        }
        // A step waits for the provider at most the payments service's deadline (which is
        // above the provider's own timeout) and is cut off at nine tenths of the lease.
        let payment_wait = self.payments.timeout_ms.max(self.apis.payments.deadline_ms);
        if s.lease_ms / 10 * 9 <= payment_wait {
            bail!(
                "saga.lease_ms ({}) must be more than 10/9 of the longest wait for the provider \
                 (payments.timeout_ms, apis.payments.deadline_ms: {payment_wait} ms): a step is \
                 cut off at nine tenths of the lease, and a payment must fit in one",
                s.lease_ms
            );
        }
        let o = &self.outbox;
        if o.stream.is_empty() || o.stream.len() > 200 {
            bail!("outbox.stream must be 1 to 200 characters");
        }
        between("outbox.poll_ms", o.poll_ms, 1..=60_000)?;
        between("outbox.batch", u64::from(o.batch), 1..=10_000)?;
        between("outbox.claim_idle_ms", o.claim_idle_ms, 10..=3_600_000)?;
        between(
            "outbox.max_deliveries",
            u64::from(o.max_deliveries),
            1..=1_000,
        )?;
        let i = &self.idempotency;
        between("idempotency.ttl_secs", i.ttl_secs, 1..=30 * 24 * 3600)?;
        between("idempotency.lease_ms", i.lease_ms, 100..=3_600_000)?;
        between(
            "idempotency.sweep_interval_secs",
            i.sweep_interval_secs,
            1..=24 * 3600,
        )?;
        let request_timeout = self.server.request_timeout_ms;
        if i.lease_ms <= request_timeout || i.lease_ms < s.lease_ms {
            bail!(
                "idempotency.lease_ms ({}) must be longer than server.request_timeout_ms \
                 ({request_timeout}) and at least saga.lease_ms ({}): a request still running \
                 under its key would be run a second time by a retry",
                i.lease_ms,
                s.lease_ms
            );
        }
        self.replica.check()?;
        self.replica_set.check()
    }
}

impl ReplicaConfig {
    fn check(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.url {
            // Never echo the URL: it may hold a password.
            url.expose_secret()
                .parse::<sqlx::postgres::PgConnectOptions>()
                .map_err(|_| anyhow::anyhow!("replica.url is not a valid postgres:// URL"))?;
        }
        between(
            "replica.max_connections",
            u64::from(self.max_connections),
            1..=1_000,
        )?;
        between("replica.max_lag_ms", self.max_lag_ms, 1..=3_600_000)?;
        between(
            "replica.read_your_writes_ms",
            self.read_your_writes_ms,
            0..=3_600_000,
        )?;
        if self.read_your_writes_ms < self.max_lag_ms {
            bail!(
                "replica.read_your_writes_ms ({}) must be at least replica.max_lag_ms ({}): a \
                 replica that far behind is still read, so a client could miss its own write",
                self.read_your_writes_ms,
                self.max_lag_ms
            );
        }
        Ok(())
    }
}

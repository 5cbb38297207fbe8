//! Step 5's configuration: step 4's [`step04_optimize::Config`], flattened, so every earlier
//! key keeps its name and its `APP__*` variable, plus a `postgres` section: where PostgreSQL is
//! (`APP__POSTGRES__URL=postgres://user:password@host:5432/shop`), how many connections the
//! pool keeps, how long a request waits for one, and whether the migrations run at startup.

use anyhow::bail;
use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything step 5 reads: step 4's configuration (`base`, reached through `Deref`) and the
/// `postgres` section.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step04_optimize::Config,
    #[serde(default)]
    pub postgres: PostgresConfig,
}

/// Where PostgreSQL is and how the pool uses it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PostgresConfig {
    /// `postgres://[user[:password]@]host[:port]/database[?sslmode=...]`; a secret, since it
    /// may carry a password.
    #[serde(serialize_with = "common::config::redacted")]
    pub url: SecretString,
    /// Connections the pool opens at most (per instance: several instances multiply it).
    pub max_connections: u32,
    /// How long a query waits for a free connection (and a first connection for the server)
    /// before the request fails with 503.
    pub acquire_timeout_ms: u64,
    /// Apply the embedded migrations at startup (under PostgreSQL's advisory lock, so
    /// instances starting together apply each once). Off: `step05-hybrid-dbs migrate` does it.
    pub migrate_on_start: bool,
    /// Server-side bounds on every session of the pool (PostgreSQL's `statement_timeout`,
    /// `lock_timeout` and `idle_in_transaction_session_timeout`): a statement running longer,
    /// a lock waited for longer, and a transaction left idle longer (its client gone quiet
    /// mid-transaction, holding row locks) are ended by the server, so one stuck client cannot
    /// block every other writer of those rows. 0 turns one off.
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
    /// Serve orders from MongoDB until `step05-hybrid-dbs cutover` has moved them, then from
    /// PostgreSQL (see `crate::cutover`): for a shop that ran steps 0-4 and has orders there.
    /// Off (a new shop): PostgreSQL from the start.
    pub cutover: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/shop"),
            max_connections: 10,
            acquire_timeout_ms: 2_000,
            migrate_on_start: true,
            statement_timeout_ms: 30_000,
            lock_timeout_ms: 10_000,
            idle_in_transaction_timeout_ms: 30_000,
            cutover: false,
        }
    }
}

impl PostgresConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        // Never echo the URL: it may hold a password.
        self.url
            .expose_secret()
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(|_| anyhow::anyhow!("postgres.url is not a valid postgres:// URL"))?;
        if !(1..=1_000).contains(&self.max_connections) {
            bail!(
                "postgres.max_connections must be between 1 and 1000, got {}",
                self.max_connections
            );
        }
        for (name, value) in [
            ("postgres.statement_timeout_ms", self.statement_timeout_ms),
            ("postgres.lock_timeout_ms", self.lock_timeout_ms),
            (
                "postgres.idle_in_transaction_timeout_ms",
                self.idle_in_transaction_timeout_ms,
            ),
        ] {
            if value > 3_600_000 {
                bail!("{name} must be at most 3600000 (an hour; 0 turns it off), got {value}");
            }
        }
        if !(1..=60_000).contains(&self.acquire_timeout_ms) {
            bail!(
                "postgres.acquire_timeout_ms must be between 1 and 60000, got {}",
                self.acquire_timeout_ms
            );
        }
        Ok(())
    }
}

impl ExtendsConfig for Config {
    /// Step 5's section (step 4's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        self.postgres.validate()
    }
}

//! MongoDB as a replica set (`replica_set` in the configuration): how step 6 tunes the
//! handles every step's stores are made over ([`common::store::mongo::MongoOptions`]).
//!
//! - **Write concern** `w: majority` (with `wtimeout` and the journal) on every write: a stock
//!   move or a new user acknowledged by a majority of the members survives the primary's
//!   failover. A write acknowledged by the primary alone can be rolled back when a secondary
//!   that never saw it is elected, and a saga that moved stock would then have moved nothing.
//! - **Read concern** `majority` on every read: what is read has been acknowledged by a
//!   majority, so it cannot be rolled back later. `local` reads the newest data, rollbacks and
//!   all.
//! - **Read preference for the catalog alone**, `secondaryPreferred` with `maxStalenessSeconds`:
//!   product pages, listings and reviews are most of the traffic and tolerate data a moment
//!   old; users, sign-in state and payments stay on the primary (step 6's orders are in
//!   PostgreSQL, with their own replica). A secondary further behind than the bound is not
//!   read (90 s is the smallest bound MongoDB accepts).
//! - **Causally consistent sessions** for the catalog: each catalog read starts from the last
//!   write this instance saw, so reading from a secondary never goes back in time after one
//!   of its own writes (an admin's edit, a cache refilled after an invalidation).
//!
//! What runs where: the local MongoDB stand-in is a single server, not a replica set. It
//! accepts the write and read concerns and the sessions, so step 6 runs with every setting on
//! (the defaults); it just has no secondary to send a read to and no operation time to wait
//! for. `docker/mongo-replica/` has a three-member set for a learner's machine.

use std::time::Duration;

use common::store::mongo::MongoOptions;
use mongodb::options::{
    Acknowledgment, ReadConcern, ReadPreference, ReadPreferenceOptions, SelectionCriteria,
    WriteConcern,
};

use crate::config::{ReadMode, ReplicaSetConfig};

/// Applies `config` to `options`.
pub fn tune(config: &ReplicaSetConfig, options: &mut MongoOptions) {
    options.client.write_concern = Some(write_concern(config));
    options.client.read_concern = Some(ReadConcern::custom(&config.read_concern));
    options.catalog_reads = Some(SelectionCriteria::ReadPreference(catalog_reads(config)));
    options.causal_consistency = config.causal_consistency;
}

fn write_concern(config: &ReplicaSetConfig) -> WriteConcern {
    let w: Acknowledgment = match config.write_concern.parse::<u32>() {
        Ok(members) => members.into(),
        Err(_) => config.write_concern.as_str().into(),
    };
    WriteConcern::builder()
        .w(w)
        .w_timeout((config.write_timeout_ms > 0).then(|| ms(config.write_timeout_ms)))
        .journal(config.journal)
        .build()
}

fn catalog_reads(config: &ReplicaSetConfig) -> ReadPreference {
    let options = Some(
        ReadPreferenceOptions::builder()
            .max_staleness(
                (config.max_staleness_secs > 0)
                    .then(|| Duration::from_secs(config.max_staleness_secs)),
            )
            .build(),
    );
    match config.catalog_read_preference {
        ReadMode::Primary => ReadPreference::Primary,
        ReadMode::PrimaryPreferred => ReadPreference::PrimaryPreferred { options },
        ReadMode::Secondary => ReadPreference::Secondary { options },
        ReadMode::SecondaryPreferred => ReadPreference::SecondaryPreferred { options },
        ReadMode::Nearest => ReadPreference::Nearest { options },
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

//! # Step 6: distributed data
//!
//! ## What this step adds
//! Step 5's service, whose order path survives a process dying at any point:
//! - **A persisted order saga** ([`saga`]): placing, paying and cancelling an order are
//!   sagas whose state is a PostgreSQL row written before their first step and moved by a
//!   compare-and-set after each; each step is idempotent and has its compensation. Stock is
//!   reserved per order and product (`stock_reservations`), so reserving and releasing it
//!   twice moves it once.
//! - **A recovery worker** ([`recovery`]) on every instance resumes every saga whose driver
//!   died (`FOR UPDATE SKIP LOCKED`: no saga is driven twice) and cancels orders left unpaid
//!   past `saga.order_expiry_secs`, so every order settles within a stated bound.
//! - **A transactional outbox** ([`outbox`]): order events written in the transaction of
//!   the change, relayed to a Redis stream; two consumer groups ([`consumers`]: a sales
//!   projection and a customer mailbox) apply each event once, reclaim what a dead member
//!   left, and bury what keeps failing in a dead-letter stream.
//!
//! ## Why
//! Step 5 puts orders and stock in two databases and the money at a third party: no
//! transaction spans them. Step 0's order path calls them one after another, so a crash
//! between two calls strands stock, keeps a charge on an unpaid order, or cancels an order
//! that stays charged. A saga with its state in PostgreSQL makes "how far did it get" a
//! fact that survives the crash. Rejected: two-phase commit (MongoDB and a card provider
//! take no part in it), and publishing events straight to Redis after the commit (a crash
//! between the two loses the event; the outbox makes them one commit).
//!
//! ## Try it
//! ```text
//! cargo xtask step 6          # this crate's tests, the contract suites 0, 1, 2, 3, 5, 6 and the hostile suites 0, 1, 2, 5, 6
//! cargo xtask run 6           # as step 5, plus the workers
//! psql "$DATABASE_URL" -c 'SELECT kind, step, state, count(*) FROM sagas GROUP BY 1, 2, 3'
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 5's config plus the `saga`, `outbox`, `idempotency`, `replica` and
//!   `replica_set` sections.
//! - [`postgres`]: step 6's migrations, after step 5's.
//! - [`saga`]: the order flow as sagas, and their driver; [`saga::store`] their rows.
//! - [`recovery`]: the worker that resumes sagas and expires unpaid orders.
//! - [`outbox`]: the events, written in the change's transaction, and the relay;
//!   [`streams`]: its Redis connection; [`consumers`]: the consumer groups;
//!   [`mailbox`]: `GET /api/v2/mailbox`, the mailbox consumer's messages for a customer.
//! - [`invariants`]: the checker of what must hold across the stores and the provider after
//!   any run, crashes included.
//! - [`workers`]: the background tasks each instance runs.
//! - [`idempotency`]: `Idempotency-Key` on placing and paying orders, and its sweeper.
//! - [`replica`]: order lists read from the PostgreSQL read replica, with read-your-writes.
//! - [`replica_set`]: MongoDB's write and read concerns, the catalog's reads from a
//!   secondary, and causally consistent sessions.
//! - [`startup`]: step 6's [`common::Step`]; [`cli`]: its binary; [`testing`]: its test
//!   configuration.
//!
//! ## Next
//! Step 7 makes the service ready to be orchestrated: probes, graceful shutdown
//! that lets running sagas reach a safe point, images and manifests.

pub mod cli;
pub mod config;
pub mod consumers;
pub mod idempotency;
pub mod invariants;
pub mod mailbox;
pub mod outbox;
pub mod postgres;
pub mod recovery;
pub mod replica;
pub mod replica_set;
pub mod saga;
pub mod startup;
pub mod streams;
pub mod testing;
pub mod workers;

pub use config::Config;
pub use startup::AppState;

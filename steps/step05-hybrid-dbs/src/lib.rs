//! # Step 5: hybrid databases
//!
//! ## What this step adds
//! Step 4's service with orders and payments in PostgreSQL, the rest in MongoDB:
//! - **PostgreSQL through sqlx**: `PgOrders` and `PgPayments` implement step 0's `OrderStore`
//!   and `PaymentStore`, so no handler, REST route or GraphQL resolver changed. An order is
//!   written in one transaction, a page of orders is read in two queries whatever its size,
//!   and a status transition is one compare-and-set `UPDATE ... WHERE status = $from`.
//! - **Embedded migrations** (`migrations/`, compiled in with `sqlx::migrate!`), applied at
//!   startup or by `step05-hybrid-dbs migrate`, under PostgreSQL's advisory lock so several
//!   instances can start at once. Constraints make invalid states unstorable: 24-hex ids,
//!   ISO 4217 currencies, quantities above 0, amounts not below 0, a status check, foreign
//!   keys from lines and payments to their order, a unique idempotency key.
//! - **One mapping of constraint violations** (in `common`): unique is 409, foreign key and
//!   check are 422 naming the constraint, an unreachable PostgreSQL is 503.
//! - `/health` reports PostgreSQL beside MongoDB; with PostgreSQL down the catalog keeps
//!   answering and the order routes answer 503.
//! - **Reads across both stores**: the sales report (REST, GraphQL, OpenAPI) and order views,
//!   each reading the catalog once, batched.
//! - **Moving existing orders**: `migrate-orders` (resumable, idempotent, verified) and the
//!   cutover of a running shop, order writes frozen with 503 and `Retry-After` while it copies.
//! - **Shard keys** for the collections MongoDB keeps, checked against every query the app
//!   sends, and a sharded-cluster compose file.
//!
//! ## Why
//! Orders and payments are the shop's money: they want transactions across rows, constraints
//! the database enforces whoever writes, and aggregate queries (the sales report) that SQL
//! does well. The catalog stays where it is: documents fit products and reviews, and step 3's
//! cache and step 4's indexes serve them. Rejected: moving everything (the catalog gains
//! nothing and loses its cache keys and indexes), SQLite for tests (another engine with
//! another SQL dialect and other constraint behaviour: a real PostgreSQL database per test
//! costs about half a second here against 3 ms, and tests the constraints, domains and plans
//! production runs).
//!
//! ## Try it
//! ```text
//! cargo xtask step 5          # this crate's tests, the contract suites 0, 1, 2, 3, 5 and the hostile suites 0, 1, 2, 5
//! cargo xtask run 5           # MongoDB, Redis, PostgreSQL, the payments service, then the API
//! psql "$DATABASE_URL" -c 'SELECT id, status, total_minor FROM orders ORDER BY id DESC LIMIT 5'
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 4's config plus the `postgres` section.
//! - [`postgres`]: the pool, the embedded migrations, the health check.
//! - [`store`]: the PostgreSQL order and payment stores, and the one error mapping.
//! - [`migration`]: `migrate-orders`, the resumable, verified copy of steps 0-4's orders;
//!   [`cutover`]: the same for a running shop, order writes frozen (503, `Retry-After`) while
//!   it copies, then every instance switched to PostgreSQL at once.
//! - [`report`]: the sales report, summed in PostgreSQL, grouped with MongoDB's categories,
//!   on REST, in GraphQL ([`graphql`]: step 2's schema plus the report) and in the OpenAPI
//!   document;
//!   [`large_orders`]: its large dataset (`seed --orders N`).
//! - [`views`]: order views, each item beside its product as the catalog has it now (one
//!   batched catalog read per page).
//! - [`sharding`]: the shard keys of the collections MongoDB keeps, and how a `mongos` routes
//!   each query of the app under them (`docker/mongo-sharded/` deploys them).
//! - [`startup`]: step 5's [`common::Step`]: preparation, parts, state; [`cli`]: its binary
//!   (`migrate`, and the commands of the steps before); [`testing`]: its test configuration
//!   (a PostgreSQL database of the test's own), which later steps build on.
//!
//! ## Next
//! Step 6 (planned, `steps/step06-...`) adds a read replica, a persisted order saga and a
//! transactional outbox on this PostgreSQL.

pub mod cli;
pub mod config;
pub mod cutover;
pub mod graphql;
pub mod large_orders;
pub mod migration;
pub mod postgres;
pub mod report;
pub mod sharding;
pub mod startup;
pub mod store;
pub mod testing;
pub mod views;

pub use config::Config;
pub use startup::{AppState, Parts};

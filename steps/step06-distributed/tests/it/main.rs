//! The one integration-test binary of step 6. Every test gets a real step-6 server on port 0
//! with its own MongoDB and PostgreSQL databases, payment simulator, payments service and
//! Redis key prefix (`App::spawn()`), and the workers running.

mod contract;
mod crash;
mod idempotency;
mod invariants;
mod outbox;
mod randomized;
mod replica;
mod replica_set;
mod sagas;
mod support;

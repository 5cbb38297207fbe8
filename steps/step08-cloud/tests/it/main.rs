//! The one integration-test binary of step 8. Every test gets a real step-8 server on port 0
//! with its own MongoDB and PostgreSQL databases, payment simulator, payments service and
//! Redis key prefix (`App::spawn()`), or runs the real binary as a child process.

mod config;
mod contract;
mod profiles;
mod secrets_manager;
mod storage;
mod terraform;
mod tls;

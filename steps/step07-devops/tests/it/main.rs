//! The one integration-test binary of step 7. Every test gets a real step-7 server on port 0
//! with its own MongoDB and PostgreSQL databases, payment simulator, payments service and
//! Redis key prefix (`App::spawn()`), or runs the real binary as a child process.

mod compose;
mod contract;
mod image;
mod manifests;
mod probes;
mod shutdown;
mod workflows;

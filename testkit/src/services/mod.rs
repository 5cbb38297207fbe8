//! The service-provisioning layer: connection URLs for the services tests and xtask need.
//!
//! Each service follows the same precedence (DESIGN.md, "Services and how tests get them"):
//! an explicit URL from the environment wins; else a local server started on a free port in a
//! temp dir, owned and stopped by the harness. (Containers will slot in between.) A missing
//! prerequisite is an error that names it and the command that installs it.
//!
//! - [`source`]: [`ServiceSource`], where a service came from;
//! - [`process`]: free ports, the watchdog that stops a server when we die, readiness waits;
//! - [`cache`]: where expensive, shareable artefacts are cached;
//! - [`mongo`]: MongoDB, with a fresh database per test; [`nx27017`]: its local stand-in.

pub mod cache;
pub mod mongo;
pub mod nx27017;
pub mod process;
pub mod source;

pub use mongo::{MongoServer, TestDatabase, shared_mongo, test_database};
pub use process::free_port;
pub use source::ServiceSource;

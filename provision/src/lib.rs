//! The service-provisioning layer: connection URLs for the services tests and xtask need.
//! It knows nothing of the shop (no dependency on `common`, the steps or the payment
//! simulator), so xtask builds it without building the product; `testkit` re-exports it as
//! `testkit::services` for the step crates' tests.
//!
//! Each service follows the same precedence (docs/architecture.md, "Services and how tests get
//! them"): an explicit URL from the environment wins; else a container when a Docker engine answers
//! (official images, or the ones this repo builds where nothing can be pulled); else a local
//! server started on a free port in a temp dir. Whatever we start is owned and stopped by the
//! harness, also when the process dies without cleaning up. A missing prerequisite is an error
//! that names it and the command that installs it.
//!
//! - [`policy`]: the precedence and its settings (`STEPWISE_SERVICES`, `STEPWISE_IMAGES`), as
//!   pure functions;
//! - [`source`]: [`ServiceSource`], where a service came from;
//! - `precedence`: the precedence run once for every service, each described by a recipe;
//! - [`process`]: free ports, the watchdog that stops a local server when we die, readiness;
//! - [`docker`]: containers through testcontainers, their lifelines and the orphan reaper;
//! - [`images`]: the local images (a debootstrapped Debian base and the services on top);
//! - [`cache`]: where expensive, shareable artefacts are cached; [`venv`]: the Python tools
//!   the harness installs from PyPI (nx-27017, [`schemathesis`], [`grpcurl`]);
//! - [`mongo`] (with its local stand-in [`nx27017`]), [`postgres`], [`redis`]: one module per
//!   service, each with a shared server per test process and a per-test isolation guard
//!   (a database, a database, a key prefix); [`tls`]: a CA and server certificates made on
//!   the spot, for PostgreSQL and Redis started with TLS on;
//! - [`moto`]: moto's server, the local AWS (S3, Secrets Manager) of step 8's tests;
//! - [`monitoring`]: a local Prometheus and Alertmanager running the repo's configuration
//!   (`docker/monitoring/`) with the scrape targets a test or xtask passes, and their APIs
//!   (queries, loaded rules, alerts) for step 9;
//! - [`nginx`]: the load balancer of step 4, always a local process running the repo's
//!   template (`docker/nginx/nginx.conf`) in front of instances a test started;
//! - [`cargo`]: a nested cargo without the running crate's variables, and the `xtask` binary;
//! - [`grafana`]: the Grafana dashboards as code (`docker/monitoring/grafana/generate.py`, with
//!   a pinned grafana-foundation-sdk in a venv): generating them, checking the committed JSON
//!   against a fresh generation, and reading every panel's PromQL back for the tests.

/// Writes a line straight to stderr. Inside a test, `eprintln!` is captured by libtest and
/// shown only if the test fails; what the user must see (a fallback to local binaries, a
/// reaped container, a build that takes minutes) goes around that capture.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod actionlint;
pub mod cache;
pub mod cargo;
pub mod compose;
pub mod docker;
pub mod grafana;
pub mod grpcurl;
pub mod hcl;
pub mod images;
pub mod kube_tools;
pub mod mongo;
pub mod monitoring;
pub mod moto;
pub mod nginx;
pub mod nx27017;
pub mod policy;
pub mod postgres;
mod precedence;
pub mod process;
pub mod redis;
mod runtime;
pub mod schemathesis;
pub mod source;
pub mod tls;
pub mod venv;

pub use docker::ServiceContainer;
pub use mongo::{MongoServer, TestDatabase, shared_mongo, test_database};
pub use nginx::NginxServer;
pub use policy::{ImageFlavor, ServiceKind, ServicesMode, SourcePolicy};
pub use postgres::{PostgresServer, TestPostgresDatabase, shared_postgres, test_postgres_database};
pub use process::free_port;
pub use redis::{RedisServer, TestRedis, shared_redis, test_redis};
pub use source::ServiceSource;

/// What every server handle ([`MongoServer`], [`PostgresServer`], [`RedisServer`]) offers, for
/// code that treats them alike (xtask's service list, the provisioning tests). Each type also
/// has these as inherent methods; MongoDB spells its URL `uri`.
pub trait Server: std::fmt::Debug + Send + 'static {
    fn url(&self) -> &str;
    fn source(&self) -> &ServiceSource;
    fn local(&self) -> Option<&process::LocalServer>;
    fn container(&self) -> Option<&ServiceContainer>;
}

macro_rules! server {
    ($type:ty, $url:ident) => {
        impl Server for $type {
            fn url(&self) -> &str {
                self.$url()
            }
            fn source(&self) -> &ServiceSource {
                self.source()
            }
            fn local(&self) -> Option<&process::LocalServer> {
                self.local()
            }
            fn container(&self) -> Option<&ServiceContainer> {
                self.container()
            }
        }
    };
}

server!(MongoServer, uri);
server!(PostgresServer, url);
server!(RedisServer, url);

//! Where a service came from: the environment, or a local server we started (later: a
//! container). Reports and test output name it, so a surprising result can be traced to the
//! server that produced it.

use std::fmt;

/// Where a service's connection URL came from.
///
/// `non_exhaustive` because testcontainers will add a `Container` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceSource {
    /// An explicit URL from this environment variable; nothing was started, nothing is owned.
    FromEnv { var: &'static str },
    /// A server we started on 127.0.0.1 and stop when its handle is dropped.
    Local {
        /// The program that plays the role: "mongod", "nx-27017".
        server: &'static str,
        port: u16,
    },
}

impl ServiceSource {
    /// Whether the harness owns (and will stop) the server.
    pub fn is_local(&self) -> bool {
        matches!(self, ServiceSource::Local { .. })
    }
}

impl fmt::Display for ServiceSource {
    /// "MONGODB_URI", "local nx-27017": never the URL itself, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceSource::FromEnv { var } => f.write_str(var),
            ServiceSource::Local { server, .. } => write!(f, "local {server}"),
        }
    }
}

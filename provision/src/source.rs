//! Where a service came from: the environment, a container or a local server we started.
//! Reports and test output name it, so a surprising result can be traced to the server that
//! produced it.

use std::fmt;

/// Where a service's connection URL came from.
///
/// `non_exhaustive`: more sources may come (a cloud service, a Kubernetes port-forward).
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
    /// A container we started (through testcontainers) and remove when its handle is dropped.
    Container {
        /// The image it runs: "postgres:15", "stepwise/postgres:15".
        image: String,
        /// The host port its service port is published on.
        port: u16,
    },
}

impl ServiceSource {
    /// Whether the harness owns (and will stop) the server.
    pub fn is_local(&self) -> bool {
        matches!(self, ServiceSource::Local { .. })
    }

    /// Whether the service runs in a container we started.
    pub fn is_container(&self) -> bool {
        matches!(self, ServiceSource::Container { .. })
    }

    /// Whether the harness started the service (and will stop it): a local server or a
    /// container, as opposed to a URL from the environment.
    pub fn is_owned(&self) -> bool {
        !matches!(self, ServiceSource::FromEnv { .. })
    }
}

impl fmt::Display for ServiceSource {
    /// "MONGODB_URI", "local nx-27017", "container postgres:15": never the URL itself, which
    /// may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceSource::FromEnv { var } => f.write_str(var),
            ServiceSource::Local { server, .. } => write!(f, "local {server}"),
            ServiceSource::Container { image, .. } => write!(f, "container {image}"),
        }
    }
}

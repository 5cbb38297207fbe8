//! The services a step needs, started for the length of one command through the
//! provisioning layer (the `provision` crate), the same one the tests use (docs/architecture.md,
//! "Services and how tests get them": a URL from the environment, else a container, else a
//! local server). A command asks for a list of [`Service`]s (a column of the steps table),
//! gets a [`Services`] value that hands out their URLs as environment variables, and stops
//! everything it started by dropping it: on success, on error and on panic alike, and even
//! when xtask is killed (provision's watchdog stops a local server whose owner is gone).
//!
//! Adding a service is one variant of [`Service`] and one arm in `start_one`.

use std::any::Any;
use std::time::{Duration, Instant};

use provision::mongo::MongoSettings;
use provision::postgres::PostgresSettings;
use provision::redis::RedisSettings;
use provision::{MongoServer, PostgresServer, RedisServer, Server, ServiceKind};
use serde::{Deserialize, Serialize};

use crate::prereq;
use crate::ui::{Ui, human_duration};

/// A backing service a step may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    MongoDb,
    Postgres,
    Redis,
}

impl Service {
    pub fn label(self) -> &'static str {
        match self {
            Service::MongoDb => "MongoDB",
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
        }
    }

    /// provision's name for it.
    pub fn kind(self) -> ServiceKind {
        match self {
            Service::MongoDb => ServiceKind::Mongo,
            Service::Postgres => ServiceKind::Postgres,
            Service::Redis => ServiceKind::Redis,
        }
    }

    /// The variable the tests (provision) read: set, it names an existing server.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::MongoDb => "MONGODB_URI",
            Service::Postgres => "DATABASE_URL",
            Service::Redis => "REDIS_URL",
        }
    }

    /// The variable a step's server reads (its `Config`, `APP__SECTION__KEY`). MongoDB's is
    /// step 0's `mongodb.uri`; the others are the names steps 3 and 5 are expected to use.
    pub fn app_var(self) -> &'static str {
        match self {
            Service::MongoDb => "APP__MONGODB__URI",
            Service::Postgres => "APP__POSTGRES__URL",
            Service::Redis => "APP__REDIS__URL",
        }
    }
}

impl Service {
    /// The name of its command-line client, as `run`'s examples spell it (`{redis-cli}`).
    pub fn cli(self) -> &'static str {
        match self {
            Service::MongoDb => "mongosh",
            Service::Postgres => "psql",
            Service::Redis => "redis",
        }
    }
}

impl ServiceInfo {
    /// The client command that reaches this server: `redis-cli -p 40123`; where the URL came
    /// from the environment (it may hold a password), the command reads that variable.
    pub fn cli_command(&self) -> String {
        match (self.service, self.port) {
            (Service::Redis, Some(port)) => format!("redis-cli -p {port}"),
            (Service::Redis, None) => format!("redis-cli -u \"${}\"", self.env),
            (Service::MongoDb, Some(port)) => format!("mongosh --port {port}"),
            (Service::MongoDb, None) => format!("mongosh \"${}\"", self.env),
            // The local server's only role is `postgres`, whose database the app uses.
            (Service::Postgres, Some(port)) => format!("psql -h 127.0.0.1 -p {port} -U postgres"),
            (Service::Postgres, None) => format!("psql \"${}\"", self.env),
        }
    }
}

/// Where services may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// provision's whole precedence: a URL from the environment wins (`step`, `run`, `test`).
    EnvironmentFirst,
    /// Always a server we start, a container or a local one as provision's policy says
    /// (`services up`: its whole point is to start them).
    Owned,
}

/// One service that is up, as reports and the state file of `services up` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub service: Service,
    /// "MONGODB_URI", "local nx-27017": where it came from.
    pub source: String,
    /// The connection URL; `None` when it came from the environment, where it may carry a
    /// password (the variable is named instead).
    pub url: Option<String>,
    /// The variable that hands it to the tests.
    pub env: String,
    /// The server process, when we started one.
    pub pid: Option<u32>,
    /// The TCP port on 127.0.0.1, when we started it.
    pub port: Option<u16>,
}

struct Running {
    service: Service,
    url: String,
    info: ServiceInfo,
    took: Duration,
    /// The server handle, kept for its `Drop`, which stops what we started.
    _handle: Box<dyn Any>,
}

/// Services up for the length of one command; dropping the value stops what it started.
pub struct Services {
    running: Vec<Running>,
}

/// A service that could not be had: which, how long we tried, and why (with the fix).
#[derive(Debug)]
pub struct ServiceFailure {
    pub service: Service,
    pub took: Duration,
    pub error: anyhow::Error,
}

impl std::fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not available: {:#}",
            self.service.label(),
            self.error
        )
    }
}

impl std::error::Error for ServiceFailure {}

impl Services {
    /// Starts `needs` in order, announcing each (a plain line: provision may print while it
    /// works). On failure, what was started
    /// so far is stopped again (dropped) before the error returns.
    pub fn start(needs: &[Service], origin: Origin, ui: &Ui) -> Result<Services, ServiceFailure> {
        let mut services = Services {
            running: Vec::new(),
        };
        for &service in needs {
            let activity = ui.quiet_activity(format!("starting {}", service.label()));
            let clock = Instant::now();
            match start_one(service, origin) {
                Ok((url, handle, info)) => {
                    let took = clock.elapsed();
                    activity.finish(&format!(
                        "{}: {} ({})",
                        service.label(),
                        info.source,
                        human_duration(took)
                    ));
                    services.running.push(Running {
                        service,
                        url,
                        info,
                        took,
                        _handle: handle,
                    });
                }
                Err(error) => {
                    activity.clear();
                    return Err(ServiceFailure {
                        service,
                        took: clock.elapsed(),
                        error,
                    });
                }
            }
        }
        Ok(services)
    }

    /// `MONGODB_URI=...` and friends: what the tests read.
    /// Also names this xtask binary (`STEPWISE_XTASK`), for the tests that run it (step 4's
    /// test of `cargo xtask load` against a live step).
    pub fn test_env(&self) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = self
            .running
            .iter()
            .map(|r| (r.service.env_var(), r.url.clone()))
            .collect();
        if let Ok(exe) = std::env::current_exe() {
            env.push((provision::cargo::XTASK_VAR, exe.display().to_string()));
        }
        env
    }

    /// The URL of `service`, when it is among these.
    pub fn url_of(&self, service: Service) -> Option<&str> {
        self.running
            .iter()
            .find(|r| r.service == service)
            .map(|r| r.url.as_str())
    }

    /// `APP__MONGODB__URI=...` and friends: what a step's server reads.
    pub fn app_env(&self) -> Vec<(&'static str, String)> {
        self.running
            .iter()
            .map(|r| (r.service.app_var(), r.url.clone()))
            .collect()
    }

    pub fn infos(&self) -> Vec<ServiceInfo> {
        self.running.iter().map(|r| r.info.clone()).collect()
    }

    /// How long each service took to start.
    pub fn timings(&self) -> Vec<(Service, Duration)> {
        self.running.iter().map(|r| (r.service, r.took)).collect()
    }
}

type Started = (String, Box<dyn Any>, ServiceInfo);

fn start_one(service: Service, origin: Origin) -> anyhow::Result<Started> {
    let owned = origin == Origin::Owned;
    match service {
        Service::MongoDb => {
            let mut settings = MongoSettings::from_env();
            if owned {
                settings.env_uri = None;
            } else {
                prereq::ensure_mongo_prerequisites()?;
            }
            Ok(started(service, MongoServer::start_with(&settings)?))
        }
        Service::Postgres => {
            let mut settings = PostgresSettings::from_env();
            if owned {
                settings.env_url = None;
            }
            prereq::ensure_local_programs(&[service], &[])?;
            Ok(started(service, PostgresServer::start_with(&settings)?))
        }
        Service::Redis => {
            let mut settings = RedisSettings::from_env();
            if owned {
                settings.env_url = None;
            }
            prereq::ensure_local_programs(&[service], &[])?;
            Ok(started(service, RedisServer::start_with(&settings)?))
        }
    }
}

fn started<S: Server>(service: Service, server: S) -> Started {
    let info = ServiceInfo {
        service,
        source: server.source().to_string(),
        // A URL from the environment may carry a password: name the variable instead.
        url: server.source().is_owned().then(|| server.url().to_owned()),
        env: service.env_var().to_owned(),
        pid: server.local().map(|l| l.pid()),
        port: server
            .local()
            .map(|l| l.port())
            .or_else(|| server.container().map(|c| c.port())),
    };
    (server.url().to_owned(), Box::new(server), info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_has_its_own_variables() {
        let all = [Service::MongoDb, Service::Postgres, Service::Redis];
        let mut test_vars: Vec<_> = all.iter().map(|s| s.env_var()).collect();
        let mut app_vars: Vec<_> = all.iter().map(|s| s.app_var()).collect();
        test_vars.dedup();
        app_vars.dedup();
        assert_eq!(test_vars, ["MONGODB_URI", "DATABASE_URL", "REDIS_URL"]);
        // The same variables provision reads.
        for service in all {
            assert_eq!(service.env_var(), service.kind().env_var());
        }
        assert_eq!(app_vars.len(), 3);
        assert!(app_vars.iter().all(|v| v.starts_with("APP__")));
    }

    #[test]
    fn the_redis_client_command_names_the_port_redis_listens_on() {
        let info = ServiceInfo {
            service: Service::Redis,
            source: "local redis-server".into(),
            url: Some("redis://127.0.0.1:40123".into()),
            env: "REDIS_URL".into(),
            pid: Some(7),
            port: Some(40123),
        };
        assert_eq!(info.cli_command(), "redis-cli -p 40123");
        let from_env = ServiceInfo {
            port: None,
            url: None,
            ..info
        };
        assert_eq!(from_env.cli_command(), "redis-cli -u \"$REDIS_URL\"");
    }

    #[test]
    fn services_serialise_by_their_short_names() {
        let json = serde_json::to_string(&[Service::MongoDb, Service::Postgres]).unwrap();
        assert_eq!(json, r#"["mongodb","postgres"]"#);
    }
}

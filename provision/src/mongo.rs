//! MongoDB for tests and xtask: which server to use, starting it, and a fresh database per test.
//!
//! The rule (docs/architecture.md, "Services and how tests get them"): `MONGODB_URI` wins; else a
//! container (`mongo:7`, or the nx-27017 stand-in image `stepwise/mongo-standin:local`) when
//! Docker answers (see [`super::policy`]); else a local `mongod` if it is on PATH; else
//! nx-27017 from a cached Python venv. Local servers run on a free port in a temp dir and are
//! stopped by the harness (see [`super::process`]).
//! Tests share one server per test binary ([`shared_mongo`]) and isolate themselves with a
//! uniquely named database each ([`test_database`]), dropped when the test ends.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

use super::cache;
use super::docker::{ContainerSpec, ServiceContainer};
use super::nx27017::{self, NxMissing};
use super::policy::{ImageFlavor, ServiceKind, SourcePolicy};
use super::precedence::{self, Provisioned, Recipe, provision};
use super::process::{Launch, LocalServer, StopSignal, find_program};
use super::runtime::on_own_runtime;
use super::source::ServiceSource;

/// The environment variable that names an existing server.
pub const ENV_VAR: &str = "MONGODB_URI";

/// How long a local server may take to accept connections. nx-27017 needs ~0.1 s and mongod
/// about a second; the margin is for loaded CI machines.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a ping may take (server selection included) before the server counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a container may take to answer; `mongo:7` needs a few seconds on first start.
const CONTAINER_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// One readiness check of a container: short, so a check that hit the server before it
/// listened is retried soon.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a [`MongoServer`] is started from; [`MongoSettings::from_env`] in normal use, spelled
/// out in tests and by xtask to control the choice without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct MongoSettings {
    /// The value of `MONGODB_URI`, if any.
    pub env_uri: Option<String>,
    /// Where `mongod` and `python3` are looked for: a `PATH`-style list.
    pub search_path: Option<OsString>,
    /// Where the nx-27017 venv is cached; only needed when nx-27017 is the choice.
    pub cache_dir: Option<PathBuf>,
    /// `STEPWISE_SERVICES` and `STEPWISE_IMAGES`: whether a container comes before the local
    /// choices.
    pub policy: SourcePolicy,
}

impl MongoSettings {
    pub fn from_env() -> MongoSettings {
        MongoSettings {
            env_uri: std::env::var(ENV_VAR).ok(),
            search_path: std::env::var_os("PATH"),
            cache_dir: cache::cache_dir(),
            policy: SourcePolicy::from_env(),
        }
    }

    /// The same settings without `MONGODB_URI` and containers: always a local server.
    pub fn local_only(mut self) -> MongoSettings {
        self.env_uri = None;
        self.policy = SourcePolicy::local();
        self
    }
}

/// The server to use, by precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MongoChoice {
    /// The URI from `MONGODB_URI`.
    Uri(String),
    /// A local `mongod`, at this path.
    Mongod(PathBuf),
    /// A local nx-27017.
    Nx27017,
}

/// The local part of the precedence rule as a pure function: a non-blank `MONGODB_URI` wins,
/// then a `mongod` on PATH, then nx-27017. A blank URI counts as unset (`MONGODB_URI= cargo
/// test` clears it). A container, when the policy allows one, comes between the URI and the
/// local choices ([`super::policy::plan`]).
pub fn choose_source(env_uri: Option<String>, mongod_on_path: Option<PathBuf>) -> MongoChoice {
    match (env_uri, mongod_on_path) {
        (Some(uri), _) if !uri.trim().is_empty() => MongoChoice::Uri(uri.trim().to_owned()),
        (_, Some(mongod)) => MongoChoice::Mongod(mongod),
        _ => MongoChoice::Nx27017,
    }
}

impl Recipe for MongoSettings {
    const KIND: ServiceKind = ServiceKind::Mongo;
    const CHECK: &'static str = "a ping";
    const LOCAL_READY_TIMEOUT: Duration = READY_TIMEOUT;

    fn env_url(&self) -> Option<&str> {
        self.env_uri.as_deref()
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn url(host: &str, port: u16) -> String {
        format!("mongodb://{host}:{port}/?directConnection=true")
    }

    fn check(url: &str) -> Result<()> {
        ping(url)
    }

    fn container_check(url: &str) -> Result<()> {
        ping_within(url, CHECK_TIMEOUT)
    }

    /// Each image's own command (`mongod`, or nx-27017 on 0.0.0.0:27017 with in-memory
    /// databases).
    fn container_spec(images: ImageFlavor) -> ContainerSpec {
        ContainerSpec {
            kind: ServiceKind::Mongo,
            flavor: images,
            env: Vec::new(),
            cmd: Vec::new(),
            ready_timeout: CONTAINER_READY_TIMEOUT,
            flavor_chosen: true,
        }
    }

    /// [`choose_source`]'s local choice: a `mongod` on PATH, else nx-27017.
    fn start_local(&self) -> Result<LocalServer> {
        let search_path = self.search_path.as_deref();
        // Without a URI, the choice is one of the two local ones.
        match choose_source(None, find_program("mongod", search_path)) {
            MongoChoice::Mongod(mongod) => {
                LocalServer::start("mongod", READY_TIMEOUT, |port, dir| {
                    Ok(mongod_launch(&mongod, port, dir))
                })
            }
            MongoChoice::Nx27017 | MongoChoice::Uri(_) => {
                let cache_dir = self.cache_dir.as_deref().ok_or(NxMissing::CacheDir)?;
                let python = nx27017::ensure_venv(cache_dir, search_path)?;
                LocalServer::start("nx-27017", READY_TIMEOUT, |port, dir| {
                    Ok(nx27017::launch(&python, port, dir))
                })
            }
        }
    }
}

/// A MongoDB server to run tests against; stops the server on drop if we started it.
pub struct MongoServer {
    inner: Provisioned,
}

impl fmt::Debug for MongoServer {
    /// Leaves out a `MONGODB_URI`, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug_as(f, "MongoServer", "uri")
    }
}

impl MongoServer {
    /// A server chosen from this process's environment; see [`MongoServer::start_with`].
    pub fn start() -> Result<MongoServer> {
        MongoServer::start_with(&MongoSettings::from_env())
    }

    /// A server chosen by the precedence rule (a URI, a container, then [`choose_source`]'s
    /// local choice), checked with a `ping` before it is returned.
    ///
    /// Blocking; callable inside or outside a Tokio runtime (the ping runs on its own thread).
    pub fn start_with(settings: &MongoSettings) -> Result<MongoServer> {
        provision(settings).map(|inner| MongoServer { inner })
    }

    /// The connection string, without a database name.
    pub fn uri(&self) -> &str {
        self.inner.url()
    }

    pub fn source(&self) -> &ServiceSource {
        self.inner.source()
    }

    /// The process we started, if any: its port, pid, dir and logs.
    pub fn local(&self) -> Option<&LocalServer> {
        self.inner.local()
    }

    /// The container we started, if any.
    pub fn container(&self) -> Option<&ServiceContainer> {
        self.inner.container()
    }
}

/// `mongod` on `port` with its data, unix socket and log in `dir`; the socket would otherwise
/// go to a fixed path in /tmp.
fn mongod_launch(mongod: &Path, port: u16, dir: &Path) -> Launch {
    Launch {
        program: mongod.to_owned(),
        args: vec![
            "--dbpath".into(),
            dir.into(),
            "--port".into(),
            port.to_string().into(),
            "--bind_ip".into(),
            "127.0.0.1".into(),
            "--unixSocketPrefix".into(),
            dir.into(),
            "--quiet".into(),
        ],
        extra_logs: Vec::new(),
        env: Vec::new(),
        stop_signal: StopSignal::Term,
    }
}

/// Runs `ping` against `uri` on a thread of its own with its own runtime, so it works from
/// sync code and from inside a runtime alike.
fn ping(uri: &str) -> Result<()> {
    ping_within(uri, PING_TIMEOUT)
}

/// [`ping`], giving up after `timeout`.
fn ping_within(uri: &str, timeout: Duration) -> Result<()> {
    let uri = uri.to_owned();
    on_own_runtime(async move {
        let client = client_with_timeout(&uri, timeout).await?;
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
            .context("ping")?;
        Ok(())
    })
}

/// A client that gives up after `timeout` instead of the driver's 30 s.
async fn client_with_timeout(uri: &str, timeout: Duration) -> Result<Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .context("parsing the MongoDB connection string")?;
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    Client::with_options(options).context("creating a MongoDB client")
}

/// The server shared by all tests of this process, started on first use (see
/// [`precedence::shared`]: never dropped, a failed start remembered).
pub fn shared_mongo() -> Result<&'static MongoServer> {
    static SHARED: OnceLock<Result<MongoServer, String>> = OnceLock::new();
    precedence::shared(&SHARED, MongoServer::start)
}

/// A fresh database for one test, named `test_<uuid>`, dropped when this guard is dropped,
/// so tests share a server in parallel and leave nothing behind.
pub struct TestDatabase {
    /// `test_<uuid, 32 hex digits>`: unique across parallel tests and processes, and within
    /// nx-27017's limit (64 characters of `[A-Za-z0-9_-]`).
    pub name: String,
    /// The server's connection string, without the database name.
    pub uri: String,
    /// A client bound to the runtime of the test that created the guard.
    pub client: Client,
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// A fresh database on the server at `uri`.
    pub async fn create_on(uri: &str) -> Result<TestDatabase> {
        Ok(TestDatabase {
            name: format!("test_{}", uuid::Uuid::new_v4().simple()),
            uri: uri.to_owned(),
            client: client_with_timeout(uri, PING_TIMEOUT).await?,
        })
    }

    /// The database itself.
    pub fn db(&self) -> Database {
        self.client.database(&self.name)
    }
}

impl Drop for TestDatabase {
    /// Drops the database synchronously on a helper thread with its own runtime: `Drop` cannot
    /// await, and the test's runtime may be shutting down. Failure is reported, not raised: a
    /// panic here during unwinding would abort the test binary.
    fn drop(&mut self) {
        let (uri, name) = (self.uri.clone(), self.name.clone());
        let dropped = on_own_runtime(async move {
            client_with_timeout(&uri, PING_TIMEOUT)
                .await?
                .database(&name)
                .drop()
                .await
                .context("dropDatabase")
        });
        if let Err(err) = dropped {
            eprintln!(
                "provision: could not drop test database {}: {err:#}",
                self.name
            );
        }
    }
}

/// A fresh database on the [`shared_mongo`] server.
pub async fn test_database() -> Result<TestDatabase> {
    // Starting the shared server blocks for a moment the first time: keep it off the runtime.
    let server = tokio::task::spawn_blocking(shared_mongo)
        .await
        .context("starting the shared MongoDB")??;
    TestDatabase::create_on(server.uri()).await
}

//! MongoDB for tests and xtask: which server to use, starting it, and a fresh database per test.
//!
//! The rule (docs: DESIGN.md, "Services and how tests get them"): `MONGODB_URI` wins; else a
//! local `mongod` if it is on PATH; else nx-27017 from a cached Python venv. Local servers run
//! on a free port in a temp dir and are stopped by the harness (see [`super::process`]).
//! Tests share one server per test binary ([`shared_mongo`]) and isolate themselves with a
//! uniquely named database each ([`test_database`]), dropped when the test ends.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

use super::cache;
use super::nx27017::{self, NxMissing};
use super::process::{Launch, LocalServer, find_program};
use super::source::ServiceSource;

/// The environment variable that names an existing server.
pub const ENV_VAR: &str = "MONGODB_URI";

/// How long a local server may take to accept connections. nx-27017 needs ~0.1 s and mongod
/// about a second; the margin is for loaded CI machines.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a ping may take (server selection included) before the server counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

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
}

impl MongoSettings {
    pub fn from_env() -> MongoSettings {
        MongoSettings {
            env_uri: std::env::var(ENV_VAR).ok(),
            search_path: std::env::var_os("PATH"),
            cache_dir: cache::cache_dir(),
        }
    }

    /// The same settings without `MONGODB_URI`: always a local server.
    pub fn local_only(mut self) -> MongoSettings {
        self.env_uri = None;
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

/// The precedence rule as a pure function: a non-blank `MONGODB_URI` wins, then a `mongod` on
/// PATH, then nx-27017. A blank URI counts as unset (`MONGODB_URI= cargo test` clears it).
pub fn choose_source(env_uri: Option<String>, mongod_on_path: Option<PathBuf>) -> MongoChoice {
    match (env_uri, mongod_on_path) {
        (Some(uri), _) if !uri.trim().is_empty() => MongoChoice::Uri(uri.trim().to_owned()),
        (_, Some(mongod)) => MongoChoice::Mongod(mongod),
        _ => MongoChoice::Nx27017,
    }
}

/// A MongoDB server to run tests against; stops the server on drop if we started it.
pub struct MongoServer {
    uri: String,
    source: ServiceSource,
    /// The server process and its temp dir, when we started it; `None` for `MONGODB_URI`.
    local: Option<LocalServer>,
}

impl fmt::Debug for MongoServer {
    /// Leaves out a `MONGODB_URI`, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = if self.source.is_local() {
            self.uri.as_str()
        } else {
            "<from the environment>"
        };
        f.debug_struct("MongoServer")
            .field("uri", &uri)
            .field("source", &self.source)
            .field("local", &self.local)
            .finish()
    }
}

impl MongoServer {
    /// A server chosen from this process's environment; see [`MongoServer::start_with`].
    pub fn start() -> Result<MongoServer> {
        MongoServer::start_with(&MongoSettings::from_env())
    }

    /// A server chosen by [`choose_source`], checked with a `ping` before it is returned.
    ///
    /// Blocking; callable inside or outside a Tokio runtime (the ping runs on its own thread).
    pub fn start_with(settings: &MongoSettings) -> Result<MongoServer> {
        let search_path = settings.search_path.as_deref();
        match choose_source(
            settings.env_uri.clone(),
            find_program("mongod", search_path),
        ) {
            MongoChoice::Uri(uri) => {
                // The URI may hold credentials: name the variable, never the value.
                ping(&uri).with_context(|| {
                    format!(
                        "{ENV_VAR} is set, but no MongoDB answered a ping there. Start that \
                         server, or unset {ENV_VAR} to let the tests start a local one"
                    )
                })?;
                Ok(MongoServer {
                    uri,
                    source: ServiceSource::FromEnv { var: ENV_VAR },
                    local: None,
                })
            }
            MongoChoice::Mongod(mongod) => {
                start_local("mongod", |port, dir| Ok(mongod_launch(&mongod, port, dir)))
            }
            MongoChoice::Nx27017 => {
                let cache_dir = settings.cache_dir.as_deref().ok_or(NxMissing::CacheDir)?;
                let python = nx27017::ensure_venv(cache_dir, search_path)?;
                start_local("nx-27017", |port, dir| {
                    Ok(nx27017::launch(&python, port, dir))
                })
            }
        }
    }

    /// The connection string, without a database name.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn source(&self) -> &ServiceSource {
        &self.source
    }

    /// The process we started, if any: its port, pid, dir and logs.
    pub fn local(&self) -> Option<&LocalServer> {
        self.local.as_ref()
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
    }
}

fn start_local(
    name: &'static str,
    launch: impl Fn(u16, &Path) -> Result<Launch>,
) -> Result<MongoServer> {
    let mut local = LocalServer::start(name, READY_TIMEOUT, launch)?;
    let uri = format!(
        "mongodb://127.0.0.1:{}/?directConnection=true",
        local.port()
    );
    if let Err(err) = ping(&uri) {
        return Err(local.failure(&format!(
            "{name} accepts connections on port {} but does not answer a ping: {err:#}",
            local.port()
        )));
    }
    local.ensure_running()?;
    Ok(MongoServer {
        uri,
        source: ServiceSource::Local {
            server: name,
            port: local.port(),
        },
        local: Some(local),
    })
}

/// Runs `ping` against `uri` on a thread of its own with its own runtime, so it works from
/// sync code and from inside a runtime alike.
fn ping(uri: &str) -> Result<()> {
    let uri = uri.to_owned();
    on_own_runtime(async move {
        let client = client_with_timeout(&uri).await?;
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
            .context("ping")?;
        Ok(())
    })
}

/// A client that gives up after [`PING_TIMEOUT`] instead of the driver's 30 s.
async fn client_with_timeout(uri: &str) -> Result<Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .context("parsing the MongoDB connection string")?;
    options.server_selection_timeout = Some(PING_TIMEOUT);
    options.connect_timeout = Some(PING_TIMEOUT);
    Client::with_options(options).context("creating a MongoDB client")
}

/// Runs `work` to completion on a new thread with a current-thread runtime.
fn on_own_runtime<F>(work: F) -> Result<()>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a Tokio runtime")?
            .block_on(work)
    })
    .join()
    .map_err(|_| anyhow!("the MongoDB helper thread panicked"))?
}

/// The server shared by all tests of this process, started on first use.
///
/// It is never dropped (statics are not); the watchdog stops a local server when the process
/// exits. A failed start is remembered, so every test reports the same error at once instead
/// of each retrying for seconds.
pub fn shared_mongo() -> Result<&'static MongoServer> {
    static SHARED: OnceLock<Result<MongoServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| MongoServer::start().map_err(|err| format!("{err:#}")))
        .as_ref()
        .map_err(|msg| anyhow!("{msg}"))
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
            client: client_with_timeout(uri).await?,
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
            client_with_timeout(&uri)
                .await?
                .database(&name)
                .drop()
                .await
                .context("dropDatabase")
        });
        if let Err(err) = dropped {
            eprintln!(
                "testkit: could not drop test database {}: {err:#}",
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

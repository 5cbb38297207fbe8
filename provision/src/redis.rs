//! Redis for tests and xtask: which server to use, starting it, and a key prefix per test.
//!
//! The rule ([`super::policy`]): `REDIS_URL` wins; else a container (`redis:7` or
//! `stepwise/redis:7`) when Docker answers; else a local `redis-server` on a free port in a
//! temp dir, in the foreground (no `--daemonize`: it must stay the watchdog's child, see
//! [`super::process`]) and without persistence.
//!
//! Isolation between tests is a key prefix, `test:<uuid>:`, whose keys are deleted when the
//! test's guard drops ([`TestRedis`]). Not a database index: there are only 16 by default
//! (more parallel tests than that would have to queue, across processes, for a free one), a
//! shared `REDIS_URL` server or a managed Redis may not let us pick one, and Redis Cluster has
//! only database 0. A prefix scales to any number of tests on any server. Its price: the code
//! under test must take its key prefix from configuration (a good habit anyway, so two apps
//! can share a server), and a test must not use server-wide commands such as `FLUSHDB` or
//! `KEYS *`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::docker::{ContainerSpec, ServiceContainer};
use super::policy::{ImageFlavor, ServiceKind, SourcePolicy};
use super::precedence::{self, Provisioned, Recipe, provision};
use super::process::{Launch, LocalServer, MissingProgram, find_program};
use super::runtime::{on_own_runtime, on_own_runtime_within};
use super::source::ServiceSource;

/// The environment variable that names an existing server.
pub const ENV_VAR: &str = "REDIS_URL";

/// The Debian package with `redis-server`.
pub const PACKAGE: &str = "redis-server";

/// How long a local server may take to answer (about 0.1 s normally).
const LOCAL_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a container may take to answer.
const CONTAINER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one readiness check (connect + `PING`) may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How many keys one `SCAN` step asks for when a test's keys are deleted.
const SCAN_BATCH: usize = 1000;

/// What a [`RedisServer`] is started from; [`RedisSettings::from_env`] in normal use.
#[derive(Debug, Clone, Default)]
pub struct RedisSettings {
    /// The value of `REDIS_URL`, if any.
    pub env_url: Option<String>,
    /// Where `redis-server` is looked for: a `PATH`-style list.
    pub search_path: Option<OsString>,
    /// `STEPWISE_SERVICES` and `STEPWISE_IMAGES`.
    pub policy: SourcePolicy,
}

impl RedisSettings {
    pub fn from_env() -> RedisSettings {
        RedisSettings {
            env_url: std::env::var(ENV_VAR).ok(),
            search_path: std::env::var_os("PATH"),
            policy: SourcePolicy::from_env(),
        }
    }

    /// The same settings without `REDIS_URL` and containers: always a local server.
    pub fn local_only(mut self) -> RedisSettings {
        self.env_url = None;
        self.policy = SourcePolicy::local();
        self
    }
}

/// `redis-server` in `search_path`.
pub fn find_redis_server(
    search_path: Option<&OsStr>,
) -> Result<std::path::PathBuf, MissingProgram> {
    find_program("redis-server", search_path).ok_or_else(|| MissingProgram {
        service: "Redis",
        looked_for: "`redis-server` (on PATH)".to_owned(),
        package: PACKAGE,
        env_var: ENV_VAR,
        example_url: "redis://HOST:6379",
    })
}

impl Recipe for RedisSettings {
    const KIND: ServiceKind = ServiceKind::Redis;
    const CHECK: &'static str = "PING";
    const LOCAL_READY_TIMEOUT: Duration = LOCAL_READY_TIMEOUT;

    fn env_url(&self) -> Option<&str> {
        self.env_url.as_deref()
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn url(host: &str, port: u16) -> String {
        format!("redis://{host}:{port}")
    }

    fn check(url: &str) -> Result<()> {
        ping(url)
    }

    fn container_spec(images: ImageFlavor) -> ContainerSpec {
        let mut cmd = vec![
            "redis-server",
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
        ];
        cmd.extend_from_slice(SERVER_ARGS);
        ContainerSpec {
            kind: ServiceKind::Redis,
            flavor: images,
            env: Vec::new(),
            cmd,
            ready_timeout: CONTAINER_READY_TIMEOUT,
            flavor_chosen: true,
        }
    }

    fn start_local(&self) -> Result<LocalServer> {
        let program = find_redis_server(self.search_path.as_deref())?;
        LocalServer::start("redis-server", LOCAL_READY_TIMEOUT, |port, dir| {
            Ok(local_launch(&program, port, dir))
        })
    }
}

/// A Redis server to run tests against; stops (or removes) it on drop if we started it.
pub struct RedisServer {
    inner: Provisioned,
}

impl fmt::Debug for RedisServer {
    /// Leaves out a `REDIS_URL`, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug_as(f, "RedisServer", "url")
    }
}

impl RedisServer {
    /// A server chosen from this process's environment; see [`RedisServer::start_with`].
    pub fn start() -> Result<RedisServer> {
        RedisServer::start_with(&RedisSettings::from_env())
    }

    /// A server chosen by the precedence rule, checked with `PING` before it is returned.
    ///
    /// Blocking; callable inside or outside a Tokio runtime.
    pub fn start_with(settings: &RedisSettings) -> Result<RedisServer> {
        provision(settings).map(|inner| RedisServer { inner })
    }

    /// The connection URL.
    pub fn url(&self) -> &str {
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

/// The settings of a local server and of both images: no RDB snapshots, no AOF (a test
/// server is thrown away), reachable through the published port (the official image's
/// default; Debian's binary would otherwise bind only to loopback inside the container and
/// refuse other clients in protected mode), and a replica, should a step add one, synced at
/// once instead of after the default 5 s delay.
const SERVER_ARGS: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "no",
    "--repl-diskless-sync-delay",
    "0",
];

/// `redis-server` on `port`, loopback only, its working dir (where a replica's sync files
/// would go) in `dir`, its log on stdout (the watchdog's `output.log`).
fn local_launch(program: &Path, port: u16, dir: &Path) -> Launch {
    let mut args: Vec<OsString> = vec![
        "--port".into(),
        port.to_string().into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.into(),
        "--logfile".into(),
        "".into(),
        "--daemonize".into(),
        "no".into(),
    ];
    args.extend(SERVER_ARGS.iter().map(OsString::from));
    Launch {
        program: program.to_owned(),
        args,
        ..Launch::default()
    }
}

/// A local `redis-server` a test owns on a port it keeps: it can stop it (connections refused,
/// data gone, as after a crash without persistence), start it again on the same port, and
/// pause it (SIGSTOP: connections stay open and nothing answers, a hung server). For the
/// tests of what an app does while Redis is away; everything else uses [`test_redis`].
///
/// Blocking; callable inside or outside a Tokio runtime.
pub struct RestartableRedis {
    server: Option<LocalServer>,
    port: u16,
    program: std::path::PathBuf,
}

impl RestartableRedis {
    /// Starts `redis-server` from `PATH` on a free port.
    pub fn start() -> Result<RestartableRedis> {
        let program = find_redis_server(std::env::var_os("PATH").as_deref())
            .map_err(|missing| anyhow::anyhow!("{missing}"))?;
        let server = Self::launch(&program, None)?;
        Ok(RestartableRedis {
            port: server.port(),
            server: Some(server),
            program,
        })
    }

    fn launch(program: &Path, port: Option<u16>) -> Result<LocalServer> {
        let program = program.to_owned();
        LocalServer::start_at(
            "redis-server",
            port,
            Duration::from_secs(20),
            move |port, dir| Ok(local_launch(&program, port, dir)),
        )
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server; until [`RestartableRedis::restart`], connections are refused.
    pub fn stop(&mut self) {
        drop(self.server.take());
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.server = Some(Self::launch(&self.program, Some(self.port))?);
        Ok(())
    }

    /// SIGSTOP: the server keeps its connections and answers nothing until [`Self::resume`].
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// SIGCONT: a paused server answers again.
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.server.as_ref().context("the server is stopped")?.pid();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} {pid} failed");
        }
        Ok(())
    }
}

/// A local `redis-server` that speaks TLS only, as a managed Redis with in-transit
/// encryption does (ElastiCache, Memorystore, Azure Cache for Redis): `--tls-port` on a free
/// port, the plain port off (`--port 0`), `tls`'s server certificate and key, and no client
/// certificates asked for (`--tls-auth-clients no`: clients authenticate by password, if at
/// all, as with those services). Needs a `redis-server` built with TLS (Debian's is).
///
/// Blocking; callable inside or outside a Tokio runtime.
pub struct TlsRedis {
    server: LocalServer,
}

impl fmt::Debug for TlsRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsRedis")
            .field("server", &self.server)
            .finish()
    }
}

impl TlsRedis {
    /// Starts `redis-server` from `PATH` with TLS on, and waits until a `PING` over TLS,
    /// verified against `tls`'s CA, is answered.
    pub fn start(tls: &crate::tls::TlsFiles) -> Result<TlsRedis> {
        let program = find_redis_server(std::env::var_os("PATH").as_deref())
            .map_err(|missing| anyhow::anyhow!("{missing}"))?;
        let (cert, key, ca) = (
            tls.cert_file.clone(),
            tls.key_file.clone(),
            tls.ca_file.clone(),
        );
        let server = LocalServer::start("redis-server-tls", LOCAL_READY_TIMEOUT, |port, dir| {
            let mut launch = local_launch(&program, 0, dir);
            launch.args.extend([
                OsString::from("--tls-port"),
                port.to_string().into(),
                "--tls-cert-file".into(),
                cert.clone().into(),
                "--tls-key-file".into(),
                key.clone().into(),
                "--tls-ca-cert-file".into(),
                ca.clone().into(),
                "--tls-auth-clients".into(),
                "no".into(),
            ]);
            Ok(launch)
        })
        .context(
            "starting redis-server with TLS (one built without TLS refuses the --tls-* \
             options, and its log above says so)",
        )?;
        let redis = TlsRedis { server };
        let ca_pem = std::fs::read(&tls.ca_file).context("reading the CA file")?;
        let started = std::time::Instant::now();
        while let Err(err) = ping_tls(&redis.url(), &ca_pem) {
            if started.elapsed() > LOCAL_READY_TIMEOUT {
                return Err(err.context(format!(
                    "redis-server listens on TLS port {} but does not answer PING over TLS",
                    redis.port()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(redis)
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `rediss://localhost:<port>`: the name the certificate of [`crate::tls::TlsFiles::localhost`]
    /// is for.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port())
    }

    /// The process: its port, pid, dir and logs.
    pub fn local(&self) -> &LocalServer {
        &self.server
    }
}

/// Connects to the `rediss://` `url` trusting only the CA in `ca_pem`, and sends `PING`,
/// within [`CHECK_TIMEOUT`].
pub fn ping_tls(url: &str, ca_pem: &[u8]) -> Result<()> {
    let (url, ca_pem) = (url.to_owned(), ca_pem.to_vec());
    on_own_runtime_within(CHECK_TIMEOUT, async move {
        let client = redis::Client::build_with_tls(
            url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca_pem),
            },
        )
        .context("a TLS client for the Redis URL")?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting over TLS")?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("PING")?;
        if pong != "PONG" {
            bail!("PING answered {pong:?}");
        }
        Ok(())
    })
}

/// Connects to `url` and sends `PING`, within [`CHECK_TIMEOUT`].
pub fn ping(url: &str) -> Result<()> {
    let url = url.to_owned();
    on_own_runtime_within(CHECK_TIMEOUT, async move {
        let client = redis::Client::open(url.as_str()).context("parsing the Redis URL")?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting")?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("PING")?;
        if pong != "PONG" {
            bail!("PING answered {pong:?}");
        }
        Ok(())
    })
}

/// The server shared by all tests of this process, started on first use (see
/// [`precedence::shared`]: never dropped, a failed start remembered).
pub fn shared_redis() -> Result<&'static RedisServer> {
    static SHARED: OnceLock<Result<RedisServer, String>> = OnceLock::new();
    precedence::shared(&SHARED, RedisServer::start)
}

/// One test's share of a Redis server: a key prefix, `test:<uuid>:`, whose keys are deleted
/// when this guard drops.
pub struct TestRedis {
    /// `test:<32 hex digits>:`. Give it to the code under test as its key prefix.
    pub prefix: String,
    /// The server's URL.
    pub url: String,
    /// A client for the server (not a connection: connecting is per runtime, see
    /// [`TestRedis::connection`]).
    pub client: redis::Client,
}

impl fmt::Debug for TestRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRedis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TestRedis {
    /// A fresh prefix on the server at `url`.
    pub fn create_on(url: &str) -> Result<TestRedis> {
        Ok(TestRedis {
            prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
            url: url.to_owned(),
            client: redis::Client::open(url).context("parsing the Redis URL")?,
        })
    }

    /// `name` under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A reconnecting connection, on the caller's runtime.
    pub async fn connection(&self) -> Result<ConnectionManager> {
        ConnectionManager::new(self.client.clone())
            .await
            .context("connecting to Redis")
    }

    /// The keys under this test's prefix (SCAN, not KEYS: it never blocks the server).
    pub async fn keys(&self) -> Result<Vec<String>> {
        let mut conn = self.connection().await?;
        scan_prefix(&mut conn, &self.prefix).await
    }
}

async fn scan_prefix(conn: &mut ConnectionManager, prefix: &str) -> Result<Vec<String>> {
    // The prefix is hex and punctuation only: nothing in it is a glob character.
    let pattern = format!("{prefix}*");
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .query_async(conn)
            .await
            .context("SCAN")?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // SCAN may return a key twice.
    keys.sort();
    keys.dedup();
    Ok(keys)
}

impl Drop for TestRedis {
    /// Deletes this test's keys on a helper thread with its own runtime (`Drop` cannot await).
    /// `UNLINK` frees memory in the background. Failure is reported, not raised.
    fn drop(&mut self) {
        let (client, prefix) = (self.client.clone(), self.prefix.clone());
        let deleted = on_own_runtime(async move {
            let mut conn = ConnectionManager::new(client).await?;
            let keys = scan_prefix(&mut conn, &prefix).await?;
            for chunk in keys.chunks(SCAN_BATCH) {
                let _: usize = conn.unlink(chunk).await.context("UNLINK")?;
            }
            Ok(())
        });
        if let Err(err) = deleted {
            eprintln!(
                "provision: could not delete the test keys {}*: {err:#}",
                self.prefix
            );
        }
    }
}

/// A fresh key prefix on the [`shared_redis`] server.
pub async fn test_redis() -> Result<TestRedis> {
    let server = tokio::task::spawn_blocking(shared_redis)
        .await
        .context("starting the shared Redis")??;
    TestRedis::create_on(server.url())
}

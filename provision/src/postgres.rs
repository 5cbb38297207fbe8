//! PostgreSQL for tests and xtask: which server to use, starting it, a fresh database per test,
//! and a streaming read replica for the steps that need one.
//!
//! The rule ([`super::policy`]): `DATABASE_URL` wins; else a container (`postgres:15` or
//! `stepwise/postgres:15`) when Docker answers; else a local cluster: `initdb` in a temp dir,
//! then the `postgres` binary itself on a free port under the watchdog of
//! [`super::process`] (not `pg_ctl`, which daemonizes: the watchdog can only stop its direct
//! child). Durability is switched off (`fsync`, `synchronous_commit`, `full_page_writes`):
//! a test cluster is thrown away, and this is the difference between slow and fast tests.
//!
//! PostgreSQL refuses to run as root. As root, both `initdb` and the server run as the
//! `postgres` user through `setpriv`, which `exec`s (unlike `runuser`/`su`, which stay around
//! as a parent: the watchdog's SIGKILL would then hit `runuser` and orphan the server). The
//! temp dir is handed to that user; the harness (root) still writes the logs and removes it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::docker::{ContainerSpec, ServiceContainer};
use super::policy::{ImageFlavor, ServiceKind, SourcePolicy};
use super::precedence::{self, Provisioned, Recipe, provision};
use super::process::{
    Launch, LocalServer, MissingProgram, StopSignal, find_program, run_to_completion,
};
use super::runtime::{on_own_runtime, on_own_runtime_within};
use super::source::ServiceSource;

/// The environment variable that names an existing server.
pub const ENV_VAR: &str = "DATABASE_URL";

/// The Debian package with the server binaries.
pub const PACKAGE: &str = "postgresql";

/// Where Debian puts each major version's binaries: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// The user a server started by root runs as.
const SERVER_USER: &str = "postgres";

/// How long a local server may take to answer once started (about a second normally).
const LOCAL_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a container may take: the official image runs `initdb` and a temporary server
/// on its first start.
const CONTAINER_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one readiness check (connect + `SELECT 1`) may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the server, on top of the port and paths. Durability off (see the module
/// doc); WAL for replicas (`replica` is PostgreSQL 15's default, spelled out because the
/// replica depends on it); enough connections for several test processes sharing one server.
const SERVER_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=replica",
    "max_wal_senders=10",
    "max_connections=300",
];

/// What a [`PostgresServer`] is started from; [`PostgresSettings::from_env`] in normal use.
#[derive(Debug, Clone, Default)]
pub struct PostgresSettings {
    /// The value of `DATABASE_URL`, if any.
    pub env_url: Option<String>,
    /// Where `postgres`, `initdb` and `pg_basebackup` are looked for: a `PATH`-style list.
    /// [`PostgresSettings::from_env`] puts Debian's versioned dirs after `PATH`.
    pub search_path: Option<OsString>,
    /// `STEPWISE_SERVICES` and `STEPWISE_IMAGES`.
    pub policy: SourcePolicy,
}

impl PostgresSettings {
    pub fn from_env() -> PostgresSettings {
        PostgresSettings {
            env_url: std::env::var(ENV_VAR).ok(),
            search_path: Some(with_debian_dirs(std::env::var_os("PATH"))),
            policy: SourcePolicy::from_env(),
        }
    }

    /// The same settings without `DATABASE_URL` and containers: always a local server.
    pub fn local_only(mut self) -> PostgresSettings {
        self.env_url = None;
        self.policy = SourcePolicy::local();
        self
    }
}

/// `path` followed by `/usr/lib/postgresql/<major>/bin` for each installed major version,
/// newest first: Debian keeps the server binaries off `PATH`.
pub fn with_debian_dirs(path: Option<OsString>) -> OsString {
    let mut dirs: Vec<PathBuf> = path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_VERSIONS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The dir of the server binaries: the first dir of `search_path` holding both `postgres`
/// and `initdb`, followed through symlinks to where the binaries really are (a
/// `/usr/local/bin/postgres` link to Debian's dir has no `pg_basebackup` beside it).
pub fn find_bin_dir(search_path: Option<&OsStr>) -> Result<PathBuf, MissingProgram> {
    search_path
        .into_iter()
        .flat_map(std::env::split_paths)
        .find(|dir| {
            let dir_only = Some(dir.as_os_str());
            find_program("postgres", dir_only).is_some()
                && find_program("initdb", dir_only).is_some()
        })
        .map(|dir| {
            fs::canonicalize(dir.join("postgres"))
                .ok()
                .and_then(|real| Some(real.parent()?.to_owned()))
                .filter(|real| real.join("initdb").is_file())
                .unwrap_or(dir)
        })
        .ok_or_else(|| MissingProgram {
            service: "PostgreSQL",
            looked_for: format!(
                "`postgres` and `initdb` (on PATH or in {DEBIAN_VERSIONS_DIR}/<version>/bin)"
            ),
            package: PACKAGE,
            env_var: ENV_VAR,
            example_url: "postgres://USER:PASSWORD@HOST:5432/DB",
        })
}

/// Who the server processes run as.
#[derive(Debug, Clone)]
enum RunAs {
    /// Ourselves: we are not root.
    Me,
    /// The `postgres` user, through `setpriv`, because we are root.
    User {
        setpriv: PathBuf,
        uid: u32,
        gid: u32,
    },
}

impl RunAs {
    /// Decides from our effective uid (the owner of `/proc/self`).
    fn decide() -> Result<RunAs> {
        let euid = fs::metadata("/proc/self")
            .context("reading /proc/self to learn our uid")?
            .uid();
        if euid != 0 {
            return Ok(RunAs::Me);
        }
        let (uid, gid) = passwd_ids(SERVER_USER).ok_or_else(|| {
            anyhow!(
                "PostgreSQL refuses to run as root, and there is no `{SERVER_USER}` user to run \
                 it as. Installing the server creates one (apt-get install -y {PACKAGE}), or \
                 create it with: useradd --system --home-dir /var/lib/postgresql {SERVER_USER}"
            )
        })?;
        let setpriv =
            find_program("setpriv", std::env::var_os("PATH").as_deref()).ok_or_else(|| {
                anyhow!(
                    "running PostgreSQL as `{SERVER_USER}` needs `setpriv`: \
                     apt-get install -y util-linux"
                )
            })?;
        Ok(RunAs::User { setpriv, uid, gid })
    }

    /// The command line that runs `program args` as this user.
    fn command(&self, program: &Path, args: Vec<OsString>) -> (PathBuf, Vec<OsString>) {
        match self {
            RunAs::Me => (program.to_owned(), args),
            RunAs::User { setpriv, uid, gid } => {
                let mut all: Vec<OsString> = vec![
                    format!("--reuid={uid}").into(),
                    format!("--regid={gid}").into(),
                    "--clear-groups".into(),
                    "--".into(),
                    program.into(),
                ];
                all.extend(args);
                (setpriv.clone(), all)
            }
        }
    }

    /// Hands `dir` to the server's user (root-owned temp dirs are closed to it).
    fn own(&self, dir: &Path) -> Result<()> {
        if let RunAs::User { uid, gid, .. } = self {
            std::os::unix::fs::chown(dir, Some(*uid), Some(*gid))
                .with_context(|| format!("handing {} to {SERVER_USER}", dir.display()))?;
        }
        Ok(())
    }
}

/// Uid and gid of `user` from `/etc/passwd`.
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

impl Recipe for PostgresSettings {
    const KIND: ServiceKind = ServiceKind::Postgres;
    const CHECK: &'static str = "`SELECT 1`";
    const LOCAL_READY_TIMEOUT: Duration = LOCAL_READY_TIMEOUT;

    fn env_url(&self) -> Option<&str> {
        self.env_url.as_deref()
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn url(host: &str, port: u16) -> String {
        format!("postgres://postgres@{host}:{port}/postgres")
    }

    fn check(url: &str) -> Result<()> {
        select_one(url)
    }

    fn validate_env_url(url: &str) -> Result<()> {
        PgConnectOptions::from_str(url)
            .with_context(|| format!("{ENV_VAR} is not a valid PostgreSQL URL"))?;
        Ok(())
    }

    /// Trust authentication (the official image refuses to start without a password or
    /// this), and the same durability switches as a local server.
    fn container_spec(images: ImageFlavor) -> ContainerSpec {
        ContainerSpec {
            kind: ServiceKind::Postgres,
            flavor: images,
            env: vec![("POSTGRES_HOST_AUTH_METHOD", "trust")],
            cmd: vec![
                "postgres",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            ready_timeout: CONTAINER_READY_TIMEOUT,
            flavor_chosen: true,
        }
    }

    /// `initdb` in the temp dir, then the server on it.
    fn start_local(&self) -> Result<LocalServer> {
        let bin = find_bin_dir(self.search_path.as_deref())?;
        let run_as = RunAs::decide()?;
        LocalServer::start("postgres", LOCAL_READY_TIMEOUT, |port, dir| {
            run_as.own(dir)?;
            let (program, args) = run_as.command(
                &bin.join("initdb"),
                vec![
                    "-D".into(),
                    dir.join("data").into(),
                    "-U".into(),
                    "postgres".into(),
                    "--auth=trust".into(),
                    "-E".into(),
                    "UTF8".into(),
                    "--no-locale".into(),
                    "--no-sync".into(),
                ],
            );
            run_to_completion(Command::new(program).args(args)).context("initdb")?;
            Ok(server_launch(&bin, &run_as, port, dir, &[]))
        })
    }
}

/// A PostgreSQL server to run tests against; stops (or removes) it on drop if we started it.
pub struct PostgresServer {
    /// The server; its URL is that of the maintenance database (`postgres`, or the one
    /// `DATABASE_URL` names).
    inner: Provisioned,
    /// Where a replica connects to, from the URL.
    host: String,
    port: u16,
}

impl fmt::Debug for PostgresServer {
    /// Leaves out a `DATABASE_URL`, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug_as(f, "PostgresServer", "url")
    }
}

impl PostgresServer {
    /// A server chosen from this process's environment; see [`PostgresServer::start_with`].
    pub fn start() -> Result<PostgresServer> {
        PostgresServer::start_with(&PostgresSettings::from_env())
    }

    /// A server chosen by the precedence rule, checked with `SELECT 1` before it is returned.
    ///
    /// Blocking; callable inside or outside a Tokio runtime.
    pub fn start_with(settings: &PostgresSettings) -> Result<PostgresServer> {
        PostgresServer::wrap(provision(settings)?)
    }

    fn wrap(inner: Provisioned) -> Result<PostgresServer> {
        // Never the URL in the message: it may hold credentials.
        let options = PgConnectOptions::from_str(inner.url())
            .context("reading host and port from the PostgreSQL URL")?;
        Ok(PostgresServer {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            inner,
        })
    }

    /// A streaming read replica of `primary`, as a local server: `pg_basebackup` of the
    /// primary (which must accept replication connections without a password, as our local
    /// servers and `stepwise/postgres:15` do; the official image does not), then a hot
    /// standby on a free port. Replication is asynchronous: a test that reads the replica
    /// right after writing the primary must poll.
    pub fn start_replica_of(primary: &PostgresServer) -> Result<PostgresServer> {
        let settings = PostgresSettings::from_env();
        let bin = find_bin_dir(settings.search_path.as_deref())?;
        let run_as = RunAs::decide()?;
        let (host, port) = (primary.host.clone(), primary.port);
        let local =
            LocalServer::start("postgres-replica", LOCAL_READY_TIMEOUT, |own_port, dir| {
                run_as.own(dir)?;
                let data = dir.join("data");
                let (program, args) = run_as.command(
                    &bin.join("pg_basebackup"),
                    vec![
                        "-h".into(),
                        host.clone().into(),
                        "-p".into(),
                        port.to_string().into(),
                        "-U".into(),
                        "postgres".into(),
                        "-D".into(),
                        data.clone().into(),
                        "-R".into(),
                        "-X".into(),
                        "stream".into(),
                        "-c".into(),
                        "fast".into(),
                    ],
                );
                run_to_completion(Command::new(program).args(args))
                    .context("copying the primary with pg_basebackup")?;
                Ok(server_launch(
                    &bin,
                    &run_as,
                    own_port,
                    dir,
                    &["hot_standby=on"],
                ))
            })?;
        PostgresServer::wrap(precedence::answering::<PostgresSettings>(
            local,
            "postgres (replica)",
        )?)
    }

    /// A local server (never `DATABASE_URL` or a container) that speaks TLS only, as a managed
    /// PostgreSQL set to insist on it does (RDS's `rds.force_ssl`, Cloud SQL's "SSL only"):
    /// `ssl = on` with `tls`'s server certificate and key, and `pg_hba.conf` accepting TCP
    /// connections over TLS alone (`hostssl`; a plain one is rejected). Its [`url`] asks for
    /// no verification (`sslmode` unset: sqlx's `prefer`), so the readiness check and
    /// [`TestPostgresDatabase`] work on it; what verifies is the code under test, given the CA.
    ///
    /// [`url`]: PostgresServer::url
    pub fn start_local_with_tls(tls: &crate::tls::TlsFiles) -> Result<PostgresServer> {
        let settings = PostgresSettings::from_env();
        let bin = find_bin_dir(settings.search_path.as_deref())?;
        let run_as = RunAs::decide()?;
        let cert = fs::read_to_string(&tls.cert_file).context("reading the server certificate")?;
        let key = fs::read_to_string(&tls.key_file).context("reading the server key")?;
        let local = LocalServer::start("postgres-tls", LOCAL_READY_TIMEOUT, |port, dir| {
            run_as.own(dir)?;
            let data = dir.join("data");
            let (program, args) = run_as.command(
                &bin.join("initdb"),
                vec![
                    "-D".into(),
                    data.clone().into(),
                    "-U".into(),
                    "postgres".into(),
                    "--auth=trust".into(),
                    "-E".into(),
                    "UTF8".into(),
                    "--no-locale".into(),
                    "--no-sync".into(),
                ],
            );
            run_to_completion(Command::new(program).args(args)).context("initdb")?;
            // PostgreSQL reads a key only if its owner alone can (its user owning it, 0600).
            let cert_file = crate::tls::write_file(&data, "server.crt", &cert, 0o644)?;
            let key_file = crate::tls::write_file(&data, "server.key", &key, 0o600)?;
            for file in [&cert_file, &key_file] {
                run_as.own(file)?;
            }
            // Written as root into the server's dir: the file keeps initdb's owner.
            fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostssl replication all 127.0.0.1/32 trust\n\
                 hostnossl all all 0.0.0.0/0 reject\n",
            )
            .context("writing pg_hba.conf")?;
            let ssl = [
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert_file.display()),
                format!("ssl_key_file={}", key_file.display()),
            ];
            let extra: Vec<&str> = ssl.iter().map(String::as_str).collect();
            Ok(server_launch(&bin, &run_as, port, dir, &extra))
        })?;
        PostgresServer::wrap(precedence::answering::<PostgresSettings>(
            local,
            "postgres (TLS)",
        )?)
    }

    /// The URL of the maintenance database; per-test databases sit beside it
    /// ([`TestPostgresDatabase`]).
    pub fn url(&self) -> &str {
        self.inner.url()
    }

    /// The URL of database `name` on this server.
    pub fn url_for(&self, name: &str) -> String {
        with_database(self.inner.url(), name)
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

/// `url` with its database (the path) replaced by `name`, query string kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // The authority ends at the first '/' after "://" (a '/' in a password is %-encoded).
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The `postgres` command for the cluster in `dir/data`, with its socket in `dir` (the
/// default, /var/run/postgresql, is shared and root-owned).
fn server_launch(bin: &Path, run_as: &RunAs, port: u16, dir: &Path, extra: &[&str]) -> Launch {
    let mut args: Vec<OsString> = vec![
        "-D".into(),
        dir.join("data").into(),
        "-p".into(),
        port.to_string().into(),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        format!("unix_socket_directories={}", dir.display()).into(),
    ];
    for setting in SERVER_SETTINGS.iter().chain(extra) {
        args.push("-c".into());
        args.push((*setting).into());
    }
    let (program, args) = run_as.command(&bin.join("postgres"), args);
    Launch {
        program,
        args,
        stop_signal: StopSignal::Int,
        ..Launch::default()
    }
}

/// Connects to `url` and runs `SELECT 1`, within [`CHECK_TIMEOUT`].
pub fn select_one(url: &str) -> Result<()> {
    let url = url.to_owned();
    on_own_runtime_within(CHECK_TIMEOUT, async move {
        let mut conn = PgConnection::connect(&url).await.context("connecting")?;
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .context("SELECT 1")?;
        if one != 1 {
            bail!("SELECT 1 returned {one}");
        }
        let _ = conn.close().await;
        Ok(())
    })
}

/// The server shared by all tests of this process, started on first use (see
/// [`precedence::shared`]: never dropped, a failed start remembered).
pub fn shared_postgres() -> Result<&'static PostgresServer> {
    static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
    precedence::shared(&SHARED, PostgresServer::start)
}

/// A fresh database for one test, `test_<uuid>`, created on a shared server and dropped
/// (`WITH (FORCE)`, closing connections still open) when this guard is dropped.
pub struct TestPostgresDatabase {
    /// `test_<32 hex digits>`: unique across parallel tests and processes, and within
    /// PostgreSQL's 63-byte identifier limit.
    pub name: String,
    /// The URL of this database: what the code under test is configured with.
    pub url: String,
    /// The URL of the server's maintenance database, from which this one is dropped.
    pub server_url: String,
    /// A pool on this database, bound to the runtime of the test that created the guard;
    /// lazy, so a test that only passes `url` on opens no connection through it.
    pub pool: PgPool,
}

impl fmt::Debug for TestPostgresDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPostgresDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestPostgresDatabase {
    /// A fresh database on the server whose maintenance database is at `server_url`.
    pub async fn create_on(server_url: &str) -> Result<TestPostgresDatabase> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server_url)
            .await
            .context("connecting to create a test database")?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = admin.close().await;
        let url = with_database(server_url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_lazy(&url)
            .context("creating a pool for the test database")?;
        Ok(TestPostgresDatabase {
            name,
            url,
            server_url: server_url.to_owned(),
            pool,
        })
    }
}

impl Drop for TestPostgresDatabase {
    /// Drops the database synchronously on a helper thread with its own runtime: `Drop` cannot
    /// await, and the test's runtime may be shutting down. Failure is reported, not raised.
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropped = on_own_runtime(async move {
            let mut admin = PgConnection::connect(&server_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            let _ = admin.close().await;
            Ok(())
        });
        if let Err(err) = dropped {
            eprintln!(
                "provision: could not drop test database {}: {err:#}",
                self.name
            );
        }
    }
}

/// A fresh database on the [`shared_postgres`] server.
pub async fn test_postgres_database() -> Result<TestPostgresDatabase> {
    // Starting the shared server blocks for a moment the first time: keep it off the runtime.
    let server = tokio::task::spawn_blocking(shared_postgres)
        .await
        .context("starting the shared PostgreSQL")??;
    TestPostgresDatabase::create_on(server.url()).await
}

//! Local server processes owned by the harness: a free port, a private temp dir, a watchdog
//! that stops the server when we go away, and a readiness wait that explains failures.
//!
//! Every local service (MongoDB, PostgreSQL, Redis) starts through
//! [`LocalServer::start`], so they all share one answer to "what if the test process dies?":
//! the server runs under a small `sh` watchdog whose stdin is a pipe only we hold. When our
//! process exits, however it exits (panic, `process::exit`, SIGKILL, a `static` never dropped),
//! the kernel closes that pipe, the watchdog reads EOF, stops the server and removes its temp
//! dir. Dropping the [`LocalServer`] closes the pipe on purpose and waits for the same shutdown.
//! (`PR_SET_PDEATHSIG` would need `unsafe`, which the workspace forbids.) The watchdog and its
//! server live in a process group of their own, so a Ctrl-C aimed at the test run reaches only
//! us: they then stop in order and remove the dir, instead of dying mid-way beside us.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

/// The watchdog, run as `sh -c WATCHDOG watchdog DIR SIGNAL PROGRAM ARGS...`.
///
/// - fd 3 keeps our pipe: dash gives background jobs `/dev/null` as stdin even with `<&0`;
/// - it prints the server's pid on stdout, then closes stdout so we can drop our end;
/// - the subshell `w` waits for EOF on the pipe, asks the server to stop (SIGNAL, SIGKILL
///   after 5 s) and leaves a `.stopping` marker, so the dir is removed only on a requested
///   stop: after a crash we still want to read the logs;
/// - the main shell waits for the server, so it exits when the server exits (that is how we
///   notice a server that died early) and reports the server's exit status.
const WATCHDOG: &str = r#"dir=$1; sig=$2; shift 2
exec 3<&0
"$@" </dev/null 3<&- >>"$dir/output.log" 2>&1 &
pid=$!
echo "$pid"
exec >/dev/null
{ cat <&3 >/dev/null; : >"$dir/.stopping"; kill -s "$sig" "$pid" 2>/dev/null; i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  kill -9 "$pid" 2>/dev/null; } &
w=$!
wait "$pid"; st=$?
kill "$w" 2>/dev/null
if [ -e "$dir/.stopping" ]; then rm -rf "$dir"; fi
exit "$st"
"#;

/// The file in the server's dir that receives its stdout and stderr.
pub const OUTPUT_LOG: &str = "output.log";

/// How many attempts [`LocalServer::start`] makes when the port it picked was taken meanwhile.
const PORT_ATTEMPTS: u32 = 3;

/// How long dropping a [`LocalServer`] waits for the watchdog before killing everything.
/// Longer than the watchdog's own 5 s SIGTERM grace period, so it normally never triggers.
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The kernel picks it (bind to port 0) and we release it at once, so another process could
/// take it before our server binds; [`LocalServer::start`] retries when that happens.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The first executable file called `name` in `search_path` (a `PATH`-style list).
pub fn find_program(name: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    let search_path = search_path?;
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A server program this machine lacks, with the package that provides it and the other ways
/// to get the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingProgram {
    /// The service, as people name it: "PostgreSQL".
    pub service: &'static str,
    /// What was looked for and where: "`postgres` and `initdb` on PATH or in ...".
    pub looked_for: String,
    /// The Debian package: "postgresql".
    pub package: &'static str,
    /// The variable that names an existing server instead: "DATABASE_URL".
    pub env_var: &'static str,
    /// An example value for it.
    pub example_url: &'static str,
}

impl fmt::Display for MissingProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no {service} for the tests: {looked_for} not found.\n\
             Install it with: apt-get install -y {package}\n\
             Or run it in Docker (used automatically when an engine answers; see \
             STEPWISE_SERVICES), or point the tests at a running server with \
             {env_var}={example_url}",
            service = self.service,
            looked_for = self.looked_for,
            package = self.package,
            env_var = self.env_var,
            example_url = self.example_url,
        )
    }
}

impl std::error::Error for MissingProgram {}

/// How to run one server, given the port and private dir [`LocalServer::start`] chose.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The server binary; an absolute path, so the choice made by the caller is the one run.
    pub program: PathBuf,
    /// Everything after the program; must include the port and keep files inside the dir.
    pub args: Vec<OsString>,
    /// Log files the server writes itself (inside its dir), shown in errors after
    /// [`OUTPUT_LOG`].
    pub extra_logs: Vec<PathBuf>,
    /// Environment variables set for the server, on top of ours.
    pub env: Vec<(OsString, OsString)>,
    /// How the watchdog asks the server to stop (SIGKILL follows after 5 s).
    pub stop_signal: StopSignal,
}

/// The signal that asks a server to stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: what most servers treat as "shut down cleanly".
    #[default]
    Term,
    /// SIGINT: PostgreSQL's *fast* shutdown. Its SIGTERM is a *smart* shutdown that waits for
    /// every client to disconnect, and a test's pool may still be open when the server stops.
    Int,
}

impl StopSignal {
    /// The name `kill -s` takes.
    fn name(self) -> &'static str {
        match self {
            StopSignal::Term => "TERM",
            StopSignal::Int => "INT",
        }
    }
}

/// A server process we started and own; dropping it stops the server and removes its dir.
pub struct LocalServer {
    /// Short name for messages: "nx-27017", "mongod".
    name: &'static str,
    port: u16,
    /// The server's own pid (not the watchdog's), for tests and diagnostics.
    pid: u32,
    /// The `sh` watchdog; it exits when the server exits.
    watchdog: Child,
    /// The write end of the watchdog's stdin. Nobody ever writes to it: closing it (explicitly
    /// in `Drop`, or implicitly when our process dies) is the signal to stop.
    lifeline: Option<ChildStdin>,
    /// Logs shown in errors, oldest first.
    logs: Vec<PathBuf>,
    /// Declared last so it is removed after the server stopped (fields drop after `Drop::drop`).
    /// Usually the watchdog has removed it already; this covers a server that died on its own.
    dir: TempDir,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("pid", &self.pid)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl LocalServer {
    /// Starts a server on a free port in a fresh temp dir and waits until it accepts TCP
    /// connections on 127.0.0.1, for at most `ready_timeout`.
    ///
    /// `launch` builds the command line for the chosen port and dir. If the server exits
    /// before it is ready, the error carries the tail of its logs; if it exited because the
    /// port was taken meanwhile, another port is tried.
    pub fn start(
        name: &'static str,
        ready_timeout: Duration,
        launch: impl Fn(u16, &Path) -> Result<Launch>,
    ) -> Result<LocalServer> {
        Self::start_at(name, None, ready_timeout, launch)
    }

    /// [`LocalServer::start`] on a chosen port (`Some`, one attempt: a taken port is an
    /// error) or a free one (`None`). `cargo xtask run` uses it to serve on a port a
    /// learner can remember.
    pub fn start_at(
        name: &'static str,
        port: Option<u16>,
        ready_timeout: Duration,
        launch: impl Fn(u16, &Path) -> Result<Launch>,
    ) -> Result<LocalServer> {
        let chosen = port;
        let mut attempt = 1;
        loop {
            let port = match chosen {
                Some(port) => port,
                None => free_port().context("finding a free TCP port")?,
            };
            let dir = tempfile::Builder::new()
                .prefix(&format!("stepwise-{name}-"))
                .tempdir()
                .with_context(|| format!("creating a temp dir for {name}"))?;
            let launch = launch(port, dir.path())?;
            let mut server = Self::spawn(name, port, dir, launch)?;
            match server.wait_until_listening(ready_timeout) {
                Ok(()) => return Ok(server),
                Err(err)
                    if chosen.is_none() && attempt < PORT_ATTEMPTS && server.lost_port_race() =>
                {
                    tracing::debug!("{name}: port {port} was taken meanwhile, retrying: {err:#}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn spawn(name: &'static str, port: u16, dir: TempDir, launch: Launch) -> Result<LocalServer> {
        let output_log = dir.path().join(OUTPUT_LOG);
        // The watchdog's own stderr goes to the same log, in append mode like the server's.
        let stderr = append_log(&output_log)?;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(dir.path())
            .arg(launch.stop_signal.name())
            .arg(&launch.program)
            .args(&launch.args)
            .current_dir(dir.path())
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the watchdog shell (sh) for {name}"))?;
        let lifeline = watchdog.stdin.take();
        let pid = read_pid(&mut watchdog).with_context(|| format!("starting {name}"));
        let mut logs = vec![output_log];
        logs.extend(launch.extra_logs);
        let mut server = LocalServer {
            name,
            port,
            pid: 0,
            watchdog,
            lifeline,
            logs,
            dir,
        };
        server.pid = pid?;
        Ok(server)
    }

    /// Polls the port until it accepts a connection, the server exits, or time runs out.
    fn wait_until_listening(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            self.ensure_running()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // A foreign process may own the port if ours lost the race for it; ours
                // would then be exiting with "address already in use".
                return self.ensure_running();
            }
            if started.elapsed() > timeout {
                return Err(self.failure(&format!(
                    "{} did not accept connections on port {} within {:?}",
                    self.name, self.port, timeout
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `Ok` while the server runs; an error with its exit status and logs once it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.exit_status()? {
            None => Ok(()),
            Some(status) => {
                Err(self.failure(&format!("{} exited unexpectedly ({status})", self.name)))
            }
        }
    }

    fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.watchdog
            .try_wait()
            .with_context(|| format!("checking whether {} is still running", self.name))
    }

    /// Whether the server died because someone else bound its port first.
    fn lost_port_race(&mut self) -> bool {
        matches!(self.exit_status(), Ok(Some(_)))
            && self
                .log_tail(200)
                .to_ascii_lowercase()
                .contains("address already in use")
    }

    /// An error saying `what`, followed by the tail of each of the server's logs.
    pub fn failure(&self, what: &str) -> anyhow::Error {
        anyhow!("{what}\n{}", self.log_tail(30))
    }

    /// The last `lines` lines of each log, each under a header naming the file.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for log in &self.logs {
            let text = match fs::read_to_string(log) {
                Ok(text) if text.trim().is_empty() => "(empty)".to_owned(),
                Ok(text) => tail(&text, lines),
                Err(err) => format!("(unreadable: {err})"),
            };
            out.push_str(&format!("--- {} ---\n{text}\n", log.display()));
        }
        out
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid (not the watchdog's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's private dir: data, logs, pid and socket files live here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Closes the lifeline and waits for the watchdog to stop the server; kills both if that
    /// takes longer than [`STOP_TIMEOUT`].
    fn shutdown(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.watchdog.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        // The watchdog has not reaped the server yet, so its pid still names our server.
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads the server pid the watchdog prints first.
fn read_pid(watchdog: &mut Child) -> Result<u32> {
    let stdout = watchdog
        .stdout
        .take()
        .context("the watchdog's stdout was not piped")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the server pid from the watchdog")?;
    line.trim()
        .parse()
        .with_context(|| format!("the watchdog printed {line:?} instead of a pid"))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a short command to completion and returns its stdout; on failure the error names the
/// command and carries the tail of its stderr (and stdout, where tools such as pip report).
pub fn run_to_completion(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut detail = tail(&String::from_utf8_lossy(&output.stderr), 20);
    let stdout = tail(&String::from_utf8_lossy(&output.stdout), 20);
    if !stdout.trim().is_empty() {
        detail = format!("{stdout}\n{detail}");
    }
    bail!("{shown} failed ({}):\n{}", output.status, detail.trim())
}

/// Opens a log for appending, creating it: the watchdog and the server write the same file.
fn append_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

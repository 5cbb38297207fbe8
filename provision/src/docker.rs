//! Containers for services, through testcontainers: is there an engine, is the image here (or
//! can it be pulled), start a labelled container, wait until its service really answers, and
//! make sure no container outlives the process that started it.
//!
//! Three layers against orphans, because `Drop` alone covers only the polite exits:
//! - `Drop` on [`ServiceContainer`] removes the container (and its anonymous volumes);
//! - a *lifeline* per container, the same idea as the local servers' watchdog
//!   ([`super::process`]): a small `sh` holding a pipe only we write to runs `docker rm -f`
//!   when the pipe closes, i.e. when we exit in any way (a `static` never dropped, a panic,
//!   SIGKILL). It sits in its own process group so a Ctrl-C aimed at the test run does not
//!   take it down before it has acted. It needs the `docker` CLI; without one this layer is
//!   skipped;
//! - labels (`stepwise.owner.pid`, `.start`, `.host`, `stepwise.service`) and a reaper: every
//!   container start first removes labelled containers whose owner process is gone. That
//!   covers the rest (lifeline killed too, machine rebooted, no CLI).
//!
//! All Docker calls run on one runtime of their own ([`on_docker_runtime`]): testcontainers
//! keeps one Docker client per process, and its HTTP connections belong to the runtime that
//! opened them, so a runtime per call (as the database drivers get, see [`super::runtime`])
//! would leave it holding dead connections.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex, Once, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::policy::{self, Fallback, ImageFlavor, Probe, ServiceKind};
use super::process::find_program;

/// Label: the pid of the process that started the container.
pub const OWNER_PID_LABEL: &str = "stepwise.owner.pid";
/// Label: that process's start time (clock ticks after boot, `/proc/PID/stat` field 22), so
/// a recycled pid is not mistaken for the owner.
pub const OWNER_START_LABEL: &str = "stepwise.owner.start";
/// Label: the owner's host name. Pids mean nothing on another machine (or in another pid
/// namespace) sharing the engine, so the reaper only judges containers from its own host.
pub const OWNER_HOST_LABEL: &str = "stepwise.owner.host";
/// Label: which service the container plays ("postgres", ...).
pub const SERVICE_LABEL: &str = "stepwise.service";

/// How long the engine may take to answer a ping before it counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a pull may take. Generous: a first `mongo:7` pull on a slow line takes minutes.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a pull runs before we say that it does (and that it happens once).
const PULL_NOTICE_AFTER: Duration = Duration::from_secs(2);

/// How long dropping a container waits for its lifeline when the API removal failed.
const LIFELINE_TIMEOUT: Duration = Duration::from_secs(15);

/// The runtime every Docker call runs on; built on first use, never shut down.
static DOCKER_RUNTIME: LazyLock<Result<tokio::runtime::Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("provision-docker")
        .enable_all()
        .build()
        .map_err(|err| format!("building the Docker runtime: {err}"))
});

/// Runs `work` on the Docker runtime and waits for it, from sync code or from inside another
/// runtime (the caller's thread blocks; the work runs elsewhere).
pub(crate) fn on_docker_runtime<F, T>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = DOCKER_RUNTIME.as_ref().map_err(|msg| anyhow!("{msg}"))?;
    let (tx, rx) = mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().map_err(|_| anyhow!("a Docker task panicked"))?
}

async fn client() -> Result<Docker> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|err| anyhow!("{err}"))
}

/// `Ok` when a Docker engine answers a ping, else why not. Asked once per process: the
/// answer is the same for every service, and a missing engine may take seconds to say so.
pub fn engine_status() -> Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS
        .get_or_init(|| {
            on_docker_runtime(async {
                let docker = client().await?;
                tokio::time::timeout(PING_TIMEOUT, docker.ping())
                    .await
                    .map_err(|_| anyhow!("no answer to a ping within {PING_TIMEOUT:?}"))?
                    .map_err(|err| anyhow!("{err}"))?;
                Ok(())
            })
            .map_err(|err| first_line(&format!("{err:#}")))
        })
        .clone()
}

/// The first line of `text`, at most 200 characters: pull errors can be pages long.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Whether `image` is on the engine; pulls it first when `pull` allows and it is not.
/// Failed pulls are remembered for the rest of the process: without registry access every
/// further attempt would fail the same way, maybe slowly.
fn image_probe(image: &str, pull: bool) -> Probe {
    static PULL_FAILURES: LazyLock<Mutex<HashMap<String, String>>> =
        LazyLock::new(Default::default);
    let owned = image.to_owned();
    let present = on_docker_runtime(async move {
        match client().await?.inspect_image(&owned).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(err) => Err(anyhow!("{err}")),
        }
    });
    match present {
        Ok(true) => return Probe::ImageReady,
        Ok(false) => {}
        Err(err) => {
            return Probe::ImageMissing {
                reason: first_line(&format!("inspecting it failed: {err:#}")),
            };
        }
    }
    if !pull {
        return Probe::ImageMissing {
            reason: "no such image".to_owned(),
        };
    }
    let mut failures = PULL_FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(reason) = failures.get(image) {
        return Probe::ImageMissing {
            reason: reason.clone(),
        };
    }
    let (name, tag) = split_image(image);
    let shown = image.to_owned();
    let pulled = on_docker_runtime(async move {
        let docker = client().await?;
        let options = CreateImageOptionsBuilder::new()
            .from_image(&name)
            .tag(&tag)
            .build();
        let mut progress = docker.create_image(Some(options), None, None);
        let pull = async {
            while let Some(step) = progress.next().await {
                step.map_err(|err| anyhow!("{err}"))?;
            }
            Ok::<(), anyhow::Error>(())
        };
        // Said only when the pull takes a while: where it fails at once (no registry), the
        // one-line fallback notice is all the user should see.
        let pull = tokio::time::timeout(PULL_TIMEOUT, pull);
        tokio::pin!(pull);
        let finished = tokio::select! {
            finished = &mut pull => finished,
            () = tokio::time::sleep(PULL_NOTICE_AFTER) => {
                say!("provision: pulling {shown} (once per machine)...");
                pull.await
            }
        };
        finished.map_err(|_| anyhow!("no pull finished within {PULL_TIMEOUT:?}"))?
    });
    match pulled {
        Ok(()) => Probe::ImageReady,
        Err(err) => {
            let reason = first_line(&format!("{err:#}"));
            failures.insert(image.to_owned(), reason.clone());
            Probe::ImageMissing { reason }
        }
    }
}

/// "stepwise/postgres:15" -> ("stepwise/postgres", "15"); no tag means "latest". A colon
/// before the last slash belongs to a registry port, not a tag.
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// A container's request: what runs, with which settings.
#[derive(Debug, Clone)]
pub(crate) struct ContainerSpec {
    pub kind: ServiceKind,
    pub flavor: ImageFlavor,
    /// Environment variables; both flavours of image must accept them.
    pub env: Vec<(&'static str, &'static str)>,
    /// The command, replacing the image's `CMD`; empty keeps the image's own.
    pub cmd: Vec<&'static str>,
    /// How long the service may take to answer once the container runs.
    pub ready_timeout: Duration,
}

/// The container step of the precedence for one service: `Some` container to use, `None` to
/// fall back to local binaries (after the one-line notice, if any), or an error when
/// `required` (`STEPWISE_SERVICES=container`).
///
/// `ready(host, port)` is a real request to the service (`SELECT 1`, `PING`, `ping`): a
/// published port accepts connections before the server inside listens (docker-proxy answers
/// for it), and the official PostgreSQL image even runs a temporary server during its first
/// start, so neither an open port nor a log line means "ready" for every image.
pub(crate) fn provide(
    spec: &ContainerSpec,
    required: bool,
    ready: impl Fn(&str, u16) -> Result<()>,
) -> Result<Option<ServiceContainer>> {
    let image = spec.kind.image(spec.flavor);
    let probe = match engine_status() {
        Err(reason) => Probe::NoEngine { reason },
        Ok(()) => {
            reap_and_report();
            image_probe(image, policy::may_pull(spec.flavor))
        }
    };
    match policy::fallback(required, spec.flavor, image, &probe) {
        Fallback::Container => start(spec, ready).map(Some),
        Fallback::Local { notice } => {
            if let Some(notice) = notice {
                static NOTICE: Once = Once::new();
                NOTICE.call_once(|| say!("{notice}"));
            }
            tracing::debug!(
                "{}: no container ({probe:?}); using local binaries",
                spec.kind
            );
            Ok(None)
        }
        Fallback::Fail(message) => Err(anyhow!(message)),
    }
}

/// Starts the container and waits until `ready` succeeds; on failure the error carries the
/// container's log tail and the container is removed.
fn start(
    spec: &ContainerSpec,
    ready: impl Fn(&str, u16) -> Result<()>,
) -> Result<ServiceContainer> {
    let image = spec.kind.image(spec.flavor);
    let owner = Owner::current()?;
    let (name, tag) = split_image(image);
    let port = spec.kind.container_port();
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(ContainerPort::Tcp(port))
        .with_label(OWNER_PID_LABEL, owner.pid.to_string())
        .with_label(OWNER_START_LABEL, owner.start.to_string())
        .with_label(OWNER_HOST_LABEL, owner.host.clone())
        .with_label(SERVICE_LABEL, spec.kind.name());
    for (key, value) in &spec.env {
        request = request.with_env_var(*key, *value);
    }
    if !spec.cmd.is_empty() {
        request = request.with_cmd(spec.cmd.iter().copied());
    }
    let started = Instant::now();
    let (container, host, host_port) = on_docker_runtime(async move {
        let container = request.start().await.context("starting the container")?;
        let host = match container.get_host().await {
            Ok(host) => host.to_string(),
            Err(err) => return Err(anyhow!("asking for the container's host: {err}")),
        };
        let host_port = container.get_host_port_ipv4(ContainerPort::Tcp(port)).await;
        match host_port {
            Ok(host_port) => Ok((container, host, host_port)),
            Err(err) => {
                let _ = container.rm().await;
                Err(anyhow!("finding the published port of {port}: {err}"))
            }
        }
    })
    .with_context(|| format!("starting a {} container from {image}", spec.kind))?;
    // "localhost" may resolve to ::1 first, where the port is not always published.
    let host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let id = container.id().to_owned();
    let lifeline = Lifeline::spawn(&id);
    let service = ServiceContainer {
        kind: spec.kind,
        image: image.to_owned(),
        id,
        host,
        port: host_port,
        container: Some(container),
        lifeline,
    };
    service.wait_until_ready(spec.ready_timeout, ready)?;
    tracing::debug!(
        "{} container {} ready in {:?}",
        spec.kind,
        service.short_id(),
        started.elapsed()
    );
    Ok(service)
}

/// A service container we started; dropping it removes the container and its volumes.
pub struct ServiceContainer {
    kind: ServiceKind,
    image: String,
    id: String,
    /// Where the published port is reachable from here: 127.0.0.1 for a local engine.
    host: String,
    port: u16,
    /// `None` once removed.
    container: Option<ContainerAsync<GenericImage>>,
    /// `None` without a `docker` CLI.
    lifeline: Option<Lifeline>,
}

impl std::fmt::Debug for ServiceContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContainer")
            .field("image", &self.image)
            .field("id", &self.short_id())
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ServiceContainer {
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    /// The full container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// The host to connect to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host port the service's port is published on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the lifeline process that removes the container if we die, if there is one
    /// (tests kill it to leave a true orphan behind).
    pub fn lifeline_pid(&self) -> Option<u32> {
        self.lifeline.as_ref().map(|lifeline| lifeline.child.id())
    }

    fn wait_until_ready(
        &self,
        timeout: Duration,
        ready: impl Fn(&str, u16) -> Result<()>,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let last = match ready(&self.host, self.port) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if let Some(state) = self.stopped_state() {
                bail!(
                    "the {} container ({}) stopped before it was ready ({state}); last check: \
                     {last:#}\n{}",
                    self.kind,
                    self.image,
                    self.log_tail(40)
                );
            }
            if started.elapsed() > timeout {
                bail!(
                    "the {} container ({}) did not answer within {timeout:?}; last check: \
                     {last:#}\n{}",
                    self.kind,
                    self.image,
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `Some(state)` when the container is no longer running.
    fn stopped_state(&self) -> Option<String> {
        let id = self.id.clone();
        let state = on_docker_runtime(async move {
            let inspect = client().await?.inspect_container(&id, None).await?;
            Ok(inspect.state)
        })
        .ok()??;
        if state.running == Some(true) {
            return None;
        }
        Some(format!(
            "status {:?}, exit code {:?}",
            state.status.map(|s| s.to_string()),
            state.exit_code
        ))
    }

    /// The last `lines` lines of the container's output, under a header.
    pub fn log_tail(&self, lines: usize) -> String {
        let id = self.id.clone();
        let logs = on_docker_runtime(async move {
            let docker = client().await?;
            let options = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .tail(&lines.to_string())
                .build();
            let mut stream = docker.logs(&id, Some(options));
            let mut out = String::new();
            while let Some(chunk) = stream.next().await {
                out.push_str(&chunk.map_err(|err| anyhow!("{err}"))?.to_string());
            }
            Ok(out)
        });
        match logs {
            Ok(text) if text.trim().is_empty() => "--- container output ---\n(empty)".to_owned(),
            Ok(text) => format!("--- container output ---\n{}", text.trim_end()),
            Err(err) => format!("--- container output ---\n(unreadable: {err:#})"),
        }
    }
}

impl Drop for ServiceContainer {
    /// Removes the container through the API; if that fails, lets the lifeline try with the
    /// CLI. Failure is reported, not raised (a panic while unwinding would abort the tests).
    fn drop(&mut self) {
        let removed =
            match self.container.take() {
                Some(container) => on_docker_runtime(async move {
                    container.rm().await.map_err(|err| anyhow!("{err}"))
                }),
                None => Ok(()),
            };
        match (removed, self.lifeline.take()) {
            (Ok(()), Some(lifeline)) => lifeline.release(),
            (Ok(()), None) => {}
            (Err(err), Some(lifeline)) => {
                if !lifeline.fire() {
                    say!(
                        "provision: could not remove container {} ({}): {err:#}",
                        self.short_id(),
                        self.image
                    );
                }
            }
            (Err(err), None) => say!(
                "provision: could not remove container {} ({}): {err:#}",
                self.short_id(),
                self.image
            ),
        }
    }
}

/// The lifeline script, run as `sh -c LIFELINE lifeline DOCKER ID`: wait for EOF on stdin
/// (the pipe we hold), then remove the container.
const LIFELINE: &str = r#"cat >/dev/null; exec "$1" rm -f -v "$2" >/dev/null 2>&1"#;

/// The process that removes a container once our end of its stdin pipe closes.
struct Lifeline {
    child: Child,
    /// Never written to; closing it is the signal.
    stdin: Option<ChildStdin>,
}

impl Lifeline {
    /// A lifeline for container `id`, or `None` without a `docker` CLI on PATH.
    fn spawn(id: &str) -> Option<Lifeline> {
        use std::os::unix::process::CommandExt;
        let docker = docker_cli()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(LIFELINE)
            .arg("lifeline")
            .arg(docker)
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C (SIGINT to the foreground group) must not kill it
            // before it has removed the container.
            .process_group(0)
            .spawn()
            .map_err(|err| tracing::debug!("no lifeline for container {id}: {err}"))
            .ok()?;
        let stdin = child.stdin.take();
        Some(Lifeline { child, stdin })
    }

    /// The container is gone already: stop the lifeline without letting it act.
    fn release(mut self) {
        let _ = self.child.kill();
        drop(self.stdin.take());
        let _ = self.child.wait();
    }

    /// Lets the lifeline remove the container; whether it finished in time.
    fn fire(mut self) -> bool {
        drop(self.stdin.take());
        let deadline = Instant::now() + LIFELINE_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => return false,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

/// The `docker` CLI, if on PATH.
fn docker_cli() -> Option<PathBuf> {
    static CLI: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLI.get_or_init(|| {
        let found = find_program("docker", std::env::var_os("PATH").as_deref());
        if found.is_none() {
            tracing::debug!(
                "no docker CLI on PATH: containers get no lifeline, only Drop and the reaper"
            );
        }
        found
    })
    .clone()
}

/// Who owns containers started by this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Start time in clock ticks after boot, from `/proc/PID/stat`.
    pub start: u64,
    pub host: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Result<Owner> {
        static CURRENT: OnceLock<Result<Owner, String>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                let start = start_time(pid)
                    .ok_or_else(|| format!("reading the start time of process {pid}"))?;
                Ok(Owner {
                    pid,
                    start,
                    host: host_name(),
                })
            })
            .clone()
            .map_err(|msg| anyhow!("{msg}"))
    }
}

/// The start time of `pid` (field 22 of `/proc/PID/stat`), if it is a live process; a zombie
/// counts as gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (the state), so field 22 is fields[19].
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// Whether a container with these labels is an orphan that `owner` (this process) may reap:
/// same host, and its owner process is gone (or the pid now names another process). Pure, so
/// the rule is tested without containers; `alive(pid)` gives the start time of a live pid.
pub fn is_orphan(
    labels: &HashMap<String, String>,
    host: &str,
    alive: impl Fn(u32) -> Option<u64>,
) -> bool {
    if labels.get(OWNER_HOST_LABEL).map(String::as_str) != Some(host) {
        return false;
    }
    let Some(pid) = labels.get(OWNER_PID_LABEL).and_then(|p| p.parse().ok()) else {
        return false;
    };
    match (alive(pid), labels.get(OWNER_START_LABEL)) {
        (None, _) => true,
        (Some(start), Some(label)) => label.parse::<u64>().ok() != Some(start),
        (Some(_), None) => false,
    }
}

/// A container the reaper removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub id: String,
    /// Its `stepwise.service` label.
    pub service: String,
    pub owner_pid: u32,
}

/// Removes labelled containers of this host whose owner process is gone.
pub fn reap_orphans() -> Result<Vec<Reaped>> {
    let owner = Owner::current()?;
    let host = owner.host.clone();
    on_docker_runtime(async move {
        let docker = client().await?;
        let filters = HashMap::from([("label", vec![OWNER_PID_LABEL])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = docker
            .list_containers(Some(options))
            .await
            .context("listing labelled containers")?;
        let mut reaped = Vec::new();
        let mut seen = HashSet::new();
        for container in containers {
            let (Some(id), Some(labels)) = (container.id, container.labels) else {
                continue;
            };
            if !seen.insert(id.clone()) || !is_orphan(&labels, &host, start_time) {
                continue;
            }
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match docker.remove_container(&id, Some(options)).await {
                Ok(()) => reaped.push(Reaped {
                    service: labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
                    owner_pid: labels
                        .get(OWNER_PID_LABEL)
                        .and_then(|p| p.parse().ok())
                        .unwrap_or_default(),
                    id,
                }),
                // Another process is reaping it at the same moment (409: removal in
                // progress) or has just done so (404).
                Err(BollardError::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(err) => tracing::warn!("could not reap container {id}: {err}"),
            }
        }
        Ok(reaped)
    })
}

/// [`reap_orphans`], saying on stderr what it removed; a failure is a warning, not an error:
/// it must not stop a test run that would otherwise work.
fn reap_and_report() {
    match reap_orphans() {
        Ok(reaped) if reaped.is_empty() => {}
        Ok(reaped) => {
            let what: Vec<String> = reaped
                .iter()
                .map(|r| format!("{} (pid {})", r.service, r.owner_pid))
                .collect();
            say!(
                "provision: removed {} container(s) left behind by processes that are gone: {}",
                reaped.len(),
                what.join(", ")
            );
        }
        Err(err) => say!("provision: could not look for orphaned containers: {err:#}"),
    }
}

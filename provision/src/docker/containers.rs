//! Service containers: start a labelled container from a [`ContainerSpec`], wait until its
//! service really answers, and remove it (with its anonymous volumes) on drop, handing over
//! to its lifeline when the API removal fails.

use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use testcontainers::bollard::query_parameters::LogsOptionsBuilder;
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::engine::{client, engine_status, image_probe, on_docker_runtime, split_image};
use super::lifeline::Lifeline;
use super::reaper::{
    OWNER_HOST_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL, Owner, SERVICE_LABEL, reap_and_report,
};
use crate::policy::{self, Fallback, ImageFlavor, Probe, ServiceKind};

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
    /// Whether `flavor` was chosen (`STEPWISE_IMAGES`): an unchosen official image that cannot
    /// be had gives way to the local one when it was built ([`policy::use_local_image`]).
    pub flavor_chosen: bool,
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
    if matches!(probe, Probe::ImageMissing { .. }) && !spec.flavor_chosen {
        let local = spec.kind.image(ImageFlavor::Local);
        let local_probe = image_probe(local, false);
        if policy::use_local_image(spec.flavor_chosen, spec.flavor, &probe, &local_probe) {
            tracing::debug!("{}: {image} cannot be had; using {local}", spec.kind);
            let spec = ContainerSpec {
                flavor: ImageFlavor::Local,
                ..spec.clone()
            };
            return start(&spec, ready).map(Some);
        }
    }
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
        self.lifeline.as_ref().map(Lifeline::pid)
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

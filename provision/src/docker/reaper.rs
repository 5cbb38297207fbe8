//! Who owns a container, and the reaper: every container carries its owner's pid, start time
//! and host as labels, and every container start first removes the labelled containers of
//! this host whose owner process is gone (the lifeline killed too, the machine rebooted, no
//! CLI). The rule itself, [`is_orphan`], is pure, so it is tested without containers.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::engine::{client, on_docker_runtime};

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
pub(super) fn reap_and_report() {
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

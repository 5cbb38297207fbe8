//! A container's lifeline, the second of the three layers against orphans ([`super`]): an `sh`
//! in a process group of its own that waits for EOF on a pipe we hold, then runs
//! `docker rm -f`. It is spawned with the container and released once the API removed it.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::find_program;

/// How long dropping a container waits for its lifeline when the API removal failed.
const LIFELINE_TIMEOUT: Duration = Duration::from_secs(15);

/// The lifeline script, run as `sh -c LIFELINE lifeline DOCKER ID`: wait for EOF on stdin
/// (the pipe we hold), then remove the container.
const LIFELINE: &str = r#"cat >/dev/null; exec "$1" rm -f -v "$2" >/dev/null 2>&1"#;

/// The process that removes a container once our end of its stdin pipe closes.
pub(super) struct Lifeline {
    child: Child,
    /// Never written to; closing it is the signal.
    stdin: Option<ChildStdin>,
}

impl Lifeline {
    /// A lifeline for container `id`, or `None` without a `docker` CLI on PATH.
    pub(super) fn spawn(id: &str) -> Option<Lifeline> {
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

    /// The lifeline process's pid.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The container is gone already: stop the lifeline without letting it act.
    pub(super) fn release(mut self) {
        let _ = self.child.kill();
        drop(self.stdin.take());
        let _ = self.child.wait();
    }

    /// Lets the lifeline remove the container; whether it finished in time.
    pub(super) fn fire(mut self) -> bool {
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

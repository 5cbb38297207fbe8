//! The `docker` CLI as the builds use it: finding it, reading an image's id, fingerprint
//! label and size, and running a long command with its output in a log file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use super::CONTEXT_LABEL;
use crate::process::find_program;

/// The `docker` CLI, or an error saying how to get it.
pub(super) fn docker_cli() -> Result<PathBuf> {
    find_program("docker", std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        anyhow!(
            "building the local images needs the docker CLI, and `docker` is not on PATH. \
             Install Docker (on Debian: apt-get install -y docker.io)"
        )
    })
}

/// What `docker image inspect` says about an image we care about.
pub(super) struct Inspected {
    pub id: String,
    /// The fingerprint label, if the image has one.
    pub context: Option<String>,
    pub size: u64,
}

/// What `docker image inspect` says about `tag`; `None` when there is no such image.
pub(super) fn inspect(docker: &Path, tag: &str) -> Result<Option<Inspected>> {
    let output = Command::new(docker)
        .args(["image", "inspect", "--format"])
        .arg(format!(
            "{{{{.Id}}}}|{{{{index .Config.Labels \"{CONTEXT_LABEL}\"}}}}|{{{{.Size}}}}"
        ))
        .arg(tag)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running docker image inspect {tag}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stderr.to_ascii_lowercase().contains("no such image") {
            return Ok(None);
        }
        bail!("docker image inspect {tag} failed: {}", stderr.trim());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.trim().splitn(3, '|');
    let (Some(id), Some(context), Some(size)) = (fields.next(), fields.next(), fields.next())
    else {
        bail!("unexpected docker image inspect output for {tag}: {stdout:?}");
    };
    Ok(Some(Inspected {
        id: id.to_owned(),
        // Go templates print a missing label as "<no value>" or nothing.
        context: (!context.is_empty() && context != "<no value>").then(|| context.to_owned()),
        size: size.parse().unwrap_or_default(),
    }))
}

/// Runs `command` with its output in `log`; on failure the error names `what`, the log and
/// its last lines.
pub(super) fn run_logged(command: &mut Command, log: &Path, what: &str) -> Result<()> {
    let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {what}"))?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
    bail!(
        "{what} failed ({status}); the last lines of {}:\n{tail}",
        log.display()
    )
}

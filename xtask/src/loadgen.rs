//! The load generator, the `loadgen` package, as `cargo xtask load` and `profile` run it: a
//! binary of its own, always built in release whatever build xtask is (`cargo xtask` is a
//! debug build, and a debug generator caps what it can measure: 14,452 requests/s against the
//! 38,199 an optimised one reached on the same server, in chapter 4), run as a child process
//! with the step's base URL. xtask itself then compiles neither the HTTP client stack nor the
//! histogram and chart crates.

use std::path::PathBuf;
use std::process::ExitStatus;

use anyhow::{Context, bail};

use crate::interrupt;
use crate::workspace;

/// Builds `loadgen` in release (cargo's no-op when it is up to date) and returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    eprintln!("building loadgen (release) ...");
    let status = workspace::cargo()
        .args([
            "build",
            "--release",
            "--package",
            "loadgen",
            "--bin",
            "loadgen",
        ])
        .stdin(std::process::Stdio::null())
        .status()
        .context("running cargo build --package loadgen")?;
    if !status.success() {
        bail!("building loadgen failed ({status})");
    }
    Ok(workspace::target_dir().join("release").join("loadgen"))
}

/// Runs `loadgen` with `args`; its report goes to our stdout, its progress to our stderr. A
/// Ctrl-C reaches it from the terminal; we survive it, so the caller still stops the step.
pub fn run(program: &PathBuf, args: &[String]) -> anyhow::Result<ExitStatus> {
    let interrupted = interrupt::catch();
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    interrupted.forward_to(child.id());
    child.wait().context("waiting for loadgen")
}

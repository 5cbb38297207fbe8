//! Running cargo and the workspace's own tools from a test or from xtask: a nested `cargo`
//! without the variables cargo sets for the crate it builds or runs, and the `xtask` binary for
//! the tests that drive it (step 4's test of `cargo xtask load` against a live step).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The variable through which `cargo xtask step N` and `cargo xtask test` name their own
/// binary to the tests they run.
pub const XTASK_VAR: &str = "STEPWISE_XTASK";

/// The workspace root: the parent of this crate's manifest dir.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("provision lives one level below the workspace root")
        .to_owned()
}

/// A `cargo` command (`$CARGO`, the cargo that runs us, else `cargo` from PATH) run in `dir`,
/// without the variables cargo sets for the crate it runs (see [`is_crate_variable`]).
pub fn cargo_in(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if is_crate_variable(&name.to_string_lossy()) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether `name` is one of the variables cargo sets for the crate it builds or runs
/// (`cargo run -p xtask` sets `CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR`, ...).
///
/// A nested cargo must not inherit them: build scripts declare `rerun-if-env-changed` on
/// some (ring's on `CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR`), so with them set,
/// every nested build reruns those scripts and recompiles ring, rustls, reqwest... and the
/// next plain `cargo` invocation recompiles them back. Configuration (`CARGO_HOME`,
/// `CARGO_TARGET_DIR`, `CARGO_TERM_*`, `CARGO_PROFILE_*`, ...) is kept.
pub fn is_crate_variable(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
    ];
    const NAMES: &[&str] = &[
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_TARGET_TMPDIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// The `xtask` binary: the one named by [`XTASK_VAR`] (set when the tests run under `cargo
/// xtask step N` or `cargo xtask test`), else built here with `cargo build -p xtask` (what
/// `cargo xtask` itself builds, so usually up to date) and found in cargo's own report.
pub fn xtask_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(XTASK_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{XTASK_VAR} names {}, which is not a file", path.display());
    }
    let output = cargo_in(&workspace_root())
        .args([
            "build",
            "--package",
            "xtask",
            "--bin",
            "xtask",
            "--message-format",
            "json",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build --package xtask")?;
    if !output.status.success() {
        bail!("cargo build --package xtask failed ({})", output.status);
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "xtask"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .context("cargo built xtask but reported no executable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_cargo_drops_the_variables_of_the_running_crate_and_keeps_configuration() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_xtask",
            "OUT_DIR",
        ] {
            assert!(is_crate_variable(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "CARGO_PROFILE_DEV_DEBUG",
            "CARGO_BUILD_JOBS",
            "MONGODB_URI",
        ] {
            assert!(!is_crate_variable(name), "{name}");
        }
    }
}

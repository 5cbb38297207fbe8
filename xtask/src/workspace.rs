//! Where the workspace is and how to call cargo: `$CARGO` (the cargo that runs us), never a
//! bare `cargo` from PATH.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root: the parent of this crate's manifest dir.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_owned()
}

/// A `cargo` command run from the workspace root, without the variables cargo sets for the
/// crate it runs (see [`is_crate_variable`]).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
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

/// Whether `cargo nextest` is installed.
pub fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The directory cargo builds into (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// Where xtask keeps its own files (logs, the state of `services up`): `<target>/xtask`.
pub fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// A path for messages: relative to the workspace root when inside it.
pub fn display_path(path: &std::path::Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
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

    #[test]
    fn the_cargo_command_starts_at_the_root_without_crate_variables() {
        // Tests run with CARGO_PKG_NAME and CARGO_MANIFEST_DIR set by cargo.
        let command = cargo();
        assert_eq!(command.get_current_dir(), Some(root().as_path()));
        let removed: Vec<String> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        if std::env::var_os("CARGO_PKG_NAME").is_some() {
            assert!(
                removed.contains(&"CARGO_PKG_NAME".to_owned()),
                "{removed:?}"
            );
        }
    }
}

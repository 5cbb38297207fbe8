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
/// crate it runs (provision's [`provision::cargo::is_crate_variable`]).
pub fn cargo() -> Command {
    provision::cargo::cargo_in(&root())
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

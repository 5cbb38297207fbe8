//! Where the workspace is and how to call cargo: `$CARGO` (the cargo that runs us), never a
//! bare `cargo` from PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The workspace root: the parent of this crate's manifest dir.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_owned()
}

/// The checkout `cargo xtask` was run in, when it is not the one this binary was built from:
/// two clones sharing one target dir (CI's clean clone and a working copy) share the
/// `target/debug/xtask` file, and cargo, finding its own build of xtask up to date, does not
/// copy it there again, so `cargo xtask` in one clone can run the other's binary, with the
/// other's root and code. `cargo run` tells the binary which package it ran
/// (`CARGO_MANIFEST_DIR`).
/// Only a `cargo run` of xtask itself says so (`CARGO_PKG_NAME` is `xtask`): a process a
/// test starts inherits the test's package instead, and says nothing about checkouts.
pub fn run_from_another_checkout() -> Option<PathBuf> {
    if std::env::var_os("CARGO_PKG_NAME")? != "xtask" {
        return None;
    }
    let ran = std::env::var_os("CARGO_MANIFEST_DIR")?;
    another_checkout(Path::new(env!("CARGO_MANIFEST_DIR")), Path::new(&ran))
}

fn another_checkout(built: &Path, ran: &Path) -> Option<PathBuf> {
    let same = match (built.canonicalize(), ran.canonicalize()) {
        (Ok(built), Ok(ran)) => built == ran,
        _ => built == ran,
    };
    (!same).then(|| ran.parent().unwrap_or(ran).to_owned())
}

/// Rebuilds xtask in `checkout` (its `src/main.rs` touched, so cargo builds and copies it)
/// and runs this same command there; once only (`STEPWISE_XTASK_REBUILT`).
pub fn rerun_in(checkout: &Path) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(
        std::env::var_os("STEPWISE_XTASK_REBUILT").is_none(),
        "cargo xtask still runs the xtask binary built from {} after rebuilding it in {}: \
         run `cargo build -p xtask` there and try again",
        root().display(),
        checkout.display()
    );
    eprintln!(
        "xtask: this binary was built from {}; rebuilding it for {} (the clones share a \
         target dir)",
        root().display(),
        checkout.display()
    );
    let main = checkout.join("xtask/src/main.rs");
    std::fs::File::options()
        .append(true)
        .open(&main)
        .and_then(|file| file.set_modified(std::time::SystemTime::now()))
        .with_context(|| format!("touching {}", main.display()))?;
    let status = provision::cargo::cargo_in(checkout)
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .env("STEPWISE_XTASK_REBUILT", "1")
        .status()
        .context("running cargo xtask again")?;
    Ok(std::process::ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
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

#[cfg(test)]
mod checkout_tests {
    use super::*;

    #[test]
    fn a_binary_run_from_its_own_checkout_is_not_from_another() {
        let dir = tempfile::tempdir().unwrap();
        let xtask = dir.path().join("xtask");
        std::fs::create_dir_all(&xtask).unwrap();
        assert_eq!(another_checkout(&xtask, &xtask), None);
    }

    #[test]
    fn a_binary_run_from_another_checkout_names_that_checkouts_root() {
        let dir = tempfile::tempdir().unwrap();
        let (built, ran) = (dir.path().join("a/xtask"), dir.path().join("b/xtask"));
        std::fs::create_dir_all(&built).unwrap();
        std::fs::create_dir_all(&ran).unwrap();
        assert_eq!(another_checkout(&built, &ran), Some(dir.path().join("b")));
    }
}

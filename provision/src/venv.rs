//! Python tools the harness installs itself from PyPI (nx-27017, schemathesis): each in its
//! own venv, created once under the cache dir and shared by every test process.
//!
//! Several test processes may want a venv at the same moment (nextest runs every test in its
//! own process), so each one builds in a temp sibling dir and `rename`s it into place; a loser
//! of that race throws its copy away. A venv is only ever visible complete (a marker file is
//! written last). Renaming breaks the shebangs of the venv's console scripts (they name the
//! build dir), so tools are started as `<venv>/bin/python -c <the console script's code>`.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::process::{find_program, run_to_completion};

/// One Python tool: which venv, which packages, and how to check it works.
#[derive(Debug, Clone, Copy)]
pub struct PythonTool {
    /// The venv's directory name inside the cache dir.
    pub venv_dir: &'static str,
    /// What `pip install` gets (names or requirement specifiers).
    pub packages: &'static [&'static str],
    /// A module to import once installed: an install that does not import is no install.
    pub import_check: &'static str,
}

/// A prerequisite for building a venv that this machine lacks, with the way to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenvMissing {
    /// No `python3` on `PATH`.
    Python3,
    /// `python3 -m venv` failed; on Debian/Ubuntu the venv module is a separate package.
    VenvModule { detail: String },
    /// `pip install` failed, usually because PyPI is unreachable.
    PipInstall { packages: String, detail: String },
}

impl fmt::Display for VenvMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VenvMissing::Python3 => write!(
                f,
                "python3 is not on PATH.\nInstall it with: apt-get install -y python3 python3-venv"
            ),
            VenvMissing::VenvModule { detail } => write!(
                f,
                "creating a Python venv failed, so Python's venv module is missing or \
                 broken:\n{detail}\nInstall it with: apt-get install -y python3-venv"
            ),
            VenvMissing::PipInstall { packages, detail } => write!(
                f,
                "`pip install {packages}` failed (is PyPI reachable?):\n{detail}\n\
                 Retry with network access to PyPI, or set PIP_INDEX_URL to a mirror."
            ),
        }
    }
}

impl std::error::Error for VenvMissing {}

/// Written into a venv after it was built and checked, before it is renamed into place.
const READY_MARKER: &str = "stepwise-ready";

impl PythonTool {
    /// The venv's python, creating the venv in the cache dir first if needed (once per
    /// machine; needs PyPI). `what` names the tool in the errors.
    pub fn ensure(&self, what: &str) -> Result<PathBuf> {
        self.ensure_on(what, std::env::var_os("PATH").as_deref())
    }

    /// [`PythonTool::ensure`], with `python3` looked for in `search_path`.
    pub fn ensure_on(&self, what: &str, search_path: Option<&OsStr>) -> Result<PathBuf> {
        let cache_dir = crate::cache::cache_dir().with_context(|| {
            format!(
                "{what} needs a cache dir for its venv, and none of STEPWISE_CACHE_DIR, \
                 XDG_CACHE_HOME, HOME is set"
            )
        })?;
        self.ensure_venv(&cache_dir, search_path)
            .with_context(|| format!("installing {what} ({} from PyPI)", self.packages.join(" ")))
    }

    /// The venv's python, creating the venv in `cache_dir` first if needed.
    ///
    /// `search_path` is where `python3` is looked for (normally `$PATH`). A cached venv that
    /// no longer works (e.g. its base Python was removed) is moved aside and rebuilt. A
    /// missing prerequisite is a [`VenvMissing`] inside the error.
    pub fn ensure_venv(&self, cache_dir: &Path, search_path: Option<&OsStr>) -> Result<PathBuf> {
        let venv = cache_dir.join(self.venv_dir);
        if is_usable(&venv) {
            return Ok(python_in(&venv));
        }
        let python3 = find_program("python3", search_path).ok_or(VenvMissing::Python3)?;
        fs::create_dir_all(cache_dir)
            .with_context(|| format!("creating the cache dir {}", cache_dir.display()))?;
        if venv.exists() {
            move_aside_if_broken(&venv, cache_dir, self.venv_dir);
        }

        static ANNOUNCED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
        let mut announced = ANNOUNCED.lock().unwrap_or_else(|e| e.into_inner());
        if !announced.contains(&self.venv_dir) {
            announced.push(self.venv_dir);
            eprintln!(
                "provision: creating the venv {} (python3 -m venv + pip install {}; once per \
                 machine)",
                venv.display(),
                self.packages.join(" ")
            );
        }
        drop(announced);

        let build = tempfile::Builder::new()
            .prefix(&format!(".{}.building-", self.venv_dir))
            .tempdir_in(cache_dir)
            .with_context(|| format!("creating a build dir in {}", cache_dir.display()))?;
        self.build_venv(&python3, build.path())?;
        match fs::rename(build.path(), &venv) {
            Ok(()) => {
                // The build dir is now the venv: nothing left for the guard to delete.
                let _ = build.keep();
            }
            // Another process renamed its venv into place first; use that one, drop ours.
            Err(_) if is_usable(&venv) => drop(build),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("moving the new venv into place at {}", venv.display())
                });
            }
        }
        Ok(python_in(&venv))
    }

    /// The venv's python when the venv is already built and usable; builds nothing (for
    /// reports such as `cargo xtask doctor`).
    pub fn existing(&self, cache_dir: &Path) -> Option<PathBuf> {
        let venv = cache_dir.join(self.venv_dir);
        is_usable(&venv).then(|| python_in(&venv))
    }

    /// Creates a venv in the empty dir `dir`, installs the packages and checks the import.
    fn build_venv(&self, python3: &Path, dir: &Path) -> Result<()> {
        run_to_completion(Command::new(python3).arg("-m").arg("venv").arg(dir)).map_err(|err| {
            VenvMissing::VenvModule {
                detail: format!("{err:#}"),
            }
        })?;
        let python = python_in(dir);
        run_to_completion(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(self.packages),
        )
        .map_err(|err| VenvMissing::PipInstall {
            packages: self.packages.join(" "),
            detail: format!("{err:#}"),
        })?;
        run_to_completion(
            Command::new(&python).args(["-c", &format!("import {}", self.import_check)]),
        )
        .with_context(|| format!("{} installed but does not import", self.packages.join(" ")))?;
        fs::write(dir.join(READY_MARKER), self.packages.join("\n") + "\n")
            .context("marking the venv as ready")?;
        Ok(())
    }
}

/// A venv is usable when it was completed (marker) and its python still resolves (the
/// `bin/python` symlink chain ends at an existing base interpreter).
fn is_usable(venv: &Path) -> bool {
    venv.join(READY_MARKER).is_file() && fs::metadata(python_in(venv)).is_ok()
}

/// Renames a broken venv out of the way, then deletes it. Checked again right before the
/// rename, so a good venv another process just put there is left alone.
fn move_aside_if_broken(venv: &Path, cache_dir: &Path, venv_dir: &str) {
    if is_usable(venv) {
        return;
    }
    let stale = cache_dir.join(format!(
        ".{venv_dir}.stale-{}",
        uuid::Uuid::new_v4().simple()
    ));
    if fs::rename(venv, &stale).is_ok() {
        eprintln!(
            "provision: the cached venv at {} was broken; rebuilding it",
            venv.display()
        );
        let _ = fs::remove_dir_all(&stale);
    }
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

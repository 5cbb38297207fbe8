//! nx-27017, the local stand-in for MongoDB where `mongod` is not installed: a MongoDB
//! wire-protocol server from PyPI, run from a Python venv the harness creates once and caches.
//!
//! The venv lives in `<cache dir>/nx-27017-venv`. Several test processes may want it at the
//! same moment (nextest runs every test in its own process), so each one builds in a temp
//! sibling dir and `rename`s it into place; a loser of that race throws its copy away. A venv
//! is only ever visible complete. Renaming breaks the shebang of `bin/nx-27017` (it names the
//! build dir), so the server is started as `<venv>/bin/python -c <the console script's code>`.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use anyhow::{Context, Result};

use super::process::{Launch, StopSignal, find_program, run_to_completion};

/// The PyPI package. Unpinned on purpose: this is a test double, and the newest release has
/// the fewest gaps; pin here if a release ever breaks the suite.
pub const PACKAGE: &str = "nx-27017";

/// The venv's directory name inside the cache dir.
pub const VENV_DIR: &str = "nx-27017-venv";

/// Written into a venv after it was built and checked, before it is renamed into place.
const READY_MARKER: &str = "stepwise-ready";

/// What `bin/nx-27017` does, without its shebang. (`python -m nx_27017.nx_27017` works too,
/// but warns on every start because the package's `__init__` imports that module.)
const RUN_SERVER: &str = "import sys; from nx_27017.nx_27017 import main; \
                          sys.argv[0] = 'nx-27017'; sys.exit(main())";

/// A prerequisite for a local nx-27017 that this machine lacks, with the way to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NxMissing {
    /// No `python3` on `PATH`.
    Python3,
    /// `python3 -m venv` failed; on Debian/Ubuntu the venv module is a separate package.
    VenvModule { detail: String },
    /// `pip install nx-27017` failed, usually because PyPI is unreachable.
    PipInstall { detail: String },
    /// No cache dir could be decided (no `STEPWISE_CACHE_DIR`, `XDG_CACHE_HOME` or `HOME`).
    CacheDir,
}

/// The ways around nx-27017 altogether, appended to every [`NxMissing`] message.
const ALTERNATIVES: &str = "Or avoid nx-27017: put a real `mongod` on PATH, or point the tests \
                            at a running server with MONGODB_URI=mongodb://HOST:PORT.";

impl fmt::Display for NxMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NxMissing::Python3 => write!(
                f,
                "no MongoDB for the tests: `mongod` is not on PATH, and its stand-in nx-27017 \
                 needs python3, which is not on PATH either.\n\
                 Install Python with: apt-get install -y python3 python3-venv\n{ALTERNATIVES}"
            ),
            NxMissing::VenvModule { detail } => write!(
                f,
                "no MongoDB for the tests: creating the venv for nx-27017 failed, so Python's \
                 venv module is missing or broken:\n{detail}\n\
                 Install it with: apt-get install -y python3-venv\n{ALTERNATIVES}"
            ),
            NxMissing::PipInstall { detail } => write!(
                f,
                "no MongoDB for the tests: `pip install {PACKAGE}` failed (is PyPI reachable?):\n\
                 {detail}\n\
                 Retry with network access to PyPI, or set PIP_INDEX_URL to a mirror.\n\
                 {ALTERNATIVES}"
            ),
            NxMissing::CacheDir => write!(
                f,
                "no MongoDB for the tests: nx-27017 needs a cache dir for its venv, and none of \
                 STEPWISE_CACHE_DIR, XDG_CACHE_HOME, HOME is set.\n\
                 Set one, e.g.: export STEPWISE_CACHE_DIR=$PWD/target/stepwise-cache\n\
                 {ALTERNATIVES}"
            ),
        }
    }
}

impl std::error::Error for NxMissing {}

/// The venv's python, creating the venv in `cache_dir` first if needed.
///
/// `search_path` is where `python3` is looked for (normally `$PATH`). A cached venv that no
/// longer works (e.g. its base Python was removed) is moved aside and rebuilt.
pub fn ensure_venv(cache_dir: &Path, search_path: Option<&OsStr>) -> Result<PathBuf> {
    let venv = cache_dir.join(VENV_DIR);
    if is_usable(&venv) {
        return Ok(python_in(&venv));
    }
    let python3 = find_program("python3", search_path).ok_or(NxMissing::Python3)?;
    fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating the cache dir {}", cache_dir.display()))?;
    if venv.exists() {
        move_aside_if_broken(&venv, cache_dir);
    }

    static ANNOUNCE: Once = Once::new();
    ANNOUNCE.call_once(|| {
        eprintln!(
            "testkit: creating the {PACKAGE} venv in {} (python3 -m venv + pip install; a few \
             seconds, once per machine)",
            venv.display()
        );
    });

    let build = tempfile::Builder::new()
        .prefix(&format!(".{VENV_DIR}.building-"))
        .tempdir_in(cache_dir)
        .with_context(|| format!("creating a build dir in {}", cache_dir.display()))?;
    build_venv(&python3, build.path())?;
    match fs::rename(build.path(), &venv) {
        Ok(()) => {
            // The build dir is now the venv: nothing left for the guard to delete.
            let _ = build.keep();
        }
        // Another process renamed its venv into place first; use that one, drop ours.
        Err(_) if is_usable(&venv) => drop(build),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("moving the new venv into place at {}", venv.display()));
        }
    }
    Ok(python_in(&venv))
}

/// Creates a venv in the empty dir `dir`, installs nx-27017 and checks it imports.
fn build_venv(python3: &Path, dir: &Path) -> Result<()> {
    run_to_completion(Command::new(python3).arg("-m").arg("venv").arg(dir)).map_err(|err| {
        NxMissing::VenvModule {
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
            .arg(PACKAGE),
    )
    .map_err(|err| NxMissing::PipInstall {
        detail: format!("{err:#}"),
    })?;
    run_to_completion(Command::new(&python).args(["-c", "import nx_27017.nx_27017"]))
        .context("nx-27017 installed but does not import")?;
    fs::write(dir.join(READY_MARKER), format!("{PACKAGE}\n"))
        .context("marking the venv as ready")?;
    Ok(())
}

/// A venv is usable when it was completed (marker) and its python still resolves (the
/// `bin/python` symlink chain ends at an existing base interpreter).
fn is_usable(venv: &Path) -> bool {
    venv.join(READY_MARKER).is_file() && fs::metadata(python_in(venv)).is_ok()
}

/// Renames a broken venv out of the way, then deletes it. Checked again right before the
/// rename, so a good venv another process just put there is left alone.
fn move_aside_if_broken(venv: &Path, cache_dir: &Path) {
    if is_usable(venv) {
        return;
    }
    let stale = cache_dir.join(format!(
        ".{VENV_DIR}.stale-{}",
        uuid::Uuid::new_v4().simple()
    ));
    if fs::rename(venv, &stale).is_ok() {
        eprintln!(
            "testkit: the cached venv at {} was broken; rebuilding it",
            venv.display()
        );
        let _ = fs::remove_dir_all(&stale);
    }
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// The command line for one nx-27017 server on `port`, with everything it writes in `dir`.
///
/// `--data-dir memory` gives every logical database its own in-memory SQLite store (so does
/// `--db memory`). Never a file `--db` (the default is `./nx-27017.db`): all databases then
/// share one store, so same-named collections in two test databases see each other and
/// `dropDatabase` empties every database. `--log-file` and `--pid-file` default to fixed paths
/// in /tmp shared by every instance, so they go into our dir.
pub fn launch(python: &Path, port: u16, dir: &Path) -> Launch {
    let log = dir.join("nx-27017.log");
    Launch {
        program: python.to_owned(),
        args: vec![
            "-c".into(),
            RUN_SERVER.into(),
            "--data-dir".into(),
            "memory".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--log-file".into(),
            log.clone().into(),
            "--pid-file".into(),
            dir.join("nx-27017.pid").into(),
        ],
        extra_logs: vec![log],
        env: Vec::new(),
        stop_signal: StopSignal::Term,
    }
}

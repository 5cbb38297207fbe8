//! nx-27017, the local stand-in for MongoDB where `mongod` is not installed: a MongoDB
//! wire-protocol server from PyPI, run from a Python venv the harness creates once and caches.
//!
//! The venv lives in `<cache dir>/nx-27017-venv`, built race-safely by [`super::venv`];
//! the server is started as `<venv>/bin/python -c <the console script's code>`.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::process::{Launch, StopSignal};
use super::venv::{PythonTool, VenvMissing};

/// The PyPI package. Unpinned on purpose: this is a test double, and the newest release has
/// the fewest gaps; pin here if a release ever breaks the suite.
pub const PACKAGE: &str = "nx-27017";

/// The venv's directory name inside the cache dir.
pub const VENV_DIR: &str = "nx-27017-venv";

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

/// The venv nx-27017 runs from.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: VENV_DIR,
    packages: &[PACKAGE],
    import_check: "nx_27017.nx_27017",
};

/// The venv's python, creating the venv in `cache_dir` first if needed (see
/// [`super::venv`]); a missing prerequisite is an [`NxMissing`] inside the error.
pub fn ensure_venv(cache_dir: &Path, search_path: Option<&OsStr>) -> Result<PathBuf> {
    TOOL.ensure_venv(cache_dir, search_path)
        .map_err(|err| match err.downcast::<VenvMissing>() {
            Ok(VenvMissing::Python3) => NxMissing::Python3.into(),
            Ok(VenvMissing::VenvModule { detail }) => NxMissing::VenvModule { detail }.into(),
            Ok(VenvMissing::PipInstall { detail, .. }) => NxMissing::PipInstall { detail }.into(),
            Err(other) => other,
        })
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

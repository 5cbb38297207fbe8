//! schemathesis, the property-based API tester from PyPI, for the tests that check a running
//! server against its OpenAPI document. Installed like nx-27017 (a cached venv, see
//! [`super::venv`]) and started as `<venv>/bin/python -c <the `st` console script's code>`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::venv::PythonTool;

/// The 4.x CLI (`st run --checks --exclude-checks --phases --seed ...`) is what callers use.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "schemathesis-4-venv",
    packages: &["schemathesis>=4,<5"],
    import_check: "schemathesis.cli",
};

/// What `bin/st` does, without its shebang.
const RUN_CLI: &str = "import sys; from schemathesis.cli import schemathesis; \
                       sys.argv[0] = 'st'; sys.exit(schemathesis())";

/// The venv's python, building the venv first if needed. Fails with what is missing and how
/// to get it (e.g. `apt-get install -y python3-venv`).
pub fn ensure() -> Result<PathBuf> {
    TOOL.ensure("schemathesis")
        .context("schemathesis is for the OpenAPI tests")
}

/// `st` with `args`, run by the venv's `python`.
pub fn command(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args(["-c", RUN_CLI]);
    command
}

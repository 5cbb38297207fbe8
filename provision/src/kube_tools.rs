//! The Kubernetes tools that check manifests with no cluster: `kubectl`, whose built-in
//! kustomize renders an overlay (`kubectl kustomize DIR`); kubernetes-validate, which checks
//! objects against the schemas of a pinned Kubernetes version that ship inside the package, so
//! it needs no network; and checkov, a policy scanner. The last two come from PyPI, each in its
//! own cached venv (see [`super::venv`]), and are started as `<venv>/bin/python -c <the
//! console script's code>`. kubectl is not installed here: it is one binary the learner's
//! cluster tooling brings anyway, and nothing may be downloaded from outside the registries.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::process::{find_program, run_to_completion};
use super::venv::PythonTool;

/// kubernetes-validate 1.x ships the schemas of every Kubernetes release it knows (1.30 among
/// them); callers pick one with `-k`. PyYAML comes with it, which [`yaml_documents`] uses.
pub const KUBERNETES_VALIDATE: PythonTool = PythonTool {
    venv_dir: "kubernetes-validate-1-venv",
    packages: &["kubernetes-validate>=1.30,<2"],
    import_check: "kubernetes_validate, yaml",
};

/// checkov 3.x (`--framework kubernetes --skip-download`, JSON output): a few hundred MB of
/// dependencies, hence a venv of its own.
pub const CHECKOV: PythonTool = PythonTool {
    venv_dir: "checkov-3-venv",
    packages: &["checkov>=3.2,<4"],
    import_check: "checkov.main",
};

/// The variable that names a kubectl to use instead of the one on `PATH`.
pub const KUBECTL_VAR: &str = "KUBECTL";

/// What `bin/kubernetes-validate` does, without its shebang.
const RUN_KUBERNETES_VALIDATE: &str = "import sys; from kubernetes_validate.__main__ import main; \
                                       sys.argv[0] = 'kubernetes-validate'; sys.exit(main())";

/// What `bin/checkov` does, without its shebang (its own warning filter included).
const RUN_CHECKOV: &str = "import sys, warnings; warnings.simplefilter('ignore', SyntaxWarning); \
                           from checkov.main import Checkov; sys.argv[0] = 'checkov'; \
                           sys.exit(Checkov().run())";

/// Every non-empty document of the YAML file `sys.argv[1]`, as one JSON array on stdout.
const YAML_TO_JSON: &str = "import json, sys, yaml; \
                            docs = yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')); \
                            json.dump([d for d in docs if d is not None], sys.stdout)";

/// kubectl: the one `KUBECTL` names, else `kubectl` on `PATH`. Fails with how to get it.
pub fn kubectl() -> Result<PathBuf> {
    kubectl_from(
        std::env::var_os(KUBECTL_VAR),
        std::env::var_os("PATH").as_deref(),
    )
}

/// The rule behind [`kubectl`], as a function of the two variables: `KUBECTL` (empty counts
/// as unset) wins, then the search path.
pub fn kubectl_from(named: Option<OsString>, search_path: Option<&OsStr>) -> Result<PathBuf> {
    if let Some(named) = named.filter(|v| !v.is_empty()) {
        let named = PathBuf::from(named);
        if named.is_file() {
            return Ok(named);
        }
        bail!(
            "{KUBECTL_VAR} names {}, which is not a file",
            named.display()
        );
    }
    find_program("kubectl", search_path).context(
        "kubectl is not on PATH (its built-in kustomize renders k8s/'s overlays; kubectl 1.27 \
         or newer). Install it as https://kubernetes.io/docs/tasks/tools/ describes (a \
         package for Debian/Ubuntu, Homebrew, or the single binary), or set KUBECTL to one. \
         Debian's own kubernetes-client package is too old (1.20).",
    )
}

/// `kubectl kustomize dir`: the overlay rendered as one multi-document YAML stream.
pub fn kustomize(dir: &Path) -> Result<String> {
    let kubectl = kubectl()?;
    run_to_completion(Command::new(&kubectl).arg("kustomize").arg(dir))
        .with_context(|| format!("rendering {} with kubectl kustomize", dir.display()))
}

/// kubernetes-validate's venv python, building the venv first if needed (once per machine;
/// needs PyPI).
pub fn ensure_kubernetes_validate() -> Result<PathBuf> {
    ensure(&KUBERNETES_VALIDATE, "kubernetes-validate")
}

/// `kubernetes-validate` with the arguments the caller adds, run by the venv's `python`.
pub fn kubernetes_validate(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args(["-c", RUN_KUBERNETES_VALIDATE]);
    command
}

/// checkov's venv python, building the venv first if needed (once per machine; needs PyPI).
pub fn ensure_checkov() -> Result<PathBuf> {
    ensure(&CHECKOV, "checkov")
}

/// `checkov` with the arguments the caller adds, run by the venv's `python`, with its check
/// for a newer release off: the scan stays offline.
pub fn checkov(python: &Path) -> Command {
    let mut command = Command::new(python);
    command
        .args(["-c", RUN_CHECKOV])
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true");
    command
}

/// checkov's JSON report from `command` ([`checkov`] with `--output json` and what to scan):
/// exit code 1 means findings, which the report lists; any other failure is checkov's own.
pub fn checkov_report(command: &mut Command) -> Result<serde_json::Value> {
    let output = command.output().context("running checkov")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!(
            "checkov failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_str(&stdout)
        .with_context(|| format!("checkov's report is not JSON:\n{stdout}"))
}

/// The documents of the YAML file `path` as JSON values, parsed by PyYAML in
/// kubernetes-validate's venv (`python`): no YAML parser in the workspace for one test.
pub fn yaml_documents(python: &Path, path: &Path) -> Result<Vec<serde_json::Value>> {
    let json = run_to_completion(Command::new(python).args(["-c", YAML_TO_JSON]).arg(path))
        .with_context(|| format!("reading {} as YAML", path.display()))?;
    serde_json::from_str(&json).with_context(|| format!("PyYAML's JSON for {}", path.display()))
}

fn ensure(tool: &PythonTool, name: &str) -> Result<PathBuf> {
    tool.ensure(name)
        .with_context(|| format!("{name} is for the manifest checks"))
}

/// The Kubernetes release whose schemas every object of `k8s/` must satisfy: the oldest minor
/// version the manifests promise to work on (the Namespace's pod-security `enforce-version`
/// too).
pub const KUBERNETES_VERSION: &str = "1.30.0";

/// kubernetes-validate's complaints (with the venv's `python`) about the objects in `path`,
/// strictly (an unknown field is an error, not a warning), against [`KUBERNETES_VERSION`]; a
/// failed run without a complaint is one too.
pub fn schema_problems(python: &Path, path: &Path) -> Result<Vec<String>> {
    let output = kubernetes_validate(python)
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
        .arg(path)
        .output()
        .context("running kubernetes-validate")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut problems: Vec<String> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.starts_with("ERROR") || line.starts_with("WARN"))
        .map(str::to_owned)
        .collect();
    if !output.status.success() && problems.is_empty() {
        problems.push(format!(
            "kubernetes-validate failed ({}):\n{stdout}{stderr}",
            output.status
        ));
    }
    Ok(problems)
}

/// The reports of one checkov run: one object, or a list of them (one per framework).
pub fn checkov_reports(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    match report {
        serde_json::Value::Array(many) => many.iter().collect(),
        one => vec![one],
    }
}

/// Every check checkov failed: its id, name and resource.
pub fn checkov_failed_checks(report: &serde_json::Value) -> Vec<(String, String, String)> {
    checkov_reports(report)
        .into_iter()
        .flat_map(|r| {
            r["results"]["failed_checks"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .map(|check| {
            let text = |field: &str| check[field].as_str().unwrap_or_default().to_owned();
            (text("check_id"), text("check_name"), text("resource"))
        })
        .collect()
}

/// What checkov found: failed checks and files it could not parse. A report that saw no
/// resource at all is a problem too (a scan of nothing passes everything).
pub fn checkov_problems(report: &serde_json::Value) -> Vec<String> {
    let mut problems: Vec<String> = checkov_failed_checks(report)
        .into_iter()
        .map(|(id, name, resource)| format!("{id} ({name}) fails on {resource}"))
        .collect();
    let mut resources = 0;
    for r in checkov_reports(report) {
        resources += r["summary"]["resource_count"].as_i64().unwrap_or(0);
        for file in r["results"]["parsing_errors"]
            .as_array()
            .into_iter()
            .flatten()
        {
            problems.push(format!("checkov could not parse {file}"));
        }
    }
    if resources == 0 {
        problems.push(format!("checkov scanned no resource: {report}"));
    }
    problems
}

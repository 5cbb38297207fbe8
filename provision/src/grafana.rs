//! The shop's Grafana dashboards as code: `docker/monitoring/grafana/generate.py` builds them
//! with grafana-foundation-sdk (Grafana's typed builders, from PyPI) and writes one JSON file
//! per dashboard; the JSON is committed under `docker/monitoring/grafana/dashboards/`, where
//! Grafana's file provisioning loads it.
//!
//! This module pins the SDK (here only: [`SDK_REQUIREMENT`]), installs it into a cached venv
//! of its own (see [`super::venv`]), runs the script ([`generate`]), checks that the committed
//! JSON is what the script makes now ([`check_committed`]: a hand edit or a forgotten
//! regeneration is drift), and reads the committed dashboards back ([`read_dashboards`],
//! [`panel_queries`]) so tests can hold every panel's PromQL against the app's metrics and a
//! real Prometheus. Grafana's template variables (`$__rate_interval`, `$instance`, ...) mean
//! nothing to Prometheus, so [`panel_queries`] substitutes plain values for them
//! ([`substitute`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::cargo::workspace_root;
use super::process::run_to_completion;
use super::venv::PythonTool;

/// The SDK release's epoch: grafana-foundation-sdk versions each build as `EPOCH!GRAFANA`,
/// one per Grafana version it targets.
macro_rules! sdk_epoch {
    () => {
        "1769699379"
    };
}

/// The Grafana version the pinned SDK build targets (the JSON's schema).
macro_rules! sdk_grafana {
    () => {
        "11.6.0"
    };
}

/// The one pin of the SDK: the JSON it makes is committed, so a different build could make
/// different JSON and every check of the committed files would fail. Change it here; the
/// venv's name follows, so a new pin gets a new venv.
pub const SDK_REQUIREMENT: &str = concat!(
    "grafana-foundation-sdk==",
    sdk_epoch!(),
    "!",
    sdk_grafana!()
);

/// The SDK in its own venv, named after the pinned build.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: concat!(
        "grafana-foundation-sdk-",
        sdk_grafana!(),
        "-",
        sdk_epoch!(),
        "-venv"
    ),
    packages: &[SDK_REQUIREMENT],
    import_check: "grafana_foundation_sdk.builders.dashboard",
};

/// The dashboards' directory inside the repository: the script, the generated JSON
/// (`dashboards/`) and Grafana's provisioning files (`provisioning/`).
pub const GRAFANA_DIR: &str = "docker/monitoring/grafana";

/// What `$__rate_interval` becomes in [`panel_queries`]: Grafana makes it at least four
/// scrape intervals (4 x 10 s); a minute spans six scrapes.
pub const RATE_INTERVAL: &str = "1m";

/// What `$__interval` (one graph step) becomes in [`panel_queries`].
pub const INTERVAL: &str = "1m";

/// What `$__range` (the dashboard's time range, 1 h by default) becomes in [`panel_queries`].
pub const RANGE: &str = "1h";

/// The script that builds the dashboards, in this checkout.
pub fn script() -> PathBuf {
    workspace_root().join(GRAFANA_DIR).join("generate.py")
}

/// The committed dashboards of this checkout.
pub fn dashboards_dir() -> PathBuf {
    workspace_root().join(GRAFANA_DIR).join("dashboards")
}

/// The SDK venv's python, building the venv first if needed (once per machine; needs PyPI).
/// Fails with what is missing and how to get it (e.g. `apt-get install -y python3-venv`).
pub fn ensure() -> Result<PathBuf> {
    TOOL.ensure("grafana-foundation-sdk")
        .context("grafana-foundation-sdk builds the Grafana dashboards (generate.py)")
}

/// The command, run from the workspace root, that regenerates the committed dashboards with
/// the venv's `python`.
pub fn regenerate_command(python: &Path) -> String {
    format!(
        "{} {GRAFANA_DIR}/generate.py {GRAFANA_DIR}/dashboards",
        python.display()
    )
}

/// Runs `generate.py` into `out_dir` (created if missing) with the pinned SDK, and returns
/// the dashboards' files, sorted. The script removes any other `*.json` from `out_dir`, so it
/// then holds exactly the dashboards.
pub fn generate(out_dir: &Path) -> Result<Vec<PathBuf>> {
    let python = ensure()?;
    generate_with(&python, out_dir)
}

/// [`generate`] with a given python (one whose environment has the SDK).
pub fn generate_with(python: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    run_to_completion(
        Command::new(python)
            .arg(script())
            .arg(out_dir)
            // Nothing written beside the script; the same hash seed every run.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONHASHSEED", "0"),
    )
    .context("generating the Grafana dashboards")?;
    json_files(out_dir)
}

/// One difference between the committed dashboards and a fresh generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The script makes this file; it is not committed.
    Missing(String),
    /// Committed, but the script no longer makes it.
    Extra(String),
    /// Both have it, with different text: the first line that differs (1-based), committed
    /// and generated.
    Differs {
        file: String,
        line: usize,
        committed: String,
        generated: String,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing(file) => write!(f, "{file}: generated, not committed"),
            Drift::Extra(file) => write!(
                f,
                "{file}: committed, no longer generated (regenerating removes it)"
            ),
            Drift::Differs {
                file,
                line,
                committed,
                generated,
            } => write!(
                f,
                "{file}, line {line}: committed {committed:?}, generated {generated:?}"
            ),
        }
    }
}

/// How the JSON files of `committed` differ from what the script makes now (generated into a
/// temp dir with `python`); empty when they are the same, byte for byte.
pub fn drift_with(python: &Path, committed: &Path) -> Result<Vec<Drift>> {
    let fresh = tempfile::tempdir().context("creating a temp dir for the dashboards")?;
    generate_with(python, fresh.path())?;
    let read = |dir: &Path| -> Result<BTreeMap<String, String>> {
        json_files(dir)?
            .into_iter()
            .map(|path| {
                let name = file_name(&path);
                let text = fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Ok((name, text))
            })
            .collect()
    };
    let committed = if committed.is_dir() {
        read(committed)?
    } else {
        BTreeMap::new()
    };
    let generated = read(fresh.path())?;
    let mut drift = Vec::new();
    for (file, text) in &generated {
        match committed.get(file) {
            None => drift.push(Drift::Missing(file.clone())),
            Some(old) if old != text => {
                let mut old_lines = old.lines();
                let mut new_lines = text.lines();
                let mut line = 0;
                loop {
                    line += 1;
                    match (old_lines.next(), new_lines.next()) {
                        (a, b) if a == b && a.is_some() => continue,
                        (a, b) => {
                            drift.push(Drift::Differs {
                                file: file.clone(),
                                line,
                                committed: a.unwrap_or("<end of file>").to_owned(),
                                generated: b.unwrap_or("<end of file>").to_owned(),
                            });
                            break;
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
    for file in committed.keys() {
        if !generated.contains_key(file) {
            drift.push(Drift::Extra(file.clone()));
        }
    }
    Ok(drift)
}

/// Fails unless the committed dashboards ([`dashboards_dir`]) are exactly what the script
/// makes now, listing each difference and the command that regenerates them.
pub fn check_committed() -> Result<()> {
    let python = ensure()?;
    let committed = dashboards_dir();
    let drift = drift_with(&python, &committed)?;
    if drift.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = drift.iter().map(|d| format!("  {d}")).collect();
    bail!(
        "the committed dashboards in {} are not what {GRAFANA_DIR}/generate.py makes:\n{}\n\
         Change generate.py, never the JSON, and regenerate from the workspace root with:\n  {}",
        committed.display(),
        listed.join("\n"),
        regenerate_command(&python)
    )
}

/// One committed dashboard, as the checks need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// The file it was read from.
    pub file: PathBuf,
    pub uid: String,
    pub title: String,
    /// Its template variables, by name: what each becomes in [`panel_queries`].
    pub variables: BTreeMap<String, String>,
    /// Every panel, those inside collapsed rows included, in the file's order.
    pub panels: Vec<Panel>,
}

/// One panel and its queries, as committed (template variables unsubstituted).
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    /// Grafana's panel type: `timeseries`, `stat`, `row`, ...
    pub kind: String,
    /// Each target's `expr`, in order.
    pub exprs: Vec<String>,
}

/// One panel query, ready for Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelQuery {
    /// The dashboard's uid.
    pub dashboard: String,
    /// The panel's title.
    pub panel: String,
    /// The PromQL, template variables substituted ([`substitute`]).
    pub expr: String,
    /// The expression as committed.
    pub template: String,
}

/// Every dashboard (`*.json`) in `dir`, by file name.
pub fn read_dashboards(dir: &Path) -> Result<Vec<Dashboard>> {
    json_files(dir)?
        .into_iter()
        .map(|file| {
            let text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let json: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            dashboard_of(file.clone(), &json)
                .with_context(|| format!("reading the dashboard {}", file.display()))
        })
        .collect()
}

/// Every query of every panel of the dashboards in `dir`, with Grafana's variables replaced
/// by plain PromQL: `$__rate_interval` by [`RATE_INTERVAL`], `$__interval` by [`INTERVAL`],
/// `$__range` by [`RANGE`], a variable with an "All" option by its all-value (`.*` for the
/// label filters), the data source variable by `prometheus`. A variable the dashboard does
/// not define is an error.
pub fn panel_queries(dashboards_dir: &Path) -> Result<Vec<PanelQuery>> {
    let mut queries = Vec::new();
    for dashboard in read_dashboards(dashboards_dir)? {
        for panel in &dashboard.panels {
            for template in &panel.exprs {
                let expr = substitute(template, &dashboard.variables).with_context(|| {
                    format!(
                        "the query {template:?} of panel {:?} of dashboard {}",
                        panel.title, dashboard.uid
                    )
                })?;
                queries.push(PanelQuery {
                    dashboard: dashboard.uid.clone(),
                    panel: panel.title.clone(),
                    expr,
                    template: template.clone(),
                });
            }
        }
    }
    Ok(queries)
}

/// `expr` with every Grafana variable (`$name`, `${name}`, `${name:format}`) replaced: the
/// built-in intervals by [`RATE_INTERVAL`], [`INTERVAL`] and [`RANGE`], any other by its
/// value in `variables`. A `$` not followed by a name (a regex's end anchor) stays.
pub fn substitute(expr: &str, variables: &BTreeMap<String, String>) -> Result<String> {
    let builtin = |name: &str| match name {
        "__rate_interval" => Some(RATE_INTERVAL),
        "__interval" => Some(INTERVAL),
        "__range" => Some(RANGE),
        _ => None,
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .with_context(|| format!("an unclosed `${{` in {expr:?}"))?;
            let inner = &braced[..end];
            let name = inner.split_once(':').map_or(inner, |(name, _format)| name);
            (name, end + 2)
        } else {
            let end = after.find(|c| !is_name(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = builtin(name)
            .or_else(|| variables.get(name).map(String::as_str))
            .with_context(|| {
                format!(
                    "`${name}` in {expr:?} is neither one of Grafana's intervals nor a variable \
                     of the dashboard (it has: {})",
                    variables.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn dashboard_of(file: PathBuf, json: &Value) -> Result<Dashboard> {
    let text = |value: &Value, what: &str| -> Result<String> {
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {what} (a string)"))
    };
    let uid = text(&json["uid"], "uid")?;
    let title = text(&json["title"], "title")?;
    let mut variables = BTreeMap::new();
    for variable in json["templating"]["list"].as_array().into_iter().flatten() {
        let name = text(&variable["name"], "variable name")?;
        let value = match variable["type"].as_str() {
            Some("datasource") => "prometheus".to_owned(),
            Some("query" | "custom") if variable["includeAll"] == Value::Bool(true) => text(
                &variable["allValue"],
                &format!("allValue of the variable {name}"),
            )?,
            Some("constant" | "textbox") => {
                text(&variable["query"], &format!("value of the variable {name}"))?
            }
            other => bail!(
                "the variable {name} (type {other:?}) has no value to use outside Grafana: give \
                 it an \"All\" option with an allValue"
            ),
        };
        variables.insert(name, value);
    }
    let mut panels = Vec::new();
    for panel in json["panels"].as_array().into_iter().flatten() {
        panels.push(panel_of(panel)?);
        // A collapsed row holds its panels itself.
        for inner in panel["panels"].as_array().into_iter().flatten() {
            panels.push(panel_of(inner)?);
        }
    }
    Ok(Dashboard {
        file,
        uid,
        title,
        variables,
        panels,
    })
}

fn panel_of(panel: &Value) -> Result<Panel> {
    let title = panel["title"].as_str().unwrap_or_default().to_owned();
    let kind = panel["type"]
        .as_str()
        .with_context(|| format!("the panel {title:?} has no type"))?
        .to_owned();
    let exprs = panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|target| target["expr"].as_str().map(str::to_owned))
        .collect();
    Ok(Panel { title, kind, exprs })
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

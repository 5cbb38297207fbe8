//! HCL, the language of Terraform's files, read by HashiCorp's own parser: PyPI's pygohcl binds
//! the Go library `hashicorp/hcl/v2` that Terraform itself uses (shipped compiled inside the
//! wheel), so a file it accepts is one Terraform's parser accepts. It also evaluates a variable's
//! `validation` condition against a value with that library's function set (a subset of
//! Terraform's: `contains`, `regex`, `can`, `min`, `max`... but not `length`). Installed like the
//! other Python tools (a cached venv, see [`super::venv`]); nothing here needs Terraform or the
//! network once the venv exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::process::run_to_completion;
use super::venv::PythonTool;

/// pygohcl 1.x: `loads` (a whole configuration as JSON), `attributes_loads` (a file of
/// attributes only, as a `.tfvars` is) and `eval_var_condition`.
pub const PYGOHCL: PythonTool = PythonTool {
    venv_dir: "pygohcl-1-venv",
    packages: &["pygohcl>=1.2,<2"],
    import_check: "pygohcl",
};

/// Parses the file `sys.argv[2]` as a configuration (`config`) or as attributes only
/// (`attributes`) and prints `{"ok": <the file as JSON>}` or `{"error": <HCL's diagnostic>}`.
/// Interpolations are kept (`"${var.name}-x"` stays as written), so checks can read references.
const PARSE: &str = r#"
import json, sys, pygohcl
mode, path = sys.argv[1], sys.argv[2]
text = open(path, encoding='utf-8').read()
try:
    if mode == 'config':
        value = pygohcl.loads(text, keep_interpolations=True)
    else:
        value = pygohcl.attributes_loads(text)
    print(json.dumps({'ok': value}))
except (pygohcl.HCLParseError, pygohcl.HCLInternalError) as error:
    print(json.dumps({'error': str(error)}))
"#;

/// Evaluates each `[condition, error_message, variable, value]` of the JSON list `sys.argv[1]`
/// and prints one verdict per entry: `{"holds": true}`, `{"holds": false, "message": ...}` or
/// `{"unknown": <why it could not be evaluated>}`.
const EVALUATE: &str = r#"
import json, sys, pygohcl
verdicts = []
for condition, message, name, value in json.loads(sys.argv[1]):
    try:
        pygohcl.eval_var_condition(condition, message, name, value)
        verdicts.append({'holds': True})
    except pygohcl.UnknownFunctionError as error:
        verdicts.append({'unknown': str(error)})
    except pygohcl.ValidationError as error:
        verdicts.append({'holds': False, 'message': str(error)})
print(json.dumps(verdicts))
"#;

/// How a file is read: a Terraform configuration (blocks and attributes), or attributes only
/// (`.tfvars`, `.tfbackend`), where a block is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Config,
    Attributes,
}

/// What HCL made of a validation condition for one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The condition is true.
    Holds,
    /// The condition is false: the variable's error message, interpolated.
    Fails(String),
    /// The condition calls a function HCL's library does not have (Terraform adds its own).
    Unknown(String),
}

/// pygohcl's venv python, building the venv first if needed (once per machine; needs PyPI).
pub fn ensure() -> Result<PathBuf> {
    PYGOHCL
        .ensure("pygohcl")
        .context("pygohcl is for the Terraform checks")
}

/// The file at `path` as JSON, or `Ok(Err(diagnostic))` when HCL refuses it. The outer error
/// is the tool failing, not the file.
pub fn parse_file(python: &Path, path: &Path, kind: Kind) -> Result<Result<Value, String>> {
    let mode = match kind {
        Kind::Config => "config",
        Kind::Attributes => "attributes",
    };
    let out = run_to_completion(Command::new(python).args(["-c", PARSE, mode]).arg(path))
        .with_context(|| format!("parsing {} with pygohcl", path.display()))?;
    let reply: Value = serde_json::from_str(&out)
        .with_context(|| format!("pygohcl's answer for {}: {out}", path.display()))?;
    if let Some(Value::String(error)) = reply.get("error") {
        return Ok(Err(error.clone()));
    }
    match reply.get("ok") {
        Some(value) => Ok(Ok(value.clone())),
        None => bail!("pygohcl answered {reply} for {}", path.display()),
    }
}

/// One validation to evaluate: the condition and error message as written, the variable's
/// name, and the value as an HCL expression (JSON is one).
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    pub condition: &'a str,
    pub error_message: &'a str,
    pub variable: &'a str,
    pub value: String,
}

/// The verdict of each validation, in order, from one run of the library.
pub fn evaluate(python: &Path, validations: &[Validation<'_>]) -> Result<Vec<Verdict>> {
    let request: Vec<[&str; 4]> = validations
        .iter()
        .map(|v| [v.condition, v.error_message, v.variable, v.value.as_str()])
        .collect();
    let request = serde_json::to_string(&request).context("encoding the validations")?;
    let out = run_to_completion(Command::new(python).args(["-c", EVALUATE, &request]))
        .context("evaluating validation conditions with pygohcl")?;
    let replies: Vec<Value> =
        serde_json::from_str(&out).with_context(|| format!("pygohcl's verdicts: {out}"))?;
    if replies.len() != validations.len() {
        bail!(
            "pygohcl gave {} verdicts for {} validations",
            replies.len(),
            validations.len()
        );
    }
    Ok(replies
        .into_iter()
        .map(
            |reply| match (&reply["holds"], &reply["unknown"], &reply["message"]) {
                (Value::Bool(true), _, _) => Verdict::Holds,
                (_, Value::String(why), _) => Verdict::Unknown(why.clone()),
                (_, _, message) => Verdict::Fails(message.as_str().unwrap_or_default().to_owned()),
            },
        )
        .collect())
}

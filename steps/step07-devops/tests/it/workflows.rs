//! Step 7's CI/CD (`.github/workflows/`), checked on a machine that cannot run it: every
//! workflow passes actionlint, with shellcheck on its `run:` scripts, and the project's own
//! rules hold: the matrix runs every step xtask knows, the images are exactly the app
//! binaries, only a version tag deploys and only through the `production` environment, every
//! job has least-privilege permissions and a timeout, every action is pinned. The workflows
//! are read as JSON through PyYAML, every scalar a string (see `provision::actionlint`).
//! Chapter: docs/07-devops.md, "CI/CD".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use testkit::services::actionlint::{self, Actionlint};

/// The binaries that ship as images (`ghcr.io/stepwise-shop/<binary>`, built from
/// `docker/Dockerfile` with `--build-arg BINARY=<binary>`): step 7's API (the stage that
/// docker/compose and k8s/ deploy), step 2's gRPC payments service, the payment simulator,
/// and step 9's API (what k8s/overlays/*-monitoring deploy).
const APP_BINARIES: [&str; 4] = [
    "step07-devops",
    "step02-payments",
    "payment-sim",
    "step09-monitoring",
];

const IMAGE_PREFIX: &str = "ghcr.io/stepwise-shop/";

/// Docker's action that builds (and pushes) an image. Spelled in two pieces: whole, `cargo
/// xtask tidy` would read it as a path under this repository's `docker/` folder.
const BUILD_PUSH_ACTION: &str = concat!("docker", "/build-push-action");

/// Three mistakes, one per kind of check: a `needs` that names no job, an unclosed call in an
/// expression, and an unquoted variable in a script (shellcheck's SC2086).
const BROKEN_WORKFLOW: &str = r#"name: broken
on: push
permissions: {}
jobs:
  deploy:
    runs-on: ubuntu-latest
    needs: imagez
    steps:
      - if: ${{ startsWith(github.ref, 'refs/tags/' }}
        run: echo tagged
      - run: cd $HOME/release && ls
"#;

fn root() -> PathBuf {
    testkit::cargo::workspace_root()
}

/// Installed once per test process (the venv once per machine).
fn tool() -> &'static Actionlint {
    static TOOL: OnceLock<Actionlint> = OnceLock::new();
    TOOL.get_or_init(|| actionlint::ensure().unwrap_or_else(|error| panic!("{error:#}")))
}

fn workflow(file: &str) -> Value {
    let path = root().join(".github/workflows").join(file);
    tool()
        .workflow_json(&path)
        .unwrap_or_else(|error| panic!("{error:#}"))
}

fn job<'a>(workflow: &'a Value, id: &str) -> &'a Value {
    let job = &workflow["jobs"][id];
    assert!(
        job.is_object(),
        "no job {id:?}; jobs: {:?}",
        jobs(workflow).map(|(id, _)| id).collect::<Vec<_>>()
    );
    job
}

fn jobs(workflow: &Value) -> impl Iterator<Item = (&str, &Value)> {
    workflow["jobs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, job)| (id.as_str(), job))
}

fn steps(job: &Value) -> impl Iterator<Item = &Value> {
    job["steps"].as_array().into_iter().flatten()
}

/// Every `run:` script of a job, one after the other.
fn scripts(job: &Value) -> String {
    steps(job)
        .filter_map(|step| step["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A list or a single string (`needs: ci` and `needs: [ci]` alike), as strings.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|item| item.as_str().expect("a list of strings").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// The step of `job` that uses `action` (`owner/name`, at any version).
fn step_using<'a>(job: &'a Value, action: &str) -> &'a Value {
    steps(job)
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|uses| uses.split('@').next() == Some(action))
        })
        .unwrap_or_else(|| panic!("no step uses {action} in {job:#}"))
}

/// The step numbers xtask knows, asked of xtask itself: its answer to a step that cannot
/// exist lists them ("steps available: 0, 1, ...").
fn xtask_steps() -> Vec<String> {
    let xtask = testkit::cargo::xtask_binary().unwrap_or_else(|error| panic!("{error:#}"));
    let output = Command::new(&xtask)
        .args(["step", "255"])
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("running xtask");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "step 255 exists? {stderr}");
    let listed = stderr
        .split("steps available: ")
        .nth(1)
        .unwrap_or_else(|| panic!("xtask did not list its steps: {stderr}"));
    listed.trim().split(", ").map(str::to_owned).collect()
}

/// The names of every binary target in the workspace, from `cargo metadata`.
fn workspace_binaries() -> BTreeSet<String> {
    let output = testkit::cargo::cargo_in(&root())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("running cargo metadata");
    assert!(output.status.success(), "cargo metadata: {output:?}");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|package| package["targets"].as_array().into_iter().flatten())
        .filter(|target| strings(&target["kind"]).iter().any(|kind| kind == "bin"))
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_workflow_passes_actionlint_with_shellcheck_on_its_run_scripts() {
    let linted = tool()
        .lint(&root())
        .unwrap_or_else(|error| panic!("{error:#}"));

    for expected in ["ci.yml", "release.yml"] {
        assert!(
            linted.files.iter().any(|file| file.ends_with(expected)),
            "{expected} was not linted: {:?}",
            linted.files
        );
    }
    let findings: Vec<String> = linted.findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} finds {} problem(s):\n{}",
        tool().version().unwrap_or_default(),
        findings.len(),
        findings.join("\n")
    );
}

#[test]
fn actionlint_refuses_an_unknown_needs_a_broken_expression_and_an_unquoted_variable() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("broken-workflow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(
        dir.join(".github/workflows").join("broken.yml"),
        BROKEN_WORKFLOW,
    )
    .unwrap();

    let linted = tool().lint(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let linted = linted.unwrap_or_else(|error| panic!("{error:#}"));

    let all: Vec<String> = linted.findings.iter().map(ToString::to_string).collect();
    let kinds = linted.kinds();
    for kind in ["job-needs", "expression", "shellcheck"] {
        assert!(
            kinds.contains(kind),
            "no {kind} finding in:\n{}",
            all.join("\n")
        );
    }
    let message_of = |kind: &str| {
        linted
            .findings
            .iter()
            .find(|finding| finding.kind == kind)
            .map(|finding| finding.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        message_of("job-needs"),
        "job \"deploy\" needs job \"imagez\" which does not exist in this workflow"
    );
    assert!(message_of("shellcheck").contains("SC2086"), "{all:#?}");
    assert!(
        linted
            .findings
            .iter()
            .all(|finding| finding.file.ends_with("broken.yml")),
        "{all:#?}"
    );
}

#[test]
fn the_step_matrix_runs_cargo_xtask_step_for_every_step_in_xtasks_table_on_official_images() {
    let ci = workflow("ci.yml");
    let step = job(&ci, "step");

    let matrix = strings(&step["strategy"]["matrix"]["step"]);
    assert_eq!(
        matrix,
        xtask_steps(),
        "ci.yml's matrix and `cargo xtask`'s steps differ"
    );
    assert!(
        scripts(step).contains("cargo xtask step \"${{ matrix.step }}\""),
        "{}",
        scripts(step)
    );
    assert_eq!(step["strategy"]["fail-fast"], "false");
    assert_eq!(step["env"]["STEPWISE_SERVICES"], "container");
    assert_eq!(step["env"]["STEPWISE_IMAGES"], "official");
}

#[test]
fn ci_builds_and_release_pushes_images_of_exactly_the_app_binaries() {
    let binaries = workspace_binaries();
    for binary in APP_BINARIES {
        assert!(
            binaries.contains(binary),
            "{binary} is no binary of the workspace"
        );
    }
    let expected: BTreeSet<String> = APP_BINARIES.iter().map(|b| (*b).to_owned()).collect();
    for (file, push) in [("ci.yml", "false"), ("release.yml", "true")] {
        let workflow = workflow(file);
        let images = job(&workflow, "images");
        let matrix: BTreeSet<String> = strings(&images["strategy"]["matrix"]["binary"])
            .into_iter()
            .collect();
        assert_eq!(matrix, expected, "{file}: the images built");

        let build = &step_using(images, BUILD_PUSH_ACTION)["with"];
        assert_eq!(build["file"], "docker/Dockerfile", "{file}");
        assert_eq!(build["build-args"], "BINARY=${{ matrix.binary }}", "{file}");
        assert_eq!(build["push"], push, "{file}");
        let registry = workflow["env"]["REGISTRY"].as_str().unwrap_or_default();
        let tags = build["tags"].as_str().unwrap_or_default().replace(
            "${{ env.REGISTRY }}/",
            &format!("{}/", registry.trim_end_matches('/')),
        );
        let tags: Vec<&str> = tags.lines().filter(|t| !t.trim().is_empty()).collect();
        assert!(!tags.is_empty(), "{file}: no tags");
        for tag in tags {
            assert!(
                tag.trim()
                    .starts_with(&format!("{IMAGE_PREFIX}${{{{ matrix.binary }}}}:")),
                "{file}: the tag {tag:?} is not {IMAGE_PREFIX}<binary>:<tag>"
            );
        }
    }

    // The file and the argument the workflows build with.
    let dockerfile = root().join("docker/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile)
        .unwrap_or_else(|error| panic!("{}: {error}", dockerfile.display()));
    assert!(
        text.lines()
            .any(|line| line.trim_start().starts_with("ARG BINARY")),
        "docker/Dockerfile declares no ARG BINARY, which the workflows set"
    );
}

#[test]
fn a_release_runs_the_whole_ci_before_it_pushes_an_image() {
    let ci = workflow("ci.yml");
    let release = workflow("release.yml");

    assert!(
        ci["on"].get("workflow_call").is_some(),
        "ci.yml cannot be called"
    );
    assert_eq!(job(&release, "ci")["uses"], "./.github/workflows/ci.yml");
    assert_eq!(strings(&job(&release, "images")["needs"]), ["ci"]);
}

#[test]
fn only_a_version_tag_deploys_the_prod_overlay_and_only_through_the_production_environment() {
    let release = workflow("release.yml");
    let triggers: Vec<&String> = release["on"].as_object().expect("on:").keys().collect();
    assert_eq!(triggers, ["push"], "release.yml runs on more than a push");
    assert_eq!(strings(&release["on"]["push"]["tags"]), ["v*"]);
    assert!(release["on"]["push"].get("branches").is_none());

    let deploy = job(&release, "deploy");
    let environment = match &deploy["environment"] {
        Value::String(name) => name.clone(),
        other => other["name"].as_str().unwrap_or_default().to_owned(),
    };
    assert_eq!(environment, "production", "the deploy's environment");
    assert_eq!(
        strings(&deploy["needs"]),
        ["images"],
        "what the deploy waits for"
    );
    let queue = &deploy["concurrency"];
    assert!(
        queue["group"]
            .as_str()
            .is_some_and(|group| !group.is_empty() && !group.contains("github.ref")),
        "deploys of different tags must share one concurrency group: {queue}"
    );
    assert_eq!(
        queue["cancel-in-progress"], "false",
        "a deploy must never be cancelled halfway"
    );

    let script = scripts(deploy);
    assert!(
        script.contains("kubectl apply -k k8s/overlays/prod"),
        "{script}"
    );
    for binary in APP_BINARIES {
        assert!(
            script.contains(binary),
            "the deploy does not set {binary}'s image: {script}"
        );
    }
    assert!(script.contains("kustomize edit set image"), "{script}");
    let overlay = root().join("k8s/overlays/prod");
    assert!(
        ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .any(|name| overlay.join(name).is_file()),
        "{} has no kustomization",
        overlay.display()
    );

    // The cluster's credentials are the deploy job's alone.
    for (file, workflow) in [("ci.yml", workflow("ci.yml")), ("release.yml", release)] {
        for (id, job) in jobs(&workflow) {
            let mentions = job.to_string().contains("secrets.KUBECONFIG");
            assert_eq!(
                mentions,
                file == "release.yml" && id == "deploy",
                "{file}: job {id} and secrets.KUBECONFIG"
            );
        }
    }
}

#[test]
fn every_job_has_least_privilege_and_a_timeout_and_every_workflow_a_concurrency_group() {
    let mut writes = Vec::new();
    for file in ["ci.yml", "release.yml"] {
        let workflow = workflow(file);
        assert_eq!(
            workflow["permissions"],
            serde_json::json!({}),
            "{file}: the default for jobs must be no permission at all"
        );
        assert!(
            workflow["concurrency"]["group"]
                .as_str()
                .is_some_and(|group| group.contains("${{ github.ref }}")),
            "{file}: no concurrency group per ref"
        );
        for (id, job) in jobs(&workflow) {
            let permissions = job["permissions"]
                .as_object()
                .unwrap_or_else(|| panic!("{file}: job {id} has no permissions of its own"));
            for (scope, level) in permissions {
                assert!(
                    ["read", "write", "none"].contains(&level.as_str().unwrap_or_default()),
                    "{file}: job {id}: {scope}: {level}"
                );
                if level == "write" {
                    writes.push(format!("{file} {id} {scope}"));
                }
            }
            // A job that calls a workflow has its timeouts in that workflow's jobs.
            if job.get("uses").is_none() {
                assert!(
                    job["timeout-minutes"]
                        .as_str()
                        .and_then(|m| m.parse::<u32>().ok())
                        .is_some_and(|m| m > 0 && m <= 120),
                    "{file}: job {id} has no timeout of at most 2 hours"
                );
            }
        }
    }
    assert_eq!(
        writes,
        ["release.yml images packages"],
        "only the release's image push may write"
    );
    assert_eq!(
        workflow("release.yml")["concurrency"]["cancel-in-progress"],
        "false",
        "a release must never be cancelled halfway"
    );
}

#[test]
fn every_action_is_pinned_to_a_major_version_or_a_commit_sha() {
    for file in ["ci.yml", "release.yml"] {
        let workflow = workflow(file);
        for (id, job) in jobs(&workflow) {
            let used = steps(job)
                .filter_map(|step| step["uses"].as_str())
                .chain(job["uses"].as_str());
            for uses in used {
                if uses.starts_with("./") {
                    continue;
                }
                let (_, version) = uses
                    .split_once('@')
                    .unwrap_or_else(|| panic!("{file}: job {id}: {uses} has no version"));
                let major = version
                    .strip_prefix('v')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
                assert!(
                    major || sha,
                    "{file}: job {id}: {uses} is pinned to neither a major version nor a SHA"
                );
            }
        }
    }
}

#[test]
fn ci_checks_format_and_clippy_on_pushes_to_main_and_pull_requests_with_a_cargo_cache() {
    let ci = workflow("ci.yml");
    assert!(strings(&ci["on"]["push"]["branches"]).contains(&"main".to_owned()));
    assert!(ci["on"].get("pull_request").is_some(), "no pull_request");

    let all: Vec<String> = jobs(&ci).map(|(_, job)| scripts(job)).collect();
    assert!(
        all.iter().any(|s| s.contains("cargo fmt --all --check")),
        "no rustfmt check"
    );
    assert!(
        all.iter()
            .any(|s| s.contains("cargo clippy --workspace --all-targets")
                && s.contains("-D warnings")),
        "no clippy with -D warnings"
    );

    // Every job that compiles restores a cache of ~/.cargo and target/ (rustfmt compiles
    // nothing).
    for (id, job) in jobs(&ci) {
        let compiles = scripts(job)
            .lines()
            .any(|line| line.trim_start().starts_with("cargo ") && !line.contains("cargo fmt"));
        let cached = steps(job).any(|step| {
            step["uses"].as_str().is_some_and(|uses| {
                uses.starts_with("Swatinem/rust-cache@") || uses.starts_with("actions/cache@")
            })
        });
        assert!(!compiles || cached, "job {id} compiles without a cache");
    }
}

#[test]
fn without_shellcheck_the_lint_refuses_to_start_and_names_the_apt_get_line() {
    let empty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("a-path-without-shellcheck");
    std::fs::create_dir_all(&empty).unwrap();

    let error =
        actionlint::ensure_on(Some(empty.as_os_str())).expect_err("no shellcheck, no actionlint");

    let error = format!("{error:#}");
    assert!(error.contains("shellcheck is not on PATH"), "{error}");
    assert!(error.contains("apt-get install -y shellcheck"), "{error}");
}

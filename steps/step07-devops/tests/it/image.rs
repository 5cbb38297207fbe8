//! Step 7's image, built and run on this machine: `docker/Dockerfile`'s `prebuilt` target
//! with the binary these tests run (`stepwise/step07-devops:local`, see
//! `provision::images::app`), started the way a hardened orchestrator starts it (read-only
//! root, a tmpfs for /tmp, uid 10001, no capabilities) on the host's network, where this
//! test's MongoDB, PostgreSQL, Redis and payments service listen. It must become ready, stay
//! alive, report healthy through its own HEALTHCHECK, run as uid 10001, stop with exit 0 on
//! SIGTERM and leave no container behind; its health check must fail where nothing listens.
//! The payments service's and the simulator's images must run the same way. The Dockerfile
//! itself passes hadolint, and its default path is the official cargo-chef build.
//! Chapter: docs/07-devops.md, "Images".

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use step06_distributed::testing::Child;
use testkit::services::docker::{self, OWNER_HOST_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL};
use testkit::services::images::app::{self, APP_BINARIES, AppBinary, AppImageOptions};
use testkit::services::images::hadolint;

use crate::probes::App;

/// The non-root user the image runs as (and the Kubernetes manifests ask for).
const APP_UID: u32 = 10001;

/// A generous bound on the image: the slim base (about 75 MB) and a debug binary (about
/// 100 MB without its debug sections). A toolchain or a build stage left in the image
/// would be a gigabyte.
const MAX_IMAGE_BYTES: u64 = 400_000_000;

fn root() -> PathBuf {
    testkit::cargo::workspace_root()
}

fn dockerfile() -> String {
    let path = root().join("docker/Dockerfile");
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// No Docker engine is an error that says so: these tests are about an image.
pub(crate) fn require_docker() {
    if let Err(reason) = docker::engine_status() {
        panic!(
            "this test builds and runs a Docker image, and no Docker engine answers ({reason}). \
             Install and start Docker (on Debian: apt-get install -y docker.io), or run the \
             other tests: cargo nextest run -p step07-devops -E 'not test(/^image::/)'"
        );
    }
}

pub(crate) fn step07() -> AppBinary {
    *APP_BINARIES
        .iter()
        .find(|app| app.binary == "step07-devops")
        .expect("step07-devops ships as an image")
}

/// `docker ARGS`, its trimmed stdout; panics with its stderr when it fails.
fn docker_cli(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running docker {args:?}: {error}"));
    assert!(
        output.status.success(),
        "docker {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Removes the container and its `docker run` script when the test ends in any way (the
/// reaper removes the container if the test process dies: it carries the owner labels).
struct Removed {
    name: String,
    script: Option<PathBuf>,
}

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "--force", "--volumes", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(script) = &self.script {
            let _ = fs::remove_file(script);
        }
    }
}

/// A "binary" for [`Child::spawn`]: a script that runs the image instead, handing every
/// `APP__*` variable it was given (the test's services, its secrets, the port) on to the
/// container. So the container gets exactly the configuration the child-process tests give
/// the binary, from the one place that maps a test's configuration to variables.
fn docker_run_script(path: &Path, name: &str, image: &str) {
    let owner = docker::Owner::current().expect("this process's owner labels");
    let script = format!(
        r#"#!/bin/sh
set -eu
# The image's own health check, every second instead of every 10 s, so the test need not
# wait for it; the command it runs is the image's.
vars=""
for var in $(env | sed -n 's/^\(APP__[A-Za-z0-9_]*\)=.*/\1/p'); do
  vars="$vars --env $var"
done
# shellcheck disable=SC2086
exec docker run --rm --pull never --name {name} \
  --label {OWNER_PID_LABEL}={pid} --label {OWNER_START_LABEL}={start} \
  --label {OWNER_HOST_LABEL}={host} \
  --network host --read-only --tmpfs /tmp --user {APP_UID} --cap-drop ALL \
  --security-opt no-new-privileges --health-interval 1s \
  $vars {image} "$@"
"#,
        pid = owner.pid,
        start = owner.start,
        host = owner.host,
    );
    fs::write(path, script).expect("writing the docker run script");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Polls `GET url` until it answers `status`; the body.
async fn answers(url: &str, status: u16) -> serde_json::Value {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match http.get(url).send().await {
            Ok(response) if response.status().as_u16() == status => {
                return response.json().await.expect("a JSON body");
            }
            Ok(response) => {
                last = format!(
                    "{} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                )
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} did not answer {status} within 30 s; last: {last}");
}

/// Waits for the container's health status to become `healthy`; fails at `unhealthy` with
/// what the check said.
async fn becomes_healthy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let status = docker_cli(&["inspect", "--format", "{{.State.Health.Status}}", name]);
        match status.as_str() {
            "healthy" => return,
            "unhealthy" => panic!(
                "the HEALTHCHECK reports unhealthy: {}",
                docker_cli(&["inspect", "--format", "{{json .State.Health.Log}}", name])
            ),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the container is still {status:?} after 45 s: {}",
            docker_cli(&["inspect", "--format", "{{json .State.Health}}", name])
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The real uid of process `pid` as the host sees it (`/proc/PID/status`, `Uid:` line).
fn uid_of(pid: &str) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("/proc/{pid}/status: {error}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .unwrap_or_else(|| panic!("no Uid line in /proc/{pid}/status:\n{status}"))
}

#[tokio::test]
async fn the_step_7_image_runs_read_only_as_uid_10001_becomes_ready_reports_healthy_and_stops_cleanly()
 {
    require_docker();
    let step07 = step07();
    let report = app::ensure_app_image(
        step07,
        Path::new(env!("CARGO_BIN_EXE_step07-devops")),
        &AppImageOptions::default(),
    )
    .unwrap_or_else(|error| panic!("{error:#}"));
    eprintln!("{report}");
    let image = report.tag.clone();
    assert!(
        report.size_bytes < MAX_IMAGE_BYTES,
        "{image} is {} MB; more than {} MB means something that does not belong was shipped",
        report.size_bytes / 1_000_000,
        MAX_IMAGE_BYTES / 1_000_000
    );
    // The image's own settings, not the ones `docker run` adds.
    assert_eq!(
        docker_cli(&["image", "inspect", "--format", "{{.Config.User}}", &image]),
        format!("{APP_UID}:{APP_UID}")
    );
    let check = docker_cli(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck.Test}}",
        &image,
    ]);
    assert!(
        check.contains("healthcheck"),
        "the image's health check: {check}"
    );
    let title = docker_cli(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.opencontainers.image.title\"}}",
        &image,
    ]);
    assert_eq!(title, "step07-devops");

    let app = App::spawn().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let name = format!("stepwise-image-test-{}-{nanos}", std::process::id());
    let run = std::env::temp_dir().join(format!("{name}.sh"));
    let _removed = Removed {
        name: name.clone(),
        script: Some(run.clone()),
    };
    docker_run_script(&run, &name, &image);
    let mut child = Child::spawn(
        run.to_str().expect("a UTF-8 path"),
        &app.config,
        &[],
        &[("APP__SHUTDOWN__DRAIN_DELAY_MS", "200".to_owned())],
    )
    .await
    .unwrap_or_else(|error| panic!("the container did not start serving: {error:#}"));

    let ready = answers(&format!("{}/readyz", child.base), 200).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let alive = answers(&format!("{}/healthz", child.base), 200).await;
    assert_eq!(alive, serde_json::json!({ "status": "alive" }));
    becomes_healthy(&name).await;
    let pid = docker_cli(&["inspect", "--format", "{{.State.Pid}}", &name]);
    assert_eq!(uid_of(&pid), APP_UID, "the server's uid (host pid {pid})");
    assert_eq!(
        docker_cli(&[
            "inspect",
            "--format",
            "{{.HostConfig.ReadonlyRootfs}}",
            &name
        ]),
        "true"
    );

    // SIGTERM to `docker run`, which hands it to the server (PID 1 in the container).
    child.terminate().expect("SIGTERM");
    let exit = child
        .exited_within(Duration::from_secs(30))
        .await
        .expect("the container stops");
    let said = child.said_to_the_end().await;
    assert!(
        exit.success(),
        "the container exited {exit}; it said:\n{}",
        said.join("\n")
    );
    let left = docker_cli(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("name={name}"),
    ]);
    assert_eq!(left, "", "the container {name} is still there");
}

#[test]
fn the_dockerfile_passes_hadolint_and_every_ignored_rule_says_why() {
    let hadolint = hadolint::ensure().unwrap_or_else(|error| panic!("{error:#}"));
    let linted = hadolint::lint(&hadolint, &root().join("docker/Dockerfile"))
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert!(linted.clean, "hadolint:\n{}", linted.findings);
    for (number, line) in dockerfile().lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("# hadolint ignore=") {
            let reason = rest
                .split_once(char::is_whitespace)
                .map(|(_, why)| why.trim());
            assert!(
                reason.is_some_and(|why| why.len() > 10),
                "line {}: an ignored rule without a reason: {line}",
                number + 1
            );
        }
    }
}

#[test]
fn hadolint_finds_an_untagged_base_unpinned_packages_and_a_shell_form_entrypoint() {
    let hadolint = hadolint::ensure().unwrap_or_else(|error| panic!("{error:#}"));
    let broken = std::env::temp_dir().join(format!("broken-{}.Dockerfile", std::process::id()));
    fs::write(
        &broken,
        "FROM debian\nRUN apt-get update && apt-get install -y curl\nENTRYPOINT /app serve\n",
    )
    .expect("writing a Dockerfile");
    let linted = hadolint::lint(&hadolint, &broken);
    let _ = fs::remove_file(&broken);
    let linted = linted.unwrap_or_else(|error| panic!("{error:#}"));
    assert!(!linted.clean, "{}", linted.findings);
    for rule in ["DL3006", "DL3008", "DL3015", "DL3025"] {
        assert!(
            linted.findings.contains(rule),
            "no {rule} in:\n{}",
            linted.findings
        );
    }
}

#[test]
fn the_dockerfiles_default_is_the_official_cargo_chef_build_and_the_local_target_needs_no_rust_image()
 {
    let text = dockerfile();
    let arg = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("no default for ARG {name}"))
            .trim()
            .to_owned()
    };
    assert!(
        arg("RUST_IMAGE").starts_with("rust:"),
        "{}",
        arg("RUST_IMAGE")
    );
    assert_eq!(arg("RUNTIME_IMAGE"), "debian:bookworm-slim");
    assert_eq!(arg("BINARY"), "step07-devops");

    // (image, stage name) of every FROM, in order.
    let stages: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("FROM "))
        .map(|from| {
            let mut words = from.split_whitespace();
            let image = words.next().unwrap_or_default().to_owned();
            let name = match (words.next(), words.next()) {
                (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => name.to_owned(),
                _ => String::new(),
            };
            (image, name)
        })
        .collect();
    let position = |name: &str| {
        stages
            .iter()
            .position(|(_, stage)| stage == name)
            .unwrap_or_else(|| panic!("no stage {name} in {stages:?}"))
    };
    let first_rust = stages
        .iter()
        .position(|(image, _)| image == "${RUST_IMAGE}")
        .expect("a stage on the Rust image");
    // The legacy builder builds every stage before the target.
    assert!(
        position("runtime") < first_rust && position(app::PREBUILT_TARGET) < first_rust,
        "{stages:?}"
    );
    for stage in ["chef", "planner", "builder"] {
        position(stage);
    }
    assert!(text.contains("cargo chef prepare"), "no planner");
    assert!(text.contains("cargo chef cook --release"), "no cook");
    // The last stage (what a plain `docker build` gives) is the runtime with the builder's
    // binary.
    let (last_image, _) = stages.last().expect("stages");
    assert_eq!(last_image, "runtime");
    let after_last_from = text.rsplit("\nFROM ").next().unwrap_or_default();
    assert!(
        after_last_from.contains("COPY --from=builder"),
        "{after_last_from}"
    );
}

/// `docker run --detach` of `image`, hardened as above, with `env`; removed on drop.
fn run_detached(image: &str, env: &[(&str, String)]) -> Removed {
    let owner = docker::Owner::current().expect("this process's owner labels");
    let name = format!(
        "stepwise-image-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
    );
    let mut args: Vec<String> = [
        "run",
        "--detach",
        "--pull",
        "never",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--health-interval",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(["--name".to_owned(), name.clone()]);
    for (label, value) in [
        (OWNER_PID_LABEL, owner.pid.to_string()),
        (OWNER_START_LABEL, owner.start.to_string()),
        (OWNER_HOST_LABEL, owner.host.clone()),
    ] {
        args.extend(["--label".to_owned(), format!("{label}={value}")]);
    }
    for (var, value) in env {
        args.extend(["--env".to_owned(), format!("{var}={value}")]);
    }
    args.push(image.to_owned());
    let removed = Removed { name, script: None };
    docker_cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    removed
}

#[tokio::test]
async fn the_payments_service_and_simulator_images_run_as_uid_10001_report_healthy_and_stop_with_0()
{
    require_docker();
    let port = || testkit::services::free_port().expect("a free port");
    let (sim_port, grpc_port) = (port(), port());
    let cases = [
        (
            "payment-sim",
            vec![
                ("PAYMENT_SIM_HOST", "127.0.0.1".to_owned()),
                ("PAYMENT_SIM_PORT", sim_port.to_string()),
            ],
        ),
        (
            "step02-payments",
            vec![(
                "APP__APIS__PAYMENTS__LISTEN",
                format!("127.0.0.1:{grpc_port}"),
            )],
        ),
    ];
    for (binary, env) in cases {
        let app = *APP_BINARIES
            .iter()
            .find(|app| app.binary == binary)
            .unwrap_or_else(|| panic!("{binary} ships as an image"));
        let executable = app
            .cargo_build(false)
            .unwrap_or_else(|error| panic!("{error:#}"));
        let report = app::ensure_app_image(app, &executable, &AppImageOptions::default())
            .unwrap_or_else(|error| panic!("{error:#}"));
        eprintln!("{report}");
        assert!(report.size_bytes < MAX_IMAGE_BYTES, "{report}");

        let container = run_detached(&report.tag, &env);
        becomes_healthy(&container.name).await;
        let pid = docker_cli(&["inspect", "--format", "{{.State.Pid}}", &container.name]);
        assert_eq!(uid_of(&pid), APP_UID, "{binary}: the uid of host pid {pid}");
        // SIGTERM, then SIGKILL after 20 s.
        docker_cli(&["stop", "--time", "20", &container.name]);
        let exit = docker_cli(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &container.name,
        ]);
        assert_eq!(
            exit,
            "0",
            "{binary} exited {exit} on SIGTERM; logs:\n{}",
            docker_cli(&["logs", &container.name])
        );
    }
}

#[test]
fn the_images_health_check_fails_when_nothing_listens_on_its_port() {
    require_docker();
    let report = app::ensure_app_image(
        step07(),
        Path::new(env!("CARGO_BIN_EXE_step07-devops")),
        &AppImageOptions::default(),
    )
    .unwrap_or_else(|error| panic!("{error:#}"));
    // The check alone, in a container of the image with no network and no server.
    let output = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--pull",
            "never",
            "--network",
            "none",
            "--read-only",
            "--entrypoint",
            "/usr/local/bin/healthcheck.sh",
            &report.tag,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("running docker run");
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("nothing listens on 127.0.0.1:8080"), "{said}");
}

//! Step 7's Kubernetes manifests (`k8s/`), checked on a machine with no cluster: each overlay
//! renders with `kubectl kustomize`; every rendered object validates strictly against the
//! schemas of Kubernetes 1.30 (kubernetes-validate); checkov finds nothing but what
//! `k8s/checkov.yaml` skips, each skip with its reason and each still needed; and the
//! project's own rules hold: every image is one the workspace builds (or, in dev only, an
//! official data-store image), every `APP__*` variable names a key of `shop.example.toml` and
//! each binary gets the ones production refuses to start without, secrets only by reference,
//! probes on the routes and ports the binaries serve, a grace period longer than the shutdown
//! deadline, Services that reach a port of the pods they select, and network policies that
//! allow exactly the connections the configuration makes.
//!
//! Every rule is a function from the rendered objects to its problems, so the same function
//! that passes the real overlays is fed a deliberately broken copy (an unknown image, a
//! misspelt key, a probe on `/nope`, ...) and must refuse it, naming what is wrong. The YAML
//! is read as JSON through the PyYAML of kubernetes-validate's venv
//! (`provision::kube_tools::yaml_documents`). Chapter: docs/07-devops.md, "Kubernetes".

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use step07_devops::config::ShutdownConfig;
use step07_devops::probes::{LIVENESS, READINESS};
use testkit::services::kube_tools::{
    self, checkov_failed_checks as failed_checks, checkov_problems,
};

/// Where the workspace's images are published (`ghcr.io/stepwise-shop/<binary>:<tag>`).
const REGISTRY: &str = "ghcr.io/stepwise-shop/";

/// The official images dev runs its data stores from; prod uses managed ones.
const DATA_STORE_IMAGES: [&str; 3] = ["mongo:7", "postgres:15", "redis:7"];

/// The payment simulator's health route (payment-sim/src/routes/health.rs): no auth, no
/// injected faults, so a probe on it says only whether the process answers.
const PAYMENT_SIM_HEALTH: &str = "/health";

/// One overlay of `k8s/overlays/`.
#[derive(Debug, Clone, Copy)]
struct Overlay {
    name: &'static str,
    /// Whether MongoDB, PostgreSQL and Redis run in the cluster (dev) or are managed
    /// endpoints outside it (prod).
    data_stores_in_cluster: bool,
}

const DEV: Overlay = Overlay {
    name: "dev",
    data_stores_in_cluster: true,
};
const PROD: Overlay = Overlay {
    name: "prod",
    data_stores_in_cluster: false,
};
const OVERLAYS: [Overlay; 2] = [DEV, PROD];

/// A variable a binary cannot do without in production: the code refuses to start without
/// the secrets (`required when` in common/src/config.rs, steps/step01-security/src/config.rs,
/// steps/step02-apis/src/payments/config.rs), and without the URLs it would reach for
/// 127.0.0.1, which in a pod is itself.
#[derive(Debug, Clone, Copy)]
struct Required {
    /// The variable; a trailing `*` is any key of a map (`..__KEYS__<KID>`).
    name: &'static str,
    /// Whether its value must come from a Secret (it is one, or a URL with credentials).
    secret: bool,
}

const fn secret(name: &'static str) -> Required {
    Required { name, secret: true }
}

const fn setting(name: &'static str) -> Required {
    Required {
        name,
        secret: false,
    }
}

/// What each app binary needs set, by the binary its image is built from.
const REQUIRED: [(&str, &[Required]); 2] = [
    (
        "step07-devops",
        &[
            secret("APP__AUTH__JWT_SECRET"),
            secret("APP__SECURITY__ENCRYPTION__KEYS__*"),
            secret("APP__APIS__PAYMENTS__SERVICE_TOKEN"),
            secret("APP__MONGODB__URI"),
            secret("APP__POSTGRES__URL"),
            secret("APP__REPLICA__URL"),
            secret("APP__REDIS__URL"),
            setting("APP__APIS__PAYMENTS__URL"),
            setting("APP__SERVER__HOST"),
            setting("APP__SERVER__PORT"),
        ],
    ),
    (
        "step02-payments",
        &[
            secret("APP__APIS__PAYMENTS__SERVICE_TOKEN"),
            secret("APP__PAYMENTS__API_KEY"),
            setting("APP__APIS__PAYMENTS__LISTEN"),
            setting("APP__PAYMENTS__BASE_URL"),
        ],
    ),
];

// ---------------------------------------------------------------------------------------
// The tests on the real overlays.

/// Renders each overlay and fails with what `check` finds wrong in it.
fn every_overlay_passes(check: fn(&[Value]) -> Vec<String>) {
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        assert_clean(overlay.name, &check(&rendered.objects));
    }
}

#[test]
fn every_overlay_renders_and_validates_strictly_against_kubernetes_1_30() {
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        assert!(
            rendered.objects.len() > 10,
            "{}: only {} objects rendered",
            overlay.name,
            rendered.objects.len()
        );
        let problems = schema_problems(&rendered.path);
        assert_clean(overlay.name, &problems);
    }
}

#[test]
fn checkov_finds_nothing_in_either_overlay_beyond_the_justified_skips() {
    let config = root().join("k8s/checkov.yaml");
    let text = std::fs::read_to_string(&config).expect("k8s/checkov.yaml");
    let (skips, problems) = checkov_skips(&text);
    assert_clean("k8s/checkov.yaml", &problems);
    assert!(
        !skips.is_empty(),
        "k8s/checkov.yaml skips nothing: is it parsed?"
    );
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        let report = checkov_report(
            &["--config-file".as_ref(), config.as_os_str()],
            &[&rendered.path],
        );
        let problems = checkov_problems(&report);
        assert_clean(overlay.name, &problems);
    }
}

#[test]
fn every_skipped_checkov_check_still_fails_somewhere_without_its_skip() {
    let text = std::fs::read_to_string(root().join("k8s/checkov.yaml")).expect("k8s/checkov.yaml");
    let (skips, _) = checkov_skips(&text);
    let ids: Vec<&str> = skips.keys().map(String::as_str).collect();
    let rendered: Vec<Rendered> = OVERLAYS.into_iter().map(Rendered::of).collect();
    let paths: Vec<&Path> = rendered.iter().map(|r| r.path.as_path()).collect();
    // Only the skipped checks, and no config file (so no skip): each must fail at least once.
    let only = ids.join(",");
    let report = checkov_report(&["--check".as_ref(), only.as_ref()], &paths);
    let failing: BTreeSet<String> = failed_checks(&report)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let stale: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !failing.contains(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "k8s/checkov.yaml skips {stale:?}, which no overlay fails any more: remove the skip"
    );
}

#[test]
fn every_image_is_one_the_workspace_builds_or_an_official_data_store_image_in_dev() {
    let binaries = workspace_binaries();
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        let problems = image_problems(&rendered.objects, &binaries, overlay);
        assert_clean(overlay.name, &problems);
    }
}

#[test]
fn the_data_stores_run_in_dev_and_are_managed_endpoints_in_prod() {
    let stateful = |overlay| -> BTreeSet<String> {
        Rendered::of(overlay)
            .objects
            .iter()
            .filter(|o| o["kind"] == "StatefulSet")
            .map(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        stateful(DEV),
        BTreeSet::from(["mongodb".into(), "postgres".into(), "redis".into()])
    );
    assert_eq!(stateful(PROD), BTreeSet::new());
}

#[test]
fn every_app_variable_names_a_documented_key_and_each_binary_gets_what_production_requires() {
    let keys = documented_keys();
    let sim = payment_sim_variables();
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        let problems = env_problems(&rendered.objects, &keys, &sim);
        assert_clean(overlay.name, &problems);
    }
}

#[test]
fn the_required_variables_are_documented_keys_themselves() {
    // A key renamed in the code is renamed in shop.example.toml (cargo xtask tidy), and then
    // the list above must follow.
    let keys = documented_keys();
    for (binary, required) in REQUIRED {
        for variable in required {
            let example = variable.name.replace('*', "K1");
            assert!(
                keys.documents(&example),
                "{binary} requires {}, which shop.example.toml does not document",
                variable.name
            );
        }
    }
}

#[test]
fn secrets_are_referenced_by_name_and_the_readme_says_how_to_create_each() {
    let readme = std::fs::read_to_string(root().join("k8s/README.md")).expect("k8s/README.md");
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay);
        let problems = secret_problems(&rendered.objects, &readme);
        assert_clean(overlay.name, &problems);
    }
}

#[test]
fn the_probes_ask_the_routes_and_ports_the_binaries_serve() {
    every_overlay_passes(probe_problems);
}

#[test]
fn the_shops_grace_period_outlasts_its_shutdown_deadline() {
    every_overlay_passes(grace_problems);
}

#[test]
fn the_autoscaled_shop_leaves_its_replica_count_to_the_autoscaler() {
    every_overlay_passes(autoscaling_problems);
}

#[test]
fn every_service_selects_pods_and_reaches_one_of_their_ports() {
    every_overlay_passes(service_problems);
}

// ---------------------------------------------------------------------------------------
// The same rules, fed broken manifests: each must be refused, naming what is wrong.

#[test]
fn schema_validation_refuses_an_unknown_field() {
    let mut broken = Rendered::of(PROD);
    object_mut(&mut broken.objects, "Deployment", "shop")["spec"]["replicaz"] = json!(3);
    broken.rewrite();
    let problems = schema_problems(&broken.path);
    assert_refused(&problems, "'replicaz' was unexpected");
}

#[test]
fn checkov_refuses_a_privileged_container() {
    let mut broken = Rendered::of(PROD);
    shop_container(&mut broken.objects)["securityContext"]["privileged"] = json!(true);
    broken.rewrite();
    let config = root().join("k8s/checkov.yaml");
    let report = checkov_report(
        &["--config-file".as_ref(), config.as_os_str()],
        &[&broken.path],
    );
    let problems = checkov_problems(&report);
    // CKV_K8S_16: "Container should not be privileged".
    assert_refused(&problems, "CKV_K8S_16");
    assert_refused(&problems, "Deployment.stepwise-shop.shop");
}

#[test]
fn a_checkov_skip_without_a_reason_is_refused() {
    let (skips, problems) = checkov_skips(
        "framework:\n  - kubernetes\nskip-check:\n  - CKV_K8S_15 # tags are immutable, see \
         release.yml\n  - CKV_K8S_43\n  - CKV_K8S_35 #\n",
    );
    assert_eq!(skips.len(), 3);
    assert_refused(&problems, "CKV_K8S_43 is skipped without a reason");
    assert_refused(&problems, "CKV_K8S_35 is skipped without a reason");
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn an_image_the_workspace_does_not_build_is_refused() {
    let binaries = workspace_binaries();
    let mut broken = objects_of(DEV);
    shop_container(&mut broken)["image"] = json!("ghcr.io/stepwise-shop/step99-nope:dev");
    let problems = image_problems(&broken, &binaries, DEV);
    assert_refused(&problems, "step99-nope, which no workspace package builds");

    shop_container(&mut broken)["image"] = json!("docker.io/library/nginx:1.27");
    let problems = image_problems(&broken, &binaries, DEV);
    assert_refused(&problems, "docker.io/library/nginx:1.27 is neither");
}

#[test]
fn an_untagged_or_latest_image_is_refused() {
    let binaries = workspace_binaries();
    let mut broken = objects_of(PROD);
    shop_container(&mut broken)["image"] = json!("ghcr.io/stepwise-shop/step07-devops");
    assert_refused(
        &image_problems(&broken, &binaries, PROD),
        "step07-devops, which has no tag",
    );
    shop_container(&mut broken)["image"] = json!("ghcr.io/stepwise-shop/step07-devops:latest");
    assert_refused(
        &image_problems(&broken, &binaries, PROD),
        "`latest` names no release",
    );
}

#[test]
fn a_data_store_image_in_prod_is_refused() {
    let binaries = workspace_binaries();
    let mut broken = objects_of(PROD);
    shop_container(&mut broken)["image"] = json!("postgres:15");
    let problems = image_problems(&broken, &binaries, PROD);
    assert_refused(
        &problems,
        "postgres:15 is a data store, which prod does not run",
    );
}

#[test]
fn a_misspelt_app_variable_is_refused() {
    let keys = documented_keys();
    let sim = payment_sim_variables();
    let mut broken = objects_of(DEV);
    let env = shop_container(&mut broken)["env"]
        .as_array_mut()
        .expect("the shop's env");
    let redis = env
        .iter_mut()
        .find(|e| e["name"] == "APP__REDIS__URL")
        .expect("APP__REDIS__URL is set");
    redis["name"] = json!("APP__REDIS__URI");
    let problems = env_problems(&broken, &keys, &sim);
    assert_refused(
        &problems,
        "sets APP__REDIS__URI, which names no key of shop.example.toml (redis.uri)",
    );
    assert_refused(
        &problems,
        "(step07-devops) does not set APP__REDIS__URL, which production requires",
    );
}

#[test]
fn a_misspelt_variable_in_a_config_map_is_refused() {
    let keys = documented_keys();
    let sim = payment_sim_variables();
    let mut broken = objects_of(PROD);
    let config = broken
        .iter_mut()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("shop-config-"))
        })
        .expect("the shop's ConfigMap");
    config["data"]["APP__SERVER__PROT"] = json!("8080");
    let problems = env_problems(&broken, &keys, &sim);
    assert_refused(&problems, "APP__SERVER__PROT, which names no key");
}

#[test]
fn a_secret_written_as_a_literal_value_is_refused() {
    let keys = documented_keys();
    let sim = payment_sim_variables();
    let mut broken = objects_of(PROD);
    let env = shop_container(&mut broken)["env"]
        .as_array_mut()
        .expect("the shop's env");
    let jwt = env
        .iter_mut()
        .find(|e| e["name"] == "APP__AUTH__JWT_SECRET")
        .expect("APP__AUTH__JWT_SECRET is set");
    *jwt = json!({ "name": "APP__AUTH__JWT_SECRET", "value": "0123456789abcdef0123456789abcdef" });
    let problems = env_problems(&broken, &keys, &sim);
    assert_refused(
        &problems,
        "sets APP__AUTH__JWT_SECRET as a literal: a secret comes from a Secret",
    );
}

#[test]
fn a_committed_secret_or_an_undocumented_secret_key_is_refused() {
    let readme = std::fs::read_to_string(root().join("k8s/README.md")).expect("k8s/README.md");
    let mut broken = objects_of(PROD);
    broken.push(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "stepwise-shop", "namespace": "stepwise-shop" },
        "stringData": { "jwt-secret": "committed by mistake" }
    }));
    let env = shop_container(&mut broken)["env"]
        .as_array_mut()
        .expect("the shop's env");
    let jwt = env
        .iter_mut()
        .find(|e| e["name"] == "APP__AUTH__JWT_SECRET")
        .expect("APP__AUTH__JWT_SECRET is set");
    jwt["valueFrom"]["secretKeyRef"]["key"] = json!("jwt-secret-v2");
    let problems = secret_problems(&broken, &readme);
    assert_refused(&problems, "renders Secret/stepwise-shop");
    assert_refused(&problems, "key jwt-secret-v2 of Secret stepwise-shop");
}

#[test]
fn a_probe_on_a_route_the_app_does_not_serve_is_refused() {
    let mut broken = objects_of(DEV);
    shop_container(&mut broken)["readinessProbe"]["httpGet"]["path"] = json!("/nope");
    let problems = probe_problems(&broken);
    assert_refused(&problems, "readinessProbe asks /nope, not /readyz");
}

#[test]
fn a_probe_on_the_wrong_port_or_an_app_listening_on_loopback_is_refused() {
    let mut broken = objects_of(PROD);
    shop_container(&mut broken)["livenessProbe"]["httpGet"]["port"] = json!(9090);
    let problems = probe_problems(&broken);
    assert_refused(&problems, "livenessProbe asks port 9090, not 8080");

    let mut broken = objects_of(PROD);
    let config = broken
        .iter_mut()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("shop-config-"))
        })
        .expect("the shop's ConfigMap");
    config["data"]["APP__SERVER__HOST"] = json!("127.0.0.1");
    let problems = probe_problems(&broken);
    assert_refused(&problems, "APP__SERVER__HOST is \"127.0.0.1\"");
}

#[test]
fn a_payments_probe_off_the_grpc_port_is_refused() {
    let mut broken = objects_of(PROD);
    let payments = container_mut(&mut broken, "Deployment", "payments");
    payments["readinessProbe"] = json!({ "grpc": { "port": 50052 } });
    let problems = probe_problems(&broken);
    assert_refused(&problems, "readinessProbe asks gRPC port 50052, not 50051");
}

#[test]
fn a_grace_period_shorter_than_the_shutdown_deadline_is_refused() {
    let mut broken = objects_of(PROD);
    object_mut(&mut broken, "Deployment", "shop")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] =
        json!(20);
    let problems = grace_problems(&broken);
    assert_refused(&problems, "grace period of 20 s does not outlast");
}

#[test]
fn a_replica_count_beside_an_autoscaler_is_refused() {
    let mut broken = objects_of(PROD);
    object_mut(&mut broken, "Deployment", "shop")["spec"]["replicas"] = json!(3);
    let problems = autoscaling_problems(&broken);
    assert_refused(
        &problems,
        "Deployment/shop sets replicas (3) although HorizontalPodAutoscaler/shop owns the count",
    );
}

#[test]
fn a_service_whose_selector_matches_no_pod_is_refused() {
    let mut broken = objects_of(DEV);
    object_mut(&mut broken, "Service", "payments")["spec"]["selector"] =
        json!({ "app.kubernetes.io/name": "paymnets" });
    let problems = service_problems(&broken);
    assert_refused(&problems, "Service/payments selects no pod");

    let mut broken = objects_of(DEV);
    object_mut(&mut broken, "Service", "shop")["spec"]["ports"][0]["targetPort"] = json!("htttp");
    let problems = service_problems(&broken);
    assert_refused(&problems, "Service/shop port http targets htttp");
}

#[test]
fn the_network_policies_allow_exactly_the_connections_the_configuration_makes() {
    every_overlay_passes(network_problems);
}

#[test]
fn a_missing_path_or_one_too_many_or_no_default_deny_is_refused() {
    let without = |objects: &mut Vec<Value>, name: &str| {
        objects.retain(|o| !(o["kind"] == "NetworkPolicy" && name_of(o) == name));
    };
    let mut broken = objects_of(DEV);
    without(&mut broken, "shop-to-payments");
    assert_refused(
        &network_problems(&broken),
        "Deployment/shop cannot reach Deployment/payments on 50051",
    );

    let mut broken = objects_of(DEV);
    object_mut(&mut broken, "NetworkPolicy", "payments-from-shop")["spec"]["ingress"][0]["from"] =
        json!([{ "podSelector": {} }]);
    // Both ends must allow a connection: the payments service taking calls from any pod, and
    // every pod allowed to send anywhere (what a careless "allow DNS" rule does).
    object_mut(&mut broken, "NetworkPolicy", "allow-dns")["spec"]["egress"] = json!([{}]);
    let problems = network_problems(&broken);
    assert_refused(
        &problems,
        "Deployment/payment-sim may reach Deployment/payments on 50051",
    );

    let mut broken = objects_of(PROD);
    without(&mut broken, "default-deny");
    assert_refused(&network_problems(&broken), "no default-deny NetworkPolicy");
}

#[test]
fn a_machine_without_kubectl_is_told_how_to_get_it() {
    let empty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-kubectl-here");
    std::fs::create_dir_all(&empty).expect("an empty dir");
    let error = kube_tools::kubectl_from(None, Some(empty.as_os_str()))
        .expect_err("no kubectl in an empty dir");
    let message = format!("{error:#}");
    assert!(
        message.contains("kubectl is not on PATH")
            && message.contains("https://kubernetes.io/docs/tasks/tools/")
            && message.contains("set KUBECTL"),
        "{message}"
    );
    let error = kube_tools::kubectl_from(Some(empty.join("kubectl").into()), None)
        .expect_err("KUBECTL names a missing file");
    assert!(
        format!("{error:#}").contains("which is not a file"),
        "{error:#}"
    );
}

#[test]
fn documented_keys_are_read_from_set_and_commented_out_lines_alike() {
    let keys = Keys::parse(
        "environment = \"development\"\n[server]\nport = 8080   # a comment\n\
         # [security.encryption]\n# keys = { k1 = \"base64\" }  # by id\n\
         # [apis.rate_limit]\n# default = { requests = 600, window_secs = 60 }\n\
         # Prose with an = sign is not a key: APP__X=1\n",
    );
    for known in [
        "APP__ENVIRONMENT",
        "APP__SERVER__PORT",
        "APP__SECURITY__ENCRYPTION__KEYS__K1",
        "APP__SECURITY__ENCRYPTION__KEYS__ROTATED",
        "APP__APIS__RATE_LIMIT__DEFAULT__REQUESTS",
    ] {
        assert!(keys.documents(known), "{known} should be documented");
    }
    for unknown in [
        "APP__SERVER__PROT",
        "APP__SECURITY__ENCRYPTION__KEYS",
        "APP__APIS__RATE_LIMIT__DEFAULT__REQEUSTS",
        "APP__X",
        "SERVER__PORT",
    ] {
        assert!(
            !keys.documents(unknown),
            "{unknown} should not be documented"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn root() -> PathBuf {
    testkit::cargo::workspace_root()
}

/// kubernetes-validate's venv python: built once per machine, found once per test process.
fn validator() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        kube_tools::ensure_kubernetes_validate().unwrap_or_else(|error| panic!("{error:#}"))
    })
}

fn checkov_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| kube_tools::ensure_checkov().unwrap_or_else(|error| panic!("{error:#}")))
}

/// An overlay rendered by kustomize into a file of its own (the tools read files), and its
/// objects as JSON. The file is removed when this is dropped.
struct Rendered {
    path: PathBuf,
    objects: Vec<Value>,
}

impl Rendered {
    fn of(overlay: Overlay) -> Self {
        let yaml = kube_tools::kustomize(&root().join("k8s/overlays").join(overlay.name))
            .unwrap_or_else(|error| panic!("{error:#}"));
        let path = scratch_file(overlay.name);
        std::fs::write(&path, yaml).expect("writing the rendered overlay");
        let objects = kube_tools::yaml_documents(validator(), &path)
            .unwrap_or_else(|error| panic!("{error:#}"));
        Self { path, objects }
    }

    /// Writes `objects` back to the file, one JSON document each (JSON is YAML), after a
    /// test changed them.
    fn rewrite(&self) {
        let documents: Vec<String> = self.objects.iter().map(Value::to_string).collect();
        std::fs::write(&self.path, documents.join("\n---\n") + "\n")
            .expect("writing the changed objects");
    }
}

/// An overlay's rendered objects, for a test to break.
fn objects_of(overlay: Overlay) -> Vec<Value> {
    let mut rendered = Rendered::of(overlay);
    std::mem::take(&mut rendered.objects)
}

impl Drop for Rendered {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file name of its own in cargo's temp dir for integration tests: nextest runs each test
/// in its own process, and a test renders several overlays.
fn scratch_file(overlay: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("k8s-{overlay}-{}-{n}.yaml", std::process::id()))
}

fn assert_clean(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

fn assert_refused(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Walking the objects.

/// A pod template (or a pod) and where it is.
struct Pod<'a> {
    /// `Deployment/shop`.
    at: String,
    /// The pod spec: `spec.template.spec`, or a Pod's `spec`.
    spec: &'a Value,
    labels: &'a Value,
    namespace: &'a str,
}

fn pods(objects: &[Value]) -> Vec<Pod<'_>> {
    objects
        .iter()
        .filter_map(|object| {
            let kind = object["kind"].as_str()?;
            let template = match kind {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                    &object["spec"]["template"]
                }
                "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"],
                "Pod" => object,
                _ => return None,
            };
            Some(Pod {
                at: format!("{kind}/{}", name_of(object)),
                spec: &template["spec"],
                labels: &template["metadata"]["labels"],
                namespace: object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default"),
            })
        })
        .collect()
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("<unnamed>")
}

/// A container of a pod, init containers included.
struct Container<'a> {
    /// `Deployment/shop container shop`.
    at: String,
    spec: &'a Value,
    pod: &'a Value,
}

fn containers(objects: &[Value]) -> Vec<Container<'_>> {
    pods(objects)
        .into_iter()
        .flat_map(|pod| {
            ["initContainers", "containers"]
                .into_iter()
                .flat_map(move |list| pod.spec[list].as_array().into_iter().flatten())
                .map(move |container| Container {
                    at: format!(
                        "{} container {}",
                        pod.at,
                        container["name"].as_str().unwrap_or("<unnamed>")
                    ),
                    spec: container,
                    pod: pod.spec,
                })
        })
        .collect()
}

impl Container<'_> {
    /// The workspace binary the container runs, by its image (`ghcr.io/stepwise-shop/X:tag`).
    fn binary(&self) -> Option<&str> {
        let image = self.spec["image"].as_str()?.strip_prefix(REGISTRY)?;
        Some(image.split([':', '@']).next().unwrap_or(image))
    }

    /// `at`, with the binary when there is one: `Deployment/shop container shop
    /// (step07-devops)`.
    fn described(&self) -> String {
        match self.binary() {
            Some(binary) => format!("{} ({binary})", self.at),
            None => self.at.clone(),
        }
    }

    /// The numbers of its declared ports, by name.
    fn ports(&self) -> BTreeMap<String, i64> {
        self.spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|port| {
                let number = port["containerPort"].as_i64()?;
                let name = port["name"].as_str().unwrap_or_default().to_owned();
                Some((name, number))
            })
            .collect()
    }

    /// A probe's or a Service's port (a number, or the name of a declared port) as a number.
    fn port_number(&self, port: &Value) -> Option<i64> {
        match port {
            Value::Number(n) => n.as_i64(),
            Value::String(name) => self.ports().get(name).copied(),
            _ => None,
        }
    }
}

fn object_mut<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
}

fn container_mut<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    &mut object_mut(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]
}

fn shop_container(objects: &mut [Value]) -> &mut Value {
    container_mut(objects, "Deployment", "shop")
}

// ---------------------------------------------------------------------------------------
// Rule: schemas.

/// kubernetes-validate's complaints about the objects in `path` ([`kube_tools::schema_problems`]).
fn schema_problems(path: &Path) -> Vec<String> {
    kube_tools::schema_problems(validator(), path).unwrap_or_else(|e| panic!("{e:#}"))
}

// ---------------------------------------------------------------------------------------
// Rule: checkov.

/// checkov's JSON report on `files`, offline, with `options` added.
fn checkov_report(options: &[&OsStr], files: &[&Path]) -> Value {
    let mut command = kube_tools::checkov(checkov_python());
    command.args(options);
    command.args([
        "--framework",
        "kubernetes",
        "--skip-download",
        "--output",
        "json",
    ]);
    for file in files {
        command.arg("--file").arg(file);
    }
    kube_tools::checkov_report(&mut command).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The checks `k8s/checkov.yaml` skips, each with its reason (`- ID # reason` under
/// `skip-check:`), and a problem for each skip without one.
fn checkov_skips(config: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut skips = BTreeMap::new();
    let mut problems = Vec::new();
    let mut in_skips = false;
    for line in config.lines() {
        if !line.starts_with([' ', '-']) {
            in_skips = line.trim_end() == "skip-check:";
            continue;
        }
        let Some(item) = line.trim().strip_prefix('-').filter(|_| in_skips) else {
            continue;
        };
        let (id, reason) = item.split_once('#').unwrap_or((item, ""));
        let (id, reason) = (id.trim().to_owned(), reason.trim().to_owned());
        if reason.split_whitespace().count() < 3 {
            problems.push(format!(
                "{id} is skipped without a reason: write `- {id} # why it does not apply`"
            ));
        }
        skips.insert(id, reason);
    }
    (skips, problems)
}

// ---------------------------------------------------------------------------------------
// Rule: images.

/// The names of every binary a workspace package builds, asked of cargo.
fn workspace_binaries() -> BTreeSet<String> {
    let output = testkit::cargo::cargo_in(&root())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let binaries: BTreeSet<String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|package| package["targets"].as_array().into_iter().flatten())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect();
    assert!(
        binaries.contains("step07-devops"),
        "cargo metadata lists no step07-devops binary: {binaries:?}"
    );
    binaries
}

fn image_problems(objects: &[Value], binaries: &BTreeSet<String>, overlay: Overlay) -> Vec<String> {
    let mut problems = Vec::new();
    for container in containers(objects) {
        let Some(image) = container.spec["image"].as_str() else {
            problems.push(format!("{} has no image", container.at));
            continue;
        };
        if let Some(rest) = image.strip_prefix(REGISTRY) {
            let (binary, tag) = match rest.split_once(['@', ':']) {
                Some((binary, tag)) => (binary, tag),
                None => (rest, ""),
            };
            if !binaries.contains(binary) {
                problems.push(format!(
                    "{} runs {image}: {binary}, which no workspace package builds (cargo \
                     metadata lists {binaries:?})",
                    container.at
                ));
            }
            if tag.is_empty() {
                problems.push(format!(
                    "{} runs {image}, which has no tag: the overlay sets one (`images:`)",
                    container.at
                ));
            } else if tag == "latest" {
                problems.push(format!(
                    "{} runs {image}: `latest` names no release, so a restart may run \
                     another build",
                    container.at
                ));
            }
        } else if DATA_STORE_IMAGES.contains(&image) {
            if !overlay.data_stores_in_cluster {
                problems.push(format!(
                    "{} runs {image}: {image} is a data store, which prod does not run (it \
                     uses managed endpoints)",
                    container.at
                ));
            }
        } else {
            problems.push(format!(
                "{} runs {image}: {image} is neither {REGISTRY}<a workspace binary>:<tag> nor \
                 one of the data-store images {DATA_STORE_IMAGES:?}",
                container.at
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: environment variables.

/// The configuration keys `shop.example.toml` documents (`cargo xtask tidy` checks the file
/// against the code), read as tidy reads them: `key = value` lines under `[section]` headers,
/// set or commented out alike.
struct Keys {
    /// `server.port`, `apis.rate_limit.default.requests`, ...
    plain: BTreeSet<String>,
    /// Keys whose value is a map of the user's own keys (an inline table of strings:
    /// `security.encryption.keys = { k1 = "..." }`): any one key below them is documented.
    maps: BTreeSet<String>,
}

fn documented_keys() -> Keys {
    let text =
        std::fs::read_to_string(root().join("shop.example.toml")).expect("shop.example.toml");
    let keys = Keys::parse(&text);
    assert!(
        keys.plain.contains("server.port") && keys.maps.contains("security.encryption.keys"),
        "shop.example.toml parsed into too little: {:?} {:?}",
        keys.plain,
        keys.maps
    );
    keys
}

impl Keys {
    fn parse(text: &str) -> Self {
        let mut keys = Keys {
            plain: BTreeSet::new(),
            maps: BTreeSet::new(),
        };
        let mut section = String::new();
        for line in text.lines() {
            let body = without_comment(line.trim().trim_start_matches('#').trim());
            if let Some(name) = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
                if name.split('.').all(is_key_name) {
                    section = name.to_owned();
                }
                continue;
            }
            let Some((name, value)) = body.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if !is_key_name(name) || value.is_empty() {
                continue;
            }
            let key = if section.is_empty() {
                name.to_owned()
            } else {
                format!("{section}.{name}")
            };
            match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some(inner) => {
                    let entries: Vec<(&str, &str)> = inner
                        .split(',')
                        .filter_map(|entry| entry.split_once('='))
                        .map(|(k, v)| (k.trim(), v.trim()))
                        .collect();
                    if entries.iter().all(|(_, v)| v.starts_with('"')) {
                        keys.maps.insert(key);
                    } else {
                        for (inner_name, _) in entries {
                            keys.plain.insert(format!("{key}.{inner_name}"));
                        }
                    }
                }
                None => {
                    keys.plain.insert(key);
                }
            }
        }
        keys
    }

    /// Whether the variable `APP__SECTION__KEY` names a documented key (figment splits it at
    /// `__` and lowercases it: `section.key`).
    fn documents(&self, variable: &str) -> bool {
        let Some(rest) = variable.strip_prefix("APP__") else {
            return false;
        };
        let key = rest
            .split("__")
            .collect::<Vec<_>>()
            .join(".")
            .to_lowercase();
        self.plain.contains(&key)
            || self.maps.iter().any(|map| {
                key.strip_prefix(map.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|entry| !entry.is_empty() && !entry.contains('.'))
            })
    }
}

/// `body` without a trailing `# comment` outside quotes.
fn without_comment(body: &str) -> &str {
    let mut quoted = false;
    for (at, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return body[..at].trim(),
            _ => {}
        }
    }
    body
}

fn is_key_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The variables the payment simulator reads: its clap arguments' `env = "..."`.
fn payment_sim_variables() -> BTreeSet<String> {
    let main = std::fs::read_to_string(root().join("payment-sim/src/main.rs"))
        .expect("payment-sim/src/main.rs");
    let variables: BTreeSet<String> = main
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    assert!(
        variables.contains("PAYMENT_SIM_PORT"),
        "no PAYMENT_SIM_PORT among payment-sim's variables: {variables:?}"
    );
    variables
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Written in the manifests: `value:`, or a key of a rendered ConfigMap.
    Literal(String),
    /// A key of a Secret, which exists only in the cluster.
    Secret { name: String, key: String },
    /// Anything else (the downward API, a resource field).
    Other,
}

/// A container's variables, `envFrom` ConfigMaps resolved against the rendered objects;
/// `env` wins over `envFrom`, as in Kubernetes. What cannot be resolved is a problem.
fn environment(
    container: &Container<'_>,
    objects: &[Value],
    problems: &mut Vec<String>,
) -> BTreeMap<String, Source> {
    let config_map = |name: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
    };
    let mut variables = BTreeMap::new();
    for from in container.spec["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        if let Some(name) = from["configMapRef"]["name"].as_str() {
            match config_map(name) {
                Some(map) => {
                    for (key, value) in map["data"].as_object().into_iter().flatten() {
                        let value = value.as_str().unwrap_or_default().to_owned();
                        variables.insert(format!("{prefix}{key}"), Source::Literal(value));
                    }
                }
                None => problems.push(format!(
                    "{} takes its environment from ConfigMap {name}, which the overlay does \
                     not render",
                    container.at
                )),
            }
        }
        if let Some(name) = from["secretRef"]["name"].as_str() {
            problems.push(format!(
                "{} takes every key of Secret {name} as a variable: name each one \
                 (`valueFrom.secretKeyRef`), so the manifests show what is set",
                container.at
            ));
        }
    }
    for entry in container.spec["env"].as_array().into_iter().flatten() {
        let Some(name) = entry["name"].as_str() else {
            continue;
        };
        let source = if let Some(value) = entry["value"].as_str() {
            Source::Literal(value.to_owned())
        } else if let Some(reference) = entry["valueFrom"]["secretKeyRef"].as_object() {
            let text = |field: &str| reference[field].as_str().unwrap_or_default().to_owned();
            Source::Secret {
                name: text("name"),
                key: text("key"),
            }
        } else if let Some(reference) = entry["valueFrom"]["configMapKeyRef"].as_object() {
            let (map, key) = (&reference["name"], &reference["key"]);
            match config_map(map.as_str().unwrap_or_default())
                .map(|m| &m["data"][key.as_str().unwrap_or_default()])
            {
                Some(Value::String(value)) => Source::Literal(value.clone()),
                _ => {
                    problems.push(format!(
                        "{} takes {name} from key {key} of ConfigMap {map}, which the overlay \
                         does not render",
                        container.at
                    ));
                    Source::Other
                }
            }
        } else {
            Source::Other
        };
        variables.insert(name.to_owned(), source);
    }
    variables
}

fn env_problems(objects: &[Value], keys: &Keys, sim: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for container in containers(objects) {
        let variables = environment(&container, objects, &mut problems);
        for name in variables.keys() {
            if name.starts_with("APP__") && !keys.documents(name) {
                let key = name["APP__".len()..].replace("__", ".").to_lowercase();
                problems.push(format!(
                    "{} sets {name}, which names no key of shop.example.toml ({key}): a \
                     misspelt key is ignored, not reported, by the app",
                    container.at
                ));
            }
            if name.starts_with("PAYMENT_SIM_") && !sim.contains(name) {
                problems.push(format!(
                    "{} sets {name}, which payment-sim does not read (it reads {sim:?})",
                    container.at
                ));
            }
        }
        let Some(binary) = container.binary() else {
            continue;
        };
        let required = REQUIRED
            .iter()
            .find(|(b, _)| *b == binary)
            .map_or(&[][..], |(_, r)| *r);
        for variable in required {
            let set: Vec<(&String, &Source)> = match variable.name.strip_suffix('*') {
                Some(prefix) => variables
                    .iter()
                    .filter(|(name, _)| name.len() > prefix.len() && name.starts_with(prefix))
                    .collect(),
                None => variables.get_key_value(variable.name).into_iter().collect(),
            };
            if set.is_empty() {
                problems.push(format!(
                    "{} does not set {}, which production requires",
                    container.described(),
                    variable.name
                ));
            }
            for (name, source) in set {
                if variable.secret && !matches!(source, Source::Secret { .. }) {
                    problems.push(format!(
                        "{} sets {name} as a literal: a secret comes from a Secret \
                         (`valueFrom.secretKeyRef`), never from the repository",
                        container.described()
                    ));
                }
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: secrets.

/// No Secret is rendered (their values are never in the repository), and every Secret the
/// manifests reference, by name and key, is one `k8s/README.md` says how to create
/// (`kubectl create secret generic NAME ... --from-literal=KEY=...`, or `kubectl create
/// secret tls NAME`).
fn secret_problems(objects: &[Value], readme: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for object in objects.iter().filter(|o| o["kind"] == "Secret") {
        problems.push(format!(
            "the overlay renders Secret/{}: a secret's values are created in the cluster \
             (k8s/README.md), never committed",
            name_of(object)
        ));
    }
    let created: BTreeSet<&str> = readme
        .split("kubectl")
        .filter_map(|command| {
            let rest = command.split("create secret ").nth(1)?;
            rest.split_whitespace().nth(1)
        })
        .collect();
    let literal_keys: BTreeSet<&str> = readme
        .split("--from-literal=")
        .skip(1)
        .filter_map(|rest| rest.split('=').next())
        .collect();
    let unknown = |name: &str, at: &str| {
        (!created.contains(name)).then(|| {
            format!(
                "{at} uses Secret {name}, which k8s/README.md does not say how to create \
                 (`kubectl create secret ... {name}`)"
            )
        })
    };
    for container in containers(objects) {
        let mut ignored = Vec::new();
        for source in environment(&container, objects, &mut ignored).into_values() {
            if let Source::Secret { name, key } = source {
                problems.extend(unknown(&name, &container.at));
                if !literal_keys.contains(key.as_str()) {
                    problems.push(format!(
                        "{} uses key {key} of Secret {name}, which k8s/README.md's `kubectl \
                         create secret generic` does not create (`--from-literal={key}=...`)",
                        container.at
                    ));
                }
            }
        }
    }
    for ingress in objects.iter().filter(|o| o["kind"] == "Ingress") {
        for tls in ingress["spec"]["tls"].as_array().into_iter().flatten() {
            if let Some(name) = tls["secretName"].as_str() {
                problems.extend(unknown(name, &format!("Ingress/{}", name_of(ingress))));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: probes and ports.

/// The literal value of `name` in a container's environment, when it has one.
fn literal<'a>(variables: &'a BTreeMap<String, Source>, name: &str) -> Option<&'a str> {
    match variables.get(name) {
        Some(Source::Literal(value)) => Some(value),
        _ => None,
    }
}

/// The shop (step07-devops) listens on 0.0.0.0:APP__SERVER__PORT, a declared port, and its
/// startup and liveness probes ask [`LIVENESS`], its readiness probe [`READINESS`], there;
/// the payments service (step02-payments) listens on 0.0.0.0:port (APP__APIS__PAYMENTS__LISTEN)
/// and is probed by gRPC there; the simulator listens on 0.0.0.0:PAYMENT_SIM_PORT and is
/// probed on its health route. Every other container has liveness and readiness probes.
fn probe_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for container in containers(objects) {
        let at = container.described();
        let variables = environment(&container, objects, &mut problems);
        let declared: BTreeSet<i64> = container.ports().into_values().collect();
        let mut listens = |host: Option<&str>, port: Option<&str>, vars: [&str; 2]| {
            listening_port(&at, &declared, host, port, vars, &mut problems)
        };
        let wanted: Vec<(&str, Expect)> = match container.binary() {
            Some("step07-devops") => {
                let Some(port) = listens(
                    literal(&variables, "APP__SERVER__HOST"),
                    literal(&variables, "APP__SERVER__PORT"),
                    ["APP__SERVER__HOST", "APP__SERVER__PORT"],
                ) else {
                    continue;
                };
                vec![
                    ("startupProbe", Expect::Http(LIVENESS, port)),
                    ("livenessProbe", Expect::Http(LIVENESS, port)),
                    ("readinessProbe", Expect::Http(READINESS, port)),
                ]
            }
            Some("step02-payments") => {
                let listen = literal(&variables, "APP__APIS__PAYMENTS__LISTEN");
                let (host, port) = match listen.and_then(|l| l.rsplit_once(':')) {
                    Some((host, port)) => (Some(host), Some(port)),
                    None => (listen, None),
                };
                let vars = [
                    "APP__APIS__PAYMENTS__LISTEN's host",
                    "APP__APIS__PAYMENTS__LISTEN's port",
                ];
                let Some(port) = listens(host, port, vars) else {
                    continue;
                };
                vec![
                    ("startupProbe", Expect::Grpc(port)),
                    ("livenessProbe", Expect::Grpc(port)),
                    ("readinessProbe", Expect::Grpc(port)),
                ]
            }
            Some("payment-sim") => {
                let Some(port) = listens(
                    literal(&variables, "PAYMENT_SIM_HOST"),
                    literal(&variables, "PAYMENT_SIM_PORT"),
                    ["PAYMENT_SIM_HOST", "PAYMENT_SIM_PORT"],
                ) else {
                    continue;
                };
                vec![
                    ("livenessProbe", Expect::Http(PAYMENT_SIM_HEALTH, port)),
                    ("readinessProbe", Expect::Http(PAYMENT_SIM_HEALTH, port)),
                ]
            }
            _ => vec![
                ("livenessProbe", Expect::Any),
                ("readinessProbe", Expect::Any),
            ],
        };
        for (name, expect) in wanted {
            let probe = &container.spec[name];
            if !probe.is_object() {
                problems.push(format!("{at} has no {name}"));
                continue;
            }
            match expect {
                Expect::Any => {}
                Expect::Http(path, port) => {
                    let asked = probe["httpGet"]["path"].as_str();
                    if asked != Some(path) {
                        problems.push(format!(
                            "{at}: its {name} asks {}, not {path}",
                            asked.unwrap_or("no HTTP path")
                        ));
                    }
                    match container.port_number(&probe["httpGet"]["port"]) {
                        Some(asked) if asked == port => {}
                        asked => problems.push(format!(
                            "{at}: its {name} asks port {}, not {port}",
                            asked.map_or(probe["httpGet"]["port"].to_string(), |p| p.to_string())
                        )),
                    }
                }
                Expect::Grpc(port) => match probe["grpc"]["port"].as_i64() {
                    Some(asked) if asked == port => {}
                    asked => problems.push(format!(
                        "{at}: its {name} asks gRPC port {}, not {port}",
                        asked.map_or("none".to_owned(), |p| p.to_string())
                    )),
                },
            }
        }
    }
    problems
}

/// The port a binary listens on, when it listens on every interface (`host` is 0.0.0.0) and
/// on one of its container's declared ports; else a problem. `vars` name the two settings.
fn listening_port(
    at: &str,
    declared: &BTreeSet<i64>,
    host: Option<&str>,
    port: Option<&str>,
    [host_var, port_var]: [&str; 2],
    problems: &mut Vec<String>,
) -> Option<i64> {
    let shown = |value: Option<&str>| value.map_or("unset".to_owned(), |v| format!("{v:?}"));
    if host != Some("0.0.0.0") {
        problems.push(format!(
            "{at}: {host_var} is {}, so nothing outside the pod (probes, the Service) reaches \
             it; set 0.0.0.0",
            shown(host)
        ));
    }
    let number = port.and_then(|p| p.parse::<i64>().ok());
    if !number.is_some_and(|n| declared.contains(&n)) {
        problems.push(format!(
            "{at}: {port_var} is {}, which is none of its declared ports {declared:?}",
            shown(port)
        ));
    }
    number
}

/// What a probe must ask.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An HTTP GET of this path on this port.
    Http(&'static str, i64),
    /// The gRPC health service on this port.
    Grpc(i64),
    /// Anything: the probe must exist.
    Any,
}

// ---------------------------------------------------------------------------------------
// Rule: the grace period.

/// Kubernetes kills a pod `terminationGracePeriodSeconds` (default 30) after SIGTERM; the
/// shop is done `shutdown.deadline_ms` after it (APP__SHUTDOWN__DEADLINE_MS, else step 7's
/// default). The first must be longer, or a drain that runs its full course is cut short.
fn grace_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for container in containers(objects) {
        if container.binary() != Some("step07-devops") {
            continue;
        }
        let variables = environment(&container, objects, &mut problems);
        let deadline_ms = literal(&variables, "APP__SHUTDOWN__DEADLINE_MS")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(ShutdownConfig::default().deadline_ms);
        let grace_s = container.pod["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30);
        if grace_s * 1000 <= deadline_ms {
            problems.push(format!(
                "{}: its grace period of {grace_s} s does not outlast the shutdown deadline \
                 of {deadline_ms} ms, so SIGKILL may cut a drain short",
                container.at
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: autoscaling.

/// Every HorizontalPodAutoscaler scales a workload the overlay renders, and that workload sets
/// no `replicas`: written there, each `kubectl apply` would reset the count the HPA chose.
fn autoscaling_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for hpa in objects
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
    {
        let target = &hpa["spec"]["scaleTargetRef"];
        let scaled = objects
            .iter()
            .find(|o| o["kind"] == target["kind"] && o["metadata"]["name"] == target["name"]);
        match scaled {
            None => problems.push(format!(
                "HorizontalPodAutoscaler/{} scales {}/{}, which the overlay does not render",
                name_of(hpa),
                target["kind"].as_str().unwrap_or("?"),
                target["name"].as_str().unwrap_or("?")
            )),
            Some(workload) if !workload["spec"]["replicas"].is_null() => problems.push(format!(
                "{}/{} sets replicas ({}) although HorizontalPodAutoscaler/{} owns the count: \
                 every apply would reset it",
                workload["kind"].as_str().unwrap_or("?"),
                name_of(workload),
                workload["spec"]["replicas"],
                name_of(hpa)
            )),
            Some(_) => {}
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: Services.

/// Every Service with a selector selects the pods of some workload, and each of its ports
/// targets a port those pods declare (by name or number).
fn service_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let pods = pods(objects);
    let all = containers(objects);
    for service in objects.iter().filter(|o| o["kind"] == "Service") {
        let Some(selector) = service["spec"]["selector"].as_object() else {
            continue;
        };
        let name = name_of(service);
        let selected: Vec<&Pod<'_>> = pods
            .iter()
            .filter(|pod| selector.iter().all(|(k, v)| &pod.labels[k] == v))
            .collect();
        if selected.is_empty() {
            problems.push(format!(
                "Service/{name} selects no pod: no workload's template has the labels \
                 {selector:?}"
            ));
            continue;
        }
        for port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            let reached = all.iter().any(|container| {
                selected
                    .iter()
                    .any(|pod| std::ptr::eq(pod.spec, container.pod))
                    && match target {
                        Value::String(name) => container.ports().contains_key(name),
                        number => container.ports().values().any(|p| number == &json!(p)),
                    }
            });
            if !reached {
                problems.push(format!(
                    "Service/{name} port {} targets {}, which no pod it selects declares",
                    port["name"].as_str().unwrap_or("<unnamed>"),
                    target.as_str().map_or(target.to_string(), str::to_owned)
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: network policies.

/// The ingress controller's namespace, the only way in from outside the cluster.
const INGRESS_NAMESPACE: &str = "ingress-nginx";

/// One end of a connection: a pod template of the overlay, or a pod outside its namespace
/// (the ingress controller, the cluster's DNS).
struct Peer<'a> {
    at: String,
    labels: Value,
    /// Its namespace's labels (`kubernetes.io/metadata.name`, which Kubernetes sets on every
    /// namespace).
    namespace: Value,
    /// Whether the overlay's policies govern it (it is in the overlay's namespace).
    inside: bool,
    /// Its declared ports, by name (what a policy's named port and a Service's targetPort
    /// resolve against).
    ports: BTreeMap<String, i64>,
    /// Its pod spec, to tell which containers are its own.
    spec: Option<&'a Value>,
}

fn namespace_labels(name: &str) -> Value {
    json!({ "kubernetes.io/metadata.name": name })
}

fn inside_peers(objects: &[Value]) -> Vec<Peer<'_>> {
    let all = containers(objects);
    pods(objects)
        .into_iter()
        .map(|pod| {
            let ports = all
                .iter()
                .filter(|c| std::ptr::eq(c.pod, pod.spec))
                .flat_map(Container::ports)
                .collect();
            Peer {
                at: pod.at,
                labels: pod.labels.clone(),
                namespace: namespace_labels(pod.namespace),
                inside: true,
                ports,
                spec: Some(pod.spec),
            }
        })
        .collect()
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`; `{}` selects
/// everything.
fn selects(selector: &Value, labels: &Value) -> bool {
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| &labels[key] == value);
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|expression| {
            let key = expression["key"].as_str().unwrap_or_default();
            let values: Vec<&Value> = expression["values"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let present = !labels[key].is_null();
            match expression["operator"].as_str() {
                Some("In") => values.contains(&&labels[key]),
                Some("NotIn") => !values.contains(&&labels[key]),
                Some("Exists") => present,
                Some("DoesNotExist") => !present,
                _ => false,
            }
        });
    selector.is_object() && by_labels && by_expressions
}

/// Whether one `from`/`to` entry of a rule names `peer`. An `ipBlock` names no pod here: pod
/// addresses are private, and prod's blocks are a private subnet outside the cluster or the
/// internet without the private ranges.
fn names_peer(entry: &Value, peer: &Peer<'_>, own_namespace: &Value) -> bool {
    if !entry["ipBlock"].is_null() {
        return false;
    }
    let pods = &entry["podSelector"];
    match &entry["namespaceSelector"] {
        Value::Null => peer.namespace == *own_namespace && selects(pods, &peer.labels),
        namespaces => {
            selects(namespaces, &peer.namespace) && (pods.is_null() || selects(pods, &peer.labels))
        }
    }
}

/// Whether a rule's `ports` admit TCP `port` of `target` (no `ports`: every port).
fn admits_port(ports: &Value, port: i64, target: &Peer<'_>) -> bool {
    let Some(ports) = ports.as_array().filter(|p| !p.is_empty()) else {
        return true;
    };
    ports.iter().any(|rule| {
        let tcp = rule["protocol"].as_str().unwrap_or("TCP") == "TCP";
        let number = match &rule["port"] {
            Value::Null => return tcp,
            Value::String(name) => target.ports.get(name).copied(),
            other => other.as_i64(),
        };
        tcp && number == Some(port)
    })
}

/// Whether the overlay's policies let `from` open a TCP connection to `to` on `port`: both
/// `from`'s egress and `to`'s ingress must allow it, where a pod that no policy of that
/// direction selects is not isolated in it (Kubernetes' rules).
fn allowed(policies: &[&Value], from: &Peer<'_>, to: &Peer<'_>, port: i64) -> bool {
    let side = |pod: &Peer<'_>, direction: &str, rules: &str, peers: &str, other: &Peer<'_>| {
        if !pod.inside {
            return true;
        }
        let governing: Vec<&&Value> = policies
            .iter()
            .filter(|p| {
                p["metadata"]["namespace"]
                    .as_str()
                    .is_none_or(|ns| pod.namespace == namespace_labels(ns))
                    && selects(&p["spec"]["podSelector"], &pod.labels)
                    && policy_types(p).contains(&direction)
            })
            .collect();
        governing.is_empty()
            || governing.iter().any(|policy| {
                let own = namespace_labels(
                    policy["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("default"),
                );
                policy["spec"][rules]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        let peer_ok = match rule[peers].as_array() {
                            None => true,
                            Some(entries) if entries.is_empty() => true,
                            Some(entries) => entries.iter().any(|e| names_peer(e, other, &own)),
                        };
                        peer_ok && admits_port(&rule["ports"], port, to)
                    })
            })
    };
    side(from, "Egress", "egress", "to", to) && side(to, "Ingress", "ingress", "from", from)
}

/// A policy's `policyTypes`, or what Kubernetes assumes without them (Ingress, and Egress
/// when it has egress rules).
fn policy_types(policy: &Value) -> Vec<&str> {
    match policy["spec"]["policyTypes"].as_array() {
        Some(types) => types.iter().filter_map(Value::as_str).collect(),
        None if policy["spec"]["egress"].is_array() => vec!["Ingress", "Egress"],
        None => vec!["Ingress"],
    }
}

/// `host` and `port` of a URL (`http://payments:50051`, `postgres://u:p@postgres:5432/shop`).
fn host_and_port(url: &str) -> Option<(&str, i64)> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// The pods a Service sends to, and the pod port its `port` lands on.
fn service_target<'p>(
    objects: &[Value],
    peers: &'p [Peer<'_>],
    service: &str,
    port: i64,
) -> Option<(Vec<&'p Peer<'p>>, i64)> {
    let service = objects
        .iter()
        .find(|o| o["kind"] == "Service" && name_of(o) == service)?;
    let selector = json!({ "matchLabels": service["spec"]["selector"] });
    let port_spec = service["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["port"].as_i64() == Some(port))?;
    let selected: Vec<&Peer<'_>> = peers
        .iter()
        .filter(|p| selects(&selector, &p.labels))
        .collect();
    let target = match &port_spec["targetPort"] {
        Value::Null => port,
        Value::String(name) => selected.iter().find_map(|p| p.ports.get(name).copied())?,
        number => number.as_i64()?,
    };
    Some((selected, target))
}

/// The network policies allow exactly the connections the overlay's configuration makes, and
/// no other between its pods: the ingress controller to each Ingress backend; each container
/// to every Service its settings name by URL (`APP__APIS__PAYMENTS__URL`,
/// `APP__PAYMENTS__BASE_URL`); the shop to every data store the overlay runs (their URLs are
/// in the Secret, so not readable here); every pod to the cluster's DNS. A default-deny
/// policy covers every pod, so whatever is not allowed is denied, to the outside too.
fn network_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .collect();
    let default_deny = policies.iter().any(|p| {
        p["spec"]["podSelector"] == json!({})
            && policy_types(p).contains(&"Ingress")
            && policy_types(p).contains(&"Egress")
            && p["spec"]["ingress"].is_null()
            && p["spec"]["egress"].is_null()
    });
    if !default_deny {
        problems.push(
            "no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no \
             rules): a path nobody wrote down is open"
                .to_owned(),
        );
    }
    let peers = inside_peers(objects);
    let controller = Peer {
        at: format!("the ingress controller (namespace {INGRESS_NAMESPACE})"),
        labels: json!({}),
        namespace: namespace_labels(INGRESS_NAMESPACE),
        inside: false,
        ports: BTreeMap::new(),
        spec: None,
    };
    let dns = Peer {
        at: "kube-dns".to_owned(),
        labels: json!({ "k8s-app": "kube-dns" }),
        namespace: namespace_labels("kube-system"),
        inside: false,
        ports: BTreeMap::new(),
        spec: None,
    };

    // (client, server, port) the configuration needs.
    let mut needed: BTreeSet<(String, String, i64)> = BTreeSet::new();
    let mut need = |from: &Peer<'_>, to: &Peer<'_>, port: i64| {
        needed.insert((from.at.clone(), to.at.clone(), port));
    };
    for ingress in objects.iter().filter(|o| o["kind"] == "Ingress") {
        for rule in ingress["spec"]["rules"].as_array().into_iter().flatten() {
            for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                let backend = &path["backend"]["service"];
                let port = match &backend["port"]["number"] {
                    Value::Null => objects
                        .iter()
                        .find(|o| {
                            o["kind"] == "Service" && o["metadata"]["name"] == backend["name"]
                        })
                        .and_then(|s| {
                            s["spec"]["ports"]
                                .as_array()?
                                .iter()
                                .find(|p| p["name"] == backend["port"]["name"])
                        })
                        .and_then(|p| p["port"].as_i64()),
                    number => number.as_i64(),
                };
                let target = port.and_then(|port| {
                    service_target(objects, &peers, backend["name"].as_str()?, port)
                });
                for server in target
                    .iter()
                    .flat_map(|(servers, port)| servers.iter().map(move |s| (s, *port)))
                {
                    need(&controller, server.0, server.1);
                }
            }
        }
    }
    for container in containers(objects) {
        let Some(client) = peers
            .iter()
            .find(|p| p.spec.is_some_and(|s| std::ptr::eq(s, container.pod)))
        else {
            continue;
        };
        let mut ignored = Vec::new();
        for source in environment(&container, objects, &mut ignored).into_values() {
            let Source::Literal(value) = source else {
                continue;
            };
            let Some((host, port)) = host_and_port(&value) else {
                continue;
            };
            if let Some((servers, target)) = service_target(objects, &peers, host, port) {
                for server in servers {
                    need(client, server, target);
                }
            }
        }
        if container.binary() == Some("step07-devops") {
            for store in objects.iter().filter(|o| o["kind"] == "StatefulSet") {
                let service = store["spec"]["serviceName"].as_str().unwrap_or_default();
                let ports: Vec<i64> = objects
                    .iter()
                    .find(|o| o["kind"] == "Service" && name_of(o) == service)
                    .into_iter()
                    .flat_map(|s| s["spec"]["ports"].as_array().into_iter().flatten())
                    .filter_map(|p| p["port"].as_i64())
                    .collect();
                for port in ports {
                    if let Some((servers, target)) = service_target(objects, &peers, service, port)
                    {
                        for server in servers {
                            need(client, server, target);
                        }
                    }
                }
            }
        }
    }

    let clients: Vec<&Peer<'_>> = std::iter::once(&controller).chain(peers.iter()).collect();
    for from in &clients {
        for to in &peers {
            if std::ptr::eq(*from, to) {
                continue;
            }
            for &port in to.ports.values().collect::<BTreeSet<_>>() {
                let needs = needed.contains(&(from.at.clone(), to.at.clone(), port));
                match (needs, allowed(&policies, from, to, port)) {
                    (true, false) => problems.push(format!(
                        "{} cannot reach {} on {port}, which the configuration uses: allow it \
                         (egress of the one, ingress of the other)",
                        from.at, to.at
                    )),
                    (false, true) => problems.push(format!(
                        "{} may reach {} on {port}, which no configuration uses: narrow the \
                         policies",
                        from.at, to.at
                    )),
                    _ => {}
                }
            }
        }
    }
    for pod in &peers {
        if !allowed(&policies, pod, &dns, 53) {
            problems.push(format!(
                "{} cannot ask the cluster's DNS (kube-dns, 53)",
                pod.at
            ));
        }
    }
    if needed.is_empty() {
        problems.push("the configuration names no connection at all: is it read?".to_owned());
    }
    problems
}

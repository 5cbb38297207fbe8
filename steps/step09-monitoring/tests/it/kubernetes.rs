//! Step 9 on Kubernetes: the kustomize Component `k8s/monitoring`, rendered on top of each
//! overlay through the overlays that include it (`k8s/overlays/dev-monitoring`,
//! `k8s/overlays/prod-monitoring`). Checked offline, as step 7's manifests tests check the
//! overlays themselves:
//!
//! - the Component runs step09-monitoring with the tag the environment's overlay gives the
//!   shop (`dev`, the release's version), and changes nothing else of that overlay but the
//!   shop's `metrics` port on its Deployment and Service, adding its NetworkPolicy, the
//!   ServiceMonitor and the PrometheusRule; the overlays without it stay step 7's (no port
//!   9464 anywhere, no monitoring objects);
//! - the ServiceMonitor, in the overlay's namespace, selects exactly the shop's Service and
//!   scrapes its port `metrics` (the admin listener's default port, not moved by any
//!   variable) every 10 s as job `shop`;
//! - the PrometheusRule holds exactly the groups of `docker/monitoring/prometheus/rules/*.yml`,
//!   and is what `k8s/monitoring/generate.py` writes from them;
//! - only the monitoring namespace's Prometheus may reach the metrics port, whatever policy
//!   of the rendered overlay selects the shop's pods; and a policy opening it to anyone else,
//!   or none opening it, is refused;
//! - the rendered objects validate strictly against Kubernetes 1.30's schemas
//!   (kubernetes-validate) and checkov finds nothing beyond `k8s/checkov.yaml`'s skips.
//!
//! `kubectl kustomize` renders; the YAML is read as JSON through the PyYAML of
//! kubernetes-validate's venv (`provision::kube_tools`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use step09_monitoring::config::MetricsConfig;
use testkit::services::kube_tools::{self, checkov_problems};

/// One environment: the step-7 overlay, the overlay that adds the Component to it, and the
/// namespace both deploy to.
#[derive(Debug, Clone, Copy)]
struct Overlay {
    plain: &'static str,
    monitored: &'static str,
    namespace: &'static str,
}

const OVERLAYS: [Overlay; 2] = [
    Overlay {
        plain: "dev",
        monitored: "dev-monitoring",
        namespace: "stepwise-shop-dev",
    },
    Overlay {
        plain: "prod",
        monitored: "prod-monitoring",
        namespace: "stepwise-shop",
    },
];

/// Step 7's image, which the base deploys, and step 9's, which the Component puts instead.
const STEP7_IMAGE: &str = "ghcr.io/stepwise-shop/step07-devops";
const STEP9_IMAGE: &str = "ghcr.io/stepwise-shop/step09-monitoring";

/// Where Prometheus Operator's Prometheus runs, and how its pods are labelled.
const MONITORING_NAMESPACE: &str = "monitoring";
const PROMETHEUS_POD: (&str, &str) = ("app.kubernetes.io/name", "prometheus");

/// The objects the Component adds, by kind and name; it changes two more (the shop's
/// Deployment and Service) and nothing else.
const ADDED: [(&str, &str); 3] = [
    ("NetworkPolicy", "shop-metrics-from-prometheus"),
    ("ServiceMonitor", "shop"),
    ("PrometheusRule", "shop"),
];

/// Prometheus Operator's API group: its kinds have no schema in kubernetes-validate.
const OPERATOR_API: &str = "monitoring.coreos.com/v1";

// ---------------------------------------------------------------------------------------
// The PrometheusRule.

#[test]
fn the_prometheus_rule_is_what_generate_py_makes_from_the_rule_files() {
    let out = scratch("prometheusrule");
    let status = Command::new("python3")
        .arg(root().join("k8s/monitoring/generate.py"))
        .arg(&out)
        .status()
        .expect("python3 runs (apt-get install -y python3)");
    assert!(status.success(), "k8s/monitoring/generate.py failed");
    let generated = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed =
        std::fs::read_to_string(root().join("k8s/monitoring/prometheusrule.yaml")).unwrap();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |n| format!("first difference at line {}", n + 1),
            );
        panic!(
            "k8s/monitoring/prometheusrule.yaml is not what k8s/monitoring/generate.py makes from \
             docker/monitoring/prometheus/rules/*.yml ({line}). Change the rule files, never the \
             PrometheusRule, and regenerate from the repository root with:\n  python3 \
             k8s/monitoring/generate.py"
        );
    }
}

#[test]
fn the_prometheus_rule_holds_exactly_the_rule_files_groups_in_each_overlays_namespace() {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(root().join("docker/monitoring/prometheus/rules"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml"))
            .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files");
    let mut groups = Vec::new();
    for file in &files {
        let documents = yaml(file);
        let [document] = &documents[..] else {
            panic!(
                "{}: one YAML document, not {}",
                file.display(),
                documents.len()
            );
        };
        groups.extend(document["groups"].as_array().cloned().unwrap_or_default());
    }
    assert!(!groups.is_empty());
    let groups = Value::Array(groups);

    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay.monitored);
        let rule = one_of(&rendered.objects, "PrometheusRule");
        assert_eq!(rule["apiVersion"], OPERATOR_API);
        assert_eq!(rule["metadata"]["namespace"], overlay.namespace);
        // What kube-prometheus-stack's default ruleSelector asks of a PrometheusRule.
        assert!(
            rule["metadata"]["labels"]["release"].is_string(),
            "{}: the PrometheusRule has no `release` label",
            overlay.monitored
        );
        let names = |groups: &Value| -> Vec<Value> {
            groups
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| g["name"].clone())
                .collect()
        };
        assert_eq!(
            names(&rule["spec"]["groups"]),
            names(&groups),
            "{}: the PrometheusRule's groups are not those of {files:?}",
            overlay.monitored
        );
        for (theirs, ours) in rule["spec"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .zip(groups.as_array().unwrap())
        {
            assert_eq!(
                theirs, ours,
                "{}: the PrometheusRule's group {} is not the rule files' (run python3 \
                 k8s/monitoring/generate.py)",
                overlay.monitored, ours["name"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the Component changes.

#[test]
fn the_component_runs_step_9s_image_with_each_overlays_own_tag() {
    for overlay in OVERLAYS {
        let plain = Rendered::of(overlay.plain);
        let monitored = Rendered::of(overlay.monitored);
        let before = shop_container(&plain.objects)["image"]
            .as_str()
            .expect("the shop's image")
            .to_owned();
        let tag = before
            .strip_prefix(STEP7_IMAGE)
            .and_then(|rest| rest.strip_prefix(':'))
            .filter(|tag| !tag.is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "{}: the shop runs {before}, not {STEP7_IMAGE}:<tag>",
                    overlay.plain
                )
            });
        assert_eq!(
            shop_container(&monitored.objects)["image"],
            format!("{STEP9_IMAGE}:{tag}"),
            "{}: not step 9's image with {}'s tag",
            overlay.monitored,
            overlay.plain
        );
    }
}

#[test]
fn the_component_adds_its_objects_and_the_metrics_port_and_changes_nothing_else() {
    let admin_port = i64::from(MetricsConfig::default().port);
    for overlay in OVERLAYS {
        let plain = objects_of(overlay.plain);
        let monitored = objects_of(overlay.monitored);

        // Without the Component the overlay is step 7's: nothing on the admin port.
        assert!(
            !plain.iter().any(|o| o["apiVersion"] == OPERATOR_API),
            "{}: monitoring objects without the Component",
            overlay.plain
        );
        assert!(
            !mentions_number(&Value::Array(plain.clone()), admin_port),
            "{}: names port {admin_port} without the Component, whose binary serves nothing there",
            overlay.plain
        );

        let key = |o: &Value| {
            (
                o["kind"].as_str().unwrap_or_default().to_owned(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        let before: BTreeSet<_> = plain.iter().map(key).collect();
        let after: BTreeSet<_> = monitored.iter().map(key).collect();
        let added: BTreeSet<_> = after.difference(&before).cloned().collect();
        let expected: BTreeSet<_> = ADDED
            .iter()
            .map(|&(kind, name)| (kind.to_owned(), name.to_owned()))
            .collect();
        assert_eq!(added, expected, "{}: the objects added", overlay.monitored);
        assert!(
            before.is_subset(&after),
            "{}: lost {:?}",
            overlay.monitored,
            before.difference(&after).collect::<Vec<_>>()
        );
        for (kind, name) in &added {
            let object = object(&monitored, kind, name);
            assert_eq!(
                object["metadata"]["namespace"], overlay.namespace,
                "{}: {kind} {name}",
                overlay.monitored
            );
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/part-of"], "stepwise-shop",
                "{}: {kind} {name}",
                overlay.monitored
            );
        }

        for original in &plain {
            let (kind, name) = key(original);
            let mut changed = object(&monitored, &kind, &name).clone();
            match (kind.as_str(), name.as_str()) {
                ("Deployment", "shop") => {
                    let container = shop_container_mut(&mut changed);
                    let metrics =
                        take_port(&mut container["ports"], "metrics").unwrap_or_else(|| {
                            panic!(
                                "{}: the shop's container has no port metrics",
                                overlay.monitored
                            )
                        });
                    assert_eq!(
                        metrics,
                        json!({ "name": "metrics", "containerPort": admin_port, "protocol": "TCP" }),
                        "{}: the container's metrics port is not the admin listener's default \
                         (metrics.port)",
                        overlay.monitored
                    );
                    // The image is the other test's; here: nothing else differs.
                    container["image"] = shop_container(&plain)["image"].clone();
                }
                ("Service", "shop") => {
                    let metrics = take_port(&mut changed["spec"]["ports"], "metrics")
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: the shop's Service has no port metrics",
                                overlay.monitored
                            )
                        });
                    assert_eq!(
                        metrics,
                        json!({ "name": "metrics", "port": admin_port, "targetPort": "metrics",
                                "protocol": "TCP" }),
                        "{}: the Service's metrics port",
                        overlay.monitored
                    );
                }
                _ => {}
            }
            assert_eq!(
                &changed, original,
                "{}: the Component changed {kind} {name} beyond the metrics port and image",
                overlay.monitored
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The ServiceMonitor.

#[test]
fn the_service_monitor_scrapes_the_shops_service_on_its_metrics_port_as_job_shop() {
    for overlay in OVERLAYS {
        let objects = objects_of(overlay.monitored);
        let problems = service_monitor_problems(&objects, overlay.namespace);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            overlay.monitored,
            problems.join("\n")
        );
    }
}

#[test]
fn a_service_monitor_selecting_more_than_the_shop_or_off_the_metrics_port_is_refused() {
    let objects = objects_of("dev-monitoring");
    let namespace = "stepwise-shop-dev";

    let mut everything = objects.clone();
    object_mut(&mut everything, "ServiceMonitor", "shop")["spec"]["selector"] = json!({});
    assert_refused(
        &service_monitor_problems(&everything, namespace),
        "Services, not the shop's alone",
    );

    let mut public_port = objects.clone();
    object_mut(&mut public_port, "ServiceMonitor", "shop")["spec"]["endpoints"][0]["port"] =
        json!("http");
    assert_refused(
        &service_monitor_problems(&public_port, namespace),
        "not the admin listener's",
    );

    let mut elsewhere = objects.clone();
    object_mut(&mut elsewhere, "ServiceMonitor", "shop")["spec"]["namespaceSelector"] =
        json!({ "any": true });
    assert_refused(
        &service_monitor_problems(&elsewhere, namespace),
        "namespaceSelector",
    );

    let mut moved = objects;
    let config = object_mut(&mut moved, "Deployment", "shop")["spec"]["template"]["spec"]
        ["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("the shop's ConfigMap")
        .to_owned();
    object_mut(&mut moved, "ConfigMap", &config)["data"]["APP__METRICS__PORT"] = json!("9000");
    assert_refused(
        &service_monitor_problems(&moved, namespace),
        "APP__METRICS__PORT",
    );
}

/// What is wrong with the ServiceMonitor of an overlay whose namespace is `namespace`: it
/// must sit there and look nowhere else, carry the label kube-prometheus-stack selects by,
/// select exactly the shop's Service, scrape its port that reaches the admin listener's
/// default port (which no variable moves) on /metrics every 10 s, and name the job `shop`.
fn service_monitor_problems(objects: &[Value], namespace: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let monitor = one_of(objects, "ServiceMonitor");
    if monitor["apiVersion"] != OPERATOR_API {
        problems.push(format!("apiVersion {}", monitor["apiVersion"]));
    }
    if monitor["metadata"]["namespace"] != namespace {
        problems.push(format!(
            "the ServiceMonitor is in {}, not the shop's namespace {namespace}",
            monitor["metadata"]["namespace"]
        ));
    }
    // Absent, a ServiceMonitor looks in its own namespace only.
    let looks_in = &monitor["spec"]["namespaceSelector"];
    if !(looks_in.is_null() || *looks_in == json!({ "matchNames": [namespace] })) {
        problems.push(format!(
            "namespaceSelector {looks_in}: the shop's namespace {namespace} only, please"
        ));
    }
    if !monitor["metadata"]["labels"]["release"].is_string() {
        problems.push("no `release` label: kube-prometheus-stack would not select it".into());
    }

    let services: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Service"
                && o["metadata"]["namespace"] == namespace
                && selects(&monitor["spec"]["selector"], &o["metadata"]["labels"])
        })
        .collect();
    let [service] = services[..] else {
        problems.push(format!(
            "the ServiceMonitor selects {} Services, not the shop's alone",
            services.len()
        ));
        return problems;
    };
    if service["metadata"]["name"] != "shop" {
        problems.push(format!(
            "the ServiceMonitor selects {}",
            service["metadata"]["name"]
        ));
    }
    let job = monitor["spec"]["jobLabel"]
        .as_str()
        .map_or(&service["metadata"]["name"], |label| {
            &service["metadata"]["labels"][label]
        });
    if job != "shop" {
        problems.push(format!(
            "the job is {job}, not shop, which every rule and dashboard selects"
        ));
    }

    let endpoints = monitor["spec"]["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let [endpoint] = &endpoints[..] else {
        problems.push(format!("{} endpoints, not one", endpoints.len()));
        return problems;
    };
    if endpoint["path"] != "/metrics" {
        problems.push(format!("scrapes {}, not /metrics", endpoint["path"]));
    }
    // The rules' windows and `for` durations assume Prometheus's 10 s scrape.
    if endpoint["interval"] != "10s" {
        problems.push(format!("interval {}, not 10s", endpoint["interval"]));
    }
    let admin_port = i64::from(MetricsConfig::default().port);
    let port_name = &endpoint["port"];
    let Some(port) = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| &p["name"] == port_name)
    else {
        problems.push(format!("the Service has no port {port_name}"));
        return problems;
    };
    let container = shop_container(objects);
    let target =
        container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| match &port["targetPort"] {
                Value::String(name) => &p["name"] == name,
                number => &p["containerPort"] == number,
            });
    match target {
        None => problems.push(format!(
            "the Service's port {port_name} targets no container port"
        )),
        Some(target) if target["containerPort"] != admin_port => problems.push(format!(
            "the Service's port {port_name} reaches {}, not the admin listener's {admin_port} \
             (metrics.port)",
            target["containerPort"]
        )),
        Some(_) => {}
    }
    for variable in shop_variables(objects) {
        if variable.starts_with("APP__METRICS__HOST") || variable.starts_with("APP__METRICS__PORT")
        {
            problems.push(format!(
                "{variable} is set: the admin listener may not be on 0.0.0.0:{admin_port}"
            ));
        }
    }
    problems
}

/// Every variable the shop's container gets: its own `env`, and the keys of the ConfigMaps
/// its `envFrom` names.
fn shop_variables(objects: &[Value]) -> Vec<String> {
    let container = shop_container(objects);
    let mut variables: Vec<String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            let map = object(objects, "ConfigMap", name);
            let prefix = source["prefix"].as_str().unwrap_or_default();
            variables.extend(
                map["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(key, _)| format!("{prefix}{key}")),
            );
        }
    }
    variables
}

// ---------------------------------------------------------------------------------------
// Who reaches the metrics port.

#[test]
fn only_the_monitoring_namespaces_prometheus_may_reach_the_metrics_port() {
    for overlay in OVERLAYS {
        let objects = objects_of(overlay.monitored);
        let problems = metrics_port_problems(&objects);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            overlay.monitored,
            problems.join("\n")
        );
    }
}

#[test]
fn a_policy_opening_the_metrics_port_to_anyone_else_or_none_opening_it_is_refused() {
    let objects = objects_of("dev-monitoring");
    let mut wider = objects.clone();
    object_mut(&mut wider, "NetworkPolicy", "shop-metrics-from-prometheus")["spec"]["ingress"][0]
        ["from"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "podSelector": {} }));
    assert_refused(
        &metrics_port_problems(&wider),
        "shop-metrics-from-prometheus lets",
    );

    let mut every_port = objects.clone();
    object_mut(&mut every_port, "NetworkPolicy", "shop-from-ingress")["spec"]["ingress"][0]
        .as_object_mut()
        .unwrap()
        .remove("ports");
    assert_refused(&metrics_port_problems(&every_port), "shop-from-ingress");

    // A range that covers the port counts as naming it.
    let mut range = objects.clone();
    object_mut(&mut range, "NetworkPolicy", "shop-from-ingress")["spec"]["ingress"][0]["ports"] =
        json!([{ "protocol": "TCP", "port": 8080, "endPort": 9999 }]);
    assert_refused(&metrics_port_problems(&range), "shop-from-ingress");

    // A policy for every pod of the namespace selects the shop's too.
    let mut everyone = objects.clone();
    object_mut(&mut everyone, "NetworkPolicy", "default-deny")["spec"]["ingress"] =
        json!([{ "from": [{ "ipBlock": { "cidr": "0.0.0.0/0" } }] }]);
    assert_refused(&metrics_port_problems(&everyone), "default-deny");

    let mut closed = objects;
    closed.retain(|o| o["metadata"]["name"] != "shop-metrics-from-prometheus");
    assert_refused(&metrics_port_problems(&closed), "no NetworkPolicy lets");
}

/// What is wrong with the paths to the shop's metrics port: an ingress rule of a policy
/// selecting the shop's pods (by their labels, or every pod) that covers the port (by number,
/// by a range, by name, or by naming no port) and admits anything but the monitoring
/// namespace's Prometheus pods; or no rule admitting those at all. The base's default deny
/// makes every other path closed.
fn metrics_port_problems(objects: &[Value]) -> Vec<String> {
    let container = shop_container(objects);
    let metrics = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("the shop's container has a port named metrics")
        .clone();
    let shop_labels =
        &object(objects, "Deployment", "shop")["spec"]["template"]["metadata"]["labels"];
    let prometheus = json!({
        "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": MONITORING_NAMESPACE } },
        "podSelector": { "matchLabels": { PROMETHEUS_POD.0: PROMETHEUS_POD.1 } },
    });
    let number = metrics["containerPort"].as_i64().expect("a port number");
    let covers = |p: &Value| match &p["port"] {
        Value::Null => true,
        Value::String(_) => p["port"] == metrics["name"],
        port => {
            let start = port.as_i64().unwrap_or(-1);
            let end = p["endPort"].as_i64().unwrap_or(start);
            (start..=end).contains(&number)
        }
    };
    let mut problems = Vec::new();
    let mut admitted = false;
    for policy in objects.iter().filter(|o| o["kind"] == "NetworkPolicy") {
        if !selects(&policy["spec"]["podSelector"], shop_labels) {
            continue;
        }
        let name = policy["metadata"]["name"].as_str().unwrap_or_default();
        for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
            let covered = match rule["ports"].as_array() {
                None => true,
                Some(ports) => ports.is_empty() || ports.iter().any(covers),
            };
            if !covered {
                continue;
            }
            let from = rule["from"].as_array().cloned().unwrap_or_default();
            if from.is_empty() {
                problems.push(format!("{name} lets anyone reach the metrics port"));
                continue;
            }
            for peer in &from {
                if peer == &prometheus {
                    admitted = true;
                } else {
                    problems.push(format!(
                        "{name} lets {peer} reach the metrics port, not only {prometheus}"
                    ));
                }
            }
        }
    }
    if !admitted {
        problems.push(format!(
            "no NetworkPolicy lets {prometheus} reach the metrics port: Prometheus cannot scrape"
        ));
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Schemas and checkov, on the overlays with the Component.

#[test]
fn the_overlays_with_the_component_validate_strictly_against_kubernetes_1_30() {
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay.monitored);
        // kubernetes-validate ships the schemas of Kubernetes' own kinds only, not those of
        // Prometheus Operator's CRDs (it would warn that it has none for ServiceMonitor and
        // PrometheusRule), and nothing may be downloaded: those two are left out here, and
        // the tests above check them field by field.
        let (operator, builtin): (Vec<&Value>, Vec<&Value>) = rendered
            .objects
            .iter()
            .partition(|o| o["apiVersion"] == OPERATOR_API);
        let mut kinds: Vec<&str> = operator.iter().filter_map(|o| o["kind"].as_str()).collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            ["PrometheusRule", "ServiceMonitor"],
            "{}",
            overlay.monitored
        );
        let path = scratch(&format!("{}-builtin", overlay.monitored));
        let documents: Vec<String> = builtin.iter().map(|o| o.to_string()).collect();
        std::fs::write(&path, documents.join("\n---\n") + "\n").unwrap();
        let problems = schema_problems(&path);
        let _ = std::fs::remove_file(&path);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            overlay.monitored,
            problems.join("\n")
        );
    }
}

#[test]
fn checkov_finds_nothing_in_the_overlays_with_the_component_beyond_the_justified_skips() {
    let config = root().join("k8s/checkov.yaml");
    for overlay in OVERLAYS {
        let rendered = Rendered::of(overlay.monitored);
        let mut command = kube_tools::checkov(checkov_python());
        command
            .arg("--config-file")
            .arg(&config)
            .args([
                "--framework",
                "kubernetes",
                "--skip-download",
                "--output",
                "json",
            ])
            .arg("--file")
            .arg(&rendered.path);
        let report = kube_tools::checkov_report(&mut command).unwrap_or_else(|e| panic!("{e:#}"));
        let problems = checkov_problems(&report);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            overlay.monitored,
            problems.join("\n")
        );
    }
}

/// kubernetes-validate's complaints about the objects in `path` ([`kube_tools::schema_problems`]).
fn schema_problems(path: &Path) -> Vec<String> {
    kube_tools::schema_problems(validator(), path).unwrap_or_else(|e| panic!("{e:#}"))
}

// ---------------------------------------------------------------------------------------
// Objects.

/// Whether a label selector (`matchLabels`, and `matchExpressions`, which these manifests
/// do not use and which is refused if they start to) selects `labels`. An empty selector
/// selects everything, as Kubernetes has it.
fn selects(selector: &Value, labels: &Value) -> bool {
    assert!(
        selector["matchExpressions"].is_null(),
        "matchExpressions are not understood here: {selector}"
    );
    selector["matchLabels"]
        .as_object()
        .is_none_or(|s| s.iter().all(|(k, v)| &labels[k] == v))
}

/// Whether the number `n` appears anywhere in `value` (a port, wherever it is written).
fn mentions_number(value: &Value, n: i64) -> bool {
    match value {
        Value::Number(number) => number.as_i64() == Some(n),
        Value::Array(items) => items.iter().any(|v| mentions_number(v, n)),
        Value::Object(fields) => fields.values().any(|v| mentions_number(v, n)),
        _ => false,
    }
}

/// Removes and returns the port named `name` from a list of ports.
fn take_port(ports: &mut Value, name: &str) -> Option<Value> {
    let ports = ports.as_array_mut()?;
    let index = ports.iter().position(|p| p["name"] == name)?;
    Some(ports.remove(index))
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn object_mut<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn shop_container(objects: &[Value]) -> &Value {
    object(objects, "Deployment", "shop")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "shop")
        .expect("the shop's container")
}

fn shop_container_mut(deployment: &mut Value) -> &mut Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == "shop")
        .expect("the shop's container")
}

fn one_of<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    let [one] = found[..] else {
        panic!("{} {kind} objects, not one", found.len());
    };
    one
}

fn assert_refused(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn root() -> PathBuf {
    testkit::cargo::workspace_root()
}

/// An overlay of `k8s/overlays/` rendered by `kubectl kustomize` into a file of its own
/// (kubernetes-validate and checkov read files), and its objects as JSON. The file is
/// removed when this is dropped.
struct Rendered {
    path: PathBuf,
    objects: Vec<Value>,
}

impl Rendered {
    fn of(overlay: &str) -> Self {
        let dir = root().join("k8s/overlays").join(overlay);
        let rendered = kube_tools::kustomize(&dir).unwrap_or_else(|error| panic!("{error:#}"));
        let path = scratch(overlay);
        std::fs::write(&path, rendered).unwrap();
        let objects = yaml(&path);
        Self { path, objects }
    }
}

/// An overlay's rendered objects, for a test to read or break.
fn objects_of(overlay: &str) -> Vec<Value> {
    let mut rendered = Rendered::of(overlay);
    std::mem::take(&mut rendered.objects)
}

impl Drop for Rendered {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// kubernetes-validate's venv python (PyYAML comes with it): built once per machine, found
/// once per test process.
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

fn yaml(path: &Path) -> Vec<Value> {
    kube_tools::yaml_documents(validator(), path).unwrap_or_else(|error| panic!("{error:#}"))
}

/// A file name of its own in cargo's temp dir for integration tests.
fn scratch(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("step09-k8s-{what}-{}-{n}.yaml", std::process::id()))
}

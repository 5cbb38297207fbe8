//! The shipped Prometheus and Alertmanager configuration (`docker/monitoring/`): checked by
//! the tools that ship with them (`promtool check config`, `promtool check rules`, the rule
//! unit tests with `promtool test rules`, `amtool check-config` and its routing test), and
//! loaded by a real Prometheus and Alertmanager scraping a real step-9 instance, which must
//! hold every alert the chapter names, with the labels and annotations the contract gives
//! them. Then the alert path itself: an instance that cannot be scraped reaches Alertmanager
//! as ShopInstanceDown, and Alertmanager's inhibition holds back an SLO's ticket while the
//! same SLO pages.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::services::monitoring::{self, Monitoring};

use crate::metrics::{App, admin};

/// Every alert the chapter, the docs and the end-to-end test rely on.
const ALERTS: &[&str] = &[
    "ShopAvailabilityBurnRateFast",
    "ShopAvailabilityBurnRateSlow",
    "ShopLatencyBurnRateFast",
    "ShopLatencyBurnRateSlow",
    "ShopErrorBudgetLow",
    "SagaStuck",
    "OutboxLag",
    "OutboxDeadLetters",
    "ReplicaLagHigh",
    "RedisDown",
    "ShopInstanceDown",
];

/// Where each alert's runbook lives: its section of the chapter.
const RUNBOOK: &str =
    "https://github.com/stepwise-shop/stepwise-shop/blob/main/docs/09-monitoring.md#alert-";

fn prometheus_dir() -> PathBuf {
    monitoring::shipped_config_dir().join("prometheus")
}

/// The `*.yml` files of one of the shipped directories, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.yml in {}", dir.display());
    files
}

/// Runs a tool of the Debian packages and returns its stdout; panics with its whole output
/// when it fails, and with the install command when it is missing.
fn run(program: &str, package: &str, args: &[&std::ffi::OsStr], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {program}: {e}\nInstall it with: apt-get install -y {package} \
                 (or: {})",
                monitoring::INSTALL
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

fn promtool(args: &[&std::ffi::OsStr]) -> String {
    run(
        "promtool",
        monitoring::PROMETHEUS_PACKAGE,
        args,
        &prometheus_dir(),
    )
}

fn amtool(args: &[&str]) -> String {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    run(
        "amtool",
        monitoring::ALERTMANAGER_PACKAGE,
        &args,
        &monitoring::shipped_config_dir().join("alertmanager"),
    )
}

#[test]
fn promtool_accepts_the_prometheus_configuration() {
    let out = promtool(&[
        "check".as_ref(),
        "config".as_ref(),
        "prometheus.yml".as_ref(),
    ]);
    // The rule files are found through the config's `rule_files` glob.
    let rule_files = yaml_files(&prometheus_dir().join("rules")).len();
    assert!(
        out.contains(&format!("SUCCESS: {rule_files} rule files found")),
        "{out}"
    );
}

#[test]
fn promtool_accepts_the_rules() {
    let files = yaml_files(&prometheus_dir().join("rules"));
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), "rules".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = promtool(&args);
    assert_eq!(
        out.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per file:\n{out}"
    );
}

#[test]
fn the_rule_unit_tests_pass() {
    let files = yaml_files(&prometheus_dir().join("tests"));
    let mut args: Vec<&std::ffi::OsStr> = vec!["test".as_ref(), "rules".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = promtool(&args);
    assert_eq!(
        out.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per test file:\n{out}"
    );
}

/// The unit tests have, for every alert, a case where it fires and one where it must not.
/// Read from the files' two spellings of a case: `{eval_time: .., alertname: X, exp_alerts:
/// []}` on one line, or a block whose `alertname: X` is followed by `exp_alerts:` and then
/// either `[]` or a list of alerts.
#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() {
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for file in yaml_files(&prometheus_dir().join("tests")) {
        let text = std::fs::read_to_string(&file).expect("a readable test file");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(at) = line.find("alertname: ") else {
                continue;
            };
            let rest = &line[at + "alertname: ".len()..];
            let name = rest
                .split([',', '}', ' '])
                .next()
                .expect("a name")
                .to_owned();
            if rest.contains("exp_alerts: []") || lines.get(i + 1) == Some(&"exp_alerts: []") {
                quiet.insert(name);
            } else if lines.get(i + 1) == Some(&"exp_alerts:")
                && lines
                    .get(i + 2)
                    .is_some_and(|l| l.starts_with("- exp_labels"))
            {
                fires.insert(name);
            } else {
                panic!(
                    "{}:{}: a case the check cannot read: {line}",
                    file.display(),
                    i + 1
                );
            }
        }
    }
    for alert in ALERTS {
        assert!(fires.contains(*alert), "no case where {alert} fires");
        assert!(
            quiet.contains(*alert),
            "no case where {alert} must not fire"
        );
    }
}

#[test]
fn amtool_accepts_the_alertmanager_configuration() {
    let out = amtool(&["check-config", "alertmanager.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(out.contains("1 inhibit rules"), "{out}");
}

#[test]
fn alertmanager_routes_pages_and_tickets_to_their_receivers() {
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yml"];
        args.extend(labels);
        amtool(&args).trim().to_owned()
    };
    assert_eq!(route(&["alertname=RedisDown", "severity=page"]), "page");
    assert_eq!(route(&["alertname=SagaStuck", "severity=ticket"]), "ticket");
    // An alert without a known severity still reaches someone.
    assert_eq!(route(&["alertname=Unknown"]), "ticket");
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_shop_loads_every_rule_and_sends_to_alertmanager() {
    let app = App::spawn().await;
    let admin = admin(&app).await;
    let target = admin.addr;
    let started = Instant::now();
    let monitoring = tokio::task::spawn_blocking(move || Monitoring::start(&[target]))
        .await
        .expect("the start does not panic")
        .expect("Prometheus and Alertmanager start");
    eprintln!(
        "Prometheus {} and Alertmanager {} ready in {:?} ({:?} with the spawn)",
        monitoring.prometheus_url(),
        monitoring.alertmanager_url(),
        monitoring.startup_time(),
        started.elapsed()
    );

    // Every group of every shipped rule file, with every contract alert in it.
    let groups = monitoring
        .rule_groups()
        .await
        .expect("the rules API answers");
    let loaded_files: BTreeSet<String> = groups
        .iter()
        .filter_map(|g| Path::new(&g.file).file_name())
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    let shipped_files: BTreeSet<String> = yaml_files(&prometheus_dir().join("rules"))
        .iter()
        .map(|f| {
            f.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(loaded_files, shipped_files, "every rule file is loaded");
    let alerts: Vec<_> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.kind == "alerting")
        .collect();
    let names: BTreeSet<&str> = alerts.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ALERTS.iter().copied().collect(),
        "the alerts are the contract's"
    );
    for alert in &alerts {
        let severity = alert.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("page" | "ticket")),
            "{}: severity {severity:?}",
            alert.name
        );
        for annotation in ["summary", "description"] {
            assert!(
                alert
                    .annotations
                    .get(annotation)
                    .is_some_and(|text| !text.trim().is_empty()),
                "{}: no {annotation}",
                alert.name
            );
        }
        assert_eq!(
            alert.annotations.get("runbook_url"),
            Some(&format!("{RUNBOOK}{}", alert.name.to_lowercase())),
            "{}: runbook_url",
            alert.name
        );
    }
    let redis = alerts
        .iter()
        .find(|r| r.name == "RedisDown")
        .expect("RedisDown");
    assert_eq!(
        redis.duration_secs, 30.0,
        "RedisDown waits 30 s (the e2e test relies on it)"
    );
    let recorded = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.kind == "recording")
        .count();
    assert!(recorded > 0, "the SLO ratios are recorded");

    // Prometheus sends to the Alertmanager started beside it, which is ready.
    let expected = format!("{}/api/v2/alerts", monitoring.alertmanager_url());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ams = monitoring.alertmanagers().await.expect("the API answers");
        if ams.contains(&expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus lists {ams:?}, not {expected}\n{}",
            monitoring.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ready = reqwest::get(format!("{}/-/ready", monitoring.alertmanager_url()))
        .await
        .expect("Alertmanager answers");
    assert_eq!(ready.status(), 200);
    monitoring
        .firing_alerts()
        .await
        .expect("Alertmanager's alerts API answers");

    // The shop is scraped as job `shop` at the address given, and every rule evaluates
    // without error against its series.
    let instance = target.to_string();
    monitoring
        .wait_until(
            &format!("up{{job=\"shop\",instance=\"{instance}\"}}"),
            |samples| samples.len() == 1 && samples[0].value == 1.0,
            Duration::from_secs(60),
        )
        .await
        .expect("Prometheus scrapes the admin listener");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let groups = monitoring
            .rule_groups()
            .await
            .expect("the rules API answers");
        let rules: Vec<_> = groups.iter().flat_map(|g| &g.rules).collect();
        let failing: Vec<_> = rules
            .iter()
            .filter(|r| r.health == "err")
            .map(|r| format!("{}: {:?}", r.name, r.last_error))
            .collect();
        assert!(failing.is_empty(), "rules failing: {failing:#?}");
        if rules.iter().all(|r| r.health == "ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rules not evaluated within 60 s: {:?}",
            rules
                .iter()
                .filter(|r| r.health != "ok")
                .map(|r| &r.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A healthy shop raises nothing, not even a pending alert (RedisDown would be pending
    // if the shop's Redis check were missing or failing).
    let raised = monitoring
        .rule_alerts()
        .await
        .expect("the alerts API answers");
    assert!(raised.is_empty(), "alerts for a healthy shop: {raised:#?}");
    let targets = monitoring.targets().await.expect("the targets API answers");
    assert!(
        targets
            .iter()
            .any(|t| t.job == monitoring::JOB
                && t.scrape_url == format!("http://{instance}/metrics")),
        "{targets:?}"
    );

    // Rewriting the targets file changes what is scraped, without a restart.
    monitoring
        .set_targets(&[])
        .expect("the targets file is rewritten");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets = monitoring.targets().await.expect("the targets API answers");
        if targets.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still scraping {targets:?} a minute after the targets file was emptied"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A bad expression is an error naming Prometheus's complaint, not an empty result.
    let err = monitoring.query("sum(").await.unwrap_err();
    assert!(format!("{err:#}").contains("bad_data"), "{err:#}");

    drop(tokio::task::spawn_blocking(move || monitoring.stop()).await);
}

/// The whole path of an alert: an instance nobody answers for is `up == 0`, pending for a
/// minute, firing, sent to Alertmanager and routed there as a page; RedisDown, which needs
/// the instance up, stays quiet.
#[tokio::test]
async fn an_instance_that_cannot_be_scraped_reaches_alertmanager_as_shop_instance_down() {
    let port = testkit::services::free_port().expect("a free port");
    let gone: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let monitoring = tokio::task::spawn_blocking(move || Monitoring::start(&[gone]))
        .await
        .expect("the start does not panic")
        .expect("Prometheus and Alertmanager start");
    let started = Instant::now();
    // `for: 1m`, plus up to a scrape and an evaluation interval (10 s each).
    let alert = monitoring
        .wait_for_alert("ShopInstanceDown", Duration::from_secs(120))
        .await
        .expect("Alertmanager receives ShopInstanceDown");
    let waited = started.elapsed();
    eprintln!("ShopInstanceDown reached Alertmanager after {waited:?}");
    assert!(
        waited >= Duration::from_secs(50),
        "too early for `for: 1m`: {waited:?}"
    );
    assert_eq!(alert.labels.get("instance"), Some(&gone.to_string()));
    assert_eq!(
        alert.labels.get("severity").map(String::as_str),
        Some("page")
    );
    assert_eq!(alert.state, "active", "{alert:?}");
    let names: Vec<String> = monitoring
        .firing_alerts()
        .await
        .expect("the alerts API answers")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(!names.iter().any(|n| n == "RedisDown"), "{names:?}");
    drop(tokio::task::spawn_blocking(move || monitoring.stop()).await);
}

/// The shipped inhibition in a real Alertmanager: while an SLO's page fires, that SLO's
/// ticket is held back; another SLO's ticket and a ticket of no SLO are not, and a page of
/// no SLO holds back nothing.
#[tokio::test]
async fn alertmanager_holds_back_an_slo_ticket_while_its_page_fires() {
    let monitoring = tokio::task::spawn_blocking(|| Monitoring::start(&[]))
        .await
        .expect("the start does not panic")
        .expect("Prometheus and Alertmanager start");
    let alert = |name: &str, severity: &str, slo: Option<&str>| {
        let mut labels = serde_json::json!({"alertname": name, "severity": severity});
        if let Some(slo) = slo {
            labels["slo"] = slo.into();
        }
        serde_json::json!({"labels": labels, "annotations": {"summary": name}})
    };
    let alerts = serde_json::json!([
        alert("ShopAvailabilityBurnRateFast", "page", Some("availability")),
        alert(
            "ShopAvailabilityBurnRateSlow",
            "ticket",
            Some("availability")
        ),
        alert("ShopLatencyBurnRateSlow", "ticket", Some("latency")),
        alert("SagaStuck", "ticket", None),
        alert("RedisDown", "page", None),
    ]);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", monitoring.alertmanager_url()))
        .json(&alerts)
        .send()
        .await
        .expect("Alertmanager answers");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    let deadline = Instant::now() + Duration::from_secs(30);
    let states = loop {
        let held = monitoring
            .firing_alerts()
            .await
            .expect("the alerts API answers");
        let states: std::collections::BTreeMap<String, (String, usize)> = held
            .iter()
            .map(|a| (a.name.clone(), (a.state.clone(), a.inhibited_by.len())))
            .collect();
        if states.len() == 5 && states.values().all(|(state, _)| state != "unprocessed") {
            break states;
        }
        assert!(Instant::now() < deadline, "Alertmanager holds {states:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let state = |name: &str| states.get(name).cloned().expect("the alert is held");
    assert_eq!(
        state("ShopAvailabilityBurnRateFast"),
        ("active".to_owned(), 0)
    );
    assert_eq!(
        state("ShopAvailabilityBurnRateSlow"),
        ("suppressed".to_owned(), 1)
    );
    assert_eq!(state("ShopLatencyBurnRateSlow"), ("active".to_owned(), 0));
    // Neither has an `slo`: equal by absence, yet a page of no SLO holds back nothing.
    assert_eq!(state("SagaStuck"), ("active".to_owned(), 0));
    assert_eq!(state("RedisDown"), ("active".to_owned(), 0));
    drop(tokio::task::spawn_blocking(move || monitoring.stop()).await);
}

//! A local Prometheus and Alertmanager running the repository's monitoring configuration
//! (`docker/monitoring/`), for step 9's tests and `cargo xtask run 9`.
//!
//! Like nginx ([`super::nginx`]) there is nothing to borrow: the point is to run *our*
//! configuration (scrape job, recording and alert rules, Alertmanager's routes) against
//! instances just started on random ports. So both are always local processes, the Debian
//! binaries (`prometheus`, `prometheus-alertmanager`) under the watchdog of
//! [`super::process`], on 127.0.0.1 (free ports, or 9090 and 9093 for `cargo xtask run`:
//! [`Ports`]), with their configuration and storage in their private temp dirs: nothing
//! needs root and nothing is left behind.
//!
//! The configuration is the shipped one, copied unchanged: `prometheus/prometheus.yml` with
//! every `prometheus/rules/*.yml`, and `alertmanager/alertmanager.yml`. Only the two kinds of
//! file that differ between environments are written here rather than copied: the scrape
//! targets (`targets/shop.yml`, the admin addresses the caller passes) and the Alertmanager
//! Prometheus sends to (`alertmanagers/local.yml`, the one started here). Both are read by
//! file-based service discovery, which notices a rewrite within seconds, so
//! [`Monitoring::set_targets`] changes what is scraped without a restart.
//!
//! Starting is blocking, like the other servers of this crate (callable inside or outside a
//! Tokio runtime; from async code, through `spawn_blocking`). The HTTP API calls
//! ([`Monitoring::query`], [`Monitoring::firing_alerts`], ...) are async and open a fresh
//! connection each time, so they work from whichever runtime calls them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::process::{Launch, LocalServer, find_program};
use super::runtime::on_own_runtime;

/// The Debian package with `prometheus` (and `promtool`).
pub const PROMETHEUS_PACKAGE: &str = "prometheus";

/// The Debian package with `prometheus-alertmanager` (and `amtool`).
pub const ALERTMANAGER_PACKAGE: &str = "prometheus-alertmanager";

/// The command that installs both.
pub const INSTALL: &str = "apt-get install -y prometheus prometheus-alertmanager";

/// The scrape job every rule and dashboard selects on (`job="shop"`).
pub const JOB: &str = "shop";

/// The targets file written into the copied configuration (any `targets/*.yml` is read).
const TARGETS_FILE: &str = "targets/shop.yml";

/// The Alertmanagers file written into the copied configuration.
const ALERTMANAGERS_FILE: &str = "alertmanagers/local.yml";

/// How long each server may take to listen, and then to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one API call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`Monitoring::wait_until`] and [`Monitoring::wait_for_alert`] ask again.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The repository's monitoring configuration: `docker/monitoring/` in the workspace.
pub fn shipped_config_dir() -> PathBuf {
    super::cargo::workspace_root()
        .join("docker")
        .join("monitoring")
}

/// The ports to listen on: `None` picks a free one (what tests want), `Some` that port
/// (`cargo xtask run`, where a learner opens the UIs: [`Ports::STANDARD`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub prometheus: Option<u16>,
    pub alertmanager: Option<u16>,
}

impl Ports {
    /// Free ports.
    pub const FREE: Ports = Ports {
        prometheus: None,
        alertmanager: None,
    };

    /// Their usual ports: Prometheus on 9090, Alertmanager on 9093 (the address
    /// the shipped `alertmanagers/local.yml` names).
    pub const STANDARD: Ports = Ports {
        prometheus: Some(9090),
        alertmanager: Some(9093),
    };
}

/// The two binaries, found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

impl Programs {
    /// `prometheus` and `prometheus-alertmanager` (Debian's name; upstream's tarball calls it
    /// `alertmanager`, also accepted) on `search_path`; an error naming the packages when one
    /// is missing.
    pub fn find(search_path: Option<&OsStr>) -> Result<Programs> {
        let prometheus = find_program("prometheus", search_path);
        let alertmanager = find_program("prometheus-alertmanager", search_path)
            .or_else(|| find_program("alertmanager", search_path));
        match (prometheus, alertmanager) {
            (Some(prometheus), Some(alertmanager)) => Ok(Programs {
                prometheus,
                alertmanager,
            }),
            (prometheus, alertmanager) => {
                let mut missing = Vec::new();
                if prometheus.is_none() {
                    missing.push(format!("`prometheus` (package {PROMETHEUS_PACKAGE})"));
                }
                if alertmanager.is_none() {
                    missing.push(format!(
                        "`prometheus-alertmanager` or `alertmanager` (package \
                         {ALERTMANAGER_PACKAGE})"
                    ));
                }
                bail!(
                    "no Prometheus/Alertmanager for step 9's monitoring: {} not found on PATH.\n\
                     Install them with: {INSTALL}",
                    missing.join(" and ")
                )
            }
        }
    }
}

/// One element of an instant vector: its labels (with `__name__` when the expression kept
/// it) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of one label, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// An alert as Alertmanager holds it (`/api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedAlert {
    /// The `alertname` label.
    pub name: String,
    /// `active` (being notified), `suppressed` (silenced or inhibited) or `unprocessed`
    /// (just received).
    pub state: String,
    /// The alerts that inhibit this one, by fingerprint (empty unless `suppressed`).
    pub inhibited_by: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// An alert as Prometheus sees it (`/api/v1/alerts`): `pending` while its `for` runs, then
/// `firing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAlert {
    pub name: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

/// A loaded rule group (`/api/v1/rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// The file Prometheus loaded it from.
    pub file: String,
    pub rules: Vec<LoadedRule>,
}

/// One rule of a [`RuleGroup`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRule {
    /// The alert's name, or the recorded series' name.
    pub name: String,
    /// `alerting` or `recording`.
    pub kind: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: String,
    /// The last evaluation's error, if any.
    pub last_error: Option<String>,
    /// An alert's `for`, in seconds (0 for recording rules and alerts without one).
    pub duration_secs: f64,
    /// An alert's labels (`severity`, ...) as written in the rule; empty for recording rules.
    pub labels: BTreeMap<String, String>,
    /// An alert's annotations, as written (templates unexpanded).
    pub annotations: BTreeMap<String, String>,
}

/// A scrape target (`/api/v1/targets`, active ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub job: String,
    /// The address scraped (`127.0.0.1:9464`), the `instance` label.
    pub instance: String,
    pub scrape_url: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    pub last_error: String,
}

/// A Prometheus and an Alertmanager this process started; dropping it stops both and
/// removes their dirs.
pub struct Monitoring {
    // Prometheus first: it stops before the Alertmanager it sends to.
    prometheus: LocalServer,
    alertmanager: LocalServer,
    prometheus_url: String,
    alertmanager_url: String,
    /// The copied configuration, inside Prometheus's dir.
    config_dir: PathBuf,
    http: reqwest::Client,
    /// How long [`Monitoring::start`] took until both answered `/-/ready`.
    startup: Duration,
}

impl std::fmt::Debug for Monitoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitoring")
            .field("prometheus", &self.prometheus_url)
            .field("alertmanager", &self.alertmanager_url)
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl Monitoring {
    /// Alertmanager, then Prometheus scraping `targets` (the shop's admin listeners, job
    /// `shop`; may be empty, see [`Monitoring::set_targets`]) and sending to it, both running
    /// the shipped configuration; returns once both answer `/-/ready`.
    ///
    /// Blocking; callable inside or outside a Tokio runtime.
    pub fn start(targets: &[SocketAddr]) -> Result<Monitoring> {
        Monitoring::start_on(targets, Ports::FREE)
    }

    /// [`Monitoring::start`] on chosen ports (a taken one is an error).
    pub fn start_on(targets: &[SocketAddr], ports: Ports) -> Result<Monitoring> {
        let programs = Programs::find(std::env::var_os("PATH").as_deref())?;
        Monitoring::start_with(&programs, &shipped_config_dir(), targets, ports)
    }

    /// [`Monitoring::start_on`] with chosen binaries and configuration (a dir laid out like
    /// `docker/monitoring/`).
    pub fn start_with(
        programs: &Programs,
        config: &Path,
        targets: &[SocketAddr],
        ports: Ports,
    ) -> Result<Monitoring> {
        let started = Instant::now();
        let alertmanager = LocalServer::start_at(
            "alertmanager",
            ports.alertmanager,
            READY_TIMEOUT,
            |port, dir| alertmanager_launch(&programs.alertmanager, config, port, dir),
        )?;
        let alertmanager_addr = format!("127.0.0.1:{}", alertmanager.port());
        let prometheus = LocalServer::start_at(
            "prometheus",
            ports.prometheus,
            READY_TIMEOUT,
            |port, dir| {
                prometheus_launch(
                    &programs.prometheus,
                    config,
                    port,
                    dir,
                    targets,
                    &alertmanager_addr,
                )
            },
        )?;
        let prometheus_url = format!("http://127.0.0.1:{}", prometheus.port());
        let alertmanager_url = format!("http://{alertmanager_addr}");
        let config_dir = prometheus.dir().join("config");
        let mut monitoring = Monitoring {
            prometheus,
            alertmanager,
            prometheus_url,
            alertmanager_url,
            config_dir,
            http: client()?,
            startup: Duration::ZERO,
        };
        monitoring.wait_until_ready(started)?;
        monitoring.startup = started.elapsed();
        tracing::debug!(
            "Prometheus at {} and Alertmanager at {} ready in {:?}",
            monitoring.prometheus_url,
            monitoring.alertmanager_url,
            monitoring.startup
        );
        Ok(monitoring)
    }

    /// Polls both servers' `/-/ready` until they answer 200: Prometheus is ready once its
    /// storage is open and its configuration (with the rules) loaded.
    fn wait_until_ready(&mut self, started: Instant) -> Result<()> {
        for (name, url) in [
            ("prometheus", format!("{}/-/ready", self.prometheus_url)),
            ("alertmanager", format!("{}/-/ready", self.alertmanager_url)),
        ] {
            loop {
                let probe = url.clone();
                let answer = on_own_runtime(async move {
                    let response = client()?.get(&probe).send().await?;
                    Ok(response.status())
                });
                match answer {
                    Ok(status) if status.is_success() => break,
                    outcome => {
                        self.prometheus.ensure_running()?;
                        self.alertmanager.ensure_running()?;
                        if started.elapsed() > READY_TIMEOUT {
                            let server = if name == "prometheus" {
                                &self.prometheus
                            } else {
                                &self.alertmanager
                            };
                            let last = match outcome {
                                Ok(status) => format!("it answered {status}"),
                                Err(err) => format!("{err:#}"),
                            };
                            return Err(server.failure(&format!(
                                "{name} was not ready at {url} within {READY_TIMEOUT:?} ({last})"
                            )));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        Ok(())
    }

    /// `http://127.0.0.1:PORT` of Prometheus (its UI and `/api/v1/`).
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }

    /// `http://127.0.0.1:PORT` of Alertmanager (its UI and `/api/v2/`).
    pub fn alertmanager_url(&self) -> &str {
        &self.alertmanager_url
    }

    /// How long [`Monitoring::start`] took until both servers were ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The configuration Prometheus runs: the copy of `prometheus/` with its own
    /// `targets/` and `alertmanagers/`.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The processes: pids, dirs, logs.
    pub fn prometheus_server(&self) -> &LocalServer {
        &self.prometheus
    }

    pub fn alertmanager_server(&self) -> &LocalServer {
        &self.alertmanager
    }

    /// The tail of both servers' logs, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "{}{}",
            self.prometheus.log_tail(lines),
            self.alertmanager.log_tail(lines)
        )
    }

    /// Replaces the scrape targets (job `shop`): Prometheus's file discovery notices within
    /// seconds. The file is written beside and renamed into place, so it is never read half
    /// written.
    pub fn set_targets(&self, targets: &[SocketAddr]) -> Result<()> {
        write_atomically(
            &self.config_dir.join(TARGETS_FILE),
            &static_targets(targets.iter().map(ToString::to_string)),
        )
    }

    /// Evaluates `promql` now (`/api/v1/query`): the elements of the instant vector, or the
    /// scalar as one sample without labels. An error if Prometheus rejects the expression
    /// (with its message), answers another status, or the result is a range vector.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>> {
        let data = self
            .prometheus_api("/api/v1/query", &[("query", promql)])
            .await
            .with_context(|| format!("querying Prometheus for `{promql}`"))?;
        parse_query_result(&data).with_context(|| format!("the result of `{promql}`"))
    }

    /// Evaluates `promql` every half second until `predicate` holds for the result, and
    /// returns that result. A rejected expression fails at once; after `timeout` the error
    /// shows the last result (or error) and both servers' logs.
    pub async fn wait_until(
        &self,
        promql: &str,
        predicate: impl Fn(&[Sample]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Sample>> {
        let started = Instant::now();
        loop {
            let last = match self.query(promql).await {
                Ok(samples) if predicate(&samples) => return Ok(samples),
                Ok(samples) => format!("last result: {samples:?}"),
                Err(err) if err.is::<ApiError>() => return Err(err),
                Err(err) => format!("last error: {err:#}"),
            };
            if started.elapsed() > timeout {
                bail!(
                    "`{promql}` did not reach the expected result within {timeout:?}; {last}\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The alerts Alertmanager holds (`/api/v2/alerts`): every alert Prometheus reports as
    /// firing and has not resolved, whatever its state there (active, or suppressed by a
    /// silence or an inhibition).
    pub async fn firing_alerts(&self) -> Result<Vec<ManagedAlert>> {
        let url = format!("{}/api/v2/alerts", self.alertmanager_url);
        let body = get_json(&self.http, &url, &[]).await?;
        let alerts = body
            .as_array()
            .with_context(|| format!("{url} answered {body} instead of a list"))?;
        alerts.iter().map(parse_managed_alert).collect()
    }

    /// Waits until Alertmanager holds an alert called `name`, and returns it. After
    /// `timeout` the error shows what Prometheus and Alertmanager had and their logs.
    pub async fn wait_for_alert(&self, name: &str, timeout: Duration) -> Result<ManagedAlert> {
        let started = Instant::now();
        loop {
            let last = match self.firing_alerts().await {
                Ok(alerts) => match alerts.iter().find(|a| a.name == name) {
                    Some(alert) => return Ok(alert.clone()),
                    None => format!(
                        "Alertmanager had {:?}",
                        alerts.iter().map(|a| &a.name).collect::<Vec<_>>()
                    ),
                },
                Err(err) => format!("last error: {err:#}"),
            };
            if started.elapsed() > timeout {
                let prometheus = match self.rule_alerts().await {
                    Ok(alerts) => format!(
                        "{:?}",
                        alerts
                            .iter()
                            .map(|a| format!("{} ({})", a.name, a.state))
                            .collect::<Vec<_>>()
                    ),
                    Err(err) => format!("unknown: {err:#}"),
                };
                bail!(
                    "Alertmanager received no {name} alert within {timeout:?}; {last}; \
                     Prometheus had {prometheus}\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The alerts Prometheus's rules produce now (`/api/v1/alerts`), pending or firing.
    pub async fn rule_alerts(&self) -> Result<Vec<RuleAlert>> {
        let data = self.prometheus_api("/api/v1/alerts", &[]).await?;
        array(&data, "alerts")?
            .iter()
            .map(|alert| {
                let labels = string_map(alert.get("labels"));
                Ok(RuleAlert {
                    name: labels.get("alertname").cloned().unwrap_or_default(),
                    state: string_field(alert, "state")?,
                    labels,
                })
            })
            .collect()
    }

    /// The rule groups Prometheus loaded (`/api/v1/rules`).
    pub async fn rule_groups(&self) -> Result<Vec<RuleGroup>> {
        let data = self.prometheus_api("/api/v1/rules", &[]).await?;
        array(&data, "groups")?
            .iter()
            .map(|group| {
                let rules = array(group, "rules")?
                    .iter()
                    .map(|rule| {
                        Ok(LoadedRule {
                            name: string_field(rule, "name")?,
                            kind: string_field(rule, "type")?,
                            health: string_field(rule, "health")?,
                            last_error: rule
                                .get("lastError")
                                .and_then(Value::as_str)
                                .filter(|e| !e.is_empty())
                                .map(str::to_owned),
                            duration_secs: rule
                                .get("duration")
                                .and_then(Value::as_f64)
                                .unwrap_or(0.0),
                            labels: string_map(rule.get("labels")),
                            annotations: string_map(rule.get("annotations")),
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(RuleGroup {
                    name: string_field(group, "name")?,
                    file: string_field(group, "file")?,
                    rules,
                })
            })
            .collect()
    }

    /// The Alertmanagers Prometheus sends to now (`/api/v1/alertmanagers`, active ones):
    /// their API URLs.
    pub async fn alertmanagers(&self) -> Result<Vec<String>> {
        let data = self.prometheus_api("/api/v1/alertmanagers", &[]).await?;
        array(&data, "activeAlertmanagers")?
            .iter()
            .map(|am| string_field(am, "url"))
            .collect()
    }

    /// The scrape targets Prometheus knows now (`/api/v1/targets`, active ones).
    pub async fn targets(&self) -> Result<Vec<Target>> {
        let data = self
            .prometheus_api("/api/v1/targets", &[("state", "active")])
            .await?;
        array(&data, "activeTargets")?
            .iter()
            .map(|target| {
                let labels = string_map(target.get("labels"));
                Ok(Target {
                    job: labels.get("job").cloned().unwrap_or_default(),
                    instance: labels.get("instance").cloned().unwrap_or_default(),
                    scrape_url: string_field(target, "scrapeUrl")?,
                    health: string_field(target, "health")?,
                    last_error: string_field(target, "lastError")?,
                })
            })
            .collect()
    }

    /// Stops Prometheus, then Alertmanager, and removes their dirs (what dropping does).
    pub fn stop(self) {
        drop(self);
    }

    /// GETs a Prometheus API path and returns its `data`, or the API's error as an
    /// [`ApiError`].
    async fn prometheus_api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}{path}", self.prometheus_url);
        let response = self
            .http
            .get(&url)
            .query(query)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer of GET {url}"))?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("GET {url} answered {status} with non-JSON: {text}"))?;
        // Prometheus answers a bad expression with 400 and {"status":"error", ...}.
        if body.get("status").and_then(Value::as_str) != Some("success") {
            return Err(ApiError {
                status: status.as_u16(),
                error_type: body
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
                error: body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or(&text)
                    .to_owned(),
            }
            .into());
        }
        if !status.is_success() {
            bail!("GET {url} answered {status}: {text}");
        }
        body.get("data")
            .cloned()
            .with_context(|| format!("GET {url} answered without `data`: {text}"))
    }
}

/// Prometheus's API refused a request (`"status": "error"`), e.g. an invalid expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (400 for bad data, 422 for an expression that cannot be executed).
    pub status: u16,
    /// `bad_data`, `execution`, `timeout`, ...
    pub error_type: String,
    pub error: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Prometheus refused the request ({}, {}): {}",
            self.status, self.error_type, self.error
        )
    }
}

impl std::error::Error for ApiError {}

/// A client for local APIs: no proxy (a proxy from the environment must not see 127.0.0.1),
/// no pooled connections (each call may come from another runtime), a bounded wait.
fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building an HTTP client")
}

async fn get_json(http: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> Result<Value> {
    let response = http
        .get(url)
        .query(query)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the answer of GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("GET {url} answered non-JSON: {text}"))
}

/// The samples of a `/api/v1/query` result.
fn parse_query_result(data: &Value) -> Result<Vec<Sample>> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .context("no resultType")?;
    let result = data.get("result").context("no result")?;
    match kind {
        "vector" => result
            .as_array()
            .context("a vector that is not a list")?
            .iter()
            .map(|element| {
                Ok(Sample {
                    labels: string_map(element.get("metric")),
                    value: parse_value(element.get("value"))?,
                })
            })
            .collect(),
        "scalar" => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: parse_value(Some(result))?,
        }]),
        other => bail!("a {other} result; only instant vectors and scalars are read"),
    }
}

/// `[timestamp, "value"]`; the value is a string so that NaN and ±Inf survive JSON.
fn parse_value(value: Option<&Value>) -> Result<f64> {
    let text = value
        .and_then(|pair| pair.get(1))
        .and_then(Value::as_str)
        .with_context(|| format!("a sample value that is not [time, \"value\"]: {value:?}"))?;
    text.parse()
        .with_context(|| format!("a sample value that is not a number: {text:?}"))
}

fn parse_managed_alert(alert: &Value) -> Result<ManagedAlert> {
    let labels = string_map(alert.get("labels"));
    let status = alert
        .get("status")
        .with_context(|| format!("an alert without status: {alert}"))?;
    Ok(ManagedAlert {
        name: labels
            .get("alertname")
            .cloned()
            .with_context(|| format!("an alert without alertname: {alert}"))?,
        state: string_field(status, "state")?,
        inhibited_by: status
            .get("inhibitedBy")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        labels,
        annotations: string_map(alert.get("annotations")),
    })
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>> {
    value
        .get(field)
        .and_then(Value::as_array)
        .with_context(|| format!("no list `{field}` in {value}"))
}

fn string_field(value: &Value, field: &str) -> Result<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string `{field}` in {value}"))
}

/// A JSON object of strings (labels, annotations) as a map; anything else is empty.
fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A file-discovery file with one group of `targets` (`[]` when there are none).
fn static_targets(targets: impl Iterator<Item = String>) -> String {
    let targets: Vec<Value> = targets.map(Value::String).collect();
    if targets.is_empty() {
        return "[]\n".to_owned();
    }
    // JSON is YAML: one line, no quoting rules to get wrong.
    format!("{}\n", serde_json::json!([{ "targets": targets }]))
}

fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    fs::write(&temp, contents).with_context(|| format!("writing {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("renaming {} into place", temp.display()))
}

/// Copies the shipped `prometheus/` configuration into `dir/config` (prometheus.yml and
/// every rules/*.yml), writes the targets and Alertmanager files, and returns the command
/// line.
fn prometheus_launch(
    program: &Path,
    shipped: &Path,
    port: u16,
    dir: &Path,
    targets: &[SocketAddr],
    alertmanager: &str,
) -> Result<Launch> {
    let source = shipped.join("prometheus");
    let config = dir.join("config");
    let main = fs::read_to_string(source.join("prometheus.yml"))
        .with_context(|| format!("reading {}", source.join("prometheus.yml").display()))?;
    // The files this module writes must be the ones the configuration reads: a changed
    // configuration should fail here, not scrape 127.0.0.1:9464 unnoticed.
    for glob in ["targets/*.yml", "alertmanagers/*.yml", "rules/*.yml"] {
        if !main.contains(glob) {
            bail!(
                "{} no longer reads `{glob}`, which the local Prometheus relies on",
                source.join("prometheus.yml").display()
            );
        }
    }
    for sub in ["rules", "targets", "alertmanagers"] {
        fs::create_dir_all(config.join(sub))
            .with_context(|| format!("creating {}", config.join(sub).display()))?;
    }
    fs::write(config.join("prometheus.yml"), main).context("writing prometheus.yml")?;
    copy_yaml_files(&source.join("rules"), &config.join("rules"))?;
    fs::write(
        config.join(TARGETS_FILE),
        static_targets(targets.iter().map(ToString::to_string)),
    )
    .context("writing the scrape targets")?;
    fs::write(
        config.join(ALERTMANAGERS_FILE),
        static_targets(std::iter::once(alertmanager.to_owned())),
    )
    .context("writing the Alertmanager targets")?;
    let args: Vec<OsString> = vec![
        flag("--config.file=", &config.join("prometheus.yml")),
        flag("--storage.tsdb.path=", &dir.join("data")),
        format!("--web.listen-address=127.0.0.1:{port}").into(),
    ];
    Ok(Launch {
        program: program.to_owned(),
        args,
        ..Launch::default()
    })
}

/// Copies the shipped `alertmanager/alertmanager.yml` into `dir` and returns the command
/// line: no clustering (no gossip port), storage in `dir`.
fn alertmanager_launch(program: &Path, shipped: &Path, port: u16, dir: &Path) -> Result<Launch> {
    let source = shipped.join("alertmanager").join("alertmanager.yml");
    let config = dir.join("alertmanager.yml");
    fs::copy(&source, &config).with_context(|| format!("copying {}", source.display()))?;
    let args: Vec<OsString> = vec![
        flag("--config.file=", &config),
        flag("--storage.path=", &dir.join("data")),
        format!("--web.listen-address=127.0.0.1:{port}").into(),
        // Empty: no cluster listener, so nothing else binds a port or gossips.
        "--cluster.listen-address=".into(),
    ];
    Ok(Launch {
        program: program.to_owned(),
        args,
        ..Launch::default()
    })
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(path);
    flag
}

/// Copies every `*.yml` file of `from` into `to`; none is an error (no rules to run).
fn copy_yaml_files(from: &Path, to: &Path) -> Result<()> {
    let mut copied = 0;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", from.display()))?
            .path();
        if path.extension() == Some(OsStr::new("yml")) && path.is_file() {
            let name = path
                .file_name()
                .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
            fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
            copied += 1;
        }
    }
    if copied == 0 {
        bail!("no rules (*.yml) in {}", from.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_packages_and_the_command() {
        let err = Programs::find(Some(OsStr::new("/nonexistent")))
            .unwrap_err()
            .to_string();
        assert!(err.contains(INSTALL), "{err}");
        assert!(err.contains("package prometheus)"), "{err}");
        assert!(err.contains("package prometheus-alertmanager)"), "{err}");
    }

    #[test]
    fn a_vector_result_keeps_labels_and_special_values() {
        let data = serde_json::json!({
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "instance": "a"}, "value": [1.5, "1"]},
                {"metric": {"instance": "b"}, "value": [1.5, "NaN"]},
                {"metric": {}, "value": [1.5, "+Inf"]},
            ],
        });
        let samples = parse_query_result(&data).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].label("instance"), Some("a"));
        assert_eq!(samples[0].value, 1.0);
        assert!(samples[1].value.is_nan());
        assert_eq!(samples[2].value, f64::INFINITY);
    }

    #[test]
    fn a_range_result_is_refused() {
        let data = serde_json::json!({"resultType": "matrix", "result": []});
        let err = parse_query_result(&data).unwrap_err().to_string();
        assert!(err.contains("matrix"), "{err}");
    }

    #[test]
    fn targets_files_are_valid_file_discovery() {
        assert_eq!(static_targets(std::iter::empty()), "[]\n");
        assert_eq!(
            static_targets(["127.0.0.1:9464".to_owned()].into_iter()),
            "[{\"targets\":[\"127.0.0.1:9464\"]}]\n"
        );
    }
}

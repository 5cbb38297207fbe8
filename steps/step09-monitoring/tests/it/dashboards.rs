//! The Grafana dashboards (`docker/monitoring/grafana/`): the committed JSON is exactly what
//! `generate.py` makes with the pinned grafana-foundation-sdk; every dashboard the step
//! promises is there; every panel asks at least one query; and every metric a query names is
//! one the app's registry really has (or Prometheus's own `up`). Whether each query runs and
//! returns data is the end-to-end test's business, against a real Prometheus, with
//! `panel_queries`' substituted expressions.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use prometheus::core::Collector;
use step09_monitoring::metrics::Metrics;
use testkit::services::grafana::{self, Drift, PanelQuery};

/// The dashboards step 9 promises, by uid, with their titles.
const DASHBOARDS: &[(&str, &str)] = &[
    ("shop-overview", "Shop: service overview"),
    ("shop-red", "Shop: RED per route"),
    ("shop-data-stores", "Shop: data stores and services"),
    ("shop-cache", "Shop: cache"),
    ("shop-saga-outbox", "Shop: sagas, outbox and replica"),
    ("shop-business", "Shop: business"),
];

/// Series Prometheus makes itself for every target, which no registry holds.
const FROM_PROMETHEUS: &[&str] = &["up"];

#[test]
fn the_committed_dashboards_are_what_generate_py_makes() {
    // The error lists each difference and the command that regenerates the JSON.
    if let Err(error) = grafana::check_committed() {
        panic!("{error:#}");
    }
}

#[test]
fn a_hand_edit_a_missing_file_and_a_stale_file_are_each_drift() {
    let python = grafana::ensure().expect("the SDK's venv");
    let dir = Scratch::new();
    let files = grafana::generate_with(&python, dir.path()).expect("generate.py runs");
    assert_eq!(files.len(), DASHBOARDS.len(), "{files:?}");
    assert_eq!(grafana::drift_with(&python, dir.path()).unwrap(), vec![]);

    let edited = dir.path().join("shop-cache.json");
    let text = fs::read_to_string(&edited).unwrap();
    fs::write(
        &edited,
        text.replacen("\"Shop: cache\"", "\"Shop: the cache\"", 1),
    )
    .unwrap();
    fs::remove_file(dir.path().join("shop-red.json")).unwrap();
    fs::write(dir.path().join("shop-old.json"), "{}\n").unwrap();
    let drift = grafana::drift_with(&python, dir.path()).unwrap();
    assert!(
        matches!(&drift[..], [
            Drift::Differs { file, committed, generated, .. },
            Drift::Missing(missing),
            Drift::Extra(extra),
        ] if file == "shop-cache.json"
            && committed.contains("Shop: the cache")
            && generated.contains("Shop: cache")
            && missing == "shop-red.json"
            && extra == "shop-old.json"),
        "{drift:#?}"
    );
}

#[test]
fn every_promised_dashboard_exists_and_every_panel_asks_a_query() {
    let dashboards = grafana::read_dashboards(&grafana::dashboards_dir()).unwrap();
    let found: BTreeMap<&str, &str> = dashboards
        .iter()
        .map(|d| (d.uid.as_str(), d.title.as_str()))
        .collect();
    let promised: BTreeMap<&str, &str> = DASHBOARDS.iter().copied().collect();
    assert_eq!(found, promised);

    for dashboard in &dashboards {
        assert_eq!(
            dashboard.file.file_name().unwrap().to_string_lossy(),
            format!("{}.json", dashboard.uid),
            "a dashboard's file is named by its uid"
        );
        let mut titles = BTreeSet::new();
        let mut panels = 0;
        for panel in &dashboard.panels {
            assert!(
                titles.insert(&panel.title),
                "{}: two panels titled {:?}",
                dashboard.uid,
                panel.title
            );
            // A row only groups the panels below it.
            if panel.kind == "row" {
                continue;
            }
            panels += 1;
            assert!(
                !panel.exprs.is_empty() && panel.exprs.iter().all(|e| !e.trim().is_empty()),
                "{}: the panel {:?} asks no query",
                dashboard.uid,
                panel.title
            );
        }
        assert!(panels > 0, "{}: no panel", dashboard.uid);
    }
}

#[test]
fn every_query_substitutes_to_plain_promql() {
    let queries = grafana::panel_queries(&grafana::dashboards_dir()).unwrap();
    assert!(!queries.is_empty());
    for query in &queries {
        assert!(
            !query.expr.contains('$'),
            "{}/{}: {:?} still has a variable",
            query.dashboard,
            query.panel,
            query.expr
        );
    }
    // The label filters' "All" matches any value; the intervals become durations.
    let red = queries
        .iter()
        .find(|q| q.dashboard == "shop-red" && q.panel == "Rate")
        .expect("the RED dashboard's rate panel");
    assert_eq!(
        red.expr,
        "sum by (route) (rate(http_requests_total{job=\"shop\", route=~\".*\"}[1m]))"
    );
    assert_eq!(
        red.template,
        "sum by (route) (rate(http_requests_total{job=\"shop\", route=~\"$route\"}[$__rate_interval]))"
    );
}

#[test]
fn substitution_keeps_a_regex_anchor_and_refuses_an_unknown_variable() {
    let variables = BTreeMap::from([("instance".to_owned(), ".*".to_owned())]);
    assert_eq!(
        grafana::substitute(
            "sum(increase(x{instance=~\"${instance:regex}\", status=~\"5..$\"}[$__range])) \
             / $__interval",
            &variables
        )
        .unwrap(),
        "sum(increase(x{instance=~\".*\", status=~\"5..$\"}[1h])) / 1m"
    );
    let error = grafana::substitute("rate(x{route=~\"$route\"}[1m])", &variables)
        .expect_err("the dashboard has no `route` variable");
    assert!(format!("{error:#}").contains("`$route`"), "{error:#}");
}

#[test]
fn every_metric_a_panel_queries_is_one_the_app_exports() {
    let exported = Exported::new();
    let queries = grafana::panel_queries(&grafana::dashboards_dir()).unwrap();
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for query in &queries {
        let names = metric_names(&query.expr);
        if names.is_empty() {
            problems.push(format!("{}: names no metric", located(query)));
        }
        for name in names {
            if let Some(problem) = exported.problem(&name) {
                problems.push(format!("{}: {problem}", located(query)));
            }
            used.insert(name);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Each dashboard reads the families it is about.
    for name in [
        "up",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "shop_client_request_duration_seconds_bucket",
        "shop_cache_requests_total",
        "shop_pool_connections",
        "shop_sagas_stuck",
        "shop_outbox_oldest_pending_age_seconds",
        "shop_revenue_minor_units_total",
        "shop_payment_failures_total",
    ] {
        assert!(used.contains(name), "no panel reads {name}: {used:?}");
    }
}

#[test]
fn a_metric_the_app_does_not_export_is_refused() {
    let exported = Exported::new();
    assert_eq!(exported.problem("http_requests_total"), None);
    assert_eq!(
        exported.problem("http_request_duration_seconds_count"),
        None
    );
    assert_eq!(exported.problem("process_resident_memory_bytes"), None);
    assert_eq!(exported.problem("up"), None);
    for refused in [
        "shop_orders_total",
        "http_request_duration_seconds_total",
        "http_requests_total_bucket",
        "shop:http_requests:error_ratio_rate5m",
    ] {
        assert!(
            exported.problem(refused).is_some(),
            "{refused} was accepted"
        );
    }
    // A probe leaves the registry as it was: a refused name stays refused.
    assert!(exported.problem("shop_orders_total").is_some());
}

#[test]
fn metric_names_are_read_from_promql_without_functions_labels_or_keywords() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket\
         {job=\"shop\", route=~\"/v1/{id}\"}[5m] offset 1m))) / ignoring(route) group_left \
         count without (instance) (up == bool 1) or on() vector(0) * 1e-3 + sum(x_total) by (y)",
    );
    assert_eq!(
        names,
        BTreeSet::from(
            ["http_request_duration_seconds_bucket", "up", "x_total"].map(str::to_owned)
        )
    );
}

fn located(query: &PanelQuery) -> String {
    format!(
        "dashboard {}, panel {:?}, query {:?}",
        query.dashboard, query.panel, query.template
    )
}

/// A fresh directory under the target's temp dir, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dashboards-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What the app's registry holds, asked of a fresh [`Metrics`]. A registry gathers only the
/// families that have a sample, so a fresh one cannot list its label-vector families; but it
/// refuses a second collector under a name it already has, so each name is probed by
/// registering a gauge of that name (and unregistering it again when that succeeded).
struct Exported {
    metrics: Metrics,
    /// The histograms' names, whose series are `_bucket`, `_sum` and `_count`.
    histograms: BTreeSet<String>,
}

impl Exported {
    fn new() -> Self {
        let metrics = Metrics::new().expect("the metrics register");
        let histograms = [&metrics.http_duration, &metrics.client_duration]
            .into_iter()
            .flat_map(|h| h.desc())
            .map(|d| d.fq_name.clone())
            .collect();
        Self {
            metrics,
            histograms,
        }
    }

    fn registered(&self, name: &str) -> bool {
        let Ok(probe) = prometheus::IntGauge::new(name, "a probe") else {
            return false;
        };
        match self.metrics.registry().register(Box::new(probe.clone())) {
            // The name (as a family) is there already.
            Err(_) => true,
            Ok(()) => {
                self.metrics
                    .registry()
                    .unregister(Box::new(probe))
                    .expect("the probe unregisters");
                false
            }
        }
    }

    /// Why `name` is not a series the app exports, or `None` when it is.
    fn problem(&self, name: &str) -> Option<String> {
        if FROM_PROMETHEUS.contains(&name) {
            return None;
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && self.histograms.contains(base)
            {
                return None;
            }
        }
        if self.histograms.contains(name) {
            return Some(format!(
                "{name} is a histogram: query its _bucket, _sum or _count series"
            ));
        }
        if self.registered(name) {
            return None;
        }
        Some(format!(
            "{name} is not a metric the app's registry has (nor Prometheus's {FROM_PROMETHEUS:?})"
        ))
    }
}

/// PromQL keywords that read like names: aggregations, binary operators and modifiers.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
];

/// Modifiers followed by a list of label names in parentheses.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads: every identifier that is not a function (a
/// name followed by `(`), a keyword, a label (inside `{...}` or a `by (...)` list), a
/// string, a number or a duration (inside `[...]`, after `offset`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let next_non_space = |from: usize| chars[from..].iter().copied().find(|c| !c.is_whitespace());
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' {
            i = skip_to(&chars, i, '}');
        } else if c == '[' {
            i = skip_to(&chars, i, ']');
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number (1, 0.25, 1e-3, 0x1f) or a duration (5m).
            let start = i;
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                let exponent_sign = (d == '-' || d == '+')
                    && matches!(chars[i - 1], 'e' | 'E')
                    && !chars[start..i].contains(&'x');
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
        } else if is_start(c) {
            let start = i;
            while i < chars.len() && is_part(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let followed_by_paren = next_non_space(i) == Some('(');
            if LABEL_LISTS.contains(&word.as_str()) && followed_by_paren {
                let open = i + chars[i..].iter().position(|c| *c == '(').unwrap_or(0);
                i = skip_to(&chars, open, ')');
            } else if !followed_by_paren && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The index after the string literal starting at `open`.
fn skip_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index after the `close` that ends the bracket opened at `open`, strings skipped.
fn skip_to(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(chars, i),
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    i
}

//! The numbers of a load run: one HDR histogram per endpoint (microseconds, 3 significant
//! digits: exact percentiles in bounded memory, whatever the request count), summarised into
//! rows of requests, requests/s, p50/p90/p99/max and errors by status, plus each row's
//! throughput as a share of the no-I/O reference endpoint measured in the same run, so every
//! figure reads as a ratio of what this machine can do at all. Printed as a table and written
//! as JSON; [`crate::chart`] draws the same rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::scheduler::Sample;

/// The percentiles each row carries for the chart (the table shows 50, 90, 99 and max).
pub const CHART_PERCENTILES: [f64; 8] = [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0];

/// The label of the overall row.
pub const OVERALL: &str = "all";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub endpoint: String,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers outside 2xx/3xx by status (`"429"`), and `"transport"` for no answer at all.
    pub errors: BTreeMap<String, u64>,
    /// This row's requests/s as a percentage of the reference endpoint's, when it ran.
    pub percent_of_reference: Option<f64>,
    /// `(percentile, milliseconds)` at [`CHART_PERCENTILES`].
    pub percentiles: Vec<(f64, f64)>,
}

/// One phase of a run: the samples of one scenario and how long it ran.
pub struct Phase<'a> {
    pub samples: &'a [Sample],
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
    pub arch: String,
    /// The build the server ran: `release` or `debug` (or `external` for `--base-url`).
    pub server_build: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The step the server is (`null`: not known, e.g. a server `loadgen` was pointed at).
    pub step: Option<u8>,
    pub base_url: String,
    pub scenario: String,
    /// `max (closed, C workers)` or `rate R/s (open)`.
    pub mode: String,
    pub started_at: String,
    pub duration_secs: f64,
    pub machine: Machine,
    /// The no-I/O endpoint's row, measured first in the same run; `None` when skipped.
    pub reference: Option<Row>,
    /// One row per endpoint of the scenario, busiest first, then [`OVERALL`].
    pub rows: Vec<Row>,
}

/// A histogram of latencies in microseconds, from 1 µs to 10 minutes.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid")
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn is_error(status: Option<u16>) -> bool {
    !matches!(status, Some(200..=399))
}

fn row(endpoint: &str, samples: &[&Sample], elapsed: Duration) -> Row {
    let mut hist = histogram();
    let mut errors = BTreeMap::new();
    for sample in samples {
        let micros = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
        hist.saturating_record(micros.max(1));
        if is_error(sample.status) {
            let key = sample
                .status
                .map_or_else(|| "transport".to_owned(), |s| s.to_string());
            *errors.entry(key).or_insert(0) += 1;
        }
    }
    let requests = samples.len() as u64;
    let at = |q: f64| {
        if requests == 0 {
            0.0
        } else {
            ms(hist.value_at_quantile(q / 100.0))
        }
    };
    Row {
        endpoint: endpoint.to_owned(),
        requests,
        requests_per_sec: if elapsed.is_zero() {
            0.0
        } else {
            requests as f64 / elapsed.as_secs_f64()
        },
        p50_ms: at(50.0),
        p90_ms: at(90.0),
        p99_ms: at(99.0),
        max_ms: if requests == 0 { 0.0 } else { ms(hist.max()) },
        errors,
        percent_of_reference: None,
        percentiles: CHART_PERCENTILES.iter().map(|&q| (q, at(q))).collect(),
    }
}

/// One row per endpoint (busiest first) and the overall row last.
pub fn rows(phase: &Phase<'_>) -> Vec<Row> {
    let mut by_endpoint: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in phase.samples {
        by_endpoint
            .entry(&sample.endpoint)
            .or_default()
            .push(sample);
    }
    let mut rows: Vec<Row> = by_endpoint
        .iter()
        .map(|(endpoint, samples)| row(endpoint, samples, phase.elapsed))
        .collect();
    rows.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(a.endpoint.cmp(&b.endpoint))
    });
    let all: Vec<&Sample> = phase.samples.iter().collect();
    rows.push(row(OVERALL, &all, phase.elapsed));
    rows
}

/// The reference phase's overall row, renamed after its endpoint.
pub fn reference_row(phase: &Phase<'_>, endpoint: &str) -> Row {
    let all: Vec<&Sample> = phase.samples.iter().collect();
    row(endpoint, &all, phase.elapsed)
}

/// Fills every row's share of the reference throughput.
pub fn relate_to_reference(rows: &mut [Row], reference: &Row) {
    for row in rows {
        row.percent_of_reference = (reference.requests_per_sec > 0.0)
            .then(|| 100.0 * row.requests_per_sec / reference.requests_per_sec);
    }
}

impl Report {
    /// Every error but those the run asked for (429s are a rate limiter doing its job).
    pub fn unexpected_errors(&self) -> u64 {
        self.reference
            .iter()
            .chain(self.rows.iter().filter(|r| r.endpoint != OVERALL))
            .flat_map(|r| r.errors.iter())
            .filter(|(status, _)| status.as_str() != "429")
            .map(|(_, count)| count)
            .sum()
    }

    /// The scenario's 429s and its requests, when 429s are most of its answers: such a run
    /// measured a rate limiter, not the server, and its figures must not pass for the server's.
    pub fn rate_limited(&self) -> Option<(u64, u64)> {
        let overall = self.rows.iter().find(|r| r.endpoint == OVERALL)?;
        let limited = overall.errors.get("429").copied().unwrap_or(0);
        (limited * 2 > overall.requests).then_some((limited, overall.requests))
    }

    /// The first line of the table: what ran, or, when 429s were most of the answers, that.
    pub fn headline(&self) -> String {
        let ran = format!(
            "{} - scenario {} - {} - {:.1} s - {} CPUs, {} server build",
            self.target(),
            self.scenario,
            self.mode,
            self.duration_secs,
            self.machine.cpus,
            self.machine.server_build
        );
        match self.rate_limited() {
            None => ran,
            Some((limited, requests)) => format!(
                "RATE LIMITED: {limited} of {requests} answers ({:.1}%) were 429, so these \
                 figures measure the rate limiter, not the server; serve it with \
                 `cargo xtask run N --no-rate-limits` (or let `cargo xtask load N` start it)\n{ran}",
                100.0 * limited as f64 / requests as f64
            ),
        }
    }

    /// What was driven: `step 4`, or the base URL of a server of no known step.
    pub fn target(&self) -> String {
        self.step
            .map_or_else(|| self.base_url.clone(), |step| format!("step {step}"))
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.headline());
        let _ = writeln!(
            out,
            "{:<34} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}  errors",
            "endpoint", "requests", "req/s", "% ref", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let line = |out: &mut String, row: &Row| {
            let share = row
                .percent_of_reference
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}"));
            let errors = if row.errors.is_empty() {
                "0".to_owned()
            } else {
                row.errors
                    .iter()
                    .map(|(status, count)| format!("{status}: {count}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "{:<34} {:>9} {:>9.0} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
                row.endpoint,
                row.requests,
                row.requests_per_sec,
                share,
                row.p50_ms,
                row.p90_ms,
                row.p99_ms,
                row.max_ms,
                errors
            );
        };
        if let Some(reference) = &self.reference {
            line(&mut out, reference);
        }
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

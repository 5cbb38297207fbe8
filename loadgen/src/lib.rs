//! The load generator of chapter 4, as a library and a binary (`loadgen --base-url URL`): it
//! drives any server with this project's API (a step, later a gateway in front of several) and
//! reports what it measured. [`cli`] (the binary's options), [`scheduler`] (when requests start, latency from the intended
//! start), [`mix`] (what is asked: the task mix and the single-endpoint scenarios), [`report`]
//! (HDR histograms into rows, table, JSON), [`chart`] (the latency chart), [`profile`] (a CPU
//! profile of the server mid-run). `cargo xtask load N` and `profile N` start step N and run the
//! binary, built in release: a debug generator measures itself, not the server. Why a small
//! driver on reqwest rather than goose: goose is a closed model per user (each GooseUser runs
//! its next task when the last answered, throttled at most), so a stalled server slows the
//! senders and the stall disappears from the numbers (coordinated omission); a fixed arrival
//! rate needs requests scheduled at intended times whatever came back, which its scheduler
//! does not offer, and the open-model scheduler here is 100 lines.

pub mod chart;
pub mod cli;
pub mod mix;
pub mod profile;
pub mod report;
pub mod scheduler;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use mix::{Scenario, Target};
use report::{Machine, Phase, Report};

/// How requests arrive.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Closed loop: this many workers back to back (maximum throughput).
    Max { concurrency: usize },
    /// Open model: this many requests per second, latency from the intended start.
    Rate { per_sec: f64, max_in_flight: usize },
}

impl Mode {
    fn describe(self) -> String {
        match self {
            Mode::Max { concurrency } => format!("max (closed, {concurrency} workers)"),
            Mode::Rate { per_sec, .. } => format!("rate {per_sec:.0}/s (open)"),
        }
    }
}

pub struct Plan {
    /// The step the server is, when known: it names the report and its files.
    pub step: Option<u8>,
    pub base_url: String,
    pub scenario: Scenario,
    pub mode: Mode,
    pub duration: Duration,
    /// How long the reference endpoint runs first (closed loop, same concurrency); zero skips.
    pub reference: Duration,
    /// Workers for the reference phase.
    pub reference_concurrency: usize,
    /// Load users the mix registers and signs in before measuring.
    pub users: usize,
    /// How the server was built (`release`, `debug`), or `external` when we do not know.
    pub server_build: String,
    /// A CPU profile of this long, asked of the server 2 s into the scenario.
    pub profile: Option<Duration>,
}

/// What a run brings back.
pub struct Run {
    pub report: Report,
    /// The server's flamegraph (an SVG), when the plan asked for one; an error of its own, so
    /// a failed profile still leaves the load report.
    pub flamegraph: Option<anyhow::Result<Vec<u8>>>,
}

async fn drive(
    target: Arc<Target>,
    scenario: Scenario,
    mode: Mode,
    duration: Duration,
) -> Vec<scheduler::Sample> {
    match mode {
        Mode::Max { concurrency } => {
            scheduler::closed(concurrency, duration, move |_| {
                target.clone().request(scenario)
            })
            .await
        }
        Mode::Rate {
            per_sec,
            max_in_flight,
        } => {
            scheduler::open(per_sec, duration, max_in_flight, move |_| {
                target.clone().request(scenario)
            })
            .await
        }
    }
}

/// Runs the reference phase, then the scenario (with the profile, when asked for), and
/// returns the report.
pub async fn run(plan: &Plan) -> anyhow::Result<Run> {
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let target = Arc::new(Target::prepare(&plan.base_url, plan.scenario, plan.users).await?);
    let reference = if plan.reference.is_zero() || plan.scenario == Scenario::Reference {
        None
    } else {
        let clock = tokio::time::Instant::now();
        let samples = drive(
            target.clone(),
            Scenario::Reference,
            Mode::Max {
                concurrency: plan.reference_concurrency,
            },
            plan.reference,
        )
        .await;
        let elapsed = clock.elapsed();
        Some(report::reference_row(
            &Phase {
                samples: &samples,
                elapsed,
            },
            mix::REFERENCE_LABEL,
        ))
    };
    // Started with the scenario, so it samples the scenario warmed up, not the reference.
    let profile = plan.profile.map(|length| {
        let base = plan.base_url.clone();
        tokio::spawn(async move {
            tokio::time::sleep(profile::WARM_UP).await;
            profile::fetch(&base, length).await
        })
    });
    let clock = tokio::time::Instant::now();
    let samples = drive(target, plan.scenario, plan.mode, plan.duration).await;
    let elapsed = clock.elapsed();
    let flamegraph = match profile {
        Some(task) => Some(match task.await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("the profile request panicked")),
        }),
        None => None,
    };
    let mut rows = report::rows(&Phase {
        samples: &samples,
        elapsed,
    });
    let reference_for_ratio = reference.clone().or_else(|| {
        (plan.scenario == Scenario::Reference)
            .then(|| rows.last().cloned())
            .flatten()
    });
    let mut reference = reference;
    if let Some(reference_row) = &reference_for_ratio {
        report::relate_to_reference(&mut rows, reference_row);
        if let Some(own) = reference.as_mut() {
            report::relate_to_reference(std::slice::from_mut(own), reference_row);
        }
    }
    let report = Report {
        step: plan.step,
        base_url: plan.base_url.clone(),
        scenario: plan.scenario.name().to_owned(),
        mode: plan.mode.describe(),
        started_at,
        duration_secs: elapsed.as_secs_f64(),
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            server_build: plan.server_build.clone(),
        },
        reference,
        rows,
    };
    Ok(Run { report, flamegraph })
}

/// A file name stamp: UTC, sortable, no characters file systems dislike.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// `step4-` for a report of step 4, nothing for a server of no known step: the start of its
/// files' names after `load-` or `flamegraph-`.
pub fn step_prefix(step: Option<u8>) -> String {
    step.map_or_else(String::new, |step| format!("step{step}-"))
}

/// Writes `load-stepN-<scenario>-<stamp>.json` and `.svg` into `dir`; returns both paths.
pub fn write(report: &Report, dir: &Path, stamp: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!(
        "load-{}{}-{stamp}",
        step_prefix(report.step),
        report.scenario
    );
    let json = dir.join(format!("{stem}.json"));
    std::fs::write(&json, serde_json::to_vec_pretty(report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let svg = dir.join(format!("{stem}.svg"));
    chart::write_svg(report, &svg)?;
    Ok((json, svg))
}

#[cfg(test)]
mod tests;

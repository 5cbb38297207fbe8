//! `GET /internal/profile?seconds=N`: samples this process's CPU for N seconds (default 10,
//! at most `optimize.max_profile_seconds`) with pprof-rs, in-process (a `SIGPROF` timer: no
//! `perf`, no kernel permissions), and answers the flamegraph as `image/svg+xml`. Served only
//! when profiling is enabled (`optimize.profiling_enabled`; by default in development only),
//! else 404 like any unknown path. One profile at a time (the sampler is process-wide): a
//! second request meanwhile gets 409 `PROFILE_RUNNING`. A bad `seconds` gets 400.
//!
//! Contract for `cargo xtask profile N`: start the load run, `GET
//! {base}/internal/profile?seconds=S` while it runs (the answer comes after S seconds), write
//! the body to an `.svg` file. The request is not rate limited.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::Error;
use common::extract::Query;
use serde::Deserialize;

use crate::config::OptimizeConfig;
use crate::startup::AppState;

/// The path (exempted from rate limiting in [`crate::startup`]).
pub const PROFILE_PATH: &str = "/internal/profile";

/// Seconds when the request does not say.
pub const DEFAULT_SECONDS: u64 = 10;

/// The profiler's state: one run at a time.
#[derive(Clone, Default)]
pub struct Profiler {
    running: Arc<tokio::sync::Mutex<()>>,
}

pub fn router() -> Router<AppState> {
    Router::new().route(PROFILE_PATH, get(profile))
}

#[derive(Debug, Deserialize)]
pub struct ProfileParams {
    seconds: Option<u64>,
}

/// The flamegraph SVG of the next `seconds` of CPU time. Errors are the API's one error
/// shape, with the request id: a bad `seconds` is 400 `INVALID_PARAMETER` (also when it is not
/// a number: common's `Query` says so), a profile already running 409 `PROFILE_RUNNING`, and
/// a profile of an idle server, which has no sample to draw, 409 `NO_SAMPLES`.
pub async fn profile(
    State(profiler): State<Profiler>,
    State(config): State<Arc<OptimizeConfig>>,
    Query(params): Query<ProfileParams>,
) -> Result<Response, Error> {
    let max = config.max_profile_seconds;
    let seconds = match params.seconds {
        None => DEFAULT_SECONDS.min(max),
        Some(s) if (1..=max).contains(&s) => s,
        Some(_) => {
            return Err(Error::InvalidParameter {
                name: "seconds".to_owned(),
                reason: format!("must be a whole number from 1 to {max}"),
            });
        }
    };
    let Ok(_running) = profiler.running.clone().try_lock_owned() else {
        return Err(Error::Conflict {
            code: "PROFILE_RUNNING",
            message: "a profile is being recorded; try again when it is done".to_owned(),
            fields: Vec::new(),
        });
    };
    let frequency = config.profile_frequency_hz;
    // pprof's guard is not Send and sampling is a wait: a blocking thread of its own.
    let svg = tokio::task::spawn_blocking(move || record(Duration::from_secs(seconds), frequency))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
        .map_err(|err| Error::Internal(err.context("recording a CPU profile")))?
        // An idle process gives no sample: an empty flamegraph would look like a result.
        .ok_or_else(|| Error::Conflict {
            code: "NO_SAMPLES",
            message: format!(
                "no CPU sample in {seconds} s: the server was idle; profile it under load \
                 (`cargo xtask profile N` runs one)"
            ),
            fields: Vec::new(),
        })?;
    Ok((
        [(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "no-store")],
        svg,
    )
        .into_response())
}

/// Samples every thread for `duration` at `frequency` Hz; the flamegraph SVG, or `None` when
/// nothing ran (no sample at all).
pub fn record(duration: Duration, frequency: i32) -> anyhow::Result<Option<Vec<u8>>> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(frequency)
        // Unwinding through these from a signal handler can deadlock or crash.
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    std::thread::sleep(duration);
    let report = guard.report().build()?;
    if report.data.is_empty() {
        return Ok(None);
    }
    let mut svg = Vec::new();
    report.flamegraph(&mut svg)?;
    Ok(Some(svg))
}

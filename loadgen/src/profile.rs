//! A CPU profile of the server while it is under load: `GET /internal/profile?seconds=S` (step 4
//! on, when profiling is enabled) samples the server's own threads for S seconds and answers a
//! flamegraph SVG, so no `perf` or kernel permission is needed. The request goes out
//! [`WARM_UP`] into the scenario, from the generator itself, which knows when its scenario
//! started (the reference phase and the mix's sign-ins come before, and take their own time).

use std::time::Duration;

use anyhow::{Context, bail};

/// How long the scenario runs before the profile starts: connections open, caches warm.
pub const WARM_UP: Duration = Duration::from_secs(2);

/// The path of the profile endpoint.
pub const PROFILE_PATH: &str = "/internal/profile";

/// Asks the server at `base` for a profile of `length` (whole seconds); returns the SVG.
pub async fn fetch(base: &str, length: Duration) -> anyhow::Result<Vec<u8>> {
    let seconds = length.as_secs();
    let url = format!(
        "{}{PROFILE_PATH}?seconds={seconds}",
        base.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .get(&url)
        // The answer comes after the sampling; the margin covers a busy server's reply.
        .timeout(length + Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "GET {url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body.to_vec())
}

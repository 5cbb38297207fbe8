//! Running async client code from the provisioning layer's sync API.
//!
//! Starting a service, checking it answers and dropping a per-test database are sync calls
//! (xtask is sync; `Drop` cannot await), yet the drivers are async. Each such call runs on a
//! thread of its own with a current-thread runtime, so it works from plain code and from inside
//! a test's runtime alike (`Runtime::block_on` on a runtime thread would panic), and nothing
//! it creates outlives it. Docker calls are different, see [`super::docker`].

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

/// Runs `work` to completion on a new thread with a current-thread runtime.
pub(crate) fn on_own_runtime<F, T>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a Tokio runtime")?
            .block_on(work)
    })
    .join()
    .map_err(|_| anyhow!("a provisioning helper thread panicked"))?
}

/// [`on_own_runtime`], giving up after `timeout`: the readiness checks, which must not hang on
/// a server that accepts connections but never answers.
pub(crate) fn on_own_runtime_within<F, T>(timeout: Duration, work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    on_own_runtime(async move {
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| anyhow!("no answer within {timeout:?}"))?
    })
}

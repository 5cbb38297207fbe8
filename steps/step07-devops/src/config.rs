//! Step 7's configuration: step 6's [`step06_distributed::Config`], flattened, so every
//! earlier key keeps its name and its `APP__*` variable, plus a `shutdown` section: how long
//! the server keeps serving once asked to stop, with its readiness probe failing, and the
//! deadline by which everything has stopped.

use anyhow::bail;
use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use serde::{Deserialize, Serialize};
use step06_distributed::config::between;

/// Everything step 7 reads.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step06_distributed::Config,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
}

/// What happens between SIGTERM and the exit ([`crate::shutdown`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// How long the server keeps accepting after the signal, with `/readyz` answering 503:
    /// a load balancer (a Kubernetes Service's endpoints, nginx's health checks) takes a
    /// moment to stop sending, and a request it sends meanwhile is still served.
    pub drain_delay_ms: u64,
    /// From the signal, how long the whole stop may take: the drain delay, the requests in
    /// flight, the running saga steps and the outbox relay reaching a safe point. Work still
    /// running then is cut off, the process exits 1, and step 6's recovery finishes it.
    /// Keep it below the orchestrator's grace period (Kubernetes: 30 s, then SIGKILL).
    pub deadline_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_delay_ms: 5_000,
            deadline_ms: 25_000,
        }
    }
}

impl ExtendsConfig for Config {
    /// Step 7's section (step 6's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        let s = &self.shutdown;
        between("shutdown.drain_delay_ms", s.drain_delay_ms, 0..=600_000)?;
        between("shutdown.deadline_ms", s.deadline_ms, 100..=3_600_000)?;
        if s.drain_delay_ms >= s.deadline_ms {
            bail!(
                "shutdown.drain_delay_ms ({}) must be less than shutdown.deadline_ms ({}): the \
                 deadline counts from the signal and must leave time to finish the requests \
                 in flight",
                s.drain_delay_ms,
                s.deadline_ms
            );
        }
        Ok(())
    }
}

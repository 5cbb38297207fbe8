//! A SIGTERM, the way an orchestrator sends it before it stops an instance, handled in order
//! (common's `Step::serve` calls these at each stage):
//!
//! 1. [`stopping`]: `/readyz` answers 503 `stopping` at once; the server still accepts and
//!    serves for `shutdown.drain_delay_ms`, while the load balancer notices and stops
//!    sending (Kubernetes removes the pod from its Service's endpoints asynchronously; a
//!    request routed to it meanwhile is served, not refused).
//! 2. The server stops accepting and finishes the requests in flight (common's `serve`):
//!    a placing or paying request drives its saga to the end within the request.
//! 3. [`stopped`]: step 6's workers finish the round they are in (a recovery pass with the
//!    sagas it drives, a batch relayed, a batch consumed) and end.
//!
//! All within `shutdown.deadline_ms` of the signal; past it, `serve` fails, the binary exits
//! 1, and whatever was cut off is a saga step or an outbox batch that step 6's recovery and
//! the next relay finish on another instance, as after a crash. Exit 0 means nothing was cut
//! off.

use std::time::Duration;

use step06_distributed::workers::Workers;

use crate::config::ShutdownConfig;
use crate::probes::Stopping;

/// Marks the instance not ready, then waits out the drain delay.
pub async fn stopping(flag: &Stopping, config: &ShutdownConfig) {
    flag.set();
    tracing::info!(
        drain_delay_ms = config.drain_delay_ms,
        "asked to stop: /readyz now answers 503; serving on while load balancers notice"
    );
    tokio::time::sleep(Duration::from_millis(config.drain_delay_ms)).await;
    tracing::info!("no longer accepting; finishing the requests in flight");
}

/// Lets the workers end their rounds.
pub async fn stopped(workers: &Workers) {
    tracing::info!("requests done; letting the workers finish their rounds");
    workers.stop().await;
    tracing::info!("stopped cleanly");
}

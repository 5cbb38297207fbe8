//! The background work each instance runs: the recovery worker, the outbox relay and one
//! member of each consumer group. Started when the state is wired, stopped when the last
//! handle on the state is dropped: the server's router holds the state (step 6's own routes
//! are bound to it), a test's app holds it, a command that built the state drops it. The
//! tasks hold the pool and the connections, never the state, so nothing else keeps them
//! alive.
//!
//! Each task is a loop of rounds ([`rounds`]): a recovery pass, a batch relayed, a batch
//! consumed. Dropping the handle aborts a round wherever it is, which the sagas and the
//! outbox survive (their state is in PostgreSQL, and recovery or the next round finishes
//! what was cut off); [`Workers::stop`] is the gentler way, for a graceful shutdown: every
//! task finishes the round it is in, then ends.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::config::Config;
use crate::consumers::{Consumer, Mailbox, Runner, SalesProjection};
use crate::outbox::Relay;
use crate::saga::Sagas;
use crate::streams::Streams;

/// The running tasks; dropping it aborts them, [`Workers::stop`] lets them end a round first.
pub struct Workers {
    tasks: Vec<AbortHandle>,
    /// Tells the tasks to end after their round ([`rounds`]).
    stop: watch::Sender<bool>,
    /// Awaited by [`Workers::stop`]; taken by the first call.
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Workers {
    /// Asks every task to end after the round it is in, and waits until they have: then
    /// no saga step is half-driven by this instance and no batch of events half-relayed or
    /// half-applied. A second call returns at once.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()));
        for task in running {
            let _ = task.await;
        }
    }

    /// Whether every task still runs (none ended, none was asked to).
    pub fn running(&self) -> bool {
        !*self.stop.borrow() && self.tasks.iter().all(|task| !task.is_finished())
    }
}

/// Runs `round` until `stop` says so: at once again when a round says there is more to do,
/// else after `idle`. `stop` is only looked at between rounds, so a round always finishes;
/// an idle wait ends early when it comes.
pub async fn rounds<F, Fut>(mut stop: watch::Receiver<bool>, idle: Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    while !*stop.borrow() {
        if round().await {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            // A dropped sender (the handle is gone) stops the loop as well.
            _ = stop.changed() => {}
        }
    }
}

/// The full key of the events stream: the Redis key prefix, then `outbox.stream`.
pub fn stream_key(config: &Config) -> String {
    format!("{}{}", config.cache.key_prefix, config.outbox.stream)
}

/// Step 6's consumers, which every instance runs (a later step may add to them: the
/// `consumers` of step 6's parts).
pub fn consumers() -> Vec<Arc<dyn Consumer>> {
    vec![Arc::new(SalesProjection), Arc::new(Mailbox)]
}

/// Starts the workers: the recovery, the relay, and a member of each of `consumers`' groups.
/// Needs a Tokio runtime.
pub fn start(
    config: &Config,
    sagas: &Sagas,
    consumers: Vec<Arc<dyn Consumer>>,
) -> anyhow::Result<Workers> {
    let streams = Arc::new(Streams::new(&config.redis)?);
    let stream = stream_key(config);
    let poll = Duration::from_millis(config.outbox.poll_ms);
    let (stop, stopped) = watch::channel(false);
    let mut running = vec![
        tokio::spawn(crate::recovery::run(sagas.clone(), stopped.clone())),
        tokio::spawn(
            Relay {
                pool: sagas.pool.clone(),
                streams: streams.clone(),
                stream: stream.clone(),
                batch: i64::from(config.outbox.batch),
            }
            .run(poll, stopped.clone()),
        ),
    ];
    for consumer in consumers {
        let runner = Runner {
            consumer,
            pool: sagas.pool.clone(),
            streams: streams.clone(),
            stream: stream.clone(),
            member: sagas.owner.to_string(),
            batch: config.outbox.batch,
            claim_idle_ms: config.outbox.claim_idle_ms,
            max_deliveries: config.outbox.max_deliveries,
        };
        running.push(tokio::spawn(runner.run(poll, stopped.clone())));
    }
    Ok(Workers {
        tasks: running.iter().map(JoinHandle::abort_handle).collect(),
        stop,
        running: Mutex::new(running),
    })
}

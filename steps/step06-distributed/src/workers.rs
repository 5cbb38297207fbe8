//! The background work each instance runs: the recovery worker, the outbox relay and one
//! member of each consumer group. Started when the state is wired, stopped when the last
//! handle on the state is dropped: the server's router holds the state (step 6's own routes
//! are bound to it), a test's app holds it, a command that built the state drops it. The
//! tasks hold the pool and the connections, never the state, so nothing else keeps them
//! alive.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::config::Config;
use crate::consumers::{Consumer, Mailbox, Runner, SalesProjection};
use crate::outbox::Relay;
use crate::saga::Sagas;
use crate::streams::Streams;

/// The running tasks; dropping it stops them.
pub struct Workers {
    tasks: Vec<AbortHandle>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The full key of the events stream: the Redis key prefix, then `outbox.stream`.
pub fn stream_key(config: &Config) -> String {
    format!("{}{}", config.cache.key_prefix, config.outbox.stream)
}

/// The consumers every instance runs.
pub fn consumers() -> Vec<Arc<dyn Consumer>> {
    vec![Arc::new(SalesProjection), Arc::new(Mailbox)]
}

/// Starts the workers. Needs a Tokio runtime.
pub fn start(config: &Config, sagas: &Sagas) -> anyhow::Result<Workers> {
    let streams = Arc::new(Streams::new(&config.redis)?);
    let stream = stream_key(config);
    let poll = Duration::from_millis(config.outbox.poll_ms);
    let mut tasks = vec![
        tokio::spawn(crate::recovery::run(sagas.clone())).abort_handle(),
        tokio::spawn(
            Relay {
                pool: sagas.pool.clone(),
                streams: streams.clone(),
                stream: stream.clone(),
                batch: i64::from(config.outbox.batch),
            }
            .run(poll),
        )
        .abort_handle(),
    ];
    for consumer in consumers() {
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
        tasks.push(tokio::spawn(runner.run(poll)).abort_handle());
    }
    Ok(Workers { tasks })
}

//! The near cache's line to Redis: one RESP3 connection per instance with `CLIENT TRACKING ON
//! BCAST PREFIX <prefix>gen:`, so Redis pushes the name of every generation counter that
//! changes, and a heartbeat on it that proves the pushes still arrive (the reasoning is in
//! [`super::near`]).
//!
//! The task runs while its cache exists (it holds it weakly) and never gives up: a failed
//! connection, a refused `CLIENT TRACKING` (a Redis before 6, a proxy that forbids it) or a
//! ping that does not come back in time suspends the near cache and tries again after
//! `redis.retry_after_ms`; until then reads simply ask Redis.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};

use super::near::{NearCache, WeakNear};
use crate::config::{NearConfig, RedisConfig};

/// Timings of the task, from the configuration.
struct Timings {
    connect: Duration,
    response: Duration,
    heartbeat: Duration,
    retry_after: Duration,
}

/// Starts the task that keeps `near` fed with invalidations of the counters under
/// `gen_prefix`. Needs a Tokio runtime.
pub fn spawn(
    near: &NearCache,
    redis: &RedisConfig,
    config: &NearConfig,
    gen_prefix: String,
) -> anyhow::Result<()> {
    let client = crate::redis_handle::client(redis)?;
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    let timings = Timings {
        connect: Duration::from_millis(redis.connect_timeout_ms),
        // A ping slower than the bound could not keep the cache serving anyway.
        response: Duration::from_millis(redis.response_timeout_ms.min(config.max_staleness_ms)),
        heartbeat: Duration::from_millis(config.heartbeat_ms),
        retry_after: Duration::from_millis(redis.retry_after_ms),
    };
    tokio::spawn(run(near.downgrade(), client, gen_prefix, timings));
    Ok(())
}

async fn run(weak: WeakNear, client: redis::Client, gen_prefix: String, timings: Timings) {
    let mut reported = false;
    loop {
        match connect(&weak, &client, &gen_prefix, &timings).await {
            Ok(conn) => {
                if reported {
                    tracing::info!("near cache: tracking Redis again, serving");
                    reported = false;
                }
                if !heartbeats(&weak, conn, &timings).await {
                    return;
                }
            }
            Err(error) => {
                if !reported {
                    tracing::warn!(%error, "near cache: cannot track Redis; reads ask Redis");
                    reported = true;
                }
            }
        }
        let Some(near) = weak.upgrade() else { return };
        near.suspend();
        drop(near);
        tokio::time::sleep(timings.retry_after).await;
    }
}

/// A tracking connection, with the cache flushed after tracking is on (whatever was cached
/// before may have missed an invalidation) and serving from its first heartbeat.
async fn connect(
    weak: &WeakNear,
    client: &redis::Client,
    gen_prefix: &str,
    timings: &Timings,
) -> anyhow::Result<MultiplexedConnection> {
    let pushes = push_handler(weak.clone());
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timings.connect))
        .set_response_timeout(Some(timings.response))
        .set_push_sender(pushes);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(gen_prefix)
        .query_async::<()>(&mut conn)
        .await?;
    if let Some(near) = weak.upgrade() {
        near.flush();
    }
    Ok(conn)
}

/// Pings until a ping fails (then `true`: reconnect) or the cache is gone (`false`).
async fn heartbeats(weak: &WeakNear, mut conn: MultiplexedConnection, timings: &Timings) -> bool {
    loop {
        let Some(near) = weak.upgrade() else {
            return false;
        };
        let sent = near.clock();
        drop(near);
        let pong = tokio::time::timeout(
            timings.response,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match pong {
            // Every push sent before this answer has been applied: the connection delivers
            // them in order, and the handler runs before the answer is handed over.
            Ok(Ok(_)) => match weak.upgrade() {
                Some(near) => near.confirm(sent),
                None => return false,
            },
            Ok(Err(error)) => {
                tracing::warn!(%error, "near cache: tracking connection failed; reconnecting");
                return true;
            }
            Err(_) => {
                tracing::warn!("near cache: Redis did not answer a heartbeat in time");
                return true;
            }
        }
        tokio::time::sleep(timings.heartbeat).await;
    }
}

/// Applies what Redis pushes: invalidated counters, a flush (`null`: `FLUSHDB`/`FLUSHALL`),
/// and the library's own notice that the connection is gone.
fn push_handler(weak: WeakNear) -> impl Fn(PushInfo) -> Result<(), std::convert::Infallible> {
    move |push: PushInfo| {
        let Some(near) = weak.upgrade() else {
            return Ok(());
        };
        match push.kind {
            PushKind::Invalidate => match push.data.first() {
                Some(Value::Array(keys)) => {
                    let names: Vec<&str> = keys
                        .iter()
                        .filter_map(|key| match key {
                            Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
                            Value::SimpleString(text) => Some(text.as_str()),
                            _ => None,
                        })
                        .collect();
                    // A name we cannot read could be any counter: drop everything.
                    if names.len() == keys.len() {
                        near.invalidate(names);
                    } else {
                        near.flush();
                    }
                }
                _ => near.flush(),
            },
            PushKind::Disconnection => near.suspend(),
            _ => {}
        }
        Ok(())
    }
}

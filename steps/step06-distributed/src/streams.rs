//! The Redis connection of the outbox: the relay's appends and the consumers' reads. Its own
//! connection rather than step 3's shared handle, for two reasons: a consumer group command
//! that answers an expected error (`BUSYGROUP` when the group exists) must not trip the
//! cache's circuit breaker, and Redis being down must not stop the events (they wait in
//! PostgreSQL's outbox, and the consumers' pending entries wait in the stream).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisResult};
use step03_caching::config::RedisConfig;
use tokio::sync::Mutex;

/// One stream entry: its id and its fields.
pub type Entry = (String, HashMap<String, String>);

/// A lazily (re)connected connection with a bound on every call.
pub struct Streams {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    timeout: Duration,
}

impl Streams {
    pub fn new(config: &RedisConfig) -> anyhow::Result<Streams> {
        let client = step03_caching::redis_handle::client(config)?;
        Ok(Streams {
            client,
            conn: Mutex::new(None),
            timeout: Duration::from_millis(
                config.connect_timeout_ms.max(config.response_timeout_ms),
            ),
        })
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        let mut conn = self.conn.lock().await;
        if let Some(conn) = conn.as_ref() {
            return Ok(conn.clone());
        }
        let fresh = self.client.get_multiplexed_async_connection().await?;
        *conn = Some(fresh.clone());
        Ok(fresh)
    }

    /// Runs `cmd` (or a pipeline); a failed or late call drops the connection, so the next
    /// call connects afresh.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let outcome = tokio::time::timeout(self.timeout, async {
            let mut conn = self.connection().await?;
            cmd.query_async::<T>(&mut conn).await
        })
        .await;
        self.settle(outcome).await
    }

    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> anyhow::Result<T> {
        let outcome = tokio::time::timeout(self.timeout, async {
            let mut conn = self.connection().await?;
            pipe.query_async::<T>(&mut conn).await
        })
        .await;
        self.settle(outcome).await
    }

    async fn settle<T>(
        &self,
        outcome: Result<RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> anyhow::Result<T> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    *self.conn.lock().await = None;
                }
                Err(e.into())
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Err(anyhow::anyhow!(
                    "Redis did not answer in {:?}",
                    self.timeout
                ))
            }
        }
    }

    /// Creates consumer group `group` on `stream` (and the stream) unless it exists.
    pub async fn ensure_group(&self, stream: &str, group: &str) -> anyhow::Result<()> {
        let created = self
            .query::<()>(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(stream)
                    .arg(group)
                    .arg("0")
                    .arg("MKSTREAM"),
            )
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

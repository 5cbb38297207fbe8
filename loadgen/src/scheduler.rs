//! When requests start, and from when their latency counts. Two models: [`open`] schedules
//! request `i` at `start + i / rate` whatever happened before (an open model, how real users
//! arrive) and measures each latency from that *intended* start, so a server stall that delays
//! later sends shows up in their latencies instead of being hidden (no coordinated omission);
//! [`closed`] runs C workers back to back, for the maximum throughput, where latency is from the
//! actual send (there is no intended time). Both take the request as a closure, so the same
//! scheduler drives HTTP in a run and a synthetic task in the unit tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One finished request, as the scheduler saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The endpoint label the task reported (e.g. `GET /products/{id}`).
    pub endpoint: String,
    /// `Some(status)` for an HTTP answer, `None` for a transport error or a timeout.
    pub status: Option<u16>,
    /// From the intended start (open model) or the send (closed model) to the answer.
    pub latency: Duration,
    /// When the request was meant to start, from the run's start: the chart's x axis.
    pub at: Duration,
}

/// What a task reports back: its endpoint label and the HTTP status (`None`: no answer).
pub type Outcome = (String, Option<u16>);

/// The intended start of request `index` at `rate` requests per second, from the run's start.
pub fn intended_offset(index: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

/// Open model: request `i` is due at `start + i / rate` for `duration`; its latency runs from
/// that due time. At most `max_in_flight` run at once, a bound on the generator's own memory:
/// a request waiting for a slot still counts its wait, since its clock started when it was due.
pub async fn open<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    task: F,
) -> Vec<Sample>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    assert!(rate > 0.0, "the rate must be positive");
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let start = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut index = 0u64;
    loop {
        let offset = intended_offset(index, rate);
        if offset >= duration {
            break;
        }
        let due = start + offset;
        tokio::time::sleep_until(due).await;
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let request = task(index);
        let sender = sender.clone();
        tokio::spawn(async move {
            let (endpoint, status) = request.await;
            drop(permit);
            let _ = sender.send(Sample {
                endpoint,
                status,
                latency: due.elapsed(),
                at: offset,
            });
        });
        index += 1;
    }
    drop(sender);
    let mut samples = Vec::with_capacity(index as usize);
    while let Some(sample) = receiver.recv().await {
        samples.push(sample);
    }
    samples
}

/// Closed model: `workers` loops, each starting its next request when the last one answered,
/// until `duration` has passed. The throughput it reaches is the server's maximum at that
/// concurrency; latency is from each send.
pub async fn closed<F, Fut>(workers: usize, duration: Duration, task: F) -> Vec<Sample>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let task = Arc::new(task);
    let start = Instant::now();
    let deadline = start + duration;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..workers.max(1) {
        let task = task.clone();
        let counter = counter.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let index = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = Instant::now();
                let (endpoint, status) = task(index).await;
                samples.push(Sample {
                    endpoint,
                    status,
                    latency: sent.elapsed(),
                    at: sent - start,
                });
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for handle in handles {
        samples.extend(handle.await.expect("a load worker panicked"));
    }
    samples
}

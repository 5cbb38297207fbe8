//! Serving connections: the accept loop and each connection's clock. `axum::serve` has no
//! header-read timeout, no idle timeout and no connection cap, so a client that opened
//! connections and never finished a request held each of them forever, until the process ran
//! out of file descriptors ("Too many open files") and `GET /health` went unanswered. Here
//! hyper serves each connection (HTTP/1.1, and HTTP/2 with prior knowledge, as `axum::serve`
//! did) under a watchdog with the semantics of Go's `net/http` (`ReadHeaderTimeout`,
//! `IdleTimeout`): a request's head must arrive within the header-read timeout, counted from
//! the connection's start for its first request and from the first byte for a later one; a
//! connection with nothing to do is closed after the idle timeout; at most `max_connections`
//! are open at once, and at the cap the listener is not read, so new connections wait in the
//! kernel's backlog until one closes.
//!
//! Why not hyper's own `header_read_timeout`: its clock starts when a connection begins waiting
//! for a request, idle or not, so it would also close every kept-alive connection after the
//! header-read timeout (10 s), shorter than nginx keeps its upstream connections (60 s). And
//! it never starts on a connection that has sent nothing, or part of the HTTP/2 preface:
//! hyper-util's protocol detection waits for those bytes without a clock. One watchdog
//! covers every case, for both protocols.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, Version};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// The connection limits from [`ServerConfig`], as durations.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `server.header_read_timeout_ms`: how long a request's head may take to arrive.
    pub header_read: Duration,
    /// `server.idle_timeout_ms`: how long a kept-alive connection may wait for a request.
    pub idle: Duration,
    /// `server.max_connections`: how many connections are served at once.
    pub max_connections: u32,
}

impl From<&ServerConfig> for Limits {
    fn from(server: &ServerConfig) -> Self {
        Self {
            header_read: Duration::from_millis(server.header_read_timeout_ms),
            idle: Duration::from_millis(server.idle_timeout_ms),
            max_connections: server.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `stop` completes; then stops accepting, asks every
/// connection to close once its requests are answered, and returns when all have closed.
/// Each connection's clock keeps running meanwhile, so one that never finishes its headers
/// cannot hold the shutdown up beyond its header-read timeout.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Off: the watchdog below is the one header clock (see the module's doc for why).
    builder.http1().header_read_timeout(None);
    // As `axum::serve` has it: the extended CONNECT of HTTP/2 (RFC 8441), for WebSockets.
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);

    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    // Each connection holds a receiver: a send asks them all to close, and `closed()` is when
    // the last one has.
    let (stopping, _) = watch::channel(());
    let mut failures = AcceptFailures::default();
    tokio::pin!(stop);

    'serving: loop {
        // A slot before `accept`: at the cap the listener is not read, and new connections
        // wait in the kernel's backlog rather than being accepted only to be refused. Once the
        // backlog is full too, the kernel ignores their SYNs and the clients retry.
        let slot = tokio::select! {
            biased;
            () = &mut stop => break 'serving,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = loop {
            let accepted = tokio::select! {
                biased;
                () = &mut stop => break 'serving,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok(accepted) => {
                    failures.recovered();
                    break accepted;
                }
                Err(error) => {
                    if let Some(pause) = failures.failed(&error) {
                        tokio::select! {
                            biased;
                            () = &mut stop => break 'serving,
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            }
        };
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            builder.clone(),
            limits,
            stopping.subscribe(),
            slot,
        ));
    }

    // Closing the listener refuses new connections at once, instead of leaving them in the
    // backlog of a server that will never accept them.
    drop(listener);
    let _ = stopping.send(());
    stopping.closed().await;
    Ok(())
}

/// Serves one connection until it closes, or until its clock says it must.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Limits,
    mut stopping: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses go out as soon as they are written, not held back by Nagle's algorithm until
    // the client acknowledges the previous segment.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
    }
    let clock = Arc::new(Clock::new(limits));
    let io = TokioIo::new(Watched {
        stream,
        clock: clock.clone(),
    });
    let service = PerConnection {
        router,
        peer,
        clock: clock.clone(),
    };
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let alarm = tokio::time::sleep_until(clock.deadline());
    tokio::pin!(alarm);
    let mut closing = false;
    loop {
        // The connection first: a task that ran late reads the head that did arrive, and
        // starts its request, before the clock can call it late.
        tokio::select! {
            biased;
            served = conn.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                break;
            }
            _ = stopping.changed(), if !closing => {
                closing = true;
                clock.close();
                conn.as_mut().graceful_shutdown();
            }
            () = clock.changed.notified() => {}
            () = &mut alarm => {
                if clock.deadline() <= Instant::now() {
                    if closing {
                        tracing::debug!(%peer, "closing a connection that did not close when asked");
                        break;
                    }
                    tracing::debug!(%peer, "closing a connection past its header-read or idle timeout");
                    closing = true;
                    clock.close();
                    // An idle connection closes here at once (HTTP/2 with a GOAWAY); one in the
                    // middle of a head does not, and is dropped when the clock fires again.
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        alarm.as_mut().reset(clock.deadline());
    }
}

/// What one connection is doing, and so when it must have done more. Written by the service
/// (a request starts, its response ends) and the socket (bytes arrive); read by the connection's
/// task, which [`Clock::changed`] wakes when the deadline moves earlier.
struct Clock {
    limits: Limits,
    state: Mutex<State>,
    /// Woken when the deadline moves earlier than the task's alarm may be set for.
    changed: Notify,
}

struct State {
    /// Requests started and not yet answered in full (their response bodies not yet sent).
    in_flight: usize,
    /// Since when nothing has been in flight: the connection's start, or its last response.
    idle_since: Instant,
    /// When the first byte of the next request's head arrived, if it has and the request has
    /// not started yet (HTTP/1 only: an HTTP/2 client sends pings and settings when idle).
    head_since: Option<Instant>,
    /// Whether any request has started: the first one gets the header-read timeout from the
    /// connection's start, later ones the idle timeout before their first byte.
    served: bool,
    /// Whether the requests are HTTP/2.
    http2: bool,
    /// When the connection was asked to close (idle too long, or the server stopping).
    closing_since: Option<Instant>,
}

/// A day: "no deadline", in a form the alarm can be set to; it is re-armed long before.
const FAR: Duration = Duration::from_secs(24 * 60 * 60);

impl Clock {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                head_since: None,
                served: false,
                http2: false,
                closing_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the connection must be closed if nothing changes; [`FAR`] from now if never.
    fn deadline(&self) -> Instant {
        let state = self.state();
        let limits = &self.limits;
        let never = Instant::now() + FAR;
        if state.in_flight > 0 {
            // Requests are bounded by the request timeout and answered in full, even when the
            // server is stopping.
            return never;
        }
        let head = state.head_since.map(|t| later(t, limits.header_read));
        let waiting = match state.closing_since {
            // Asked to close: a head under way may still finish in its time (graceful
            // shutdown answers it); otherwise the connection has as long again to close.
            Some(asked) => later(asked, limits.header_read),
            None if state.served => later(state.idle_since, limits.idle),
            None => later(state.idle_since, limits.header_read),
        };
        head.map_or(waiting, |head| head.min(waiting)).min(never)
    }

    /// Bytes arrived from the client.
    fn received(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_since.is_none() && !state.http2 {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request's head is complete and its handler starts; the guard ends it.
    fn started(self: &Arc<Self>, version: Version) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_since = None;
        state.served = true;
        state.http2 |= version == Version::HTTP_2;
        InFlight(self.clone())
    }

    fn finished(&self) {
        let mut state = self.state();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            drop(state);
            self.changed.notify_one();
        }
    }

    fn close(&self) {
        let mut state = self.state();
        state.closing_since.get_or_insert_with(Instant::now);
    }
}

/// `t + d`, or [`FAR`] from now for a `d` too large to add (a timeout of `u64::MAX` ms).
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(|| Instant::now() + FAR)
}

/// A request in flight on its connection, from its handler's start to the end of its response.
struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The router as one connection's hyper service: each request gets the peer address as
/// `ConnectInfo<SocketAddr>` (as `into_make_service_with_connect_info` gave it; step 1
/// throttles sign-in attempts per client address), and is counted in flight on the clock
/// until its response body has been sent.
#[derive(Clone)]
struct PerConnection {
    router: Router,
    peer: SocketAddr,
    clock: Arc<Clock>,
}

type Responding = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for PerConnection {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Responding;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_flight = self.clock.started(request.version());
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let responding = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = responding.await?;
            Ok(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that ends its request's time in flight when hyper is done with it (sent in
/// full, or dropped with the connection).
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, telling the clock when bytes arrive: the first byte of a request's
/// head starts that head's header-read timeout.
struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.clock.received();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Failed `accept`s in a row, and how long to pause after each. Out of file descriptors
/// (`EMFILE`, `ENFILE`) or memory, `accept` fails at once for as long as the connection waits
/// in the backlog: retrying without a pause would spin a core and flood the log. A pause lets
/// connections close (their timeouts see to that) and costs nothing when it is not needed;
/// the burst is logged once when it starts and once when it ends.
#[derive(Debug, Default)]
struct AcceptFailures {
    /// Failures since the last successful accept.
    in_a_row: u32,
    since: Option<Instant>,
}

impl AcceptFailures {
    /// The first pause; each failure in a row doubles it, up to [`Self::MAX_PAUSE`].
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    /// Short enough that the server accepts again within a second of descriptors freeing up.
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    /// Records a failed accept; how long to pause before the next, if at all. A connection that
    /// was reset or aborted before it was accepted is that client's problem: it is gone from
    /// the backlog, so the next accept can go ahead at once.
    fn failed(&mut self, error: &io::Error) -> Option<Duration> {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            tracing::debug!(%error, "a connection went away before it was accepted");
            return None;
        }
        if self.in_a_row == 0 {
            self.since = Some(Instant::now());
            tracing::error!(
                %error,
                "cannot accept connections; retrying with pauses until it works again"
            );
        }
        self.in_a_row = self.in_a_row.saturating_add(1);
        let doublings = (self.in_a_row - 1).min(10);
        Some((Self::FIRST_PAUSE * 2u32.pow(doublings)).min(Self::MAX_PAUSE))
    }

    /// Records a successful accept, ending a burst of failures.
    fn recovered(&mut self) {
        if self.in_a_row > 0 {
            let after = self.since.map(|since| since.elapsed()).unwrap_or_default();
            tracing::warn!(
                failures = self.in_a_row,
                ?after,
                "accepting connections again"
            );
        }
        self.in_a_row = 0;
        self.since = None;
    }
}

#[cfg(test)]
mod tests;

//! A TCP proxy that misbehaves on demand, for step 6's fault and crash tests: put it between
//! the app and PostgreSQL, MongoDB, Redis or a gRPC/HTTP service, give the app
//! [`FaultProxy::addr`] instead of the service's address, and switch what the network does in
//! the middle of a test: slow, refusing, resetting, swallowing bytes, or a seeded mix. It is a
//! small userspace proxy because neither toxiproxy nor `tc netem` is available where the tests
//! run, and because a seed makes a run that looks flaky replayable: the same seed and the same
//! order of traffic give the same decisions.
//!
//! One task accepts and owns every connection's task, so dropping the proxy stops them all and
//! closes its port. A teaching shortcut: the proxy works on chunks (what one `read` returns),
//! not on packets, so "each chunk" means "each write the peer's kernel delivered at once"; a
//! production fault injector (toxiproxy, netem) delays and drops at finer grain.

use std::{
    fmt, io,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, anyhow, ensure};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{ReadHalf, WriteHalf},
    },
    sync::{mpsc, oneshot, watch},
    task::{JoinHandle, JoinSet},
};

/// What the proxy does to traffic. [`FaultProxy::set`] switches it for open and new
/// connections alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Forward every byte unchanged.
    Pass,
    /// Forward each chunk after `delay` plus a seeded random jitter within `[0, jitter]`, in
    /// each direction, so a request and its answer take at least twice `delay`. Chunks of one
    /// direction wait in turn (order is kept), so a burst of k chunks takes k delays.
    Latency { delay: Duration, jitter: Duration },
    /// The port is closed: a new connection is refused by the kernel (`ECONNREFUSED`), as when
    /// the service is down. Open connections carry on as with [`Fault::Pass`], including
    /// those whose connect had returned but the proxy had not yet accepted. Any other mode
    /// opens the same port again (a real listener closed and reopened, not an
    /// accept-and-close, which would let the client's connect succeed).
    Refuse,
    /// Every open connection is reset (an RST to both of its ends, through `SO_LINGER` 0),
    /// and every new one is accepted and reset at once: the client's connect succeeds, its
    /// first read or write fails with `ConnectionReset`.
    Reset,
    /// Connections stay open but nothing gets through in either direction: bytes are read and
    /// dropped, an end of stream is swallowed too, so clients wait until their own timeouts.
    BlackHole,
    /// Per chunk, from the proxy's seeded random numbers: reset the connection with
    /// probability `reset`, else hold the chunk for `delay` with probability `delay_rate`,
    /// else forward it.
    Random {
        reset: f64,
        delay: Duration,
        delay_rate: f64,
    },
}

impl Fault {
    /// A probability outside `0.0..=1.0` (NaN included) is the test's bug; it is refused rather
    /// than clamped so the test finds out.
    fn check(self) -> anyhow::Result<()> {
        if let Fault::Random {
            reset, delay_rate, ..
        } = self
        {
            for (name, rate) in [("reset", reset), ("delay_rate", delay_rate)] {
                ensure!(
                    (0.0..=1.0).contains(&rate),
                    "Fault::Random's {name} is a probability within 0.0..=1.0, got {rate}"
                );
            }
        }
        Ok(())
    }
}

/// What the proxy has done since it started, read with [`FaultProxy::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted, including those reset on accept.
    pub accepted: u64,
    /// Connections the proxy reset ([`Fault::Reset`] or a [`Fault::Random`] draw).
    pub resets: u64,
    /// Bytes written on to the other end, both directions together.
    pub bytes_forwarded: u64,
    /// Bytes read and thrown away by [`Fault::BlackHole`].
    pub bytes_dropped: u64,
}

/// A fault-injecting TCP proxy on `127.0.0.1`, owned by the test that started it.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// The mode in force; the accept loop holds the sender, so this always shows what is
    /// applied, not what was asked for.
    mode: watch::Receiver<Fault>,
    /// Changes go through the accept loop, which owns the listener: closing and reopening the
    /// port is then done by the time [`FaultProxy::set`] returns.
    commands: mpsc::Sender<Change>,
    shared: Arc<Shared>,
    /// The accept loop; aborting it drops the listener and the `JoinSet` of connections,
    /// which aborts every connection task.
    task: JoinHandle<()>,
}

struct Change {
    fault: Fault,
    applied: oneshot::Sender<anyhow::Result<()>>,
}

/// What the accept loop and the connection tasks share.
struct Shared {
    upstream: SocketAddr,
    /// One sequence for the whole proxy, so decisions depend on the seed and the order of
    /// chunks only, not on which connection a chunk came through.
    rng: Mutex<StdRng>,
    accepted: AtomicU64,
    resets: AtomicU64,
    bytes_forwarded: AtomicU64,
    bytes_dropped: AtomicU64,
}

/// How much one read may take in: enough for a typical query or answer in one chunk.
const CHUNK: usize = 16 * 1024;

/// Reopening the port after [`Fault::Refuse`] can meet a transient `EADDRINUSE` (the port is
/// an ephemeral one, which the kernel may hand to an outgoing connection meanwhile); a few
/// short retries ride that out.
const REBIND_ATTEMPTS: u32 = 20;
const REBIND_PAUSE: Duration = Duration::from_millis(50);

impl FaultProxy {
    /// Starts a proxy in [`Fault::Pass`] on `127.0.0.1` and a free port, forwarding to
    /// `upstream`. `seed` drives every random decision (jitter, [`Fault::Random`]).
    pub async fn start(upstream: SocketAddr, seed: u64) -> anyhow::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the fault proxy on 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("reading the fault proxy's address")?;
        let shared = Arc::new(Shared {
            upstream,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            accepted: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            bytes_forwarded: AtomicU64::new(0),
            bytes_dropped: AtomicU64::new(0),
        });
        let (mode_sender, mode) = watch::channel(Fault::Pass);
        let (commands, changes) = mpsc::channel(8);
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            Arc::clone(&shared),
            mode_sender,
            changes,
        ));
        tracing::debug!(%addr, %upstream, seed, "fault proxy started");
        Ok(FaultProxy {
            addr,
            upstream,
            mode,
            commands,
            shared,
            task,
        })
    }

    /// The address to give the client instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The mode in force.
    pub fn fault(&self) -> Fault {
        *self.mode.borrow()
    }

    /// Switches the mode for open and new connections. When it returns, the port is closed
    /// (for [`Fault::Refuse`]) or open again, and every connection task has been told; an
    /// open connection acts on it at its next chunk, or at once for [`Fault::Reset`] and for
    /// a chunk waiting out a delay.
    ///
    /// # Errors
    /// A probability outside `0.0..=1.0`, or the port could not be opened again after
    /// [`Fault::Refuse`]; either way the mode stays as it was.
    pub async fn set(&self, fault: Fault) -> anyhow::Result<()> {
        fault.check()?;
        let (applied, done) = oneshot::channel();
        let stopped = || anyhow!("the fault proxy on {} has stopped", self.addr);
        self.commands
            .send(Change { fault, applied })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    pub fn counters(&self) -> Counters {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counters {
            accepted: read(&self.shared.accepted),
            resets: read(&self.shared.resets),
            bytes_forwarded: read(&self.shared.bytes_forwarded),
            bytes_dropped: read(&self.shared.bytes_dropped),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("fault", &self.fault())
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

/// Accepts connections, applies changes in the order they were asked for, and owns every
/// connection task (dropping this future aborts them all).
async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mode: watch::Sender<Fault>,
    mut changes: mpsc::Receiver<Change>,
) {
    let mut listener = Some(listener);
    // While refusing: the port bound but not listening, so the kernel refuses connections to
    // it and no other socket (another test's server asking for a free port) can take it.
    let mut held: Option<tokio::net::TcpSocket> = None;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            change = changes.recv() => {
                // No sender left: the proxy was dropped, and this task is being aborted.
                let Some(Change { fault, applied }) = change else { return };
                let outcome = if fault == Fault::Refuse {
                    if let Some(open) = listener.take() {
                        for client in close(open) {
                            admit(client, &shared, &mode, &mut connections);
                        }
                        held = reserve_port(addr)
                            .inspect_err(|err| {
                                tracing::debug!(%addr, %err, "fault proxy could not hold its port");
                            })
                            .ok();
                    }
                    Ok(())
                } else if listener.is_none() {
                    match held.take().map(|socket| socket.listen(1024)) {
                        Some(Ok(open)) => {
                            listener = Some(open);
                            Ok(())
                        }
                        _ => rebind(addr).await.map(|open| listener = Some(open)),
                    }
                } else {
                    Ok(())
                };
                if outcome.is_ok() {
                    tracing::debug!(%addr, ?fault, "fault proxy mode changed");
                    mode.send_replace(fault);
                }
                let _ = applied.send(outcome);
            }
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((client, _)) => admit(client, &shared, &mode, &mut connections),
                Err(err) => {
                    // Out of descriptors and the like: pause rather than spin on the error.
                    tracing::debug!(%addr, %err, "fault proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Resets the new connection, or gives it a task of its own.
fn admit(
    client: TcpStream,
    shared: &Arc<Shared>,
    mode: &watch::Sender<Fault>,
    connections: &mut JoinSet<()>,
) {
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    if *mode.borrow() == Fault::Reset {
        shared.reset(&[&client]);
    } else {
        connections.spawn(connection(client, Arc::clone(shared), mode.subscribe()));
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Closes the port for [`Fault::Refuse`]: closing the listener is what makes the kernel refuse
/// connections (an accept-and-close in userspace would let the client's connect succeed
/// first). The connections the kernel has already completed but the proxy not yet accepted
/// are taken in first and returned: their clients' connect has returned, so to them they are
/// open connections, which `Refuse` leaves alone. Only one whose handshake ends in the
/// instant between the two is reset.
fn close(listener: TcpListener) -> Vec<TcpStream> {
    // The std listener is non-blocking, so `accept` stops at the empty queue instead of
    // waiting; tokio's would wait for a readiness event the runtime may not have polled yet.
    let Ok(listener) = listener.into_std() else {
        return Vec::new();
    };
    let mut queued = Vec::new();
    while let Ok((client, _)) = listener.accept() {
        let client = client
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(client));
        if let Ok(client) = client {
            queued.push(client);
        }
    }
    queued
}

/// A socket bound to `addr` without listening: connections to it are refused (RST), and the
/// port stays this proxy's until it listens again. Bound without `SO_REUSEADDR` where it can
/// be, since another socket may share a port only when both set it; where connections of the
/// closed listener still hold the port, with it.
fn reserve_port(addr: SocketAddr) -> io::Result<tokio::net::TcpSocket> {
    let exclusive = tokio::net::TcpSocket::new_v4()?;
    if exclusive.bind(addr).is_ok() {
        return Ok(exclusive);
    }
    let shared = tokio::net::TcpSocket::new_v4()?;
    shared.set_reuseaddr(true)?;
    shared.bind(addr)?;
    Ok(shared)
}

async fn rebind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let mut attempt = 1;
    loop {
        // tokio sets SO_REUSEADDR on Unix, so connections of the closed listener that linger
        // in TIME_WAIT do not hold the port.
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(err) if attempt < REBIND_ATTEMPTS => {
                tracing::debug!(%addr, %err, attempt, "fault proxy port not free yet");
                attempt += 1;
                tokio::time::sleep(REBIND_PAUSE).await;
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reopening the fault proxy's port {addr}"));
            }
        }
    }
}

/// Why one direction of a connection stopped early.
enum Ending {
    /// The fault says reset: both ends get an RST.
    Reset,
    /// A read or write failed (an end went away): the other end is closed normally.
    Broken,
}

/// Forwards both directions until both ends have closed, or resets both ends when the mode
/// or a draw says so.
async fn connection(mut client: TcpStream, shared: Arc<Shared>, mut mode: watch::Receiver<Fault>) {
    let mut upstream = match TcpStream::connect(shared.upstream).await {
        Ok(upstream) => upstream,
        Err(err) => {
            // The client cannot be refused any more, it is connected; a reset is the nearest
            // thing. Not counted in `resets`, which counts injected faults only.
            tracing::debug!(upstream = %shared.upstream, %err, "fault proxy cannot reach upstream");
            let _ = client.set_zero_linger();
            return;
        }
    };
    // Small writes go out at once, so a chunk here is what the peer wrote, not what Nagle's
    // algorithm happened to merge: delays and draws then follow the traffic, not the timing.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let ending = {
        let (mut client_read, mut client_write) = client.split();
        let (mut upstream_read, mut upstream_write) = upstream.split();
        let up = pump(&mut client_read, &mut upstream_write, mode.clone(), &shared);
        let down = pump(&mut upstream_read, &mut client_write, mode.clone(), &shared);
        tokio::select! {
            both = async { tokio::try_join!(up, down) } => both.map(|_| ()),
            Ok(_) = mode.wait_for(|fault| *fault == Fault::Reset) => Err(Ending::Reset),
        }
    };
    if let Err(Ending::Reset) = ending {
        shared.reset(&[&client, &upstream]);
    }
}

/// One direction of a connection, chunk by chunk, each treated as the mode in force says.
async fn pump(
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    mut mode: watch::Receiver<Fault>,
    shared: &Shared,
) -> Result<(), Ending> {
    let mut buffer = vec![0; CHUNK];
    loop {
        let read = from.read(&mut buffer).await.map_err(|_| Ending::Broken)?;
        let fault = *mode.borrow_and_update();
        if read == 0 {
            if fault != Fault::BlackHole {
                let _ = to.shutdown().await;
            }
            return Ok(());
        }
        let forward = match fault {
            Fault::Pass | Fault::Refuse => true,
            Fault::Reset => return Err(Ending::Reset),
            Fault::BlackHole => false,
            Fault::Latency { delay, jitter } => {
                let wait = delay + shared.jitter(jitter);
                hold(wait, &mut mode).await?
            }
            Fault::Random {
                reset,
                delay,
                delay_rate,
            } => match shared.draw(reset, delay_rate) {
                Draw::Reset => return Err(Ending::Reset),
                Draw::Delay => hold(delay, &mut mode).await?,
                Draw::Forward => true,
            },
        };
        if forward {
            to.write_all(&buffer[..read])
                .await
                .map_err(|_| Ending::Broken)?;
            add(&shared.bytes_forwarded, read);
        } else {
            add(&shared.bytes_dropped, read);
        }
    }
}

/// Waits out a chunk's delay, cut short by a change of mode: a test that lifts the latency
/// should not wait for chunks already held. Answers whether to forward the chunk.
async fn hold(wait: Duration, mode: &mut watch::Receiver<Fault>) -> Result<bool, Ending> {
    tokio::select! {
        () = tokio::time::sleep(wait) => Ok(true),
        Ok(()) = mode.changed() => match *mode.borrow_and_update() {
            Fault::Reset => Err(Ending::Reset),
            Fault::BlackHole => Ok(false),
            _ => Ok(true),
        },
    }
}

enum Draw {
    Reset,
    Delay,
    Forward,
}

impl Shared {
    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn jitter(&self, jitter: Duration) -> Duration {
        if jitter.is_zero() {
            return Duration::ZERO;
        }
        let most = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng().random_range(0..=most))
    }

    fn draw(&self, reset: f64, delay_rate: f64) -> Draw {
        // Both numbers are drawn for every chunk, so one outcome never shifts the draws of
        // the chunks after it.
        let (for_reset, for_delay): (f64, f64) = {
            let mut rng = self.rng();
            (rng.random(), rng.random())
        };
        if for_reset < reset {
            Draw::Reset
        } else if for_delay < delay_rate {
            Draw::Delay
        } else {
            Draw::Forward
        }
    }

    /// An RST instead of a FIN when the streams are dropped, which the caller does next.
    fn reset(&self, ends: &[&TcpStream]) {
        for end in ends {
            let _ = end.set_zero_linger();
        }
        self.resets.fetch_add(1, Ordering::Relaxed);
    }
}

fn add(counter: &AtomicU64, bytes: usize) {
    counter.fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
}

#[cfg(test)]
mod tests;

/// The `host:port` a service URL (`postgres://u@127.0.0.1:5432/db`, `redis://...`) points
/// at: what a proxy in front of it connects to.
pub fn address_in(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .split("://")
        .nth(1)
        .with_context(|| format!("no scheme in {url:?}"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port
        .parse()
        .with_context(|| format!("no host:port in {url:?}"))
}

/// `url`, pointed at `proxy` instead.
pub fn via(url: &str, proxy: SocketAddr) -> anyhow::Result<String> {
    Ok(url.replacen(&address_in(url)?.to_string(), &proxy.to_string(), 1))
}

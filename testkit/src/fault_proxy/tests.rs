//! Each mode of the fault proxy, shown against a tiny echo server started by the test: what a
//! client of the proxy observes (bytes back, a delay, a refusal, a reset, silence), then that
//! switching back to `Pass` recovers. Timings are lower bounds only: a slow machine may add
//! time, never remove it.

use std::{
    io,
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

use super::{Counters, Fault, FaultProxy};

/// Bounds every wait on the proxy, so a broken mode fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(5);

/// An echo server on a free port, alive while the returned guard is.
struct Echo {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo_server() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo address");
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            connections.spawn(async move {
                let mut buffer = [0; 4096];
                while let Ok(read @ 1..) = stream.read(&mut buffer).await {
                    if stream.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Echo { addr, task }
}

async fn proxied(seed: u64) -> (Echo, FaultProxy) {
    let echo = echo_server().await;
    let proxy = FaultProxy::start(echo.addr, seed)
        .await
        .expect("start the proxy");
    (echo, proxy)
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.addr())
        .await
        .expect("connect to the proxy")
}

/// Sends `message` and reads back as many bytes, or the error that came instead.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut answer = vec![0; message.len()];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut answer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer through the proxy"))??;
    Ok(answer)
}

async fn assert_echoes(stream: &mut TcpStream, message: &[u8]) {
    let answer = round_trip(stream, message).await.expect("an echo");
    assert_eq!(answer, message, "the echo");
}

/// What the next read gets: bytes, an end of stream (0) or an error.
async fn next_read(stream: &mut TcpStream) -> Result<usize, io::ErrorKind> {
    let mut buffer = [0; 64];
    tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
        .await
        .expect("the connection answered or ended in time")
        .map_err(|err| err.kind())
}

#[tokio::test]
async fn pass_forwards_both_ways_and_counts_what_it_did() {
    let (_echo, proxy) = proxied(1).await;
    let mut client = connect(&proxy).await;

    let answer = round_trip(&mut client, b"hello").await.expect("echo");

    assert_eq!(answer, b"hello");
    assert_eq!(proxy.fault(), Fault::Pass);
    assert_eq!(
        proxy.counters(),
        Counters {
            accepted: 1,
            resets: 0,
            bytes_forwarded: 10,
            bytes_dropped: 0,
        }
    );
}

#[tokio::test]
async fn latency_delays_each_chunk_in_each_direction_and_pass_lifts_it() {
    let (_echo, proxy) = proxied(2).await;
    let mut client = connect(&proxy).await;
    let delay = Duration::from_millis(150);
    proxy
        .set(Fault::Latency {
            delay,
            jitter: Duration::from_millis(50),
        })
        .await
        .expect("set latency");

    let started = Instant::now();
    let answer = round_trip(&mut client, b"slow").await.expect("echo");
    let slow = started.elapsed();
    proxy.set(Fault::Pass).await.expect("set pass");
    let started = Instant::now();
    round_trip(&mut client, b"fast").await.expect("echo");
    let fast = started.elapsed();

    assert_eq!(answer, b"slow");
    assert!(slow >= 2 * delay, "a round trip took {slow:?}");
    assert!(fast < delay, "after Pass a round trip took {fast:?}");
}

#[tokio::test]
async fn refuse_closes_the_port_for_new_connections_only_and_pass_reopens_it() {
    let (_echo, proxy) = proxied(3).await;
    let mut open = connect(&proxy).await;
    let port = proxy.port();

    proxy.set(Fault::Refuse).await.expect("set refuse");
    let refused = TcpStream::connect(proxy.addr()).await;
    let still_open = round_trip(&mut open, b"still here").await;
    proxy.set(Fault::Pass).await.expect("set pass");
    let mut reopened = connect(&proxy).await;

    assert_eq!(
        refused.map(drop).map_err(|err| err.kind()),
        Err(io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(still_open.expect("the open connection"), b"still here");
    assert_eq!(proxy.port(), port);
    assert_echoes(&mut reopened, b"back").await;
}

/// Another server asking for this very port while the proxy refuses must not get it: a
/// client of the proxy would then be talking to that server (seen in step 6's randomized runs,
/// where several seeds' servers and proxies share the machine).
#[tokio::test]
async fn while_refusing_the_port_stays_the_proxys_and_no_other_listener_can_take_it() {
    let (_echo, proxy) = proxied(8).await;
    proxy.set(Fault::Refuse).await.expect("set refuse");

    let taken = tokio::net::TcpListener::bind(proxy.addr()).await.map(drop);
    let refused = TcpStream::connect(proxy.addr()).await;
    proxy.set(Fault::Pass).await.expect("set pass");
    let mut reopened = connect(&proxy).await;

    assert!(
        taken.is_err(),
        "another listener took the refusing proxy's port"
    );
    assert_eq!(
        refused.map(drop).map_err(|err| err.kind()),
        Err(io::ErrorKind::ConnectionRefused)
    );
    assert_echoes(&mut reopened, b"mine again").await;
}

#[tokio::test]
async fn reset_resets_open_connections_and_new_ones_on_accept() {
    let (_echo, proxy) = proxied(4).await;
    let mut open = connect(&proxy).await;
    assert_echoes(&mut open, b"before").await;

    proxy.set(Fault::Reset).await.expect("set reset");
    let on_open = next_read(&mut open).await;
    let mut new = connect(&proxy).await;
    let on_new = next_read(&mut new).await;
    proxy.set(Fault::Pass).await.expect("set pass");
    let mut after = connect(&proxy).await;

    assert_eq!(on_open, Err(io::ErrorKind::ConnectionReset));
    assert_eq!(on_new, Err(io::ErrorKind::ConnectionReset));
    assert_eq!(proxy.counters().resets, 2);
    assert_echoes(&mut after, b"after").await;
}

#[tokio::test]
async fn black_hole_swallows_bytes_so_reads_time_out_and_pass_recovers() {
    let (_echo, proxy) = proxied(5).await;
    let mut client = connect(&proxy).await;

    proxy.set(Fault::BlackHole).await.expect("set black hole");
    client.write_all(b"lost").await.expect("write");
    let mut buffer = [0; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), client.read(&mut buffer)).await;
    proxy.set(Fault::Pass).await.expect("set pass");
    let answer = round_trip(&mut client, b"found").await.expect("echo");

    assert!(read.is_err(), "a read got {read:?} through a black hole");
    // The swallowed bytes never arrive late: the first bytes back are the new message's.
    assert_eq!(answer, b"found");
    assert_eq!(proxy.counters().bytes_dropped, 4);
}

/// For each of `connections` connections in turn: whether one message came back through a
/// proxy with `seed` that resets a third of its chunks.
async fn random_outcomes(seed: u64, connections: usize) -> Vec<bool> {
    let (_echo, proxy) = proxied(seed).await;
    proxy
        .set(Fault::Random {
            reset: 0.3,
            delay: Duration::ZERO,
            delay_rate: 0.0,
        })
        .await
        .expect("set random");
    let mut outcomes = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut client = connect(&proxy).await;
        outcomes.push(round_trip(&mut client, b"coin").await.is_ok());
    }
    let resets = outcomes.iter().filter(|echoed| !**echoed).count();
    assert_eq!(proxy.counters().resets, resets as u64, "seed {seed}");
    outcomes
}

#[tokio::test]
async fn random_decisions_replay_with_the_same_seed_and_differ_with_another() {
    let first = random_outcomes(42, 40).await;
    let again = random_outcomes(42, 40).await;
    let other = random_outcomes(43, 40).await;

    assert_eq!(first, again);
    assert_ne!(first, other);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

#[tokio::test]
async fn random_with_a_delay_rate_of_one_delays_every_chunk() {
    let (_echo, proxy) = proxied(6).await;
    let mut client = connect(&proxy).await;
    let delay = Duration::from_millis(150);
    proxy
        .set(Fault::Random {
            reset: 0.0,
            delay,
            delay_rate: 1.0,
        })
        .await
        .expect("set random");

    let started = Instant::now();
    let answer = round_trip(&mut client, b"held").await.expect("echo");
    let took = started.elapsed();

    assert_eq!(answer, b"held");
    assert!(took >= 2 * delay, "a round trip took {took:?}");
}

#[tokio::test]
async fn a_random_fault_with_a_rate_outside_zero_to_one_is_refused_and_changes_nothing() {
    let (_echo, proxy) = proxied(7).await;
    proxy.set(Fault::BlackHole).await.expect("set black hole");

    for (reset, delay_rate) in [(1.5, 0.0), (0.0, -0.1), (f64::NAN, 0.0)] {
        let refused = proxy
            .set(Fault::Random {
                reset,
                delay: Duration::ZERO,
                delay_rate,
            })
            .await;

        let message = refused.expect_err("an out-of-range rate").to_string();
        assert!(message.contains("probability"), "{message}");
    }
    assert_eq!(proxy.fault(), Fault::BlackHole);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_port_and_its_connections() {
    let (_echo, proxy) = proxied(8).await;
    let addr = proxy.addr();
    let mut open = connect(&proxy).await;
    assert_echoes(&mut open, b"alive").await;

    drop(proxy);
    let ended = next_read(&mut open).await;
    let refused = tokio::time::timeout(PATIENCE, async {
        loop {
            match TcpStream::connect(addr).await {
                Err(err) => break err.kind(),
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the port closed in time");

    assert_eq!(ended, Ok(0), "the connection was closed");
    assert_eq!(refused, io::ErrorKind::ConnectionRefused);
}

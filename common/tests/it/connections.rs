//! Connections, over raw TCP against a real server: clients that never finish their headers,
//! send nothing or trickle bytes are cut after the header-read timeout while normal requests
//! are answered; a kept-alive connection outlives the header-read timeout and is closed after
//! the idle timeout; at the connection cap a new client waits for a slot instead of being
//! served at once; HTTP/2 with prior knowledge is still served; stopping the server lets an
//! in-flight request finish. Timeouts are short here (a second or two) and every bound is
//! generous, so the tests hold on a loaded two-core machine.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use common::config::Config;
use hyper_util::rt::{TokioExecutor, TokioIo};
use testkit::{TestApp, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request line and one header, without the blank line that would end the head.
const PARTIAL_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: shop.test\r\n";
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: shop.test\r\n\r\n";

/// What the server is given beyond a timeout to act on it: scheduling on a busy machine.
const SLACK: Duration = Duration::from_secs(3);

/// An idle timeout that no test here waits for.
const LONG: Duration = Duration::from_secs(60);

/// The test configuration, with these two timeouts.
fn with_timeouts(header_read: Duration, idle: Duration) -> impl FnOnce(&mut Config) + Send {
    move |config| {
        config.server.header_read_timeout_ms = header_read.as_millis() as u64;
        config.server.idle_timeout_ms = idle.as_millis() as u64;
    }
}

/// A connection that sends `bytes` and then nothing more.
async fn connect_sending(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(bytes).await.expect("writes");
    stream
}

/// Waits up to `bound` for the server to close `stream` (a read that returns nothing or
/// fails); how long that took from `since`, or `None` if it was still open at the bound.
/// Whatever the server sends first (a response) is read and ignored.
async fn closed_by_server(
    stream: &mut TcpStream,
    since: Instant,
    bound: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let deadline = since + bound;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_elapsed) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Asserts that the server closes `stream` about `timeout` after `since`: not before nine
/// tenths of it (so it was that timeout and nothing else), and at most [`SLACK`] after it.
async fn assert_closed_after(
    stream: &mut TcpStream,
    since: Instant,
    timeout: Duration,
    what: &str,
) {
    let Some(after) = closed_by_server(stream, since, timeout + SLACK).await else {
        panic!("{what}: still open {:?} later", timeout + SLACK);
    };
    assert!(
        after >= timeout.mul_f32(0.9),
        "{what}: closed after {after:?}, before its timeout of {timeout:?}"
    );
}

/// Reads one whole response (its head and a `Content-Length` body); its status line.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("reads a response");
        assert!(n > 0, "the server closed the connection before responding");
        received.extend_from_slice(&buf[..n]);
        let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if received.len() >= end + 4 + length {
            return head.lines().next().unwrap_or_default().to_owned();
        }
    }
}

/// `GET /health` through a client of its own (no pooled connection), timed.
async fn timed_health(app: &TestApp) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = client
        .get(app.url("/health"))
        .send()
        .await
        .expect("GET /health is answered");
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn fifty_connections_that_never_finish_their_headers_do_not_delay_a_normal_request_and_are_cut_after_the_header_read_timeout()
 {
    let header_read = Duration::from_secs(3);
    let app = spawn_app_with(with_timeouts(header_read, LONG)).await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(connect_sending(app.addr, PARTIAL_HEAD).await);
    }

    let (status, _) = timed_health(&app).await;
    assert_eq!(status, 200);
    let answered = opened.elapsed();
    assert!(
        answered < header_read.mul_f32(0.9),
        "GET /health was answered {answered:?} after 50 slow connections opened: only once \
         they were cut, not beside them"
    );

    for (i, stream) in slow.iter_mut().enumerate() {
        assert_closed_after(stream, opened, header_read, &format!("slow connection {i}")).await;
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let header_read = Duration::from_secs(1);
    let app = spawn_app_with(with_timeouts(header_read, LONG)).await;
    let opened = Instant::now();
    let mut silent = connect_sending(app.addr, b"").await;
    let what = "a connection that sent nothing";
    assert_closed_after(&mut silent, opened, header_read, what).await;
}

#[tokio::test]
async fn a_connection_that_sends_part_of_the_http2_preface_is_closed_after_the_header_read_timeout()
{
    // Before the 24 bytes of the preface are in, the server cannot tell HTTP/1 from HTTP/2,
    // and hyper-util's detection waits for them without a clock of its own.
    let header_read = Duration::from_secs(1);
    let app = spawn_app_with(with_timeouts(header_read, LONG)).await;
    let opened = Instant::now();
    let mut stalled = connect_sending(app.addr, b"PRI * HTTP/2.0\r\n").await;
    let what = "a connection stalled inside the HTTP/2 preface";
    assert_closed_after(&mut stalled, opened, header_read, what).await;
}

#[tokio::test]
async fn a_connection_that_trickles_its_headers_is_closed_after_the_header_read_timeout() {
    // Each byte arrives well inside the timeout: the head as a whole must still be in on
    // time, or an inactivity timer would let a slow client hold the connection forever.
    let header_read = Duration::from_secs(1);
    let app = spawn_app_with(with_timeouts(header_read, LONG)).await;
    let opened = Instant::now();
    // A header whose value grows by one byte every 100 ms: valid for as long as it goes on.
    let mut stream = connect_sending(app.addr, b"GET /health HTTP/1.1\r\nX-Trickle: ").await;
    let mut closed_after = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(b"a").await.is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        if opened.elapsed() > header_read + SLACK {
            break;
        }
    }
    let after = match closed_after {
        Some(after) => after,
        None => closed_by_server(&mut stream, opened, header_read + SLACK)
            .await
            .expect("a connection trickling its headers is closed by the server"),
    };
    assert!(
        after >= header_read.mul_f32(0.9) && after <= header_read + SLACK,
        "a connection trickling its headers was closed after {after:?}; expected about its \
         header-read timeout of {header_read:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_read_timeout_and_is_closed_after_the_idle_timeout()
 {
    let (header_read, idle) = (Duration::from_millis(500), Duration::from_millis(2_500));
    let app = spawn_app_with(with_timeouts(header_read, idle)).await;
    let mut stream = connect_sending(app.addr, HEALTH).await;
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    let answered = Instant::now();

    // Past the header-read timeout, still open: hyper's own header timer would have closed it.
    let early = closed_by_server(&mut stream, answered, header_read * 3).await;
    assert_eq!(
        early, None,
        "an idle keep-alive connection was closed before the idle timeout"
    );
    // And still usable: a second request on it is answered.
    stream.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    let answered = Instant::now();

    let what = "an idle keep-alive connection";
    assert_closed_after(&mut stream, answered, idle, what).await;
}

#[tokio::test]
async fn a_second_request_that_never_finishes_its_headers_is_cut_after_the_header_read_timeout() {
    // The idle timeout is long: the clock for the second head starts at its first byte.
    let header_read = Duration::from_secs(1);
    let app = spawn_app_with(with_timeouts(header_read, LONG)).await;
    let mut stream = connect_sending(app.addr, HEALTH).await;
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(PARTIAL_HEAD).await.unwrap();
    let started = Instant::now();
    let what = "a kept-alive connection whose next head stalls";
    assert_closed_after(&mut stream, started, header_read, what).await;
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_is_answered_once_a_slow_connection_is_cut() {
    let header_read = Duration::from_millis(1_500);
    let app = spawn_app_with(move |config| {
        with_timeouts(header_read, LONG)(config);
        config.server.max_connections = 5;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..5 {
        slow.push(connect_sending(app.addr, PARTIAL_HEAD).await);
    }

    // The sixth connection waits in the backlog: answered after a slot frees, not before.
    let (status, took) = timed_health(&app).await;
    assert_eq!(status, 200);
    assert!(
        took >= header_read.mul_f32(0.8),
        "the sixth client was answered after {took:?}, before any slow connection was cut"
    );
    assert!(
        took <= header_read + SLACK,
        "the sixth client waited {took:?}; expected an answer once the slow connections were \
         cut, {header_read:?} after they opened"
    );
    drop(slow);
}

#[tokio::test]
async fn each_request_knows_its_client_address() {
    let app = TestApp::<common::AppState>::builder()
        .router(|router: Router| {
            router.route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
        })
        .spawn()
        .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(&local.to_string()),
        "expected the client's address {local} as the body: {response}"
    );
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_and_an_idle_http2_connection_is_closed() {
    let idle = Duration::from_secs(2);
    let app = spawn_app_with(with_timeouts(Duration::from_secs(1), idle)).await;
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake with prior knowledge");
    let connection = tokio::spawn(connection);

    let request = axum::http::Request::get(app.url("/health"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sender.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
    drop(response);
    let answered = Instant::now();

    // The server sends GOAWAY and closes; the client's connection task then ends.
    tokio::time::timeout(idle + SLACK, connection)
        .await
        .expect("the server closes an idle HTTP/2 connection")
        .unwrap()
        .ok();
    let after = answered.elapsed();
    assert!(
        after >= idle.mul_f32(0.9),
        "an idle HTTP/2 connection was closed {after:?} after its last response, before its \
         idle timeout of {idle:?}"
    );
}

#[tokio::test]
async fn stopping_the_server_lets_an_in_flight_request_finish_and_does_not_wait_for_slow_connections()
 {
    let header_read = Duration::from_secs(1);
    let app = TestApp::<common::AppState>::builder()
        .config(with_timeouts(header_read, LONG))
        .router(|router: Router| {
            router.route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                    "finished"
                }),
            )
        })
        .spawn()
        .await;
    let url = app.url("/slow");
    let in_flight = tokio::spawn(async move { reqwest::get(url).await?.text().await });
    let _slow = connect_sending(app.addr, PARTIAL_HEAD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopping = Instant::now();
    tokio::time::timeout(
        header_read + Duration::from_millis(1_500) + SLACK,
        app.stop(),
    )
    .await
    .expect("the server stops, however long a slow connection would wait");
    let took = stopping.elapsed();
    let body = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(body, "finished");
    assert!(
        took >= Duration::from_millis(900),
        "stopped after {took:?}, before the in-flight request could finish"
    );
}

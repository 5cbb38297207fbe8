//! Connections that never finish their headers (slowloris), over raw TCP: the server must cut
//! them after its header-read timeout and keep answering everyone else meanwhile. Without
//! that, each such connection is held forever, and a few hundred of them exhaust the server's
//! file descriptors until nobody is answered at all. The bounds are generous (30 s) so that
//! they hold for the production default (10 s) and pass quickly against a test server with a
//! short timeout. Every connection here speaks plain HTTP to the base URL's host and port.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::Api;
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        fifty_connections_that_never_finish_their_headers_do_not_stop_a_normal_request,
        a_connection_that_never_finishes_its_headers_is_closed_by_the_server,
        a_connection_that_sends_nothing_is_closed_by_the_server,
        a_connection_that_trickles_its_headers_is_closed_by_the_server,
        a_kept_alive_connection_whose_next_request_never_finishes_its_headers_is_closed,
    ]
}

/// How long a connection that never finishes its headers may stay open: three times the
/// production header-read timeout, so a loaded machine still passes.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

/// How long a normal request may take beside slow connections.
const ANSWERED_WITHIN: Duration = Duration::from_secs(5);

async fn fifty_connections_that_never_finish_their_headers_do_not_stop_a_normal_request(
    t: Target,
) -> Result<()> {
    let server = Server::of(&t)?;
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(server.connect_sending(&server.partial_head()).await?);
    }
    let started = Instant::now();
    Api::new(&t.base_url)
        .health()
        .await?
        .expect_json::<serde_json::Value>(200)
        .context("GET /health beside 50 connections that never finish their headers")?;
    let took = started.elapsed();
    check::that(took < ANSWERED_WITHIN, || {
        format!(
            "GET /health beside 50 connections that never finish their headers: expected an \
             answer within {ANSWERED_WITHIN:?}, took {took:?}"
        )
    })?;
    drop(slow);
    Ok(())
}

async fn a_connection_that_never_finishes_its_headers_is_closed_by_the_server(
    t: Target,
) -> Result<()> {
    let server = Server::of(&t)?;
    let mut stream = server.connect_sending(&server.partial_head()).await?;
    closed_by_server(&mut stream, "a request line and one header, no blank line").await
}

async fn a_connection_that_sends_nothing_is_closed_by_the_server(t: Target) -> Result<()> {
    let server = Server::of(&t)?;
    let mut stream = server.connect_sending(b"").await?;
    closed_by_server(&mut stream, "a connection that sent nothing").await
}

async fn a_connection_that_trickles_its_headers_is_closed_by_the_server(t: Target) -> Result<()> {
    // A byte every half second keeps any inactivity timer happy; the head as a whole must
    // still arrive in time.
    let server = Server::of(&t)?;
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: {}\r\nX-Trickle: ",
        server.addr
    );
    let mut stream = server.connect_sending(head.as_bytes()).await?;
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < CLOSED_WITHIN {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {} // a 408 or 400 before closing is fine
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if stream.write_all(b"a").await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    bail!(
        "a connection trickling one header byte every 500 ms: expected the server to close it \
         after its header-read timeout, still open after {CLOSED_WITHIN:?}"
    )
}

async fn a_kept_alive_connection_whose_next_request_never_finishes_its_headers_is_closed(
    t: Target,
) -> Result<()> {
    let server = Server::of(&t)?;
    let whole = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let mut stream = server.connect_sending(whole.as_bytes()).await?;
    let status = read_response(&mut stream)
        .await
        .context("GET /health on a raw connection")?;
    check::that(status.starts_with("HTTP/1.1 200"), || {
        format!("GET /health on a raw connection: expected HTTP/1.1 200, got {status:?}")
    })?;
    stream
        .write_all(server.partial_head().as_bytes())
        .await
        .context("sending half a second request on a kept-alive connection")?;
    closed_by_server(
        &mut stream,
        "a kept-alive connection whose second request stops halfway through its headers",
    )
    .await
}

/// Where the target listens, for raw connections.
struct Server {
    /// `host:port`: what to connect to, and the `Host` header.
    addr: String,
}

impl Server {
    fn of(t: &Target) -> Result<Self> {
        let url = reqwest::Url::parse(&t.base_url)
            .with_context(|| format!("the base URL {:?}", t.base_url))?;
        if url.scheme() != "http" {
            bail!(
                "the slow-connection cases speak plain HTTP over TCP; the base URL {} is {}",
                t.base_url,
                url.scheme()
            );
        }
        let host = url.host_str().context("a base URL with a host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Self {
            addr: format!("{host}:{port}"),
        })
    }

    /// A request line and one header, without the blank line that would end the head.
    fn partial_head(&self) -> String {
        format!("GET /health HTTP/1.1\r\nHost: {}\r\n", self.addr)
    }

    async fn connect_sending(&self, bytes: impl AsRef<[u8]>) -> Result<TcpStream> {
        let mut stream = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream
            .write_all(bytes.as_ref())
            .await
            .with_context(|| format!("writing to {}", self.addr))?;
        Ok(stream)
    }
}

/// Ok once the server has closed `stream` (a read returns nothing or fails), within
/// [`CLOSED_WITHIN`]; whatever it sends before closing (a 408) is read and ignored.
async fn closed_by_server(stream: &mut TcpStream, what: &str) -> Result<()> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = CLOSED_WITHIN.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            Ok(Ok(_)) => continue,
            Err(_) => bail!(
                "{what}: expected the server to close it after its header-read timeout, still \
                 open after {CLOSED_WITHIN:?}"
            ),
        }
    }
}

/// Reads one whole response (its head, then a `Content-Length` body); its status line.
async fn read_response(stream: &mut TcpStream) -> Result<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(CLOSED_WITHIN, stream.read(&mut buf))
            .await
            .context("no response")??;
        if n == 0 {
            bail!(
                "the connection closed after {} bytes, before a whole response",
                received.len()
            );
        }
        received.extend_from_slice(&buf[..n]);
        let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if received.len() >= end + 4 + length {
            return Ok(head.lines().next().unwrap_or_default().to_owned());
        }
    }
}

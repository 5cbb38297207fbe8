//! nginx with the repo's template in front of two tiny upstreams: it balances, retries an
//! idempotent request on the other instance when one dies mid-request, never retries a POST,
//! and goes away with its dir on drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use provision::NginxServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::watchdog::{eventually, process_is_alive};

/// An instance that answers with its name and counts the requests it received, per method.
struct Upstream {
    addr: SocketAddr,
    gets: Arc<AtomicUsize>,
    posts: Arc<AtomicUsize>,
}

async fn named_upstream(name: &'static str) -> Upstream {
    let gets = Arc::new(AtomicUsize::new(0));
    let posts = Arc::new(AtomicUsize::new(0));
    let (g, p) = (gets.clone(), posts.clone());
    let app = Router::new().route(
        "/",
        get(move || async move {
            g.fetch_add(1, Ordering::SeqCst);
            name
        })
        .post(move || async move {
            p.fetch_add(1, Ordering::SeqCst);
            name
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Upstream { addr, gets, posts }
}

/// An instance that dies in the middle of every request: it reads the request, then closes
/// the connection without an answer (as a crashed process does). Counts what it received.
async fn dying_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, received)
}

async fn start(upstreams: Vec<SocketAddr>) -> NginxServer {
    tokio::task::spawn_blocking(move || NginxServer::start(&upstreams))
        .await
        .unwrap()
        .expect("nginx starts")
}

#[tokio::test]
async fn nginx_spreads_requests_over_both_instances_and_stops_on_drop() {
    let a = named_upstream("a").await;
    let b = named_upstream("b").await;
    let nginx = start(vec![a.addr, b.addr]).await;
    let http = reqwest::Client::new();
    let mut names = Vec::new();
    for _ in 0..6 {
        let response = http.get(format!("{}/", nginx.url())).send().await.unwrap();
        assert_eq!(response.status(), 200);
        names.push(response.text().await.unwrap());
    }
    assert!(
        names.contains(&"a".to_owned()) && names.contains(&"b".to_owned()),
        "{names:?}"
    );
    assert_eq!(
        a.gets.load(Ordering::SeqCst) + b.gets.load(Ordering::SeqCst),
        6
    );

    let pid = nginx.local().pid();
    let dir = nginx.local().dir().to_owned();
    tokio::task::spawn_blocking(move || drop(nginx))
        .await
        .unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(5), || !process_is_alive(pid)),
        "nginx stopped"
    );
    assert!(!dir.exists(), "its dir is removed");
}

#[tokio::test]
async fn a_get_is_retried_on_the_other_instance_and_a_post_is_not() {
    let (dying, dying_received) = dying_upstream().await;
    let healthy = named_upstream("healthy").await;
    let nginx = start(vec![dying, healthy.addr]).await;
    let http = reqwest::Client::new();

    for _ in 0..4 {
        let response = http.get(format!("{}/", nginx.url())).send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "a GET is answered by the healthy instance"
        );
    }
    assert!(
        dying_received.load(Ordering::SeqCst) >= 1,
        "the dying instance was tried"
    );

    // max_fails=1 took the dying instance out for fail_timeout; a fresh nginx tries it again.
    let nginx = {
        drop(tokio::task::spawn_blocking(move || drop(nginx)).await);
        start(vec![dying, healthy.addr]).await
    };
    let before = dying_received.load(Ordering::SeqCst);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = http.post(format!("{}/", nginx.url())).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    let to_dying = dying_received.load(Ordering::SeqCst) - before;
    assert_eq!(
        to_dying, 1,
        "round robin sent one POST to the dying instance"
    );
    assert!(statuses.contains(&502), "that POST failed: {statuses:?}");
    assert_eq!(
        healthy.posts.load(Ordering::SeqCst),
        1,
        "only the other POST reached the healthy instance: the failed one was not retried"
    );
}

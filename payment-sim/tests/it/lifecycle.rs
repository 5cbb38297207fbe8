//! Starting and stopping: the port is known after `start`, busy ports are an error, and both
//! `stop` and dropping the simulator really close the port.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use payment_sim::{RunningSimulator, SimConfig};
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{send, spawn_sim};

#[tokio::test]
async fn base_url_names_the_bound_port_on_localhost() {
    let app = spawn_sim().await;
    let addr = app.sim.addr();

    assert_ne!(addr.port(), 0);
    assert_eq!(
        app.sim.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    send(app.client.get(format!("{}/health", app.sim.base_url())))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn stop_closes_the_port() {
    let sim = RunningSimulator::start(SimConfig::default())
        .await
        .expect("start");
    let addr = sim.addr();
    TcpStream::connect(addr)
        .await
        .expect("the simulator accepts connections while running");

    sim.stop().await;

    let after = TcpStream::connect(addr).await;
    assert!(
        after.is_err(),
        "{addr} still accepts connections after stop()"
    );
}

#[tokio::test]
async fn stop_returns_even_with_idle_keep_alive_connections_open() {
    let app = spawn_sim().await;
    let addr = app.sim.addr();
    // Leaves a pooled keep-alive connection in `app.client`.
    send(app.client.get(app.url("/health")))
        .await
        .assert_status(StatusCode::OK);

    let started = Instant::now();
    app.sim.stop().await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop() waited {:?} for an idle connection",
        started.elapsed()
    );
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_simulator_closes_the_port() {
    let sim = RunningSimulator::start(SimConfig::default())
        .await
        .expect("start");
    let addr = sim.addr();

    drop(sim);

    // Abort takes effect when the runtime next gets to the task, not inside `drop`: poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn starting_on_a_busy_port_is_an_error() {
    let busy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = busy.local_addr().expect("local addr");

    let result = RunningSimulator::start_on(addr, SimConfig::default()).await;

    let err = result.expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[tokio::test]
async fn two_simulators_do_not_share_charges() {
    let first = spawn_sim().await;
    let second = spawn_sim().await;

    let charge_id = first.successful_charge(100).await;

    assert_eq!(first.list_charges().await.len(), 1);
    assert!(second.list_charges().await.is_empty());
    second
        .get_charge(&charge_id)
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

//! No orphans: a local server dies with the process that started it, however that process
//! ends, and its temp dir goes with it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{Mode, Service, start_service_child};

/// Whether `pid` names a live process (a zombie counts as dead). Linux-only, like the CI.
pub fn process_is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn port_is_open(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn assert_server_gone(pid: u32, port: u16, dir: &Path) {
    assert!(
        eventually(Duration::from_secs(10), || !process_is_alive(pid)),
        "server pid {pid} still alive"
    );
    assert!(!port_is_open(port), "port {port} still accepts connections");
    assert!(
        eventually(Duration::from_secs(5), || !dir.exists()),
        "server dir {} left behind",
        dir.display()
    );
}

/// Starts `service`'s shared server in a child that exits without dropping it, and checks
/// the server went with the child.
fn assert_exiting_child_takes_its_shared_server_along(service: Service) {
    let (mut child, report) = start_service_child(Mode::ExitHoldingSharedServer, service, &[]);
    let (pid, port, dir) = report.local.expect("the child started a local server");
    assert!(
        process_is_alive(pid) || !dir.exists(),
        "server already gone?"
    );

    let status = child.wait().expect("waiting for the child");
    assert!(status.success(), "child failed: {status}");

    assert_server_gone(pid, port, &dir);
}

/// Starts `service` in a child, SIGKILLs the child, and checks the server went with it.
fn assert_killed_child_takes_its_server_along(service: Service) {
    let (mut child, report) = start_service_child(Mode::WaitToBeKilled, service, &[]);
    let (pid, port, dir) = report.local.expect("the child started a local server");
    assert!(process_is_alive(pid), "server not running before the kill");
    assert!(port_is_open(port), "server not listening before the kill");

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reaping the child");

    assert_server_gone(pid, port, &dir);
}

#[test]
fn a_server_dies_with_a_process_that_exits_without_dropping_it() {
    assert_exiting_child_takes_its_shared_server_along(Service::Mongo);
}

#[test]
fn a_server_dies_with_a_process_that_is_killed() {
    assert_killed_child_takes_its_server_along(Service::Mongo);
}

#[test]
fn a_postgres_server_dies_with_a_process_that_is_killed() {
    // The reported pid is the postmaster itself (setpriv execs), so this also shows that no
    // intermediate process was left holding the server.
    assert_killed_child_takes_its_server_along(Service::Postgres);
}

#[test]
fn a_redis_server_dies_with_a_process_that_is_killed() {
    assert_killed_child_takes_its_server_along(Service::Redis);
}

#[test]
fn a_shared_postgres_dies_with_a_process_that_exits_without_dropping_it() {
    assert_exiting_child_takes_its_shared_server_along(Service::Postgres);
}

#[test]
fn a_ctrl_c_to_the_test_run_stops_its_servers_in_order_and_removes_their_dirs() {
    // Ctrl-C in a terminal sends SIGINT to the whole foreground process group. The watchdog
    // has a group of its own, so it is not hit: it sees our end of the pipe close, stops the
    // server and removes the dir (were it hit too, the dir would stay behind).
    let (mut child, report) = start_service_child(Mode::WaitToBeKilled, Service::Redis, &[]);
    let (pid, port, dir) = report.local.expect("the child started a local server");

    let group = format!("-{}", child.id());
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -INT {group}");
    child.wait().expect("reaping the child");

    assert_server_gone(pid, port, &dir);
}

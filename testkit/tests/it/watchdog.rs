//! No orphans: a local server dies with the process that started it, however that process
//! ends, and its temp dir goes with it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{Mode, start_child};

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

#[test]
fn a_server_dies_with_a_process_that_exits_without_dropping_it() {
    let (mut child, report) = start_child(Mode::ExitHoldingSharedServer, &[]);
    let (pid, port, dir) = report.local.expect("the child started a local server");
    assert!(
        process_is_alive(pid) || !dir.exists(),
        "server already gone?"
    );

    let status = child.wait().expect("waiting for the child");
    assert!(status.success(), "child failed: {status}");

    assert_server_gone(pid, port, &dir);
}

#[test]
fn a_server_dies_with_a_process_that_is_killed() {
    let (mut child, report) = start_child(Mode::WaitToBeKilled, &[]);
    let (pid, port, dir) = report.local.expect("the child started a local server");
    assert!(process_is_alive(pid), "server not running before the kill");
    assert!(port_is_open(port), "server not listening before the kill");

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reaping the child");

    assert_server_gone(pid, port, &dir);
}

//! The generic local-server machinery, exercised with stand-in servers made of `sh`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use provision::free_port;
use provision::process::{Launch, LocalServer, find_program};

use crate::watchdog::{eventually, process_is_alive};

fn sh(script: &str) -> Launch {
    Launch {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        extra_logs: Vec::new(),
        ..Launch::default()
    }
}

#[test]
fn free_port_returns_a_port_that_can_be_bound() {
    let port = free_port().expect("free port");
    assert_ne!(port, 0);
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn find_program_finds_executables_only_in_the_given_path() {
    let sh = find_program("sh", Some("/nonexistent:/bin".as_ref())).expect("sh in /bin");
    assert_eq!(sh, std::path::Path::new("/bin/sh"));
    assert_eq!(find_program("sh", Some("/nonexistent".as_ref())), None);
    assert_eq!(find_program("sh", None), None);
    // A directory or a non-executable file of that name is not a program.
    assert_eq!(find_program("passwd", Some("/etc".as_ref())), None);
}

#[test]
fn a_server_that_exits_early_is_reported_at_once_with_its_output() {
    let started = Instant::now();
    let err = LocalServer::start("fake", Duration::from_secs(20), |_, _| {
        Ok(sh("echo fake-server-cannot-start >&2; exit 3"))
    })
    .expect_err("the server exits before listening");

    let message = format!("{err:#}");
    assert!(message.contains("fake exited unexpectedly"), "{message}");
    assert!(message.contains("exit status: 3"), "{message}");
    assert!(message.contains("fake-server-cannot-start"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_never_listens_times_out_with_its_output_and_is_stopped() {
    let pid_file = tempfile::NamedTempFile::new().expect("temp file");
    let pid_path = pid_file.path().to_owned();
    let err = LocalServer::start("silent", Duration::from_millis(500), move |_, _| {
        Ok(sh(&format!(
            "echo $$ > '{}'; echo waiting-forever; exec sleep 600",
            pid_path.display()
        )))
    })
    .expect_err("the server never listens");

    let message = format!("{err:#}");
    assert!(message.contains("did not accept connections"), "{message}");
    assert!(message.contains("waiting-forever"), "{message}");
    let pid: u32 = std::fs::read_to_string(pid_file.path())
        .expect("pid written")
        .trim()
        .parse()
        .expect("pid");
    assert!(
        eventually(Duration::from_secs(10), || !process_is_alive(pid)),
        "the timed-out server {pid} is still running"
    );
}

#[test]
fn dropping_a_local_server_stops_it_and_removes_its_dir() {
    // A listener in Python: the same shape as nx-27017 without the venv.
    let python = find_program("python3", std::env::var_os("PATH").as_deref()).expect("python3");
    let server = LocalServer::start("listener", Duration::from_secs(20), |port, _| {
        Ok(Launch {
            program: python.clone(),
            args: vec![
                "-c".into(),
                format!(
                    "import socket, time\n\
                     s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n\
                     time.sleep(600)"
                )
                .into(),
            ],
            extra_logs: Vec::new(),
            ..Launch::default()
        })
    })
    .expect("listener starts");
    let (pid, port, dir) = (server.pid(), server.port(), server.dir().to_owned());
    assert!(process_is_alive(pid));
    assert!(dir.is_dir());

    let started = Instant::now();
    drop(server);

    assert!(!process_is_alive(pid), "still running after drop");
    assert!(!crate::watchdog::port_is_open(port));
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_lost_its_port_to_another_process_is_retried_on_a_new_port() {
    let python = find_program("python3", std::env::var_os("PATH").as_deref()).expect("python3");
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let server = LocalServer::start("racer", Duration::from_secs(20), |port, _| {
        if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            // What nx-27017 and mongod print when the port was taken after free_port().
            return Ok(sh(
                "echo 'OSError: [Errno 98] address already in use' >&2; exit 1",
            ));
        }
        Ok(Launch {
            program: python.clone(),
            args: vec![
                "-c".into(),
                format!(
                    "import socket, time\n\
                     s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n\
                     time.sleep(600)"
                )
                .into(),
            ],
            extra_logs: Vec::new(),
            ..Launch::default()
        })
    })
    .expect("the second attempt starts");

    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(crate::watchdog::port_is_open(server.port()));
}

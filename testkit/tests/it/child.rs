//! Child processes for tests that must watch a whole process live and die: the test binary
//! re-runs itself with `--exact child::child_process_body --ignored` and a mode variable.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use testkit::services::{MongoServer, shared_mongo};

/// Selects what the child does; absent in a normal run, where the body returns at once.
const MODE_VAR: &str = "TESTKIT_IT_CHILD_MODE";

/// The child's stdout line that carries its report (libtest prints other lines).
const REPORT_PREFIX: &str = "CHILD-REPORT";

/// What the child does once its server is up.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Starts the shared server (a `static`, never dropped) and calls `process::exit`.
    ExitHoldingSharedServer,
    /// Starts a server and sleeps until the parent kills it.
    WaitToBeKilled,
    /// Starts a server from its environment and exits normally.
    ReportSource,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::ExitHoldingSharedServer => "exit-holding-shared-server",
            Mode::WaitToBeKilled => "wait-to-be-killed",
            Mode::ReportSource => "report-source",
        }
    }
}

#[test]
#[ignore = "not a test: the body of the child processes other tests start"]
fn child_process_body() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    match mode.as_str() {
        "exit-holding-shared-server" => {
            report(shared_mongo().expect("starting the shared server"));
            std::process::exit(0);
        }
        "wait-to-be-killed" => {
            let server = MongoServer::start().expect("starting a server");
            report(&server);
            loop {
                thread::sleep(Duration::from_secs(60));
            }
        }
        "report-source" => report(&MongoServer::start().expect("starting a server")),
        other => panic!("unknown {MODE_VAR}: {other}"),
    }
}

fn report(server: &MongoServer) {
    let local = server.local();
    println!(
        "{REPORT_PREFIX}\t{}\t{}\t{}\t{}",
        server.source(),
        local.map_or("-".to_owned(), |l| l.pid().to_string()),
        local.map_or("-".to_owned(), |l| l.port().to_string()),
        local.map_or("-".to_owned(), |l| l.dir().display().to_string()),
    );
}

/// What a child reported about its server.
#[derive(Debug)]
pub struct ChildReport {
    /// `ServiceSource`'s display: "MONGODB_URI", "local nx-27017".
    pub source: String,
    /// Pid, port and dir of the server, if the child started one.
    pub local: Option<(u32, u16, PathBuf)>,
}

/// Starts a child in `mode` with `MONGODB_URI` removed, then `env` applied, and waits for its
/// report.
pub fn start_child(mode: Mode, env: &[(&str, &str)]) -> (Child, ChildReport) {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args([
            "child::child_process_body",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(MODE_VAR, mode.as_str())
        .env_remove("MONGODB_URI")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawning the child test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(REPORT_PREFIX) {
                let _ = tx.send(rest.trim_start_matches('\t').to_owned());
            }
        }
    });
    // Generous: on a fresh machine the child may build the nx-27017 venv first.
    let line = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(line) => line,
        Err(err) => {
            let _ = child.kill();
            panic!("the child sent no report ({err}); its stderr is above");
        }
    };
    (child, parse_report(&line))
}

fn parse_report(line: &str) -> ChildReport {
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "malformed child report: {line:?}");
    let local = (fields[1] != "-").then(|| {
        (
            fields[1].parse().expect("pid"),
            fields[2].parse().expect("port"),
            PathBuf::from(fields[3]),
        )
    });
    ChildReport {
        source: fields[0].to_owned(),
        local,
    }
}

//! Child processes for tests that must watch a whole process live and die: the test binary
//! re-runs itself with `--exact child::child_process_body --ignored` and two variables saying
//! what to do and with which service.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use provision::{
    MongoServer, PostgresServer, RedisServer, shared_mongo, shared_postgres, shared_redis,
};

/// Selects what the child does; absent in a normal run, where the body returns at once.
const MODE_VAR: &str = "PROVISION_IT_CHILD_MODE";

/// Selects the service: "mongo" (the default), "postgres", "redis".
const SERVICE_VAR: &str = "PROVISION_IT_CHILD_SERVICE";

/// The child's stdout line that carries its report (libtest prints other lines).
const REPORT_PREFIX: &str = "CHILD-REPORT";

/// What the child does once its server is up.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Starts the shared server (a `static`, never dropped) and calls `process::exit`.
    ExitHoldingSharedServer,
    /// Starts a server and waits until the parent kills it (or goes away: the child exits
    /// when its stdin, a pipe from the parent, closes, so a failed test leaves no child).
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

/// The service a child starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Mongo,
    Postgres,
    Redis,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::Mongo => "mongo",
            Service::Postgres => "postgres",
            Service::Redis => "redis",
        }
    }
}

/// What the child reports about a server, whichever service it is.
struct Facts {
    source: String,
    local: Option<(u32, u16, PathBuf)>,
    container: Option<(String, Option<u32>)>,
}

macro_rules! facts {
    ($server:expr) => {{
        let server = $server;
        Facts {
            source: server.source().to_string(),
            local: server
                .local()
                .map(|l| (l.pid(), l.port(), l.dir().to_owned())),
            container: server
                .container()
                .map(|c| (c.id().to_owned(), c.lifeline_pid())),
        }
    }};
}

#[test]
#[ignore = "not a test: the body of the child processes other tests start"]
fn child_process_body() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    let service = std::env::var(SERVICE_VAR).unwrap_or_else(|_| "mongo".to_owned());
    match (mode.as_str(), service.as_str()) {
        ("exit-holding-shared-server", service) => {
            let facts = match service {
                "mongo" => facts!(shared_mongo().expect("starting the shared server")),
                "postgres" => facts!(shared_postgres().expect("starting the shared server")),
                "redis" => facts!(shared_redis().expect("starting the shared server")),
                other => panic!("unknown {SERVICE_VAR}: {other}"),
            };
            report(&facts);
            std::process::exit(0);
        }
        ("wait-to-be-killed", service) => {
            // Held until the parent kills us: the servers must stay up until then.
            let _held: Box<dyn std::any::Any> = match service {
                "mongo" => hold(MongoServer::start().expect("starting a server"), |s| {
                    facts!(s)
                }),
                "postgres" => hold(PostgresServer::start().expect("starting a server"), |s| {
                    facts!(s)
                }),
                "redis" => hold(RedisServer::start().expect("starting a server"), |s| {
                    facts!(s)
                }),
                other => panic!("unknown {SERVICE_VAR}: {other}"),
            };
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
            std::process::exit(0);
        }
        ("report-source", "mongo") => {
            report(&facts!(&MongoServer::start().expect("starting a server")));
        }
        (other, service) => panic!("unknown {MODE_VAR}/{SERVICE_VAR}: {other}/{service}"),
    }
}

/// Reports `server`'s facts and returns it boxed, to be held.
fn hold<S: 'static>(server: S, facts: impl Fn(&S) -> Facts) -> Box<dyn std::any::Any> {
    report(&facts(&server));
    Box::new(server)
}

fn report(facts: &Facts) {
    let dash = || "-".to_owned();
    println!(
        "{REPORT_PREFIX}\t{}\t{}\t{}\t{}\t{}\t{}",
        facts.source,
        facts.local.as_ref().map_or_else(dash, |l| l.0.to_string()),
        facts.local.as_ref().map_or_else(dash, |l| l.1.to_string()),
        facts
            .local
            .as_ref()
            .map_or_else(dash, |l| l.2.display().to_string()),
        facts.container.as_ref().map_or_else(dash, |c| c.0.clone()),
        facts
            .container
            .as_ref()
            .and_then(|c| c.1)
            .map_or_else(dash, |pid| pid.to_string()),
    );
}

/// What a child reported about its server.
#[derive(Debug)]
pub struct ChildReport {
    /// `ServiceSource`'s display: "MONGODB_URI", "local nx-27017", "container ...".
    pub source: String,
    /// Pid, port and dir of the server, if the child started one locally.
    pub local: Option<(u32, u16, PathBuf)>,
    /// Id of the container, if the child started one, and the pid of its lifeline.
    pub container: Option<(String, Option<u32>)>,
}

/// Starts a child that starts MongoDB in `mode`; see [`start_service_child`].
pub fn start_child(mode: Mode, env: &[(&str, &str)]) -> (Child, ChildReport) {
    start_service_child(mode, Service::Mongo, env)
}

/// Starts a child in `mode` for `service`, with the services' URLs removed and local
/// binaries selected (`STEPWISE_SERVICES=local`), then `env` applied, and waits for its
/// report. The child leads a process group of its own (its pid is the group id), so a test
/// can signal it the way a terminal signals a foreground job.
pub fn start_service_child(
    mode: Mode,
    service: Service,
    env: &[(&str, &str)],
) -> (Child, ChildReport) {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args([
            "child::child_process_body",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(MODE_VAR, mode.as_str())
        .env(SERVICE_VAR, service.as_str())
        .env_remove("MONGODB_URI")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("STEPWISE_SERVICES", "local")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0);
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
    assert_eq!(fields.len(), 6, "malformed child report: {line:?}");
    let local = (fields[1] != "-").then(|| {
        (
            fields[1].parse().expect("pid"),
            fields[2].parse().expect("port"),
            PathBuf::from(fields[3]),
        )
    });
    let container = (fields[4] != "-").then(|| {
        (
            fields[4].to_owned(),
            (fields[5] != "-").then(|| fields[5].parse().expect("lifeline pid")),
        )
    });
    ChildReport {
        source: fields[0].to_owned(),
        local,
        container,
    }
}

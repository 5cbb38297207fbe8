//! `cargo xtask profile N`: a load run (any of `load`'s options) against step N served with
//! profiling on (`APP__OPTIMIZE__PROFILING_ENABLED=true`), which asks the server for a CPU
//! profile of `--seconds` in the middle of the run (`GET /internal/profile?seconds=S`, a pprof
//! flamegraph sampled inside the process: no `perf` needed) and writes it to
//! `target/reports/flamegraph-stepN-<stamp>.svg`, beside the run's own report.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cmd::load::Load;
use crate::load;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask profile 4 --release                     the mix, a 10 s profile mid-run
  cargo xtask profile 4 --release --scenario listing --seconds 15 --duration 25")]
pub struct Profile {
    #[command(flatten)]
    pub load: Load,
    /// Seconds the profiler samples (it starts 2 s into the scenario).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

impl Profile {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if self.seconds + 2 > self.load.duration {
            bail!(
                "--duration ({} s) must cover the profile (--seconds {} plus 2 s)",
                self.load.duration,
                self.seconds
            );
        }
        let runtime = tokio::runtime::Runtime::new()?;
        let profiling = [(
            "APP__OPTIMIZE__PROFILING_ENABLED".to_owned(),
            "true".to_owned(),
        )];
        let (stack, base) = self.load.target(&profiling)?;
        let plan = self.load.plan(base.clone());
        let seconds = self.seconds;
        // The profile starts once the reference phase is over and the scenario has warmed up.
        let delay = plan.reference + Duration::from_secs(2);
        let outcome = runtime.block_on(async {
            let profile = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let url = format!("{base}/internal/profile?seconds={seconds}");
                let response = reqwest::Client::new()
                    .get(&url)
                    .timeout(Duration::from_secs(seconds + 30))
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?;
                let status = response.status();
                let body = response.bytes().await?;
                if !status.is_success() {
                    bail!(
                        "GET {url} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                anyhow::Ok(body)
            });
            let report = load::run(&plan).await;
            let flamegraph = profile.await.context("the profile request panicked")?;
            anyhow::Ok((report?, flamegraph?))
        });
        if let Some(stack) = stack {
            stack.stop();
        }
        let (report, flamegraph) = outcome?;
        let stamp = load::timestamp();
        let dir = self.load.reports_dir();
        let (json, svg) = load::write(&report, &dir, &stamp)?;
        let flame = dir.join(format!("flamegraph-step{}-{stamp}.svg", report.step));
        std::fs::write(&flame, &flamegraph)
            .with_context(|| format!("writing {}", flame.display()))?;
        print!("{}", report.table());
        println!("report      {}", json.display());
        println!("chart       {}", svg.display());
        println!("flamegraph  {}", flame.display());
        Ok(ExitCode::SUCCESS)
    }
}

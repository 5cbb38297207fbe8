//! `step02-payments`: the internal payments service of step 2, on its own. Reads the same
//! `APP__*` variables as the app: `APP__PAYMENTS__*` for the provider it calls,
//! `APP__APIS__PAYMENTS__LISTEN` (default 127.0.0.1:50051) and `..__SERVICE_TOKEN` (required
//! outside development, the same value the app sends). Stops on Ctrl-C or SIGTERM.

use anyhow::Context;
use common::telemetry;
use step02_apis::payments::{ServiceConfig, serve};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = ServiceConfig::load()?;
    let addr = config.listen()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let running = serve(listener, &config.payments, config.token()?).await?;
    let stop = common::startup::shutdown_signal();
    tracing::info!(
        provider = %config.payments.base_url,
        "step 2 payments service listening on http://{}",
        running.addr()
    );
    running.run_until(stop).await;
    Ok(())
}

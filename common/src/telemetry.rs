//! Tracing setup: human-readable logs by default, JSON lines with `APP_LOG_FORMAT=json`,
//! filtered by `RUST_LOG` (default `info`). Call once, at the top of `main`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("APP_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        // Colours only for a person at a terminal: escape codes in a log file or a collector
        // are noise, and formatting them into every request span's fields costs CPU.
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false);
    // `try_init`: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

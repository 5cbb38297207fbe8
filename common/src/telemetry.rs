//! Tracing setup: human-readable logs by default, JSON lines with `APP_LOG_FORMAT=json`,
//! filtered by `RUST_LOG` (default `info`). Call once, at the top of `main`. In JSON every
//! line carries the fields of the spans it was logged in (`span`, `spans`): a request's lines
//! carry its `request_id` and `trace_id` ([`crate::trace`]). [`capture_json`] gives the same
//! format to a test that reads what a service it runs in-process logged.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

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

/// The lines a [`capture_json`] subscriber wrote, shared with it.
#[derive(Clone, Default)]
pub struct CapturedLines(Arc<Mutex<Vec<u8>>>);

impl CapturedLines {
    /// Every complete line written so far.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for CapturedLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber writing what [`init`] writes with `APP_LOG_FORMAT=json` (at `info`), into
/// memory: installed as a test process's default (`tracing::dispatcher::set_global_default`),
/// it shows the test every line its in-process services logged, on any thread.
pub fn capture_json() -> (tracing::Dispatch, CapturedLines) {
    let lines = CapturedLines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info"))
        .with_span_events(FmtSpan::NONE)
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || writer.clone())
        .json()
        .finish();
    (tracing::Dispatch::new(subscriber), lines)
}

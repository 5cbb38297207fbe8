//! How xtask talks while it works. On a terminal, long work is an indicatif spinner or bar on
//! stderr, with noteworthy lines (failures, warnings) printed above it; elsewhere (CI, a pipe,
//! a file) the same news is plain lines, one per event, so a log reads top to bottom.
//! Results (reports, URLs) go to stdout, progress to stderr: `cargo xtask step 0 --json | jq`
//! still shows progress and gets clean JSON.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether stderr is a terminal that can redraw a line.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    tty: bool,
}

impl Ui {
    pub fn new() -> Ui {
        Ui {
            tty: std::io::stderr().is_terminal() && !dumb_terminal(),
        }
    }

    /// A spinner saying `message` on a terminal; one plain line elsewhere.
    pub fn activity(&self, message: impl Into<String>) -> Activity {
        let message = message.into();
        let bar = if self.tty {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("a valid template"),
            );
            bar.set_message(message.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            Some(bar)
        } else {
            eprintln!("{message} ...");
            None
        };
        Activity {
            bar,
            started: Instant::now(),
        }
    }
}

impl Ui {
    /// [`Ui::activity`] without a spinner even on a terminal: for work that prints on its own
    /// (provision announces a venv or image build on stderr), which would garble a spinner line.
    pub fn quiet_activity(&self, message: impl Into<String>) -> Activity {
        Ui { tty: false }.activity(message)
    }
}

/// One piece of long work in progress; see [`Ui::activity`].
pub struct Activity {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Activity {
    /// Switches a spinner to a bar of `total` steps (on a terminal).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {pos}/{len} [{elapsed}] {wide_msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
        }
    }

    pub fn set_prefix(&self, prefix: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(prefix.into());
        }
    }

    /// The spinner's message; plain mode stays quiet (the message is transient).
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// One step done, with `line` as news: on a terminal the bar advances and `line` becomes
    /// its message (or is printed above it when `keep` is set); elsewhere `line` is printed.
    pub fn step(&self, line: &str, keep: bool) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if keep {
                    bar.println(line);
                } else {
                    bar.set_message(line.trim().to_owned());
                }
            }
            None => eprintln!("{line}"),
        }
    }

    /// A line printed above the spinner (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// A line printed only when there is no spinner: news a terminal shows in the spinner.
    pub fn println_plain_only(&self, line: &str) {
        if self.bar.is_none() {
            eprintln!("{line}");
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the spinner and prints `line` in its place.
    pub fn finish(self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }

    /// Removes the spinner without a word.
    pub fn clear(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn dumb_terminal() -> bool {
    std::env::var("TERM").is_ok_and(|t| t == "dumb")
}

/// ANSI colours for stdout, only on a terminal and only without `NO_COLOR`
/// (<https://no-color.org>).
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    pub fn for_stdout() -> Paint {
        Paint {
            enabled: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && !dumb_terminal(),
        }
    }

    pub fn for_stderr() -> Paint {
        Paint {
            enabled: std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && !dumb_terminal(),
        }
    }

    /// No colour at all.
    #[cfg(test)]
    pub fn plain() -> Paint {
        Paint { enabled: false }
    }

    pub fn green(&self, text: &str) -> String {
        self.wrap("32", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.wrap("31", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.wrap("33", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A duration as people read it: `0.006s`, `2.41s`, `1m 05s`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 1.0 {
        format!("{secs:.3}s")
    } else if secs < 60.0 {
        format!("{secs:.2}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally_at_every_scale() {
        assert_eq!(human_duration(Duration::from_millis(6)), "0.006s");
        assert_eq!(human_duration(Duration::from_millis(2410)), "2.41s");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m 05s");
    }

    #[test]
    fn plain_paint_adds_no_escape_codes() {
        assert_eq!(Paint::plain().red("FAIL"), "FAIL");
        assert_eq!(Paint { enabled: true }.red("FAIL"), "\x1b[31mFAIL\x1b[0m");
    }
}

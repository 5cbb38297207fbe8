//! `cargo xtask`: every chore of the project in one typed CLI (the alias lives in
//! `.cargo/config.toml`). Learners run `cargo xtask step N` and `run N`, reviewers `diff A B`,
//! CI `cargo xtask test`. Each command is one struct with a `run` method in [`cmd`].
//!
//! Map: [`steps`] (the table of steps), [`services`] (what a step needs, started through
//! provision), [`nextest`] (running tests, reading per-test results), [`report`] (the report of
//! `step`), [`snapshot`] (a crate's routes, config keys, dependencies, files and tests, for
//! `diff`), [`ui`] (progress on a terminal, plain lines elsewhere), [`interrupt`] (Ctrl-C),
//! [`loadgen`] (building and running the load generator of `load` and `profile`), [`tidy`] (the
//! checks that keep docs and tools in step with the code), [`prereq`], [`workspace`].

mod cmd;
#[cfg(test)]
mod features;
mod interrupt;
mod loadgen;
mod nextest;
mod prereq;
mod report;
mod services;
mod snapshot;
mod steps;
mod tidy;
mod ui;
mod workspace;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    about = "Run, validate, compare and test the steps of stepwise-shop",
    long_about = "Run, validate, compare and test the steps of stepwise-shop.\n\n\
        The services a step needs come from their variable when set (MONGODB_URI, \
        DATABASE_URL, REDIS_URL), else from a container when Docker has the image, else from \
        a local server; a command stops what it started. `cargo xtask doctor` says what this \
        machine has.",
    bin_name = "cargo xtask",
    after_help = "\
Examples:
  cargo xtask doctor                  what this machine has, what each step needs
  cargo xtask step 0                  validate step 0: a report, a rerun command per failure
  cargo xtask step 0 --json=r.json    the same, and the report as JSON
  cargo xtask run 0                   serve step 0 on localhost:8080 with demo data
  cargo xtask test                    every test of every step and tool (what CI runs)
  cargo xtask diff 0 1                what step 1 adds over step 0
  cargo xtask config 8 --profile aws  step 8's configuration on AWS: each key and its source
  cargo xtask services up             local services for exploring (`services down` stops them)
  cargo xtask images                  build local container images (no registry needed)
  cargo xtask tidy                    check that docs, example config and tools match the code
  cargo xtask sqlx prepare            step 5's offline query data, after a query or migration changed
  cargo xtask load 4 --release        load step 4: a report and a latency chart
  cargo xtask profile 4 --release     the same with a CPU flamegraph

`cargo xtask help <COMMAND>` shows a command's options and more examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate step N: start its services, build it, run its tests and the contract suites
    /// of steps 0..N, and print a report with a rerun command per failure.
    ///
    /// Exit code 1 when any check fails. Services are stopped before the report is printed.
    Step(cmd::step::Step),
    /// Serve step N on localhost with its services, demo data and the payment simulator.
    ///
    /// Prints every URL and a first curl to try; Ctrl-C stops everything it started.
    Run(cmd::run::Run),
    /// Run every test of every step and tool against shared services (what CI runs).
    ///
    /// One nextest run over the whole workspace; the output ends with nextest's summary.
    Test(cmd::test::Test),
    /// Show what step B adds over step A: routes, config keys, dependencies, files, tests.
    ///
    /// Read from the crates' sources; also names the chapter to read.
    Diff(cmd::diff::Diff),
    /// Keep local services up for exploring (`up`, `down`, `status`), with their URLs.
    ///
    /// `up` runs in the foreground and stops them on Ctrl-C or `services down`.
    Services(cmd::services::ServicesCmd),
    /// Check this machine: Docker, local servers, tools, what each step needs and how to get it.
    ///
    /// Exit code 1 only when step 0 cannot run.
    Doctor(cmd::doctor::Doctor),
    /// Build the repo's own container images, for machines that cannot pull from a registry.
    ///
    /// Cached once built; used wherever the official images cannot be pulled
    /// (`STEPWISE_IMAGES=local`: always).
    Images(cmd::images::Images),
    /// Drive step N with a realistic task mix or one endpoint, at a fixed rate or at maximum
    /// throughput, and report requests/s and latency percentiles per endpoint.
    ///
    /// The no-I/O reference endpoint runs first, as this machine's ceiling; the report goes to
    /// $CARGO_TARGET_DIR/reports/ (else target/reports/) as JSON and an SVG latency chart.
    Load(cmd::load::Load),
    /// A load run with a CPU profile taken mid-run: a flamegraph SVG beside the report.
    ///
    /// Needs step 4 or later (the server profiles itself; no `perf` needed).
    Profile(cmd::profile::Profile),
    /// Check that the docs, shop.example.toml and the tools agree with the code: cited files
    /// exist, crate maps and suites, config keys, step statuses, claims, roadmap tables.
    ///
    /// Exit code 1 on any drift, each problem with its place and its fix; `test` runs it first.
    Tidy(cmd::tidy::Tidy),
    /// Make or check step 5's offline query data (.sqlx/), from a throwaway database with its
    /// migrations applied.
    ///
    /// `prepare` after changing a query or a migration; `check` fails, naming each stale,
    /// missing or unused file; `test` runs it first.
    Sqlx(cmd::sqlx::Sqlx),
    /// Run step N's data migration (step 5: `migrate-orders`, MongoDB's orders into
    /// PostgreSQL) against MONGODB_URI and DATABASE_URL, or fresh local services.
    ///
    /// Arguments after `--` go to the migration (`-- --dry-run`, `-- --batch-size 100`).
    Migrate(cmd::migrate::Migrate),
    /// Show step N's resolved configuration: every key, its value (secrets redacted) and the
    /// layer it came from (file, variable, cloud profile, secret, default).
    ///
    /// `--profile aws|gcp|azure|local` (step 8 on) picks the cloud profile; exit code 1 when a
    /// start would refuse the configuration (an unknown key, a failed check).
    Config(cmd::config::Config),
}

fn main() -> std::process::ExitCode {
    if let Some(checkout) = workspace::run_from_another_checkout() {
        return workspace::rerun_in(&checkout).unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        });
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Step(command) => command.run(),
        Command::Run(command) => command.run(),
        Command::Test(command) => command.run(),
        Command::Diff(command) => command.run(),
        Command::Services(command) => command.run(),
        Command::Doctor(command) => command.run(),
        Command::Images(command) => command.run(),
        Command::Load(command) => command.run(),
        Command::Profile(command) => command.run(),
        Command::Tidy(command) => command.run(),
        Command::Sqlx(command) => command.run(),
        Command::Migrate(command) => command.run(),
        Command::Config(command) => command.run(),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;

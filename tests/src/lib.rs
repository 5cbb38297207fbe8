//! # Contract suites: what every step promises, checked over HTTP
//!
//! Step 0 (the monolith in `common`) defines the public API; steps 1..9 and the step-10 gateway
//! must keep it. The suites here are the executable form of that promise. They are *black-box*:
//! a case only knows a base URL and the admin's credentials ([`Target`]), talks plain HTTP
//! through [`client::Api`], and never links any step's crate. That is what lets one suite run
//! unchanged against a single binary, several instances behind nginx, or the microservices
//! gateway.
//!
//! Every case is independent and safe to run concurrently with every other case against one
//! server: it registers its own customers (unique emails), creates its own products (unique
//! SKUs), and never asserts on global counts.
//!
//! How to read this crate:
//! - [`case`]: [`Target`] (where to run) and [`Case`] (a named async check);
//! - [`report`]: [`run_suite`] runs cases with bounded concurrency into a [`SuiteReport`];
//! - [`client`]: the HTTP client and [`client::Reply`], whose `expect_*` methods say what was
//!   expected and what came back (status and body) when they fail;
//! - [`model`]: the wire types as a client sees them;
//! - [`check`]: one-line assertions that say what was expected and what came back;
//! - [`fixtures`]: unique names, fresh customers, the admin, product bodies;
//! - [`step00`]: the step-0 suite, one module per resource;
//! - [`step01`]: the step-1 suite (sessions, tokens, the encrypted profile, headers);
//! - [`step02`]: the step-2 suite (listing, `/api/v2`, GraphQL, OpenAPI, rate-limit headers);
//! - [`step03`]: the step-3 suite (a write is seen by the very next read, cache or not);
//! - [`hostile00`], [`hostile01`], [`hostile02`], [`hostile05`]: hostile clients against the
//!   routes of steps 0, 1, 2 and 5 (bodies, text, injection, forged tokens, other users'
//!   resources, races, slow connections, GraphQL abuse, the sales report), each case asserting
//!   the documented answer.
//!
//! Run against a live server with
//! `cargo run -p tests --bin contract -- --base-url http://127.0.0.1:8080 --admin-email .. --admin-password ..`,
//! or call [`run_suite`] from a step's integration test and `assert_all_passed()`.

pub mod case;
pub mod check;
pub mod client;
pub mod fixtures;
pub mod hostile00;
pub mod hostile01;
pub mod hostile02;
pub mod hostile05;
pub mod model;
pub mod report;
pub mod step00;
pub mod step01;
pub mod step02;
pub mod step03;

pub use case::{Case, CaseFuture, Target};
pub use report::{Outcome, SuiteReport, run_suite};

/// A suite's name and the function that lists its cases.
pub type Suite = (&'static str, fn() -> Vec<Case>);

/// Every suite, in step order: each step's contract (`stepNN`) and, where the step adds ways
/// in, the hostile clients' suite against them (`hostileNN`). A later step appends its own
/// here; a step claims steps 0..N by running every suite numbered up to N.
pub fn suites() -> Vec<Suite> {
    vec![
        ("step00", step00::cases),
        ("hostile00", hostile00::cases),
        ("step01", step01::cases),
        ("hostile01", hostile01::cases),
        ("step02", step02::cases),
        ("hostile02", hostile02::cases),
        ("step03", step03::cases),
        ("hostile05", hostile05::cases),
    ]
}

/// The names of the suites a step claims: those numbered 0 to `step`, in order.
pub fn suites_up_to(step: u8) -> Vec<&'static str> {
    suites()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            let number = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            number.parse::<u8>().is_ok_and(|n| n <= step)
        })
        .collect()
}

/// Looks a suite up by name (`"step00"`).
pub fn suite(name: &str) -> Option<Suite> {
    suites().into_iter().find(|(n, _)| *n == name)
}

/// Runs the suite called `name` against `target` and panics, listing every failing case and
/// what it saw, unless all of its cases passed. What a step's integration test calls.
pub async fn assert_suite_passes(name: &'static str, target: &Target) -> SuiteReport {
    let (_, cases) = suite(name).unwrap_or_else(|| panic!("no contract suite called {name}"));
    let cases = cases();
    assert!(!cases.is_empty(), "the {name} suite has no cases");
    let report = run_suite(name, cases, target, 8).await;
    report.assert_all_passed();
    report
}

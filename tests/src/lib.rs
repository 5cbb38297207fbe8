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
//! SKUs), and never asserts on global counts. The one exception is said in the registry: a
//! suite whose cases change what every case shares (`ordering00` makes the one payment
//! provider slow or down) runs them one at a time ([`Suite::one_at_a_time`]).
//!
//! How to read this crate:
//! - [`case`]: [`Target`] (where to run, and the payment [`Provider`] behind it) and [`Case`]
//!   (a named async check);
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
//! - [`step05`]: the step-5 suite (the sales report, order views with their products now,
//!   PostgreSQL in `/health` and the new routes in the OpenAPI document);
//! - [`step06`]: the step-6 suite (an order's events reach the customer's mailbox once each,
//!   an `Idempotency-Key` replays the first answer, the mailbox in the OpenAPI document);
//! - [`step07`]: the step-7 suite (the liveness and readiness probes);
//! - [`step08`]: the step-8 suite (a product's image: upload, signed download URL, replace,
//!   delete, deleted with its product);
//! - [`hostile08`]: hostile clients against step 8's image routes (wrong and mismatched types,
//!   oversized bodies, forged and expired download URLs, customers and anonymous clients on
//!   admin routes, malformed ids), each case checking the image is unchanged;
//! - [`hostile00`], [`hostile01`], [`hostile02`], [`hostile05`], [`hostile06`], [`hostile07`]:
//!   hostile clients against the routes of steps 0, 1, 2, 5, 6 and 7 (bodies, text, injection,
//!   forged tokens, other users' resources, races, slow connections, GraphQL abuse, the sales
//!   report, `Idempotency-Key` headers, the mailbox and the probes), each case asserting the
//!   documented answer;
//! - [`ordering00`]: what step 0's orders promise when the payment provider is slow, down or
//!   raced (one charge per order, a failed refund leaves the order paid), checked at the
//!   provider too; it needs the target's [`Provider`] and runs its cases one at a time.
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
pub mod hostile06;
pub mod hostile07;
pub mod hostile08;
pub mod model;
pub mod ordering00;
pub mod report;
pub mod step00;
pub mod step01;
pub mod step02;
pub mod step03;
pub mod step05;
pub mod step06;
pub mod step07;
pub mod step08;

pub use case::{Case, CaseFuture, Provider, Target};
pub use report::{Outcome, SuiteReport, run_suite};

/// A suite: its name, the function that lists its cases, and whether they must take turns.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    pub name: &'static str,
    pub cases: fn() -> Vec<Case>,
    /// Its cases change something every case sees (the payment provider's faults), so two at
    /// once would break each other: they run one at a time, whatever the runner asks for.
    pub one_at_a_time: bool,
}

impl Suite {
    const fn new(name: &'static str, cases: fn() -> Vec<Case>) -> Self {
        Self {
            name,
            cases,
            one_at_a_time: false,
        }
    }

    const fn one_at_a_time(self) -> Self {
        Self {
            one_at_a_time: true,
            ..self
        }
    }

    /// How many of its cases run at once when the runner asks for `wanted`.
    pub fn concurrency(&self, wanted: usize) -> usize {
        if self.one_at_a_time { 1 } else { wanted }
    }
}

/// Every suite, in step order: each step's contract (`stepNN`), where the step adds ways in
/// the hostile clients' suite against them (`hostileNN`), and step 0's ordering semantics
/// under a misbehaving provider (`ordering00`). A later step appends its own here; a step
/// claims steps 0..N by running every suite numbered up to N.
pub fn suites() -> Vec<Suite> {
    vec![
        Suite::new("step00", step00::cases),
        Suite::new("hostile00", hostile00::cases),
        Suite::new("ordering00", ordering00::cases).one_at_a_time(),
        Suite::new("step01", step01::cases),
        Suite::new("hostile01", hostile01::cases),
        Suite::new("step02", step02::cases),
        Suite::new("hostile02", hostile02::cases),
        Suite::new("step03", step03::cases),
        Suite::new("hostile05", hostile05::cases),
        Suite::new("step05", step05::cases),
        Suite::new("hostile06", hostile06::cases),
        Suite::new("step06", step06::cases),
        Suite::new("hostile07", hostile07::cases),
        Suite::new("step07", step07::cases),
        Suite::new("hostile08", hostile08::cases),
        Suite::new("step08", step08::cases),
    ]
}

/// The names of the suites a step claims: those numbered 0 to `step`, in order.
pub fn suites_up_to(step: u8) -> Vec<&'static str> {
    suites()
        .into_iter()
        .map(|suite| suite.name)
        .filter(|name| {
            let number = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            number.parse::<u8>().is_ok_and(|n| n <= step)
        })
        .collect()
}

/// Looks a suite up by name (`"step00"`).
pub fn suite(name: &str) -> Option<Suite> {
    suites().into_iter().find(|suite| suite.name == name)
}

/// Runs the suite called `name` against `target` and panics, listing every failing case and
/// what it saw, unless all of its cases passed. What a step's integration test calls.
pub async fn assert_suite_passes(name: &'static str, target: &Target) -> SuiteReport {
    let suite = suite(name).unwrap_or_else(|| panic!("no contract suite called {name}"));
    let cases = (suite.cases)();
    assert!(!cases.is_empty(), "the {name} suite has no cases");
    let report = run_suite(name, cases, target, suite.concurrency(8)).await;
    report.assert_all_passed();
    report
}

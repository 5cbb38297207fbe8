//! Test support shared by the step crates: the app harness, on top of the provisioning layer.
//!
//! - [`app`]: [`TestApp`], a real server of any step per test on port 0 with its own database,
//!   payment simulator and what the step's test configuration needs, one method per
//!   endpoint; [`contract_suites!`], a step's contract tests in one line.
//! - [`counting`]: store decorators that count calls, for tests that bound round trips.
//! - [`fault_proxy`]: [`FaultProxy`](fault_proxy::FaultProxy), a TCP proxy in front of a
//!   database or service that a test switches to slow, refusing, resetting, black-holing or a
//!   seeded mix of faults, for step 6's fault and crash tests.
//! - [`services`]: the `provision` crate, re-exported: real backing services (MongoDB,
//!   PostgreSQL, Redis, nginx) from an environment URL, a container or a local server,
//!   always owned and stopped by the harness. It knows nothing of the shop, so xtask uses it
//!   without building the product.
//! - [`cargo`]: `provision::cargo`, a nested cargo without the running crate's variables, and
//!   the `xtask` binary.
pub mod app;
pub mod counting;
pub mod fault_proxy;

pub use provision as services;
pub use provision::cargo;

pub use app::{
    PlacedOrder, Spawn, TestApp, expect_error, expect_status, spawn_app, spawn_app_with,
    unique_email,
};

#[doc(hidden)]
pub use common as __common;
#[doc(hidden)]
pub use contract as __contract;

/// The contract suites (`tests/`) a step keeps, one test each, run against a fresh server of
/// the step: `testkit::contract_suites!(step03_caching::AppState: step00, step01, step02,
/// step03);` makes `contract::step00::passes_against_this_step` and so on, so nextest shows
/// and reruns each suite on its own; one more test checks that the
/// list is every suite from step 0 to this step, so a new suite cannot be left out.
#[macro_export]
macro_rules! contract_suites {
    ($state:ty: $($suite:ident),+ $(,)?) => {
        $(
            mod $suite {
                #[tokio::test]
                async fn passes_against_this_step() {
                    let app = $crate::TestApp::<$state>::spawn().await;
                    $crate::__contract::assert_suite_passes(
                        stringify!($suite),
                        &app.contract_target().await,
                    )
                    .await;
                }
            }
        )+

        #[test]
        fn the_binarys_commands_and_arguments_are_well_formed() {
            $crate::__common::cli::check_arguments::<$state>();
        }

        #[test]
        fn every_suite_of_steps_0_to_this_one_runs() {
            let number = <$state as $crate::__common::Step>::NUMBER;
            assert_eq!(
                [$(stringify!($suite)),+].as_slice(),
                $crate::__contract::suites_up_to(number).as_slice(),
                "the contract suites of steps 0 to {number}",
            );
        }
    };
}

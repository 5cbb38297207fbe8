//! The payment simulator's integration tests, one binary: every test starts its own simulator
//! on a free port and talks to it with reqwest over a real socket, as the shop's app will.
//! Set `TEST_LOG=1` to see the simulator's logs.

mod auth;
mod charges;
mod cli;
mod controls;
mod faults;
mod helpers;
mod idempotency;
mod lifecycle;
mod lost_answers;
mod refunds;
mod routing;
mod validation;

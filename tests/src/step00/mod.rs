//! # The step-0 contract: the monolith's public API
//!
//! What the baseline monolith promises, and every later step and the step-10 gateway must keep:
//! health, registration and login, products and their reviews, orders and their life cycle
//! (pay, ship, cancel), and the transport-level errors. Every error answer is checked for the
//! one error shape (`{"error": {"code", "message", ...}}`, `application/json`), not just for
//! its status.
//!
//! One module per resource; each case is an `async fn` whose name is the sentence it checks.

pub(crate) mod auth;
mod health;
mod lifecycle;
mod orders;
mod products;
mod reviews;
mod transport;

use crate::Case;

/// Every step-0 case, grouped by resource.
pub fn cases() -> Vec<Case> {
    [
        health::cases(),
        auth::cases(),
        products::cases(),
        reviews::cases(),
        orders::cases(),
        lifecycle::cases(),
        transport::cases(),
    ]
    .concat()
}

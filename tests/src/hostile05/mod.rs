//! # Hostile clients against step 5's routes (and every later step's)
//!
//! Step 5 adds the sales report for admins and the order views for customers: callers who
//! may not see them, and parameters that are malformed, hostile or unbounded.

mod report;
pub(crate) mod views;

use crate::Case;

pub fn cases() -> Vec<Case> {
    crate::case::all_of(families())
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("sales report", report::cases()),
        ("order views", views::cases()),
    ]
}

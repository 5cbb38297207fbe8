//! # Hostile clients against step 5's routes (and every later step's)
//!
//! Step 5 adds the sales report for admins and the order views for customers: callers who
//! may not see them, and parameters that are malformed, hostile or unbounded.

mod report;
mod views;

use crate::Case;

pub fn cases() -> Vec<Case> {
    families()
        .into_iter()
        .flat_map(|(_, cases)| cases)
        .collect()
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        ("sales report", report::cases()),
        ("order views", views::cases()),
    ]
}

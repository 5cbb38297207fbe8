//! # Hostile clients against step 5's routes (and every later step's)
//!
//! Step 5 adds the sales report for admins: callers who are not admins, and parameters that
//! are malformed, hostile or unbounded.

mod report;

use crate::Case;

pub fn cases() -> Vec<Case> {
    report::cases()
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![("step 5 routes", report::cases())]
}

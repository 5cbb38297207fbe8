//! The contract suites (tests/) of steps 0 to 0, black-box over HTTP against a fresh server
//! of this step: one test each.

testkit::contract_suites!(common::AppState: step00, hostile00, ordering00);

//! The contract suites (tests/) of steps 0 to 8, black-box over HTTP against a fresh server
//! of this step: one test each.

testkit::contract_suites!(step09_monitoring::AppState:
    step00, hostile00, ordering00, step01, hostile01, step02, hostile02, step03, hostile05, step05,
    hostile06, step06, hostile07, step07, hostile08, step08);

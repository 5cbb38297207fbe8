//! The contract suites (tests/) of steps 0 to 3, black-box over HTTP against a fresh server
//! of this step: one test each.

testkit::contract_suites!(step03_caching::AppState:
    step00, hostile00, ordering00, step01, hostile01, step02, hostile02, step03);

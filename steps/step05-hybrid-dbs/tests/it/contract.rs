//! The contract suites (tests/) of steps 0 to 5, black-box over HTTP against a fresh server
//! of this step, whose orders and payments live in PostgreSQL: one test each.

testkit::contract_suites!(step05_hybrid_dbs::AppState:
    step00, hostile00, ordering00, step01, hostile01, step02, hostile02, step03, hostile05, step05);

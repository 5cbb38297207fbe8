//! Step 5's tests run testkit's `TestApp` with step 5's test configuration: a real server per
//! test, with a MongoDB database and a PostgreSQL database of its own.

/// A running step-5 app.
pub type App = testkit::TestApp<step05_hybrid_dbs::AppState>;

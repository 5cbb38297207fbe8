//! Step 2's tests run testkit's `TestApp` with step 2's test configuration: a real server per
//! test on port 0, a fresh database, its own payment simulator and, in front of it, its own
//! gRPC payments service (`app.fixture::<RunningPayments>()`), so every test pays over gRPC,
//! as the app does.

/// A running step-2 app.
pub type App = testkit::TestApp<step02_apis::AppState>;

//! Step 4's tests run testkit's `TestApp` with step 4's test configuration: step 3's (a real
//! server per test on port 0, a fresh database, its own payment simulator and gRPC payments
//! service, its own key prefix on the shared test Redis) with step 4's router. `app.beside()`
//! starts another instance of the same deployment (several instances behind nginx), and
//! `.router(..)` wraps one instance's router, so a test can make it die the way it chooses.

/// A running step-4 app.
pub type App = testkit::TestApp<step04_optimize::AppState>;

//! Step 3's tests run testkit's `TestApp` with step 3's test configuration: a real server per
//! test on port 0, a fresh database, its own payment simulator and gRPC payments service, and
//! a key prefix of its own on the shared test Redis (or on one the test started and brings:
//! `App::builder().redis(..)`), so tests run in parallel on one server. `app.beside()` starts
//! a second instance on the same database and prefix: two app instances sharing one Redis.

use step03_caching::cache::CacheCounters;
use testkit::services::redis::TestRedis;

/// A running step-3 app.
pub type App = testkit::TestApp<step03_caching::AppState>;

/// What step 3's tests read of an app beyond testkit's methods.
pub trait Cached {
    /// The cache's counters, read from the app's state.
    fn counters(&self) -> CacheCounters;
    /// The app's key prefix on Redis (deleted when the last instance holding it drops).
    fn redis(&self) -> &TestRedis;
}

impl Cached for App {
    fn counters(&self) -> CacheCounters {
        self.state.cache_stats.snapshot()
    }

    fn redis(&self) -> &TestRedis {
        self.fixture::<TestRedis>()
    }
}

/// Reads `path` twice, again and again for at most 10 s, until `counter` of the app's cache
/// counters grows: the tier it counts serves again (after a restart, a first heartbeat).
pub async fn until_counted(app: &App, path: &str, counter: fn(&CacheCounters) -> u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let before = counter(&app.counters());
        app.get_ok(path).await;
        app.get_ok(path).await;
        if counter(&app.counters()) > before {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} was never served from the cache: {:?}",
            app.counters()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

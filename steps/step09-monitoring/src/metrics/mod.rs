//! The service's metrics: one [`Metrics`] per instance, holding its own Prometheus registry
//! (never the crate's global one: two test apps in one process keep their numbers apart) and
//! every family step 9 records. Who records what: [`http`] the RED metrics of every route,
//! [`clients`] the data stores and the payments service, [`business`] orders, revenue and
//! failed payments,
//! [`scrape`] what is read at each scrape (caches, pools, sagas, outbox, replica, dependencies).
//!
//! Every label takes its values from a set the code fixes (route templates, command names,
//! check names, currencies, decline reasons mapped onto a few), never from a request: an id
//! or a raw path in a label would make a series per value, and Prometheus's memory grows with
//! the series. `tests/it/metrics.rs` sends many distinct ids and paths and checks that the
//! number of series does not move.

pub mod business;
pub mod clients;
pub mod http;
pub mod scrape;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Bucket bounds (seconds) of every latency histogram. Step 4 measured the cached product
/// read at 2-3 ms p99 (19 ms at the machine's limit), listings at 5-150 ms and a login at
/// 10-200 ms (argon2id, bcrypt): the buckets are dense from 1 ms to 250 ms, where those sit
/// and where the latency SLO's threshold (250 ms) is an exact bound, and sparse above, up to
/// the request timeout's order (10 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of one instance.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    pub rate_limited: IntCounterVec,
    pub client_duration: HistogramVec,
    pub client_errors: IntCounterVec,
    pub orders_placed: IntCounterVec,
    pub revenue: IntCounterVec,
    pub refunds: IntCounterVec,
    pub payment_failures: IntCounterVec,
    pub(crate) gauges: scrape::Gauges,
}

impl Metrics {
    /// A registry with every family registered, the process collector and the build info.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> anyhow::Result<IntCounterVec> {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| -> anyhow::Result<HistogramVec> {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let http_in_flight =
            IntGauge::new("http_requests_in_flight", "Requests being served now.")?;
        registry.register(Box::new(http_in_flight.clone()))?;
        let build = IntGaugeVec::new(
            Opts::new("shop_build_info", "The running build: always 1."),
            &["version", "step"],
        )?;
        registry.register(Box::new(build.clone()))?;
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), "9"])
            .set(1);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            http_requests: counter(
                "http_requests_total",
                "HTTP requests answered, by matched route, method and status.",
                &["method", "route", "status"],
            )?,
            http_duration: histogram(
                "http_request_duration_seconds",
                "Time from a request's head to its answer's head, by matched route and method.",
                &["method", "route"],
            )?,
            http_in_flight,
            rate_limited: counter(
                "shop_rate_limited_total",
                "Requests refused with 429 by a rate limit, by matched route.",
                &["route"],
            )?,
            client_duration: histogram(
                "shop_client_request_duration_seconds",
                "Calls to the data stores and the payments service, by client and operation.",
                &["client", "operation"],
            )?,
            client_errors: counter(
                "shop_client_errors_total",
                "Calls to the data stores and the payments service that failed.",
                &["client", "operation"],
            )?,
            orders_placed: counter(
                "shop_orders_placed_total",
                "Orders placed (stock reserved, order stored), by currency, from the outbox's events.",
                &["currency"],
            )?,
            revenue: counter(
                "shop_revenue_minor_units_total",
                "The totals of paid orders, in the currency's minor units, from the outbox's events.",
                &["currency"],
            )?,
            refunds: counter(
                "shop_refunds_minor_units_total",
                "What cancellations of paid orders refunded, in the currency's minor units.",
                &["currency"],
            )?,
            payment_failures: counter(
                "shop_payment_failures_total",
                "Payments that did not go through, by reason.",
                &["reason"],
            )?,
            gauges: scrape::Gauges::register(&registry)?,
            registry,
        })
    }

    /// The registry's families in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    /// The registry, for a test that reads the families directly.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

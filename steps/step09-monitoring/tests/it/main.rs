//! The one integration-test binary of step 9. Every test gets a real step-9 server on port 0
//! with its own MongoDB and PostgreSQL databases, payment simulator, payments service and
//! Redis key prefix (`App::spawn()`), and its admin listener where it reads `/metrics`; or
//! runs the real binary as a child process, with a real Prometheus and Alertmanager.

mod contract;
mod dashboards;
mod end_to_end;
mod kubernetes;
mod metrics;
mod rules;
mod trace;

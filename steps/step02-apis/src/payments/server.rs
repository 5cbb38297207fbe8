//! The payments service: `stepwise.payments.v1.Payments` implemented on top of step 0's
//! provider client ([`HttpPaymentGateway`]), behind the service-token interceptor, beside the
//! standard health and reflection services. [`serve`] runs it on a listener the caller bound,
//! so the `step02-payments` binary and the tests (port 0) start it the same way.
//!
//! Deadlines: the caller's `grpc-timeout` (less a margin for the reply) bounds the provider
//! call, and running past it is answered DEADLINE_EXCEEDED (the provider's own timeout, `APP__PAYMENTS__TIMEOUT_MS`, still
//! applies underneath). The routes are served by axum rather than `tonic::transport::Server`,
//! whose own deadline layer answers CANCELLED; here the handler owns the deadline and says
//! what happened. Every call runs in a span with the caller's request and trace ids and is
//! logged once, with its outcome ([`traced_call`]).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use common::config::PaymentsConfig;
use common::domain::Currency;
use common::payments::{ChargeRequest, HttpPaymentGateway, PaymentError, PaymentGateway};
use common::trace::{self, TraceContext};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::auth::RequireToken;
use super::pb::payments_server::{Payments, PaymentsServer};
use super::pb::{
    ChargeRequest as ChargeMessage, GetPaymentRequest, Payment, RefundRequest, RefundResponse,
};
use super::status::to_status;

/// Idempotency keys travel to the provider as an HTTP header: bounded and header-safe.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// The same bound the REST API puts on a card token.
pub const MAX_CARD_TOKEN_LEN: usize = 100;
pub const MAX_DESCRIPTION_LEN: usize = 500;
pub const MAX_PAYMENT_ID_LEN: usize = 100;

/// `stepwise.payments.v1.Payments` over the provider.
pub struct PaymentsService {
    provider: HttpPaymentGateway,
}

impl PaymentsService {
    pub fn new(provider: &PaymentsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            provider: HttpPaymentGateway::new(provider)?,
        })
    }
}

#[tonic::async_trait]
impl Payments for PaymentsService {
    #[tracing::instrument(skip_all, fields(amount = request.get_ref().amount_minor))]
    async fn charge(&self, request: Request<ChargeMessage>) -> Result<Response<Payment>, Status> {
        let deadline = deadline(&request)?;
        let charge = validate_charge(request.into_inner())?;
        let currency = charge.amount.currency.as_str().to_owned();
        let charged = within(deadline, self.provider.charge(charge)).await?;
        Ok(Response::new(Payment {
            id: charged.id,
            amount_minor: charged.amount_minor,
            currency,
            status: charged.status,
            amount_refunded_minor: 0,
        }))
    }

    #[tracing::instrument(skip_all, fields(payment = %request.get_ref().payment_id))]
    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        let deadline = deadline(&request)?;
        let request = request.into_inner();
        let mut problems = Problems::default();
        problems.payment_id(&request.payment_id);
        problems.idempotency_key(&request.idempotency_key);
        problems.finish()?;
        within(
            deadline,
            self.provider
                .refund(&request.payment_id, &request.idempotency_key),
        )
        .await?;
        Ok(Response::new(RefundResponse {
            payment_id: request.payment_id,
        }))
    }

    #[tracing::instrument(skip_all, fields(payment = %request.get_ref().payment_id))]
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<Payment>, Status> {
        let deadline = deadline(&request)?;
        let id = request.into_inner().payment_id;
        let mut problems = Problems::default();
        problems.payment_id(&id);
        problems.finish()?;
        let found = within(deadline, self.provider.find_charge(&id)).await?;
        let charge = found.ok_or_else(|| Status::not_found(format!("no payment {id:?}")))?;
        Ok(Response::new(Payment {
            id: charge.id,
            amount_minor: charge.amount_minor,
            currency: charge.currency,
            status: charge.status,
            amount_refunded_minor: charge.amount_refunded_minor,
        }))
    }
}

/// The most of a caller's deadline kept back for the answer's way home.
const MAX_REPLY_MARGIN: Duration = Duration::from_millis(100);

/// Runs a provider call within the caller's deadline (if it sent one), less a tenth of it (at
/// most [`MAX_REPLY_MARGIN`]): an answer that arrives after the caller's own timer is wasted,
/// and the caller could not tell a slow provider from a lost service.
async fn within<T>(
    deadline: Option<Duration>,
    call: impl Future<Output = Result<T, PaymentError>>,
) -> Result<T, Status> {
    let budget = deadline.map(|d| d - (d / 10).min(MAX_REPLY_MARGIN));
    let outcome = match budget {
        Some(deadline) => tokio::time::timeout(deadline, call).await.map_err(|_| {
            tracing::warn!(?deadline, "the provider did not answer within the deadline");
            Status::deadline_exceeded(format!(
                "the payment provider did not answer within the deadline ({} ms)",
                deadline.as_millis()
            ))
        })?,
        None => call.await,
    };
    outcome.map_err(to_status)
}

/// The caller's `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a unit, H M S m u n).
/// An unreadable one is the caller's bug, so INVALID_ARGUMENT rather than silently none.
fn deadline<T>(request: &Request<T>) -> Result<Option<Duration>, Status> {
    let Some(value) = request.metadata().get("grpc-timeout") else {
        return Ok(None);
    };
    let invalid = || Status::invalid_argument("grpc-timeout is not a valid timeout");
    let value = value.to_str().map_err(|_| invalid())?;
    let (digits, unit) = value.split_at(value.len().saturating_sub(1));
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let amount: u64 = digits.parse().map_err(|_| invalid())?;
    let duration = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(invalid()),
    };
    Ok(Some(duration))
}

/// Parses a charge request into the provider client's input, naming every bad field at once.
fn validate_charge(request: ChargeMessage) -> Result<ChargeRequest, Status> {
    let mut problems = Problems::default();
    problems.idempotency_key(&request.idempotency_key);
    if request.amount_minor <= 0 {
        problems.add(
            "amount_minor",
            "must be greater than zero (minor units, e.g. 1999)",
        );
    }
    let currency = Currency::parse(&request.currency)
        .map_err(|reason| problems.add("currency", &reason))
        .ok();
    let token = &request.card_token;
    if token.is_empty()
        || token.len() > MAX_CARD_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        problems.add(
            "card_token",
            &format!("must be 1 to {MAX_CARD_TOKEN_LEN} letters, digits, '_' or '-'"),
        );
    }
    if request.description.chars().count() > MAX_DESCRIPTION_LEN {
        problems.add(
            "description",
            &format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        );
    }
    problems.finish()?;
    let currency = currency.ok_or_else(|| Status::internal("currency checked above"))?;
    Ok(ChargeRequest {
        amount: common::domain::Money {
            minor: request.amount_minor,
            currency,
        },
        card_token: request.card_token,
        idempotency_key: request.idempotency_key,
        description: request.description,
    })
}

/// Field problems collected into one INVALID_ARGUMENT: `field: reason; field: reason`.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, reason: &str) {
        self.0.push(format!("{field}: {reason}"));
    }

    fn idempotency_key(&mut self, key: &str) {
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            self.add(
                "idempotency_key",
                &format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
            );
        }
    }

    fn payment_id(&mut self, id: &str) {
        if id.is_empty()
            || id.len() > MAX_PAYMENT_ID_LEN
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.add(
                "payment_id",
                &format!("must be 1 to {MAX_PAYMENT_ID_LEN} letters, digits or '_' (e.g. ch_...)"),
            );
        }
    }

    fn finish(self) -> Result<(), Status> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Status::invalid_argument(self.0.join("; ")))
        }
    }
}

/// Runs one call in a `grpc` span with the caller's `request_id` and `trace_id` (from the
/// `x-request-id` and `traceparent` metadata; a trace of its own when the caller sent none or
/// a malformed one) and logs one line for it: the method, the outcome (the gRPC status code)
/// and the duration. Health probes are logged at debug: an orchestrator sends one every few
/// seconds.
async fn traced_call(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.uri().path().to_owned();
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let context = header(trace::TRACEPARENT)
        .and_then(|v| TraceContext::parse(v).ok())
        .map_or_else(TraceContext::new_root, |parent| parent.child());
    let request_id = header(super::client::REQUEST_ID)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let span = tracing::info_span!(
        "grpc",
        method = %method,
        request_id = tracing::field::Empty,
        trace_id = %context.trace_id(),
    );
    if let Some(id) = &request_id {
        span.record("request_id", id.as_str());
    }
    let response = trace::scope_request(context, request_id, next.run(request))
        .instrument(span.clone())
        .await;
    // A failed unary call is answered trailers-only, its status in the headers; a successful
    // one sends `grpc-status: 0` in the trailers, after the message (every method here is
    // unary, so a response without the header is a success).
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
    let outcome = format!("{code:?}");
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if method.starts_with("/grpc.health.") {
            tracing::debug!(%method, %outcome, duration_ms, "grpc call");
        } else {
            tracing::info!(%method, %outcome, duration_ms, "grpc call");
        }
    });
    response
}

/// A payments service serving on a socket, owned by the caller: `stop` shuts it down
/// gracefully, dropping it aborts it (so a test that panics leaks no listener).
pub struct RunningPayments {
    addr: SocketAddr,
    health: tonic_health::server::HealthReporter,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningPayments {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT`: what the app's `APP__APIS__PAYMENTS__URL` needs.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reports NOT_SERVING (so health-checking clients stop sending), lets in-flight calls
    /// finish, and returns once the port is closed.
    pub async fn stop(mut self) {
        self.health
            .set_not_serving::<PaymentsServer<PaymentsService>>()
            .await;
        self.health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "payments service stopped with an error"),
                Err(err) => tracing::warn!(%err, "payments service task failed"),
            }
        }
        tracing::info!(addr = %self.addr, "payments service stopped");
    }

    /// Waits for `stop` (a binary passes [`common::startup::shutdown_signal`], taken before it
    /// announces its address), then [`RunningPayments::stop`]s.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        stop.await;
        self.stop().await;
    }
}

impl Drop for RunningPayments {
    fn drop(&mut self) {
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves the payments service, health (`grpc.health.v1`, SERVING for
/// `stepwise.payments.v1.Payments` and for the server as a whole) and reflection (v1 and
/// v1alpha) on `listener`, in front of the provider `provider`. Only the payments service asks
/// for `token`: health must answer probes, and reflection shows nothing but the schema.
pub async fn serve(
    listener: TcpListener,
    provider: &PaymentsConfig,
    token: SecretString,
) -> anyhow::Result<RunningPayments> {
    let addr = listener.local_addr().context("reading the bound address")?;
    let payments = PaymentsServer::with_interceptor(
        PaymentsService::new(provider).context("building the provider client")?,
        RequireToken::new(token),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PaymentsServer<PaymentsService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(super::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(super::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building the reflection service (v1alpha)")?;
    let router = tonic::service::Routes::new(payments)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .prepare()
        .into_axum_router()
        .layer(tower_http::trace::TraceLayer::new_for_grpc())
        .layer(axum::middleware::from_fn(traced_call));
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::debug!(%addr, "payments service (gRPC) started");
    Ok(RunningPayments {
        addr,
        health,
        shutdown: Some(shutdown),
        task: Some(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ChargeMessage {
        ChargeMessage {
            idempotency_key: "order-1-tok_success".to_owned(),
            amount_minor: 1999,
            currency: "EUR".to_owned(),
            card_token: "tok_success".to_owned(),
            description: "an order".to_owned(),
        }
    }

    #[test]
    fn a_valid_charge_becomes_the_provider_clients_input() {
        let charge = validate_charge(valid()).unwrap();
        assert_eq!(charge.amount.minor, 1999);
        assert_eq!(charge.amount.currency.as_str(), "EUR");
    }

    #[test]
    fn every_bad_field_is_named_in_one_invalid_argument() {
        let status = validate_charge(ChargeMessage {
            idempotency_key: String::new(),
            amount_minor: 0,
            currency: "eur".to_owned(),
            card_token: "tok success".to_owned(),
            description: "x".repeat(MAX_DESCRIPTION_LEN + 1),
        })
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        for field in [
            "idempotency_key",
            "amount_minor",
            "currency",
            "card_token",
            "description",
        ] {
            assert!(status.message().contains(field), "{}", status.message());
        }
        let too_long_key = ChargeMessage {
            idempotency_key: "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1),
            ..valid()
        };
        assert!(validate_charge(too_long_key).is_err());
        let negative = ChargeMessage {
            amount_minor: -5,
            ..valid()
        };
        assert!(validate_charge(negative).is_err());
    }

    #[test]
    fn grpc_timeouts_are_read_in_every_unit_and_garbage_is_refused() {
        let with = |value: &str| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("grpc-timeout", value.parse().unwrap());
            deadline(&request)
        };
        assert_eq!(with("250m").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(with("2S").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(with("1H").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(with("30000000u").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(deadline(&Request::new(())).unwrap(), None);
        for bad in ["", "m", "12", "123456789m", "10x", "-1m"] {
            assert_eq!(
                with(bad).unwrap_err().code(),
                tonic::Code::InvalidArgument,
                "{bad:?}"
            );
        }
    }
}

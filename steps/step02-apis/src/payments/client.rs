//! [`GrpcPaymentGateway`]: step 0's [`PaymentGateway`] trait spoken over gRPC to the payments
//! service, so the order path (`Ordering::pay_order`, `cancel_order`) is unchanged and only
//! the wire differs. The channel connects lazily: the app starts while the service is down,
//! and a payment attempted then is a 503 with the order still pending, payable later.
//!
//! Every call carries a deadline twice: as `grpc-timeout`, so the service stops waiting for
//! the provider when the app has stopped waiting for it, and as a local timer, so a service
//! that is hung (or a network that swallows packets) cannot hold a customer's request. And
//! every call made inside a traced request carries its `traceparent` and `x-request-id`.

use std::time::Duration;

use async_trait::async_trait;
use common::config::Environment;
use common::payments::{Charge, ChargeDetails, ChargeRequest, PaymentError, PaymentGateway};
use common::trace;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::auth::AttachToken;
use super::config::PaymentsClientConfig;
use super::pb;
use super::pb::payments_client::PaymentsClient;
use super::status::from_status;

/// The request id's metadata key: the header the API answers with.
pub const REQUEST_ID: &str = "x-request-id";

type Client = PaymentsClient<InterceptedService<Channel, AttachToken>>;

pub struct GrpcPaymentGateway {
    /// Cheap to clone (a handle on one multiplexed HTTP/2 connection); each call clones it
    /// because the generated client's methods take `&mut self`.
    client: Client,
    deadline: Duration,
}

impl GrpcPaymentGateway {
    /// Builds the client without connecting (see the module docs).
    pub fn new(config: &PaymentsClientConfig, environment: Environment) -> anyhow::Result<Self> {
        config.validate(environment)?;
        let channel = Endpoint::from_shared(config.url.clone())?
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .connect_lazy();
        let token = AttachToken::new(&config.token(environment)?)?;
        Ok(Self {
            client: PaymentsClient::with_interceptor(channel, token),
            deadline: Duration::from_millis(config.deadline_ms),
        })
    }

    /// One call: the deadline set on the request and enforced here, the status mapped.
    async fn call<Req, Res, F, Fut>(&self, message: Req, rpc: F) -> Result<Res, PaymentError>
    where
        F: FnOnce(Client, Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>>,
    {
        let mut request = Request::new(message);
        request.set_timeout(self.deadline);
        carry_trace(&mut request);
        match tokio::time::timeout(self.deadline, rpc(self.client.clone(), request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(from_status(status)),
            Err(_) => Err(PaymentError::Unavailable(anyhow::anyhow!(
                "the payments service did not answer within {} ms",
                self.deadline.as_millis()
            ))),
        }
    }

    /// `GetPayment`: the payment as the provider reports it now; `Rejected` for an unknown id.
    pub async fn get_payment(&self, payment_id: &str) -> Result<pb::Payment, PaymentError> {
        let message = pb::GetPaymentRequest {
            payment_id: payment_id.to_owned(),
        };
        self.call(message, |mut client, request| async move {
            client.get_payment(request).await
        })
        .await
    }
}

/// Passes the current trace context (as a child span: the call is a hop of its own) and the
/// request id on as metadata, so the service's line for the call carries the caller's ids. A
/// call outside any request (a recovery worker's) carries neither, and the service starts a
/// trace of its own.
fn carry_trace<T>(request: &mut Request<T>) {
    let Some(context) = trace::current() else {
        return;
    };
    let metadata = request.metadata_mut();
    if let Ok(value) = MetadataValue::try_from(context.child().to_string()) {
        metadata.insert(trace::TRACEPARENT, value);
    }
    if let Some(value) = trace::current_request_id().and_then(|id| MetadataValue::try_from(id).ok())
    {
        metadata.insert(REQUEST_ID, value);
    }
}

#[async_trait]
impl PaymentGateway for GrpcPaymentGateway {
    #[tracing::instrument(skip_all, fields(amount = request.amount.minor, currency = %request.amount.currency))]
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        let message = pb::ChargeRequest {
            idempotency_key: request.idempotency_key,
            amount_minor: request.amount.minor,
            currency: request.amount.currency.as_str().to_owned(),
            card_token: request.card_token,
            description: request.description,
        };
        let payment = self
            .call(message, |mut client, request| async move {
                client.charge(request).await
            })
            .await?;
        Ok(Charge {
            id: payment.id,
            amount_minor: payment.amount_minor,
            status: payment.status,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn refund(&self, charge_id: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let message = pb::RefundRequest {
            payment_id: charge_id.to_owned(),
            idempotency_key: idempotency_key.to_owned(),
        };
        self.call(message, |mut client, request| async move {
            client.refund(request).await
        })
        .await?;
        Ok(())
    }

    /// `GetPayment`; an id the service refuses or does not know is no charge.
    async fn find_charge(&self, charge_id: &str) -> Result<Option<ChargeDetails>, PaymentError> {
        match self.get_payment(charge_id).await {
            Ok(payment) => Ok(Some(ChargeDetails {
                id: payment.id,
                amount_minor: payment.amount_minor,
                currency: payment.currency,
                status: payment.status,
                amount_refunded_minor: payment.amount_refunded_minor,
            })),
            Err(PaymentError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

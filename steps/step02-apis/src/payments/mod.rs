//! Payments over gRPC: the order path no longer calls the card provider over HTTP itself; it
//! calls the internal payments service (`proto/payments.proto`, package
//! `stepwise.payments.v1`: `Charge`, `Refund`, `GetPayment`), which holds the provider's API
//! key and calls the provider. The service is its own binary (`step02-payments`) and starts
//! in-process too ([`server::serve`]), which is how the tests run it.
//!
//! - [`config`]: the app's [`PaymentsClientConfig`] and the service's [`ServiceConfig`], both
//!   in `apis.payments` (`APP__APIS__PAYMENTS__*`), sharing the service token.
//! - [`client`]: [`GrpcPaymentGateway`], step 0's `PaymentGateway` over gRPC (lazy channel,
//!   a deadline on every call).
//! - [`server`]: the service, health and reflection; [`server::serve`] -> [`RunningPayments`].
//! - [`auth`]: the service-token interceptors (both sides); [`status`]: payment outcomes <->
//!   gRPC status codes (declined: FAILED_PRECONDITION -> 402, unavailable or past the deadline
//!   -> 503, invalid -> 400).
//!
//! Try it (with `cargo xtask run 2`, or `cargo run -p step02-apis --bin step02-payments` in
//! front of `cargo run -p payment-sim -- --port 4242`):
//! ```text
//! grpcurl -plaintext 127.0.0.1:50051 list
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check
//! grpcurl -plaintext -H 'authorization: Bearer development-only-payments-service-token' \
//!   -d '{"idempotency_key":"try-1","amount_minor":1999,"currency":"EUR","card_token":"tok_success"}' \
//!   127.0.0.1:50051 stepwise.payments.v1.Payments/Charge
//! ```

use std::sync::Arc;

use common::payments::PaymentGateway;

pub mod auth;
pub mod client;
pub mod config;
pub mod server;
pub mod status;

pub use client::GrpcPaymentGateway;
pub use config::{PaymentsClientConfig, ServiceConfig};
pub use server::{RunningPayments, serve};

/// The generated messages, client and server of `stepwise.payments.v1`, and the encoded file
/// descriptor set the reflection service serves.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("stepwise.payments.v1");

    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/payments_descriptor.bin"));
}

/// The gateway the order path charges through: the payments service, over gRPC.
pub async fn gateway(config: &crate::Config) -> anyhow::Result<Arc<dyn PaymentGateway>> {
    Ok(Arc::new(GrpcPaymentGateway::new(
        &config.apis.payments,
        config.environment,
    )?))
}

//! The one place where payment outcomes meet gRPC status codes, both ways: the service turns
//! a provider's [`PaymentError`] into a [`Status`] ([`to_status`]) and the app turns it back
//! ([`from_status`]), so the order path sees exactly what step 0's HTTP gateway gave it and
//! answers 402 for a declined card, 503 for an unavailable provider, 400 for a rejected request.

use common::payments::PaymentError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// Trailer metadata of a declined charge: the provider's machine-readable reason
/// (`card_declined`, `insufficient_funds`). Its presence is what tells a decline apart from
/// any other FAILED_PRECONDITION.
pub const DECLINE_REASON: &str = "payment-decline-reason";

/// The service's answer for a provider failure. Internal details (the provider's URL, its
/// error) are logged here, once, and never sent.
pub fn to_status(error: PaymentError) -> Status {
    match error {
        PaymentError::Declined { reason } => {
            let mut status = Status::failed_precondition(format!("card declined: {reason}"));
            // A reason that is not a valid header value is still a decline, just unnamed.
            let value = MetadataValue::try_from(reason.as_str())
                .unwrap_or_else(|_| MetadataValue::from_static("card_declined"));
            status.metadata_mut().insert(DECLINE_REASON, value);
            status
        }
        PaymentError::Rejected(reason) => Status::invalid_argument(reason),
        PaymentError::Unavailable(source) => {
            tracing::error!(
                error = format!("{source:#}"),
                "payment provider unavailable"
            );
            Status::unavailable("the payment provider is unavailable")
        }
    }
}

/// The app's reading of a failed call.
///
/// UNAUTHENTICATED and PERMISSION_DENIED mean the app's token is wrong: an operator's
/// problem, so 503 (as step 0 treats the provider refusing its API key), never the customer's.
pub fn from_status(status: Status) -> PaymentError {
    match status.code() {
        Code::FailedPrecondition => match status.metadata().get(DECLINE_REASON) {
            Some(reason) => PaymentError::Declined {
                reason: reason.to_str().unwrap_or("card_declined").to_owned(),
            },
            None => PaymentError::Rejected(status.message().to_owned()),
        },
        Code::InvalidArgument | Code::NotFound | Code::AlreadyExists | Code::OutOfRange => {
            PaymentError::Rejected(status.message().to_owned())
        }
        _ => PaymentError::Unavailable(anyhow::anyhow!(
            "payments service answered {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payment_error_survives_the_round_trip_through_a_status() {
        let declined = from_status(to_status(PaymentError::Declined {
            reason: "insufficient_funds".to_owned(),
        }));
        assert!(
            matches!(declined, PaymentError::Declined { reason } if reason == "insufficient_funds")
        );
        let rejected = from_status(to_status(PaymentError::Rejected("bad key".to_owned())));
        assert!(matches!(rejected, PaymentError::Rejected(m) if m == "bad key"));
        let unavailable = to_status(PaymentError::Unavailable(anyhow::anyhow!(
            "http://10.0.0.1 refused"
        )));
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert!(!unavailable.message().contains("10.0.0.1"));
        assert!(matches!(
            from_status(unavailable),
            PaymentError::Unavailable(_)
        ));
    }

    #[test]
    fn deadlines_and_bad_tokens_are_unavailable_not_the_customers_fault() {
        for status in [
            Status::deadline_exceeded("slow"),
            Status::cancelled("Timeout expired"),
            Status::unauthenticated("wrong service token"),
            Status::internal("boom"),
        ] {
            assert!(matches!(from_status(status), PaymentError::Unavailable(_)));
        }
        assert!(matches!(
            from_status(Status::failed_precondition("refund of a failed charge")),
            PaymentError::Rejected(_)
        ));
    }
}

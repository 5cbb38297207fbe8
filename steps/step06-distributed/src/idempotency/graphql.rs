//! `idempotencyKey` on GraphQL's `placeOrder` and `payOrder`: step 2's [`KeyedMutations`]
//! seam, honoured by the same [`Keys`] as the `Idempotency-Key` header, so both APIs give one
//! answer: the same table and rows (a key is the user's, whichever API sent it), the same
//! claim, lease, expiry and release, the same refusals. The key is bound to
//! [`super::mutation_fingerprint`], so a key first used on REST, with another mutation or
//! with other arguments is `IDEMPOTENCY_KEY_REUSED`.
//!
//! An answer is stored as REST's are, in REST's shapes: an order as its REST body
//! ([`OrderResponse`], status 200), a refusal as its error body and status; a 5xx is not
//! stored. A replay reads the order back through the domain's parsers, and an error back as
//! [`Error::Refused`], which step 2 renders as it rendered the first (`extensions.code`,
//! `status`, `fields`).

use anyhow::Context;
use axum::http::StatusCode;
use common::domain::Order;
use common::error::{Error, ErrorBody};
use common::routes::orders::OrderResponse;
use futures::future::BoxFuture;
use step02_apis::graphql::keyed::{ARGUMENT, Answer as Keyed, KeyedMutation, KeyedMutations, Work};

use super::{Answer, Claim, Key, Keys, Outcome, Stored, mutation_fingerprint};

impl KeyedMutations for Keys {
    fn run(&self, mutation: KeyedMutation, work: Work) -> BoxFuture<'_, Keyed> {
        Box::pin(async move {
            let key = match Key::from_argument(&mutation.key) {
                Ok(key) => key,
                Err(reason) => {
                    return Keyed {
                        result: Err(Error::InvalidParameter {
                            name: ARGUMENT.to_owned(),
                            reason,
                        }),
                        replayed: false,
                    };
                }
            };
            let fingerprint = mutation_fingerprint(mutation.mutation, &mutation.arguments);
            let claim = Claim::new(&mutation.user, key, fingerprint, ARGUMENT);
            match self.once(claim, work).await {
                Ok(Outcome::Ran(result)) => Keyed {
                    result,
                    replayed: false,
                },
                Ok(Outcome::Replayed(result)) => Keyed {
                    result,
                    replayed: true,
                },
                Err(refused) => Keyed {
                    result: Err(refused),
                    replayed: false,
                },
            }
        })
    }
}

/// A mutation's answer: the order, or why not.
impl Answer for Result<Order, Error> {
    async fn keep(self) -> (Self, Option<Stored>) {
        let (status, body) = match &self {
            Ok(order) => (
                StatusCode::OK,
                serde_json::to_vec(&OrderResponse::from(order.clone())),
            ),
            Err(error) if error.status().is_server_error() => return (self, None),
            Err(error) => (
                error.status(),
                serde_json::to_vec(&ErrorBody {
                    error: &error.detail(),
                }),
            ),
        };
        match body {
            Ok(body) => {
                let stored = Stored {
                    status: i16::try_from(status.as_u16()).unwrap_or(i16::MAX),
                    content_type: Some("application/json".to_owned()),
                    headers: None,
                    body,
                };
                (self, Some(stored))
            }
            Err(e) => {
                let error = anyhow::Error::new(e).context("serializing an answer to store");
                (Err(Error::Internal(error)), None)
            }
        }
    }

    fn replay(stored: Stored) -> Self {
        let status = stored.status();
        if status.is_client_error() {
            let detail = stored
                .error_detail()
                .context("a stored error without its error body")?;
            return Err(Error::Refused {
                status,
                detail,
                retry_after_secs: None,
            });
        }
        let order: OrderResponse =
            serde_json::from_slice(&stored.body).context("reading a stored order")?;
        Order::try_from(order)
            .map_err(|reason| Error::Internal(anyhow::anyhow!("a stored order: {reason}")))
    }

    fn failed(error: Error) -> Self {
        Err(error)
    }
}

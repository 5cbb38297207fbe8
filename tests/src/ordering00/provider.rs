//! The payment provider as the suite sees it: the simulator's own HTTP API, reached from the
//! target's [`Provider`] handle. `/sim/faults` makes it slow or down; `/v1/charges` says what
//! it really charged, which the shop's answers alone cannot prove. A charge belongs to an
//! order when its description names the order's id: that is the only link a provider has to
//! a shop's order, and the one an operator reconciling the two would follow.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Api;
use crate::{Provider, Target};

/// How often a case looks again while it waits for a charge to land.
const POLL: Duration = Duration::from_millis(50);

/// A client of the target's payment provider.
#[derive(Clone, Debug)]
pub struct Simulator {
    /// Signed in with the provider's API key.
    api: Api,
    /// How long the shop waits for the provider before it answers 503.
    pub payment_timeout: Duration,
}

/// The provider's injected faults (`GET`/`PUT /sim/faults`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    pub latency_ms: u64,
    pub failure_rate: f64,
}

impl Faults {
    /// A provider that answers at once and never fails: where every case starts.
    pub const HEALTHY: Faults = Faults {
        latency_ms: 0,
        failure_rate: 0.0,
    };
    /// Every request answered 503, nothing charged or refunded.
    pub const DOWN: Faults = Faults {
        latency_ms: 0,
        failure_rate: 1.0,
    };

    /// Healthy, but every answer takes `latency`.
    pub fn slow(latency: Duration) -> Faults {
        Faults {
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            ..Faults::HEALTHY
        }
    }
}

/// A charge as the provider holds it (`GET /v1/charges`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// `succeeded` or `failed` (a declined card).
    pub status: String,
    pub amount_refunded: i64,
    /// The card token it was made with.
    pub source: String,
    pub description: Option<String>,
}

impl Charge {
    /// Money the provider took and kept: a succeeded charge not refunded in full.
    pub fn is_kept(&self) -> bool {
        self.status == "succeeded" && self.amount_refunded < self.amount
    }
}

#[derive(Deserialize)]
struct ChargeList {
    data: Vec<Charge>,
}

impl Simulator {
    /// The target's provider, or an error that says the suite cannot run without it.
    pub fn of(target: &Target) -> Result<Simulator> {
        let Provider {
            base_url,
            api_key,
            payment_timeout,
        } = target.provider.clone().ok_or_else(|| {
            anyhow!(
                "the ordering00 suite needs the target's provider handle: it makes the payment \
                 provider slow or down and reads what it charged, which a base URL alone cannot \
                 do. Give the target a Provider (Target::with_provider; contract \
                 --provider-url URL --provider-api-key KEY --payment-timeout-ms MS), or leave \
                 the suite out"
            )
        })?;
        Ok(Simulator {
            api: Api::new(base_url).with_token(api_key),
            payment_timeout,
        })
    }

    pub async fn faults(&self) -> Result<Faults> {
        self.api
            .get("/sim/faults")
            .await?
            .expect_json(200)
            .context("reading the provider's faults (GET /sim/faults)")
    }

    pub async fn set_faults(&self, faults: Faults) -> Result<()> {
        let body = json!(faults);
        let now: Faults = self
            .api
            .put("/sim/faults", &body)
            .await?
            .expect_json(200)
            .with_context(|| format!("setting the provider's faults to {body}"))?;
        crate::check::eq("the provider's faults after setting them", now, faults)
    }

    /// Every charge the provider holds for `order_id`, newest first. Read while the provider
    /// is healthy: the list answers with the injected faults like any `/v1` route.
    pub async fn charges_of(&self, order_id: &str) -> Result<Vec<Charge>> {
        let list: ChargeList = self
            .api
            .get("/v1/charges")
            .await?
            .expect_json(200)
            .context("listing the provider's charges (GET /v1/charges)")?;
        Ok(list
            .data
            .into_iter()
            .filter(|charge| {
                charge
                    .description
                    .as_deref()
                    .is_some_and(|d| d.contains(order_id))
            })
            .collect())
    }

    /// The charges for `order_id` once there is at least one, or an error after `deadline`.
    pub async fn first_charges_of(&self, order_id: &str, deadline: Instant) -> Result<Vec<Charge>> {
        loop {
            let charges = self.charges_of(order_id).await?;
            if !charges.is_empty() {
                return Ok(charges);
            }
            if Instant::now() > deadline {
                return Err(anyhow!("the provider holds no charge for order {order_id}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

//! Orders and their status machine: `pending -> paid -> shipped`, and `cancelled` from pending
//! or paid. Every transition is checked here and applied by the store as a compare-and-set on
//! the current status, so two concurrent transitions cannot both win.

use time::OffsetDateTime;

use super::{Money, OrderId, ProductId, Sku, UserId};

/// Units of one product in an order line: 1 to 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1_000;

    pub fn parse(value: i64) -> Result<Self, String> {
        match u32::try_from(value) {
            Ok(v @ 1..=Self::MAX) => Ok(Self(v)),
            _ => Err(format!("must be between 1 and {}", Self::MAX)),
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The status machine, in one place.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid) | (Paid, Shipped) | (Pending, Cancelled) | (Paid, Cancelled)
        )
    }
}

/// One line of an order: what was bought, at the price it had when the order was placed.
#[derive(Debug, Clone)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub unit_price: Money,
    pub quantity: Quantity,
}

impl OrderLine {
    pub fn line_total(&self) -> Money {
        // Bounded by `Money::MAX_PRICE_MINOR * Quantity::MAX`, far inside i64.
        self.unit_price
            .times(self.quantity.get())
            .expect("line total is bounded by price and quantity caps")
    }
}

/// The payment that settled an order.
#[derive(Debug, Clone)]
pub struct PaymentInfo {
    pub provider_reference: String,
    pub amount: Money,
    pub status: String,
    pub paid_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    pub payment: Option<PaymentInfo>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A requested line before prices are known.
#[derive(Debug, Clone)]
pub struct NewOrderLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// A validated order request: 1 to 100 lines, no product twice.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: UserId,
    pub lines: Vec<NewOrderLine>,
}

impl NewOrder {
    pub const MAX_LINES: usize = 100;
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Succeeded,
    Declined,
    Refunded,
}

/// One attempt to pay an order, as recorded in the `payments` collection: the audit trail
/// beside the order's own `payment` field. Keyed by its idempotency key, so recording the same
/// attempt twice (a retry after a timeout) keeps one record.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub order_id: OrderId,
    pub idempotency_key: String,
    pub amount: Money,
    pub status: PaymentStatus,
    pub provider_reference: Option<String>,
    /// The provider's decline code, for declined attempts.
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

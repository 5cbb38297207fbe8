//! The shop's vocabulary as types that cannot hold an invalid value: ids, emails, money, SKUs,
//! quantities, ratings, order statuses. Parsing happens once, at the edge; past it, a `Sku` is a
//! valid SKU. Request bodies (`routes::*::XRequest`) convert into the `NewX` inputs defined here.
//! [`text`] holds the one rule each kind of free text follows.

mod ids;
mod money;
mod order;
mod product;
pub mod text;
mod user;

pub use ids::{OrderId, ProductId, ReviewId, UserId};
pub use money::{Currency, Money};
pub use order::{
    NewOrder, NewOrderLine, Order, OrderLine, OrderStatus, PaymentInfo, PaymentRecord,
    PaymentStatus, Quantity,
};
pub use product::{NewProduct, NewReview, Product, Rating, Review, Sku};
pub use user::{Email, NewUser, Role, User};

/// One page of a listing, as every list route returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// 1-based page number.
    pub page: u64,
    pub limit: u64,
}

impl Page {
    pub const DEFAULT_LIMIT: u64 = 20;
    /// A hard cap, so one request cannot ask the database for the whole catalog.
    pub const MAX_LIMIT: u64 = 100;
    /// The last page anyone can ask for: the largest whose `skip()` fits MongoDB's signed
    /// 64-bit skip at any limit (a larger page once overflowed and the listing answered 500).
    pub const MAX_PAGE: u64 = i64::MAX as u64 / Self::MAX_LIMIT;

    pub fn skip(&self) -> u64 {
        (self.page - 1) * self.limit
    }
}

/// A page of items plus the total count matching the query.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: Page,
    pub total: u64,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests;

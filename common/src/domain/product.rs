//! Products and their reviews. A product keeps a running rating sum and count, updated with
//! each review, so reading its average costs no aggregation.

use std::fmt;

use time::OffsetDateTime;

use super::{Money, ProductId, ReviewId, UserId};

/// A stock-keeping unit: 1-64 of `A-Z 0-9 - _`, stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let sku = raw.trim().to_uppercase();
        if sku.is_empty() || sku.len() > 64 {
            return Err("must be 1 to 64 characters".to_owned());
        }
        if !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("may only contain letters, digits, '-' and '_'".to_owned());
        }
        Ok(Self(sku))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A review rating, 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating(u8);

impl Rating {
    pub fn parse(value: i64) -> Result<Self, String> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Self(v)),
            _ => Err("must be between 1 and 5".to_owned()),
        }
    }

    pub fn value(&self) -> u8 {
        self.0
    }
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub price: Money,
    /// Units on hand. Never negative: it only decreases through a conditional update.
    pub stock: i64,
    pub category: String,
    pub tags: Vec<String>,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Product {
    pub fn rating_average(&self) -> f64 {
        if self.rating_count == 0 {
            0.0
        } else {
            // Rounded to two decimals: a display value, never used for money.
            let avg = self.rating_sum as f64 / self.rating_count as f64;
            (avg * 100.0).round() / 100.0
        }
    }
}

/// The editable fields of a product, validated (admin create and update).
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub price: Money,
    pub stock: i64,
    pub category: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: ReviewId,
    pub product_id: ProductId,
    pub user_id: UserId,
    pub author_name: String,
    pub rating: Rating,
    pub comment: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewReview {
    pub product_id: ProductId,
    pub user_id: UserId,
    pub author_name: String,
    pub rating: Rating,
    pub comment: String,
}

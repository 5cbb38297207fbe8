//! The API's wire types as a client sees them. Deserialising into these is itself a check:
//! money fields are `i64`, so a float price fails to parse; required fields must be present.
//! Unknown fields are allowed on purpose, because later steps may add fields without breaking
//! step-0 clients.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
}

/// `POST /auth/register` -> 201.
#[derive(Clone, Debug, Deserialize)]
pub struct Registered {
    pub user: User,
    pub token: String,
}

/// `POST /auth/login` -> 200.
#[derive(Clone, Debug, Deserialize)]
pub struct LoggedIn {
    pub token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub user: User,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub category: String,
    pub tags: Vec<String>,
    pub rating_average: f64,
    pub rating_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Review {
    pub id: String,
    pub product_id: String,
    pub user_id: String,
    pub author_name: String,
    pub rating: i64,
    pub comment: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct OrderItem {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub line_total_minor: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Payment {
    pub provider_reference: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub paid_at: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub items: Vec<OrderItem>,
    pub total_minor: i64,
    pub currency: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// `null` until the order is paid.
    pub payment: Option<Payment>,
}

/// Every list endpoint: `{"items": [...], "page", "limit", "total"}`.
#[derive(Clone, Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub limit: i64,
    pub total: i64,
}

/// The one error shape: `{"error": {"code", "message", "fields"?, "request_id"?}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldError>,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl ApiError {
    pub fn names_field(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f.field == field)
    }

    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.field.as_str()).collect()
    }
}

//! Persistence behind traits. Handlers and services only see these traits (`Arc<dyn ...>`), so a
//! later step swaps a store without touching them: step 3 wraps `ProductStore` in a cache, step 5
//! moves orders and payments to PostgreSQL. The MongoDB implementations live in [`mongo`].

pub mod mongo;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    Email, NewProduct, NewReview, NewUser, Order, OrderId, OrderStatus, Page, Paged, PaymentInfo,
    PaymentRecord, Product, ProductId, Rating, Review, Role, User, UserId,
};

/// What can go wrong in a store, in the terms the API cares about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write; the string names the index's field(s). Callers that
    /// expect it answer their own 409; anywhere else it becomes 409 `CONFLICT`.
    #[error("duplicate value for unique {0}")]
    Duplicate(String),
    /// A foreign key refused the write: it names something that does not exist; the string
    /// names the constraint (becomes 422 `VALIDATION_FAILED` naming it).
    #[error("{0} refers to something that does not exist")]
    MissingReference(String),
    /// A check constraint refused the write: a value breaks a rule of the schema; the string
    /// names the constraint (becomes 422 `VALIDATION_FAILED` naming it).
    #[error("{0} breaks a rule of the store")]
    Invalid(String),
    /// The database cannot be reached (becomes 503: nothing was written, retry later).
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else (becomes 500).
    #[error("database error")]
    Other(#[source] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A user with the hash of their password, for the login path only.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Duplicate("email")` when the email is taken.
    async fn insert(&self, user: NewUser) -> StoreResult<User>;
    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn credentials(&self, email: &Email) -> StoreResult<Option<Credentials>>;
    /// Returns false when no such user exists.
    async fn set_role(&self, id: UserId, role: Role) -> StoreResult<bool>;
    /// Replaces a password hash (step 1 upgrades bcrypt hashes to argon2id on login).
    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait ProductStore: Send + Sync {
    async fn list(&self, page: Page) -> StoreResult<Paged<Product>>;
    async fn get(&self, id: ProductId) -> StoreResult<Option<Product>>;
    /// The products among `ids` that exist, in no particular order.
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>>;
    /// Fails with `Duplicate("sku")` when the SKU is taken.
    async fn insert(&self, product: NewProduct) -> StoreResult<Product>;
    /// Inserts unless a product with this SKU exists; true when inserted (the demo seeder).
    async fn insert_if_absent(&self, product: NewProduct) -> StoreResult<bool>;
    /// Replaces the editable fields; `None` when the product does not exist.
    async fn update(&self, id: ProductId, product: NewProduct) -> StoreResult<Option<Product>>;
    async fn delete(&self, id: ProductId) -> StoreResult<bool>;
    /// Takes `quantity` units in one conditional update, only if at least that many are on
    /// hand: false when short (or unknown). This is what keeps stock from going negative.
    async fn take_stock(&self, id: ProductId, quantity: u32) -> StoreResult<bool>;
    /// Puts units back (a failed order, a cancellation).
    async fn return_stock(&self, id: ProductId, quantity: u32) -> StoreResult<()>;
    /// Moves `delta` units (below zero: takes them, only if that many are on hand; above:
    /// puts them back) at most once per `op`, however often it is repeated: the move and a
    /// mark naming `op` are one atomic update of the product, so a caller that crashed after
    /// it and tries again learns it happened (`AlreadyMoved`) instead of moving twice. Step
    /// 6's saga names each reservation and release this way.
    async fn move_stock(&self, id: ProductId, delta: i64, op: &str) -> StoreResult<StockMove>;
    /// Drops `op`'s mark once the caller has recorded the move elsewhere: marks live only
    /// while a move is in flight, so a product never collects them.
    async fn forget_stock_move(&self, id: ProductId, op: &str) -> StoreResult<()>;
    /// Adds (`+1`) or withdraws (`-1`) one rating in the product's running summary.
    async fn adjust_rating(&self, id: ProductId, rating: Rating, sign: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Fails with `Duplicate("product_id, user_id")` on a user's second review of a product.
    async fn insert(&self, review: NewReview) -> StoreResult<Review>;
    async fn list_for_product(&self, product: ProductId, page: Page) -> StoreResult<Paged<Review>>;
    /// The newest `per_product` reviews of each of `products`, newest first within a product,
    /// in ONE database round trip: batched loaders (step 2's GraphQL) ask for a whole page of
    /// products at once instead of one query per product.
    async fn latest_for_products(
        &self,
        products: &[ProductId],
        per_product: u64,
    ) -> StoreResult<Vec<Review>>;
    async fn delete(&self, id: crate::domain::ReviewId) -> StoreResult<()>;
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn insert(&self, order: &Order) -> StoreResult<()>;
    async fn get(&self, id: OrderId) -> StoreResult<Option<Order>>;
    async fn list_for_user(&self, user: UserId, page: Page) -> StoreResult<Paged<Order>>;
    /// Compare-and-set on the status: moves the order from `from` to `to` (recording `payment`
    /// when given) and returns it, or `None` when it was not in `from` (or does not exist).
    async fn transition(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<PaymentInfo>,
    ) -> StoreResult<Option<Order>>;
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Upserts by idempotency key: the first record of a key fixes its order and time; a later
    /// one (a retry, a refund) updates the amount, status, reference and reason.
    async fn record(&self, payment: &PaymentRecord) -> StoreResult<()>;
    async fn list_for_order(&self, order: OrderId) -> StoreResult<Vec<PaymentRecord>>;
}

/// What [`ProductStore::move_stock`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockMove {
    /// Moved now.
    Moved,
    /// Moved by an earlier call with the same `op` (whose mark is still there): nothing now.
    AlreadyMoved,
    /// A take found fewer units on hand: nothing moved.
    Short,
    /// No such product: nothing moved.
    Missing,
}

/// Every store the application uses. Cheap to clone.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub products: Arc<dyn ProductStore>,
    pub reviews: Arc<dyn ReviewStore>,
    pub orders: Arc<dyn OrderStore>,
    pub payments: Arc<dyn PaymentStore>,
}

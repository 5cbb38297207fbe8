//! The application layer: what the shop does, independent of HTTP. Each service is a piece of
//! application state that handlers ask for by type (`State<Catalog>`), so a later step can add
//! state without touching earlier handlers, and wrap or swap the stores inside a service.

mod accounts;
mod catalog;
mod health;
pub mod ordering;

pub use accounts::{Accounts, IssuedToken, Registration};
pub use catalog::Catalog;
pub use health::{HealthCheck, HealthChecks, MongoHealth};
pub use ordering::{Direct, Open, OrderFlow, OrderWrites, Ordering, WritePermit};

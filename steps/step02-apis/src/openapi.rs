//! The OpenAPI document and its browsable UI (skeleton; filled in by the OpenAPI work).

use axum::Router;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
}

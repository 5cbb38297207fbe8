//! The schema and the limits it enforces while validating a query, before any resolver runs:
//! depth, complexity, introspection (development only) and "did you mean" suggestions (not in
//! production, where they would let a client map a hidden schema field by field).

use async_graphql::{EmptySubscription, Schema};
use common::config::Environment;

use super::GraphqlConfig;
use super::mutation::Mutation;
use super::query::Query;

pub type ShopSchema = Schema<Query, Mutation, EmptySubscription>;

/// The executable schema plus the request-level limits [`super::http`] enforces. It holds no
/// services: those come from the application state with every request (see
/// [`super::http::execute`]), so the schema is built once, from configuration alone.
#[derive(Clone)]
pub struct GraphqlSchema {
    pub schema: ShopSchema,
    /// Development only: the same schema without the depth and complexity limits, for
    /// requests that ask only for the schema. A GraphQL IDE's standard introspection query
    /// (GraphiQL's) nests `ofType` eight levels deep inside `__schema.types.fields.type`, past
    /// `max_depth`; without this, GraphiQL would show no docs and complete nothing. Elsewhere
    /// introspection is off, and every request keeps the limits.
    pub introspection: Option<ShopSchema>,
    pub config: GraphqlConfig,
}

impl GraphqlSchema {
    pub fn new(config: &GraphqlConfig, environment: Environment) -> Self {
        let mut builder = Schema::build(Query, Mutation, EmptySubscription)
            .limit_depth(config.max_depth)
            .limit_complexity(config.max_complexity);
        if environment != Environment::Development {
            builder = builder.disable_introspection();
        }
        if environment == Environment::Production {
            builder = builder.disable_suggestions();
        }
        let introspection = (environment == Environment::Development)
            .then(|| Schema::build(Query, Mutation, EmptySubscription).finish());
        Self {
            schema: builder.finish(),
            introspection,
            config: config.clone(),
        }
    }

    /// The schema in SDL, e.g. for a client's code generator (introspection may be off).
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

//! What a GraphQL request may spend of the REST quotas. One `POST /graphql` is one request to
//! the rate-limit middleware, yet it can hold a hundred aliased `placeOrder`s; it once
//! reserved a product's whole stock in one request, counted as one request of the default
//! policy, while `POST /api/v1/orders` allows 60 a minute. Two rules close that:
//!
//! - **Each mutation counts as its REST twin.** Every mutation carries a [`CountsAs`] guard
//!   naming the REST route it does the work of; before it runs, the guard counts one request
//!   of that route for the caller ([`RateLimits::charge`]: the same policy, found by the same
//!   `classify`, and the same key, the user). A refused mutation is a `RATE_LIMITED` error
//!   with `retryAfter`; the mutations before it have run, as the REST requests before a 429
//!   have.
//! - **At most `apis.graphql.max_mutations` per request**, counted on the parsed documents
//!   of the whole request (every operation of a batch) before anything runs
//!   ([`mutations_in`]), so a request over the cap changes nothing.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    BatchRequest, BatchResponse, Context, ErrorExtensionValues, Guard, Name, Positioned,
    ServerError,
};
use axum::http::Method;

use super::errors::OrGraphql;
use crate::rate_limit::{Caller, RateLimits};

/// The code of a request refused for holding more mutations than the cap.
pub const TOO_MANY_MUTATIONS: &str = "TOO_MANY_MUTATIONS";

/// What a mutation's guard needs, given to every operation of a request: the limits (from the
/// application state, so a later step's limiter and exemptions apply) and who is calling.
#[derive(Clone)]
pub struct MutationQuota {
    pub limits: RateLimits,
    pub caller: Caller,
}

/// A mutation's REST twin: the route whose rate-limit policy the mutation counts against.
/// `#[graphql(guard = "CountsAs::rest(Method::POST, \"/api/v1/orders\")")]`.
pub struct CountsAs {
    method: Method,
    path: &'static str,
}

impl CountsAs {
    pub fn rest(method: Method, path: &'static str) -> Self {
        Self { method, path }
    }
}

impl Guard for CountsAs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        // Missing only when the schema is run without `http::execute`: a mutation then runs
        // nowhere a client can reach, and refusing it is the safe mistake.
        let quota = ctx.data::<MutationQuota>()?;
        quota
            .limits
            .charge(&self.method, self.path, &quota.caller)
            .await
            .gql()
    }
}

/// The mutations `batch` asks for, over all its operations: the root fields of each mutation
/// operation that would run, counted as written. Fragments count where they are spread, as
/// often as they are spread (async-graphql runs a root field once per selection, even two
/// identical ones), and `@skip`/`@include` are not evaluated, so the count can only be too
/// high, never too low. A document that does not parse counts nothing: it runs nothing.
///
/// Parsing here costs nothing extra: the parsed document is kept in the request, and the
/// schema executes that one.
pub fn mutations_in(batch: &mut BatchRequest) -> usize {
    batch
        .iter_mut()
        .map(|request| {
            let operation = request.operation_name.clone();
            request
                .parsed_query()
                .map_or(0, |document| mutations_of(document, operation.as_deref()))
        })
        .fold(0, usize::saturating_add)
}

/// The root fields of the mutation operation `name` would run; without a name, the most of
/// any mutation operation (the schema refuses an ambiguous document, so this overcounts at
/// worst).
fn mutations_of(document: &ExecutableDocument, name: Option<&str>) -> usize {
    let operations: Vec<_> = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => vec![&operation.node],
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .filter(|(key, _)| key.as_str() == name)
            .map(|(_, operation)| &operation.node)
            .collect(),
        (DocumentOperations::Multiple(operations), None) => operations
            .values()
            .map(|operation| &operation.node)
            .collect(),
    };
    let mut counter = Counter {
        fragments: &document.fragments,
        counted: HashMap::new(),
        open: Vec::new(),
    };
    operations
        .into_iter()
        .filter(|operation| operation.ty == OperationType::Mutation)
        .map(|operation| counter.selections(&operation.selection_set.node))
        .max()
        .unwrap_or(0)
}

/// Counts root fields through fragments. Each fragment is counted once and remembered, so a
/// document that spreads fragments into fragments (`A` spreads `B` twice, `B` spreads `C`
/// twice, ...) costs its size to count, not two to the power of its depth.
struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    counted: HashMap<&'a str, usize>,
    /// The fragments being counted: one spread inside itself is a cycle, which validation
    /// refuses; here it only must not loop.
    open: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn selections(&mut self, set: &'a SelectionSet) -> usize {
        let mut count = 0_usize;
        for selection in &set.items {
            let n = match &selection.node {
                Selection::Field(field) => usize::from(field.node.name.node != "__typename"),
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            count = count.saturating_add(n);
        }
        count
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(&n) = self.counted.get(name) {
            return n;
        }
        // An unknown fragment or a cycle: validation refuses the document, nothing runs.
        let Some(definition) = self.fragments.get(name) else {
            return 0;
        };
        if self.open.contains(&name) {
            return 0;
        }
        self.open.push(name);
        let n = self.selections(&definition.node.selection_set.node);
        self.open.pop();
        self.counted.insert(name, n);
        n
    }
}

/// The answer to a request over the cap: one GraphQL error per operation, in the shape the
/// schema's own limits (depth, complexity) answer with, and no data.
pub fn too_many(batch: &BatchRequest, count: usize, limit: usize) -> BatchResponse {
    let error = || {
        let mut error = ServerError::new(
            format!("this request holds {count} mutations; at most {limit} run in one request"),
            None,
        );
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", TOO_MANY_MUTATIONS);
        extensions.set("limit", limit);
        extensions.set("count", count);
        error.extensions = Some(extensions);
        async_graphql::Response::from_errors(vec![error])
    };
    match batch {
        BatchRequest::Single(_) => BatchResponse::Single(error()),
        BatchRequest::Batch(operations) => {
            BatchResponse::Batch(operations.iter().map(|_| error()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str, operation: Option<&str>) -> usize {
        let mut request = async_graphql::Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        mutations_in(&mut BatchRequest::Single(request))
    }

    #[test]
    fn root_fields_of_a_mutation_are_counted_with_their_aliases() {
        assert_eq!(
            count("mutation { a: payOrder b: payOrder c: addReview }", None),
            3
        );
        assert_eq!(count("mutation { __typename a: payOrder }", None), 1);
        // Sub-selections are not mutations.
        assert_eq!(
            count("mutation { placeOrder { items { product { id } } } }", None),
            1
        );
        assert_eq!(
            count("{ products { edges { cursor } } me { id } }", None),
            0
        );
        assert_eq!(count("not a document", None), 0);
    }

    #[test]
    fn fragments_count_wherever_they_are_spread() {
        let spread = "mutation { ...A ...A ... on Mutation { c: payOrder ...A } }
                      fragment A on Mutation { a: payOrder b: payOrder }";
        assert_eq!(count(spread, None), 7);
        let unknown = "mutation { ...Nowhere x: payOrder }";
        assert_eq!(count(unknown, None), 1);
        let cycle = "mutation { ...A } fragment A on Mutation { a: payOrder ...A }";
        assert_eq!(count(cycle, None), 1);
    }

    #[test]
    fn fragments_that_double_at_every_level_are_counted_without_expanding_them() {
        // 2^70 root fields as written: counted in a moment, saturating rather than overflowing.
        let mut document = String::from("mutation { ...F0 }\n");
        for i in 0..70 {
            let next = i + 1;
            document.push_str(&format!(
                "fragment F{i} on Mutation {{ ...F{next} ...F{next} }}\n"
            ));
        }
        document.push_str("fragment F70 on Mutation { a: payOrder }");
        assert_eq!(count(&document, None), usize::MAX);
    }

    #[test]
    fn the_operation_that_would_run_is_the_one_counted() {
        let two =
            "mutation Big { a: payOrder b: payOrder c: payOrder } mutation Small { a: payOrder }
                   query Read { me { id } }";
        assert_eq!(count(two, Some("Small")), 1);
        assert_eq!(count(two, Some("Big")), 3);
        assert_eq!(count(two, Some("Read")), 0);
        assert_eq!(count(two, Some("Missing")), 0);
        // Ambiguous: the schema refuses it; counted as the largest.
        assert_eq!(count(two, None), 3);
    }

    #[test]
    fn a_batch_counts_all_its_operations() {
        let operation = || async_graphql::Request::new("mutation { a: payOrder b: payOrder }");
        let mut batch = BatchRequest::Batch(vec![operation(), operation(), operation()]);
        assert_eq!(mutations_in(&mut batch), 6);
    }
}

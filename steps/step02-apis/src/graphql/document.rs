//! What the documents of a request hold, measured before the schema sees them, in time linear
//! in their size: the mutations the request would run (for `max_mutations`) and the fields of
//! each document with its fragments expanded (for `max_complexity`). Fragments are what make
//! this worth a module: each one is measured once and remembered, never expanded.
//!
//! Why the second measure. The schema's own depth and complexity checks walk a document with
//! every fragment spread expanded in place. A fragment that spreads another twice, which
//! spreads another twice, ..., doubles the walk at every level: 22 levels (900 bytes) held a
//! worker for 11 seconds on this machine's 2 cores, and 8 KiB allows a few hundred. A document
//! whose expanded fields outnumber `max_complexity` is refused as `QUERY_TOO_COMPLEX` here
//! instead: every field costs at least 1 in the complexity limit (a paged field at least its
//! children), so such a document is as good as over it.
//!
//! The parsed document stays in its request, and the schema executes that one: measuring adds
//! no second parse.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    BatchRequest, BatchResponse, ErrorExtensionValues, Name, Positioned, ServerError,
};

/// The code of a request refused for holding more mutations than `max_mutations`.
pub const TOO_MANY_MUTATIONS: &str = "TOO_MANY_MUTATIONS";
/// The code of the schema's complexity limit, which a document too large once expanded gets.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

/// What [`measure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The mutations of the whole request, every operation of a batch added up.
    pub mutations: usize,
    /// The fields of its largest document, fragments expanded.
    pub fields: usize,
    /// Whether every operation that would run asks only for the schema (its root fields are
    /// all `__schema`, `__type` or `__typename`): what a GraphQL IDE sends to learn the schema.
    pub introspection_only: bool,
}

/// Measures every operation of `batch`. A document that does not parse measures nothing: the
/// schema refuses it and runs nothing.
///
/// Mutations are the root fields of the mutation operation that would run, counted as
/// written: a fragment counts each time it is spread (async-graphql runs a root field once per
/// selection, even two identical ones), and `@skip`/`@include` are not evaluated, so the count
/// can only be too high, never too low. Fields are every field of every operation of a
/// document (the schema's checks walk them all), `__typename` included.
pub fn measure(batch: &mut BatchRequest) -> Measure {
    let mut total = Measure {
        mutations: 0,
        fields: 0,
        introspection_only: true,
    };
    for request in batch.iter_mut() {
        let operation = request.operation_name.clone();
        let Ok(document) = request.parsed_query() else {
            total.introspection_only = false;
            continue;
        };
        let one = measure_document(document, operation.as_deref());
        total.mutations = total.mutations.saturating_add(one.mutations);
        total.fields = total.fields.max(one.fields);
        total.introspection_only &= one.introspection_only;
    }
    total
}

fn measure_document(document: &ExecutableDocument, name: Option<&str>) -> Measure {
    let mut counter = Counter {
        fragments: &document.fragments,
        sizes: HashMap::new(),
        open: Vec::new(),
    };
    let mut fields = 0_usize;
    // The operation that would run: the one named, or without a name the largest mutation
    // operation (the schema refuses an ambiguous document, so this overcounts at worst).
    let mut mutations = 0_usize;
    let mut introspection_only = true;
    for (operation_name, operation) in document.operations.iter() {
        let size = counter.selections(&operation.node.selection_set.node);
        fields = fields.saturating_add(size.all);
        let runs = match (&document.operations, name) {
            (DocumentOperations::Single(_), _) | (_, None) => true,
            (_, Some(name)) => operation_name.is_some_and(|n| n.as_str() == name),
        };
        if runs && operation.node.ty == OperationType::Mutation {
            mutations = mutations.max(size.root);
        }
        if runs {
            introspection_only &= operation.node.ty == OperationType::Query
                && asks_only_for_the_schema(&operation.node.selection_set.node);
        }
    }
    Measure {
        mutations,
        fields,
        introspection_only,
    }
}

/// Root fields that are all meta-fields, written out (a fragment at the root counts as data:
/// telling would mean expanding it, and an IDE does not send one).
fn asks_only_for_the_schema(set: &SelectionSet) -> bool {
    set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => matches!(
            field.node.name.node.as_str(),
            "__schema" | "__type" | "__typename"
        ),
        _ => false,
    })
}

/// The size of a selection set.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    /// Fields at its top, through fragments, `__typename` left out: for an operation's
    /// selection set, its root fields (a mutation operation's mutations).
    root: usize,
    /// Fields at any depth, through fragments, `__typename` included.
    all: usize,
}

impl Size {
    fn add(self, other: Size) -> Size {
        Size {
            root: self.root.saturating_add(other.root),
            all: self.all.saturating_add(other.all),
        }
    }
}

/// Measures selection sets through fragments. Each fragment is measured once and remembered,
/// so fragments that double at every level cost their size to measure, not two to the power of
/// their depth.
struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    sizes: HashMap<&'a str, Size>,
    /// The fragments being measured: one spread inside itself is a cycle, which validation
    /// refuses; here it only must not loop.
    open: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn selections(&mut self, set: &'a SelectionSet) -> Size {
        let mut size = Size::default();
        for selection in &set.items {
            let one = match &selection.node {
                Selection::Field(field) => {
                    let below = self.selections(&field.node.selection_set.node);
                    Size {
                        root: usize::from(field.node.name.node != "__typename"),
                        all: below.all.saturating_add(1),
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            size = size.add(one);
        }
        size
    }

    fn fragment(&mut self, name: &'a str) -> Size {
        if let Some(&size) = self.sizes.get(name) {
            return size;
        }
        // An unknown fragment or a cycle: validation refuses the document, nothing runs.
        let Some(definition) = self.fragments.get(name) else {
            return Size::default();
        };
        if self.open.contains(&name) {
            return Size::default();
        }
        self.open.push(name);
        let size = self.selections(&definition.node.selection_set.node);
        self.open.pop();
        self.sizes.insert(name, size);
        size
    }
}

/// The answer to a request refused for what its documents hold: one GraphQL error per
/// operation with `code`, `limit` and `count` in its extensions, in the shape the schema's own
/// limits answer with, and no data.
pub fn refusal(
    batch: &BatchRequest,
    code: &str,
    message: &str,
    limit: usize,
    count: usize,
) -> BatchResponse {
    let error = || {
        let mut error = ServerError::new(message, None);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code);
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

    fn measured(query: &str, operation: Option<&str>) -> Measure {
        let mut request = async_graphql::Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        measure(&mut BatchRequest::Single(request))
    }

    fn mutations(query: &str, operation: Option<&str>) -> usize {
        measured(query, operation).mutations
    }

    #[test]
    fn the_root_fields_of_a_mutation_are_counted_with_their_aliases() {
        let three = "mutation { a: payOrder b: payOrder c: addReview }";
        assert_eq!(mutations(three, None), 3);
        assert_eq!(mutations("mutation { __typename a: payOrder }", None), 1);
        // Sub-selections are not mutations.
        let nested = "mutation { placeOrder { items { product { id } } } }";
        assert_eq!(mutations(nested, None), 1);
        assert_eq!(
            mutations("{ products { edges { cursor } } me { id } }", None),
            0
        );
        assert_eq!(mutations("not a document", None), 0);
    }

    #[test]
    fn fragments_count_wherever_they_are_spread() {
        let spread = "mutation { ...A ...A ... on Mutation { c: payOrder ...A } }
                      fragment A on Mutation { a: payOrder b: payOrder }";
        assert_eq!(mutations(spread, None), 7);
        assert_eq!(mutations("mutation { ...Nowhere x: payOrder }", None), 1);
        let cycle = "mutation { ...A } fragment A on Mutation { a: payOrder ...A }";
        assert_eq!(mutations(cycle, None), 1);
    }

    #[test]
    fn the_operation_that_would_run_is_the_one_whose_mutations_count() {
        let two = "mutation Big { a: payOrder b: payOrder c: payOrder }
                   mutation Small { a: payOrder } query Read { me { id } }";
        assert_eq!(mutations(two, Some("Small")), 1);
        assert_eq!(mutations(two, Some("Big")), 3);
        assert_eq!(mutations(two, Some("Read")), 0);
        assert_eq!(mutations(two, Some("Missing")), 0);
        // Ambiguous: the schema refuses it; counted as the largest.
        assert_eq!(mutations(two, None), 3);
    }

    #[test]
    fn a_batch_adds_up_its_mutations_and_keeps_its_largest_document() {
        let small = || async_graphql::Request::new("mutation { a: payOrder b: payOrder }");
        let large = async_graphql::Request::new("mutation { a: payOrder { id status } }");
        let mut batch = BatchRequest::Batch(vec![small(), large, small()]);
        assert_eq!(
            measure(&mut batch),
            Measure {
                mutations: 5,
                fields: 3,
                introspection_only: false,
            }
        );
    }

    #[test]
    fn only_root_meta_fields_make_a_request_for_the_schema_alone() {
        let only = |query: &str| {
            let mut batch = BatchRequest::Single(async_graphql::Request::new(query));
            measure(&mut batch).introspection_only
        };
        assert!(only("{ __schema { types { name } } }"));
        assert!(only(
            "query IntrospectionQuery { __schema { queryType { name } } __typename }"
        ));
        assert!(only("{ __type(name: \"Product\") { fields { name } } }"));
        assert!(!only(
            "{ __schema { types { name } } products { edges { node { id } } } }"
        ));
        assert!(!only(
            "{ ...F } fragment F on Query { __schema { types { name } } }"
        ));
        assert!(!only("mutation { __typename }"));
        assert!(!only("not graphql at all"));
        let mut batch = BatchRequest::Batch(vec![
            async_graphql::Request::new("{ __schema { types { name } } }"),
            async_graphql::Request::new("{ me { id } }"),
        ]);
        assert!(
            !measure(&mut batch).introspection_only,
            "every operation of a batch"
        );
    }

    #[test]
    fn fields_are_counted_at_every_depth_with_fragments_expanded() {
        let query = "{ me { id email } ...P __typename }
                     fragment P on Query { products { edges { node { id ...N } } } }
                     fragment N on Product { name sku }";
        // me id email __typename; products edges node id name sku.
        assert_eq!(measured(query, None).fields, 10);
        // Every operation of the document: the schema's checks walk them all.
        let two = "query A { me { id } } query B { me { id email } }";
        assert_eq!(measured(two, Some("A")).fields, 5);
    }

    #[test]
    fn fragments_that_double_at_every_level_are_measured_without_expanding_them() {
        // 2^70 fields as written: measured in a moment, saturating rather than overflowing.
        for operation in ["query", "mutation"] {
            let ty = if operation == "query" {
                "Query"
            } else {
                "Mutation"
            };
            let mut document = format!("{operation} {{ ...F0 }}\n");
            for i in 0..70 {
                let next = i + 1;
                document.push_str(&format!(
                    "fragment F{i} on {ty} {{ ...F{next} ...F{next} }}\n"
                ));
            }
            document.push_str(&format!(
                "fragment F70 on {ty} {{ a: __typename b: payOrder }}"
            ));
            let measure = measured(&document, None);
            assert_eq!(measure.fields, usize::MAX, "{operation}");
            let expected = if operation == "mutation" {
                usize::MAX
            } else {
                0
            };
            assert_eq!(measure.mutations, expected, "{operation}");
        }
    }
}

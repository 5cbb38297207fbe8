//! What a client can read: the product listing (filters, sorting and cursor pagination, as a
//! Relay-style connection), one product with its reviews and rating, the signed-in user, and
//! their orders with items and products. Each field calls the service the REST route calls.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, MergedObject, Object};
use common::auth::AuthUser;
use common::domain::{Money, OrderId, Page, ProductId};
use common::error::{Error, FieldError};
use common::routes::PageQuery;
use common::services::{Accounts, Catalog, Ordering};

use super::errors::OrGraphql;
use super::types::{OrderNode, OrderPage, ProductFilterInput, ProductNode, ProductSort, UserNode};
use crate::listing::{
    CategoryText, Cursor, FilterText, Listing, ListingQuery, ProductFilter, SearchText, SortKey,
    TagText, Window,
};

/// The root query type: [`ShopQuery`]'s fields. It is merged (`MergedObject`) so that a later
/// step's root type can merge `ShopQuery` with fields of its own under the same name, `Query`.
#[derive(MergedObject)]
pub struct Query(pub ShopQuery);

/// Step 2's fields of the root query type.
pub struct ShopQuery;

/// The signed-in user, or `UNAUTHENTICATED`. A request whose token was bad never gets this
/// far (see [`super::http`]): only a request without a token reaches a resolver anonymous.
pub fn signed_in(ctx: &Context<'_>) -> async_graphql::Result<AuthUser> {
    ctx.data_opt::<AuthUser>()
        .copied()
        .ok_or(Error::Unauthorized)
        .gql()
}

/// A 24-hex-character id argument, or `INVALID_PARAMETER` naming it.
pub fn parse_id<T: std::str::FromStr<Err = String>>(name: &str, id: &ID) -> Result<T, Error> {
    id.parse().map_err(|reason| Error::InvalidParameter {
        name: name.to_owned(),
        reason,
    })
}

#[Object]
impl ShopQuery {
    /// The catalog, filtered and sorted, `first` products after the cursor `after`.
    #[graphql(complexity = "usize::try_from(first).unwrap_or(0).max(1) * child_complexity")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        filter: Option<ProductFilterInput>,
        #[graphql(default)] sort: ProductSort,
    ) -> async_graphql::Result<Connection<String, ProductNode>> {
        let had_cursor = after.is_some();
        let query = listing_query(first, after, filter.unwrap_or_default(), sort).gql()?;
        let page = ctx.data::<Listing>()?.search(&query).await.gql()?;
        let mut connection = Connection::new(had_cursor, page.next_cursor.is_some());
        connection.edges.extend(
            page.items
                .into_iter()
                .zip(page.cursors)
                .map(|(product, cursor)| {
                    Edge::new(cursor.as_str().to_owned(), ProductNode(product))
                }),
        );
        Ok(connection)
    }

    /// One product; `NOT_FOUND` when there is none with this id.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ProductNode> {
        let id: ProductId = parse_id("id", &id).gql()?;
        let product = ctx.data::<Catalog>()?.get_product(id).await.gql()?;
        Ok(ProductNode(product))
    }

    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<UserNode> {
        let user = signed_in(ctx)?;
        let me = ctx.data::<Accounts>()?.me(user.id).await.gql()?;
        Ok(UserNode(me))
    }

    /// The signed-in user's orders, newest first, `limit` a page.
    #[graphql(complexity = "usize::try_from(limit).unwrap_or(0).max(1) * child_complexity")]
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1)] page: i32,
        #[graphql(default = 20)] limit: i32,
    ) -> async_graphql::Result<OrderPage> {
        let user = signed_in(ctx)?;
        let page = PageQuery {
            page: Some(u64::try_from(page).unwrap_or(0)),
            limit: Some(u64::try_from(limit).unwrap_or(0)),
        }
        .parse()
        .gql()?;
        let orders = ctx
            .data::<Ordering>()?
            .list_orders(user, page)
            .await
            .gql()?;
        Ok(OrderPage(orders))
    }

    /// One of the signed-in user's orders (any order, for an admin). Another customer's order
    /// is `NOT_FOUND`, exactly as in REST: its id reveals nothing.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<OrderNode> {
        let user = signed_in(ctx)?;
        let id: OrderId = parse_id("id", &id).gql()?;
        let order = ctx.data::<Ordering>()?.get_order(user, id).await.gql()?;
        Ok(OrderNode(order))
    }
}

/// The listing arguments as a [`ListingQuery`], or every problem with them at once.
pub fn listing_query(
    first: i32,
    after: Option<String>,
    filter: ProductFilterInput,
    sort: ProductSort,
) -> Result<ListingQuery, Error> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, reason: String| problems.push(FieldError::new(field, reason));
    let limit = u64::try_from(first)
        .ok()
        .filter(|n| (1..=Page::MAX_LIMIT).contains(n));
    if limit.is_none() {
        problem(
            "first",
            format!("must be between 1 and {}", Page::MAX_LIMIT),
        );
    }
    // The same check as REST's `?cursor=`: well formed, untampered, made for this sort.
    let sort: SortKey = sort.into();
    let after = match after.as_deref().map(|raw| Cursor::parse(raw, sort)) {
        None => None,
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(_)) => {
            problem(
                "after",
                "is not a cursor of this listing and sort".to_owned(),
            );
            None
        }
    };
    for (field, price) in [
        ("filter.minPriceMinor", filter.min_price_minor),
        ("filter.maxPriceMinor", filter.max_price_minor),
    ] {
        if price.is_some_and(|p| !(0..=Money::MAX_PRICE_MINOR).contains(&p)) {
            problem(
                field,
                format!("must be between 0 and {}", Money::MAX_PRICE_MINOR),
            );
        }
    }
    if let (Some(min), Some(max)) = (filter.min_price_minor, filter.max_price_minor)
        && min > max
    {
        problem(
            "filter.maxPriceMinor",
            "must not be below minPriceMinor".to_owned(),
        );
    }
    let text: Option<SearchText> = filter_text(filter.text.as_deref(), "filter.text", &mut problem);
    let category: Option<CategoryText> =
        filter_text(filter.category.as_deref(), "filter.category", &mut problem);
    let tags: Vec<TagText> = if filter.tags.len() > ProductFilter::MAX_TAGS {
        problem(
            "filter.tags",
            format!("at most {} tags", ProductFilter::MAX_TAGS),
        );
        Vec::new()
    } else {
        // The first bad tag is the one reported, as REST reports the first bad `tag`.
        filter
            .tags
            .iter()
            .map_while(|tag| filter_text(Some(tag), "filter.tags", &mut problem))
            .collect()
    };
    let Some(limit) = limit.filter(|_| problems.is_empty()) else {
        return Err(Error::Validation(problems));
    };
    Ok(ListingQuery {
        filter: ProductFilter {
            category,
            min_price_minor: filter.min_price_minor,
            max_price_minor: filter.max_price_minor,
            tags,
            in_stock: filter.in_stock,
            text,
        },
        sort,
        window: Window::Cursor { after, limit },
    })
}

/// `raw` by the listing's one text rule, the rule REST's parameters follow
/// ([`FilterText::parse`]); a refusal is reported as `field`.
fn filter_text<const MAX: usize>(
    raw: Option<&str>,
    field: &str,
    problem: &mut impl FnMut(&str, String),
) -> Option<FilterText<MAX>> {
    match FilterText::parse(raw?) {
        Ok(text) => Some(text),
        Err(reason) => {
            problem(field, reason);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_listing_becomes_a_cursor_window() {
        let query = listing_query(
            50,
            None,
            ProductFilterInput {
                min_price_minor: Some(100),
                max_price_minor: Some(200),
                text: Some("  lamp ".to_owned()),
                ..Default::default()
            },
            ProductSort::PriceAsc,
        )
        .unwrap();
        assert_eq!(
            query.window,
            Window::Cursor {
                after: None,
                limit: 50
            }
        );
        assert_eq!(query.filter.text.as_ref().map(|t| t.as_str()), Some("lamp"));
        assert_eq!(query.sort, crate::listing::SortKey::PriceAsc);
    }

    #[test]
    fn every_bad_listing_argument_is_reported_at_once() {
        let Err(Error::Validation(fields)) = listing_query(
            0,
            Some("not a cursor!".to_owned()),
            ProductFilterInput {
                min_price_minor: Some(500),
                max_price_minor: Some(100),
                text: Some("   ".to_owned()),
                ..Default::default()
            },
            ProductSort::Oldest,
        ) else {
            panic!("expected a validation error");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            ["first", "after", "filter.maxPriceMinor", "filter.text"]
        );
    }
}

//! `GET /api/v1/products` in step 2: filters, a whitelist of sort keys, a 400 naming any
//! parameter it does not know or cannot read, and the deprecation headers every v1 answer
//! carries.

use anyhow::Result;

use super::{ids, product_in, unique_category};
use crate::client::{API, Api};
use crate::{Case, Target, check, fixtures};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        the_v1_listing_filters_by_category_price_tag_and_stock,
        the_v1_listing_sorts_by_a_whitelisted_key,
        an_unknown_or_malformed_listing_parameter_is_400_naming_it,
        v1_answers_say_they_are_deprecated_and_name_their_successor,
    ]
}

async fn the_v1_listing_filters_by_category_price_tag_and_stock(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let category = unique_category();
    let cheap = product_in(&admin, &category, 500, 3, &["red"]).await?;
    let middle = product_in(&admin, &category, 1500, 0, &["red", "blue"]).await?;
    let dear = product_in(&admin, &category, 9000, 7, &["blue"]).await?;
    let api = Api::new(&t.base_url);
    let list = |query: String| {
        let api = api.clone();
        async move { api.list_products(&query).await?.expect_value(200) }
    };

    let all = list(format!("category={category}")).await?;
    check::eq(
        "the category holds the case's 3 products",
        ids(&all),
        vec![cheap.clone(), middle.clone(), dear.clone()],
    )?;
    check::eq(
        "total of the category",
        &all["total"],
        &serde_json::json!(3),
    )?;
    let priced = list(format!("category={category}&min_price=1000&max_price=9000")).await?;
    check::eq(
        "1000 <= price <= 9000",
        ids(&priced),
        vec![middle.clone(), dear.clone()],
    )?;
    let tagged = list(format!("category={category}&tag=red&tag=blue")).await?;
    check::eq("both tags", ids(&tagged), vec![middle.clone()])?;
    let in_stock = list(format!("category={category}&in_stock=true")).await?;
    check::eq(
        "in stock",
        ids(&in_stock),
        vec![cheap.clone(), dear.clone()],
    )?;
    let sold_out = list(format!("category={category}&in_stock=false")).await?;
    check::eq("sold out", ids(&sold_out), vec![middle])?;
    let paged = list(format!("category={category}&limit=2&page=2")).await?;
    check::eq("page 2 of 2-item pages", ids(&paged), vec![dear])?;
    Ok(())
}

async fn the_v1_listing_sorts_by_a_whitelisted_key(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let category = unique_category();
    let a = product_in(&admin, &category, 700, 1, &[]).await?;
    let b = product_in(&admin, &category, 100, 1, &[]).await?;
    let c = product_in(&admin, &category, 300, 1, &[]).await?;
    let api = Api::new(&t.base_url);
    for (sort, expected) in [
        ("price", vec![b.clone(), c.clone(), a.clone()]),
        ("-price", vec![a.clone(), c.clone(), b.clone()]),
        ("newest", vec![c.clone(), b.clone(), a.clone()]),
        ("oldest", vec![a.clone(), b.clone(), c.clone()]),
    ] {
        let body = api
            .list_products(&format!("category={category}&sort={sort}"))
            .await?
            .expect_value(200)?;
        check::eq(&format!("order for sort={sort}"), ids(&body), expected)?;
    }
    Ok(())
}

async fn an_unknown_or_malformed_listing_parameter_is_400_naming_it(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for (query, parameter) in [
        ("colour=red", "colour"),
        ("min_price=cheap", "min_price"),
        ("in_stock=maybe", "in_stock"),
        ("sort=password_hash", "sort"),
        ("limit=0", "limit"),
        ("min_price=900&max_price=100", "max_price"),
    ] {
        let error = api
            .list_products(query)
            .await?
            .expect_error(400, "INVALID_PARAMETER")?;
        check::that(error.names_field(parameter), || {
            format!("?{query}: expected the error to name `{parameter}`, got {error:?}")
        })?;
    }
    Ok(())
}

async fn v1_answers_say_they_are_deprecated_and_name_their_successor(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let listing = api
        .get(&format!("{API}/products?limit=1"))
        .await?
        .expect_status(200)?;
    check::that(listing.header("deprecation").is_some(), || {
        format!("expected a Deprecation header on {}", listing.describe())
    })?;
    let link = listing.header("link").unwrap_or_default();
    check::that(
        link.contains("rel=\"successor-version\"") && link.contains("/api/v2/products"),
        || format!("expected a successor-version link to /api/v2/products, got {link:?}"),
    )?;
    // Errors are v1 answers too.
    let missing = api
        .get(&format!("{API}/products/{}", fixtures::UNKNOWN_ID))
        .await?
        .expect_status(404)?;
    check::that(missing.header("deprecation").is_some(), || {
        format!("expected a Deprecation header on {}", missing.describe())
    })?;
    Ok(())
}

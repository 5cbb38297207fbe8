//! The catalogue: public reads with pagination, admin-only writes, and the validation rules of
//! a product body. Money is integer minor units everywhere: a float price is refused, never
//! rounded.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::Api;
use crate::fixtures::{self, UNKNOWN_ID, product_body, unique_suffix, with};
use crate::model::{ApiError, Page, Product};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        listing_products_returns_a_page_with_the_default_limit_of_20,
        listing_products_honours_page_and_limit,
        listing_products_with_a_limit_over_100_is_400_naming_limit,
        listing_products_with_page_0_is_400_invalid_parameter,
        listing_products_with_a_non_numeric_page_or_limit_is_400_invalid_parameter,
        getting_a_product_returns_what_was_created,
        getting_an_unknown_product_is_404_not_found,
        getting_a_product_with_a_malformed_id_is_400_invalid_parameter,
        creating_a_product_returns_201_with_every_field_and_no_rating_yet,
        creating_a_product_stores_the_sku_uppercased,
        creating_a_product_anonymously_is_401,
        creating_a_product_as_a_customer_is_403,
        creating_a_product_with_a_taken_sku_is_409_sku_taken_whatever_its_case,
        creating_a_product_with_an_invalid_sku_is_422_naming_sku,
        creating_a_product_with_an_invalid_name_or_description_is_422_naming_it,
        creating_a_product_with_a_negative_price_or_a_bad_currency_is_422_naming_it,
        creating_a_product_with_negative_stock_or_a_bad_category_is_422_naming_it,
        creating_a_product_with_too_many_or_bad_tags_is_422_naming_tags,
        creating_a_product_with_a_float_or_string_price_is_refused,
        creating_a_product_accepts_the_boundary_values,
        updating_a_product_returns_200_with_the_new_fields_and_the_same_id,
        updating_a_product_keeps_its_rating_and_may_keep_its_own_sku,
        updating_an_unknown_product_is_404_and_a_malformed_id_is_400,
        updating_a_product_anonymously_is_401_and_as_a_customer_is_403,
        updating_a_product_to_another_products_sku_is_409_sku_taken,
        updating_a_product_with_an_invalid_body_is_422_and_changes_nothing,
        deleting_a_product_is_204_then_get_and_a_second_delete_are_404,
        deleting_a_product_anonymously_is_401_and_as_a_customer_is_403,
    ]
}

/// An INVALID_PARAMETER answer names the parameter in `fields` or in its message.
fn names_parameter(error: &ApiError, parameter: &str) -> bool {
    error.names_field(parameter) || error.message.contains(parameter)
}

async fn listing_products_returns_a_page_with_the_default_limit_of_20(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    // At least one product exists, so the page cannot be trivially empty.
    fixtures::product(&admin, 1999, 3).await?;
    let page: Page<Product> = Api::new(&t.base_url)
        .list_products("")
        .await?
        .expect_json(200)?;
    check::eq("default page", page.page, 1)?;
    check::eq("default limit", page.limit, 20)?;
    check::that(!page.items.is_empty() && page.items.len() <= 20, || {
        format!("expected 1..=20 items, got {}", page.items.len())
    })?;
    check::that(page.total >= page.items.len() as i64, || {
        format!(
            "total {} is less than the {} items returned",
            page.total,
            page.items.len()
        )
    })
}

async fn listing_products_honours_page_and_limit(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    for _ in 0..3 {
        fixtures::product(&admin, 500, 1).await?;
    }
    let api = Api::new(&t.base_url);
    let first: Page<Product> = api
        .list_products("page=1&limit=2")
        .await?
        .expect_json(200)?;
    check::eq("page", first.page, 1)?;
    check::eq("limit", first.limit, 2)?;
    check::eq("items on a page of 2", first.items.len(), 2)?;
    check::that(first.total >= 3, || {
        format!("expected a total of at least 3, got {}", first.total)
    })?;

    let second: Page<Product> = api
        .list_products("page=2&limit=2")
        .await?
        .expect_json(200)?;
    check::eq("page", second.page, 2)?;
    check::that(!second.items.is_empty(), || {
        "page 2 of at least 3 products is empty".into()
    })?;

    let largest: Page<Product> = api.list_products("limit=100").await?.expect_json(200)?;
    check::eq("limit", largest.limit, 100)?;

    let beyond: Page<Product> = api
        .list_products("page=100000000&limit=100")
        .await?
        .expect_json(200)?;
    check::eq("items beyond the last page", beyond.items.len(), 0)
}

async fn listing_products_with_a_limit_over_100_is_400_naming_limit(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for query in ["limit=101", "limit=1000"] {
        let error = api
            .list_products(query)
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("listing products with {query}"))?;
        check::that(names_parameter(&error, "limit"), || {
            format!("expected the error for {query} to name `limit`, got {error:?}")
        })?;
    }
    Ok(())
}

async fn listing_products_with_page_0_is_400_invalid_parameter(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for query in ["page=0", "page=-1"] {
        let error = api
            .list_products(query)
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("listing products with {query}"))?;
        check::that(names_parameter(&error, "page"), || {
            format!("expected the error for {query} to name `page`, got {error:?}")
        })?;
    }
    Ok(())
}

async fn listing_products_with_a_non_numeric_page_or_limit_is_400_invalid_parameter(
    t: Target,
) -> Result<()> {
    let api = Api::new(&t.base_url);
    for query in ["limit=abc", "page=x", "page=1.5"] {
        api.list_products(query)
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("listing products with {query}"))?;
    }
    Ok(())
}

async fn getting_a_product_returns_what_was_created(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let created = fixtures::product(&admin, 1234, 7).await?;
    let fetched = fixtures::get_product(&Api::new(&t.base_url), &created.id).await?;
    check::same_product("product read back anonymously", &fetched, &created)
}

async fn getting_an_unknown_product_is_404_not_found(t: Target) -> Result<()> {
    Api::new(&t.base_url)
        .get_product(UNKNOWN_ID)
        .await?
        .expect_error(404, "NOT_FOUND")?;
    Ok(())
}

async fn getting_a_product_with_a_malformed_id_is_400_invalid_parameter(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for id in ["not-an-id", "123", "zzzzzzzzzzzzzzzzzzzzzzzz"] {
        api.get_product(id)
            .await?
            .expect_error(400, "INVALID_PARAMETER")
            .with_context(|| format!("getting product {id:?}"))?;
    }
    Ok(())
}

async fn creating_a_product_returns_201_with_every_field_and_no_rating_yet(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let body = json!({
        "sku": format!("CT-{}", unique_suffix()).to_uppercase(),
        "name": "Espresso Cup",
        "description": "Small, white, sturdy.",
        "price_minor": 1999,
        "currency": "EUR",
        "stock": 12,
        "category": "kitchen",
        "tags": ["cup", "espresso"],
    });
    let raw = admin.create_product(&body).await?.expect_value(201)?;
    for key in ["price_minor", "stock", "rating_count"] {
        check::integer(&format!("product `{key}`"), &raw[key])?;
    }
    let product: Product = serde_json::from_value(raw.clone())
        .with_context(|| format!("expected a Product, got {raw}"))?;
    check::object_id("product id", &product.id)?;
    check::eq(
        "sku",
        product.sku.as_str(),
        body["sku"].as_str().unwrap_or_default(),
    )?;
    check::eq("name", product.name.as_str(), "Espresso Cup")?;
    check::eq(
        "description",
        product.description.as_str(),
        "Small, white, sturdy.",
    )?;
    check::eq("price_minor", product.price_minor, 1999)?;
    check::eq("currency", product.currency.as_str(), "EUR")?;
    check::eq("stock", product.stock, 12)?;
    check::eq("category", product.category.as_str(), "kitchen")?;
    check::eq(
        "tags",
        product.tags.clone(),
        vec!["cup".to_owned(), "espresso".to_owned()],
    )?;
    check::eq(
        "rating_average of an unreviewed product",
        product.rating_average,
        0.0,
    )?;
    check::eq(
        "rating_count of an unreviewed product",
        product.rating_count,
        0,
    )?;
    check::rfc3339("created_at", &product.created_at)?;
    check::rfc3339("updated_at", &product.updated_at)?;
    Ok(())
}

async fn creating_a_product_stores_the_sku_uppercased(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let body = product_body(100, 1);
    let sent = body["sku"].as_str().unwrap_or_default().to_owned();
    let product = fixtures::create_product(&admin, &body).await?;
    check::eq("stored sku", product.sku, sent.to_uppercase())
}

async fn creating_a_product_anonymously_is_401(t: Target) -> Result<()> {
    Api::new(&t.base_url)
        .create_product(&product_body(100, 1))
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}

async fn creating_a_product_as_a_customer_is_403(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    customer
        .api
        .create_product(&product_body(100, 1))
        .await?
        .expect_error(403, "FORBIDDEN")?;
    Ok(())
}

async fn creating_a_product_with_a_taken_sku_is_409_sku_taken_whatever_its_case(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let first = fixtures::product(&admin, 100, 1).await?;
    for sku in [first.sku.clone(), first.sku.to_lowercase()] {
        admin
            .create_product(&with(&product_body(200, 2), "sku", json!(sku)))
            .await?
            .expect_error(409, "SKU_TAKEN")
            .with_context(|| format!("creating a second product with sku {sku:?}"))?;
    }
    Ok(())
}

/// Creates a product from `body` with `key` set to each of `values`; each must be a 422 whose
/// `fields` name `field`.
async fn each_is_422(admin: &Api, key: &str, field: &str, values: &[Value]) -> Result<()> {
    for value in values {
        let body = with(&product_body(100, 1), key, value.clone());
        let shown = value.to_string();
        let shown = if shown.len() > 40 {
            let start: String = shown.chars().take(30).collect();
            format!("{start}... ({} chars)", shown.len())
        } else {
            shown
        };
        admin
            .create_product(&body)
            .await?
            .expect_validation(&[field])
            .with_context(|| format!("creating a product with {key} = {shown}"))?;
    }
    Ok(())
}

async fn creating_a_product_with_an_invalid_sku_is_422_naming_sku(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let values = [
        json!(""),
        json!("S".repeat(65)),
        json!("has space"),
        json!("bad!sku"),
        json!("ümlaut-sku"),
    ];
    each_is_422(&admin, "sku", "sku", &values).await
}

async fn creating_a_product_with_an_invalid_name_or_description_is_422_naming_it(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    each_is_422(&admin, "name", "name", &[json!(""), json!("n".repeat(201))]).await?;
    each_is_422(
        &admin,
        "description",
        "description",
        &[json!("d".repeat(5001))],
    )
    .await
}

async fn creating_a_product_with_a_negative_price_or_a_bad_currency_is_422_naming_it(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    each_is_422(&admin, "price_minor", "price_minor", &[json!(-1)]).await?;
    let currencies = [
        json!("eur"),
        json!("EU"),
        json!("EURO"),
        json!("E1R"),
        json!(""),
    ];
    each_is_422(&admin, "currency", "currency", &currencies).await
}

async fn creating_a_product_with_negative_stock_or_a_bad_category_is_422_naming_it(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    each_is_422(&admin, "stock", "stock", &[json!(-1)]).await?;
    each_is_422(
        &admin,
        "category",
        "category",
        &[json!(""), json!("c".repeat(101))],
    )
    .await
}

async fn creating_a_product_with_too_many_or_bad_tags_is_422_naming_tags(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let too_many: Vec<String> = (0..21).map(|i| format!("tag{i}")).collect();
    let cases = [
        ("21 tags", json!(too_many)),
        ("an empty tag", json!(["ok", ""])),
        ("a 51-char tag", json!(["ok", "t".repeat(51)])),
    ];
    for (what, tags) in cases {
        let error = admin
            .create_product(&with(&product_body(100, 1), "tags", tags))
            .await?
            .expect_error(422, "VALIDATION_FAILED")
            .with_context(|| format!("creating a product with {what}"))?;
        // A bad single tag may be reported as `tags` or as `tags[1]`.
        check::that(
            error.fields.iter().any(|f| f.field.starts_with("tags")),
            || {
                format!(
                    "expected fields naming `tags` for {what}, got {:?}",
                    error.field_names()
                )
            },
        )?;
    }
    Ok(())
}

async fn creating_a_product_with_a_float_or_string_price_is_refused(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    for price in [json!(19.99), json!("1999")] {
        admin
            .create_product(&with(&product_body(100, 1), "price_minor", price.clone()))
            .await?
            .expect_rejection(&[400, 422])
            .with_context(|| format!("creating a product with price_minor = {price}"))?;
    }
    Ok(())
}

async fn creating_a_product_accepts_the_boundary_values(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let sku = format!("CT_{}-{}", unique_suffix(), "X".repeat(64 - 36)).to_uppercase();
    let tags: Vec<String> = (0..20)
        .map(|i| format!("{i:02}{}", "t".repeat(48)))
        .collect();
    let largest = json!({
        "sku": sku, "name": "n".repeat(200), "description": "d".repeat(5000),
        "price_minor": 0, "currency": "EUR", "stock": 0, "category": "c".repeat(100),
        "tags": tags,
    });
    let product = fixtures::create_product(&admin, &largest)
        .await
        .context("a product with a 64-char sku, 200-char name, 5000-char description, price 0, stock 0, 20 tags of 50")?;
    check::eq("sku", product.sku.len(), 64)?;
    check::eq("tags", product.tags.len(), 20)?;
    check::eq("price_minor", product.price_minor, 0)?;

    let smallest = json!({
        "sku": fixtures::unique_sku(), "name": "n", "description": "", "price_minor": 1,
        "currency": "USD", "stock": 1, "category": "c", "tags": [],
    });
    fixtures::create_product(&admin, &smallest)
        .await
        .context("a product with a 1-char name and category, empty description, no tags")?;
    Ok(())
}

async fn updating_a_product_returns_200_with_the_new_fields_and_the_same_id(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let original = fixtures::product(&admin, 1000, 5).await?;
    let new_sku = fixtures::unique_sku();
    let body = json!({
        "sku": new_sku, "name": "Renamed Mug", "description": "Now bigger.",
        "price_minor": 2500, "currency": "USD", "stock": 42, "category": "home",
        "tags": ["big"],
    });
    let updated: Product = admin
        .update_product(&original.id, &body)
        .await?
        .expect_json(200)?;
    check::eq("id", updated.id.as_str(), original.id.as_str())?;
    check::eq("sku", updated.sku.as_str(), new_sku.to_uppercase().as_str())?;
    check::eq("name", updated.name.as_str(), "Renamed Mug")?;
    check::eq("description", updated.description.as_str(), "Now bigger.")?;
    check::eq("price_minor", updated.price_minor, 2500)?;
    check::eq("currency", updated.currency.as_str(), "USD")?;
    check::eq("stock", updated.stock, 42)?;
    check::eq("category", updated.category.as_str(), "home")?;
    check::eq("tags", updated.tags.clone(), vec!["big".to_owned()])?;
    check::eq(
        "created_at (to the millisecond)",
        check::millis(&updated.created_at),
        check::millis(&original.created_at),
    )?;
    let created = check::rfc3339("created_at", &updated.created_at)?;
    let changed = check::rfc3339("updated_at", &updated.updated_at)?;
    check::that(changed >= created, || {
        format!("updated_at {changed} is before created_at {created}")
    })?;
    let read_back = fixtures::get_product(&admin, &original.id).await?;
    check::same_product("product read back after the update", &read_back, &updated)
}

async fn updating_a_product_keeps_its_rating_and_may_keep_its_own_sku(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 5).await?;
    customer
        .api
        .post_review(&product.id, 4, "good")
        .await?
        .expect_status(201)?;
    let body = with(&product_body(1500, 9), "sku", json!(product.sku));
    let updated: Product = admin
        .update_product(&product.id, &body)
        .await?
        .expect_json(200)
        .context("updating a product with its own sku")?;
    check::eq("price_minor", updated.price_minor, 1500)?;
    check::eq("rating_count after the update", updated.rating_count, 1)?;
    check::eq(
        "rating_average after the update",
        updated.rating_average,
        4.0,
    )
}

async fn updating_an_unknown_product_is_404_and_a_malformed_id_is_400(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    admin
        .update_product(UNKNOWN_ID, &product_body(100, 1))
        .await?
        .expect_error(404, "NOT_FOUND")?;
    admin
        .update_product("not-an-id", &product_body(100, 1))
        .await?
        .expect_error(400, "INVALID_PARAMETER")?;
    Ok(())
}

async fn updating_a_product_anonymously_is_401_and_as_a_customer_is_403(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 5).await?;
    let body = with(&product_body(1, 1), "sku", json!(product.sku));
    customer
        .api
        .anonymous()
        .update_product(&product.id, &body)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    customer
        .api
        .update_product(&product.id, &body)
        .await?
        .expect_error(403, "FORBIDDEN")?;
    let unchanged = fixtures::get_product(&admin, &product.id).await?;
    check::same_product("product after refused updates", &unchanged, &product)
}

async fn updating_a_product_to_another_products_sku_is_409_sku_taken(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let first = fixtures::product(&admin, 100, 1).await?;
    let second = fixtures::product(&admin, 200, 2).await?;
    let body = with(
        &product_body(200, 2),
        "sku",
        json!(first.sku.to_lowercase()),
    );
    admin
        .update_product(&second.id, &body)
        .await?
        .expect_error(409, "SKU_TAKEN")?;
    check::same_product(
        "second product after the refused update",
        &fixtures::get_product(&admin, &second.id).await?,
        &second,
    )
}

async fn updating_a_product_with_an_invalid_body_is_422_and_changes_nothing(
    t: Target,
) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 100, 1).await?;
    let body = with(
        &with(&product_body(-5, 1), "sku", json!(product.sku)),
        "name",
        json!(""),
    );
    admin
        .update_product(&product.id, &body)
        .await?
        .expect_validation(&["price_minor", "name"])?;
    check::same_product(
        "product after the refused update",
        &fixtures::get_product(&admin, &product.id).await?,
        &product,
    )
}

async fn deleting_a_product_is_204_then_get_and_a_second_delete_are_404(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 100, 1).await?;
    admin
        .delete_product(&product.id)
        .await?
        .expect_status(204)?;
    admin
        .get_product(&product.id)
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("reading a deleted product")?;
    admin
        .delete_product(&product.id)
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("deleting a product twice")?;
    Ok(())
}

async fn deleting_a_product_anonymously_is_401_and_as_a_customer_is_403(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 1).await?;
    customer
        .api
        .anonymous()
        .delete_product(&product.id)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    customer
        .api
        .delete_product(&product.id)
        .await?
        .expect_error(403, "FORBIDDEN")?;
    fixtures::get_product(&admin, &product.id)
        .await
        .context("the product must survive refused deletes")?;
    Ok(())
}

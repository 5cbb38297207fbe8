//! Reviews: one per customer per product, rated 1 to 5, and the product's rating summary
//! (`rating_average`, `rating_count`) always reflecting all of them.

use anyhow::{Context, Result};

use crate::client::Api;
use crate::fixtures::{self, UNKNOWN_ID};
use crate::model::{Page, Review};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        posting_a_review_returns_201_with_the_review_and_its_author,
        a_review_may_have_an_empty_comment_or_one_of_2000_chars,
        a_comment_over_2000_chars_is_422_naming_comment,
        reviewing_anonymously_is_401,
        reviewing_an_unknown_product_is_404_and_a_malformed_id_is_400,
        a_rating_of_0_or_6_is_422_naming_rating,
        a_second_review_by_the_same_customer_is_409_already_reviewed,
        ratings_5_and_2_give_the_product_an_average_of_3_5_and_a_count_of_2,
        listing_reviews_returns_a_page_of_that_products_reviews_only,
        listing_reviews_of_an_unknown_product_is_404,
    ]
}

async fn posting_a_review_returns_201_with_the_review_and_its_author(t: Target) -> Result<()> {
    let (admin, customer) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer_named(&t, "Reviewer Rita")
    )?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    let review: Review = customer
        .api
        .post_review(&product.id, 4, "Holds coffee well.")
        .await?
        .expect_json(201)?;
    check::object_id("review id", &review.id)?;
    check::eq(
        "product_id",
        review.product_id.as_str(),
        product.id.as_str(),
    )?;
    check::eq(
        "user_id",
        review.user_id.as_str(),
        customer.user.id.as_str(),
    )?;
    check::eq("author_name", review.author_name.as_str(), "Reviewer Rita")?;
    check::eq("rating", review.rating, 4)?;
    check::eq("comment", review.comment.as_str(), "Holds coffee well.")?;
    check::rfc3339("created_at", &review.created_at)?;
    Ok(())
}

async fn a_review_may_have_an_empty_comment_or_one_of_2000_chars(t: Target) -> Result<()> {
    let (admin, first, second) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    let empty: Review = first
        .api
        .post_review(&product.id, 3, "")
        .await?
        .expect_json(201)
        .context("a review with an empty comment")?;
    check::eq("empty comment", empty.comment.as_str(), "")?;
    let long = "c".repeat(2000);
    let full: Review = second
        .api
        .post_review(&product.id, 3, &long)
        .await?
        .expect_json(201)
        .context("a review with a 2000-char comment")?;
    check::eq("comment length", full.comment.len(), 2000)
}

async fn a_comment_over_2000_chars_is_422_naming_comment(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    customer
        .api
        .post_review(&product.id, 3, &"c".repeat(2001))
        .await?
        .expect_validation(&["comment"])?;
    Ok(())
}

async fn reviewing_anonymously_is_401(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    Api::new(&t.base_url)
        .post_review(&product.id, 5, "anonymous praise")
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}

async fn reviewing_an_unknown_product_is_404_and_a_malformed_id_is_400(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    customer
        .api
        .post_review(UNKNOWN_ID, 5, "ghost product")
        .await?
        .expect_error(404, "NOT_FOUND")?;
    customer
        .api
        .post_review("not-an-id", 5, "ghost product")
        .await?
        .expect_error(400, "INVALID_PARAMETER")?;
    Ok(())
}

async fn a_rating_of_0_or_6_is_422_naming_rating(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    for rating in [0, 6] {
        customer
            .api
            .post_review(&product.id, rating, "out of range")
            .await?
            .expect_validation(&["rating"])
            .with_context(|| format!("a review rated {rating}"))?;
    }
    // The refused reviews left no trace: the customer may still review once.
    customer
        .api
        .post_review(&product.id, 5, "in range")
        .await?
        .expect_status(201)?;
    Ok(())
}

async fn a_second_review_by_the_same_customer_is_409_already_reviewed(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    let other = fixtures::product(&admin, 1000, 1).await?;
    customer
        .api
        .post_review(&product.id, 5, "first")
        .await?
        .expect_status(201)?;
    customer
        .api
        .post_review(&product.id, 1, "changed my mind")
        .await?
        .expect_error(409, "ALREADY_REVIEWED")?;
    customer
        .api
        .post_review(&other.id, 4, "a different product")
        .await?
        .expect_status(201)
        .context("the same customer reviewing another product")?;
    let product = fixtures::get_product(&admin, &product.id).await?;
    check::eq(
        "rating_count after a refused second review",
        product.rating_count,
        1,
    )?;
    check::eq("rating_average", product.rating_average, 5.0)
}

async fn ratings_5_and_2_give_the_product_an_average_of_3_5_and_a_count_of_2(
    t: Target,
) -> Result<()> {
    let (admin, first, second) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    first
        .api
        .post_review(&product.id, 5, "great")
        .await?
        .expect_status(201)?;
    let after_one = fixtures::get_product(&admin, &product.id).await?;
    check::eq("rating_average after one 5", after_one.rating_average, 5.0)?;
    check::eq("rating_count after one review", after_one.rating_count, 1)?;
    second
        .api
        .post_review(&product.id, 2, "meh")
        .await?
        .expect_status(201)?;
    let after_two = fixtures::get_product(&admin, &product.id).await?;
    check::eq(
        "rating_average after 5 and 2",
        after_two.rating_average,
        3.5,
    )?;
    check::eq("rating_count after two reviews", after_two.rating_count, 2)
}

async fn listing_reviews_returns_a_page_of_that_products_reviews_only(t: Target) -> Result<()> {
    let (admin, first, second) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let product = fixtures::product(&admin, 1000, 1).await?;
    let other = fixtures::product(&admin, 1000, 1).await?;
    for (customer, rating) in [(&first, 5), (&second, 3)] {
        customer
            .api
            .post_review(&product.id, rating, "listed")
            .await?
            .expect_status(201)?;
    }
    first
        .api
        .post_review(&other.id, 1, "elsewhere")
        .await?
        .expect_status(201)?;

    let api = Api::new(&t.base_url);
    let page: Page<Review> = api.list_reviews(&product.id, "").await?.expect_json(200)?;
    check::eq("page", page.page, 1)?;
    check::eq("total", page.total, 2)?;
    check::eq("items", page.items.len(), 2)?;
    check::that(
        page.items.iter().all(|r| r.product_id == product.id),
        || format!("reviews of another product listed: {:?}", page.items),
    )?;
    let mut authors: Vec<_> = page.items.iter().map(|r| r.user_id.clone()).collect();
    authors.sort();
    let mut expected = vec![first.user.id.clone(), second.user.id.clone()];
    expected.sort();
    check::eq("review authors", authors, expected)?;

    let small: Page<Review> = api
        .list_reviews(&product.id, "page=1&limit=1")
        .await?
        .expect_json(200)?;
    check::eq("limit", small.limit, 1)?;
    check::eq("items on a page of 1", small.items.len(), 1)?;
    check::eq("total", small.total, 2)
}

async fn listing_reviews_of_an_unknown_product_is_404(t: Target) -> Result<()> {
    Api::new(&t.base_url)
        .list_reviews(UNKNOWN_ID, "")
        .await?
        .expect_error(404, "NOT_FOUND")?;
    Ok(())
}

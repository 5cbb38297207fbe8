//! Placing and reading orders: prices captured at order time, totals computed by the server,
//! stock decremented atomically (all items or none, never below zero, even under concurrent
//! orders), and orders visible only to their owner and admins.

use anyhow::{Context, Result};
use serde_json::json;

use crate::client::Api;
use crate::fixtures::{self, UNKNOWN_ID, order_body, product_body, with};
use crate::model::{Order, Page};
use crate::{Case, Target, check};

pub(super) fn cases() -> Vec<Case> {
    crate::cases![
        placing_an_order_returns_201_with_captured_prices_and_a_server_computed_total,
        placing_an_order_decrements_each_products_stock,
        an_order_for_exactly_the_remaining_stock_succeeds_and_the_next_unit_is_409,
        placing_an_order_anonymously_is_401,
        placing_an_order_with_no_items_is_422_naming_items,
        placing_an_order_with_a_quantity_of_0_or_1001_is_422_naming_the_quantity,
        placing_an_order_for_an_unknown_or_malformed_product_is_422_naming_the_item,
        placing_an_order_with_the_same_product_twice_is_422,
        placing_an_order_mixing_currencies_is_422,
        placing_an_order_with_short_stock_is_409_out_of_stock_and_changes_no_stock,
        a_later_price_change_does_not_change_an_existing_order,
        concurrent_orders_for_the_last_units_never_oversell,
        listing_orders_returns_only_the_callers_orders,
        getting_an_own_order_returns_it,
        getting_another_customers_order_is_404_but_an_admin_sees_it,
        getting_an_unknown_order_is_404_and_a_malformed_id_is_400,
        listing_or_getting_orders_anonymously_is_401,
    ]
}

async fn placing_an_order_returns_201_with_captured_prices_and_a_server_computed_total(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let mug = fixtures::product(&admin, 1999, 10).await?;
    let cup = fixtures::product(&admin, 500, 10).await?;
    // A client-sent total is a lie the server must ignore.
    let body = with(
        &order_body(&[(&mug.id, 2), (&cup.id, 3)]),
        "total_minor",
        json!(1),
    );
    let raw = customer.api.place_order(&body).await?.expect_value(201)?;
    check::integer("total_minor", &raw["total_minor"])?;
    let order: Order = serde_json::from_value(raw.clone())
        .with_context(|| format!("expected an Order, got {raw}"))?;
    check::object_id("order id", &order.id)?;
    check::eq("user_id", order.user_id.as_str(), customer.user.id.as_str())?;
    check::eq("status", order.status.as_str(), "pending")?;
    check::eq("payment of a new order", &order.payment, &None)?;
    check::eq("currency", order.currency.as_str(), "EUR")?;
    check::eq("number of items", order.items.len(), 2)?;
    for (item, product, quantity) in [(&order.items[0], &mug, 2), (&order.items[1], &cup, 3)] {
        check::eq(
            "item product_id",
            item.product_id.as_str(),
            product.id.as_str(),
        )?;
        check::eq("item sku", item.sku.as_str(), product.sku.as_str())?;
        check::eq("item name", item.name.as_str(), product.name.as_str())?;
        check::eq(
            "item unit_price_minor",
            item.unit_price_minor,
            product.price_minor,
        )?;
        check::eq("item quantity", item.quantity, quantity)?;
        check::eq(
            "item line_total_minor",
            item.line_total_minor,
            product.price_minor * quantity,
        )?;
    }
    check::eq("total_minor (2 x 1999 + 3 x 500)", order.total_minor, 5498)?;
    check::rfc3339("created_at", &order.created_at)?;
    check::rfc3339("updated_at", &order.updated_at)?;
    Ok(())
}

async fn placing_an_order_decrements_each_products_stock(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let a = fixtures::product(&admin, 100, 10).await?;
    let b = fixtures::product(&admin, 200, 4).await?;
    fixtures::place_order(&customer.api, &[(&a.id, 3), (&b.id, 1)]).await?;
    check::eq(
        "stock of the first product",
        fixtures::stock_of(&admin, &a.id).await?,
        7,
    )?;
    check::eq(
        "stock of the second product",
        fixtures::stock_of(&admin, &b.id).await?,
        3,
    )
}

async fn an_order_for_exactly_the_remaining_stock_succeeds_and_the_next_unit_is_409(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 2).await?;
    fixtures::place_order(&customer.api, &[(&product.id, 2)])
        .await
        .context("ordering the whole stock of 2")?;
    check::eq("stock", fixtures::stock_of(&admin, &product.id).await?, 0)?;
    customer
        .api
        .place_order(&order_body(&[(&product.id, 1)]))
        .await?
        .expect_error(409, "OUT_OF_STOCK")?;
    check::eq("stock", fixtures::stock_of(&admin, &product.id).await?, 0)
}

async fn placing_an_order_anonymously_is_401(t: Target) -> Result<()> {
    let admin = fixtures::admin(&t).await?;
    let product = fixtures::product(&admin, 100, 5).await?;
    Api::new(&t.base_url)
        .place_order(&order_body(&[(&product.id, 1)]))
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    check::eq("stock", fixtures::stock_of(&admin, &product.id).await?, 5)
}

async fn placing_an_order_with_no_items_is_422_naming_items(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    customer
        .api
        .place_order(&order_body(&[]))
        .await?
        .expect_validation(&["items"])?;
    Ok(())
}

async fn placing_an_order_with_a_quantity_of_0_or_1001_is_422_naming_the_quantity(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 5000).await?;
    for quantity in [0, 1001] {
        customer
            .api
            .place_order(&order_body(&[(&product.id, quantity)]))
            .await?
            .expect_validation(&["items[0].quantity"])
            .with_context(|| format!("ordering a quantity of {quantity}"))?;
    }
    fixtures::place_order(&customer.api, &[(&product.id, 1000)])
        .await
        .context("ordering the largest allowed quantity, 1000")?;
    check::eq(
        "stock",
        fixtures::stock_of(&admin, &product.id).await?,
        4000,
    )
}

async fn placing_an_order_for_an_unknown_or_malformed_product_is_422_naming_the_item(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 5).await?;
    customer
        .api
        .place_order(&order_body(&[(&product.id, 1), (UNKNOWN_ID, 1)]))
        .await?
        .expect_validation(&["items[1].product_id"])
        .context("ordering an unknown product")?;
    customer
        .api
        .place_order(&order_body(&[("not-an-id", 1), (&product.id, 1)]))
        .await?
        .expect_validation(&["items[0].product_id"])
        .context("ordering a malformed product id")?;
    check::eq(
        "stock after refused orders",
        fixtures::stock_of(&admin, &product.id).await?,
        5,
    )
}

async fn placing_an_order_with_the_same_product_twice_is_422(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 100, 5).await?;
    let error = customer
        .api
        .place_order(&order_body(&[(&product.id, 1), (&product.id, 2)]))
        .await?
        .expect_error(422, "VALIDATION_FAILED")?;
    check::that(
        error.fields.iter().any(|f| f.field.starts_with("items")),
        || {
            format!(
                "expected fields naming the items, got {:?}",
                error.field_names()
            )
        },
    )?;
    check::eq("stock", fixtures::stock_of(&admin, &product.id).await?, 5)
}

async fn placing_an_order_mixing_currencies_is_422(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let euros = fixtures::product(&admin, 100, 5).await?;
    let dollars = fixtures::create_product(
        &admin,
        &with(&product_body(100, 5), "currency", json!("USD")),
    )
    .await?;
    customer
        .api
        .place_order(&order_body(&[(&euros.id, 1), (&dollars.id, 1)]))
        .await?
        .expect_error(422, "VALIDATION_FAILED")?;
    check::eq("EUR stock", fixtures::stock_of(&admin, &euros.id).await?, 5)?;
    check::eq(
        "USD stock",
        fixtures::stock_of(&admin, &dollars.id).await?,
        5,
    )
}

async fn placing_an_order_with_short_stock_is_409_out_of_stock_and_changes_no_stock(
    t: Target,
) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let plenty = fixtures::product(&admin, 100, 5).await?;
    let scarce = fixtures::product(&admin, 100, 1).await?;
    let error = customer
        .api
        .place_order(&order_body(&[(&plenty.id, 2), (&scarce.id, 2)]))
        .await?
        .expect_error(409, "OUT_OF_STOCK")?;
    // "fields name the items": by position, product id or sku.
    let names_scarce = error.fields.iter().any(|f| {
        f.field.contains("items[1]")
            || f.field.contains(&scarce.id)
            || f.reason.contains(&scarce.id)
            || f.field.contains(&scarce.sku)
            || f.reason.contains(&scarce.sku)
    });
    check::that(names_scarce, || {
        format!(
            "expected OUT_OF_STOCK fields to name the short item, got {:?}",
            error.fields
        )
    })?;
    check::eq(
        "stock of the item in stock",
        fixtures::stock_of(&admin, &plenty.id).await?,
        5,
    )?;
    check::eq(
        "stock of the short item",
        fixtures::stock_of(&admin, &scarce.id).await?,
        1,
    )
}

async fn a_later_price_change_does_not_change_an_existing_order(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let product = fixtures::product(&admin, 1000, 10).await?;
    let order = fixtures::place_order(&customer.api, &[(&product.id, 2)]).await?;
    let body = with(&product_body(9999, 8), "sku", json!(product.sku));
    admin
        .update_product(&product.id, &body)
        .await?
        .expect_status(200)?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq(
        "unit_price_minor after the price change",
        read_back.items[0].unit_price_minor,
        1000,
    )?;
    check::eq(
        "total_minor after the price change",
        read_back.total_minor,
        2000,
    )?;
    let newer = fixtures::place_order(&customer.api, &[(&product.id, 1)]).await?;
    check::eq(
        "unit price of a new order",
        newer.items[0].unit_price_minor,
        9999,
    )
}

async fn concurrent_orders_for_the_last_units_never_oversell(t: Target) -> Result<()> {
    const STOCK: i64 = 3;
    const ORDERS: usize = 12;
    let (admin, first, second) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let product = fixtures::product(&admin, 100, STOCK).await?;
    let body = order_body(&[(&product.id, 1)]);
    let attempts = (0..ORDERS).map(|i| {
        let api = if i % 2 == 0 { &first.api } else { &second.api };
        api.place_order(&body)
    });
    let replies = futures::future::join_all(attempts).await;
    let mut placed = 0;
    for reply in replies {
        let reply = reply?;
        if reply.status.as_u16() == 201 {
            placed += 1;
        } else {
            reply
                .expect_error(409, "OUT_OF_STOCK")
                .context("an order that lost the race for the last units")?;
        }
    }
    check::eq("orders placed against a stock of 3", placed, STOCK)?;
    check::eq(
        "final stock",
        fixtures::stock_of(&admin, &product.id).await?,
        0,
    )
}

async fn listing_orders_returns_only_the_callers_orders(t: Target) -> Result<()> {
    let (admin, mine, theirs) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let product = fixtures::product(&admin, 100, 10).await?;
    let one = fixtures::place_order(&mine.api, &[(&product.id, 1)]).await?;
    let two = fixtures::place_order(&mine.api, &[(&product.id, 2)]).await?;
    let other = fixtures::place_order(&theirs.api, &[(&product.id, 1)]).await?;

    let page: Page<Order> = mine.api.list_orders("").await?.expect_json(200)?;
    check::eq("total of my orders", page.total, 2)?;
    let mut ids: Vec<_> = page.items.iter().map(|o| o.id.clone()).collect();
    ids.sort();
    let mut expected = vec![one.id, two.id];
    expected.sort();
    check::eq("my order ids", ids, expected)?;
    check::that(page.items.iter().all(|o| o.user_id == mine.user.id), || {
        format!("someone else's order in my list: {:?}", page.items)
    })?;

    let theirs_page: Page<Order> = theirs.api.list_orders("").await?.expect_json(200)?;
    check::eq("total of their orders", theirs_page.total, 1)?;
    check::eq(
        "their order",
        theirs_page.items[0].id.as_str(),
        other.id.as_str(),
    )
}

async fn getting_an_own_order_returns_it(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    let read_back = fixtures::get_order(&customer.api, &order.id).await?;
    check::eq("id", read_back.id.as_str(), order.id.as_str())?;
    check::eq("items", &read_back.items, &order.items)?;
    check::eq("total_minor", read_back.total_minor, order.total_minor)?;
    check::eq("status", read_back.status.as_str(), "pending")
}

async fn getting_another_customers_order_is_404_but_an_admin_sees_it(t: Target) -> Result<()> {
    let (admin, owner, stranger) = futures::try_join!(
        fixtures::admin(&t),
        fixtures::customer(&t),
        fixtures::customer(&t)
    )?;
    let (_, order) = fixtures::pending_order(&admin, &owner).await?;
    stranger
        .api
        .get_order(&order.id)
        .await?
        .expect_error(404, "NOT_FOUND")
        .context("a customer reading someone else's order must not learn it exists")?;
    let seen_by_admin = fixtures::get_order(&admin, &order.id).await?;
    check::eq(
        "order seen by the admin",
        seen_by_admin.user_id.as_str(),
        owner.user.id.as_str(),
    )
}

async fn getting_an_unknown_order_is_404_and_a_malformed_id_is_400(t: Target) -> Result<()> {
    let customer = fixtures::customer(&t).await?;
    customer
        .api
        .get_order(UNKNOWN_ID)
        .await?
        .expect_error(404, "NOT_FOUND")?;
    customer
        .api
        .get_order("not-an-id")
        .await?
        .expect_error(400, "INVALID_PARAMETER")?;
    Ok(())
}

async fn listing_or_getting_orders_anonymously_is_401(t: Target) -> Result<()> {
    let (admin, customer) = fixtures::admin_and_customer(&t).await?;
    let (_, order) = fixtures::pending_order(&admin, &customer).await?;
    let anonymous = customer.api.anonymous();
    anonymous
        .list_orders("")
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    anonymous
        .get_order(&order.id)
        .await?
        .expect_error(401, "UNAUTHORIZED")?;
    Ok(())
}

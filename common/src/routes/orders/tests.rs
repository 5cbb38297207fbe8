//! An order survives its wire form both ways, and a wire form that breaks a rule does not
//! become an order.

use serde_json::Value;
use time::OffsetDateTime;

use super::*;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).expect("a time") + time::Duration::milliseconds(7)
}

fn paid_order() -> Order {
    let eur = Currency::parse("EUR").expect("EUR");
    let line = |sku: &str, price: i64, quantity: i64| OrderLine {
        product_id: ProductId::new(),
        sku: Sku::parse(sku).expect("a SKU"),
        name: format!("product {sku}"),
        unit_price: Money::price(price, eur).expect("a price"),
        quantity: Quantity::parse(quantity).expect("a quantity"),
    };
    Order {
        id: OrderId::new(),
        user_id: UserId::new(),
        lines: vec![line("MUG-1", 1_250, 2), line("TEA-9", 399, 1)],
        total: Money {
            minor: 2_899,
            currency: eur,
        },
        status: OrderStatus::Paid,
        payment: Some(PaymentInfo {
            provider_reference: "ch_123".to_owned(),
            amount: Money {
                minor: 2_899,
                currency: eur,
            },
            status: "succeeded".to_owned(),
            paid_at: at(1_700_000_100),
        }),
        created_at: at(1_700_000_000),
        updated_at: at(1_700_000_100),
    }
}

fn wire(order: Order) -> Value {
    serde_json::to_value(OrderResponse::from(order)).expect("JSON")
}

fn read(value: Value) -> std::result::Result<Order, String> {
    let response: OrderResponse = serde_json::from_value(value).expect("an OrderResponse");
    Order::try_from(response)
}

#[test]
fn an_order_read_back_from_its_wire_form_is_the_same_order() {
    for order in [
        paid_order(),
        Order {
            status: OrderStatus::Pending,
            payment: None,
            ..paid_order()
        },
    ] {
        let first = wire(order);
        let again = wire(read(first.clone()).expect("the wire form parses"));
        assert_eq!(again, first);
    }
}

#[test]
fn a_wire_form_that_breaks_a_rule_is_refused_naming_the_field() {
    type Break = fn(&mut Value);
    let cases: [(Break, &str); 5] = [
        (|o| o["currency"] = "euro".into(), "currency"),
        (|o| o["items"][1]["sku"] = "a b".into(), "items[1].sku"),
        (
            |o| o["items"][0]["quantity"] = 0.into(),
            "items[0].quantity",
        ),
        (
            |o| o["items"][0]["line_total_minor"] = 1.into(),
            "items[0].line_total_minor",
        ),
        (|o| o["payment"]["currency"] = "".into(), "payment.currency"),
    ];
    for (change, field) in cases {
        let mut value = wire(paid_order());
        change(&mut value);
        let error = read(value).expect_err(field);
        assert!(error.starts_with(&format!("{field}: ")), "{field}: {error}");
    }
}

//! Unit tests of the domain parsers and the order status machine.

use super::*;

#[test]
fn emails_are_trimmed_and_lower_cased() {
    assert_eq!(
        Email::parse("  Ann@Example.COM ").unwrap().as_str(),
        "ann@example.com"
    );
}

#[test]
fn malformed_emails_are_rejected() {
    for bad in [
        "",
        "ann",
        "@example.com",
        "ann@",
        "ann@example",
        "a@b@c.d",
        "a b@c.de",
        "ann@.com",
        "ann@x..com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
    }
    assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
}

#[test]
fn skus_are_upper_cased_and_restricted() {
    assert_eq!(Sku::parse("tee-01_b").unwrap().as_str(), "TEE-01_B");
    for bad in ["", "with space", "ümlaut", &"x".repeat(65)] {
        assert!(Sku::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn ratings_are_one_to_five() {
    assert!(Rating::parse(0).is_err());
    assert!(Rating::parse(6).is_err());
    assert!(Rating::parse(-1).is_err());
    assert_eq!(Rating::parse(5).unwrap().value(), 5);
}

#[test]
fn quantities_are_one_to_a_thousand() {
    assert!(Quantity::parse(0).is_err());
    assert!(Quantity::parse(1001).is_err());
    assert!(Quantity::parse(i64::MAX).is_err());
    assert_eq!(Quantity::parse(1000).unwrap().get(), 1000);
}

#[test]
fn currencies_are_three_upper_case_letters() {
    assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
    for bad in ["eur", "EU", "EURO", "E1R", ""] {
        assert!(Currency::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn prices_are_bounded_and_sums_never_mix_currencies() {
    let eur = Currency::parse("EUR").unwrap();
    let usd = Currency::parse("USD").unwrap();
    assert!(Money::price(-1, eur).is_err());
    assert!(Money::price(Money::MAX_PRICE_MINOR + 1, eur).is_err());
    let a = Money::price(150, eur).unwrap();
    assert_eq!(a.times(3).unwrap().minor, 450);
    assert!(a.checked_add(Money::price(1, usd).unwrap()).is_none());
    assert_eq!(a.checked_add(a).unwrap().minor, 300);
}

#[test]
fn the_order_status_machine_allows_only_its_edges() {
    use OrderStatus::*;
    let all = [Pending, Paid, Shipped, Cancelled];
    let allowed = [
        (Pending, Paid),
        (Paid, Shipped),
        (Pending, Cancelled),
        (Paid, Cancelled),
    ];
    for from in all {
        for to in all {
            assert_eq!(
                from.can_become(to),
                allowed.contains(&(from, to)),
                "{from:?} -> {to:?}"
            );
        }
    }
}

#[test]
fn ids_round_trip_through_hex_and_reject_garbage() {
    let id = ProductId::new();
    assert_eq!(id.to_string().parse::<ProductId>().unwrap(), id);
    assert!("not-an-id".parse::<ProductId>().is_err());
    assert!("0123456789abcdef0123456".parse::<ProductId>().is_err());
}

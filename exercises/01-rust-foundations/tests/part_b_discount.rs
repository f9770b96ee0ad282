//! Part (b): the `Discount` trait, its three implementations and `best_price`.
//!
//! Run with `cargo test -p exercise-01 part_b`. The "rogue" discounts at the top are written
//! here, outside your crate, on purpose: `best_price` must keep its promises (never negative,
//! never more than the undiscounted total, never another currency) for discounts it has never
//! seen.

use exercise_01::{
    AmountOff, BestPrice, BuyNGetOneFree, Currency, Discount, Line, Money, MoneyError, PercentOff,
    best_price,
};
use proptest::prelude::*;

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

fn line(unit_minor: i64, quantity: u32) -> Line {
    Line {
        unit_price: eur(unit_minor),
        quantity,
    }
}

/// Claims to take off a fixed number of minor units, whatever the line costs.
struct Rogue(i64);

impl Discount for Rogue {
    fn name(&self) -> String {
        format!("rogue {}", self.0)
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        Ok(Money::from_minor(self.0, line.unit_price.currency()))
    }
}

/// Answers in a currency of its own, whatever the line's: a bug in someone else's code that
/// `best_price` must report rather than subtract dollars from euros.
struct Foreign(Money);

impl Discount for Foreign {
    fn name(&self) -> String {
        format!("foreign {}", self.0)
    }

    fn reduction(&self, _line: &Line) -> Result<Money, MoneyError> {
        Ok(self.0)
    }
}

/// Runs `f` and returns its value; a panic becomes a failure that names `rule`. The stub's
/// `todo!()` passes through untouched, so an unwritten function says that it is unwritten.
fn without_panic<T>(rule: &str, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            if message.starts_with("not yet implemented") {
                std::panic::resume_unwind(payload);
            }
            panic!("{rule}; it panicked instead: {message}");
        }
    }
}

#[test]
fn percent_off_takes_a_capped_percentage_rounded_down() {
    // 3 × 9.99 = 29.97 EUR; 10% of it is 2.997, rounded down to 2.99 (the shop keeps the rest).
    assert_eq!(
        PercentOff(10).reduction(&line(999, 3)),
        Ok(eur(299)),
        "10% of 29.97 EUR, rounded down to whole cents, is 2.99 EUR"
    );
    assert_eq!(PercentOff(0).reduction(&line(999, 3)), Ok(eur(0)));
    assert_eq!(PercentOff(10).name(), "10% off");
    assert_eq!(
        PercentOff(250).reduction(&line(1000, 2)),
        Ok(eur(2000)),
        "250% off would pay the customer: it counts as 100%"
    );
    assert_eq!(PercentOff(250).name(), "100% off");
}

#[test]
fn percent_off_does_not_overflow_on_large_totals() {
    let rule = "PercentOff must not overflow: total × percent needs a wider type than i64 \
                (i64::MAX × 100 does not fit), and the result is exact, rounded down";
    for (percent, total, expected) in [
        (100, i64::MAX, i64::MAX),
        (50, i64::MAX, 4_611_686_018_427_387_903),
        (99, i64::MAX, 9_131_138_316_486_228_048),
        (1, i64::MAX / 3, 30_744_573_456_182_586),
    ] {
        let reduction = without_panic(rule, || PercentOff(percent).reduction(&line(total, 1)));
        assert_eq!(
            reduction,
            Ok(eur(expected)),
            "{percent}% of {total} minor units: {rule}"
        );
    }
}

#[test]
fn amount_off_is_capped_at_the_line_total_and_in_its_currency() {
    assert_eq!(
        AmountOff(eur(500)).reduction(&line(1000, 2)),
        Ok(eur(500)),
        "5.00 EUR off a 20.00 EUR line"
    );
    assert_eq!(
        AmountOff(eur(5000)).reduction(&line(1000, 2)),
        Ok(eur(2000)),
        "50.00 EUR off a 20.00 EUR line takes off 20.00 EUR, not more"
    );
    assert_eq!(AmountOff(eur(500)).name(), "5.00 EUR off");
    assert_eq!(
        AmountOff(Money::from_minor(500, Currency::Usd)).reduction(&line(1000, 2)),
        Err(MoneyError::CurrencyMismatch {
            left: Currency::Eur,
            right: Currency::Usd,
        }),
        "USD off a EUR line is a mistake to report (left = the line's currency), not to guess at"
    );
}

#[test]
fn amount_off_never_takes_off_a_negative_amount() {
    // best_price would hide this mistake (it ignores negative reductions), so it is asked here,
    // of the discount itself: a negative amount off would raise the price.
    assert_eq!(
        AmountOff(eur(-500)).reduction(&line(1000, 2)),
        Ok(eur(0)),
        "AmountOff(-5.00 EUR) must take off 0.00 EUR, never a negative amount"
    );
    assert_eq!(
        AmountOff(eur(i64::MIN)).reduction(&line(1000, 2)),
        Ok(eur(0)),
        "AmountOff(i64::MIN) must take off 0.00 EUR, never a negative amount"
    );
}

#[test]
fn buy_n_get_one_free_gives_one_item_per_full_group() {
    let buy_two = BuyNGetOneFree { n: 2 };
    assert_eq!(
        buy_two.reduction(&line(300, 7)),
        Ok(eur(600)),
        "buy 2 get 1 free on 7 items: two full groups of 3, so 2 items (6.00 EUR) are free"
    );
    assert_eq!(
        buy_two.reduction(&line(300, 2)),
        Ok(eur(0)),
        "2 items are not a full group of 3: nothing free"
    );
    assert_eq!(buy_two.name(), "buy 2 get one free");
}

#[test]
fn buy_n_get_one_free_survives_u32_max() {
    let rule = "BuyNGetOneFree { n: u32::MAX } must not overflow: n + 1 does not fit in a u32, \
                and no u32 quantity fills a group that large";
    let reduction = without_panic(rule, || {
        BuyNGetOneFree { n: u32::MAX }.reduction(&line(300, u32::MAX))
    });
    assert_eq!(reduction, Ok(eur(0)), "{rule}");

    // One below: a group of u32::MAX items, which the largest quantity fills exactly once.
    let rule = "BuyNGetOneFree { n: u32::MAX - 1 } on u32::MAX items gives exactly one free";
    let reduction = without_panic(rule, || {
        BuyNGetOneFree { n: u32::MAX - 1 }.reduction(&line(300, u32::MAX))
    });
    assert_eq!(reduction, Ok(eur(300)), "{rule}");
    assert_eq!(
        BuyNGetOneFree { n: u32::MAX }.name(),
        "buy 4294967295 get one free"
    );
}

#[test]
fn best_price_applies_the_largest_reduction() {
    let discounts: Vec<Box<dyn Discount>> = vec![
        Box::new(PercentOff(10)),
        Box::new(AmountOff(eur(700))),
        Box::new(BuyNGetOneFree { n: 3 }),
    ];
    // 4 × 10.00 = 40.00 EUR: 10% is 4.00, the fixed one 7.00, buy-3-get-1 is 10.00.
    assert_eq!(
        best_price(&line(1000, 4), &discounts),
        Ok(BestPrice {
            total: eur(3000),
            applied: Some("buy 3 get one free".to_owned()),
        }),
        "of 4.00, 7.00 and 10.00 EUR off, the best is 10.00 EUR off; discounts do not stack"
    );
}

#[test]
fn best_price_without_a_useful_discount_is_the_undiscounted_total() {
    assert_eq!(
        best_price(&line(1000, 4), &[]),
        Ok(BestPrice {
            total: eur(4000),
            applied: None,
        }),
        "no discounts: the total is unit price × quantity"
    );
    let useless: Vec<Box<dyn Discount>> =
        vec![Box::new(PercentOff(0)), Box::new(BuyNGetOneFree { n: 10 })];
    assert_eq!(
        best_price(&line(1000, 4), &useless),
        Ok(BestPrice {
            total: eur(4000),
            applied: None,
        }),
        "a discount that takes off nothing is not 'applied'"
    );
}

#[test]
fn best_price_breaks_ties_in_favour_of_the_first_discount() {
    let discounts: Vec<Box<dyn Discount>> =
        vec![Box::new(AmountOff(eur(1000))), Box::new(PercentOff(25))];
    assert_eq!(
        best_price(&line(1000, 4), &discounts).map(|best| best.applied),
        Ok(Some("10.00 EUR off".to_owned())),
        "both take 10.00 EUR off 40.00 EUR: the first one in the slice wins"
    );
}

#[test]
fn best_price_never_goes_below_zero_or_above_the_total() {
    let greedy: Vec<Box<dyn Discount>> = vec![Box::new(Rogue(1_000_000))];
    assert_eq!(
        best_price(&line(1000, 4), &greedy),
        Ok(BestPrice {
            total: eur(0),
            applied: Some("rogue 1000000".to_owned()),
        }),
        "a reduction larger than the total makes the total zero, never negative"
    );
    let generous: Vec<Box<dyn Discount>> = vec![Box::new(Rogue(-500))];
    assert_eq!(
        best_price(&line(1000, 4), &generous),
        Ok(BestPrice {
            total: eur(4000),
            applied: None,
        }),
        "a negative reduction would raise the price: treat it as no reduction"
    );
}

#[test]
fn best_price_passes_errors_on() {
    let wrong_currency: Vec<Box<dyn Discount>> = vec![
        Box::new(PercentOff(10)),
        Box::new(AmountOff(Money::from_minor(500, Currency::Gbp))),
    ];
    assert_eq!(
        best_price(&line(1000, 4), &wrong_currency),
        Err(MoneyError::CurrencyMismatch {
            left: Currency::Eur,
            right: Currency::Gbp,
        }),
        "a discount that fails is a bug to report, not to skip silently"
    );
    assert_eq!(
        best_price(&line(i64::MAX, 2), &[]),
        Err(MoneyError::Overflow),
        "a line total that overflows is an error"
    );
}

#[test]
fn best_price_refuses_a_reduction_in_another_currency() {
    let usd = |minor| Money::from_minor(minor, Currency::Usd);
    let mismatch = Err(MoneyError::CurrencyMismatch {
        left: Currency::Eur,
        right: Currency::Usd,
    });
    // Compared by `.minor()` alone, 5.00 USD would look like the best reduction of the three.
    let largest: Vec<Box<dyn Discount>> = vec![
        Box::new(PercentOff(10)),
        Box::new(Foreign(usd(500))),
        Box::new(AmountOff(eur(100))),
    ];
    assert_eq!(
        best_price(&line(1000, 4), &largest),
        mismatch,
        "a reduction in USD on a EUR line is CurrencyMismatch (left = the line's currency, \
         right = the reduction's), not a number of cents to compare"
    );
    // Not the best, and still a bug to report: the rule holds for every reduction.
    let smaller: Vec<Box<dyn Discount>> = vec![Box::new(PercentOff(50)), Box::new(Foreign(usd(1)))];
    assert_eq!(
        best_price(&line(1000, 4), &smaller),
        mismatch,
        "every reduction must be in the line's currency, even one that would not win"
    );
}

/// A unit price from a few cents up to `i64::MAX`: large totals are where `PercentOff`
/// overflows, and `any::<i64>()` alone would rarely give a small one.
fn unit_price() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), Just(i64::MAX), 0_i64..100_000, 0_i64..=i64::MAX,]
}

/// A quantity, with the edges drawn often.
fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(u32::MAX), 0_u32..1_000, any::<u32>()]
}

/// A `BuyNGetOneFree` group size, with `0` (everything free) and the two largest values.
fn group() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        0_u32..10,
        any::<u32>()
    ]
}

proptest! {
    // No regression files in the learner's tests/ folder (a failure prints its minimal
    // input instead), and a bounded shrink, so a failing property answers in a moment.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn percent_off_is_the_exact_share_rounded_down(
        unit in unit_price(),
        percent in any::<u8>(),
    ) {
        // One item, so the line total is the unit price itself and never overflows.
        let expected = i128::from(unit) * i128::from(percent.min(100)) / 100;
        let expected = i64::try_from(expected).expect("a share of an i64 fits in an i64");
        prop_assert_eq!(
            PercentOff(percent).reduction(&line(unit, 1)),
            Ok(eur(expected)),
            "{}% of {} minor units, rounded down, capped at 100%",
            percent,
            unit
        );
    }

    #[test]
    fn buy_n_get_one_free_gives_one_unit_price_per_full_group(
        n in group(),
        quantity in quantity(),
    ) {
        let free = u64::from(quantity) / (u64::from(n) + 1);
        prop_assert_eq!(
            BuyNGetOneFree { n }.reduction(&line(300, quantity)),
            Ok(eur(300 * i64::try_from(free).expect("at most u32::MAX free items"))),
            "buy {} get one free on {} items gives {} free",
            n,
            quantity,
            free
        );
    }

    #[test]
    fn best_price_stays_between_zero_and_the_total(
        unit in unit_price(),
        quantity in quantity(),
        percent in any::<u8>(),
        amount in prop_oneof![Just(i64::MIN), Just(i64::MAX), -10_000_i64..10_000_000],
        n in group(),
    ) {
        let discounts: Vec<Box<dyn Discount>> = vec![
            Box::new(PercentOff(percent)),
            Box::new(AmountOff(eur(amount))),
            Box::new(BuyNGetOneFree { n }),
        ];
        let best = best_price(&line(unit, quantity), &discounts).map(|best| best.total.minor());
        match unit.checked_mul(i64::from(quantity)) {
            Some(full) => prop_assert!(
                matches!(best, Ok(total) if (0..=full).contains(&total)),
                "expected a total in 0..={} (the undiscounted total), got {:?}",
                full,
                best
            ),
            None => prop_assert_eq!(
                best,
                Err(MoneyError::Overflow),
                "{} × {} does not fit in an i64: the line total is an Overflow error",
                unit,
                quantity
            ),
        }
    }
}

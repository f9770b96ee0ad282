//! Property tests for `Money`: the invariants hold for every amount and currency, not just for
//! the examples in the unit tests. Run with `cargo test -p shop-domain --test money`.

use proptest::prelude::*;
use shop_domain::{AllocationError, Currency, Money, MoneyError};

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::ALL.to_vec())
}

fn money() -> impl Strategy<Value = Money> {
    (any::<i64>(), currency()).prop_map(|(minor, currency)| Money::from_minor(minor, currency))
}

/// Two amounts in two different currencies. Drawing two distinct currencies up front, rather
/// than rejecting equal pairs afterwards, keeps every generated case useful.
fn mismatched_pair() -> impl Strategy<Value = (Money, Money)> {
    let two_currencies = prop::sample::subsequence(Currency::ALL.to_vec(), 2).prop_shuffle();
    (any::<i64>(), any::<i64>(), two_currencies)
        .prop_map(|(a, b, c)| (Money::from_minor(a, c[0]), Money::from_minor(b, c[1])))
}

/// Ratios as they occur in practice (line totals, payment splits) plus the awkward ones: zeros
/// and huge values.
fn ratios() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(
        prop_oneof![3 => 0_u32..100, 1 => Just(0_u32), 1 => any::<u32>()],
        1..20,
    )
    .prop_filter("at least one ratio must be non-zero", |r| {
        r.iter().any(|&x| x > 0)
    })
}

proptest! {
    #[test]
    fn display_then_parse_is_the_identity(m in money()) {
        prop_assert_eq!(m.to_string().parse::<Money>(), Ok(m));
    }

    #[test]
    fn json_round_trips(m in money()) {
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }

    #[test]
    fn checked_add_is_i64_checked_add(a in any::<i64>(), b in any::<i64>(), c in currency()) {
        let expected = a
            .checked_add(b)
            .map(|sum| Money::from_minor(sum, c))
            .ok_or(MoneyError::Overflow);
        prop_assert_eq!(Money::from_minor(a, c).checked_add(Money::from_minor(b, c)), expected);
    }

    #[test]
    fn subtraction_undoes_addition(a in money(), b in any::<i64>()) {
        let b = Money::from_minor(b, a.currency());
        if let Ok(sum) = a.checked_add(b) {
            prop_assert_eq!(sum.checked_sub(b), Ok(a));
        }
    }

    #[test]
    fn different_currencies_never_combine((a, b) in mismatched_pair()) {
        let mismatch = Err(MoneyError::CurrencyMismatch { expected: a.currency(), found: b.currency() });
        prop_assert_eq!(a.checked_add(b), mismatch);
        prop_assert_eq!(a.checked_sub(b), mismatch);
    }

    #[test]
    fn allocation_neither_loses_nor_invents_a_minor_unit(m in money(), ratios in ratios()) {
        let parts = m.allocate(&ratios).unwrap();
        prop_assert_eq!(parts.len(), ratios.len());
        prop_assert!(parts.iter().all(|p| p.currency() == m.currency()));
        prop_assert_eq!(Money::sum(m.currency(), parts), Ok(m));
    }

    #[test]
    fn every_part_is_within_one_minor_unit_of_its_exact_share(m in money(), ratios in ratios()) {
        let parts = m.allocate(&ratios).unwrap();
        let total = i128::from(m.amount_minor());
        let ratio_sum: i128 = ratios.iter().map(|&r| i128::from(r)).sum();
        for (part, &ratio) in parts.iter().zip(&ratios) {
            // |part - total × ratio / ratio_sum| < 1, multiplied through by ratio_sum.
            let error = (i128::from(part.amount_minor()) * ratio_sum - total * i128::from(ratio)).abs();
            prop_assert!(error < ratio_sum, "part {} for ratio {} of {}", part, ratio, m);
            if ratio == 0 {
                prop_assert!(part.is_zero(), "a zero ratio got {}", part);
            }
        }
    }

    #[test]
    fn allocation_is_deterministic(m in money(), ratios in ratios()) {
        prop_assert_eq!(m.allocate(&ratios), m.allocate(&ratios));
    }

    #[test]
    fn an_even_split_differs_by_at_most_one_unit_larger_first(m in money(), parts in 1_usize..50) {
        let split = m.split_evenly(parts).unwrap();
        let amounts: Vec<i64> = split.iter().map(Money::amount_minor).collect();
        let (min, max) = (amounts.iter().min().unwrap(), amounts.iter().max().unwrap());
        prop_assert!(max - min <= 1, "{:?}", amounts);
        // Leftover units go to the earliest parts, so magnitudes never grow along the list.
        prop_assert!(amounts.windows(2).all(|w| w[0].abs() >= w[1].abs()), "{:?}", amounts);
        prop_assert_eq!(Money::sum(m.currency(), split), Ok(m));
    }

    #[test]
    fn all_zero_ratios_are_rejected(m in money(), n in 1_usize..10) {
        prop_assert_eq!(m.allocate(&vec![0; n]), Err(AllocationError::AllRatiosZero));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC*") {
        let _ = s.parse::<Money>();
    }
}

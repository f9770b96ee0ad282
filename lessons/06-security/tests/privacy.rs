//! Export, erasure and retention on the in-memory store.
//!
//! `cargo test -p lesson-06 --test privacy`

use lesson_06::privacy::{PrivacyError, PrivacyStore};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

#[test]
fn the_export_holds_every_record_about_the_customer_and_nothing_about_others() {
    let store = PrivacyStore::demo(NOW);
    let export = store.export(1, NOW).unwrap();
    assert_eq!(export.customer.email, "ada@shop.test");
    let ids: Vec<u32> = export.orders.iter().map(|o| o.id).collect();
    assert_eq!(ids, [1001, 1002, 1003]);
    assert_eq!(export.logins.len(), 2);
    let json = serde_json::to_value(&export).unwrap();
    assert_eq!(json["customer"]["created"], "2013-06-04T12:00:00Z");
    let text = json.to_string();
    assert!(
        !text.contains("Grace"),
        "another customer's data leaked into the export"
    );
    assert!(
        json["purposes"]["logins"]
            .as_str()
            .unwrap()
            .contains("90 days")
    );
}

#[test]
fn erasure_deletes_the_person_and_keeps_anonymised_orders_within_retention() {
    let mut store = PrivacyStore::demo(NOW);
    let report = store.erase(1, NOW).unwrap();
    assert_eq!(report.logins_deleted, 2);
    assert_eq!(
        report.orders_anonymised, 2,
        "orders 1001 and 1002 are kept for tax law"
    );
    assert_eq!(
        report.orders_deleted, 1,
        "order 1003 is past its retention anyway"
    );

    assert_eq!(
        store.export(1, NOW).unwrap_err(),
        PrivacyError::UnknownCustomer(1)
    );
    let kept: Vec<_> = store
        .orders
        .iter()
        .filter(|o| [1001, 1002].contains(&o.id))
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|o| o.customer.is_none() && o.ship_to.is_none())
    );
    assert!(
        !format!("{store:?}").contains("Ada"),
        "no trace of her name anywhere"
    );
    assert_eq!(store.erasures, [report]);
    assert!(store.export(2, NOW).is_ok(), "Grace is untouched");
    assert_eq!(store.erase(1, NOW), Err(PrivacyError::UnknownCustomer(1)));
}

#[test]
fn retention_deletes_only_what_is_past_its_period() {
    let mut store = PrivacyStore::demo(NOW);
    let report = store.apply_retention(NOW);
    assert_eq!(report.logins_deleted, 1, "the 200-day-old sign-in");
    assert_eq!(report.orders_deleted, 1, "the eleven-year-old order");
    assert_eq!(store.apply_retention(NOW).logins_deleted, 0, "idempotent");
    let next_year = store.apply_retention(NOW + Duration::days(365));
    assert_eq!(next_year.logins_deleted, 2);
    assert_eq!(next_year.orders_deleted, 0);
}

//! Step 7: a customer's data, exported, swept by retention rules, and erased.

use narrate::{heading, say, show};
use time::OffsetDateTime;

use super::{StepError, expect};
use crate::privacy::PrivacyStore;
use narrate::demo::Unexpected;

pub fn privacy() -> Result<(), StepError> {
    heading(7, "Personal data: retention, export, erasure (GDPR / CCPA)");
    // Whole seconds: the export is for people to read.
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let mut store = PrivacyStore::demo(now);
    say("The nightly retention sweep: sign-ins are kept 90 days, orders 10 years.");
    let swept = store.apply_retention(now);
    show(format_args!(
        "deleted {} sign-in(s) and {} order(s) past their retention",
        swept.logins_deleted, swept.orders_deleted
    ));

    say("Ada asks for her data (GDPR art. 15/20, CCPA right to know): all of it, as JSON.");
    let export = store.export(1, now).map_err(|e| Unexpected {
        expected: "customer 1 exists",
        got: e.to_string(),
    })?;
    let json = serde_json::to_string_pretty(&export).unwrap_or_default();
    for line in json.lines() {
        show(line);
    }

    say("Ada asks to be forgotten (GDPR art. 17, CCPA right to delete):");
    let report = store.erase(1, now).map_err(|e| Unexpected {
        expected: "customer 1 exists",
        got: e.to_string(),
    })?;
    show(format_args!(
        "profile deleted, {} sign-in(s) deleted, {} order(s) kept for the tax office with the \
         person removed",
        report.logins_deleted, report.orders_anonymised
    ));
    for order in store.orders.iter().filter(|o| o.customer.is_none()) {
        show(format_args!(
            "order {}: customer {:?}, ship_to {:?}, total {} cents",
            order.id, order.customer, order.ship_to, order.total_cents
        ));
    }
    expect(
        store.export(1, now).is_err() && !format!("{store:?}").contains("Ada"),
        "nothing about Ada is left",
        "her name is still in the store",
    )?;
    say("The erasure log keeps the fact, not the person: customer id, counts, time. Backups");
    say("age out on their own schedule; the log is how a restore knows what to erase again.");
    Ok(())
}

//! Data-protection duties as code: export everything held about a person (GDPR art. 15 and 20,
//! CCPA's right to know), erase it (GDPR art. 17, CCPA's right to delete) while keeping what
//! the law requires, and delete what is past its retention period without being asked.
//!
//! The store is in memory so the rules stand out; the capstone applies them to PostgreSQL.
//! `tests/privacy.rs` checks that an export is complete and an erasure leaves no trace of the
//! person but keeps the anonymised orders.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

/// A customer's profile: personal data, every field of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: u32,
    pub email: String,
    pub name: String,
    pub address: String,
    pub marketing_consent: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// Where an order went: personal data inside a record the shop must keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipTo {
    pub name: String,
    pub address: String,
}

/// An order. Tax and accounting law (ten years in Germany, seven in much of the US) requires
/// the shop to keep it; nothing requires it to keep *who* bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: u32,
    pub customer: Option<u32>,
    pub ship_to: Option<ShipTo>,
    pub total_cents: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub placed: OffsetDateTime,
}

/// A sign-in, kept for security investigations, and only for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginEvent {
    pub customer: u32,
    pub ip: IpAddr,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How long each kind of record is kept. Storage limitation (GDPR art. 5(1)(e)): data is
/// kept no longer than its purpose needs, and the periods are decided and written down in
/// advance, not discovered during an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub login_events: Duration,
    pub orders: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            login_events: Duration::days(90),
            orders: Duration::days(10 * 365 + 3),
        }
    }
}

// ANCHOR: export
/// Everything the shop holds about one customer, as the export returns it: machine-readable
/// (JSON), complete, and including the data derived from them, not only what they typed in.
#[derive(Debug, Clone, Serialize)]
pub struct DataExport {
    pub customer: Customer,
    pub orders: Vec<Order>,
    pub logins: Vec<LoginEvent>,
    /// Why each kind of data is held and for how long: art. 15 asks for that too.
    pub purposes: BTreeMap<&'static str, &'static str>,
    #[serde(with = "time::serde::rfc3339")]
    pub generated: OffsetDateTime,
}
// ANCHOR_END: export

/// What an erasure did, for the audit trail. It holds counts and an id, no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    pub customer: u32,
    pub profile_deleted: bool,
    pub logins_deleted: usize,
    pub orders_anonymised: usize,
    pub orders_deleted: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a retention sweep deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub logins_deleted: usize,
    pub orders_deleted: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PrivacyError {
    #[error("no customer with id {0}")]
    UnknownCustomer(u32),
}

/// The shop's personal data, in memory.
#[derive(Debug, Clone, Default)]
pub struct PrivacyStore {
    pub customers: BTreeMap<u32, Customer>,
    pub orders: Vec<Order>,
    pub logins: Vec<LoginEvent>,
    /// The erasure log: proof that requests were honoured, without the data erased.
    pub erasures: Vec<ErasureReport>,
    pub policy: RetentionPolicy,
}

impl PrivacyStore {
    // ANCHOR: export_fn
    /// The data export for `customer`.
    pub fn export(&self, customer: u32, now: OffsetDateTime) -> Result<DataExport, PrivacyError> {
        let profile = self
            .customers
            .get(&customer)
            .ok_or(PrivacyError::UnknownCustomer(customer))?;
        Ok(DataExport {
            customer: profile.clone(),
            orders: self
                .orders
                .iter()
                .filter(|o| o.customer == Some(customer))
                .cloned()
                .collect(),
            logins: self
                .logins
                .iter()
                .filter(|l| l.customer == customer)
                .cloned()
                .collect(),
            purposes: BTreeMap::from([
                ("customer", "your account; kept until you close it"),
                (
                    "orders",
                    "delivery, then tax law; kept 10 years, anonymised on erasure",
                ),
                ("logins", "detecting account takeover; kept 90 days"),
            ]),
            generated: now,
        })
    }
    // ANCHOR_END: export_fn

    // ANCHOR: erase
    /// Erases `customer`: the profile and sign-ins are deleted; orders the law says to keep
    /// are kept with the person cut out of them (no customer id, no name, no address), and
    /// orders past their retention go entirely. The report is logged and returned.
    ///
    /// Anonymised must mean that nobody can tell whose order it was any more, not "we removed
    /// the name column": a rare product shipped to a small village on a known day can still
    /// point at one person. Replacing the id with a hash is *pseudonymisation*, and
    /// pseudonymised data is still personal data under the GDPR.
    pub fn erase(
        &mut self,
        customer: u32,
        now: OffsetDateTime,
    ) -> Result<ErasureReport, PrivacyError> {
        if self.customers.remove(&customer).is_none() {
            return Err(PrivacyError::UnknownCustomer(customer));
        }
        let logins_before = self.logins.len();
        self.logins.retain(|l| l.customer != customer);
        let orders_before = self.orders.len();
        let keep_after = now - self.policy.orders;
        self.orders
            .retain(|o| o.customer != Some(customer) || o.placed > keep_after);
        let mut anonymised = 0;
        for order in self
            .orders
            .iter_mut()
            .filter(|o| o.customer == Some(customer))
        {
            order.customer = None;
            order.ship_to = None;
            anonymised += 1;
        }
        let report = ErasureReport {
            customer,
            profile_deleted: true,
            logins_deleted: logins_before - self.logins.len(),
            orders_anonymised: anonymised,
            orders_deleted: orders_before - self.orders.len(),
            at: now,
        };
        self.erasures.push(report.clone());
        Ok(report)
    }
    // ANCHOR_END: erase

    // ANCHOR: retention
    /// Deletes whatever has outlived its retention period. Run it on a schedule (lesson 10's
    /// worker does this kind of job): retention nobody enforces is a wish.
    pub fn apply_retention(&mut self, now: OffsetDateTime) -> RetentionReport {
        let (logins, orders) = (self.logins.len(), self.orders.len());
        let login_cutoff = now - self.policy.login_events;
        let order_cutoff = now - self.policy.orders;
        self.logins.retain(|l| l.at > login_cutoff);
        self.orders.retain(|o| o.placed > order_cutoff);
        RetentionReport {
            logins_deleted: logins - self.logins.len(),
            orders_deleted: orders - self.orders.len(),
        }
    }
    // ANCHOR_END: retention

    /// Two customers with a history: orders from last month and from eleven years ago, sign-ins
    /// from last week and from last year.
    pub fn demo(now: OffsetDateTime) -> Self {
        let customer = |id, name: &str, email: &str| Customer {
            id,
            email: email.to_owned(),
            name: name.to_owned(),
            address: format!("{id} Analytical Engine Street, London"),
            marketing_consent: id == 1,
            created: now - Duration::days(12 * 365),
        };
        let order = |id, customer, days_ago, total_cents| Order {
            id,
            customer: Some(customer),
            ship_to: Some(ShipTo {
                name: if customer == 1 {
                    "Ada Lovelace"
                } else {
                    "Grace Hopper"
                }
                .to_owned(),
                address: format!("{customer} Analytical Engine Street, London"),
            }),
            total_cents,
            placed: now - Duration::days(days_ago),
        };
        let login = |customer, days_ago, ip: [u8; 4]| LoginEvent {
            customer,
            ip: IpAddr::from(ip),
            at: now - Duration::days(days_ago),
        };
        PrivacyStore {
            customers: BTreeMap::from([
                (1, customer(1, "Ada Lovelace", "ada@shop.test")),
                (2, customer(2, "Grace Hopper", "grace@shop.test")),
            ]),
            orders: vec![
                order(1001, 1, 30, 2_500),
                order(1002, 1, 400, 3_900),
                order(1003, 1, 11 * 365, 1_250),
                order(1004, 2, 12, 4_900),
            ],
            logins: vec![
                login(1, 7, [203, 0, 113, 7]),
                login(1, 200, [198, 51, 100, 23]),
                login(2, 3, [192, 0, 2, 10]),
            ],
            erasures: Vec::new(),
            policy: RetentionPolicy::default(),
        }
    }
}

//! Exercise 06, security practices: a token bucket, a login throttle and a safe query builder.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-06`
//! passes; run one part at a time with `--test part_a_token_bucket`, `--test
//! part_b_login_throttle` or `--test part_c_query_builder`. The brief is book chapter 06,
//! section "Exercise". Stuck? `cargo xtask hint 06` shows graded hints one level at a time
//! (they are also in `hints/1.md`, `2.md`, `3.md`).
//!
//! Three parts, independent of each other:
//! - (a) [`TokenBucket`]: a rate limiter with an injected [`Clock`], exact to the nanosecond,
//!   checked by property tests over random traffic.
//! - (b) [`LoginThrottle`]: failed logins counted per account (a lock that doubles) and per
//!   address (a sliding log of failure times).
//! - (c) [`Select`]: a query builder that cannot be injected: table and column names come only
//!   from an allow-list, values only as bind parameters.
//!
//! Everything that is not a `todo!()` (the clock, the types, the constructors) is given: read
//! it, it is part of the brief. Add private helper functions and change private fields as you
//! like; the tests use only the public API.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;

// ANCHOR: clock
/// A source of the current time, as a `Duration` since some fixed moment (the clock's epoch).
///
/// Only differences between two readings mean anything. Code that takes its time from a
/// `Clock` instead of calling `Instant::now()` can be tested with a clock the test moves.
pub trait Clock {
    fn now(&self) -> Duration;
}

/// A clock that stands still until told to move. Clones share the same time, so a test can
/// keep one and give another to the code under test.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Moves the clock forward by `by` (nanoseconds; `u64` covers 584 years).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}
// ANCHOR_END: clock

// ANCHOR: bucket
/// Why [`TokenBucket::try_acquire`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Denied {
    /// Not enough tokens yet: `retry_after` from now there will be.
    #[error("not enough tokens: retry after {retry_after:?}")]
    Wait { retry_after: Duration },
    /// More tokens than the bucket can ever hold: waiting will not help.
    #[error("{requested} tokens is more than the bucket's capacity of {capacity}")]
    TooMany { requested: u32, capacity: u32 },
}

/// A token bucket that gains one token every `period`, up to `capacity`.
///
/// The rules, which the tests check exactly:
///
/// - A new bucket is full.
/// - Tokens are whole and arrive at whole periods: one token `period` after the last one
///   arrived, the next `period` after that, and so on. Nothing is rounded, so over any
///   stretch of time the bucket hands out at most `capacity + elapsed / period` tokens
///   (integer division), the property the tests check on random traffic.
/// - A full bucket earns nothing: when the bucket becomes (or already is) full, time spent
///   full does not count towards the next token. After taking a token from a full bucket,
///   the next one arrives `period` later, not sooner.
/// - Time comes from the clock `C` only. Read it once per call.
#[derive(Debug)]
pub struct TokenBucket<C: Clock> {
    capacity: u32,
    period: Duration,
    /// Tokens in the bucket as of `last`.
    tokens: u32,
    /// The clock's reading when `tokens` was last brought up to date.
    last: Duration,
    clock: C,
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 or `period` is zero: such a bucket is a configuration mistake.
    pub fn new(capacity: u32, period: Duration, clock: C) -> Self {
        assert!(
            capacity > 0,
            "a token bucket needs a capacity of at least 1"
        );
        assert!(
            !period.is_zero(),
            "a token bucket needs a non-zero refill period"
        );
        let last = clock.now();
        TokenBucket {
            capacity,
            period,
            tokens: capacity,
            last,
            clock,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How many tokens the bucket holds now (0 to `capacity`).
    pub fn available(&mut self) -> u32 {
        todo!("exercise 06 (a): see book chapter 06, Exercise")
    }

    /// How long until the bucket holds `n` tokens: `Duration::ZERO` if it holds them now.
    /// `Denied::TooMany` if `n` is more than the capacity. Takes nothing.
    pub fn time_until(&mut self, n: u32) -> Result<Duration, Denied> {
        todo!("exercise 06 (a): see book chapter 06, Exercise")
    }

    /// Takes `n` tokens if the bucket holds them and returns how many are left. Otherwise
    /// takes nothing and returns `Denied::Wait` with [`time_until`](Self::time_until)`(n)`,
    /// or `Denied::TooMany` if `n` is more than the capacity. `try_acquire(0)` always succeeds.
    pub fn try_acquire(&mut self, n: u32) -> Result<u32, Denied> {
        todo!("exercise 06 (a): see book chapter 06, Exercise")
    }
}
// ANCHOR_END: bucket

// ANCHOR: throttle
/// The knobs of [`LoginThrottle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures an account may have before it is locked at all.
    pub free_failures: u32,
    /// The lock after the first failure past the free ones; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lock.
    pub max_lockout: Duration,
    /// Failures one address may have, over all accounts, within `ip_window`.
    pub ip_limit: u32,
    pub ip_window: Duration,
}

/// Why a login attempt may not even be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refused {
    #[error("too many failures from this address: retry after {retry_after:?}")]
    Address { retry_after: Duration },
    #[error("this account is locked: retry after {retry_after:?}")]
    Account { retry_after: Duration },
}

#[derive(Debug, Clone, Default)]
struct AccountRecord {
    failures: u32,
    locked_until: Duration,
}

/// Counts failed logins per account and per address. Times are `Duration`s from a clock's
/// epoch, passed in by the caller; they never go backwards.
///
/// A login endpoint calls [`check`](Self::check) first, and checks the password only if it
/// passes; then [`record_failure`](Self::record_failure) or
/// [`record_success`](Self::record_success).
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    accounts: HashMap<String, AccountRecord>,
    /// Per address, the times of its failures within the window, oldest first.
    addresses: HashMap<IpAddr, VecDeque<Duration>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            accounts: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// May this attempt be checked at `now`?
    ///
    /// - The address first: if `ip` has `ip_limit` or more failures in the window
    ///   `(now - ip_window, now]` (a failure at exactly `now - ip_window` has left it),
    ///   `Refused::Address`, with `retry_after` the time until the oldest of them leaves.
    /// - Then the account: if it is locked after `now`, `Refused::Account` with the time left.
    ///
    /// Account names are compared after trimming whitespace and lower-casing: `" Ada"` and
    /// `"ada"` are one account.
    pub fn check(&mut self, account: &str, ip: IpAddr, now: Duration) -> Result<(), Refused> {
        todo!("exercise 06 (b): see book chapter 06, Exercise")
    }

    /// A failed login at `now`: counts against `ip` and against `account`.
    ///
    /// The account's `free_failures` first failures cost nothing. Failure number
    /// `free_failures + k` (k = 1, 2, ...) locks the account until
    /// `now + base_lockout × 2^(k-1)`, capped at `max_lockout` (mind overflow: thousands of
    /// failures must give `max_lockout`, not a panic).
    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Duration) {
        todo!("exercise 06 (b): see book chapter 06, Exercise")
    }

    /// A successful login: the account's failures and lock are forgotten. The address's
    /// failures are not (one success in a spray must not wipe the slate).
    pub fn record_success(&mut self, account: &str) {
        todo!("exercise 06 (b): see book chapter 06, Exercise")
    }
}
// ANCHOR_END: throttle

// ANCHOR: schema
/// A table the query builder may read, and its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// Every table and column the builder knows: its allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub tables: &'static [Table],
}

/// The shop's readable tables.
pub const SHOP: Schema = Schema {
    tables: &[
        Table {
            name: "products",
            columns: &["id", "name", "category", "price_cents", "published"],
        },
        Table {
            name: "reviews",
            columns: &["id", "product_id", "rating", "body"],
        },
    ],
};

/// A value for a bind parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// Sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// Why a query could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    #[error("table {table} has no column {column:?}")]
    UnknownColumn { table: &'static str, column: String },
    #[error("limit must be 1 to {max}, not {got}", max = Select::MAX_LIMIT)]
    Limit { got: u32 },
}

/// SQL text and the values for its `$1`, `$2`, ... placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub sql: String,
    pub binds: Vec<Value>,
}

/// A condition of the `WHERE` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Eq(&'static str, Value),
    Contains(&'static str, String),
}

/// A `SELECT` on one table, built step by step. Each step checks its input and returns a
/// `Result`, so a chain reads `Select::from(&SHOP, "products")?.column("name")?...`.
#[derive(Debug, Clone)]
pub struct Select {
    table: &'static Table,
    columns: Vec<&'static str>,
    filters: Vec<Filter>,
    order: Option<(&'static str, Direction)>,
    limit: Option<u32>,
}
// ANCHOR_END: schema

// ANCHOR: builder
impl Select {
    pub const MAX_LIMIT: u32 = 100;

    /// Starts a query on `table`, which must be one of `schema`'s tables (exact, case-sensitive
    /// match), else `QueryError::UnknownTable` with the name as given.
    pub fn from(schema: &Schema, table: &str) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// Adds `column` to the selected columns, in call order. Like every method taking a column
    /// name, it accepts only a column of this query's table (exact match), else
    /// `QueryError::UnknownColumn`; and what ends up in the SQL is the schema's own
    /// `&'static str`, never the caller's string.
    pub fn column(self, column: &str) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// Adds the condition `"column" = $n`, with `value` as bind parameter `n`.
    pub fn filter_eq(self, column: &str, value: impl Into<Value>) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// Adds the condition `"column" ILIKE $n ESCAPE '\'`, case-insensitive "contains": bind
    /// `n` is `%`, then `text` passed through [`escape_like`], then `%`.
    pub fn filter_contains(self, column: &str, text: &str) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// Sorts by `column`; a second call replaces the first.
    pub fn order_by(self, column: &str, direction: Direction) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// At most `limit` rows, 1 to [`MAX_LIMIT`](Self::MAX_LIMIT), else `QueryError::Limit`.
    pub fn limit(self, limit: u32) -> Result<Select, QueryError> {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }

    /// The SQL and its binds, in this exact shape (single spaces, no trailing space):
    ///
    /// ```text
    /// SELECT "id", "name" FROM "products" WHERE "category" = $1 AND "name" ILIKE $2 ESCAPE '\'
    ///     ORDER BY "price_cents" DESC LIMIT $3
    /// ```
    ///
    /// (one line, without the break). Every identifier is double-quoted. With no `column`
    /// calls, all the table's columns in schema order. Conditions in call order, joined with
    /// ` AND `; no `WHERE` without conditions. `LIMIT` is a bind too, the last one, as
    /// `Value::Int`. Placeholders are numbered from `$1` in the order the binds appear.
    pub fn build(self) -> Query {
        todo!("exercise 06 (c): see book chapter 06, Exercise")
    }
}

/// Escapes `text` for a LIKE pattern with `ESCAPE '\'`: each `\`, `%` and `_` gets a `\`
/// in front, so it matches itself instead of being a wildcard. `"50%_off"` becomes
/// `"50\%\_off"`.
pub fn escape_like(text: &str) -> String {
    todo!("exercise 06 (c): see book chapter 06, Exercise")
}
// ANCHOR_END: builder

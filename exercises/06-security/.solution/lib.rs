//! Exercise 06, security practices: a token bucket, a login throttle and a safe query builder.
//!
//! This is the reference solution. Read it after you have tried: `hints/` comes first.

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
/// Time comes from the clock `C`. Tokens are whole numbers and arrive at whole periods, so the
/// arithmetic is exact: over any stretch of time the bucket hands out at most
/// `capacity + elapsed / period` tokens.
#[derive(Debug)]
pub struct TokenBucket<C: Clock> {
    capacity: u32,
    period: Duration,
    /// Tokens in the bucket as of `last`.
    tokens: u32,
    /// When the tokens were last brought up to date: the moment the last counted token
    /// arrived (so a partly earned token is not lost), or the moment the bucket was full.
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

    /// Brings `tokens` and `last` up to date with the clock.
    fn refill(&mut self) -> Duration {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(self.last);
        let earned = elapsed.as_nanos() / self.period.as_nanos();
        if u128::from(self.tokens) + earned >= u128::from(self.capacity) {
            self.tokens = self.capacity;
            self.last = now;
        } else {
            // Both fit: earned < capacity - tokens <= u32::MAX.
            let earned = earned as u32;
            self.tokens += earned;
            self.last += self.period * earned;
        }
        now
    }

    /// How many tokens the bucket holds now.
    pub fn available(&mut self) -> u32 {
        self.refill();
        self.tokens
    }

    /// How long until the bucket holds `n` tokens: zero if it does now.
    pub fn time_until(&mut self, n: u32) -> Result<Duration, Denied> {
        if n > self.capacity {
            return Err(Denied::TooMany {
                requested: n,
                capacity: self.capacity,
            });
        }
        let now = self.refill();
        if self.tokens >= n {
            return Ok(Duration::ZERO);
        }
        let missing = n - self.tokens;
        Ok((self.last + self.period * missing).saturating_sub(now))
    }

    /// Takes `n` tokens if the bucket holds them, and returns how many are left.
    pub fn try_acquire(&mut self, n: u32) -> Result<u32, Denied> {
        match self.time_until(n)? {
            Duration::ZERO => {
                self.tokens -= n;
                Ok(self.tokens)
            }
            retry_after => Err(Denied::Wait { retry_after }),
        }
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
/// epoch, passed in by the caller.
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

    pub fn check(&mut self, account: &str, ip: IpAddr, now: Duration) -> Result<(), Refused> {
        let window = self.policy.ip_window;
        if let Some(failures) = self.addresses.get_mut(&ip) {
            while failures.front().is_some_and(|&at| at + window <= now) {
                failures.pop_front();
            }
            if failures.len() >= self.policy.ip_limit as usize
                && let Some(&oldest) = failures.front()
            {
                return Err(Refused::Address {
                    retry_after: oldest + window - now,
                });
            }
        }
        if let Some(record) = self.accounts.get(&account_key(account))
            && record.locked_until > now
        {
            return Err(Refused::Account {
                retry_after: record.locked_until - now,
            });
        }
        Ok(())
    }

    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Duration) {
        self.addresses.entry(ip).or_default().push_back(now);
        let record = self.accounts.entry(account_key(account)).or_default();
        record.failures = record.failures.saturating_add(1);
        if let Some(past_free) = record.failures.checked_sub(self.policy.free_failures + 1) {
            let lockout = 2u32
                .checked_pow(past_free)
                .and_then(|factor| self.policy.base_lockout.checked_mul(factor))
                .map_or(self.policy.max_lockout, |d| d.min(self.policy.max_lockout));
            record.locked_until = now + lockout;
        }
    }

    pub fn record_success(&mut self, account: &str) {
        self.accounts.remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
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

    pub fn from(schema: &Schema, table: &str) -> Result<Select, QueryError> {
        let table = schema
            .tables
            .iter()
            .find(|t| t.name == table)
            .ok_or_else(|| QueryError::UnknownTable(table.to_owned()))?;
        Ok(Select {
            table,
            columns: Vec::new(),
            filters: Vec::new(),
            order: None,
            limit: None,
        })
    }

    /// The schema's own copy of `column`: what goes into the SQL is never the caller's string.
    fn known(&self, column: &str) -> Result<&'static str, QueryError> {
        self.table
            .columns
            .iter()
            .copied()
            .find(|&c| c == column)
            .ok_or_else(|| QueryError::UnknownColumn {
                table: self.table.name,
                column: column.to_owned(),
            })
    }

    pub fn column(mut self, column: &str) -> Result<Select, QueryError> {
        let column = self.known(column)?;
        self.columns.push(column);
        Ok(self)
    }

    pub fn filter_eq(
        mut self,
        column: &str,
        value: impl Into<Value>,
    ) -> Result<Select, QueryError> {
        let column = self.known(column)?;
        self.filters.push(Filter::Eq(column, value.into()));
        Ok(self)
    }

    pub fn filter_contains(mut self, column: &str, text: &str) -> Result<Select, QueryError> {
        let column = self.known(column)?;
        self.filters.push(Filter::Contains(column, text.to_owned()));
        Ok(self)
    }

    pub fn order_by(mut self, column: &str, direction: Direction) -> Result<Select, QueryError> {
        let column = self.known(column)?;
        self.order = Some((column, direction));
        Ok(self)
    }

    pub fn limit(mut self, limit: u32) -> Result<Select, QueryError> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(QueryError::Limit { got: limit });
        }
        self.limit = Some(limit);
        Ok(self)
    }

    pub fn build(self) -> Query {
        let mut binds = Vec::new();
        let columns = if self.columns.is_empty() {
            self.table.columns
        } else {
            &self.columns[..]
        };
        let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let mut sql = format!("SELECT {} FROM {}", list.join(", "), quote(self.table.name));
        let mut conditions = Vec::new();
        for filter in self.filters {
            match filter {
                Filter::Eq(column, value) => {
                    binds.push(value);
                    conditions.push(format!("{} = ${}", quote(column), binds.len()));
                }
                Filter::Contains(column, text) => {
                    binds.push(Value::Text(format!("%{}%", escape_like(&text))));
                    conditions.push(format!(
                        "{} ILIKE ${} ESCAPE '\\'",
                        quote(column),
                        binds.len()
                    ));
                }
            }
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let Some((column, direction)) = self.order {
            let direction = match direction {
                Direction::Asc => "ASC",
                Direction::Desc => "DESC",
            };
            sql.push_str(&format!(" ORDER BY {} {direction}", quote(column)));
        }
        if let Some(limit) = self.limit {
            binds.push(Value::Int(i64::from(limit)));
            sql.push_str(&format!(" LIMIT ${}", binds.len()));
        }
        Query { sql, binds }
    }
}

/// `"name"`: quoted, so a column called `order` or `user` is still a column.
fn quote(identifier: &str) -> String {
    format!("\"{identifier}\"")
}

/// Escapes `text` for a LIKE pattern with `ESCAPE '\'`: `\`, `%` and `_`, in that order.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
// ANCHOR_END: builder

//! Read/write splitting on a streaming replica: writes go to the primary, reads may go to a
//! standby that replays the primary's WAL a little later. "A little later" is the whole
//! problem: a user who has just written and reads from the replica may not see their own
//! write. Two fixes, both per session:
//!
//! - [`Policy::PrimaryWindow`]: for a short window after one's own write, read from the
//!   primary. Simple, and wrong only when the replica lags longer than the window.
//! - [`Policy::WaitForLsn`]: remember the WAL position (LSN) of one's own commit, and before
//!   reading from the replica wait until it has replayed that far (bounded; past the bound,
//!   read from the primary). Exact, at the price of the wait.
//!
//! [`Lsn`] reads PostgreSQL's `pg_lsn` text (`16/B374D848`), so positions compare in Rust.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use thiserror::Error;

// ANCHOR: lsn
/// A position in the write-ahead log: PostgreSQL's `pg_lsn`, printed as two hexadecimal
/// halves (`16/B374D848`, the high and low 32 bits of a byte offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// Text that is not a `pg_lsn`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a WAL position (expected two hexadecimal halves, like 0/16B3748)")]
pub struct BadLsn(pub String);

impl FromStr for Lsn {
    type Err = BadLsn;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadLsn(text.to_owned());
        let (high, low) = text.trim().split_once('/').ok_or_else(bad)?;
        let half = |h: &str| {
            if h.is_empty() || h.len() > 8 {
                return Err(bad());
            }
            u32::from_str_radix(h, 16).map_err(|_| bad())
        };
        Ok(Lsn((u64::from(half(high)?) << 32) | u64::from(half(low)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}
// ANCHOR_END: lsn

/// Why a read or an LSN query failed.
#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("a query failed")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Lsn(#[from] BadLsn),
    #[error("the server returned no WAL position (is it a standby, and still in recovery?)")]
    NoPosition,
}

// ANCHOR: positions
/// The primary's WAL position right after a commit: everything committed so far is at or
/// before it.
pub async fn primary_lsn(primary: &PgPool) -> Result<Lsn, ReplicaError> {
    let text: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(primary)
        .await?;
    Ok(text.parse()?)
}

/// How far the replica has replayed the primary's WAL.
pub async fn replay_lsn(replica: &PgPool) -> Result<Lsn, ReplicaError> {
    let text: Option<String> = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn()::text")
        .fetch_one(replica)
        .await?;
    Ok(text.ok_or(ReplicaError::NoPosition)?.parse()?)
}

/// Waits, polling every `poll`, until the replica has replayed up to `target`, for at most
/// `limit`. `Some(waited)` when it got there, `None` when the limit passed first.
pub async fn wait_for_replay(
    replica: &PgPool,
    target: Lsn,
    limit: Duration,
    poll: Duration,
) -> Result<Option<Duration>, ReplicaError> {
    let started = Instant::now();
    loop {
        if replay_lsn(replica).await? >= target {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() >= limit {
            return Ok(None);
        }
        tokio::time::sleep(poll).await;
    }
}
// ANCHOR_END: positions

// ANCHOR: router
/// Where a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

/// How a router keeps a session's reads consistent with its own writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Every read goes to the replica: fast, and blind to one's own latest write.
    Naive,
    /// Reads within this long of the session's last write go to the primary.
    PrimaryWindow(Duration),
    /// Reads wait (at most this long) for the replica to replay the session's last commit,
    /// and go to the primary when it has not by then.
    WaitForLsn(Duration),
}

/// What a session remembers of its last write: when, and the primary's LSN after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    pub last_write: Option<(Instant, Lsn)>,
}

/// For [`Policy::PrimaryWindow`]: the primary while `now` is within `window` of the last
/// write, else the replica.
pub fn by_window(last_write: Option<Instant>, now: Instant, window: Duration) -> Target {
    match last_write {
        Some(at) if now.saturating_duration_since(at) < window => Target::Primary,
        _ => Target::Replica,
    }
}

/// Sends writes to the primary and reads where its [`Policy`] says.
#[derive(Debug, Clone)]
pub struct Router {
    pub primary: PgPool,
    pub replica: PgPool,
    pub policy: Policy,
}

impl Router {
    /// Records a write the session has just committed (on the primary).
    pub async fn wrote(&self, session: &mut Session) -> Result<(), ReplicaError> {
        let lsn = primary_lsn(&self.primary).await?;
        session.last_write = Some((Instant::now(), lsn));
        Ok(())
    }

    /// The pool the session's next read goes to, and which one it is.
    pub async fn reader(&self, session: &Session) -> Result<(Target, &PgPool), ReplicaError> {
        let target = match (self.policy, session.last_write) {
            (Policy::Naive, _) | (_, None) => Target::Replica,
            (Policy::PrimaryWindow(window), Some((at, _))) => {
                by_window(Some(at), Instant::now(), window)
            }
            (Policy::WaitForLsn(limit), Some((_, lsn))) => {
                let poll = Duration::from_micros(200);
                match wait_for_replay(&self.replica, lsn, limit, poll).await? {
                    Some(_) => Target::Replica,
                    None => Target::Primary,
                }
            }
        };
        let pool = match target {
            Target::Primary => &self.primary,
            Target::Replica => &self.replica,
        };
        Ok((target, pool))
    }
}
// ANCHOR_END: router

/// SQLSTATE 25006, `read_only_sql_transaction`: what a standby answers to a write.
pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// Is this the standby's refusal of a write?
pub fn is_read_only_refusal(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == READ_ONLY_SQL_TRANSACTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_read_and_print_as_postgres_writes_them() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn, Lsn((0x16 << 32) | 0xB374_D848));
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>(), Ok(Lsn(0)));
        assert_eq!(" 0/3000148\n".parse::<Lsn>(), Ok(Lsn(0x300_0148)));
    }

    #[test]
    fn lsns_compare_by_position_not_by_text() {
        // As text "0/9000000" > "0/10000000"; as positions it is the other way round.
        let a: Lsn = "0/9000000".parse().unwrap();
        let b: Lsn = "0/10000000".parse().unwrap();
        let c: Lsn = "1/0".parse().unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn what_is_not_an_lsn_is_refused() {
        for text in ["", "0", "/1", "1/", "0/G", "0/123456789", "-1/0", "0/1/2"] {
            assert!(text.parse::<Lsn>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn the_window_sends_reads_to_the_primary_only_right_after_a_write() {
        let now = Instant::now();
        let window = Duration::from_millis(500);
        assert_eq!(by_window(None, now, window), Target::Replica);
        assert_eq!(by_window(Some(now), now, window), Target::Primary);
        let earlier = now.checked_sub(Duration::from_millis(499)).unwrap_or(now);
        assert_eq!(by_window(Some(earlier), now, window), Target::Primary);
        if let Some(long_ago) = now.checked_sub(Duration::from_secs(1)) {
            assert_eq!(by_window(Some(long_ago), now, window), Target::Replica);
        }
    }
}

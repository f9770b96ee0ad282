//! The reaper: gives back the stock of reservations nobody committed or released in time.
//!
//! A checkout that crashes between "reserve" and "commit" would otherwise hold its units
//! forever. Every `every`, the reaper expires the held reservations that are due, in batches
//! (a long backlog is worked off batch after batch, each a short transaction), and stops when
//! its shutdown token is cancelled. A failed round is logged and tried again next time: the
//! reservations stay due, nothing is lost by waiting.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Reservations expired per transaction: enough to clear a backlog quickly, few enough that
/// each transaction holds its row locks for milliseconds.
pub const BATCH: u32 = 500;

// ANCHOR: reaper
/// Expires due reservations every `every` until `shutdown` is cancelled.
pub async fn run(store: Store, every: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    // After a slow round, wait a full interval again rather than firing the missed ticks in a
    // burst against a database that was just slow.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // A round is not interrupted by shutdown: each batch is one short transaction, and
        // finishing it is quicker than explaining a rolled-back one.
        match reap(&store).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "released the stock of expired reservations"),
            Err(error) => tracing::warn!(error = %error, "reaper round failed; will retry"),
        }
    }
    tracing::debug!("reaper stopped");
}
// ANCHOR_END: reaper

/// One round: batches until one comes back short. Returns how many reservations expired.
async fn reap(store: &Store) -> Result<u64, crate::store::StoreError> {
    let mut total = 0;
    loop {
        let expired = store.expire_due(OffsetDateTime::now_utc(), BATCH).await?;
        total += expired;
        if expired < u64::from(BATCH) {
            return Ok(total);
        }
    }
}

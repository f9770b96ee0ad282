//! Channels: a "price desk" task that owns the current price list. Others talk to it over
//! `mpsc` (commands), get answers over `oneshot` (one reply per request), and hear about every
//! change over `broadcast` (one message, every subscriber gets a copy).
//!
//! Step 3 of `cargo run -p lesson-01`.

use std::collections::HashMap;

use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::price::{Price, Sku};

/// A change to the price list, as broadcast to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceUpdate {
    pub sku: Sku,
    pub old: Option<Price>,
    pub new: Price,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeskError {
    #[error("the price desk has shut down")]
    Closed,
}

// ANCHOR: actor
enum Command {
    Update {
        sku: Sku,
        price: Price,
    },
    // The request carries the sending half of its own reply channel.
    Lookup {
        sku: Sku,
        reply: oneshot::Sender<Option<Price>>,
    },
}

/// The way to talk to the desk. Cheap to clone: every clone is another sender on the same
/// queue, and the desk stops when the last one is dropped (or on shutdown).
#[derive(Debug, Clone)]
pub struct DeskHandle {
    commands: mpsc::Sender<Command>,
}

impl DeskHandle {
    pub async fn update(&self, sku: Sku, price: Price) -> Result<(), DeskError> {
        let command = Command::Update { sku, price };
        self.commands
            .send(command)
            .await
            .map_err(|_| DeskError::Closed)
    }

    // ANCHOR: lookup
    /// Request/response over channels: send the question with a fresh `oneshot` sender, then
    /// await the one answer on its receiver.
    pub async fn lookup(&self, sku: Sku) -> Result<Option<Price>, DeskError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Lookup { sku, reply };
        self.commands
            .send(command)
            .await
            .map_err(|_| DeskError::Closed)?;
        // Err here means the desk dropped `reply` without answering: it shut down meanwhile.
        answer.await.map_err(|_| DeskError::Closed)
    }
    // ANCHOR_END: lookup
}

// ANCHOR: desk_loop
/// The desk's loop. It alone owns `prices`, so there is no lock: the other tasks can only send
/// it messages.
async fn run_desk(
    mut commands: mpsc::Receiver<Command>,
    updates: broadcast::Sender<PriceUpdate>,
    shutdown: CancellationToken,
) -> usize {
    let mut prices: HashMap<Sku, Price> = HashMap::new();
    let mut handled = 0;
    loop {
        // Shutdown first, so a cancelled desk never takes one more command.
        let command = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            command = commands.recv() => match command {
                Some(command) => command,
                None => break, // every handle was dropped
            },
        };
        handled += 1;
        match command {
            Command::Update { sku, price } => {
                let old = prices.insert(sku.clone(), price);
                // `send` fails only when nobody is subscribed, which is fine for a feed.
                let _ = updates.send(PriceUpdate {
                    sku,
                    old,
                    new: price,
                });
            }
            Command::Lookup { sku, reply } => {
                // The asker may have given up (dropped its receiver); nothing to do then.
                let _ = reply.send(prices.get(&sku).copied());
            }
        }
    }
    // Returning drops `updates`: subscribers read what is left in their buffer, then see
    // `Closed`. Shutdown propagates by dropping.
    handled
}
// ANCHOR_END: desk_loop
// ANCHOR_END: actor

/// A running desk: a handle to send commands, the task to join, and a way to subscribe.
#[derive(Debug)]
pub struct Desk {
    pub handle: DeskHandle,
    pub task: JoinHandle<usize>,
    // Kept only to create more receivers; `broadcast` receivers cannot be made from thin air.
    updates: broadcast::Receiver<PriceUpdate>,
}

// ANCHOR: desk_spawn
impl Desk {
    pub fn spawn(shutdown: CancellationToken) -> Self {
        // Bounded queues both: a flood of commands waits for the desk instead of piling up.
        let (commands_tx, commands_rx) = mpsc::channel(32);
        let (updates_tx, updates) = broadcast::channel(64);
        let task = tokio::spawn(run_desk(commands_rx, updates_tx, shutdown));
        Self {
            handle: DeskHandle {
                commands: commands_tx,
            },
            task,
            updates,
        }
    }

    /// A new subscriber sees every update sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PriceUpdate> {
        self.updates.resubscribe()
    }
}
// ANCHOR_END: desk_spawn

/// What one subscriber received before the feed closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub updates: Vec<PriceUpdate>,
    /// `broadcast` never blocks the sender: a subscriber that falls more than the channel's
    /// capacity behind loses the oldest messages and is told how many (`Lagged`).
    pub missed: u64,
}

pub async fn collect_updates(mut feed: broadcast::Receiver<PriceUpdate>) -> Received {
    let mut received = Received::default();
    loop {
        match feed.recv().await {
            Ok(update) => received.updates.push(update),
            Err(broadcast::error::RecvError::Lagged(missed)) => received.missed += missed,
            Err(broadcast::error::RecvError::Closed) => return received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(c: u64) -> Price {
        Price::from_cents(c)
    }

    #[tokio::test]
    async fn lookups_see_the_latest_update() {
        let shutdown = CancellationToken::new();
        let desk = Desk::spawn(shutdown.clone());
        let sku = Sku::numbered(1);
        assert_eq!(desk.handle.lookup(sku.clone()).await, Ok(None));
        desk.handle.update(sku.clone(), cents(100)).await.unwrap();
        desk.handle.update(sku.clone(), cents(90)).await.unwrap();
        assert_eq!(desk.handle.lookup(sku).await, Ok(Some(cents(90))));
        shutdown.cancel();
        assert_eq!(desk.task.await.unwrap(), 4);
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_update_and_stops_at_shutdown() {
        let shutdown = CancellationToken::new();
        let desk = Desk::spawn(shutdown.clone());
        let subscribers =
            [desk.subscribe(), desk.subscribe()].map(|feed| tokio::spawn(collect_updates(feed)));
        let (a, b) = (Sku::numbered(1), Sku::numbered(2));
        desk.handle.update(a.clone(), cents(100)).await.unwrap();
        desk.handle.update(b.clone(), cents(200)).await.unwrap();
        desk.handle.update(a.clone(), cents(90)).await.unwrap();
        // Every command sent before a lookup is handled before it: the queue is FIFO.
        desk.handle.lookup(a.clone()).await.unwrap();
        shutdown.cancel();

        let expected = vec![
            PriceUpdate {
                sku: a.clone(),
                old: None,
                new: cents(100),
            },
            PriceUpdate {
                sku: b,
                old: None,
                new: cents(200),
            },
            PriceUpdate {
                sku: a.clone(),
                old: Some(cents(100)),
                new: cents(90),
            },
        ];
        for subscriber in subscribers {
            let received = subscriber.await.unwrap();
            assert_eq!(
                received,
                Received {
                    updates: expected.clone(),
                    missed: 0
                }
            );
        }
        assert_eq!(desk.handle.lookup(a).await, Err(DeskError::Closed));
    }
}

//! Invalidation fanned out to every process over Redis pub/sub.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use crate::Redis;

/// What a local tier does when told: drop this key, or (`None`) drop everything, after the
/// subscription was lost and messages may have been missed.
pub(crate) type Listener = Arc<dyn Fn(Option<String>) -> BoxFuture<'static, ()> + Send + Sync>;

/// The channel, under the deployment's prefix, that every key to forget is published on.
pub const CHANNEL: &str = "cache:invalidate";

/// The longest pause between two attempts to resubscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One subscription per process, shared by every [`crate::TwoTier`] of it. Cloning is cheap.
#[derive(Clone)]
pub struct Invalidations {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Option<Redis>,
    /// Stops the subscriber when the last handle is dropped.
    _stop: tokio_util::sync::DropGuard,
    listeners: RwLock<Vec<(String, Listener)>>,
    subscribed: AtomicBool,
    received: AtomicU64,
}

impl Invalidations {
    /// Subscribes (in a task that lives until `shutdown`, or until the last handle is
    /// dropped) and resubscribes after every loss, each time telling every local tier to empty
    /// itself. Without Redis there is nothing to subscribe to: invalidations then reach this
    /// process only. Call it inside a tokio runtime.
    pub fn start(redis: Option<Redis>, shutdown: CancellationToken) -> Invalidations {
        let stop = shutdown.child_token();
        let inner = Arc::new(Inner {
            redis,
            _stop: stop.clone().drop_guard(),
            listeners: RwLock::new(Vec::new()),
            subscribed: AtomicBool::new(false),
            received: AtomicU64::new(0),
        });
        if let Some(redis) = inner.redis.clone() {
            tokio::spawn(listen(Arc::downgrade(&inner), redis, stop));
        }
        Invalidations { inner }
    }

    // ANCHOR: publish
    /// Tells every process, this one included, to forget `key` (a full key such as
    /// `product:v1:42`, without the deployment's prefix). This process forgets it at once,
    /// whether or not Redis answers.
    pub async fn publish(&self, key: &str) {
        self.inner.dispatch(Some(key)).await;
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let mut connection = redis.connection();
        let published: redis::RedisResult<i64> = connection.publish(redis.key(CHANNEL), key).await;
        if let Err(error) = published {
            // The other processes keep their copy until its local TTL ends: the stated bound.
            tracing::warn!(%error, key, "could not publish a cache invalidation");
        }
    }
    // ANCHOR_END: publish

    /// Is the subscription up? (Tests wait for it before they change anything.)
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Acquire)
    }

    /// How many invalidations arrived over the channel (this process's own included).
    pub fn received(&self) -> u64 {
        self.inner.received.load(Ordering::Relaxed)
    }

    /// Calls `forget` for every key under `prefix` published from now on, and with `None` when
    /// everything must go.
    pub(crate) fn register(&self, prefix: String, forget: Listener) {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((prefix, forget));
    }
}

impl Inner {
    async fn dispatch(&self, key: Option<&str>) {
        // The lock is not held across the awaits below: clone the listeners that apply.
        let forgets: Vec<Listener> = self
            .listeners
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(prefix, _)| key.is_none_or(|key| key.starts_with(prefix.as_str())))
            .map(|(_, forget)| forget.clone())
            .collect();
        for forget in forgets {
            forget(key.map(str::to_owned)).await;
        }
    }
}

/// The subscriber: holds only a weak reference, so dropping the last [`Invalidations`] ends it
/// as surely as `shutdown` does.
async fn listen(inner: std::sync::Weak<Inner>, redis: Redis, shutdown: CancellationToken) {
    let channel = redis.key(CHANNEL);
    let mut backoff = Duration::from_millis(50);
    loop {
        let subscribed = async {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return,
            attempt = tokio::time::timeout(Duration::from_secs(2), subscribed) => attempt,
        };
        match attempt {
            Ok(Ok(mut messages)) => {
                // ANCHOR: resubscribe
                let Some(live) = inner.upgrade() else { return };
                // Whatever was published while we were not listening is lost: start afresh.
                live.dispatch(None).await;
                live.subscribed.store(true, Ordering::Release);
                // ANCHOR_END: resubscribe
                drop(live);
                tracing::debug!(%channel, "subscribed to cache invalidations");
                backoff = Duration::from_millis(50);
                loop {
                    let message = tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = messages.next() => message,
                    };
                    let Some(live) = inner.upgrade() else { return };
                    let Some(message) = message else {
                        live.subscribed.store(false, Ordering::Release);
                        tracing::warn!("lost the cache invalidation subscription; resubscribing");
                        break;
                    };
                    live.received.fetch_add(1, Ordering::Relaxed);
                    match message.get_payload::<String>() {
                        Ok(key) => live.dispatch(Some(&key)).await,
                        Err(error) => tracing::warn!(%error, "an invalidation that is not a key"),
                    }
                }
            }
            Ok(Err(error)) => tracing::debug!(%error, "cannot subscribe to cache invalidations"),
            Err(_) => tracing::debug!("subscribing to cache invalidations timed out"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

//! SMS and push behind provider traits, with a sandbox that logs instead of sending.
//!
//! A real provider (an SMS gateway, a push service) is an HTTP API with an account, and its
//! own store of phone numbers or device tokens registered by the shop's apps: the shop
//! addresses a customer by id and the provider knows where that customer's phone is. The
//! traits say exactly that. [`Sandbox`] is what a provider's sandbox mode does: it accepts,
//! logs one line, and keeps the message where a test can read it, with no phone involved.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use shop_domain::UserId;

use crate::mail::BoxFuture;

/// Why a provider did not take a message.
#[derive(Debug, thiserror::Error)]
#[error("{provider} did not take the message: {reason}")]
pub struct ProviderError {
    pub provider: &'static str,
    pub reason: String,
}

/// Sends a short text to a customer's phone.
pub trait SmsProvider: Send + Sync + std::fmt::Debug {
    fn send_sms(&self, to: UserId, text: &str) -> BoxFuture<'_, Result<(), ProviderError>>;
}

/// Shows a notification on a customer's devices.
pub trait PushProvider: Send + Sync + std::fmt::Debug {
    fn send_push(
        &self,
        to: UserId,
        title: &str,
        body: &str,
    ) -> BoxFuture<'_, Result<(), ProviderError>>;
}

/// What the sandbox was asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Sms {
        to: UserId,
        text: String,
    },
    Push {
        to: UserId,
        title: String,
        body: String,
    },
}

/// The sandbox provider for both: logs each message at INFO and keeps the last ones. Cheap to
/// clone; clones share what was kept.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    sent: Arc<Mutex<VecDeque<Sent>>>,
}

/// How many messages the sandbox keeps.
const KEPT: usize = 1_024;

impl Sandbox {
    /// Everything kept, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.iter().cloned().collect()
    }

    fn keep(&self, message: Sent) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        if sent.len() == KEPT {
            sent.pop_front();
        }
        sent.push_back(message);
    }
}

impl SmsProvider for Sandbox {
    fn send_sms(&self, to: UserId, text: &str) -> BoxFuture<'_, Result<(), ProviderError>> {
        // Who and how long, never the text: the log is not where a customer's messages belong.
        tracing::info!(user.id = %to, chars = text.chars().count(), "sandbox SMS sent");
        self.keep(Sent::Sms {
            to,
            text: text.to_owned(),
        });
        Box::pin(async { Ok(()) })
    }
}

impl PushProvider for Sandbox {
    fn send_push(
        &self,
        to: UserId,
        title: &str,
        body: &str,
    ) -> BoxFuture<'_, Result<(), ProviderError>> {
        tracing::info!(user.id = %to, title, "sandbox push sent");
        self.keep(Sent::Push {
            to,
            title: title.to_owned(),
            body: body.to_owned(),
        });
        Box::pin(async { Ok(()) })
    }
}

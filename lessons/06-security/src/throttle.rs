//! Brute-force protection for a login endpoint: failures are counted per account *and* per
//! client address, and each count has its own brake.
//!
//! Per account, failures past a few free ones cost an exponentially growing wait: a person
//! who mistypes twice never notices, a script guessing one account's password gets a handful
//! of guesses an hour. Per address, a sliding window caps failures across *all* accounts:
//! credential stuffing (one leaked password per account, thousands of accounts) never fails
//! twice on one account, and only the per-address count sees it. `tests/limits.rs` drives both
//! with tokio's paused clock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::client_ip::client_ip;
use crate::lab::LabState;
use crate::problem::refusal;
use crate::ratelimit::{SlidingWindow, too_many_requests};

/// The knobs of [`LoginThrottle`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottlePolicy {
    /// Failures an account may have before any wait.
    pub free_failures: u32,
    /// The wait after the first failure past the free ones; it doubles with each further one.
    pub base_delay: Duration,
    /// The longest wait. A cap keeps a locked-out legitimate user's wait bearable, and keeps
    /// an attacker from locking a victim out for days on purpose.
    pub max_delay: Duration,
    /// Failures one address may have, across all accounts, within `ip_window`.
    pub ip_failures: u32,
    pub ip_window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            ip_failures: 10,
            ip_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Which brake stopped a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
}

/// A login attempt that must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub scope: Scope,
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Default)]
struct AccountFailures {
    count: u32,
    locked_until: Option<Instant>,
}

// ANCHOR: throttle
/// Failure counts per account and per address.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    accounts: HashMap<String, AccountFailures>,
    addresses: HashMap<IpAddr, SlidingWindow>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            accounts: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// Asked *before* the password is checked: a throttled attempt is not checked at all, so it
    /// teaches the attacker nothing, not even through its timing.
    pub fn check(&mut self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Throttled> {
        if let Some(window) = self.addresses.get_mut(&ip)
            && let Err(retry_after) = window.check(now)
        {
            return Err(Throttled {
                scope: Scope::Address,
                retry_after,
            });
        }
        if let Some(until) = self
            .accounts
            .get(&key(account))
            .and_then(|a| a.locked_until)
            && until > now
        {
            return Err(Throttled {
                scope: Scope::Account,
                retry_after: until - now,
            });
        }
        Ok(())
    }

    /// A wrong password: count it against the account and the address.
    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Instant) {
        let policy = &self.policy;
        self.addresses
            .entry(ip)
            .or_insert_with(|| SlidingWindow::new(policy.ip_failures, policy.ip_window, now))
            .record(now);
        let failures = self.accounts.entry(key(account)).or_default();
        failures.count += 1;
        if let Some(past_free) = failures.count.checked_sub(policy.free_failures + 1) {
            // 1 s, 2 s, 4 s, ... capped; `checked_pow` keeps a huge count from overflowing.
            let delay = 2u32
                .checked_pow(past_free)
                .and_then(|factor| policy.base_delay.checked_mul(factor))
                .map_or(policy.max_delay, |delay| delay.min(policy.max_delay));
            failures.locked_until = Some(now + delay);
        }
    }

    /// A correct password: the account starts over. The address's failures stay counted: one
    /// success in a spray of thousands must not wipe the slate.
    pub fn record_success(&mut self, account: &str) {
        self.accounts.remove(&key(account));
    }
}

/// `Ada` and `ada ` are the same account; without this, case variants multiply the guesses.
fn key(account: &str) -> String {
    account.trim().to_lowercase()
}
// ANCHOR_END: throttle

/// The accounts the lab's login knows.
///
/// NOT how to store passwords: this keeps an unsalted SHA-256, which a GPU tries billions of
/// times a second, so that the brute-force demo runs fast. Lesson 04 stores argon2id hashes,
/// deliberately slow, which is a second brake on exactly the attack this module throttles.
#[derive(Debug, Clone)]
pub struct DemoAccounts(Arc<HashMap<String, [u8; 32]>>);

impl DemoAccounts {
    pub fn new<'a>(accounts: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let digests = accounts
            .into_iter()
            .map(|(user, password)| (key(user), Sha256::digest(password.as_bytes()).into()))
            .collect();
        DemoAccounts(Arc::new(digests))
    }

    /// True if `password` is `user`'s. An unknown user costs the same work as a known one, so
    /// the answer's timing does not say which user names exist.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        match self.0.get(&key(user)) {
            Some(stored) => stored.ct_eq(&given).into(),
            None => {
                let _ = [0u8; 32].ct_eq(&given);
                false
            }
        }
    }
}

/// The lab's throttle, shared by requests.
pub type SharedThrottle = Arc<Mutex<LoginThrottle>>;

#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

// ANCHOR: login
/// `POST /login`: throttle, then check, then record.
pub async fn login(
    State(state): State<LabState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Response {
    let ip = client_ip(peer, &headers, &state.trusted_proxies);
    let now = Instant::now();
    // The lock is held for map updates only, never across an .await.
    let throttled = state.throttle(|t| t.check(&credentials.user, ip, now));
    if let Err(throttled) = throttled {
        let detail = match throttled.scope {
            Scope::Account => "too many failed logins for this account: try again later",
            Scope::Address => "too many failed logins from your address: try again later",
        };
        return too_many_requests(throttled.retry_after, detail);
    }
    if state
        .accounts
        .verify(&credentials.user, &credentials.password)
    {
        state.throttle(|t| t.record_success(&credentials.user));
        Json(serde_json::json!({ "user": key(&credentials.user) })).into_response()
    } else {
        state.throttle(|t| t.record_failure(&credentials.user, ip, now));
        // One message for "no such user" and "wrong password": the difference is worth a lot
        // to someone building a list of accounts to attack.
        refusal(StatusCode::UNAUTHORIZED, "wrong user name or password").into_response()
    }
}
// ANCHOR_END: login

impl LabState {
    fn throttle<T>(&self, f: impl FnOnce(&mut LoginThrottle) -> T) -> T {
        f(&mut self.throttle.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

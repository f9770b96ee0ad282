//! A fake payment provider, in process: authorise an amount on a card, capture it later or void
//! it. It behaves like a sandbox provider: every card is good except the test card
//! [`DECLINED_CARD`], which is declined, as the real sandboxes do with their own test numbers.
//!
//! What this module shows: the shape of a payment step in a saga. An *authorisation* holds the
//! money without moving it, so the step has a cheap, certain undo (void); *capture* moves it
//! and comes only once nothing else can fail.
//!
//! Tests: `cargo test -p lesson-08 payments`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use shop_domain::Money;
use thiserror::Error;

/// The card the fake provider declines.
pub const DECLINED_CARD: &str = "4000 0000 0000 0002";

/// An authorisation's reference, as the provider issues them (`auth_0001`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuthorisationId(u32);

impl fmt::Display for AuthorisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "auth_{:04}", self.0)
    }
}

/// Where an authorisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorisationState {
    /// The money is held on the card.
    Authorised,
    /// The money moved to the shop.
    Captured,
    /// The hold was lifted; nothing moved.
    Voided,
}

impl AuthorisationState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationState::Authorised => "authorised",
            AuthorisationState::Captured => "captured",
            AuthorisationState::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    #[error("card ending {last4} declined")]
    Declined { last4: String },
    #[error("no authorisation {0}")]
    UnknownAuthorisation(AuthorisationId),
    #[error("authorisation {id} is {state:?}, it cannot be {wanted}")]
    WrongState {
        id: AuthorisationId,
        state: AuthorisationState,
        wanted: &'static str,
    },
}

#[derive(Debug, Default)]
struct Ledger {
    next: u32,
    authorisations: BTreeMap<AuthorisationId, (Money, AuthorisationState)>,
}

/// The provider: a ledger of authorisations.
#[derive(Debug, Default)]
pub struct FakePayments {
    ledger: Mutex<Ledger>,
}

fn last4(card: &str) -> String {
    let digits: Vec<char> = card.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

impl FakePayments {
    pub fn new() -> FakePayments {
        FakePayments::default()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // Plain data, updated in one statement each: a panic elsewhere cannot leave it torn.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `amount` on `card`. Async like the remote call it stands for.
    pub async fn authorise(
        &self,
        card: &str,
        amount: Money,
    ) -> Result<AuthorisationId, PaymentError> {
        let digits: String = card.chars().filter(char::is_ascii_digit).collect();
        if digits == DECLINED_CARD.replace(' ', "") {
            return Err(PaymentError::Declined { last4: last4(card) });
        }
        let mut ledger = self.ledger();
        ledger.next += 1;
        let id = AuthorisationId(ledger.next);
        ledger
            .authorisations
            .insert(id, (amount, AuthorisationState::Authorised));
        Ok(id)
    }

    /// Moves the held money; capturing twice is the same as once.
    pub async fn capture(&self, id: AuthorisationId) -> Result<Money, PaymentError> {
        self.transition(id, AuthorisationState::Captured, "captured")
    }

    /// Lifts the hold; voiding twice is the same as once.
    pub async fn void(&self, id: AuthorisationId) -> Result<(), PaymentError> {
        self.transition(id, AuthorisationState::Voided, "voided")
            .map(|_| ())
    }

    pub fn state(&self, id: AuthorisationId) -> Option<AuthorisationState> {
        self.ledger()
            .authorisations
            .get(&id)
            .map(|&(_, state)| state)
    }

    fn transition(
        &self,
        id: AuthorisationId,
        to: AuthorisationState,
        wanted: &'static str,
    ) -> Result<Money, PaymentError> {
        let mut ledger = self.ledger();
        let (amount, state) = ledger
            .authorisations
            .get_mut(&id)
            .ok_or(PaymentError::UnknownAuthorisation(id))?;
        match *state {
            AuthorisationState::Authorised => *state = to,
            // Idempotent: a retried capture or void finds its own work done.
            same if same == to => {}
            other => {
                return Err(PaymentError::WrongState {
                    id,
                    state: other,
                    wanted,
                });
            }
        }
        Ok(*amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_domain::Currency;

    const TEN_EUROS: Money = Money::from_minor(1_000, Currency::Eur);

    #[tokio::test]
    async fn the_test_card_is_declined_and_others_are_authorised() {
        let payments = FakePayments::new();
        let declined = payments.authorise(DECLINED_CARD, TEN_EUROS).await;
        assert_eq!(
            declined,
            Err(PaymentError::Declined {
                last4: "0002".into()
            })
        );
        let id = payments
            .authorise("4242 4242 4242 4242", TEN_EUROS)
            .await
            .expect("a good card");
        assert_eq!(payments.state(id), Some(AuthorisationState::Authorised));
    }

    #[tokio::test]
    async fn capture_and_void_are_idempotent_and_exclusive() {
        let payments = FakePayments::new();
        let id = payments
            .authorise("4242424242424242", TEN_EUROS)
            .await
            .expect("a good card");
        assert_eq!(payments.capture(id).await, Ok(TEN_EUROS));
        assert_eq!(payments.capture(id).await, Ok(TEN_EUROS));
        assert!(matches!(
            payments.void(id).await,
            Err(PaymentError::WrongState { .. })
        ));
        let other = payments
            .authorise("4242424242424242", TEN_EUROS)
            .await
            .expect("a good card");
        assert_eq!(payments.void(other).await, Ok(()));
        assert_eq!(payments.void(other).await, Ok(()));
        assert_eq!(payments.state(other), Some(AuthorisationState::Voided));
    }
}

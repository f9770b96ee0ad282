//! The sandbox's books: payment intents, idempotency keys, refunds, and the test cards' rules.
//!
//! Plain synchronous code, behind one lock in the HTTP layer: each request is one critical
//! section, so two requests with the same idempotency key cannot both create an intent (the
//! race a real provider closes with a unique index on the key). Everything stays in memory and
//! grows with use: it is a sandbox for tests and demonstrations, restarted often.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use shop_domain::Money;
use url::Url;

use super::SandboxError;
use crate::card::CardNumber;
use crate::provider::{DeclineReason, IntentId, IntentStatus, PaymentIntent, Refund, RefundId};

// ANCHOR: test_cards
/// The test cards, with spaces as printed on a card; any other valid number succeeds.
pub mod test_cards {
    /// The payment succeeds.
    pub const SUCCEEDS: &str = "4111 1111 1111 1111";
    /// Declined: `card_declined`.
    pub const DECLINED: &str = "4000 0000 0000 0002";
    /// Declined: `insufficient_funds`.
    pub const INSUFFICIENT_FUNDS: &str = "4000 0000 0000 9995";
    /// 3-D Secure: the intent `requires_action` until it is confirmed, then succeeds.
    pub const REQUIRES_ACTION: &str = "4000 0000 0000 3220";
    /// The first two attempts with one idempotency key get a 503, the third succeeds.
    pub const NETWORK_FAILURE: &str = "4000 0000 0000 0119";
}
// ANCHOR_END: test_cards

/// How many attempts of one key the network-failure card fails before it succeeds.
pub const NETWORK_FAILURES: u32 = 2;

/// What a test card makes the sandbox do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestCard {
    Succeeds,
    Declines(DeclineReason),
    RequiresAction,
    NetworkFailure,
}

impl TestCard {
    fn of(card: &CardNumber) -> TestCard {
        let is = |number: &str| card.expose_number() == number.replace(' ', "");
        if is(test_cards::DECLINED) {
            TestCard::Declines(DeclineReason::CardDeclined)
        } else if is(test_cards::INSUFFICIENT_FUNDS) {
            TestCard::Declines(DeclineReason::InsufficientFunds)
        } else if is(test_cards::REQUIRES_ACTION) {
            TestCard::RequiresAction
        } else if is(test_cards::NETWORK_FAILURE) {
            TestCard::NetworkFailure
        } else {
            TestCard::Succeeds
        }
    }
}

/// A request to create an intent, as the sandbox received it.
#[derive(Debug)]
pub(crate) struct NewIntent {
    pub amount: Money,
    pub card: CardNumber,
    pub reference: String,
}

/// What a store operation did: its answer, whether it was the stored answer to an earlier
/// request with the same key, and the intent as it is after a change (for the webhook).
#[derive(Debug)]
pub(crate) struct Done<T> {
    pub value: T,
    pub replayed: bool,
    pub changed: Option<PaymentIntent>,
}

impl<T> Done<T> {
    fn replay(value: T) -> Self {
        Done {
            value,
            replayed: true,
            changed: None,
        }
    }
}

/// A result stored under an idempotency key, with the fingerprint of the request that made it.
#[derive(Debug)]
struct Keyed<T> {
    fingerprint: [u8; 32],
    value: T,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    intents: HashMap<IntentId, PaymentIntent>,
    payments: HashMap<String, Keyed<IntentId>>,
    refunds: HashMap<(IntentId, String), Keyed<Refund>>,
    /// Attempts so far of each key that carries the network-failure card.
    failing: HashMap<String, u32>,
}

/// The SHA-256 of a request's meaningful content: "same key, same body" is decided on it. A
/// hash rather than the request itself, so the books never keep a card number.
fn fingerprint(content: &impl Serialize) -> [u8; 32] {
    // Money, strings and numbers always serialise; were one not to, every such request would
    // share the empty fingerprint, which errs towards refusing a reused key.
    let bytes = serde_json::to_vec(content).unwrap_or_default();
    Sha256::digest(bytes).into()
}

fn positive(amount: Money) -> Result<(), SandboxError> {
    if amount.amount_minor() <= 0 {
        return Err(SandboxError::Invalid(format!(
            "the amount must be positive, not {amount}"
        )));
    }
    Ok(())
}

impl Store {
    // ANCHOR: authorise
    /// Creates the intent for `request`, or returns the one created for `key` before.
    pub fn authorise(
        &mut self,
        key: &str,
        request: NewIntent,
        base_url: &Url,
    ) -> Result<Done<PaymentIntent>, SandboxError> {
        positive(request.amount)?;
        if request.reference.is_empty() || request.reference.chars().count() > 200 {
            return Err(SandboxError::Invalid(
                "the reference must have 1 to 200 characters".into(),
            ));
        }
        let fingerprint = fingerprint(&(
            request.amount,
            request.card.expose_number(),
            &request.reference,
        ));
        if let Some(earlier) = self.payments.get(key) {
            if earlier.fingerprint != fingerprint {
                return Err(SandboxError::KeyReused);
            }
            let intent = self.intent(&earlier.value)?.clone();
            return Ok(Done::replay(intent));
        }

        let card = TestCard::of(&request.card);
        if card == TestCard::NetworkFailure {
            let attempt = self.failing.entry(key.to_owned()).or_insert(0);
            *attempt += 1;
            if *attempt <= NETWORK_FAILURES {
                return Err(SandboxError::NetworkFailure { attempt: *attempt });
            }
            self.failing.remove(key);
        }
        let id = IntentId::generate();
        let status = match card {
            TestCard::Succeeds | TestCard::NetworkFailure => IntentStatus::Succeeded,
            TestCard::Declines(reason) => IntentStatus::Declined { reason },
            TestCard::RequiresAction => IntentStatus::RequiresAction {
                redirect_url: challenge_url(base_url, &id),
            },
        };
        let intent = PaymentIntent {
            id: id.clone(),
            status,
            amount: request.amount,
            amount_refunded: Money::zero(request.amount.currency()),
            reference: request.reference,
        };
        self.intents.insert(id.clone(), intent.clone());
        self.payments.insert(
            key.to_owned(),
            Keyed {
                fingerprint,
                value: id,
            },
        );
        Ok(Done {
            value: intent.clone(),
            replayed: false,
            changed: Some(intent),
        })
    }
    // ANCHOR_END: authorise

    pub fn get(&self, id: &IntentId) -> Result<PaymentIntent, SandboxError> {
        self.intent(id).cloned()
    }

    /// The customer passed the challenge: a `RequiresAction` intent succeeds. Confirming a
    /// succeeded intent again answers it unchanged, so a retried confirm is harmless.
    pub fn confirm(&mut self, id: &IntentId) -> Result<Done<PaymentIntent>, SandboxError> {
        let intent = self.intent_mut(id)?;
        match intent.status {
            IntentStatus::RequiresAction { .. } => {
                intent.status = IntentStatus::Succeeded;
                Ok(Done {
                    value: intent.clone(),
                    replayed: false,
                    changed: Some(intent.clone()),
                })
            }
            IntentStatus::Succeeded => Ok(Done::replay(intent.clone())),
            IntentStatus::Declined { .. } | IntentStatus::Refunded => Err(SandboxError::Conflict(
                "only an intent that requires action can be confirmed",
            )),
        }
    }

    // ANCHOR: refund
    /// Refunds `amount` of a succeeded intent: at most what is left of the captured amount.
    pub fn refund(
        &mut self,
        id: &IntentId,
        key: &str,
        amount: Money,
    ) -> Result<Done<Refund>, SandboxError> {
        let fingerprint = fingerprint(&amount);
        let scoped = (id.clone(), key.to_owned());
        if let Some(earlier) = self.refunds.get(&scoped) {
            if earlier.fingerprint != fingerprint {
                return Err(SandboxError::KeyReused);
            }
            return Ok(Done::replay(earlier.value.clone()));
        }
        positive(amount)?;
        let intent = self.intent_mut(id)?;
        if matches!(
            intent.status,
            IntentStatus::RequiresAction { .. } | IntentStatus::Declined { .. }
        ) {
            return Err(SandboxError::Conflict(
                "only a payment that succeeded can be refunded",
            ));
        }
        let left = intent.amount.checked_sub(intent.amount_refunded);
        let refunded = match left {
            Ok(left) if amount.currency() != left.currency() => Err(format!(
                "the refund is in {}, the payment in {}",
                amount.currency().code(),
                left.currency().code()
            )),
            Ok(left) if amount.amount_minor() > left.amount_minor() => Err(format!(
                "the refund of {amount} exceeds the {left} left to refund"
            )),
            Ok(_) => intent
                .amount_refunded
                .checked_add(amount)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        }
        .map_err(SandboxError::Invalid)?;
        intent.amount_refunded = refunded;
        if refunded == intent.amount {
            intent.status = IntentStatus::Refunded;
        }
        let refund = Refund {
            id: RefundId::generate(),
            intent: id.clone(),
            amount,
        };
        let changed = intent.clone();
        self.refunds.insert(
            scoped,
            Keyed {
                fingerprint,
                value: refund.clone(),
            },
        );
        Ok(Done {
            value: refund,
            replayed: false,
            changed: Some(changed),
        })
    }
    // ANCHOR_END: refund

    fn intent(&self, id: &IntentId) -> Result<&PaymentIntent, SandboxError> {
        self.intents.get(id).ok_or(SandboxError::UnknownIntent)
    }

    fn intent_mut(&mut self, id: &IntentId) -> Result<&mut PaymentIntent, SandboxError> {
        self.intents.get_mut(id).ok_or(SandboxError::UnknownIntent)
    }
}

/// Where the customer would pass the 3-D Secure challenge: the sandbox serves a page there
/// that says what to do instead (confirm the intent).
fn challenge_url(base_url: &Url, id: &IntentId) -> String {
    // An id is `pi_` and letters and digits, so the join cannot fail; the base is the
    // fallback that keeps the field a URL even so.
    base_url
        .join(&format!("3ds/{id}"))
        .unwrap_or_else(|_| base_url.clone())
        .into()
}

#[cfg(test)]
mod tests {
    use shop_domain::Currency;

    use super::*;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    fn request(card: &str, minor: i64) -> NewIntent {
        NewIntent {
            amount: eur(minor),
            card: CardNumber::parse(card).expect("a test card"),
            reference: "order-1".into(),
        }
    }

    fn base() -> Url {
        Url::parse("http://127.0.0.1:9/").expect("a URL")
    }

    #[test]
    fn every_test_card_does_what_the_table_says() {
        let mut store = Store::default();
        let status = |store: &mut Store, card, key| {
            store
                .authorise(key, request(card, 1000), &base())
                .map(|done| done.value.status)
        };
        assert_eq!(
            status(&mut store, test_cards::SUCCEEDS, "a"),
            Ok(IntentStatus::Succeeded)
        );
        assert_eq!(
            status(&mut store, test_cards::DECLINED, "b"),
            Ok(IntentStatus::Declined {
                reason: DeclineReason::CardDeclined
            })
        );
        assert_eq!(
            status(&mut store, test_cards::INSUFFICIENT_FUNDS, "c"),
            Ok(IntentStatus::Declined {
                reason: DeclineReason::InsufficientFunds
            })
        );
        assert!(matches!(
            status(&mut store, test_cards::REQUIRES_ACTION, "d"),
            Ok(IntentStatus::RequiresAction { redirect_url }) if redirect_url.starts_with("http://127.0.0.1:9/3ds/pi_")
        ));
        for attempt in 1..=NETWORK_FAILURES {
            assert_eq!(
                status(&mut store, test_cards::NETWORK_FAILURE, "e"),
                Err(SandboxError::NetworkFailure { attempt })
            );
        }
        assert_eq!(
            status(&mut store, test_cards::NETWORK_FAILURE, "e"),
            Ok(IntentStatus::Succeeded)
        );
        // Another valid number, not in the table.
        assert_eq!(
            status(&mut store, "5555 5555 5555 4444", "f"),
            Ok(IntentStatus::Succeeded)
        );
    }

    #[test]
    fn refunds_add_up_to_the_amount_and_no_further() {
        let mut store = Store::default();
        let intent = store
            .authorise("k", request(test_cards::SUCCEEDS, 1000), &base())
            .expect("succeeds")
            .value;
        let partial = store.refund(&intent.id, "r1", eur(400)).expect("partial");
        let after = partial.changed.expect("a change");
        assert_eq!(after.status, IntentStatus::Succeeded);
        assert_eq!(after.amount_refunded, eur(400));
        assert!(matches!(
            store.refund(&intent.id, "r2", eur(601)),
            Err(SandboxError::Invalid(_))
        ));
        let rest = store.refund(&intent.id, "r3", eur(600)).expect("the rest");
        assert_eq!(
            rest.changed.expect("a change").status,
            IntentStatus::Refunded
        );
        assert!(matches!(
            store.refund(&intent.id, "r4", eur(1)),
            Err(SandboxError::Invalid(_))
        ));
        // A repeated key answers the stored refund and changes nothing.
        let again = store.refund(&intent.id, "r1", eur(400)).expect("replay");
        assert!(again.replayed && again.changed.is_none());
        assert_eq!(
            store.refund(&intent.id, "r1", eur(300)).err(),
            Some(SandboxError::KeyReused)
        );
    }

    #[test]
    fn a_declined_payment_cannot_be_refunded_or_confirmed() {
        let mut store = Store::default();
        let intent = store
            .authorise("k", request(test_cards::DECLINED, 1000), &base())
            .expect("an answer")
            .value;
        assert!(matches!(
            store.refund(&intent.id, "r", eur(1)),
            Err(SandboxError::Conflict(_))
        ));
        assert!(matches!(
            store.confirm(&intent.id),
            Err(SandboxError::Conflict(_))
        ));
    }
}

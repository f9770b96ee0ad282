//! The notification worker's handler: order events in, mail, SMS and push out.
//!
//! What this module shows:
//! - what each event is worth telling, as one pure function ([`compose`]) the tests read
//!   without a broker or a mail server;
//! - the customer's address read when the mail is sent, not carried in the event;
//! - a failure's kind as the consumer's [`Verdict`]: a mail server's "try later", a
//!   provider's error or the database being down is a retry; a 5xx answer or an event this
//!   code cannot read is poison and goes to the dead-letter queue with its reason.
//!
//! The handler runs under shop-events' consumer, which records the event id in
//! `processed_events` in the same transaction and commits it only when the handler says
//! [`Verdict::Done`]. A mail sent just before a crash is sent again on redelivery, under the
//! same `Message-ID`.

use std::sync::Arc;

use secrecy::SecretString;
use shop_db::UserRepo;
use shop_domain::order::OrderStatus;
use shop_domain::{OrderId, UserId};
use shop_events::Envelope;
use shop_events::consumer::{Handler, Verdict};
use shop_events::orders::OrderEvent;
use sqlx::PgConnection;

use crate::mail::{Mail, Mailer};
use crate::providers::{PushProvider, SmsProvider};

/// What one event is worth telling the customer, channel by channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// Subject and body.
    pub mail: Option<(String, String)>,
    pub sms: Option<String>,
    /// Title and body.
    pub push: Option<(String, String)>,
}

impl Notice {
    pub fn is_empty(&self) -> bool {
        self.mail.is_none() && self.sms.is_none() && self.push.is_none()
    }
}

// ANCHOR: compose
/// What to tell `name` about `event`: mail for what a customer keeps a record of (the order,
/// the payment, the parcel, the money back), a text when the parcel leaves and when the money
/// goes back, a push for the smaller news. Nothing for packing.
pub fn compose(event: &OrderEvent, name: &str) -> Notice {
    let order = short(event.order());
    match event {
        OrderEvent::Placed(placed) => {
            let mut body = format!("Hello {name},\n\nthank you for your order {order}:\n\n");
            for line in &placed.lines {
                body.push_str(&format!(
                    "  {} × {} at {}\n",
                    line.quantity, line.sku, line.unit_price
                ));
            }
            body.push_str(&format!(
                "\nTotal: {}\n\nWe will write again when your payment arrives.\n",
                placed.total
            ));
            Notice {
                mail: Some((format!("Your order {order}"), body)),
                ..Notice::default()
            }
        }
        OrderEvent::StatusChanged(changed) => match changed.to {
            OrderStatus::Paid => Notice {
                mail: Some((
                    format!("Payment received for order {order}"),
                    format!(
                        "Hello {name},\n\nyour payment for order {order} arrived; \
                         we are packing it.\n"
                    ),
                )),
                push: Some((
                    "Payment received".to_owned(),
                    format!("Order {order} is paid."),
                )),
                ..Notice::default()
            },
            OrderStatus::Shipped => Notice {
                mail: Some((
                    format!("Order {order} is on its way"),
                    format!("Hello {name},\n\nyour order {order} has left our warehouse.\n"),
                )),
                sms: Some(format!("Your order {order} has shipped.")),
                ..Notice::default()
            },
            OrderStatus::Delivered => Notice {
                push: Some((
                    "Delivered".to_owned(),
                    format!("Order {order} has arrived."),
                )),
                ..Notice::default()
            },
            OrderStatus::Cancelled => Notice {
                mail: Some((
                    format!("Order {order} cancelled"),
                    format!(
                        "Hello {name},\n\nyour order {order} is cancelled; no money was taken.\n"
                    ),
                )),
                ..Notice::default()
            },
            OrderStatus::Refunded => Notice {
                mail: Some((
                    format!("Refund for order {order}"),
                    format!(
                        "Hello {name},\n\nwe have refunded order {order}. \
                         The money is on its way back to you.\n"
                    ),
                )),
                sms: Some(format!("Order {order} is refunded.")),
                ..Notice::default()
            },
            OrderStatus::PendingPayment | OrderStatus::Fulfilled => Notice::default(),
        },
    }
}
// ANCHOR_END: compose

/// An order id as customers see it: its first eight hex digits, upper-cased.
fn short(order: OrderId) -> String {
    let text = order.to_string();
    text.get(..8).unwrap_or(&text).to_ascii_uppercase()
}

/// The handler the `shop-notify` binary runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    users: UserRepo,
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsProvider>,
    push: Arc<dyn PushProvider>,
}

impl Notifier {
    pub fn new(
        users: UserRepo,
        mailer: Arc<dyn Mailer>,
        sms: Arc<dyn SmsProvider>,
        push: Arc<dyn PushProvider>,
    ) -> Self {
        Notifier {
            users,
            mailer,
            sms,
            push,
        }
    }

    // ANCHOR: notify
    async fn notify(&self, envelope: &Envelope) -> Verdict {
        let event = match OrderEvent::decode(envelope) {
            Ok(event) => event,
            // The same bytes will not read any better on a second try.
            Err(unknown) => return Verdict::Poison(unknown.to_string()),
        };
        let customer: UserId = event.customer();
        let user = match self.users.get(customer).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::info!(user.id = %customer, "the customer is gone: nothing to send");
                return Verdict::Done;
            }
            Err(error) => return Verdict::Retry(format!("reading the customer: {error}")),
        };
        let notice = compose(&event, user.display_name.as_str());
        if let Some((subject, body)) = notice.mail {
            let mail = Mail {
                to: user.email,
                subject,
                body: SecretString::from(body),
                // The event's id: a mail sent again after a crash is the same message.
                message_id: Some(format!("{}@shop-notify", envelope.id)),
            };
            if let Err(error) = self.mailer.send(mail).await {
                let reason = format!("{error}: {}", source_text(&error));
                return if error.is_permanent() {
                    Verdict::Poison(reason)
                } else {
                    Verdict::Retry(reason)
                };
            }
        }
        if let Some(text) = notice.sms
            && let Err(error) = self.sms.send_sms(customer, &text).await
        {
            return Verdict::Retry(error.to_string());
        }
        if let Some((title, body)) = notice.push
            && let Err(error) = self.push.send_push(customer, &title, &body).await
        {
            return Verdict::Retry(error.to_string());
        }
        Verdict::Done
    }
    // ANCHOR_END: notify
}

fn source_text(error: &crate::mail::MailError) -> String {
    error.0.to_string()
}

impl Handler for Notifier {
    fn handle(
        &self,
        event: &Envelope,
        _tx: &mut PgConnection,
    ) -> impl Future<Output = Verdict> + Send {
        self.notify(event)
    }

    fn duplicate(&self, event: &Envelope) {
        tracing::info!(event.id = %event.id, kind = %event.kind, "already notified: skipped");
    }
}

#[cfg(test)]
mod tests {
    use shop_domain::order::OrderAction;
    use shop_domain::{Currency, Money, Sku};
    use shop_events::orders::{OrderPlaced, PlacedLine, StatusChanged};

    use super::*;

    fn changed(from: OrderStatus, to: OrderStatus, action: OrderAction) -> OrderEvent {
        OrderEvent::StatusChanged(StatusChanged {
            order: OrderId::generate(),
            customer: UserId::generate(),
            from,
            to,
            action,
            actor: None,
            seq: 1,
        })
    }

    #[test]
    fn a_placed_order_is_a_mail_with_its_lines_and_total() {
        let eur = |minor| Money::from_minor(minor, Currency::Eur);
        let placed = OrderPlaced {
            order: OrderId::generate(),
            customer: UserId::generate(),
            total: eur(3_700),
            lines: vec![
                PlacedLine {
                    sku: Sku::parse("MUG-001").unwrap(),
                    quantity: 2,
                    unit_price: eur(1_250),
                },
                PlacedLine {
                    sku: Sku::parse("TEA-042").unwrap(),
                    quantity: 1,
                    unit_price: eur(1_200),
                },
            ],
        };
        let order = short(placed.order);
        assert_eq!(order.len(), 8);
        let notice = compose(&OrderEvent::Placed(placed), "Ada");
        let (subject, body) = notice.mail.expect("a mail");
        assert_eq!(subject, format!("Your order {order}"));
        assert!(body.starts_with("Hello Ada,"), "{body}");
        assert!(body.contains("2 × MUG-001 at 12.50 EUR"), "{body}");
        assert!(body.contains("Total: 37.00 EUR"), "{body}");
        assert_eq!((notice.sms, notice.push), (None, None));
    }

    #[test]
    fn each_status_has_its_channels() {
        use OrderAction as A;
        use OrderStatus as S;
        let channels = |event: &OrderEvent| {
            let notice = compose(event, "Ada");
            (
                notice.mail.is_some(),
                notice.sms.is_some(),
                notice.push.is_some(),
            )
        };
        assert_eq!(
            channels(&changed(S::PendingPayment, S::Paid, A::Pay)),
            (true, false, true)
        );
        assert_eq!(
            channels(&changed(S::Fulfilled, S::Shipped, A::Ship)),
            (true, true, false)
        );
        assert_eq!(
            channels(&changed(S::Shipped, S::Delivered, A::Deliver)),
            (false, false, true)
        );
        assert_eq!(
            channels(&changed(S::PendingPayment, S::Cancelled, A::Cancel)),
            (true, false, false)
        );
        assert_eq!(
            channels(&changed(S::Paid, S::Refunded, A::Refund)),
            (true, true, false)
        );
        assert!(compose(&changed(S::Paid, S::Fulfilled, A::Fulfil), "Ada").is_empty());
    }
}

//! Outgoing mail, behind a trait: the accounts code says *what* to send, a [`Mailer`] decides
//! *how* (book chapter 04). The trait is shop-notify's, whose `SmtpMailer` is real delivery
//! (chapter 10); `[accounts] smtp_server` sends verification mail through it.
//!
//! Until then, the [`Outbox`] keeps the last mails in memory (the tests read verification
//! tokens from it, as a user would read their inbox) and, with `SHOP_ACCOUNTS__MAIL_ECHO` on, prints
//! each to stderr (stdout carries the log lines): that is how a developer running the service by hand receives a token.
//! Printing is delivery here, not logging: the log (stderr, and wherever it is shipped) never
//! sees a token, and the body is a `SecretString` so no `Debug` print shows it either.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::ExposeSecret;
use shop_domain::Email;

/// How many mails the outbox keeps; older ones are dropped.
const OUTBOX_CAPACITY: usize = 256;

// ANCHOR: mailer
// The mail and the trait that delivers it live in shop-notify, where the notification worker
// (chapter 10) sends through the same trait over SMTP.
pub use shop_notify::mail::{BoxFuture, Mail, MailError, Mailer};
// ANCHOR_END: mailer

/// The development mailer: keeps recent mail in memory, optionally prints it. Cheap to clone;
/// clones share one outbox.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    mails: Arc<Mutex<VecDeque<Mail>>>,
    echo: bool,
}

impl Outbox {
    /// An outbox that also prints each mail to stderr when `echo` is set.
    pub fn new(echo: bool) -> Self {
        Outbox {
            mails: Arc::default(),
            echo,
        }
    }

    /// Every kept mail to `to`, oldest first.
    pub fn mails_to(&self, to: &Email) -> Vec<Mail> {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|mail| mail.to.normalized() == to.normalized())
            .cloned()
            .collect()
    }
}

impl Mailer for Outbox {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            if self.echo {
                eprintln!(
                    "--- mail (development outbox) ---\nTo: {}\nSubject: {}\n\n{}\n---",
                    mail.to,
                    mail.subject,
                    mail.body.expose_secret()
                );
            }
            let mut mails = self.mails.lock().unwrap_or_else(PoisonError::into_inner);
            if mails.len() == OUTBOX_CAPACITY {
                mails.pop_front();
            }
            mails.push_back(mail);
            Ok(())
        })
    }
}

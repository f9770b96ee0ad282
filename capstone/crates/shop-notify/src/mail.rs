//! Outgoing mail, behind a trait: the code that decides *what* to send (accounts, the
//! notification worker) does not know *how* it travels.

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;
use shop_domain::Email;

/// One message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Email,
    pub subject: String,
    /// May hold a token: secret until it reaches the recipient.
    pub body: SecretString,
    /// The `Message-ID` to send under (without the angle brackets), when the sender wants a
    /// stable one: the notification worker derives it from the event, so a mail sent again
    /// after a crash is the same message. `None`: the mailer makes one up.
    pub message_id: Option<String>,
}

/// Why a mail could not be handed over. The source says why; [`MailError::is_permanent`]
/// whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("the mail could not be sent")]
pub struct MailError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl MailError {
    /// True when the same mail will fail again however long one waits: an SMTP server's
    /// 5xx answer (no such mailbox, message refused) or a message this code cannot encode.
    /// Everything else (a refused connection, a timeout, a 4xx "try later") may pass.
    pub fn is_permanent(&self) -> bool {
        (self.0.downcast_ref::<crate::smtp::SmtpError>())
            .is_some_and(crate::smtp::SmtpError::is_permanent)
    }
}

/// A future returned by a dyn-compatible trait method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// ANCHOR: mailer
/// Delivers mail. A trait object where it is kept (`Arc<dyn Mailer>`), so a test, a
/// development outbox or SMTP can stand behind it without the caller knowing. The method
/// returns a boxed future because `async fn` in a trait is not usable through `dyn`.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>>;
}
// ANCHOR_END: mailer

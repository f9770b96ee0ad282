//! What the shop tells its customers, and how (book chapter 10, "Capstone step").
//!
//! - [`mail`]: a [`mail::Mail`] and the [`mail::Mailer`] trait that delivers it. The accounts
//!   code of chapter 04 sends verification mail through the same trait.
//! - [`smtp`]: [`smtp::SmtpMailer`], a small SMTP client over a TCP stream (greeting, `EHLO`,
//!   `MAIL FROM`, `RCPT TO`, `DATA` with dot-stuffing, `QUIT`), each step under a timeout,
//!   with a reply's class deciding whether a failure is worth a retry (4xx) or not (5xx).
//! - [`sink`]: [`sink::SmtpSink`], an SMTP server that keeps what it receives, for tests and
//!   demonstrations (the shop's mail goes nowhere real on a laptop).
//! - [`providers`]: the SMS and push provider traits, and [`providers::Sandbox`], which logs and
//!   keeps what it is asked to send, as a provider's sandbox mode does.
//! - [`worker`]: [`worker::Notifier`], the order-event handler the `shop-notify` binary runs
//!   under shop-events' deduplicating consumer.
//!
//! Delivery is at least once. A mail is sent before the consumer commits that the event was
//! handled; a crash in between sends it again on redelivery. Its `Message-ID` is derived from
//! the event id, so the copy is recognisably the same message.

pub mod mail;
pub mod providers;
pub mod sink;
pub mod smtp;
pub mod worker;

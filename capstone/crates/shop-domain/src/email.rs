//! `Email`: an address that has been checked once, at the boundary, and never again.
//!
//! What this module shows: "parse, don't validate". Instead of a `String` plus a `validate`
//! function somebody may forget to call, `Email` has a private field and one way in,
//! [`Email::parse`]; holding an `Email` *is* the proof that the rules below passed. Serde goes
//! through the same door (`#[serde(try_from = "String")]`), so JSON cannot smuggle in an
//! address that `parse` would refuse.
//!
//! The rules are deliberately practical, not RFC 5322: that grammar allows quoted local parts,
//! comments and IP-literal domains that no shop wants in a sign-up form, and the only real
//! proof an address works is a confirmation mail. What is accepted:
//!
//! - surrounding whitespace is trimmed; inner whitespace is an error;
//! - at most 254 characters in all (the limit of an SMTP path), exactly one `@`;
//! - a local part (before the `@`) of 1 to 64 characters, ASCII letters, digits and
//!   ``! # $ % & ' * + - / = ? ^ _ ` { | } ~``, with dots between them (no leading, trailing or
//!   double dot): RFC 5322's "dot-atom", without its quoted form;
//! - a domain of at least two dot-separated labels, each 1 to 63 ASCII letters, digits or
//!   hyphens, not starting or ending with a hyphen; internationalised domains are accepted in
//!   their ASCII (`xn--`) form. The domain is lower-cased, because domains are case-insensitive;
//!   the local part keeps its case, because strictly it is not (`Jane@` and `jane@` may be two
//!   mailboxes), even though most providers treat them alike. Compare accounts with
//!   [`Email::normalized`] if you want them alike too.
//!
//! Run the tests with `cargo test -p shop-domain`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest address accepted, in bytes (all accepted characters are ASCII).
pub const MAX_LEN: usize = 254;
/// The longest local part accepted.
pub const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

/// An email address that passed [`Email::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email {
    address: String,
    /// Where the `@` is, so `local_part` and `domain` need no second parse.
    at: usize,
}

/// Why a string is not an [`Email`]. Checked in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("the email address is empty")]
    Empty,
    /// Longer than [`MAX_LEN`].
    #[error("the email address is {len} characters long; at most {MAX_LEN} are allowed")]
    TooLong {
        /// The length of the trimmed input.
        len: usize,
    },
    /// A space, tab or newline inside the address.
    #[error("the email address contains whitespace")]
    Whitespace,
    /// No `@` at all.
    #[error("the email address has no `@`")]
    MissingAt,
    /// More than one `@`.
    #[error("the email address has more than one `@`")]
    MultipleAt,
    /// Nothing before the `@`.
    #[error("the part before the `@` is empty")]
    EmptyLocalPart,
    /// More than [`MAX_LOCAL_LEN`] characters before the `@`.
    #[error(
        "the part before the `@` is {len} characters long; at most {MAX_LOCAL_LEN} are allowed"
    )]
    LocalPartTooLong {
        /// The length of the local part.
        len: usize,
    },
    /// A character the local part may not contain (including any non-ASCII character).
    #[error("the part before the `@` may not contain `{0}`")]
    InvalidCharacter(char),
    /// A dot at the start or end of the local part, or two in a row.
    #[error("the part before the `@` may not start or end with a dot, or have two in a row")]
    MisplacedDot,
    /// Nothing after the `@`.
    #[error("the part after the `@` is empty")]
    EmptyDomain,
    /// A domain without a dot, such as `localhost`.
    #[error("the domain `{0}` has no dot; expected something like example.com")]
    DomainWithoutDot(String),
    /// A domain label that is empty, too long, or has a character other than a letter, digit or
    /// hyphen, or a hyphen at either end.
    #[error(
        "the domain `{0}` is not a valid host name: each part between dots must be 1 to 63 \
         letters, digits or hyphens, not starting or ending with a hyphen"
    )]
    InvalidDomain(String),
}

// ANCHOR: email_parse
impl Email {
    /// Parses and normalises an address; see the [module documentation](self) for the rules.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        // Characters, not bytes: a non-ASCII address is rejected below anyway, but the error
        // should report the length a person would count.
        let len = input.chars().count();
        if len > MAX_LEN {
            return Err(EmailError::TooLong { len });
        }
        if input.chars().any(char::is_whitespace) {
            return Err(EmailError::Whitespace);
        }
        let (local, domain) = input.split_once('@').ok_or(EmailError::MissingAt)?;
        if domain.contains('@') {
            return Err(EmailError::MultipleAt);
        }
        check_local_part(local)?;
        let domain = parse_domain(domain)?;

        Ok(Email {
            at: local.len(),
            address: format!("{local}@{domain}"),
        })
    }
}

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    let len = local.chars().count();
    if len > MAX_LOCAL_LEN {
        return Err(EmailError::LocalPartTooLong { len });
    }
    // RFC 5322 `atext`: what may appear in a dot-atom besides the dots.
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    if let Some(bad) = local
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c)))
    {
        return Err(EmailError::InvalidCharacter(bad));
    }
    if local.split('.').any(str::is_empty) {
        return Err(EmailError::MisplacedDot);
    }
    Ok(())
}

/// Checks the domain and returns it lower-cased.
fn parse_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    if !domain.contains('.') {
        return Err(EmailError::DomainWithoutDot(domain.to_owned()));
    }
    let valid_label = |label: &str| {
        (1..=MAX_LABEL_LEN).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !domain.split('.').all(valid_label) {
        return Err(EmailError::InvalidDomain(domain.to_owned()));
    }
    Ok(domain.to_ascii_lowercase())
}
// ANCHOR_END: email_parse

impl Email {
    /// The whole address, with its domain lower-cased.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The part before the `@`, case preserved.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The part after the `@`, lower-cased.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// The whole address lower-cased: a key for "is this address already registered?", where
    /// `Jane@example.com` and `jane@example.com` should count as one account.
    pub fn normalized(&self) -> String {
        self.address.to_ascii_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.address
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Email, EmailError> {
        Email::parse(s)
    }

    #[test]
    fn accepts_ordinary_addresses_and_normalises_the_domain() {
        let email = parse("  Jane.Doe+shop@Example.CO.uk\n").unwrap();
        assert_eq!(email.as_str(), "Jane.Doe+shop@example.co.uk");
        assert_eq!(email.local_part(), "Jane.Doe+shop");
        assert_eq!(email.domain(), "example.co.uk");
        assert_eq!(email.normalized(), "jane.doe+shop@example.co.uk");
        assert!(parse("o'brien@xn--bcher-kva.example").is_ok());
        assert!(parse("a@b.c").is_ok());
    }

    #[test]
    fn rejects_structural_mistakes() {
        assert_eq!(parse(" \t "), Err(EmailError::Empty));
        assert_eq!(parse("jane doe@example.com"), Err(EmailError::Whitespace));
        assert_eq!(parse("jane.example.com"), Err(EmailError::MissingAt));
        assert_eq!(parse("jane@doe@example.com"), Err(EmailError::MultipleAt));
        assert_eq!(parse("@example.com"), Err(EmailError::EmptyLocalPart));
        assert_eq!(parse("jane@"), Err(EmailError::EmptyDomain));
    }

    #[test]
    fn rejects_bad_local_parts() {
        assert_eq!(
            parse("jané@example.com"),
            Err(EmailError::InvalidCharacter('é'))
        );
        assert_eq!(
            parse("a,b@example.com"),
            Err(EmailError::InvalidCharacter(','))
        );
        assert_eq!(
            parse("\"q\"@example.com"),
            Err(EmailError::InvalidCharacter('"'))
        );
        for dots in [
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
        ] {
            assert_eq!(parse(dots), Err(EmailError::MisplacedDot), "{dots}");
        }
    }

    #[test]
    fn rejects_bad_domains() {
        assert_eq!(
            parse("root@localhost"),
            Err(EmailError::DomainWithoutDot("localhost".into()))
        );
        for domain in [
            "example..com",
            ".example.com",
            "example.com.",
            "-shop.example",
            "shop-.example",
            "shop_1.example",
            "bücher.example",
            "[127.0.0.1]",
        ] {
            assert_eq!(
                parse(&format!("jane@{domain}")),
                Err(EmailError::InvalidDomain(domain.into())),
                "{domain}"
            );
        }
    }

    #[test]
    fn enforces_length_limits_at_the_boundary() {
        let local_64 = "a".repeat(64);
        assert!(parse(&format!("{local_64}@example.com")).is_ok());
        assert_eq!(
            parse(&format!("{local_64}a@example.com")),
            Err(EmailError::LocalPartTooLong { len: 65 })
        );
        let label_63 = "d".repeat(63);
        assert!(parse(&format!("jane@{label_63}.com")).is_ok());
        assert!(parse(&format!("jane@{label_63}d.com")).is_err());
        // 254 in all: 1 + 1 + 252, with the domain made of 63-character labels.
        let domain_252 = format!("{label_63}.{label_63}.{label_63}.{}", "d".repeat(60));
        assert!(parse(&format!("j@{domain_252}")).is_ok());
        assert_eq!(
            parse(&format!("jj@{domain_252}")),
            Err(EmailError::TooLong { len: 255 })
        );
    }

    #[test]
    fn serde_goes_through_parse() {
        let email: Email = serde_json::from_str(r#"" Jane@EXAMPLE.com ""#).unwrap();
        assert_eq!(email.as_str(), "Jane@example.com");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            r#""Jane@example.com""#
        );
        let error = serde_json::from_str::<Email>(r#""not an email""#).unwrap_err();
        assert!(error.to_string().contains("whitespace"), "{error}");
    }
}

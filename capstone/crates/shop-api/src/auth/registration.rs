//! Sign-up: the form, its validation, and the one transaction that writes an account together
//! with its verification token (book chapter 04, "Capstone step").
//!
//! What this module shows:
//! - every field of a sign-up checked before anything else happens, every problem reported at
//!   once (`SignUp::validate`): a bad address, a bad name and a weak password are three
//!   field errors in one 422, not three round trips;
//! - `INSERT ... ON CONFLICT DO NOTHING` to ask "is this address free?" and claim it in one
//!   statement. The answer arrives without an error, so the transaction is not aborted, and
//!   the statement needs the password hash as a parameter: the argon2 work is done before the
//!   service can know whether the address was taken, so the time of the answer cannot say;
//! - the account row and its token written in one transaction, which only commits once the
//!   mail is handed over: a failure anywhere leaves no account that nobody can verify.
//!
//! Both statements run on the sign-up's transaction, which the repository's methods (each on
//! its own pool connection) cannot share: the claim of the address is here, and the token's
//! insert is `shop_db::users::insert_verification_token`, which takes any executor, so the
//! repository and the sign-up use one statement.

use secrecy::{ExposeSecret, SecretString};
use shop_db::{DisplayName, PasswordHash};
use shop_domain::{Email, UserId};
use shop_http::{FieldError, FieldErrors};
use sqlx::PgConnection;

use super::password;

// ANCHOR: sign_up
/// A sign-up as the client sent it: text, which the account service checks field by field
/// before it does anything else.
#[derive(Debug)]
pub struct SignUp {
    pub email: String,
    pub display_name: String,
    /// Secret from the moment it is parsed: `Debug` prints `[REDACTED]`.
    pub password: SecretString,
}

/// A sign-up whose every field passed; only `SignUp::validate` makes one.
#[derive(Debug)]
pub(crate) struct ValidSignUp {
    pub(crate) email: Email,
    pub(crate) display_name: DisplayName,
    pub(crate) password: SecretString,
}

impl SignUp {
    /// Parses every field and checks the password policy, collecting every failure.
    pub(crate) fn validate(self) -> Result<ValidSignUp, Vec<FieldError>> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(&self.email));
        let display_name = errors.check("display_name", DisplayName::parse(&self.display_name));
        // What an attacker knows about the user, even when the address itself was refused.
        let typed = self.email.trim();
        let local_part = typed.split('@').next().unwrap_or_default();
        errors.check(
            "password",
            password::check_policy(
                self.password.expose_secret(),
                &[typed, local_part, self.display_name.trim()],
            ),
        );
        match (email, display_name) {
            (Some(email), Some(display_name)) if errors.is_empty() => Ok(ValidSignUp {
                email,
                display_name,
                password: self.password,
            }),
            _ => Err(errors.into_vec()),
        }
    }
}
// ANCHOR_END: sign_up

/// The new account's id, or `None` when an account (any case of the address) already has it.
/// Run inside a transaction: nothing is visible to anyone else until it commits.
pub(crate) async fn insert_user(
    connection: &mut PgConnection,
    email: &Email,
    display_name: &DisplayName,
    password_hash: &PasswordHash,
) -> Result<Option<UserId>, sqlx::Error> {
    let id = UserId::generate();
    // The conflict target is the expression of the unique index `users_email_key`: a taken
    // address, whatever its case, inserts nothing and returns no row.
    let inserted = sqlx::query_scalar!(
        r#"
        INSERT INTO users (id, email, display_name, password_hash)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT ((lower(email))) DO NOTHING
        RETURNING id
        "#,
        id.as_uuid(),
        email.as_str(),
        display_name.as_str(),
        password_hash.as_str(),
    )
    .fetch_optional(connection)
    .await?;
    Ok(inserted.map(UserId::from_uuid))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn sign_up(email: &str, name: &str, password: &str) -> SignUp {
        SignUp {
            email: email.to_owned(),
            display_name: name.to_owned(),
            password: SecretString::from(password),
        }
    }

    /// The JSON Pointer of every error into the body (`#/email`); an error naming a parameter
    /// instead is left out, and so fails the comparison.
    fn pointers(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().filter_map(FieldError::pointer).collect()
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let errors = sign_up("not an address", " ", "short")
            .validate()
            .unwrap_err();
        assert_eq!(
            pointers(&errors),
            ["#/email", "#/display_name", "#/password"]
        );
    }

    #[test]
    fn the_password_may_not_be_the_address_even_when_the_address_is_refused() {
        let errors = sign_up("ada lovelace@example", "Ada", "ada lovelace@example is me")
            .validate()
            .unwrap_err();
        assert_eq!(pointers(&errors), ["#/email", "#/password"]);
    }

    #[test]
    fn a_good_sign_up_keeps_its_values() {
        let valid = sign_up(
            " Ada@Example.COM ",
            "Ada",
            "correct battery horse staple 42",
        )
        .validate()
        .unwrap();
        assert_eq!(valid.email.as_str(), "Ada@example.com");
        assert_eq!(valid.display_name.as_str(), "Ada");
    }
}

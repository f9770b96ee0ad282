//! [`Role`]: what a signed-in person may do in the shop (book chapter 04, "Capstone step").
//!
//! Three roles, fixed in code rather than rows in a table: the handlers that check them are
//! code too, so a role the code does not know about could not grant anything anyway.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's role. Every account starts as a [`Role::Customer`]; only an admin grants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Buys things; sees and changes only their own data.
    Customer,
    /// Helps customers: reads other accounts, changes nothing that is not theirs.
    Support,
    /// Runs the shop: writes the catalog, manages users and their roles.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Customer, Role::Support, Role::Admin];

    /// The spelling stored in the database and carried in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `customer`, `support`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role (expected customer, support or admin)")]
pub struct ParseRoleError(String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| ParseRoleError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_spelling() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("Admin".parse::<Role>().is_err(), "spellings are exact");
    }
}

//! Role-based access control, and the ownership rule RBAC cannot express.
//!
//! What this module shows: roles are bundles of permissions, and code checks *permissions*,
//! never role names: "can this caller list users?" survives the day a new role is added;
//! "is this caller an admin?" does not. RBAC answers questions about *kinds* of action. Whether
//! Bob may read note 42 is a question about *that* note, which only its data can answer:
//! [`note_access`] is the object-level check whose absence is an IDOR (insecure direct object
//! reference), the most common API vulnerability (OWASP API Security Top 10, API1).
//!
//! The extractor that enforces a permission lives in [`crate::extract`].
//!
//! Run the tests with `cargo test -p lesson-04 rbac`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::UserId;

// ANCHOR: roles
/// What a user is, in the shop: granted by an administrator, never chosen at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Support,
    Admin,
}

/// What a user may do beyond their own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read any user's notes (support answers tickets about them).
    ReadAnyNote,
    /// Delete any user's notes (moderation).
    DeleteAnyNote,
    /// List the accounts.
    ListUsers,
}

impl Role {
    /// The one table that says who may do what. Reviewing access means reading this `match`.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Customer => &[],
            Role::Support => &[ReadAnyNote, ListUsers],
            Role::Admin => &[ReadAnyNote, DeleteAnyNote, ListUsers],
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}
// ANCHOR_END: roles

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Customer => "customer",
            Role::Support => "support",
            Role::Admin => "admin",
        })
    }
}

// ANCHOR: markers
/// A permission known at compile time, so a handler can ask for it in its signature:
/// `Require<ListUsers>` (see [`crate::extract::Require`]).
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// Marker types, one per permission a route may require.
pub mod perm {
    use super::{Permission, RequiredPermission};

    #[derive(Debug)]
    pub struct ListUsers;
    impl RequiredPermission for ListUsers {
        const PERMISSION: Permission = Permission::ListUsers;
    }
}
// ANCHOR_END: markers

// ANCHOR: ownership
/// What a caller wants to do with one note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAction {
    Read,
    Delete,
}

/// Why a caller may not touch a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Answer 404: the caller may not even know that the note exists. A 403 here would
    /// confirm that the id is valid, and ids can be guessed or enumerated.
    Hidden,
    /// Answer 403: the caller may see the note (so its existence is no secret to them) but not
    /// do this to it.
    Forbidden,
}

/// The object-level rule: owners do anything to their notes; others need a permission.
pub fn note_access(
    caller: UserId,
    role: Role,
    owner: UserId,
    action: NoteAction,
) -> Result<(), Denied> {
    if caller == owner {
        return Ok(());
    }
    let may_see = role.can(Permission::ReadAnyNote);
    let allowed = match action {
        NoteAction::Read => may_see,
        NoteAction::Delete => role.can(Permission::DeleteAnyNote),
    };
    match (allowed, may_see) {
        (true, _) => Ok(()),
        (false, true) => Err(Denied::Forbidden),
        (false, false) => Err(Denied::Hidden),
    }
}
// ANCHOR_END: ownership

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Customer), Just(Role::Support), Just(Role::Admin)]
    }

    fn action() -> impl Strategy<Value = NoteAction> {
        prop_oneof![Just(NoteAction::Read), Just(NoteAction::Delete)]
    }

    proptest! {
        /// An owner may do anything to their own note, whatever their role.
        #[test]
        fn owners_always_may(role in role(), action in action()) {
            let me = UserId::new();
            prop_assert_eq!(note_access(me, role, me, action), Ok(()));
        }

        /// A caller refused a read is never told the note exists.
        #[test]
        fn a_refused_read_hides_the_note(role in role()) {
            let result = note_access(UserId::new(), role, UserId::new(), NoteAction::Read);
            prop_assert!(result.is_ok() || result == Err(Denied::Hidden));
        }
    }

    #[test]
    fn the_table_of_who_may_do_what_to_someone_elses_note() {
        let (caller, owner) = (UserId::new(), UserId::new());
        let check = |role, action| note_access(caller, role, owner, action);
        assert_eq!(check(Role::Customer, NoteAction::Read), Err(Denied::Hidden));
        assert_eq!(
            check(Role::Customer, NoteAction::Delete),
            Err(Denied::Hidden)
        );
        assert_eq!(check(Role::Support, NoteAction::Read), Ok(()));
        assert_eq!(
            check(Role::Support, NoteAction::Delete),
            Err(Denied::Forbidden)
        );
        assert_eq!(check(Role::Admin, NoteAction::Delete), Ok(()));
    }
}

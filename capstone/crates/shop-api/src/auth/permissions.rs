//! What each role may do, as one table (book chapter 04, "Authorization").
//!
//! Code asks for a [`Permission`], never for a role: "may this caller write the catalog?"
//! survives the day a catalog-editor role is added; "is this caller an admin?" does not, and
//! every such check would have to be found and reread. Handlers state the permission in their
//! signature ([`RequirePermission<perm::CatalogWrite>`](super::RequirePermission)); the one
//! place that says which roles hold it is [`granted_to`], so reviewing access means reading
//! one `match`.
//!
//! Permissions cover what a user may do *beyond their own data*. A customer's own profile,
//! sessions and keys need no permission: the `/me` routes act on the signed-in user only, and
//! ownership is checked by the queries (`WHERE user_id = $1`).

use std::fmt;

use shop_domain::Role;

// ANCHOR: permissions
/// Something a route may require, beyond being signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create, change, archive and import products.
    CatalogWrite,
    /// Page through every account (`GET /admin/users`).
    UsersList,
    /// Look one account up by id, to help its owner (`GET /admin/users/{id}`).
    UsersRead,
    /// Give an account another role (`PATCH /admin/users/{id}/role`).
    RolesAssign,
    /// See every customer's orders (`GET /admin/orders`, `GET /admin/orders/{id}`).
    OrdersList,
    /// Move any order through its states: fulfil, ship, refund (`POST /admin/orders/{id}/transitions`).
    OrdersManage,
}

/// The one table of who may do what.
pub fn granted_to(role: Role) -> &'static [Permission] {
    use Permission::*;
    match role {
        Role::Customer => &[],
        Role::Support => &[UsersRead, OrdersList],
        Role::Admin => &[
            CatalogWrite,
            UsersList,
            UsersRead,
            RolesAssign,
            OrdersList,
            OrdersManage,
        ],
    }
}

/// Whether `role` holds `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    granted_to(role).contains(&permission)
}
// ANCHOR_END: permissions

impl Permission {
    /// Its name in messages and logs: `catalog:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CatalogWrite => "catalog:write",
            Permission::UsersList => "users:list",
            Permission::UsersRead => "users:read",
            Permission::RolesAssign => "roles:assign",
            Permission::OrdersList => "orders:list",
            Permission::OrdersManage => "orders:manage",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ANCHOR: markers
/// A permission known at compile time, so a handler can require it in its signature:
/// `RequirePermission<perm::CatalogWrite>`.
pub trait RequiredPermission {
    const PERMISSION: Permission;
}

/// One marker type per [`Permission`], named alike. Uninhabited enums: they exist only as
/// types, never as values.
pub mod perm {
    use super::{Permission, RequiredPermission};

    #[derive(Debug)]
    pub enum CatalogWrite {}
    impl RequiredPermission for CatalogWrite {
        const PERMISSION: Permission = Permission::CatalogWrite;
    }

    #[derive(Debug)]
    pub enum UsersList {}
    impl RequiredPermission for UsersList {
        const PERMISSION: Permission = Permission::UsersList;
    }

    #[derive(Debug)]
    pub enum UsersRead {}
    impl RequiredPermission for UsersRead {
        const PERMISSION: Permission = Permission::UsersRead;
    }

    #[derive(Debug)]
    pub enum RolesAssign {}
    impl RequiredPermission for RolesAssign {
        const PERMISSION: Permission = Permission::RolesAssign;
    }

    #[derive(Debug)]
    pub enum OrdersList {}
    impl RequiredPermission for OrdersList {
        const PERMISSION: Permission = Permission::OrdersList;
    }

    #[derive(Debug)]
    pub enum OrdersManage {}
    impl RequiredPermission for OrdersManage {
        const PERMISSION: Permission = Permission::OrdersManage;
    }
}
// ANCHOR_END: markers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_hold_no_permission_and_admins_hold_every_one() {
        assert!(granted_to(Role::Customer).is_empty());
        for permission in [
            Permission::CatalogWrite,
            Permission::UsersList,
            Permission::UsersRead,
            Permission::RolesAssign,
            Permission::OrdersList,
            Permission::OrdersManage,
        ] {
            assert!(allows(Role::Admin, permission), "{permission}");
        }
    }

    #[test]
    fn support_reads_accounts_and_orders_and_changes_nothing() {
        let held: Vec<Permission> = granted_to(Role::Support).to_vec();
        assert_eq!(held, [Permission::UsersRead, Permission::OrdersList]);
    }
}

//! Part (b): roles to permissions, and the ownership rule that picks 404 or 403.
//!
//! Run with `cargo test -p exercise-04 --test part_b_rbac`.

use exercise_04::{
    Denied, Order, OrderAction, Permission, Principal, Role, authorize, permissions,
};
use proptest::prelude::*;

const ALICE: u64 = 1;
const BOB: u64 = 2;
const ORDER: Order = Order {
    id: 1042,
    owner: ALICE,
};

fn as_user(user_id: u64, role: Role) -> Principal {
    Principal { user_id, role }
}

#[test]
fn the_permission_table() {
    assert!(permissions(Role::Customer).is_empty());
    assert_eq!(permissions(Role::Support), [Permission::ViewAnyOrder]);
    let admin = permissions(Role::Admin);
    for permission in [
        Permission::ViewAnyOrder,
        Permission::CancelAnyOrder,
        Permission::RefundOrder,
        Permission::ManageUsers,
    ] {
        assert!(admin.contains(&permission), "{permission:?}");
    }
}

#[test]
fn owners_view_and_cancel_but_do_not_refund() {
    let alice = as_user(ALICE, Role::Customer);
    assert_eq!(authorize(&alice, OrderAction::View, &ORDER), Ok(()));
    assert_eq!(authorize(&alice, OrderAction::Cancel, &ORDER), Ok(()));
    assert_eq!(
        authorize(&alice, OrderAction::Refund, &ORDER),
        Err(Denied::Forbidden)
    );
}

#[test]
fn a_stranger_gets_not_found_for_everything() {
    let bob = as_user(BOB, Role::Customer);
    for action in [OrderAction::View, OrderAction::Cancel, OrderAction::Refund] {
        assert_eq!(
            authorize(&bob, action, &ORDER),
            Err(Denied::NotFound),
            "{action:?}"
        );
    }
}

#[test]
fn support_sees_everything_and_changes_nothing_of_others() {
    let sam = as_user(BOB, Role::Support);
    assert_eq!(authorize(&sam, OrderAction::View, &ORDER), Ok(()));
    assert_eq!(
        authorize(&sam, OrderAction::Cancel, &ORDER),
        Err(Denied::Forbidden)
    );
    assert_eq!(
        authorize(&sam, OrderAction::Refund, &ORDER),
        Err(Denied::Forbidden)
    );
    let own = Order { id: 7, owner: BOB };
    assert_eq!(
        authorize(&sam, OrderAction::Cancel, &own),
        Ok(()),
        "their own order"
    );
}

#[test]
fn admins_may_do_everything() {
    let root = as_user(BOB, Role::Admin);
    for action in [OrderAction::View, OrderAction::Cancel, OrderAction::Refund] {
        assert_eq!(authorize(&root, action, &ORDER), Ok(()), "{action:?}");
    }
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Customer), Just(Role::Support), Just(Role::Admin)]
}

fn action() -> impl Strategy<Value = OrderAction> {
    prop_oneof![
        Just(OrderAction::View),
        Just(OrderAction::Cancel),
        Just(OrderAction::Refund)
    ]
}

proptest! {
    /// Whoever may not view an order is never told it exists.
    #[test]
    fn a_refused_view_is_always_not_found(user in 0_u64..5, owner in 0_u64..5, role in role()) {
        let result = authorize(&as_user(user, role), OrderAction::View, &Order { id: 1, owner });
        prop_assert!(result == Ok(()) || result == Err(Denied::NotFound));
    }

    /// `Forbidden` is only ever said to someone who may view the order.
    #[test]
    fn forbidden_implies_visible(user in 0_u64..5, owner in 0_u64..5, role in role(), action in action()) {
        let principal = as_user(user, role);
        let order = Order { id: 1, owner };
        if authorize(&principal, action, &order) == Err(Denied::Forbidden) {
            prop_assert_eq!(authorize(&principal, OrderAction::View, &order), Ok(()));
        }
    }

    /// Owners may always view and cancel their own orders, whatever their role.
    #[test]
    fn owners_keep_their_rights(user in 0_u64..5, role in role()) {
        let order = Order { id: 1, owner: user };
        prop_assert_eq!(authorize(&as_user(user, role), OrderAction::View, &order), Ok(()));
        prop_assert_eq!(authorize(&as_user(user, role), OrderAction::Cancel, &order), Ok(()));
    }
}

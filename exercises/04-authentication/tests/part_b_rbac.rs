//! Part (b): roles to permissions, and the ownership rule that picks 404 or 403.
//!
//! Run with `cargo test -p exercise-04 part_b`.

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

const ROLES: [Role; 3] = [Role::Customer, Role::Support, Role::Admin];
const ACTIONS: [OrderAction; 3] = [OrderAction::View, OrderAction::Cancel, OrderAction::Refund];

fn as_user(user_id: u64, role: Role) -> Principal {
    Principal { user_id, role }
}

#[test]
fn the_permission_table() {
    assert_eq!(
        permissions(Role::Customer),
        [],
        "a customer has no permission beyond their own orders"
    );
    assert_eq!(
        permissions(Role::Support),
        [Permission::ViewAnyOrder],
        "support views any order and nothing more"
    );
    let admin = permissions(Role::Admin);
    for permission in [
        Permission::ViewAnyOrder,
        Permission::CancelAnyOrder,
        Permission::RefundOrder,
        Permission::ManageUsers,
    ] {
        assert!(
            admin.contains(&permission),
            "an admin has {permission:?}: {admin:?}"
        );
    }
}

#[test]
fn owners_view_and_cancel_but_do_not_refund() {
    let alice = as_user(ALICE, Role::Customer);
    assert_eq!(
        authorize(&alice, OrderAction::View, &ORDER),
        Ok(()),
        "the owner views their order"
    );
    assert_eq!(
        authorize(&alice, OrderAction::Cancel, &ORDER),
        Ok(()),
        "the owner cancels their order"
    );
    assert_eq!(
        authorize(&alice, OrderAction::Refund, &ORDER),
        Err(Denied::Forbidden),
        "nobody refunds themselves; the owner sees the order, so 403"
    );
}

#[test]
fn a_stranger_gets_not_found_for_everything() {
    let bob = as_user(BOB, Role::Customer);
    for action in ACTIONS {
        assert_eq!(
            authorize(&bob, action, &ORDER),
            Err(Denied::NotFound),
            "{action:?} by a customer who does not own the order: 404, so that a stranger \
             cannot tell an order that exists from one that does not"
        );
    }
}

#[test]
fn support_sees_everything_and_changes_nothing_of_others() {
    let sam = as_user(BOB, Role::Support);
    assert_eq!(
        authorize(&sam, OrderAction::View, &ORDER),
        Ok(()),
        "ViewAnyOrder"
    );
    assert_eq!(
        authorize(&sam, OrderAction::Cancel, &ORDER),
        Err(Denied::Forbidden),
        "support may see the order but not cancel another's: 403"
    );
    assert_eq!(
        authorize(&sam, OrderAction::Refund, &ORDER),
        Err(Denied::Forbidden),
        "support may see the order but not refund it: 403"
    );
    let own = Order { id: 7, owner: BOB };
    assert_eq!(
        authorize(&sam, OrderAction::Cancel, &own),
        Ok(()),
        "support cancels their own order, as any owner does"
    );
}

#[test]
fn admins_may_do_everything() {
    let root = as_user(BOB, Role::Admin);
    for action in ACTIONS {
        assert_eq!(
            authorize(&root, action, &ORDER),
            Ok(()),
            "an admin may {action:?} anyone's order"
        );
    }
}

/// Every role, owner or not, every action: the whole rule as one table.
#[test]
fn every_case_of_the_rule() {
    use Denied::{Forbidden, NotFound};
    use OrderAction::{Cancel, Refund, View};
    use Role::{Admin, Customer, Support};
    let table = [
        // (role, owns the order, action, answer)
        (Customer, true, View, Ok(())),
        (Customer, true, Cancel, Ok(())),
        (Customer, true, Refund, Err(Forbidden)),
        (Customer, false, View, Err(NotFound)),
        (Customer, false, Cancel, Err(NotFound)),
        (Customer, false, Refund, Err(NotFound)),
        (Support, true, View, Ok(())),
        (Support, true, Cancel, Ok(())),
        (Support, true, Refund, Err(Forbidden)),
        (Support, false, View, Ok(())),
        (Support, false, Cancel, Err(Forbidden)),
        (Support, false, Refund, Err(Forbidden)),
        (Admin, true, View, Ok(())),
        (Admin, true, Cancel, Ok(())),
        (Admin, true, Refund, Ok(())),
        (Admin, false, View, Ok(())),
        (Admin, false, Cancel, Ok(())),
        (Admin, false, Refund, Ok(())),
    ];
    for (role, owns, action, answer) in table {
        let user = if owns { ALICE } else { BOB };
        assert_eq!(
            authorize(&as_user(user, role), action, &ORDER),
            answer,
            "{role:?} who {} the order, {action:?}",
            if owns { "owns" } else { "does not own" }
        );
    }
}

fn role() -> impl Strategy<Value = Role> {
    proptest::sample::select(ROLES.to_vec())
}

fn action() -> impl Strategy<Value = OrderAction> {
    proptest::sample::select(ACTIONS.to_vec())
}

/// User ids: small ones, so that owner and caller often coincide, and the extremes.
fn user_id() -> impl Strategy<Value = u64> {
    prop_oneof![0_u64..5, Just(u64::MAX), Just(u64::MAX - 1)]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, max_shrink_iters: 1024, ..ProptestConfig::default() })]

    /// Whoever may not view an order is never told it exists.
    #[test]
    fn a_refused_view_is_always_not_found(user in user_id(), owner in user_id(), role in role()) {
        let result = authorize(&as_user(user, role), OrderAction::View, &Order { id: 1, owner });
        prop_assert!(
            result == Ok(()) || result == Err(Denied::NotFound),
            "a refused View is 404, never 403: {:?}", result
        );
    }

    /// `Forbidden` is only ever said to someone who may view the order.
    #[test]
    fn forbidden_implies_visible(user in user_id(), owner in user_id(), role in role(), action in action()) {
        let principal = as_user(user, role);
        let order = Order { id: 1, owner };
        if authorize(&principal, action, &order) == Err(Denied::Forbidden) {
            prop_assert_eq!(
                authorize(&principal, OrderAction::View, &order),
                Ok(()),
                "403 for {:?} tells the caller the order exists, so they must be able to view it",
                action
            );
        }
    }

    /// Owners may always view and cancel their own orders, whatever their role.
    #[test]
    fn owners_keep_their_rights(user in user_id(), role in role()) {
        let order = Order { id: 1, owner: user };
        for action in [OrderAction::View, OrderAction::Cancel] {
            prop_assert_eq!(
                authorize(&as_user(user, role), action, &order),
                Ok(()),
                "an owner ({:?}) may {:?} their own order", role, action
            );
        }
    }
}

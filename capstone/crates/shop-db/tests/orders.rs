//! The order repository against a real PostgreSQL: transitions go through the domain's state
//! machine, are recorded in order with one outbox event each, and two racing moves of one order
//! cannot both win (nor both be told).
//!
//! `cargo test -p shop-db --test orders` (needs PostgreSQL: `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{DisplayName, NewUser, OrderRepo, TransitionError, UserRepo};
    use shop_domain::order::{OrderAction, OrderStatus};
    use shop_domain::{Email, OrderId, UserId};
    use shop_events::Envelope;
    use shop_events::orders::OrderEvent;
    use sqlx::PgPool;
    use uuid::Uuid;

    async fn setup() -> (testkit::PgDatabase, OrderRepo, UserId) {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let user = UserRepo::new(db.pool().clone())
            .create(NewUser {
                email: Email::parse("orders@example.test").expect("a valid address"),
                display_name: DisplayName::parse("Buyer").expect("a valid name"),
                password_hash: None,
            })
            .await
            .expect("the user inserts")
            .id;
        let orders = OrderRepo::new(db.pool().clone());
        (db, orders, user)
    }

    async fn order(pool: &PgPool, user: UserId, status: &str) -> OrderId {
        let id = OrderId::generate();
        sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency) VALUES ($1, $2, $3, 'EUR')",
        )
        .bind(id.as_uuid())
        .bind(user.as_uuid())
        .bind(status)
        .execute(pool)
        .await
        .expect("the order inserts");
        id
    }

    #[tokio::test]
    async fn transitions_follow_the_state_machine_and_are_recorded_in_order() {
        let (db, orders, user) = setup().await;
        let id = order(db.pool(), user, "placed").await;
        let paid = orders
            .transition(id, OrderAction::Pay, None, None)
            .await
            .expect("pay");
        assert_eq!(
            (paid.seq, paid.from, paid.to),
            (1, OrderStatus::PendingPayment, OrderStatus::Paid)
        );
        orders
            .transition(id, OrderAction::Fulfil, Some(user), None)
            .await
            .expect("fulfil");

        let refused = orders
            .transition(id, OrderAction::Deliver, None, None)
            .await;
        assert!(
            matches!(&refused, Err(TransitionError::Illegal(illegal)) if illegal.from == OrderStatus::Fulfilled),
            "{refused:?}"
        );
        let detail = orders
            .get(id)
            .await
            .expect("read")
            .expect("the order exists");
        assert_eq!(detail.summary.status, OrderStatus::Fulfilled);
        let seqs: Vec<i32> = detail.history.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, [1, 2], "the refused move left no trace");
        assert_eq!(detail.history[1].actor, Some(user));

        // One event per move that happened, in the move's transaction; none for the refusal.
        let events = outbox_events(db.pool(), id).await;
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["order.paid", "order.fulfilled"]);
        let OrderEvent::StatusChanged(fulfilled) =
            OrderEvent::decode(&events[1]).expect("the shop's own event decodes")
        else {
            panic!("a status change, not {:?}", events[1]);
        };
        assert_eq!(
            (fulfilled.customer, fulfilled.from, fulfilled.seq),
            (user, OrderStatus::Paid, 2)
        );
        assert_eq!(fulfilled.actor, Some(user));
    }

    /// The outbox rows keyed by `order`, oldest first.
    async fn outbox_events(pool: &PgPool, order: OrderId) -> Vec<Envelope> {
        let rows: Vec<(Uuid, String, i32, serde_json::Value, time::OffsetDateTime)> =
            sqlx::query_as(
                "SELECT id, kind, version, payload, occurred_at FROM outbox_events
                 WHERE key = $1 ORDER BY created_seq",
            )
            .bind(order.to_string())
            .fetch_all(pool)
            .await
            .expect("the outbox reads");
        (rows.into_iter())
            .map(|(id, kind, version, payload, occurred_at)| Envelope {
                id,
                kind,
                version: u16::try_from(version).expect("a stored version fits"),
                key: order.to_string(),
                occurred_at,
                payload,
            })
            .collect()
    }

    #[tokio::test]
    async fn only_the_owner_may_act_when_ownership_is_asked_for() {
        let (db, orders, user) = setup().await;
        let id = order(db.pool(), user, "pending_payment").await;
        let stranger = UserId::generate();
        let refused = orders
            .transition(id, OrderAction::Cancel, None, Some(stranger))
            .await;
        assert!(matches!(refused, Err(TransitionError::NotFound(found)) if found == id));
        assert!(orders.get_for(stranger, id).await.expect("read").is_none());
        assert!(orders.get_for(user, id).await.expect("read").is_some());
        orders
            .transition(id, OrderAction::Cancel, None, Some(user))
            .await
            .expect("the owner cancels");
    }

    #[tokio::test]
    async fn of_two_racing_moves_exactly_one_wins() {
        let (db, orders, user) = setup().await;
        for _ in 0..10 {
            let id = order(db.pool(), user, "pending_payment").await;
            // Pay and cancel at once: both are legal from pending payment, neither after the
            // other. The row lock makes the second one see the first one's result.
            let (pay, cancel) = tokio::join!(
                orders.transition(id, OrderAction::Pay, None, None),
                orders.transition(id, OrderAction::Cancel, None, None),
            );
            assert!(
                pay.is_ok() != cancel.is_ok(),
                "pay: {pay:?}, cancel: {cancel:?}"
            );
            let detail = orders.get(id).await.expect("read").expect("exists");
            assert_eq!(detail.history.len(), 1);
            let winner = if pay.is_ok() {
                "order.paid"
            } else {
                "order.cancelled"
            };
            let events = outbox_events(db.pool(), id).await;
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(kinds, [winner], "the loser's rolled-back move told nobody");
        }
    }
}

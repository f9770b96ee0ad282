//! The outbox, the relay and the consumer against a real PostgreSQL and RabbitMQ.
//!
//! `cargo test -p shop-events --test events` (needs both: `cargo xtask services up`). Each test
//! has its own database and its own exchange and queues (testkit's private names).

mod needs_postgres {
    mod needs_rabbitmq {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;

        use lapin::options::{BasicGetOptions, BasicPublishOptions};
        use lapin::{BasicProperties, Channel};
        use shop_events::consumer::{self, Handler, Verdict};
        use shop_events::relay::{Relay, RelayConfig, RelayError};
        use shop_events::topology::{self, Topology};
        use shop_events::{Envelope, outbox};
        use sqlx::{PgConnection, PgPool};
        use tokio_util::sync::CancellationToken;
        use uuid::Uuid;

        struct Fixture {
            db: testkit::PgDatabase,
            amqp: testkit::AmqpScope,
            topology: Topology,
            channel: Channel,
        }

        async fn fixture() -> Fixture {
            let db = testkit::postgres().await;
            sqlx::raw_sql(shop_events::SCHEMA)
                .execute(db.pool())
                .await
                .expect("the outbox schema applies");
            // The handlers' "effect": a row per handled event, with no unique key, so a
            // consumer that did not deduplicate would leave two.
            sqlx::raw_sql("CREATE TABLE effects (event_id uuid NOT NULL, kind text NOT NULL)")
                .execute(db.pool())
                .await
                .expect("the effects table is created");
            let amqp = testkit::rabbitmq().await;
            let exchange = amqp.name("events");
            let queue = amqp.name("worker");
            // Registered so the scope deletes them; the topology derives the same names.
            amqp.name("worker.retry");
            amqp.name("worker.dlq");
            let topology = Topology {
                exchange,
                queue,
                binding: "order.*".to_owned(),
                retry_delay: Duration::from_millis(100),
                max_attempts: 3,
            };
            let channel = amqp
                .connection()
                .create_channel()
                .await
                .expect("a channel opens");
            topology::declare(&channel, &topology)
                .await
                .expect("the topology declares");
            Fixture {
                db,
                amqp,
                topology,
                channel,
            }
        }

        fn event(kind: &str, order: u32) -> Envelope {
            Envelope::new(
                kind,
                1,
                format!("order-{order}"),
                &serde_json::json!({ "order": order }),
            )
            .expect("a JSON payload")
        }

        async fn enqueue(pool: &PgPool, event: &Envelope) {
            let mut tx = pool.begin().await.expect("a transaction begins");
            outbox::enqueue(&mut tx, event)
                .await
                .expect("the event enqueues");
            tx.commit().await.expect("the transaction commits");
        }

        async fn unsent(pool: &PgPool) -> i64 {
            let mut conn = pool.acquire().await.expect("a connection from the pool");
            outbox::unsent(&mut conn).await.expect("the outbox counts")
        }

        /// Waits (bounded) for a condition the background consumer will make true.
        async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
            for _ in 0..600 {
                if check().await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("gave up waiting for: {what}");
        }

        async fn dead_letters(channel: &Channel, topology: &Topology) -> Vec<(Vec<u8>, String)> {
            let taken = consumer::take_dead_letters(channel, topology, 1_000).await;
            (taken.expect("the DLQ can be read").into_iter())
                .map(|letter| (letter.body, letter.reason))
                .collect()
        }

        /// Records every call, writes one effect row in the handler's transaction, and
        /// answers with `answer`.
        struct Recorder {
            calls: AtomicUsize,
            duplicates: AtomicUsize,
            answer: Verdict,
        }

        impl Recorder {
            fn new(answer: Verdict) -> Arc<Self> {
                Arc::new(Self {
                    calls: AtomicUsize::new(0),
                    duplicates: AtomicUsize::new(0),
                    answer,
                })
            }
        }

        impl Handler for Recorder {
            async fn handle(&self, event: &Envelope, tx: &mut PgConnection) -> Verdict {
                self.calls.fetch_add(1, Ordering::SeqCst);
                sqlx::query("INSERT INTO effects (event_id, kind) VALUES ($1, $2)")
                    .bind(event.id)
                    .bind(&event.kind)
                    .execute(tx)
                    .await
                    .expect("the effect inserts");
                self.answer.clone()
            }

            fn duplicate(&self, _event: &Envelope) {
                self.duplicates.fetch_add(1, Ordering::SeqCst);
            }
        }

        async fn start_consumer(
            fixture: &Fixture,
            handler: Arc<Recorder>,
        ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
            let shutdown = CancellationToken::new();
            // A channel of its own: the test publishes on the fixture's, and a channel that
            // both publishes (waiting for confirms) and consumes mixes two conversations.
            let connection = fixture.amqp.connection();
            let channel = connection.create_channel().await.expect("a channel opens");
            let topology = fixture.topology.clone();
            let pool = fixture.db.pool().clone();
            let stop = shutdown.clone();
            let task = tokio::spawn(async move {
                consumer::consume(&channel, &topology, "test", &pool, &*handler, stop)
                    .await
                    .expect("the consumer stops cleanly");
            });
            (shutdown, task)
        }

        async fn effects_per_event(pool: &PgPool) -> Vec<(Uuid, i64)> {
            sqlx::query_as("SELECT event_id, count(*) FROM effects GROUP BY event_id")
                .fetch_all(pool)
                .await
                .expect("the effects can be read")
        }

        async fn publish_raw(fixture: &Fixture, routing_key: &str, body: &[u8]) {
            let confirm = fixture
                .channel
                .basic_publish(
                    fixture.topology.exchange.as_str().into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default(),
                )
                .await
                .expect("the publish is accepted");
            drop(confirm);
        }

        #[tokio::test]
        async fn the_relay_publishes_in_order_with_confirms_and_marks_sent() {
            let f = fixture().await;
            let events: Vec<Envelope> = (1..=3).map(|n| event("order.placed", n)).collect();
            for e in &events {
                enqueue(f.db.pool(), e).await;
            }
            let mut relay = Relay::new(
                f.db.pool().clone(),
                f.amqp.url(),
                &f.topology.exchange,
                RelayConfig::default(),
            );
            assert_eq!(relay.run_once().await.unwrap(), 3);
            assert_eq!(unsent(f.db.pool()).await, 0);
            assert_eq!(relay.run_once().await.unwrap(), 0, "nothing is sent twice");

            for expected in &events {
                let message = f
                    .channel
                    .basic_get(
                        f.topology.queue.as_str().into(),
                        BasicGetOptions { no_ack: true },
                    )
                    .await
                    .unwrap()
                    .expect("one message per event");
                let got = Envelope::from_json(&message.data).unwrap();
                assert_eq!(got.id, expected.id, "published in outbox order");
                assert_eq!(got.payload, expected.payload);
                let id = message.properties.message_id().as_ref().unwrap();
                assert_eq!(id.as_str(), expected.id.to_string());
                assert_eq!(*message.properties.delivery_mode(), Some(2), "persistent");
            }
        }

        #[tokio::test]
        async fn an_unroutable_event_stays_unsent_with_its_reason() {
            let f = fixture().await;
            // `worker` is bound to order.*: nothing is bound to user.created.
            let lost = event("user.created", 1);
            enqueue(f.db.pool(), &lost).await;
            let mut relay = Relay::new(
                f.db.pool().clone(),
                f.amqp.url(),
                &f.topology.exchange,
                RelayConfig::default(),
            );
            let err = relay.run_once().await.unwrap_err();
            assert!(
                matches!(err, RelayError::Unconfirmed { failed: 1, .. }),
                "{err}"
            );
            let (attempts, last_error): (i32, Option<String>) =
                sqlx::query_as("SELECT attempts, last_error FROM outbox_events WHERE id = $1")
                    .bind(lost.id)
                    .fetch_one(f.db.pool())
                    .await
                    .unwrap();
            assert_eq!(attempts, 1);
            assert!(last_error.unwrap().contains("returned"));
            assert_eq!(unsent(f.db.pool()).await, 1);
        }

        #[tokio::test]
        async fn a_duplicated_event_is_handled_once() {
            let f = fixture().await;
            let handler = Recorder::new(Verdict::Done);
            let (shutdown, task) = start_consumer(&f, handler.clone()).await;
            let e = event("order.paid", 7);
            let body = e.to_json().unwrap();
            publish_raw(&f, "order.paid", &body).await;
            publish_raw(&f, "order.paid", &body).await;
            eventually("the copy to be skipped", async || {
                handler.duplicates.load(Ordering::SeqCst) == 1
            })
            .await;
            shutdown.cancel();
            task.await.unwrap();
            assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
            assert_eq!(effects_per_event(f.db.pool()).await, vec![(e.id, 1)]);
        }

        #[tokio::test]
        async fn retries_go_through_the_delay_queue_then_to_the_dlq() {
            let f = fixture().await;
            let handler = Recorder::new(Verdict::Retry("mail server down".to_owned()));
            let (shutdown, task) = start_consumer(&f, handler.clone()).await;
            let e = event("order.shipped", 3);
            publish_raw(&f, "order.shipped", &e.to_json().unwrap()).await;

            let mut dead = Vec::new();
            eventually("the event to reach the DLQ", async || {
                dead.extend(dead_letters(&f.channel, &f.topology).await);
                !dead.is_empty()
            })
            .await;
            shutdown.cancel();
            task.await.unwrap();
            assert_eq!(
                handler.calls.load(Ordering::SeqCst),
                3,
                "max_attempts deliveries"
            );
            assert_eq!(dead.len(), 1);
            assert_eq!(Envelope::from_json(&dead[0].0).unwrap().id, e.id);
            assert!(
                dead[0].1.contains("gave up after 3 attempts"),
                "{}",
                dead[0].1
            );
            // Every failed attempt rolled back: no effect, no processed row.
            assert!(effects_per_event(f.db.pool()).await.is_empty());
            let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
                .fetch_one(f.db.pool())
                .await
                .unwrap();
            assert_eq!(processed, 0);
        }

        #[tokio::test]
        async fn poison_and_undecodable_messages_go_straight_to_the_dlq() {
            let f = fixture().await;
            let handler = Recorder::new(Verdict::Poison("unknown version".to_owned()));
            let (shutdown, task) = start_consumer(&f, handler.clone()).await;
            publish_raw(&f, "order.placed", b"{ this is not an envelope").await;
            publish_raw(
                &f,
                "order.placed",
                &event("order.placed", 1).to_json().unwrap(),
            )
            .await;

            let mut dead = Vec::new();
            eventually("both messages to reach the DLQ", async || {
                dead.extend(dead_letters(&f.channel, &f.topology).await);
                dead.len() == 2
            })
            .await;
            shutdown.cancel();
            task.await.unwrap();
            assert_eq!(
                dead[0].0, b"{ this is not an envelope",
                "the body is kept as it was"
            );
            assert!(dead[0].1.contains("does not decode"), "{}", dead[0].1);
            assert_eq!(dead[1].1, "unknown version");
            assert_eq!(
                handler.calls.load(Ordering::SeqCst),
                1,
                "the garbage never reached it"
            );
        }

        /// The fault drill: the broker is unreachable while events are written, then back.
        /// Every event arrives; the relay's re-sends (a lost commit after the broker's ack)
        /// reach the consumer, which handles each event exactly once.
        #[tokio::test]
        async fn fault_drill_broker_down_then_back_every_event_once() {
            let f = fixture().await;
            let handler = Recorder::new(Verdict::Done);
            let (shutdown, task) = start_consumer(&f, handler.clone()).await;

            // A port that was just free and is now closed: connections are refused.
            let closed = {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap().port()
            };
            let mut down = Relay::new(
                f.db.pool().clone(),
                format!("amqp://guest:secret-password@127.0.0.1:{closed}/%2f"),
                &f.topology.exchange,
                RelayConfig::default(),
            );
            let mut events = Vec::new();
            for round in 0..3 {
                for n in 0..4 {
                    let e = event("order.placed", round * 10 + n);
                    enqueue(f.db.pool(), &e).await;
                    events.push(e);
                }
                let err = down.run_once().await.unwrap_err();
                assert!(matches!(err, RelayError::Broker(_)), "{err}");
            }
            assert_eq!(unsent(f.db.pool()).await, 12);
            let errors: Vec<(i32, String)> = sqlx::query_as(
                "SELECT attempts, last_error FROM outbox_events ORDER BY created_seq",
            )
            .fetch_all(f.db.pool())
            .await
            .unwrap();
            assert_eq!(errors[0].0, 3, "the first rows were tried on every pass");
            for (_, message) in &errors {
                assert!(!message.contains("secret-password"), "{message}");
                assert!(!message.contains(&closed.to_string()), "{message}");
            }

            let mut up = Relay::new(
                f.db.pool().clone(),
                f.amqp.url(),
                &f.topology.exchange,
                RelayConfig {
                    batch: 5,
                    ..RelayConfig::default()
                },
            );
            while unsent(f.db.pool()).await > 0 {
                up.run_once().await.unwrap();
            }
            // The relay crashed after the broker acked some rows but before it committed:
            // those rows are unsent again, and are published a second time.
            let resent =
                sqlx::query("UPDATE outbox_events SET sent_at = NULL WHERE created_seq % 3 = 0")
                    .execute(f.db.pool())
                    .await
                    .unwrap()
                    .rows_affected();
            assert_eq!(resent, 4);
            while unsent(f.db.pool()).await > 0 {
                up.run_once().await.unwrap();
            }

            eventually("every event and every copy to be consumed", async || {
                handler.calls.load(Ordering::SeqCst) == 12
                    && handler.duplicates.load(Ordering::SeqCst) == 4
            })
            .await;
            shutdown.cancel();
            task.await.unwrap();
            let mut handled = effects_per_event(f.db.pool()).await;
            handled.sort();
            let mut expected: Vec<(Uuid, i64)> = events.iter().map(|e| (e.id, 1)).collect();
            expected.sort();
            assert_eq!(handled, expected, "every event handled, none twice");
        }
    }
}

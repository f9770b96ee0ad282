//! The notification worker end to end: order events written to the outbox, published by the
//! relay, consumed by the worker's handler, mailed over SMTP to a sink on a loopback port, and
//! texted through the sandbox; a poison event and one the mail server keeps refusing end in
//! the dead-letter queue with their reasons.
//!
//! `cargo test -p shop-notify --test worker` (needs PostgreSQL and RabbitMQ).

mod needs_postgres {
    mod needs_rabbitmq {
        use std::sync::Arc;
        use std::time::Duration;

        use shop_db::{DisplayName, NewUser, UserRepo};
        use shop_domain::order::{OrderAction, OrderStatus};
        use shop_domain::{Currency, Email, Money, OrderId, Sku, UserId};
        use shop_events::consumer::{self, DeadLetter};
        use shop_events::orders::{self, OrderPlaced, PlacedLine, StatusChanged};
        use shop_events::relay::{Relay, RelayConfig};
        use shop_events::topology::Topology;
        use shop_events::{Envelope, outbox};
        use shop_notify::providers::{Sandbox, Sent};
        use shop_notify::sink::SmtpSink;
        use shop_notify::smtp::SmtpMailer;
        use shop_notify::worker::Notifier;
        use tokio_util::sync::CancellationToken;

        /// A shop database with one customer, a sink, a sandbox, and the worker's topology on
        /// the shared broker under this test's own names; the relay and the worker running.
        struct World {
            db: testkit::PgDatabase,
            amqp: testkit::AmqpScope,
            sink: SmtpSink,
            sandbox: Sandbox,
            topology: Topology,
            customer: UserId,
            shutdown: CancellationToken,
            tasks: Vec<tokio::task::JoinHandle<()>>,
        }

        impl World {
            async fn start() -> World {
                let db = testkit::postgres().await;
                shop_db::MIGRATOR
                    .run(db.pool())
                    .await
                    .expect("the shop migrations apply");
                let customer = UserRepo::new(db.pool().clone())
                    .create(NewUser {
                        email: Email::parse("ada@example.test").expect("an address"),
                        display_name: DisplayName::parse("Ada").expect("a name"),
                        password_hash: None,
                    })
                    .await
                    .expect("the customer inserts")
                    .id;
                let amqp = testkit::rabbitmq().await;
                let topology = Topology {
                    binding: orders::ALL.to_owned(),
                    retry_delay: Duration::from_millis(100),
                    max_attempts: 3,
                    ..Topology::new(amqp.name("events"), amqp.name("notify"))
                };
                amqp.name("notify.retry");
                amqp.name("notify.dlq");
                let sink = SmtpSink::start().await.expect("the sink starts");
                let sandbox = Sandbox::default();
                let mut world = World {
                    db,
                    amqp,
                    sink,
                    sandbox,
                    topology,
                    customer,
                    shutdown: CancellationToken::new(),
                    tasks: Vec::new(),
                };
                world.run_worker().await;
                world.run_relay();
                world
            }

            /// The worker as the binary runs it: `consumer::run` with the `Notifier`.
            async fn run_worker(&mut self) {
                let from = Email::parse("orders@shop.example").expect("an address");
                let mailer = SmtpMailer::new(self.sink.addr().to_string(), from)
                    .with_timeout(Duration::from_secs(5));
                let notifier = Notifier::new(
                    UserRepo::new(self.db.pool().clone()),
                    Arc::new(mailer),
                    Arc::new(self.sandbox.clone()),
                    Arc::new(self.sandbox.clone()),
                );
                let (url, topology) = (self.amqp.url().to_owned(), self.topology.clone());
                let (pool, stop) = (self.db.pool().clone(), self.shutdown.clone());
                self.tasks.push(tokio::spawn(async move {
                    consumer::run(&url, &topology, "shop-notify", &pool, &notifier, stop).await;
                }));
                // The relay publishes `mandatory`: wait until the worker's queues are there (the
                // dead-letter queue is declared last). A passive declare of a missing queue
                // closes its channel, so each try has its own.
                for _ in 0..200 {
                    let channel = self
                        .amqp
                        .connection()
                        .create_channel()
                        .await
                        .expect("a channel");
                    let passive = lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    };
                    let queue = self.topology.dead_letter_queue().as_str().into();
                    let declared = channel
                        .queue_declare(queue, passive, lapin::types::FieldTable::default())
                        .await;
                    if declared.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                panic!("the worker never declared its queue");
            }

            fn run_relay(&mut self) {
                let config = RelayConfig {
                    poll_interval: Duration::from_millis(25),
                    ..RelayConfig::default()
                };
                let relay = Relay::new(
                    self.db.pool().clone(),
                    self.amqp.url(),
                    &self.topology.exchange,
                    config,
                );
                self.tasks
                    .push(tokio::spawn(relay.run(self.shutdown.clone())));
            }

            async fn enqueue(&self, event: &Envelope) {
                let mut conn = self.db.pool().acquire().await.expect("a connection");
                outbox::enqueue(&mut conn, event)
                    .await
                    .expect("the event is written");
            }

            async fn dead_letters(&self, want: usize) -> Vec<DeadLetter> {
                let channel = self
                    .amqp
                    .connection()
                    .create_channel()
                    .await
                    .expect("a channel");
                let mut letters = Vec::new();
                for _ in 0..400 {
                    let taken = consumer::take_dead_letters(&channel, &self.topology, 100).await;
                    letters.extend(taken.expect("the DLQ can be read"));
                    if letters.len() >= want {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                letters
            }

            async fn stop(self) {
                self.shutdown.cancel();
                for task in self.tasks {
                    task.await.expect("a task ends cleanly");
                }
            }
        }

        fn placed(customer: UserId) -> OrderPlaced {
            let eur = |minor| Money::from_minor(minor, Currency::Eur);
            OrderPlaced {
                order: OrderId::generate(),
                customer,
                total: eur(9_998),
                lines: vec![PlacedLine {
                    sku: Sku::parse("HP-100").expect("a SKU"),
                    quantity: 2,
                    unit_price: eur(4_999),
                }],
            }
        }

        fn shipped(order: OrderId, customer: UserId) -> StatusChanged {
            StatusChanged {
                order,
                customer,
                from: OrderStatus::Fulfilled,
                to: OrderStatus::Shipped,
                action: OrderAction::Ship,
                actor: None,
                seq: 3,
            }
        }

        #[tokio::test]
        async fn events_become_mail_over_smtp_and_a_text_and_poison_goes_to_the_dlq() {
            let world = World::start().await;
            let order = placed(world.customer);
            let first = order.envelope().unwrap();
            let second = shipped(order.order, world.customer).envelope().unwrap();
            world.enqueue(&first).await;
            world.enqueue(&second).await;
            // A version this worker does not read, and an order event for nobody it knows.
            let mut future = placed(world.customer).envelope().unwrap();
            future.version = 9;
            world.enqueue(&future).await;
            world
                .enqueue(&placed(UserId::generate()).envelope().unwrap())
                .await;

            assert_eq!(world.sink.wait_for(2, Duration::from_secs(20)).await, 2);
            let mails = world.sink.received();
            assert_eq!(mails[0].to, ["ada@example.test"]);
            assert_eq!(mails[0].from, "orders@shop.example");
            let short = order.order.to_string()[..8].to_ascii_uppercase();
            assert_eq!(
                mails[0].header("Subject"),
                Some(format!("Your order {short}").as_str())
            );
            let id = format!("<{}@shop-notify>", first.id);
            assert_eq!(mails[0].header("Message-ID"), Some(id.as_str()));
            let body = mails[0].text().unwrap();
            assert!(body.contains("2 × HP-100 at 49.99 EUR"), "{body}");
            assert!(body.contains("Total: 99.98 EUR"), "{body}");
            assert_eq!(
                mails[1].header("Subject"),
                Some(format!("Order {short} is on its way").as_str())
            );

            let letters = world.dead_letters(1).await;
            assert_eq!(letters.len(), 1, "{letters:?}");
            assert_eq!(Envelope::from_json(&letters[0].body).unwrap().id, future.id);
            assert!(
                letters[0].reason.contains("version 9"),
                "{}",
                letters[0].reason
            );

            let texts = world.sandbox.sent();
            let expected = Sent::Sms {
                to: world.customer,
                text: format!("Your order {short} has shipped."),
            };
            assert_eq!(texts, [expected]);
            // The customer nobody knows got nothing, and nothing was sent twice.
            assert_eq!(world.sink.received().len(), 2);
            world.stop().await;
        }

        #[tokio::test]
        async fn a_mail_server_that_says_try_later_is_retried_then_dead_lettered() {
            let world = World::start().await;
            world
                .sink
                .refuse_with(Some((451, "greylisted, try again later")));
            let event = placed(world.customer).envelope().unwrap();
            world.enqueue(&event).await;

            let letters = world.dead_letters(1).await;
            assert_eq!(letters.len(), 1, "{letters:?}");
            let reason = &letters[0].reason;
            assert!(reason.contains("gave up after 3 attempts"), "{reason}");
            assert!(reason.contains("451"), "{reason}");
            assert_eq!(world.sink.refused(), 3, "one delivery and two retries");

            // A refusal for good (5xx) is not retried at all.
            world.sink.refuse_with(Some((554, "no such mailbox")));
            world
                .enqueue(&placed(world.customer).envelope().unwrap())
                .await;
            let letters = world.dead_letters(1).await;
            assert_eq!(letters.len(), 1, "{letters:?}");
            assert!(letters[0].reason.contains("554"), "{}", letters[0].reason);
            assert_eq!(world.sink.refused(), 4);

            // The server takes mail again: the next event is simply delivered.
            world.sink.refuse_with(None);
            world
                .enqueue(&placed(world.customer).envelope().unwrap())
                .await;
            assert_eq!(world.sink.wait_for(1, Duration::from_secs(20)).await, 1);
            world.stop().await;
        }
    }
}

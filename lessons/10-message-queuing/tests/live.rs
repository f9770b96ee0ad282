//! The library against the real broker and Redis: routing, returns, redelivery, retries into
//! the dead-letter queue, and a crashed stream consumer's entries taken over. Each test has
//! private queue names (testkit's `AmqpScope`) or a private key prefix, deleted afterwards.
//!
//! `cargo test -p lesson-10 --test live`

mod needs_rabbitmq {
    use std::time::Duration;

    use futures::StreamExt;
    use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
    use lapin::types::FieldTable;
    use lapin::{Confirmation, ExchangeKind};
    use lesson_10::broker::{self, Args};
    use lesson_10::retry::{Fate, RetryQueues, work};

    #[tokio::test]
    async fn a_fanout_exchange_copies_every_message_to_every_bound_queue() {
        let amqp = testkit::rabbitmq().await;
        let channel = amqp.connection().create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let exchange = amqp.name("placed");
        broker::exchange(&channel, &exchange, ExchangeKind::Fanout)
            .await
            .unwrap();
        let (email, analytics) = (amqp.name("email"), amqp.name("analytics"));
        for queue in [&email, &analytics] {
            broker::queue(&channel, queue, Args::new()).await.unwrap();
            broker::bind(&channel, queue, &exchange, "").await.unwrap();
        }
        for n in 0..3 {
            broker::publish(
                &channel,
                &exchange,
                "order.placed",
                b"{}",
                broker::persistent(&n.to_string()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
        assert_eq!(broker::depth(&channel, &email).await.unwrap(), 3);
        assert_eq!(broker::drain(&channel, &analytics).await.unwrap().len(), 3);
        assert_eq!(
            broker::depth(&channel, &analytics).await.unwrap(),
            0,
            "drained"
        );
    }

    #[tokio::test]
    async fn an_unroutable_mandatory_message_comes_back_as_a_return() {
        let amqp = testkit::rabbitmq().await;
        let channel = amqp.connection().create_channel().await.unwrap();
        let exchange = amqp.name("nowhere");
        broker::exchange(&channel, &exchange, ExchangeKind::Direct)
            .await
            .unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirmation = channel
            .basic_publish(
                exchange.as_str().into(),
                "x".into(),
                options,
                b"{}",
                broker::persistent("1"),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        match confirmation {
            Confirmation::Ack(Some(returned)) => assert_eq!(returned.reply_code, 312),
            other => panic!("expected a return, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unacked_message_is_redelivered_when_its_channel_closes() {
        let amqp = testkit::rabbitmq().await;
        let channel = amqp.connection().create_channel().await.unwrap();
        let queue = amqp.name("work");
        broker::queue(&channel, &queue, Args::new()).await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        broker::publish(&channel, "", &queue, b"job", broker::persistent("1"))
            .await
            .unwrap()
            .await
            .unwrap();

        let doomed = amqp.connection().create_channel().await.unwrap();
        let mut first = doomed
            .basic_consume(
                queue.as_str().into(),
                "a".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let delivery = first.next().await.unwrap().unwrap();
        assert!(!delivery.redelivered);
        doomed.close(200, "crash".into()).await.unwrap();

        let survivor = amqp.connection().create_channel().await.unwrap();
        let mut second = survivor
            .basic_consume(
                queue.as_str().into(),
                "b".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let again = tokio::time::timeout(Duration::from_secs(5), second.next())
            .await
            .expect("redelivered within five seconds")
            .unwrap()
            .unwrap();
        assert!(again.redelivered);
        assert_eq!(again.data, b"job");
    }

    #[tokio::test]
    async fn a_poison_message_ends_in_the_dlq_after_its_attempts_and_a_flaky_one_succeeds() {
        let amqp = testkit::rabbitmq().await;
        let queues = RetryQueues::new(amqp.name("jobs"), Duration::from_millis(50), 3);
        amqp.name("jobs.retry");
        amqp.name("jobs.dlq");
        let channel = amqp.connection().create_channel().await.unwrap();
        queues.declare(&channel).await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        for job in ["flaky", "poison"] {
            broker::publish(
                &channel,
                "",
                &queues.queue,
                job.as_bytes(),
                broker::persistent(job),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
        let worker = amqp.connection().create_channel().await.unwrap();
        let log = work(
            &worker,
            &queues,
            2,
            Duration::from_secs(20),
            |job, attempt| match job {
                "flaky" if attempt < 2 => Err("once".into()),
                "poison" => Err("always".into()),
                _ => Ok(()),
            },
        )
        .await
        .unwrap();
        let ends: Vec<(&str, u32, &Fate)> = log
            .iter()
            .filter(|a| a.fate != Fate::RetryLater)
            .map(|a| (a.body.as_str(), a.attempt, &a.fate))
            .collect();
        assert!(ends.contains(&("flaky", 2, &Fate::Done)), "{log:?}");
        assert!(
            ends.contains(&("poison", 3, &Fate::DeadLettered)),
            "{log:?}"
        );
        assert_eq!(
            log.iter().filter(|a| a.body == "poison").count(),
            3,
            "{log:?}"
        );

        let parked = broker::drain(&channel, &queues.dlq).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].1, b"poison");
        assert_eq!(broker::depth(&channel, &queues.queue).await.unwrap(), 0);
        assert_eq!(broker::depth(&channel, &queues.retry).await.unwrap(), 0);
    }
}

mod needs_redis {
    use std::time::Duration;

    use lesson_10::log::{Log, field};

    #[tokio::test]
    async fn a_crashed_consumers_entries_are_taken_over_and_the_log_keeps_everything() {
        let redis = testkit::redis().await;
        let mut c = redis.connection();
        let log = Log::new(redis.key("orders"));
        for event in ["placed", "paid", "shipped"] {
            log.append(&mut c, &[("event", event)]).await.unwrap();
        }
        log.create_group(&mut c, "g", "0").await.unwrap();
        let crashed = log.read_group(&mut c, "g", "a", 2).await.unwrap();
        assert_eq!(crashed.len(), 2);

        let too_soon = log
            .take_over(&mut c, "g", "b", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            too_soon.is_empty(),
            "a consumer idle for less than min_idle keeps its entries"
        );

        tokio::time::sleep(Duration::from_millis(30)).await;
        let claimed = log
            .take_over(&mut c, "g", "b", Duration::from_millis(20))
            .await
            .unwrap();
        let events: Vec<String> = claimed.iter().map(|e| field(e, "event")).collect();
        assert_eq!(events, ["placed", "paid"]);
        let ids: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
        assert_eq!(log.ack(&mut c, "g", &ids).await.unwrap(), 2);
        assert!(log.pending(&mut c, "g").await.unwrap().is_empty());

        assert_eq!(
            log.len(&mut c).await.unwrap(),
            3,
            "acknowledged entries stay in the log"
        );
        let replay = log.replay_from(&mut c, &ids[1]).await.unwrap();
        assert_eq!(
            replay.len(),
            2,
            "a replay from the second entry reads it and the next"
        );
    }
}

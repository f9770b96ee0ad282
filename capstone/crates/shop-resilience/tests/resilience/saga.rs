//! The saga runner: compensations run last step first, only for completed steps, past a
//! failing one, and never after `finish` or `suspend`.

use std::sync::{Arc, Mutex};

use shop_resilience::Saga;

#[derive(Debug, Clone, PartialEq, Eq)]
struct StepError(&'static str);

/// What the steps and their compensations did, in order.
#[derive(Debug, Clone, Default)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn write(&self, entry: String) {
        self.0.lock().expect("not poisoned").push(entry);
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().expect("not poisoned").clone()
    }

    /// A step that succeeds with `output` and whose compensation journals it.
    async fn ok_step(
        &self,
        saga: &mut Saga<StepError>,
        name: &'static str,
        output: u32,
    ) -> Result<u32, StepError> {
        let journal = self.clone();
        saga.step(name, async move { Ok(output) }, move |output: &u32| {
            let output = *output;
            async move {
                journal.write(format!("undo {name} {output}"));
                Ok(())
            }
        })
        .await
    }
}

#[tokio::test]
async fn a_failed_step_undoes_the_completed_ones_last_first() {
    let journal = Journal::default();
    let mut saga = Saga::new("checkout");
    assert_eq!(journal.ok_step(&mut saga, "reserve", 1).await, Ok(1));
    assert_eq!(journal.ok_step(&mut saga, "charge", 2).await, Ok(2));
    assert!(
        journal.entries().is_empty(),
        "nothing is undone while steps succeed"
    );

    let failed = saga
        .step(
            "confirm",
            async { Err::<(), _>(StepError("confirm refused")) },
            |_: &()| async { panic!("a failed step has nothing to undo") },
        )
        .await;
    assert_eq!(failed, Err(StepError("confirm refused")));
    assert_eq!(
        saga.completed(),
        ["reserve", "charge"],
        "the failed step is not completed"
    );

    let report = saga.abort().await;
    assert_eq!(journal.entries(), ["undo charge 2", "undo reserve 1"]);
    assert_eq!(report.undone, ["charge", "reserve"]);
    assert!(report.failed.is_empty());
    assert!(report.is_clean());
}

#[tokio::test]
async fn a_failing_compensation_does_not_stop_the_others() {
    let journal = Journal::default();
    let mut saga = Saga::new("checkout");
    journal.ok_step(&mut saga, "reserve", 1).await.expect("ok");
    saga.step("charge", async { Ok::<_, StepError>(()) }, |_: &()| async {
        Err(StepError("refund refused"))
    })
    .await
    .expect("ok");
    journal.ok_step(&mut saga, "email", 3).await.expect("ok");

    let report = saga.abort().await;
    assert_eq!(journal.entries(), ["undo email 3", "undo reserve 1"]);
    assert_eq!(report.undone, ["email", "reserve"]);
    assert_eq!(report.failed, [("charge", StepError("refund refused"))]);
    assert!(!report.is_clean());
}

#[tokio::test]
async fn a_finished_saga_undoes_nothing() {
    let journal = Journal::default();
    let mut saga = Saga::new("checkout");
    journal.ok_step(&mut saga, "reserve", 1).await.expect("ok");
    journal.ok_step(&mut saga, "charge", 2).await.expect("ok");
    saga.finish();
    tokio::task::yield_now().await;
    assert!(journal.entries().is_empty());
}

#[tokio::test]
async fn a_suspended_saga_undoes_nothing_and_a_rerun_finds_its_steps_done() {
    // Idempotent steps: the "reservation" is keyed, so a second run takes the same one.
    let reserved = Arc::new(Mutex::new(Vec::<&str>::new()));
    let reserve = |key: &'static str| {
        let reserved = Arc::clone(&reserved);
        async move {
            let mut reserved = reserved.lock().expect("not poisoned");
            if !reserved.contains(&key) {
                reserved.push(key);
            }
            Ok::<_, StepError>(key)
        }
    };
    let journal = Journal::default();
    let mut saga = Saga::new("checkout");
    let undo = |journal: Journal| {
        move |key: &&'static str| {
            let key = *key;
            async move {
                journal.write(format!("release {key}"));
                Ok(())
            }
        }
    };
    saga.step("reserve", reserve("order-1"), undo(journal.clone()))
        .await
        .expect("ok");
    let unavailable = saga
        .step(
            "authorise",
            async { Err::<(), _>(StepError("provider unavailable")) },
            |_: &()| async { Ok(()) },
        )
        .await;
    assert!(unavailable.is_err());
    saga.suspend();
    tokio::task::yield_now().await;
    assert!(journal.entries().is_empty(), "suspending undoes nothing");

    let mut rerun = Saga::new("checkout");
    rerun
        .step("reserve", reserve("order-1"), undo(journal.clone()))
        .await
        .expect("ok");
    rerun.finish();
    assert_eq!(*reserved.lock().expect("not poisoned"), ["order-1"]);
    assert!(journal.entries().is_empty());
}

#[tokio::test]
async fn each_compensation_runs_once() {
    let journal = Journal::default();
    let mut saga = Saga::new("checkout");
    journal.ok_step(&mut saga, "reserve", 1).await.expect("ok");
    let report = saga.abort().await;
    assert_eq!(report.undone, ["reserve"]);
    assert_eq!(journal.entries(), ["undo reserve 1"]);
}

#[test]
fn a_saga_can_be_held_across_awaits_in_a_spawned_task() {
    fn is_send<T: Send>(_: &T) {}
    let saga: Saga<StepError> = Saga::new("checkout");
    is_send(&saga);
    is_send(&saga.abort());
}

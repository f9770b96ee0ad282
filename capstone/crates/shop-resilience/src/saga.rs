//! A saga: a business transaction across services that cannot share a database transaction,
//! run as a sequence of local steps, each paired with a compensation that undoes it. When a
//! step fails, the compensations of the steps already done run in reverse order; an undo that
//! itself fails is reported rather than hidden, because someone (a person or a retry job) has
//! to finish it.
//!
//! Lesson 08's checkout and the capstone's run their steps through a [`Saga`]: each `step`
//! awaits the action and, when it succeeded, keeps the undo built from its output; the caller
//! ends with `finish` (all went well) or `abort` (a step failed: undo the others).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// An undo waiting to run: boxed, because every step's future has its own type.
type Compensation<E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send>>;

/// A running saga: its name and the compensations of the steps completed so far.
pub struct Saga<E> {
    name: &'static str,
    completed: Vec<(&'static str, Compensation<E>)>,
}

/// What [`Saga::abort`] undid.
#[derive(Debug)]
pub struct Compensated<E> {
    /// Steps whose compensation succeeded, in the order they ran (last step first).
    pub undone: Vec<&'static str>,
    /// Steps whose compensation failed, with its error: these need a human or a retry job.
    pub failed: Vec<(&'static str, E)>,
}

impl<E> Compensated<E> {
    /// True when every completed step was undone.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
    }
}

impl<E> fmt::Debug for Saga<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.name)
            .field("completed", &self.completed())
            .finish()
    }
}

impl<E> Saga<E> {
    pub fn new(name: &'static str) -> Self {
        Saga {
            name,
            completed: Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    // ANCHOR: saga_step
    /// Awaits `action`; on success registers `compensate(&output)` (a future run only if a
    /// later step fails) and returns the output; on failure returns the error (the caller
    /// then calls `abort`).
    pub async fn step<T, A, C, CF>(
        &mut self,
        step: &'static str,
        action: A,
        compensate: C,
    ) -> Result<T, E>
    where
        A: Future<Output = Result<T, E>>,
        C: FnOnce(&T) -> CF,
        CF: Future<Output = Result<(), E>> + Send + 'static,
    {
        let saga = self.name;
        tracing::debug!(saga, step, "saga step started");
        match action.await {
            Ok(output) => {
                // Built now, while the output is at hand; a future does nothing until awaited,
                // so the undo itself waits for `abort`.
                self.completed.push((step, Box::pin(compensate(&output))));
                tracing::info!(saga, step, "saga step completed");
                Ok(output)
            }
            Err(error) => {
                tracing::warn!(saga, step, "saga step failed");
                Err(error)
            }
        }
    }
    // ANCHOR_END: saga_step

    /// Completed step names, in order.
    pub fn completed(&self) -> Vec<&'static str> {
        self.completed.iter().map(|(step, _)| *step).collect()
    }

    // ANCHOR: saga_abort
    /// Runs the compensations, last step first, each once, continuing past a failing one;
    /// reports which were undone and which failed (those need a human or a retry job).
    pub async fn abort(mut self) -> Compensated<E> {
        let saga = self.name;
        let mut report = Compensated {
            undone: Vec::new(),
            failed: Vec::new(),
        };
        // Taken out of `self` so that Drop sees nothing left to warn about.
        let completed = std::mem::take(&mut self.completed);
        // Last step first: a later step may depend on an earlier one (a payment on its
        // reservation), so it is undone before what it depends on.
        for (step, compensation) in completed.into_iter().rev() {
            match compensation.await {
                Ok(()) => {
                    tracing::info!(saga, step, "saga step compensated");
                    report.undone.push(step);
                }
                Err(error) => {
                    // One failed undo must not stop the others: each is independent work.
                    tracing::error!(saga, step, "saga compensation failed: needs attention");
                    report.failed.push((step, error));
                }
            }
        }
        report
    }
    // ANCHOR_END: saga_abort

    /// Stops for now without undoing anything, because a step failed in a way worth retrying
    /// (a dependency unavailable) and every completed step is idempotent: running the saga
    /// again with the same keys finds them done and goes on from where this run stopped. The
    /// caller owns what is left: whoever retries, or a reaper when nobody does.
    pub fn suspend(mut self) {
        tracing::info!(
            saga = self.name,
            completed = ?self.completed(),
            "saga suspended: a retry resumes it"
        );
        self.completed.clear();
    }

    /// The saga succeeded: drops the compensations.
    pub fn finish(mut self) {
        tracing::info!(
            saga = self.name,
            steps = self.completed.len(),
            "saga finished"
        );
        self.completed.clear();
    }
}

impl<E> Drop for Saga<E> {
    /// A saga dropped with steps done, neither finished nor aborted (a bug, or a cancelled
    /// task), leaves their effects in place with nothing to undo them: say so loudly.
    fn drop(&mut self) {
        if !self.completed.is_empty() {
            tracing::error!(
                saga = self.name,
                steps = ?self.completed(),
                "saga dropped without finish or abort: its completed steps are not compensated"
            );
        }
    }
}

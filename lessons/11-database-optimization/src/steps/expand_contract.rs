//! Step 7: a zero-downtime column rename, `shipments.note` → `shipments.comment`, with the
//! old version of the application and the new one issuing queries throughout. Each phase is
//! [`crate::rename`]: expand, backfill in batches, switch, contract. Every error either
//! version sees is counted; the lesson says there are none.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, thousands};
use rand::RngExt;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Demo, StepError};
use crate::rename::{self, App, CONTRACT, EXPAND};

const ROWS: i64 = 5_000;
const BATCH: i64 = 1_000;
/// How long the applications run between the migration's steps.
const PHASE: Duration = Duration::from_millis(300);

pub async fn expand_contract(demo: &Demo) -> Result<(), StepError> {
    heading(
        7,
        "A zero-downtime column rename: expand, backfill, switch, contract",
    );
    let pool = demo.pool().await?;
    rename::create(&pool, ROWS).await?;
    say(format_args!(
        "{} shipments with a `note`. The old version of the app reads and writes `note`,",
        thousands(ROWS)
    ));
    say("the new one `comment`; each inserts, edits and reads shipments nonstop, on a pool of");
    say("its own, while the migration runs beside them.");

    let old = Traffic::start(App::Old, demo.pool_of(2).await?, &demo.shutdown);
    let old_counts = old.counts.clone();
    let mut table = Table::new(["phase", "took>", "old app ops>", "new app ops>", "errors>"]);
    let mut phase = Phase::new(&old_counts, None);

    pause(demo).await;
    phase.end(&mut table, "old version only", &old_counts, None);

    let attempts = rename::migrate(&pool, EXPAND).await?;
    phase.end(
        &mut table,
        &format!("expand: add comment, sync trigger ({})", tries(attempts)),
        &old_counts,
        None,
    );

    let (mut batches, mut rows) = (0, 0);
    loop {
        let done = rename::backfill(&pool, BATCH).await?;
        if done == 0 {
            break;
        }
        batches += 1;
        rows += done;
    }
    phase.end(
        &mut table,
        &format!(
            "backfill: {} rows in {batches} batches",
            thousands(rows as i64)
        ),
        &old_counts,
        None,
    );

    let new = Traffic::start(App::New, demo.pool_of(2).await?, &demo.shutdown);
    let new_counts = new.counts.clone();
    pause(demo).await;
    phase.end(
        &mut table,
        "new version deployed beside the old",
        &old_counts,
        Some(&new_counts),
    );

    old.stop().await?;
    let unequal: i64 =
        sqlx::query_scalar("SELECT count(*) FROM shipments WHERE note IS DISTINCT FROM comment")
            .fetch_one(&pool)
            .await?;
    phase.end(
        &mut table,
        "old version retired",
        &old_counts,
        Some(&new_counts),
    );

    let attempts = rename::migrate(&pool, CONTRACT).await?;
    pause(demo).await;
    phase.end(
        &mut table,
        &format!("contract: drop trigger and note ({})", tries(attempts)),
        &old_counts,
        Some(&new_counts),
    );
    new.stop().await?;
    let new = new_counts;
    let old = old_counts;
    print!("{table}");

    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'shipments' ORDER BY ordinal_position",
    )
    .fetch_all(&pool)
    .await?;
    let errors = old.errors() + new.errors();
    let blind = old.blind.load(Ordering::Relaxed) + new.blind.load(Ordering::Relaxed);
    expect(
        errors == 0 && blind == 0 && unequal == 0 && columns == ["id", "comment"],
        "no errors, no empty reads, both columns equal before the contract, and note gone",
        format!(
            "{errors} errors (first: {:?}), {blind} empty reads, {unequal} unequal rows, columns {columns:?}",
            old.first_error().or(new.first_error())
        ),
    )?;
    say(format_args!(
        "{} queries from the old version and {} from the new, and none failed. The",
        thousands(old.ops() as i64),
        thousands(new.ops() as i64)
    ));
    say("trigger made each version's writes visible to the other while both ran; the backfill");
    say(format_args!(
        "went {} rows at a time, each batch a short transaction; before the contract, no row",
        thousands(BATCH)
    ));
    say("had note and comment differing. A plain RENAME COLUMN would have broken every query of");
    say("the old version at once; each step here was safe for every version still running.");
    Ok(())
}

/// `1 try`, `3 tries`: how many times the DDL asked for its lock.
fn tries(n: u32) -> String {
    if n == 1 {
        "1 try".to_owned()
    } else {
        format!("{n} tries")
    }
}

async fn pause(demo: &Demo) {
    tokio::select! {
        () = tokio::time::sleep(PHASE) => {}
        () = demo.shutdown.cancelled() => {}
    }
}

/// One version of the app, running: two tasks looping over insert, edit and read.
struct Traffic {
    counts: Arc<Counts>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

#[derive(Default)]
struct Counts {
    ops: AtomicU64,
    errors: AtomicU64,
    /// Reads that found the shipment but not its text (a new column not yet backfilled).
    blind: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counts {
    fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Traffic {
    fn start(app: App, pool: PgPool, shutdown: &CancellationToken) -> Traffic {
        let counts = Arc::new(Counts::default());
        let stop = shutdown.child_token();
        let mut tasks = JoinSet::new();
        for _ in 0..2 {
            let (pool, counts, stop) = (pool.clone(), counts.clone(), stop.clone());
            tasks.spawn(async move { run(app, &pool, &counts, &stop).await });
        }
        Traffic {
            counts,
            stop,
            tasks,
        }
    }

    /// Stops the app (its in-flight queries finish).
    async fn stop(mut self) -> Result<(), StepError> {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            done?;
        }
        Ok(())
    }
}

/// Where the last phase ended: time and counts.
struct Phase {
    started: Instant,
    old: (u64, u64),
    new: (u64, u64),
}

impl Phase {
    fn new(old: &Counts, new: Option<&Counts>) -> Phase {
        Phase {
            started: Instant::now(),
            old: (old.ops(), old.errors()),
            new: new.map_or((0, 0), |n| (n.ops(), n.errors())),
        }
    }

    fn end(&mut self, table: &mut Table, name: &str, old: &Counts, new: Option<&Counts>) {
        let now = Phase::new(old, new);
        let errors = now.old.1 - self.old.1 + now.new.1 - self.new.1;
        table.row([
            name.to_owned(),
            duration(self.started.elapsed()),
            thousands((now.old.0 - self.old.0) as i64),
            thousands((now.new.0 - self.new.0) as i64),
            thousands(errors as i64),
        ]);
        *self = now;
    }
}

// ANCHOR: traffic
/// One task of an app: insert, edit or read a random shipment, until stopped.
async fn run(app: App, pool: &PgPool, counts: &Counts, stop: &CancellationToken) {
    let mut known = ROWS;
    while !stop.is_cancelled() {
        let (op, id) = {
            let mut rng = rand::rng();
            (rng.random_range(0..3), rng.random_range(1..=known))
        };
        let result = match op {
            0 => app
                .insert(pool, "ring twice")
                .await
                .map(|id| known = known.max(id)),
            1 => app.edit(pool, id, "back door").await,
            _ => app.read(pool, id).await.map(|text| {
                if text.is_some_and(|text| text.is_none()) {
                    counts.blind.fetch_add(1, Ordering::Relaxed);
                }
            }),
        };
        match result {
            Ok(()) => counts.ops.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                counts
                    .first_error
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get_or_insert_with(|| error.to_string());
                counts.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}
// ANCHOR_END: traffic

//! Step 3: isolation anomalies, made to happen on purpose. Two connections, A and B, and the
//! interleaving of their statements chosen by this code, not by luck: where one statement
//! must wait for the other's lock, the step asks PostgreSQL (`pg_stat_activity`) until it sees
//! it waiting, and only then lets the other go on.
//!
//! A lost update at READ COMMITTED and four fixes; write skew at REPEATABLE READ, and
//! SERIALIZABLE catching it.

use std::num::NonZeroU32;
use std::time::Instant;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;

use super::{Demo, StepError, backend_pid, until_blocked};
use crate::retry::{self, is_serialization_failure};
use crate::stock;

const ITEM: &str = "lamp";
const SHELF: i32 = 10;
const ATTEMPTS: NonZeroU32 = match NonZeroU32::new(5) {
    Some(n) => n,
    None => unreachable!(),
};

pub async fn anomalies(demo: &Demo) -> Result<(), StepError> {
    heading(3, "Lost updates and write skew, live, and their fixes");
    let pool = demo.pool().await?;
    stock::create(&pool).await?;
    let mut a = demo.connection().await?;
    let mut b = demo.connection().await?;

    say(format_args!(
        "{SHELF} lamps on the shelf; A and B each sell one, so {} should be left. A lost update",
        SHELF - 2
    ));
    say("at READ COMMITTED, statement by statement:");
    let left = lost_update(&pool, &mut a, &mut b).await?;
    expect(
        left == SHELF - 1,
        "the second write overwrites the first at READ COMMITTED",
        format!("{left} left"),
    )?;

    say("The same two sales with each fix:");
    let mut table = Table::new(["fix", "what B saw", "left>"]);
    let fixes = [
        (
            "SELECT … FOR UPDATE",
            for_update(&pool, &mut a, &mut b).await?,
        ),
        (
            "UPDATE … SET quantity = quantity - 1",
            atomic(&pool, &mut a, &mut b).await?,
        ),
        ("version column", optimistic(&pool, &mut a, &mut b).await?),
        (
            "SERIALIZABLE, retry on 40001",
            serializable(&pool, &mut a).await?,
        ),
    ];
    for (fix, (saw, left)) in &fixes {
        table.row([fix.to_string(), saw.clone(), left.to_string()]);
    }
    print!("{table}");
    expect(
        fixes.iter().all(|(_, (_, left))| *left == SHELF - 2),
        "every fix leaves 8",
        format!(
            "{:?}",
            fixes.iter().map(|(_, (_, l))| l).collect::<Vec<_>>()
        ),
    )?;
    say("FOR UPDATE makes B's read wait for A's commit and then read the new value. The atomic");
    say("UPDATE has no read to go stale: the database subtracts from whatever is there, under the");
    say("row lock every UPDATE takes. The version column locks nothing between read and write; a");
    say("writer that finds the version moved on matched 0 rows and starts over. SERIALIZABLE");
    say("aborts B with SQLSTATE 40001 instead of letting it overwrite, and the retry loop runs");
    say("the whole transaction again on a fresh snapshot.");

    create_doctors(&pool).await?;
    println!();
    say("Write skew: Alice and Bob are on call; the rule is that at least one stays. Each checks");
    say("that two are on call, then takes themself off, in two concurrent transactions:");
    let mut table = Table::new([
        "isolation",
        "A saw>",
        "B saw>",
        "what happened",
        "on call after>",
    ]);
    let repeatable = write_skew(&pool, &mut a, &mut b, Level::RepeatableRead).await?;
    let serial = write_skew(&pool, &mut a, &mut b, Level::Serializable).await?;
    for (level, skew) in [("REPEATABLE READ", &repeatable), ("SERIALIZABLE", &serial)] {
        table.row([
            level.to_owned(),
            skew.saw.0.to_string(),
            skew.saw.1.to_string(),
            skew.happened.clone(),
            skew.on_call.to_string(),
        ]);
    }
    print!("{table}");
    expect(
        repeatable.on_call == 0 && serial.on_call == 1 && serial.aborted,
        "both go off call at REPEATABLE READ, and SERIALIZABLE aborts one with 40001",
        format!("{repeatable:?} {serial:?}"),
    )?;
    say("Neither transaction wrote a row the other wrote, so no row lock and no version check");
    say("could see a conflict: each read a fact (two on call) that the other's write made false.");
    say("REPEATABLE READ lets both commit. SERIALIZABLE tracks what each read, sees that no");
    say("one-at-a-time order explains both, and aborts one; retried, it sees one doctor on call");
    say("and stays. (Without SERIALIZABLE: SELECT … FOR UPDATE on the rows the rule reads.)");
    let _ = a.close().await;
    let _ = b.close().await;
    Ok(())
}

async fn exec(conn: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

async fn left(pool: &PgPool) -> Result<i32, StepError> {
    Ok(
        sqlx::query_scalar("SELECT quantity FROM stock WHERE item = $1")
            .bind(ITEM)
            .fetch_one(pool)
            .await?,
    )
}

// ANCHOR: lost_update
/// Both read 10, both write 9: one sale vanishes.
async fn lost_update(
    pool: &PgPool,
    a: &mut PgConnection,
    b: &mut PgConnection,
) -> Result<i32, StepError> {
    stock::restock(pool, ITEM, SHELF).await?;
    exec(a, "BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let seen_a = stock::level(a, ITEM).await?.quantity;
    show(format_args!("A: BEGIN; SELECT quantity → {seen_a}"));
    exec(b, "BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let seen_b = stock::level(b, ITEM).await?.quantity;
    show(format_args!("B: BEGIN; SELECT quantity → {seen_b}"));
    stock::set(a, ITEM, seen_a - 1).await?;
    exec(a, "COMMIT").await?;
    show(format_args!(
        "A: UPDATE stock SET quantity = {}; COMMIT",
        seen_a - 1
    ));
    stock::set(b, ITEM, seen_b - 1).await?;
    exec(b, "COMMIT").await?;
    show(format_args!(
        "B: UPDATE stock SET quantity = {}; COMMIT",
        seen_b - 1
    ));
    let left = left(pool).await?;
    show(format_args!(
        "left: {left}, after two sales: B's write overwrote A's, and nobody got an error"
    ));
    Ok(left)
}
// ANCHOR_END: lost_update

/// B's `SELECT … FOR UPDATE` waits for A's lock, then reads A's committed 9.
async fn for_update(
    pool: &PgPool,
    a: &mut PgConnection,
    b: &mut PgConnection,
) -> Result<(String, i32), StepError> {
    stock::restock(pool, ITEM, SHELF).await?;
    let pid = backend_pid(b).await?;
    exec(a, "BEGIN").await?;
    let seen_a = stock::level_for_update(a, ITEM).await?;
    exec(b, "BEGIN").await?;
    let started = Instant::now();
    let (seen_b, ()) = tokio::try_join!(
        async {
            let seen = stock::level_for_update(b, ITEM).await?;
            Ok::<_, StepError>((seen, started.elapsed()))
        },
        async {
            until_blocked(pool, pid).await?;
            stock::set(a, ITEM, seen_a - 1).await?;
            exec(a, "COMMIT").await?;
            Ok(())
        },
    )?;
    stock::set(b, ITEM, seen_b.0 - 1).await?;
    exec(b, "COMMIT").await?;
    let saw = format!(
        "waited {} for A's lock, then read {}",
        duration(seen_b.1),
        seen_b.0
    );
    Ok((saw, left(pool).await?))
}

/// B's UPDATE waits for A's row lock, then subtracts from A's committed value.
async fn atomic(
    pool: &PgPool,
    a: &mut PgConnection,
    b: &mut PgConnection,
) -> Result<(String, i32), StepError> {
    stock::restock(pool, ITEM, SHELF).await?;
    let pid = backend_pid(b).await?;
    exec(a, "BEGIN").await?;
    stock::take_one_atomically(a, ITEM).await?;
    exec(b, "BEGIN").await?;
    let started = Instant::now();
    let (after_b, ()) = tokio::try_join!(
        async {
            let after = stock::take_one_atomically(b, ITEM).await?;
            Ok::<_, StepError>((after, started.elapsed()))
        },
        async {
            until_blocked(pool, pid).await?;
            exec(a, "COMMIT").await?;
            Ok(())
        },
    )?;
    exec(b, "COMMIT").await?;
    let saw = match after_b.0 {
        Some(after) => format!(
            "waited {} for A's row lock, then 9 - 1 = {after}",
            duration(after_b.1)
        ),
        None => "sold out".to_owned(),
    };
    Ok((saw, left(pool).await?))
}

/// Both read version 1; A writes version 2; B's write matches no row, and B starts over.
async fn optimistic(
    pool: &PgPool,
    a: &mut PgConnection,
    b: &mut PgConnection,
) -> Result<(String, i32), StepError> {
    stock::restock(pool, ITEM, SHELF).await?;
    let seen_a = stock::level(a, ITEM).await?;
    let seen_b = stock::level(b, ITEM).await?;
    let a_won = stock::write_if_unchanged(a, ITEM, seen_a, seen_a.quantity - 1).await?;
    let b_first = stock::write_if_unchanged(b, ITEM, seen_b, seen_b.quantity - 1).await?;
    let again = stock::level(b, ITEM).await?;
    let b_second = stock::write_if_unchanged(b, ITEM, again, again.quantity - 1).await?;
    expect(
        a_won && !b_first && b_second,
        "A's versioned write matches, B's first does not, B's second does",
        format!("{a_won} {b_first} {b_second}"),
    )?;
    let saw = format!(
        "0 rows at version {}; re-read {} at version {}, wrote",
        seen_b.version, again.quantity, again.version
    );
    Ok((saw, left(pool).await?))
}

// ANCHOR: serializable_lost_update
/// B runs in [`retry::serializable`]; on its first attempt it reads, then lets A read, write
/// and commit, then writes: PostgreSQL refuses the write with 40001, and the helper runs B
/// again from the start.
async fn serializable(pool: &PgPool, a: &mut PgConnection) -> Result<(String, i32), StepError> {
    stock::restock(pool, ITEM, SHELF).await?;
    let (b_read, b_has_read) = oneshot::channel::<()>();
    let (a_done, a_has_committed) = oneshot::channel::<()>();
    let mut first_attempt = Some((b_read, a_has_committed));
    let b = retry::serializable(pool, ATTEMPTS, move |conn, attempt| {
        let pause = first_attempt.take();
        Box::pin(async move {
            let seen = stock::level(conn, ITEM).await?;
            if let Some((b_read, a_has_committed)) = pause {
                let _ = b_read.send(());
                let _ = a_has_committed.await;
            }
            stock::set(conn, ITEM, seen.quantity - 1).await?;
            Ok((attempt, seen.quantity))
        })
    });
    let a_sells = async {
        let _ = b_has_read.await;
        exec(a, "BEGIN ISOLATION LEVEL SERIALIZABLE").await?;
        let seen = stock::level(a, ITEM).await?;
        stock::set(a, ITEM, seen.quantity - 1).await?;
        exec(a, "COMMIT").await?;
        let _ = a_done.send(());
        Ok::<_, sqlx::Error>(())
    };
    let (b, ()) = tokio::try_join!(b, a_sells)?;
    let saw = format!(
        "attempt 1 failed with 40001; attempt {} read {}",
        b.value.0, b.value.1
    );
    Ok((saw, left(pool).await?))
}
// ANCHOR_END: serializable_lost_update

async fn create_doctors(pool: &PgPool) -> Result<(), StepError> {
    sqlx::raw_sql(
        "CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL);
         INSERT INTO doctors VALUES ('Alice', true), ('Bob', true);",
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Level {
    RepeatableRead,
    Serializable,
}

impl Level {
    fn begin(self) -> &'static str {
        match self {
            Level::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Level::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

#[derive(Debug)]
struct Skew {
    saw: (i64, i64),
    happened: String,
    aborted: bool,
    on_call: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Begin,
    Check,
    GoOff,
    Commit,
}

// ANCHOR: write_skew
/// A and B each: check that two doctors are on call, go off call, commit; the statements of
/// the two interleaved. A transaction aborted with 40001 is retried alone, at SERIALIZABLE.
async fn write_skew(
    pool: &PgPool,
    a: &mut PgConnection,
    b: &mut PgConnection,
    level: Level,
) -> Result<Skew, StepError> {
    sqlx::query("UPDATE doctors SET on_call = true")
        .execute(pool)
        .await?;
    let names = ["Alice", "Bob"];
    let conns = [a, b];
    let mut saw = [0_i64; 2];
    let mut aborted: Option<(usize, Act)> = None;
    let script = [
        (0, Act::Begin),
        (1, Act::Begin),
        (0, Act::Check),
        (1, Act::Check),
        (0, Act::GoOff),
        (1, Act::GoOff),
        (0, Act::Commit),
        (1, Act::Commit),
    ];
    for (who, act) in script {
        if aborted.is_some_and(|(loser, _)| loser == who) {
            continue;
        }
        let conn = &mut *conns[who];
        let result = match act {
            Act::Begin => exec(conn, level.begin()).await,
            Act::Check => on_call(conn).await.map(|n| saw[who] = n),
            // The application's rule, checked on what this transaction saw.
            Act::GoOff if saw[who] >= 2 => go_off(conn, names[who]).await,
            Act::GoOff => Ok(()),
            Act::Commit => exec(conn, "COMMIT").await,
        };
        match result {
            Ok(()) => {}
            Err(error) if is_serialization_failure(&error) => {
                exec(conn, "ROLLBACK").await?;
                aborted = Some((who, act));
            }
            Err(error) => return Err(error.into()),
        }
    }
    let happened = match aborted {
        None => "both committed".to_owned(),
        Some((who, act)) => {
            let name = names[who];
            let retried = retry::serializable(pool, ATTEMPTS, |conn, _| {
                Box::pin(async move {
                    let n = on_call(conn).await?;
                    if n >= 2 {
                        go_off(conn, name).await?;
                    }
                    Ok(n)
                })
            })
            .await?;
            let at = if act == Act::Commit {
                "COMMIT"
            } else {
                "UPDATE"
            };
            format!(
                "{name}: 40001 at {at}; retried, saw {} and stayed",
                retried.value
            )
        }
    };
    let on_call: i64 = sqlx::query_scalar("SELECT count(*) FROM doctors WHERE on_call")
        .fetch_one(pool)
        .await?;
    Ok(Skew {
        saw: (saw[0], saw[1]),
        happened,
        aborted: aborted.is_some(),
        on_call,
    })
}

async fn on_call(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM doctors WHERE on_call")
        .fetch_one(conn)
        .await
}

async fn go_off(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE doctors SET on_call = false WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}
// ANCHOR_END: write_skew

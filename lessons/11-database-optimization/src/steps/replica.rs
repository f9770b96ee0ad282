//! Step 8: read/write splitting on a real streaming replica (127.0.0.1:5433, which `cargo
//! xtask services up` makes with `pg_basebackup`). Rows written on the primary appear on the
//! replica after a measured lag; a read right after one's own write can miss it; two fixes
//! (the primary for a while after a write, or waiting for the commit's LSN) miss nothing, at
//! a measured cost; and the replica refuses writes.
//!
//! The run's schema and table are created on the primary; the replica sees them once it has
//! replayed that far, which is the first thing this step waits for.

use std::str::FromStr;
use std::time::{Duration, Instant};

use narrate::demo::{Unexpected, expect};
use narrate::{Table, duration, heading, percentile, say};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use testkit::discover::{Service, redact};

use super::{Demo, PATIENCE, StepError};
use crate::replica::{
    self, Policy, ReplicaError, Router, Session, Target, is_read_only_refusal, primary_lsn,
    replay_lsn, wait_for_replay,
};

/// Writes whose lag is measured.
const LAG_WRITES: usize = 50;
/// Write-then-read tries per policy.
const TRIES: usize = 100;
/// How long one write may take to appear on the replica before the step gives up.
const VISIBLE_WITHIN: Duration = Duration::from_secs(10);
const WINDOW: Duration = Duration::from_secs(2);
const LSN_WAIT: Duration = Duration::from_secs(1);

impl From<ReplicaError> for StepError {
    fn from(error: ReplicaError) -> Self {
        match error {
            ReplicaError::Sql(e) => StepError::Sql(e),
            other => StepError::Setup(other.to_string()),
        }
    }
}

/// The replica's URL: `DATABASE_REPLICA_URL`, else the default of `cargo xtask services up`.
fn replica_url() -> (String, bool) {
    let var = Service::PgReplica.env_var();
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => (url, true),
        _ => (Service::PgReplica.default_url().to_owned(), false),
    }
}

/// A pool on the replica with this run's schema as its `search_path`, or the one sentence
/// that says it is missing.
async fn connect_replica(demo: &Demo) -> Result<PgPool, StepError> {
    let (url, from_env) = replica_url();
    let shown = redact(&url);
    let var = Service::PgReplica.env_var();
    let source = if from_env {
        format!("from {var}")
    } else {
        format!("the default; {var} overrides it")
    };
    let options = PgConnectOptions::from_str(&url)
        .map_err(|e| StepError::Setup(format!("{var} ({shown}) is not a PostgreSQL URL: {e}")))?
        .application_name("lesson-11")
        .options([("search_path", demo.schema())])
        .disable_statement_logging();
    let probe = tokio::time::timeout(PATIENCE, options.connect()).await;
    let missing = |why: String| {
        say(format_args!(
            "The PostgreSQL replica is not reachable at {shown} ({source}): {why}; start it \
             with `cargo xtask services up` (a streaming standby on 127.0.0.1:5433), or set \
             {var} to a standby of your primary."
        ));
        StepError::ServiceMissing("the PostgreSQL replica")
    };
    match probe {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
        }
        Ok(Err(e)) => return Err(missing(first_line(&e.to_string()))),
        Err(_) => return Err(missing(format!("no answer within {}", duration(PATIENCE)))),
    }
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(PATIENCE)
        .connect_with(options)
        .await?;
    let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&pool)
        .await?;
    if !standby {
        pool.close().await;
        return Err(StepError::Setup(format!(
            "{shown} ({source}) accepts writes: it is a primary, not a standby \
             (pg_is_in_recovery() is false)"
        )));
    }
    Ok(pool)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

pub async fn replica(demo: &Demo) -> Result<(), StepError> {
    heading(
        8,
        "Read/write splitting on a streaming replica: lag and read-your-writes",
    );
    // The replica first: without it there is nothing to show, whatever the primary does.
    let replica = connect_replica(demo).await?;
    let result = run(demo, &replica).await;
    replica.close().await;
    result
}

async fn run(demo: &Demo, replica: &PgPool) -> Result<(), StepError> {
    let primary = demo.pool().await?;
    let (url, _) = replica_url();
    say(format_args!(
        "Writes go to the primary, {};",
        demo.server.redacted()
    ));
    say(format_args!(
        "the replica, {}, replays the primary's WAL, streamed to it over",
        redact(&url)
    ));
    say("a replication connection, and answers reads.");

    sqlx::query(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, author int NOT NULL, body text NOT NULL)",
    )
    .execute(&primary)
    .await?;
    // The schema and the table were made on the primary: the replica has them once it has
    // replayed that far.
    let made = primary_lsn(&primary).await?;
    let Some(waited) =
        wait_for_replay(replica, made, VISIBLE_WITHIN, Duration::from_millis(1)).await?
    else {
        return Err(Unexpected {
            expected: "the replica to replay the primary's CREATE TABLE",
            got: format!(
                "it had not replayed {made} after {}",
                duration(VISIBLE_WITHIN)
            ),
        }
        .into());
    };
    say(format_args!(
        "The table was created on the primary (WAL position {made}); the replica had"
    ));
    say(format_args!(
        "replayed that far {} later.",
        duration(waited)
    ));

    lag(&primary, replica).await?;
    if demo.shutdown.is_cancelled() {
        return Ok(());
    }
    read_your_writes(&primary, replica).await?;
    refused(replica).await
}

/// A row of `pg_stat_replication`: name, state, sent, replayed, replay lag.
type StandbyRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// (a) How long a committed row takes to be visible on the replica, and what both servers say
/// about replication.
async fn lag(primary: &PgPool, replica: &PgPool) -> Result<(), StepError> {
    let mut lags = Vec::with_capacity(LAG_WRITES);
    let mut seen_at_once = 0;
    for n in 0..LAG_WRITES {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO notes (author, body) VALUES (0, $1) RETURNING id")
                .bind(format!("lag probe {n}"))
                .fetch_one(primary)
                .await?;
        // Committed (autocommit): from now on, how long until the replica has it?
        let committed = Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            if visible(replica, id).await? {
                break;
            }
            if committed.elapsed() > VISIBLE_WITHIN {
                return Err(Unexpected {
                    expected: "a committed row to reach the replica",
                    got: format!("row {id} was not there after {}", duration(VISIBLE_WITHIN)),
                }
                .into());
            }
        }
        if polls == 1 {
            seen_at_once += 1;
        }
        lags.push(committed.elapsed());
    }
    say(format_args!(
        "{LAG_WRITES} rows written one by one; for each, the time from its commit until a read"
    ));
    say("on the replica finds it (the lag a reader sees):");
    let mut table = Table::new(["writes>", "median>", "max>", "found by the first read>"]);
    table.row([
        LAG_WRITES.to_string(),
        duration(percentile(&lags, 50)),
        duration(percentile(&lags, 100)),
        format!("{seen_at_once}/{LAG_WRITES}"),
    ]);
    print!("{table}");

    say("On the primary, pg_stat_replication (one row per standby):");
    let rows: Vec<StandbyRow> = sqlx::query_as(
        "SELECT application_name, state, sent_lsn::text, replay_lsn::text, \
             replay_lag::text FROM pg_stat_replication ORDER BY application_name",
    )
    .fetch_all(primary)
    .await?;
    expect(
        rows.iter().any(|r| r.1 == "streaming"),
        "the primary shows a standby streaming",
        format!("pg_stat_replication: {rows:?}"),
    )?;
    let mut table = Table::new(["standby", "state", "sent_lsn", "replay_lsn", "replay_lag"]);
    for (name, state, sent, replayed, replay_lag) in rows {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        table.row([
            name,
            state,
            or_dash(sent),
            or_dash(replayed),
            or_dash(replay_lag),
        ]);
    }
    print!("{table}");
    let at = primary_lsn(primary).await?;
    let replayed = replay_lsn(replica).await?;
    say(format_args!("The primary's pg_current_wal_lsn() is {at};"));
    say(format_args!(
        "the replica's pg_last_wal_replay_lsn() is {replayed} ({} bytes behind just then).",
        at.0.saturating_sub(replayed.0)
    ));
    Ok(())
}

async fn visible(replica: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM notes WHERE id = $1)")
        .bind(id)
        .fetch_one(replica)
        .await
}

/// (b) A write, then at once a read of it through a router, [`TRIES`] times per policy.
async fn read_your_writes(primary: &PgPool, replica: &PgPool) -> Result<(), StepError> {
    say(format_args!(
        "Read-your-writes: a user writes a note and at once reads it back, {TRIES} times,"
    ));
    say("through a router that sends reads to the replica unless its policy says otherwise:");
    let mut table = Table::new([
        "policy",
        "misses>",
        "reads on the primary>",
        "read p50>",
        "read max>",
    ]);
    let mut naive_misses = 0;
    for (policy, name) in [
        (Policy::Naive, "naive: always the replica".to_owned()),
        (
            Policy::PrimaryWindow(WINDOW),
            format!("fix 1: primary for {} after a write", duration(WINDOW)),
        ),
        (
            Policy::WaitForLsn(LSN_WAIT),
            format!(
                "fix 2: wait for the commit's LSN (≤ {}, then primary)",
                duration(LSN_WAIT)
            ),
        ),
    ] {
        let router = Router {
            primary: primary.clone(),
            replica: replica.clone(),
            policy,
        };
        let (misses, on_primary, reads) = tries(&router).await?;
        if policy == Policy::Naive {
            naive_misses = misses;
        } else {
            expect(
                misses == 0,
                "a read-your-writes policy never misses one's own write",
                format!("{name}: {misses} of {TRIES} reads missed the write"),
            )?;
        }
        table.row([
            name,
            format!("{misses}/{TRIES}"),
            format!("{on_primary}/{TRIES}"),
            duration(percentile(&reads, 50)),
            duration(percentile(&reads, 100)),
        ]);
    }
    print!("{table}");
    if naive_misses == 0 {
        say("This run's replica kept up every time; on a busier machine or network it does not,");
        say("and the naive router shows the user a page without the note they just wrote.");
    } else {
        say(format_args!(
            "The naive router missed the user's own write {naive_misses} times in {TRIES}: the"
        ));
        say("replica had not replayed it yet.");
    }
    say("Fix 1 costs the primary every read of a recent writer; fix 2 costs a short wait and a");
    say("remembered LSN per session (a cookie, say), and keeps reads on the replica.");
    Ok(())
}

/// `(misses, reads sent to the primary, each read's time including the routing)`.
async fn tries(router: &Router) -> Result<(usize, usize, Vec<Duration>), StepError> {
    let (mut misses, mut on_primary) = (0, 0);
    let mut reads = Vec::with_capacity(TRIES);
    let mut session = Session::default();
    for n in 0..TRIES {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO notes (author, body) VALUES (1, $1) RETURNING id")
                .bind(format!("note {n}"))
                .fetch_one(&router.primary)
                .await?;
        router.wrote(&mut session).await?;
        let started = Instant::now();
        let (target, pool) = router.reader(&session).await?;
        let found = visible(pool, id).await?;
        reads.push(started.elapsed());
        if target == Target::Primary {
            on_primary += 1;
        }
        if !found {
            misses += 1;
        }
    }
    Ok((misses, on_primary, reads))
}

/// (c) The replica is read-only: a write is refused with SQLSTATE 25006.
async fn refused(replica: &PgPool) -> Result<(), StepError> {
    let result = sqlx::query("INSERT INTO notes (author, body) VALUES (2, 'sent to the replica')")
        .execute(replica)
        .await;
    match result {
        Err(error) if is_read_only_refusal(&error) => {
            let message = error
                .as_database_error()
                .map(|e| e.message().to_owned())
                .unwrap_or_default();
            say(format_args!(
                "A write sent to the replica is refused: SQLSTATE {}, {message:?}.",
                replica::READ_ONLY_SQL_TRANSACTION
            ));
            say("So a router sends every write, and every read of a writing transaction, to the");
            say("primary.");
            Ok(())
        }
        Err(error) => Err(error.into()),
        Ok(_) => Err(Unexpected {
            expected: "the replica to refuse a write",
            got: "the INSERT succeeded".to_owned(),
        }
        .into()),
    }
}

//! Steps 1, 2 and 7: the ones that talk to PostgreSQL directly.

use std::time::Instant;

use narrate::{Table, duration, heading, say, show, thousands};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Settings, StepError};
use crate::bulk::{self, WriteReport};
use crate::database::{self, DemoDatabase, SetupError};
use crate::pagination::{self, PassReport};

pub async fn setup(settings: &Settings) -> Result<DemoDatabase, SetupError> {
    heading(1, "A catalog to work with");
    say(format_args!("Server: {}", settings.server.redacted()));
    let started = Instant::now();
    let db = DemoDatabase::create(&settings.server, &settings.database).await?;
    database::prepare(db.pool(), &settings.size).await?;
    say(format_args!(
        "Re-created the database {}, applied the capstone's migrations, seeded {} products",
        db.name(),
        thousands(settings.size.products as i64)
    ));
    say(format_args!(
        "in 40 categories and added an index on (price_minor, id), in {}.",
        duration(started.elapsed())
    ));
    Ok(db)
}

// ANCHOR: step_drift
pub async fn offset_vs_keyset(pool: &PgPool, page_size: u32) -> Result<(), StepError> {
    heading(2, "Offset vs keyset, while the catalog changes");
    let (products, prices): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT price_minor) FROM products")
            .fetch_one(pool)
            .await?;
    say(format_args!(
        "{} products share {} distinct prices, so ORDER BY price alone leaves the order of equal",
        thousands(products),
        thousands(prices)
    ));
    say(
        "prices to the planner, and two queries may disagree. Both passes sort by (price, id): the",
    );
    say("id breaks every tie, and the order is total.");
    say(format_args!(
        "A client reads every page of {page_size}. Between two fetches another task writes: after odd"
    ));
    say(
        "pages a flash-sale product appears at the cheap end, after even pages it is sold and deleted.",
    );
    let started = Instant::now();
    let report = pagination::drift(pool, page_size).await?;
    let mut table = Table::new([
        "pagination",
        "pages>",
        "rows read>",
        "at start>",
        "duplicates>",
        "skipped>",
    ]);
    for (name, pass) in [
        ("LIMIT/OFFSET", &report.offset),
        ("keyset (price, id)", &report.keyset),
    ] {
        table.row([
            name.to_owned(),
            pass.pages.to_string(),
            thousands(pass.rows_read as i64),
            thousands(pass.rows_at_start as i64),
            thousands(pass.duplicates as i64),
            thousands(pass.skipped as i64),
        ]);
    }
    print!("{table}");
    show(format_args!(
        "the writer inserted {} and deleted {} rows during the two passes ({})",
        report.inserted,
        report.deleted,
        duration(started.elapsed())
    ));
    explain_drift(&report.offset, page_size);
    if report.keyset.duplicates != 0 || report.keyset.skipped != 0 || report.offset.duplicates == 0
    {
        return Err(StepError::Expected(
            "offset to drift and keyset not to; the counts say otherwise",
        ));
    }
    Ok(())
}
// ANCHOR_END: step_drift

fn explain_drift(offset: &PassReport, page_size: u32) {
    if let Some((page, name)) = &offset.first_duplicate {
        say(format_args!(
            "With OFFSET, page {page} began with \"{name}\" again:"
        ));
        say(format_args!(
            "a row inserted before the position moved every later row one place down, so OFFSET {}",
            (page - 1) * page_size
        ));
        say("now pointed one row too early.");
    }
    say("A deletion does the opposite: the next page starts one row too late, and a row that was");
    say("in the table all along is never shown. Keyset asks for rows after (last price, last id),");
    say("which does not move when other rows come and go. Rows inserted behind the reader are not");
    say("seen in this pass, which is right: they were not there when it passed that point.");
}

// ANCHOR: step_bulk
pub async fn bulk_writes(pool: &PgPool, rows: usize) -> Result<(), StepError> {
    heading(7, "Bulk insert and upsert");
    let category: Uuid = sqlx::query_scalar("SELECT id FROM categories ORDER BY slug DESC LIMIT 1")
        .fetch_one(pool)
        .await?;
    let one_by_one =
        bulk::insert_row_by_row(pool, category, &bulk::feed("ROW", rows, 1_000)).await?;
    let unnest = bulk::insert_unnest(pool, category, &bulk::feed("BULK", rows, 1_000)).await?;
    say(format_args!(
        "{rows} new products, written twice: one INSERT per row, then one INSERT ... SELECT FROM UNNEST"
    ));
    say("with each column sent as a single array (both in one transaction):");
    let mut table = Table::new(["method", "rows>", "round trips>", "took>"]);
    let line = |name: &str, r: &WriteReport| {
        [
            name.to_owned(),
            thousands(r.rows as i64),
            thousands(i64::from(r.round_trips)),
            duration(r.elapsed),
        ]
    };
    table.row(line("row by row", &one_by_one));
    table.row(line("UNNEST arrays", &unnest));
    print!("{table}");
    let ratio = one_by_one.elapsed.as_secs_f64() / unnest.elapsed.as_secs_f64().max(1e-9);
    show(format_args!(
        "UNNEST was {ratio:.0}x faster here: the cost of a row-by-row insert is mostly waiting for the"
    ));
    show("network and the server to answer each statement, once per row.");

    // A supplier's feed: the first half of the BULK SKUs with every other price changed, plus
    // as many new SKUs.
    let mut feed = bulk::feed("BULK", rows / 2, 1_000);
    for (i, row) in feed.iter_mut().enumerate() {
        if i % 2 == 0 {
            row.price_minor += 500;
        }
    }
    feed.extend(bulk::feed("NEW", rows / 2, 2_000));
    let report = bulk::upsert_feed(pool, category, &feed).await?;
    say(format_args!(
        "An upsert of a {}-line supplier feed: INSERT ... ON CONFLICT (sku) DO UPDATE ... WHERE the",
        feed.len()
    ));
    say("values differ, RETURNING (xmax = 0) AS inserted, one statement:");
    let mut table = Table::new(["outcome", "rows>"]);
    table
        .row(["inserted (new SKU)".to_owned(), report.inserted.to_string()])
        .row([
            "updated (price changed)".to_owned(),
            report.updated.to_string(),
        ])
        .row([
            "unchanged (no write)".to_owned(),
            report.unchanged.to_string(),
        ]);
    print!("{table}");
    say(
        "xmax = 0 is true for a row version no transaction has replaced or locked: a fresh insert.",
    );
    say("The WHERE on DO UPDATE skips identical rows, so a feed re-sent unchanged writes nothing.");
    Ok(())
}
// ANCHOR_END: step_bulk

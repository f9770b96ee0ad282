//! Offset against keyset pagination, measured while the table changes underneath.
//!
//! What this module shows: a client pages through the catalog by `(price, id)` while another
//! task inserts and deletes products between its page fetches, the way a live shop does. With
//! `LIMIT/OFFSET`, a row inserted before the current position pushes the next page's rows one
//! place later, so the client reads one again (a duplicate); a row deleted before it pulls them
//! one place earlier, so the client never sees one (a skip). With a keyset (`WHERE (price, id)
//! > (last price, last id)`) the next page starts after the last row seen, wherever it now
//! is, and neither happens. [`drift`] runs both passes against the same writer and counts.
//!
//! The writer is a real task on its own connection, stepped by the reader through a channel
//! so that each run changes the same rows at the same moments and the counts are repeatable.
//!
//! Tests: `cargo test -p lesson-05 --test postgres` (needs PostgreSQL).

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// One listed row: enough to order it and to name it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PageRow {
    pub id: Uuid,
    pub price_minor: i64,
    pub name: String,
}

// ANCHOR: pages
/// Page `number` (from 0) with LIMIT/OFFSET: the database reads and throws away
/// `number * size` rows first, and "the 40th row" means whatever is 40th *now*.
pub async fn offset_page(pool: &PgPool, number: u32, size: u32) -> sqlx::Result<Vec<PageRow>> {
    sqlx::query_as(
        "SELECT id, price_minor, name FROM products
         ORDER BY price_minor, id LIMIT $1 OFFSET $2",
    )
    .bind(i64::from(size))
    .bind(i64::from(number) * i64::from(size))
    .fetch_all(pool)
    .await
}

/// The page after `after` (the last row's price and id; `None` for the first page): the
/// index on (price_minor, id) jumps straight to it, however deep the page.
pub async fn keyset_page(
    pool: &PgPool,
    after: Option<(i64, Uuid)>,
    size: u32,
) -> sqlx::Result<Vec<PageRow>> {
    match after {
        None => {
            sqlx::query_as(
                "SELECT id, price_minor, name FROM products ORDER BY price_minor, id LIMIT $1",
            )
            .bind(i64::from(size))
            .fetch_all(pool)
            .await
        }
        Some((price, id)) => {
            sqlx::query_as(
                "SELECT id, price_minor, name FROM products
                 WHERE (price_minor, id) > ($1, $2)
                 ORDER BY price_minor, id LIMIT $3",
            )
            .bind(price)
            .bind(id)
            .bind(i64::from(size))
            .fetch_all(pool)
            .await
        }
    }
}
// ANCHOR_END: pages

/// The composite index keyset pagination relies on; the schema indexes products by id, SKU
/// and category, not by price. `IF NOT EXISTS`: running the demo twice is harmless.
pub async fn create_price_index(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS products_price_minor_id_idx ON products (price_minor, id)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How one pass through the catalog went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassReport {
    pub pages: u32,
    pub rows_read: usize,
    /// Rows read more than once.
    pub duplicates: usize,
    /// Rows that were in the table for the whole pass and never appeared.
    pub skipped: usize,
    /// Rows in the table when the pass started.
    pub rows_at_start: usize,
    /// The first duplicate: the page it reappeared on, and its name.
    pub first_duplicate: Option<(u32, String)>,
}

/// The two passes side by side, and what the writer did during each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftReport {
    pub offset: PassReport,
    pub keyset: PassReport,
    pub inserted: usize,
    pub deleted: usize,
}

/// What the writer does after each page: a flash-sale product appears at the cheap end of
/// the list, and the one before it sells out and is removed. Both are before the reader's
/// position from the second page on, which is where a change hurts offset pagination.
#[derive(Debug, Clone, Copy)]
enum Change {
    Insert,
    Delete,
}

struct Writer {
    requests: mpsc::Sender<(Change, oneshot::Sender<sqlx::Result<()>>)>,
    task: tokio::task::JoinHandle<(usize, usize)>,
}

impl Writer {
    /// Starts the writer task. It owns its own pool handle and runs until the reader hangs up.
    fn spawn(pool: PgPool, category: Uuid) -> Self {
        let (requests, mut inbox) = mpsc::channel::<(Change, oneshot::Sender<sqlx::Result<()>>)>(1);
        let task = tokio::spawn(async move {
            let mut live: Vec<Uuid> = Vec::new();
            let (mut inserted, mut deleted) = (0, 0);
            while let Some((change, done)) = inbox.recv().await {
                let result = match change {
                    Change::Insert => {
                        let id = Uuid::now_v7();
                        let n = inserted + 1;
                        let outcome = insert_flash_product(&pool, id, category, n).await;
                        if outcome.is_ok() {
                            live.push(id);
                            inserted += 1;
                        }
                        outcome
                    }
                    Change::Delete => match live.pop() {
                        Some(id) => {
                            let outcome = sqlx::query("DELETE FROM products WHERE id = $1")
                                .bind(id)
                                .execute(&pool)
                                .await
                                .map(|_| ());
                            deleted += usize::from(outcome.is_ok());
                            outcome
                        }
                        None => Ok(()),
                    },
                };
                // The reader may have given up; then nobody needs the answer.
                let _ = done.send(result);
            }
            (inserted, deleted)
        });
        Writer { requests, task }
    }

    /// Asks for one change and waits until it is committed.
    async fn change(&self, change: Change) -> sqlx::Result<()> {
        let (done, answer) = oneshot::channel();
        if self.requests.send((change, done)).await.is_err() {
            return Err(sqlx::Error::WorkerCrashed);
        }
        answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }
}

async fn insert_flash_product(
    pool: &PgPool,
    id: Uuid,
    category: Uuid,
    n: usize,
) -> sqlx::Result<()> {
    // 0.10 € to 0.49 €: cheaper than anything the seed generates, so it sorts first.
    let price = 10 + (n % 40) as i64;
    sqlx::query(
        "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
         VALUES ($1, $2, $3, $4, $5, 'EUR')",
    )
    .bind(id)
    .bind(format!("FLASH-{n:06}"))
    .bind(format!("Flash sale item {n}"))
    .bind(category)
    .bind(price)
    .execute(pool)
    .await
    .map(|_| ())
}

// ANCHOR: drift
/// Pages through the whole catalog twice, by offset and then by keyset, with pages of `size`
/// rows, while a writer task inserts (after odd pages) and deletes (after even pages) a
/// product cheaper than everything else between page fetches.
pub async fn drift(pool: &PgPool, size: u32) -> sqlx::Result<DriftReport> {
    let category: Uuid = sqlx::query_scalar("SELECT id FROM categories ORDER BY slug LIMIT 1")
        .fetch_one(pool)
        .await?;
    let writer = Writer::spawn(pool.clone(), category);
    let offset = pass(pool, &writer, |page, _| async move {
        offset_page(pool, page, size).await
    })
    .await?;
    let keyset = pass(pool, &writer, |_, last: Option<PageRow>| async move {
        keyset_page(pool, last.map(|row| (row.price_minor, row.id)), size).await
    })
    .await?;
    let Writer { requests, task } = writer;
    drop(requests);
    let (inserted, deleted) = task.await.map_err(|_| sqlx::Error::WorkerCrashed)?;
    Ok(DriftReport {
        offset,
        keyset,
        inserted,
        deleted,
    })
}
// ANCHOR_END: drift

/// One pass: fetch pages with `fetch(page number, last row so far)` until one comes back
/// empty, letting the writer change the table after each, then compare with the rows that
/// were there at the start.
async fn pass<F, Fut>(pool: &PgPool, writer: &Writer, fetch: F) -> sqlx::Result<PassReport>
where
    F: Fn(u32, Option<PageRow>) -> Fut,
    Fut: Future<Output = sqlx::Result<Vec<PageRow>>>,
{
    let at_start: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM products")
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    let mut seen: HashMap<Uuid, u32> = HashMap::new();
    let mut report = PassReport {
        rows_at_start: at_start.len(),
        ..PassReport::default()
    };
    let mut last: Option<PageRow> = None;
    loop {
        let rows = fetch(report.pages, last.clone()).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let count = seen.entry(row.id).or_default();
            *count += 1;
            if *count == 2 && report.first_duplicate.is_none() {
                report.first_duplicate = Some((report.pages + 1, row.name.clone()));
            }
        }
        report.pages += 1;
        report.rows_read += rows.len();
        last = rows.last().cloned();
        let change = if report.pages % 2 == 1 {
            Change::Insert
        } else {
            Change::Delete
        };
        writer.change(change).await?;
    }
    report.duplicates = seen.values().map(|&n| n as usize - 1).sum();
    // The writer only deletes its own rows, so every row present at the start is still there:
    // any of them not seen was skipped.
    report.skipped = at_start.iter().filter(|id| !seen.contains_key(id)).count();
    Ok(report)
}

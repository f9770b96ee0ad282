//! Step 2: the N+1 problem. The 100 customers of one region and their purchases, loaded
//! four ways through a pool that counts statements: the loop that sends one query per
//! customer, one JOIN, two queries with `= ANY($1)`, and the loop's shape over a batcher.

use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, thousands};

use super::{Demo, StepError};
use crate::counter::Counted;
use crate::loaders::{self, CustomerPurchases};

const CUSTOMERS: i64 = 1_000;
const PURCHASES: i64 = 20_000;
const REGION: &str = "region-3";

pub async fn n_plus_one(demo: &Demo) -> Result<(), StepError> {
    heading(2, "The N+1 problem, counted, and three fixes");
    let pool = demo.pool().await?;
    loaders::seed(&pool, CUSTOMERS, PURCHASES).await?;
    say(format_args!(
        "{} customers in ten regions, {} purchases. The page: every customer of",
        thousands(CUSTOMERS),
        thousands(PURCHASES)
    ));
    say(format_args!(
        "{REGION} with their purchases, loaded through a pool that counts statements."
    ));

    let db = Counted::new(pool);
    // Once unmeasured, so that every way below finds its statements prepared and its pages
    // cached alike.
    loaders::any(&db, REGION).await?;
    db.take();

    let mut table = Table::new(["way", "statements>", "time>", "customers>", "purchases>"]);
    let mut results: Vec<(usize, Duration, Vec<CustomerPurchases>)> = Vec::new();
    for way in Way::ALL {
        let started = Instant::now();
        let loaded = way.load(&db).await?;
        let took = started.elapsed();
        let statements = db.take();
        let purchases: usize = loaded.iter().map(|c| c.purchases.len()).sum();
        table.row([
            way.name().to_owned(),
            statements.to_string(),
            duration(took),
            loaded.len().to_string(),
            thousands(purchases as i64),
        ]);
        results.push((statements, took, loaded));
    }
    print!("{table}");

    let customers = results[0].2.len();
    let same = results.iter().all(|(.., loaded)| *loaded == results[0].2);
    let counts: Vec<usize> = results.iter().map(|(n, ..)| *n).collect();
    expect(
        same && customers > 0 && counts == [customers + 1, 1, 2, 2],
        "the same page from 1 + N, 1, 2 and 2 statements",
        format!("{counts:?} statements for {customers} customers, same answers: {same}"),
    )?;
    let (loop_time, any_time) = (results[0].1, results[2].1);
    say(format_args!(
        "The loop sent {} statements for {customers} customers, each a round trip and an",
        counts[0]
    ));
    say(format_args!(
        "execution of its own: {} in all, against {} for ANY's two. Nothing in the code",
        duration(loop_time),
        duration(any_time)
    ));
    say("looks wrong; the counter shows it, and is what a test asserts on. The JOIN is one");
    say("statement, but repeats each customer's columns on every purchase row. ANY($1) sends the");
    say("ids as one array parameter, so the SQL text, and its prepared statement, is the same for");
    say("ten ids or ten thousand. The batcher keeps the loop's shape (one load per customer, the");
    say("way a GraphQL resolver is written) and turns the loads polled together into that same");
    say("ANY query.");
    Ok(())
}

/// The four ways, in the order the table shows them.
#[derive(Debug, Clone, Copy)]
enum Way {
    Loop,
    Join,
    Any,
    Batched,
}

impl Way {
    const ALL: [Way; 4] = [Way::Loop, Way::Join, Way::Any, Way::Batched];

    fn name(self) -> &'static str {
        match self {
            Way::Loop => "N+1 loop",
            Way::Join => "one JOIN",
            Way::Any => "= ANY($1)",
            Way::Batched => "batched loads",
        }
    }

    async fn load(self, db: &Counted) -> Result<Vec<CustomerPurchases>, StepError> {
        Ok(match self {
            Way::Loop => loaders::n_plus_one(db, REGION).await?,
            Way::Join => loaders::join(db, REGION).await?,
            Way::Any => loaders::any(db, REGION).await?,
            Way::Batched => loaders::batched(db, REGION).await?,
        })
    }
}

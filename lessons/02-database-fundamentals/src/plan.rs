//! Step 5: what an index changes, read from `EXPLAIN (ANALYZE, BUFFERS)`.
//!
//! `EXPLAIN` shows the plan PostgreSQL chose for a query; `ANALYZE` also runs the query and adds
//! what really happened (rows, time per node); `BUFFERS` adds how many 8 kB pages each node
//! touched, the number that predicts how a query scales better than a single timing does.
//! `COSTS OFF` leaves out the planner's estimates (`cost=0.00..457.00 rows=424`), which keeps
//! the lines short enough to print; run the query in `psql` without it to see them.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

// ANCHOR: explain
/// The query under study: a customer's ten latest orders, the first thing an account page
/// shows. The schema deliberately has no index on `orders (user_id)` yet.
pub const LATEST_ORDERS: &str = "SELECT id, placed_at, status FROM orders \
                                 WHERE user_id = $1 ORDER BY placed_at DESC LIMIT 10";

/// Runs [`LATEST_ORDERS`] for `user_id` under `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)`.
#[tracing::instrument(skip(pool), err)]
pub async fn explain_latest_orders(pool: &PgPool, user_id: Uuid) -> Result<Plan, sqlx::Error> {
    // EXPLAIN returns its report as rows of text, one line each.
    // Both halves are our constants, so formatting them together is safe SQL.
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {LATEST_ORDERS}");
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(explain))
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok(Plan::parse(lines))
}

/// The index that serves the query: equality on the first column, then the rows of one user
/// already in the order the query wants, so PostgreSQL reads ten index entries and stops.
#[tracing::instrument(skip(pool), err)]
pub async fn create_latest_orders_index(pool: &PgPool) -> Result<Duration, sqlx::Error> {
    let started = Instant::now();
    sqlx::query("CREATE INDEX orders_user_id_placed_at_idx ON orders (user_id, placed_at DESC)")
        .execute(pool)
        .await?;
    Ok(started.elapsed())
}
// ANCHOR_END: explain

/// An `EXPLAIN ANALYZE` report, split into the plan tree and the two timings at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The plan tree, one node or detail per line, indentation kept.
    pub lines: Vec<String>,
    pub planning_ms: Option<f64>,
    pub execution_ms: Option<f64>,
}

impl Plan {
    /// Splits `Planning Time: 0.080 ms` and `Execution Time: 2.317 ms` off the plan lines, and
    /// drops the planner's own buffer report (it describes planning, not the query).
    pub fn parse(lines: Vec<String>) -> Plan {
        let mut plan = Plan {
            lines: Vec::new(),
            planning_ms: None,
            execution_ms: None,
        };
        let mut in_planning = false;
        for line in lines {
            let trimmed = line.trim();
            if let Some(ms) = trimmed.strip_prefix("Planning Time:") {
                plan.planning_ms = parse_ms(ms);
            } else if let Some(ms) = trimmed.strip_prefix("Execution Time:") {
                plan.execution_ms = parse_ms(ms);
            } else if trimmed == "Planning:" {
                in_planning = true;
            } else if in_planning && line.starts_with("  ") {
                // "  Buffers: shared hit=12" under "Planning:".
            } else {
                in_planning = false;
                plan.lines.push(line);
            }
        }
        plan
    }

    /// The scan at the bottom of the plan: `Seq Scan`, `Index Scan`, `Bitmap Heap Scan`, ...
    pub fn scan(&self) -> Option<&str> {
        self.lines.iter().rev().find_map(|line| {
            let node = line.trim_start().trim_start_matches("->").trim_start();
            let name = &node[..node.find(" on ")?];
            // "Index Scan using orders_user_id_placed_at_idx": the node type, then the index.
            let kind = name.split(" using ").next()?;
            kind.ends_with("Scan").then_some(name)
        })
    }

    /// Pages the top node touched (from shared buffers or disk), when `BUFFERS` reported them.
    pub fn pages(&self) -> Option<u64> {
        let line = self
            .lines
            .iter()
            .find(|l| l.trim_start().starts_with("Buffers:"))?;
        // "Buffers: shared hit=3 read=1": pages found in PostgreSQL's cache plus pages it had
        // to ask the operating system for. Other counters (dirtied, written) are not reads.
        let counts = line.split_whitespace().filter_map(|word| {
            let (key, value) = word.split_once('=')?;
            if key == "hit" || key == "read" {
                value.parse::<u64>().ok()
            } else {
                None
            }
        });
        Some(counts.sum())
    }
}

fn parse_ms(text: &str) -> Option<f64> {
    text.trim().strip_suffix("ms")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_seq_scan_report_splits_into_plan_and_timings() {
        let plan = Plan::parse(report(
            "Limit  (cost=467.84..467.86 rows=10 width=32) (actual time=2.312..2.314 rows=10 loops=1)
  Buffers: shared hit=167
  ->  Sort  (cost=467.84..468.09 rows=100 width=32) (actual time=2.311..2.312 rows=10 loops=1)
        Sort Key: placed_at DESC
        Sort Method: top-N heapsort  Memory: 26kB
        Buffers: shared hit=167
        ->  Seq Scan on orders  (cost=0.00..465.00 rows=100 width=32) (actual time=0.011..2.270 rows=412 loops=1)
              Filter: (user_id = '0191e8a4-7b3c-7def-8123-456789abcdef'::uuid)
              Rows Removed by Filter: 19588
              Buffers: shared hit=167
Planning:
  Buffers: shared hit=8
Planning Time: 0.080 ms
Execution Time: 2.337 ms",
        ));
        assert_eq!(plan.scan(), Some("Seq Scan"));
        assert_eq!(plan.pages(), Some(167));
        assert_eq!(plan.planning_ms, Some(0.080));
        assert_eq!(plan.execution_ms, Some(2.337));
        assert_eq!(plan.lines.len(), 10, "planning buffers are dropped");
    }

    #[test]
    fn an_index_scan_is_recognised_under_its_limit() {
        let plan = Plan::parse(report(
            "Limit  (actual time=0.020..0.031 rows=10 loops=1)
  Buffers: shared hit=3 read=1
  ->  Index Scan using orders_user_id_placed_at_idx on orders  (actual time=0.019..0.029 rows=10 loops=1)
        Index Cond: (user_id = '0191e8a4-7b3c-7def-8123-456789abcdef'::uuid)
        Buffers: shared hit=3 read=1
Planning Time: 0.210 ms
Execution Time: 0.045 ms",
        ));
        assert_eq!(
            plan.scan(),
            Some("Index Scan using orders_user_id_placed_at_idx")
        );
        assert_eq!(plan.pages(), Some(4));
        assert_eq!(plan.execution_ms, Some(0.045));
    }
}

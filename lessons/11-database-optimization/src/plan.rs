//! Reading a plan without reading a wall of text: the few numbers of
//! `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` that say what a query cost.
//!
//! - the node chain from the top (`Limit → Index Scan`): how the rows were found;
//! - the index it used, if any;
//! - the rows it returned;
//! - the buffers (8 kB pages) it touched, from cache or disk: the work, and a steadier number
//!   than time on a busy laptop;
//! - heap fetches of an index-only scan: rows it had to check in the table after all;
//! - the execution time, measured by the server.

use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// What a plan cost.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSummary {
    /// Node types from the top down the first child of each: `["Limit", "Index Scan"]`.
    pub nodes: Vec<String>,
    /// The first index the plan names, searching the whole tree.
    pub index: Option<String>,
    /// Rows the top node returned.
    pub rows: u64,
    /// Shared buffers hit or read by the whole plan.
    pub buffers: u64,
    /// Heap fetches of index-only scans, summed over the tree (`None` without any).
    pub heap_fetches: Option<u64>,
    pub execution: Duration,
}

impl PlanSummary {
    /// `Limit → Index Scan`.
    pub fn chain(&self) -> String {
        self.nodes.join(" → ")
    }

    /// True when some node of the chain is `kind` (`"Index Only Scan"`).
    pub fn uses(&self, kind: &str) -> bool {
        self.nodes.iter().any(|node| node == kind)
    }
}

/// The JSON was not the shape EXPLAIN prints.
#[derive(Debug, Error)]
#[error("EXPLAIN's JSON has no {0}")]
pub struct PlanError(&'static str);

/// Reads the output of `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`: an array of one object with
/// `Plan` and `Execution Time`.
pub fn summarize(explain: &Value) -> Result<PlanSummary, PlanError> {
    let top = explain.get(0).ok_or(PlanError("array of one plan"))?;
    let plan = top.get("Plan").ok_or(PlanError("\"Plan\""))?;
    let millis = top
        .get("Execution Time")
        .and_then(Value::as_f64)
        .ok_or(PlanError("\"Execution Time\" (was it run with ANALYZE?)"))?;
    let mut nodes = Vec::new();
    let mut node = Some(plan);
    while let Some(current) = node {
        if let Some(kind) = current.get("Node Type").and_then(Value::as_str) {
            // Text EXPLAIN prints "Parallel Seq Scan"; JSON says it with a flag.
            let parallel = current.get("Parallel Aware").and_then(Value::as_bool) == Some(true);
            nodes.push(if parallel {
                format!("Parallel {kind}")
            } else {
                kind.to_owned()
            });
        }
        node = current.get("Plans").and_then(|plans| plans.get(0));
    }
    let number = |key: &str| plan.get(key).and_then(Value::as_u64).unwrap_or(0);
    Ok(PlanSummary {
        nodes,
        index: first_index(plan),
        rows: plan
            .get("Actual Rows")
            .and_then(Value::as_f64)
            .map_or(0, |rows| rows.round() as u64),
        buffers: number("Shared Hit Blocks") + number("Shared Read Blocks"),
        heap_fetches: heap_fetches(plan),
        execution: Duration::from_secs_f64(millis.max(0.0) / 1e3),
    })
}

fn children(node: &Value) -> impl Iterator<Item = &Value> {
    node.get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn first_index(node: &Value) -> Option<String> {
    if let Some(name) = node.get("Index Name").and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    children(node).find_map(first_index)
}

fn heap_fetches(node: &Value) -> Option<u64> {
    let own = node.get("Heap Fetches").and_then(Value::as_u64);
    children(node)
        .map(heap_fetches)
        .fold(own, |sum, child| match (sum, child) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reduces_to_its_chain_index_rows_buffers_and_time() {
        let explain = serde_json::json!([{
            "Plan": {
                "Node Type": "Limit",
                "Actual Rows": 20,
                "Shared Hit Blocks": 5,
                "Shared Read Blocks": 2,
                "Plans": [{
                    "Node Type": "Index Only Scan",
                    "Index Name": "orders_covering",
                    "Actual Rows": 20,
                    "Heap Fetches": 3,
                    "Shared Hit Blocks": 5,
                    "Shared Read Blocks": 2
                }]
            },
            "Planning Time": 0.1,
            "Execution Time": 1.5
        }]);
        let plan = summarize(&explain).unwrap();
        assert_eq!(plan.chain(), "Limit → Index Only Scan");
        assert!(plan.uses("Index Only Scan"));
        assert_eq!(plan.index.as_deref(), Some("orders_covering"));
        assert_eq!(plan.rows, 20);
        assert_eq!(plan.buffers, 7);
        assert_eq!(plan.heap_fetches, Some(3));
        assert_eq!(plan.execution, Duration::from_micros(1500));
    }

    #[test]
    fn a_seq_scan_has_no_index_and_no_heap_fetches() {
        let explain = serde_json::json!([{
            "Plan": {
                "Node Type": "Gather",
                "Parallel Aware": false,
                "Actual Rows": 3,
                "Shared Hit Blocks": 10,
                "Plans": [{"Node Type": "Seq Scan", "Parallel Aware": true, "Actual Rows": 1.5}]
            },
            "Execution Time": 12.0
        }]);
        let plan = summarize(&explain).unwrap();
        assert_eq!(plan.nodes, ["Gather", "Parallel Seq Scan"]);
        assert_eq!(plan.rows, 3);
        assert_eq!(plan.index, None);
        assert_eq!(plan.heap_fetches, None);
        assert_eq!(plan.buffers, 10);
    }

    #[test]
    fn output_without_analyze_or_of_another_shape_is_an_error() {
        let plain = serde_json::json!([{"Plan": {"Node Type": "Seq Scan"}}]);
        assert!(
            summarize(&plain)
                .unwrap_err()
                .to_string()
                .contains("ANALYZE")
        );
        assert!(summarize(&serde_json::json!({"Plan": {}})).is_err());
    }
}

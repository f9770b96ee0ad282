//! A latency histogram, read from the exposition text and drawn as horizontal bars.
//!
//! What this module shows (chapter 07):
//! - What a Prometheus histogram really stores: one *cumulative* counter per bucket
//!   (`_bucket{le="0.05"}` counts every request that took at most 50 ms, the faster ones
//!   included), plus `_sum` and `_count`. The bars are the differences between neighbouring
//!   buckets: how many requests fell *between* two bounds.
//! - Why the bucket bounds matter: a percentile can only be located to within a bucket, and
//!   "how many requests finished within 250 ms" is exact only because 0.25 is a bound.
//!
//! Run its tests with `cargo test -p lesson-07 histogram_picture`.

use std::collections::BTreeMap;

/// One bucket of a histogram series: its upper bound in seconds (`f64::INFINITY` for `+Inf`)
/// and how many observations were at most that (cumulative, as exposed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub le: f64,
    pub cumulative: u64,
}

/// The labels and value of one exposition line, `name{a="x",b="y"} 3`.
fn parse_line(line: &str) -> Option<(&str, BTreeMap<String, String>, &str)> {
    let open = line.find('{')?;
    let close = line.rfind("} ")?;
    let name = &line[..open];
    let labels = parse_labels(&line[open + 1..close])?;
    let value = line[close + 2..].split_whitespace().next()?;
    Some((name, labels, value))
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}. `None` for anything malformed.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let equals = rest.find('=')?;
        let key = rest[..equals].trim_start_matches(',').trim().to_owned();
        let after = rest[equals + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key, value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

/// The buckets of `{histogram}_bucket` for one `route`, in bound order, from an exposition
/// page. Empty when the page has no such series.
pub fn buckets(exposition: &str, histogram: &str, route: &str) -> Vec<Bucket> {
    let series = format!("{histogram}_bucket");
    let mut buckets: Vec<Bucket> = exposition
        .lines()
        .filter_map(parse_line)
        .filter(|(name, labels, _)| {
            *name == series && labels.get("route").map(String::as_str) == Some(route)
        })
        .filter_map(|(_, labels, value)| {
            let le = match labels.get("le")?.as_str() {
                "+Inf" => f64::INFINITY,
                bound => bound.parse().ok()?,
            };
            Some(Bucket {
                le,
                cumulative: value.parse::<f64>().ok()? as u64,
            })
        })
        .collect();
    buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    buckets
}

/// `0.005` → `5 ms`, `2.5` → `2.5 s`.
fn bound(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{} ms", (seconds * 1000.0).round())
    } else {
        format!("{seconds} s")
    }
}

/// The widest bar, in characters.
const WIDTH: usize = 40;

// ANCHOR: histogram_picture
/// One line per bucket: its range, a bar as long as the requests that fell in it (not the
/// cumulative count), and the count. `slo` (seconds) marks the bucket that ends at the latency
/// threshold, and the last line says which share of requests met it.
pub fn picture(buckets: &[Bucket], slo: f64) -> String {
    let mut rows = Vec::new();
    let mut below = 0;
    let mut lower = 0.0;
    for bucket in buckets {
        let count = bucket.cumulative.saturating_sub(below);
        let range = if bucket.le.is_infinite() {
            format!("> {}", bound(lower))
        } else {
            format!("{} – {}", bound(lower), bound(bucket.le))
        };
        rows.push((range, count, bucket.le == slo));
        below = bucket.cumulative;
        lower = bucket.le;
    }
    let largest = rows.iter().map(|(_, count, _)| *count).max().unwrap_or(0);
    let label_width = rows
        .iter()
        .map(|(r, _, _)| r.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (range, count, at_slo) in &rows {
        let bar = if largest == 0 {
            0
        } else {
            // Rounded up, so that a bucket with one request still shows.
            (*count as usize * WIDTH).div_ceil(largest as usize)
        };
        let pad = label_width - range.chars().count();
        out.push_str(&format!(
            "{range}{:pad$}  {:<WIDTH$}  {count}",
            "",
            "█".repeat(bar)
        ));
        if *at_slo {
            out.push_str("   ← latency SLO: 250 ms");
        }
        out.push('\n');
    }
    let total = buckets.last().map_or(0, |b| b.cumulative);
    if let Some(threshold) = buckets.iter().find(|b| b.le == slo)
        && total > 0
    {
        out.push_str(&format!(
            "{} of {total} requests ({:.1}%) within {}",
            threshold.cumulative,
            threshold.cumulative as f64 * 100.0 / total as f64,
            bound(slo)
        ));
        out.push('\n');
    }
    out
}
// ANCHOR_END: histogram_picture

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP http_server_request_duration_seconds Time
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_sum{method="GET",route="/products/{id}"} 1.5
http_server_request_duration_seconds_count{method="GET",route="/products/{id}"} 10
http_server_request_duration_seconds_bucket{le="0.005",method="GET",route="/products/{id}"} 4
http_server_request_duration_seconds_bucket{le="0.25",method="GET",route="/products/{id}"} 9
http_server_request_duration_seconds_bucket{le="+Inf",method="GET",route="/products/{id}"} 10
http_server_request_duration_seconds_bucket{le="0.005",method="GET",route="/metrics"} 2
# EOF
"#;

    #[test]
    fn buckets_are_read_for_one_route_in_bound_order() {
        let buckets = buckets(
            PAGE,
            "http_server_request_duration_seconds",
            "/products/{id}",
        );
        assert_eq!(
            buckets,
            vec![
                Bucket {
                    le: 0.005,
                    cumulative: 4
                },
                Bucket {
                    le: 0.25,
                    cumulative: 9
                },
                Bucket {
                    le: f64::INFINITY,
                    cumulative: 10
                },
            ]
        );
        assert!(buckets_of_nothing().is_empty());
    }

    fn buckets_of_nothing() -> Vec<Bucket> {
        buckets(PAGE, "http_server_request_duration_seconds", "/nowhere")
    }

    #[test]
    fn labels_with_escapes_and_braces_parse() {
        let labels = parse_labels(r#"a="x{y}",b="q\"r",c="""#).unwrap();
        assert_eq!(labels["a"], "x{y}");
        assert_eq!(labels["b"], "q\"r");
        assert_eq!(labels["c"], "");
        assert!(parse_labels(r#"a="unterminated"#).is_none());
    }

    #[test]
    fn bars_show_each_bucket_not_the_running_total() {
        let buckets = buckets(
            PAGE,
            "http_server_request_duration_seconds",
            "/products/{id}",
        );
        let text = picture(&buckets, 0.25);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        // 4 in the first, 5 in the second (9 - 4), 1 above: the longest bar is the second.
        let bar = |line: &str| line.matches('█').count();
        assert_eq!(bar(lines[1]), WIDTH, "{text}");
        assert_eq!(bar(lines[0]), 32, "{text}");
        assert_eq!(bar(lines[2]), 8, "{text}");
        assert!(lines[0].starts_with("0 ms – 5 ms"), "{text}");
        assert!(lines[1].ends_with("5   ← latency SLO: 250 ms"), "{text}");
        assert!(lines[2].starts_with("> 250 ms"), "{text}");
        assert_eq!(lines[3], "9 of 10 requests (90.0%) within 250 ms");
    }

    #[test]
    fn an_empty_histogram_draws_no_bars() {
        assert_eq!(picture(&[], 0.25), "");
        let zero = [
            Bucket {
                le: 0.25,
                cumulative: 0,
            },
            Bucket {
                le: f64::INFINITY,
                cumulative: 0,
            },
        ];
        assert!(!picture(&zero, 0.25).contains('█'));
    }
}

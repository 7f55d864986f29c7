//! A sweep's summaries in words: its failures by reason, and the ranking of the configurations
//! of a sweep of searches.

use std::collections::BTreeMap;

use super::table::cell;
use super::JournalEntry;

/// The failure reasons of a sweep's points, by count (most frequent first, then by reason),
/// one line each: `  12 × accelerator.rows: must be at least 1`. The `--set PATH=VALUE` that a
/// point's error starts with is dropped, so points failing the same way count together; past
/// `top` reasons, one line counts the rest.
pub fn failure_summary(entries: &[JournalEntry], top: usize) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in entries {
        if let Some(err) = &e.error {
            let reason = err
                .strip_prefix("--set ")
                .and_then(|r| r.split_once(": ").map(|(_, rest)| rest))
                .unwrap_or(err);
            *counts.entry(reason.to_string()).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = rows
        .iter()
        .take(top)
        .map(|(r, n)| format!("  {n} × {r}"))
        .collect();
    if rows.len() > top {
        let rest: usize = rows[top..].iter().map(|r| r.1).sum();
        out.push(format!(
            "  {rest} × {} other reasons (the `error` column of results.csv)",
            rows.len() - top
        ));
    }
    out.join("\n")
}

/// The label of a point without its seed: the configuration a seed repeats.
pub(super) fn config_label(e: &JournalEntry) -> String {
    e.point
        .iter()
        .filter(|(k, _)| k.as_str() != "search.seed")
        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), cell(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// For a sweep of searches: per configuration (every swept path but `search.seed`), the median
/// best cost and the median evaluations needed to come within 1% of the best cost any run found.
pub fn ranking(entries: &[JournalEntry]) -> Vec<(String, usize, f64, f64)> {
    let best = entries
        .iter()
        .filter_map(|e| e.best_cost)
        .fold(f64::INFINITY, f64::min);
    let mut groups: BTreeMap<String, Vec<&JournalEntry>> = BTreeMap::new();
    for e in entries {
        groups.entry(config_label(e)).or_default().push(e);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    };
    let mut rows: Vec<(String, usize, f64, f64)> = groups
        .into_iter()
        .map(|(label, es)| {
            let costs: Vec<f64> = es
                .iter()
                .map(|e| e.best_cost.unwrap_or(f64::INFINITY))
                .collect();
            let evals: Vec<f64> = es
                .iter()
                .map(|e| {
                    e.trace
                        .iter()
                        .position(|&c| c <= best * 1.01 + f64::MIN_POSITIVE)
                        .map_or(f64::INFINITY, |i| (i + 1) as f64)
                })
                .collect();
            (label, es.len(), median(costs), median(evals))
        })
        .collect();
    rows.sort_by(|a, b| {
        a.3.total_cmp(&b.3)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.cmp(&b.0))
    });
    rows
}

//! The per-iteration and per-token statistics of a run (what Vidur reports beside the
//! per-request latencies): batch size and batch tokens per iteration, the time between
//! tokens per token, and per replica its busy fraction and model FLOPs utilization (MFU);
//! and the fleet's load: the offered rate against the rate it serves saturated.

use serde::{Deserialize, Serialize};

use crate::engine::Outcome;
use crate::fleet::Fleet;
use crate::report::Stats;

/// Statistics of values given as (value, count) pairs sorted by value: the mean and the
/// nearest-rank percentiles of the values repeated by their counts.
pub fn weighted(pairs: impl Iterator<Item = (f64, u64)> + Clone) -> Stats {
    let n: u64 = pairs.clone().map(|p| p.1).sum();
    if n == 0 {
        return Stats::default();
    }
    let rank = |q: f64| ((q * n as f64).ceil() as u64).clamp(1, n);
    let at = |k: u64| {
        let mut seen = 0u64;
        for (v, c) in pairs.clone() {
            seen += c;
            if seen >= k {
                return v;
            }
        }
        0.0
    };
    Stats {
        mean: pairs.clone().map(|(v, c)| v * c as f64).sum::<f64>() / n as f64,
        p50: at(rank(0.5)),
        p90: at(rank(0.9)),
        p99: at(rank(0.99)),
    }
}

/// Statistics of a histogram (`h[v]` = how many times `v` occurred).
pub fn of_histogram(h: &[u64]) -> Stats {
    weighted(
        h.iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(v, &c)| (v as f64, c)),
    )
}

/// The histograms of every pool added up.
pub fn merged(hs: impl Iterator<Item = Vec<u64>>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for h in hs {
        if out.len() < h.len() {
            out.resize(h.len(), 0);
        }
        for (o, c) in out.iter_mut().zip(h) {
            *o += c;
        }
    }
    out
}

/// The time between tokens per token, s: every output token after its request's first,
/// weighted equally (a long request counts once per token, unlike TPOT's once per request).
pub fn tbt(out: &Outcome) -> Stats {
    weighted(out.tbt_ns.iter().map(|&(ns, c)| (ns as f64 * 1e-9, c)))
}

/// One replica's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// Its index over all replicas (as `requests.csv`'s `replica`).
    pub replica: u32,
    /// Its pool's name.
    pub pool: String,
    /// Iterations run.
    pub steps: u64,
    /// Time it was running an iteration over the run's `duration_s` (≤ 1). Under continuous
    /// batching a replica runs iterations whenever it holds a request, so this is high long
    /// before the replica is saturated: see the report's `load`.
    pub busy_fraction: f64,
    /// Model FLOPs over the replica's peak (all its devices) and the run's `duration_s`
    /// (absent when the device states no peak).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfu: Option<f64>,
    /// Model FLOPs over the peak and the replica's busy time: MFU while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_mfu: Option<f64>,
}

/// Per replica: busy fraction and MFU over `duration_s`.
pub fn replicas(fleet: &Fleet, out: &Outcome, duration_s: f64) -> Vec<ReplicaReport> {
    out.replica_busy_ns
        .iter()
        .enumerate()
        .map(|(i, &busy)| {
            let pool = &fleet.pools[out.replica_pool[i]];
            let busy_s = busy as f64 * 1e-9;
            let flops = out.replica_flops[i];
            let peak = pool.peak_flops;
            ReplicaReport {
                replica: i as u32,
                pool: pool.name.clone(),
                steps: out.replica_steps[i],
                busy_fraction: (busy_s / duration_s).min(1.0),
                mfu: (peak > 0.0).then(|| flops / (peak * duration_s)),
                busy_mfu: (peak > 0.0 && busy_s > 0.0).then(|| flops / (peak * busy_s)),
            }
        })
        .collect()
}

/// The fleet's load: how much of what it can serve the traffic asks for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LoadReport {
    /// The offered arrival rate: requests over the arrival window (first to last arrival),
    /// requests/s (absent when every request arrives at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    /// The rate the fleet serves saturated: `saturation_requests` requests of the traffic's
    /// lengths all arriving at t = 0, completions per second between the 10th and the 90th
    /// percentile completion (the ramp-up and the drain left out), requests/s.
    pub saturated_rps: f64,
    /// Requests of that saturated run.
    pub saturation_requests: u64,
    /// `offered_rps / saturated_rps`: the fleet's load (absent with `offered_rps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_load: Option<f64>,
    /// Busy time over `duration_s`, mean over replicas (what the pools' `utilization` is: a
    /// busy fraction, not a load).
    pub busy_fraction: f64,
}

/// Completions per second between the 10th and the 90th percentile completion of `out`.
pub fn steady_throughput(out: &Outcome) -> f64 {
    let mut fin: Vec<u64> = out.finish_ns.clone();
    fin.sort_unstable();
    let n = fin.len();
    let (a, b) = (n / 10, (n * 9 / 10).max(n / 10 + 1).min(n - 1));
    if b > a && fin[b] > fin[a] {
        (b - a) as f64 / ((fin[b] - fin[a]) as f64 * 1e-9)
    } else {
        n as f64 / (fin[n - 1].max(1) as f64 * 1e-9)
    }
}

//! # archsim-serving — LLM serving at fleet scale on archsim's step models
//!
//! archsim prices one `llm:` prefill or decode step on a chip. This crate asks the question
//! the people who deploy LLMs ask: for a traffic (arrival rate, prompt and output lengths), an
//! SLO (TTFT p90, TPOT p99) and a fleet (pools of replicas of any archsim accelerator), what
//! latency, throughput, SLO attainment and cost per token come out — and what is the largest
//! rate the fleet serves within the SLO?
//!
//! ```text
//!  serving: {traffic, pools, scheduler, router, slo, kv, kv_transfer}   workload: {llm: ...}
//!        │                          │
//!   traffic::generate          Fleet::build ── per pool: accelerator config → Family (registry)
//!   (seeded Poisson / gamma     │              → StepCost: a grid of uniform steps priced once
//!    / CSV trace)               │                by the full model, interpolated per iteration
//!        ▼                      ▼              → KV blocks = memory − weights − activations
//!   [Request] ─────────► engine::run ── EventQueue (ns, FIFO ties): arrivals → router →
//!                         replica: continuous batching, chunked prefill, paged KV cache,
//!                         preemption (recompute / swap), prefill → decode KV transfer
//!                               ▼
//!                     report::summarize ─► ServingReport (report.json) + RequestTable (CSV)
//! ```
//!
//! Every random choice is seeded; the same config and seed give the same bytes.
//!
//! ```
//! use archsim_serving::{serve, ServingConfig};
//! use archsim_workloads::WorkloadConfig;
//!
//! let serving: ServingConfig = serde_json::from_value(serde_json::json!({
//!     "traffic": {"arrival": "poisson", "rate": 2.0, "requests": 200, "seed": 0,
//!                 "prompt_tokens": {"fixed": 256}, "output_tokens": {"fixed": 32}},
//!     "pools": [{"accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0},
//!                                "mem_bw_gb_s": 3350.0, "mem_gb": 80.0},
//!                "count": 1, "cost_per_hour": 4.0}],
//!     "scheduler": {"max_batch": 32, "max_batch_tokens": 2048},
//!     "slo": {"ttft_p90_s": 1.0, "tpot_p99_s": 0.1}
//! })).unwrap();
//! let workload: WorkloadConfig =
//!     serde_json::from_value(serde_json::json!({"llm": {"model": "llama2_7b"}})).unwrap();
//! let run = serve(&serving, &workload, 0, std::path::Path::new(".")).unwrap();
//! assert_eq!(run.report.requests, 200);
//! assert!(run.report.slo_met && run.report.ttft_s.p50 < 0.1);
//! assert!(run.report.cost_per_mtok > 0.0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod engine;
pub mod fleet;
pub mod kv;
pub mod prefix;
pub mod report;
pub mod speculative;
pub mod step;
pub mod traffic;

use std::path::Path;

use thiserror::Error;

use archsim_workloads::WorkloadConfig;

/// The most requests one serving run may simulate (`serving.traffic.requests`,
/// `serving.capacity.requests`, a study's `requests`). A run keeps every request in memory
/// (its arrival, lengths and the timings of `requests.csv`) and writes one `requests.csv` row
/// each: measured at about 150 bytes of memory and 85 bytes of `requests.csv` a request
/// (200,000 LLaMA-2-7B requests: 27 MB more peak memory than 20,000), so ten million
/// requests is about 1.5 GB of memory and an 850 MB table. The bound is checked when the
/// config loads, before anything is allocated.
pub const MAX_REQUESTS: u64 = 10_000_000;

/// The most tokens of one prompt or one output (a length distribution's values): far beyond
/// any served model's context, and small enough that a request's token counts stay exact.
pub const MAX_TOKENS: u32 = 1 << 20;

/// The most replicas of one pool (`serving.pools[i].count`): every replica holds its own
/// queue and KV cache in memory.
pub const MAX_REPLICAS: u32 = 65_536;

/// The most bisection steps of a capacity search.
const MAX_BISECTIONS: usize = 200;

pub use config::ServingConfig;
pub use engine::Outcome;
pub use fleet::{Fleet, PoolCache};
pub use report::{CapacityReport, RatePoint, RequestTable, ServingReport, Stats};
pub use traffic::Request;

/// A serving config file: the model, the `serving:` section and the seed (what `archsim run`
/// reads, less a `search:` or `sweep:` section).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServingFile {
    /// The model served: an `llm:` workload (its phase, batch and lengths come from the
    /// traffic; `dtype`, `framework` and the `llm:` keys such as `layers` apply).
    pub workload: WorkloadConfig,
    /// Traffic, pools, scheduler, router, SLO, KV cache.
    pub serving: ServingConfig,
    /// Seed of every random choice (default 0; `serving.traffic.seed` overrides it for the
    /// traffic).
    #[serde(default)]
    pub seed: u64,
}

/// A serving error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServingError {
    /// A config value is bad, or the fleet cannot serve the traffic (bad input).
    #[error("{key}: {reason}")]
    Config {
        /// The dotted key (`serving.traffic.rate`, `serving.pools.0.accelerator.preset`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An internal invariant failed (a bug; please report it).
    #[error("internal error (please report): {0}")]
    PotentialBug(String),
    /// The caller asked the run to stop ([`archsim_sim::cancel`]).
    #[error("interrupted")]
    Cancelled,
}

/// A finished serving run.
#[derive(Debug, Clone)]
pub struct Served {
    /// The metrics (`report.json`).
    pub report: ServingReport,
    /// One row per request (`requests.csv`).
    pub requests: RequestTable,
    /// The raw outcome (times in ns, per-pool statistics).
    pub outcome: Outcome,
}

/// Runs the serving config `cfg` for `workload` (relative paths against `base`): builds the
/// fleet, generates the traffic, simulates, summarizes, and runs the capacity search when
/// `cfg.capacity` asks for it.
pub fn serve(
    cfg: &ServingConfig,
    workload: &WorkloadConfig,
    seed: u64,
    base: &Path,
) -> Result<Served, ServingError> {
    cfg.validate()?;
    let fleet = Fleet::build(cfg, workload, seed, base, true)?;
    let reqs = traffic::generate(&cfg.traffic, seed, base, None, None)?;
    let outcome = engine::run(&fleet, cfg, &reqs, seed)?;
    let (mut report, requests) = report::summarize(&fleet, cfg, &outcome, seed, true);
    if cfg.capacity.is_some() {
        report.capacity = Some(capacity(&fleet, cfg, seed, base)?);
    }
    Ok(Served {
        report,
        requests,
        outcome,
    })
}

/// Simulates `cfg`'s traffic at `rate` (requests/s; `None`: the configured rate) with
/// `requests` requests (`None`: the configured count) on a built fleet.
pub fn evaluate_rate(
    fleet: &Fleet,
    cfg: &ServingConfig,
    seed: u64,
    base: &Path,
    rate: Option<f64>,
    requests: Option<u64>,
) -> Result<ServingReport, ServingError> {
    let reqs = traffic::generate(&cfg.traffic, seed, base, rate, requests)?;
    let outcome = engine::run(fleet, cfg, &reqs, seed)?;
    Ok(report::summarize(fleet, cfg, &outcome, seed, false).0)
}

/// The largest arrival rate at which the fleet meets the SLO (TTFT p90 and TPOT p99 within
/// bounds), by bisection: the top of the bracket starts at 1.2 × the throughput of the fleet
/// saturated (every request arriving within a microsecond) and doubles until the SLO fails,
/// the bottom is a thousandth of it; an SLO missed even at the bottom is an explicit
/// infeasible result.
pub fn capacity(
    fleet: &Fleet,
    cfg: &ServingConfig,
    seed: u64,
    base: &Path,
) -> Result<CapacityReport, ServingError> {
    let c = cfg.capacity.unwrap_or(config::CapacityConfig {
        requests: None,
        rel_tol: 0.02,
    });
    let n = c.requests.or(cfg.traffic.requests).unwrap_or(1000);
    let mut evals = Vec::new();
    let mut eval = |rate: f64| -> Result<bool, ServingError> {
        let r = evaluate_rate(fleet, cfg, seed, base, Some(rate), Some(n))?;
        evals.push(RatePoint {
            rate_rps: rate,
            slo_met: r.slo_met,
            ttft_p90_s: r.ttft_s.p90,
            tpot_p99_s: r.tpot_s.p99,
            slo_attainment: r.slo_attainment,
            goodput_rps: r.goodput_rps,
            cost_per_mtok: r.cost_per_mtok,
        });
        Ok(r.slo_met)
    };
    let sat = evaluate_rate(fleet, cfg, seed, base, Some(n as f64 * 1e6), Some(n))?;
    let mut hi = sat.throughput_rps * 1.2;
    // The saturated run's throughput includes its drain: raise the top until the SLO fails.
    let mut met_at_hi = eval(hi)?;
    for _ in 0..20 {
        if !met_at_hi {
            break;
        }
        hi *= 2.0;
        met_at_hi = eval(hi)?;
    }
    if met_at_hi {
        return Ok(CapacityReport {
            rate_rps: hi,
            feasible: true,
            reason: Some("the SLO holds at every rate tried".into()),
            requests: n,
            evaluations: evals,
        });
    }
    let mut lo = hi * 1e-3;
    if !eval(lo)? {
        let last = &evals[evals.len() - 1];
        let reason = format!(
            "the SLO is not met even at {lo:.4} requests/s: TTFT p90 {:.4} s (bound {}), TPOT p99 {:.4} s (bound {})",
            last.ttft_p90_s,
            cfg.slo.ttft_p90_s.map_or("none".into(), |v| format!("{v} s")),
            last.tpot_p99_s,
            cfg.slo.tpot_p99_s.map_or("none".into(), |v| format!("{v} s")),
        );
        return Ok(CapacityReport {
            rate_rps: 0.0,
            feasible: false,
            reason: Some(reason),
            requests: n,
            evaluations: evals,
        });
    }
    // Each step halves the bracket; once no number lies between its ends (a tolerance finer
    // than floating point) the bracket is as narrow as it gets. The cap is a guard: from a
    // bracket of 1000x to the finest one takes ~60 steps.
    let mut steps = 0;
    while (hi - lo) / hi > c.rel_tol {
        let mid = 0.5 * (lo + hi);
        if !(mid > lo && mid < hi) {
            break;
        }
        steps += 1;
        if steps > MAX_BISECTIONS {
            return Err(ServingError::Config {
                key: "serving.capacity.rel_tol".into(),
                reason: format!(
                    "the capacity search did not narrow to {} in {MAX_BISECTIONS} steps",
                    c.rel_tol
                ),
            });
        }
        if eval(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(CapacityReport {
        rate_rps: lo,
        feasible: true,
        reason: None,
        requests: n,
        evaluations: evals,
    })
}

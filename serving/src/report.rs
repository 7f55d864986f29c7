//! Metrics of a run: latency statistics, throughput, SLO attainment and goodput, cost, energy,
//! per-pool utilization and KV occupancy, and the per-request table.

use serde::Serialize;

use crate::config::{Role, ServingConfig, SloConfig};
use crate::engine::{Outcome, NEVER};
use crate::fleet::{Fleet, Pool, PoolMemory};
use crate::step::StepCheck;

/// Mean and percentiles of a latency, s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The `q` quantile (nearest rank) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

impl Stats {
    /// Statistics of `v` (sorted in place).
    pub fn of(v: &mut [f64]) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_unstable_by(f64::total_cmp);
        Stats {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: quantile(v, 0.5),
            p90: quantile(v, 0.9),
            p99: quantile(v, 0.99),
        }
    }
}

/// One pool's results.
#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    /// Its name.
    pub name: String,
    /// One device, as its family describes it.
    pub accelerator: String,
    /// `mixed`, `prefill` or `decode`.
    pub role: Role,
    /// Replicas.
    pub count: u32,
    /// Tensor-parallel devices (per expert-parallel group).
    pub tp: u64,
    /// Expert-parallel groups per replica (absent when 1): a replica spans `tp × ep` devices.
    #[serde(skip_serializing_if = "is_one")]
    pub ep: u64,
    /// $ per hour for the whole pool: every device of every replica (`count` × `tp` × `ep` ×
    /// the config's per-device `cost_per_hour`). Serialized as `cost_per_hour`.
    #[serde(rename = "cost_per_hour")]
    pub pool_cost_per_hour: f64,
    /// Busy time over the run's duration, mean over replicas (≤ 1).
    pub utilization: f64,
    /// Iterations run.
    pub steps: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Bytes swapped to and from host memory.
    pub swap_bytes: f64,
    /// Requests migrated away (Llumnix-style).
    pub migrations: u64,
    /// KV blocks per replica.
    pub kv_blocks: u32,
    /// Tokens per KV block.
    pub kv_block_tokens: u32,
    /// Highest fraction of a replica's KV blocks in use.
    pub kv_peak_occupancy: f64,
    /// Time-weighted KV occupancy over the run, mean over replicas.
    pub kv_mean_occupancy: f64,
    /// Memory of one device.
    pub memory: PoolMemory,
    /// Power of a busy replica, W (0: the model gives no energy).
    pub power_w: f64,
    /// Energy of the busy time, J.
    pub energy_j: f64,
    /// The KV cache's format and what decode attention read (absent for the model's own
    /// dtype read whole: [`crate::kv`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvReport>,
    /// What the prefix cache saved (absent without `serving.prefix_cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixReport>,
    /// Speculative decoding's rounds (absent without `serving.speculative`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpecReport>,
    /// Step-grid points priced with the full model.
    pub step_knots: usize,
    /// The iteration-cost shortcut against the full step model, on steps off the grid.
    pub step_checks: Vec<StepCheck>,
}

/// A pool's KV cache when `serving.kv.dtype` or `serving.kv.read_fraction` changes it.
#[derive(Debug, Clone, Serialize)]
pub struct KvReport {
    /// Bits per element of the cache.
    pub bits: u32,
    /// Bits per element of the model's dtype.
    pub model_bits: u32,
    /// KV bytes of one token on one device.
    pub bytes_per_token: f64,
    /// Fraction of each sequence's cache a decode step reads.
    pub read_fraction: f64,
    /// KV bytes decode attention read over the run, every replica and device, GB (a
    /// sequence's cache is spread over the `tp` devices of its group).
    pub decode_read_gb: f64,
}

/// A pool's speculative decoding over the run ([`crate::speculative`]).
#[derive(Debug, Clone, Serialize)]
pub struct SpecReport {
    /// Verification rounds (target steps of a sequence).
    pub rounds: u64,
    /// Tokens per round, over every round.
    pub tokens_per_round: f64,
    /// Tokens per round over the rounds that drafted the full `k` (the end of a request cuts
    /// the last ones short).
    pub tokens_per_full_round: f64,
    /// `(1 − α^(k+1)) / (1 − α)` for a fixed acceptance α.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_tokens_per_round: Option<f64>,
}

/// A pool's prefix cache over the run ([`crate::prefix`]).
#[derive(Debug, Clone, Serialize)]
pub struct PrefixReport {
    /// Requests that found their prefix cached.
    pub hits: u64,
    /// Prompt tokens found cached (not prefilled).
    pub hit_tokens: u64,
    /// Tokens prefilled (recomputation included).
    pub prefill_tokens: u64,
}

/// KV occupancy over time: per pool, the time-weighted mean fraction of KV blocks in use in
/// each bucket.
#[derive(Debug, Clone, Serialize)]
pub struct KvSeries {
    /// Bucket width, s.
    pub bucket_s: f64,
    /// One series per pool.
    pub pools: Vec<Vec<f64>>,
}

/// One rate evaluated by the capacity search.
#[derive(Debug, Clone, Serialize)]
pub struct RatePoint {
    /// Arrival rate, requests/s.
    pub rate_rps: f64,
    /// Whether the fleet met the SLO.
    pub slo_met: bool,
    /// TTFT p90, s.
    pub ttft_p90_s: f64,
    /// TPOT p99, s.
    pub tpot_p99_s: f64,
    /// Fraction of requests meeting the SLO.
    pub slo_attainment: f64,
    /// Requests per second meeting the SLO.
    pub goodput_rps: f64,
    /// $ per million output tokens.
    pub cost_per_mtok: f64,
}

/// The capacity search's result.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// The largest rate found that meets the SLO, requests/s (0 when infeasible).
    pub rate_rps: f64,
    /// False when no rate meets the SLO.
    pub feasible: bool,
    /// Why not, when infeasible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Requests per evaluation.
    pub requests: u64,
    /// Every evaluation, in order.
    pub evaluations: Vec<RatePoint>,
}

/// The `report.json` of a serving run.
#[derive(Debug, Clone, Serialize)]
pub struct ServingReport {
    /// The model served.
    pub model: String,
    /// Requests served.
    pub requests: u64,
    /// From time 0 to the last completion, s.
    pub duration_s: f64,
    /// Time to first token.
    pub ttft_s: Stats,
    /// Time per output token after the first (requests with one output token left out).
    pub tpot_s: Stats,
    /// End-to-end latency.
    pub e2e_s: Stats,
    /// Queueing before the first iteration that works on a request.
    pub queue_s: Stats,
    /// Requests completed per second of `duration_s` (time 0 to the last completion, the drain
    /// included, as vLLM's serving benchmark divides: short runs report less than the offered
    /// rate; doc/serving.md).
    pub throughput_rps: f64,
    /// Output tokens per second of `duration_s`.
    pub tokens_per_s: f64,
    /// Prompt tokens per second.
    pub prompt_tokens_per_s: f64,
    /// The SLO.
    pub slo: SloConfig,
    /// Fraction of requests whose TTFT and TPOT are within the SLO's bounds.
    pub slo_attainment: f64,
    /// Whether the fleet meets the SLO (TTFT p90 and TPOT p99 within the bounds).
    pub slo_met: bool,
    /// Requests meeting the SLO per second of `duration_s` (as `throughput_rps`).
    pub goodput_rps: f64,
    /// $ per hour of the fleet (the sum of its pools' `cost_per_hour`).
    pub cost_per_hour: f64,
    /// $ per million output tokens.
    pub cost_per_mtok: f64,
    /// Energy of the busy devices, J (absent when no pool's model gives energy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    /// Preemptions, all pools.
    pub preemptions: u64,
    /// Per pool.
    pub pools: Vec<PoolReport>,
    /// KV occupancy over time.
    pub kv_occupancy: KvSeries,
    /// The capacity search, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityReport>,
    /// The seed of the run.
    pub seed: u64,
    /// archsim's version.
    pub version: String,
}

/// The per-request table (`requests.csv`, and numpy columns in Python).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestTable {
    /// Request index.
    pub id: Vec<u64>,
    /// Arrival, s.
    pub arrival_s: Vec<f64>,
    /// Prompt tokens.
    pub prompt_tokens: Vec<u64>,
    /// Output tokens.
    pub output_tokens: Vec<u64>,
    /// The pool that produced the first token.
    pub pool: Vec<u64>,
    /// The replica that finished it (index over all replicas).
    pub replica: Vec<u64>,
    /// Queueing before its first iteration, s.
    pub queue_s: Vec<f64>,
    /// Time to first token, s.
    pub ttft_s: Vec<f64>,
    /// Time per output token after the first, s (0 with one output token).
    pub tpot_s: Vec<f64>,
    /// End-to-end latency, s.
    pub e2e_s: Vec<f64>,
    /// Times preempted.
    pub preemptions: Vec<u64>,
    /// Whether it met the SLO.
    pub slo_met: Vec<bool>,
}

impl RequestTable {
    /// Writes the table as CSV.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "id",
            "arrival_s",
            "prompt_tokens",
            "output_tokens",
            "pool",
            "replica",
            "queue_s",
            "ttft_s",
            "tpot_s",
            "e2e_s",
            "preemptions",
            "slo_met",
        ])?;
        for i in 0..self.id.len() {
            c.write_record([
                self.id[i].to_string(),
                format!("{:.9}", self.arrival_s[i]),
                self.prompt_tokens[i].to_string(),
                self.output_tokens[i].to_string(),
                self.pool[i].to_string(),
                self.replica[i].to_string(),
                format!("{:.9}", self.queue_s[i]),
                format!("{:.9}", self.ttft_s[i]),
                format!("{:.9}", self.tpot_s[i]),
                format!("{:.9}", self.e2e_s[i]),
                self.preemptions[i].to_string(),
                (self.slo_met[i] as u8).to_string(),
            ])?;
        }
        c.flush()?;
        Ok(())
    }
}

fn s(ns: u64) -> f64 {
    ns as f64 * 1e-9
}

/// The report and the per-request table of an outcome.
pub fn summarize(
    fleet: &Fleet,
    cfg: &ServingConfig,
    out: &Outcome,
    seed: u64,
    table: bool,
) -> (ServingReport, RequestTable) {
    let n = out.arrival_ns.len();
    let slo = cfg.slo;
    let ttft_max = slo.ttft_p90_s.unwrap_or(f64::INFINITY);
    let tpot_max = slo.tpot_p99_s.unwrap_or(f64::INFINITY);
    let mut ttft = Vec::with_capacity(n);
    let mut tpot = Vec::with_capacity(n);
    let mut e2e = Vec::with_capacity(n);
    let mut queue = Vec::with_capacity(n);
    let mut met = 0u64;
    let mut t = RequestTable::default();
    let mut out_tokens = 0u64;
    let mut prompt_tokens = 0u64;
    for i in 0..n {
        let a = out.arrival_ns[i];
        let first = out.first_ns[i];
        let fin = out.finish_ns[i];
        debug_assert!(first != NEVER && fin != NEVER);
        let tt = s(first - a);
        let e = s(fin - a);
        let qs = s(out.start_ns[i].saturating_sub(a));
        let o = out.output[i];
        let tp = if o > 1 {
            s(fin - first) / (o - 1) as f64
        } else {
            0.0
        };
        ttft.push(tt);
        e2e.push(e);
        queue.push(qs);
        if o > 1 {
            tpot.push(tp);
        }
        let ok = tt <= ttft_max && tp <= tpot_max;
        met += ok as u64;
        out_tokens += o as u64;
        prompt_tokens += out.prompt[i] as u64;
        if table {
            t.id.push(i as u64);
            t.arrival_s.push(s(a));
            t.prompt_tokens.push(out.prompt[i] as u64);
            t.output_tokens.push(o as u64);
            t.pool
                .push(out.replica_pool[out.first_replica[i] as usize] as u64);
            t.replica.push(out.replica[i] as u64);
            t.queue_s.push(qs);
            t.ttft_s.push(tt);
            t.tpot_s.push(tp);
            t.e2e_s.push(e);
            t.preemptions.push(out.preemptions[i] as u64);
            t.slo_met.push(ok);
        }
    }
    let ttft = Stats::of(&mut ttft);
    let tpot = Stats::of(&mut tpot);
    let dur = s(out.makespan_ns).max(1e-12);
    let cost_per_hour: f64 = fleet.pools.iter().map(Pool::pool_cost_per_hour).sum();
    let dollars = cost_per_hour * dur / 3600.0;
    let mut pools = Vec::new();
    let mut series = Vec::new();
    let mut energy = 0.0;
    let buckets = (out.makespan_ns / out.bucket_ns + 1) as usize;
    for (p, st) in fleet.pools.iter().zip(&out.pools) {
        let busy_s = s(st.busy_ns);
        let e = busy_s * p.power_w;
        energy += e;
        let denom = s(out.bucket_ns) * p.count as f64;
        let mut occ: Vec<f64> = st.occupancy_ns.iter().map(|x| x * 1e-9 / denom).collect();
        occ.resize(buckets, 0.0);
        pools.push(PoolReport {
            name: p.name.clone(),
            accelerator: p.accelerator.clone(),
            role: p.role,
            count: p.count,
            tp: p.tp,
            ep: p.ep,
            pool_cost_per_hour: p.pool_cost_per_hour(),
            utilization: (busy_s / (dur * p.count as f64)).min(1.0),
            steps: st.steps,
            preemptions: st.preemptions,
            swap_bytes: st.swap_bytes,
            migrations: st.migrations,
            kv_blocks: p.kv_blocks,
            kv_block_tokens: cfg.kv.block_tokens,
            kv_peak_occupancy: st.peak_blocks as f64 / p.kv_blocks as f64,
            kv_mean_occupancy: st.occupancy_ns.iter().sum::<f64>() * 1e-9 / (dur * p.count as f64),
            memory: p.memory,
            power_w: p.power_w,
            energy_j: e,
            kv: (!p.kv_format.is_identity()).then(|| KvReport {
                bits: p.kv_format.bits,
                model_bits: p.kv_format.model_bits,
                bytes_per_token: p.kv_bytes_per_token_dev,
                read_fraction: p.kv_format.read_fraction,
                decode_read_gb: st.decode_context_tokens as f64
                    * p.kv_bytes_per_token_dev
                    * p.kv_format.read_fraction
                    * p.tp as f64
                    / 1e9,
            }),
            prefix_cache: cfg.prefix_cache.map(|_| PrefixReport {
                hits: st.prefix_hits,
                hit_tokens: st.prefix_hit_tokens,
                prefill_tokens: st.prefill_tokens,
            }),
            speculative: cfg.speculative.as_ref().map(|sp| SpecReport {
                rounds: st.spec_rounds,
                tokens_per_round: st.spec_tokens as f64 / st.spec_rounds.max(1) as f64,
                tokens_per_full_round: st.spec_full_tokens as f64
                    / st.spec_full_rounds.max(1) as f64,
                expected_tokens_per_round: match sp.acceptance {
                    crate::speculative::Acceptance::Fixed(a) => {
                        Some(crate::speculative::expected_tokens(a, sp.tokens))
                    }
                    _ => None,
                },
            }),
            step_knots: p.step.knots,
            step_checks: p.checks.clone(),
        });
        series.push(occ);
    }
    let report = ServingReport {
        model: fleet.model.clone(),
        requests: n as u64,
        duration_s: dur,
        ttft_s: ttft,
        tpot_s: tpot,
        e2e_s: Stats::of(&mut e2e),
        queue_s: Stats::of(&mut queue),
        throughput_rps: n as f64 / dur,
        tokens_per_s: out_tokens as f64 / dur,
        prompt_tokens_per_s: prompt_tokens as f64 / dur,
        slo,
        slo_attainment: met as f64 / n as f64,
        slo_met: ttft.p90 <= ttft_max && tpot.p99 <= tpot_max,
        goodput_rps: met as f64 / dur,
        cost_per_hour,
        cost_per_mtok: dollars / (out_tokens as f64 / 1e6),
        energy_j: fleet
            .pools
            .iter()
            .any(|p| p.power_w > 0.0)
            .then_some(energy),
        preemptions: out.pools.iter().map(|p| p.preemptions).sum(),
        pools,
        kv_occupancy: KvSeries {
            bucket_s: s(out.bucket_ns),
            pools: series,
        },
        capacity: None,
        seed,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    (report, t)
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

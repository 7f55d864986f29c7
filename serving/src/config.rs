//! The `serving:` section: traffic, pools, scheduler, router, SLO, KV cache, KV transfer and
//! the optional capacity search. Plain data (serde + JSON schema); [`ServingConfig::validate`]
//! checks the values and names the offending key.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ServingError;

/// The `serving:` section of a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    /// The requests: arrivals and lengths.
    pub traffic: TrafficConfig,
    /// The replicas, in pools of one accelerator type each.
    pub pools: Vec<PoolConfig>,
    /// How each replica batches its requests.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// How arriving requests are spread over the replicas.
    #[serde(default)]
    pub router: RouterConfig,
    /// The service-level objective (default: none, every request meets it).
    #[serde(default)]
    pub slo: SloConfig,
    /// The paged KV cache.
    #[serde(default)]
    pub kv: KvConfig,
    /// The link a prefill replica sends a request's KV cache over to a decode replica
    /// (prefill/decode disaggregation: pools with `role: prefill` and `role: decode`).
    #[serde(default)]
    pub kv_transfer: KvTransferConfig,
    /// Bisection over the arrival rate for the largest rate that meets the SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityConfig>,
    /// Move running requests off replicas whose KV cache fills up (Llumnix-style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationConfig>,
    /// Prompts that share a prefix reuse its KV cache ([`crate::prefix`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<crate::prefix::PrefixConfig>,
    /// Speculative decoding: a draft model on its own device ([`crate::speculative`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<crate::speculative::SpeculativeConfig>,
}

/// Request migration between replicas (Llumnix, OSDI'24, stop-and-copy): after an iteration,
/// a replica whose KV occupancy is at least `high` (or at least `low` with requests waiting)
/// sends its newest decoding request's KV cache over `kv_transfer` to the least occupied
/// replica of the same role, if that one is below `low`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    /// Occupancy that triggers a migration (default 0.9).
    #[serde(default = "default_high")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub high: f64,
    /// Occupancy below which a replica receives (default 0.5).
    #[serde(default = "default_low")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub low: f64,
}

fn default_high() -> f64 {
    0.9
}
fn default_low() -> f64 {
    0.5
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Exponential inter-arrival times (a Poisson process) at `rate`.
    #[default]
    Poisson,
    /// Gamma inter-arrival times at `rate` with coefficient of variation `cv` (burstiness:
    /// `cv: 1` is Poisson, larger is burstier).
    Gamma,
    /// Arrival times and lengths from the CSV `trace`.
    Trace,
}

/// The traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Arrival process (default `poisson`; `trace` when `trace` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// Mean arrival rate, requests per second (`poisson`, `gamma`; scales a trace's times when
    /// given with one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = archsim_accelerators::ranges::MIN_RATE_RPS, max = archsim_accelerators::ranges::MAX_RATE_RPS))]
    pub rate: Option<f64>,
    /// Coefficient of variation of the gamma inter-arrival times (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100), extend("exclusiveMinimum" = 0))]
    pub cv: Option<f64>,
    /// Number of requests (default 1000; a trace's first `requests` rows, default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::MAX_REQUESTS), extend("x-bound" = "MAX_REQUESTS: a run keeps every request in memory, about 150 bytes each"))]
    pub requests: Option<u64>,
    /// Seed of the arrivals and lengths (default: the config's `seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Prompt lengths, tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<Lengths>,
    /// Output lengths, tokens (the first comes out of the prefill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<Lengths>,
    /// A CSV trace with columns `arrival_s,prompt_tokens,output_tokens` (relative to the
    /// config file), times sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub trace: Option<PathBuf>,
}

/// A distribution of token counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Lengths {
    /// Always this many tokens.
    Fixed(#[schemars(range(min = 1, max = crate::MAX_TOKENS))] u32),
    /// Uniform on `[a, b]`, both included.
    Uniform(#[schemars(inner(range(min = 1, max = crate::MAX_TOKENS)))] [u32; 2]),
    /// Lognormal with this mean (tokens) and `sigma` of the underlying normal, rounded,
    /// clipped to `[1, max]` (`max` default 32768).
    Lognormal {
        /// Mean token count.
        #[schemars(range(max = crate::MAX_TOKENS), extend("exclusiveMinimum" = 0))]
        mean: f64,
        /// Standard deviation of the log.
        #[schemars(range(min = 0, max = 10))]
        sigma: f64,
        /// Largest count (default 32768).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = crate::MAX_TOKENS))]
        max: Option<u32>,
    },
    /// Drawn (with replacement) from a column of a CSV file with a header row.
    Csv {
        /// The file, relative to the config file.
        #[schemars(length(min = 1))]
        path: PathBuf,
        /// The column's header.
        column: String,
    },
}

/// Which phases a pool's replicas run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Prefill and decode on the same replica (co-located).
    #[default]
    Mixed,
    /// Prefill only; the KV cache then crosses `kv_transfer` to a `decode` replica.
    Prefill,
    /// Decode only, of requests prefilled by a `prefill` pool.
    Decode,
}

/// A pool of identical replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Any archsim accelerator config that prices an `llm:` step (GPU presets, `roofline`,
    /// `rdu`, `npu_pim`): one device of a replica.
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// Replicas (default 1).
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1, max = crate::MAX_REPLICAS))]
    pub count: u32,
    /// Devices per replica, tensor-parallel (default 1).
    #[serde(default = "one_u64")]
    #[schemars(range(min = 1, max = 4096))]
    pub tp: u64,
    /// Expert-parallel groups per replica (default 1): a replica of a mixture-of-experts model
    /// spans `tp × ep` devices, its experts split over the `ep` groups of `tp` (see
    /// `workload.llm.ep`).
    #[serde(default = "one_u64", skip_serializing_if = "is_one_u64")]
    #[schemars(range(min = 1, max = 4096))]
    pub ep: u64,
    /// Price of one device, $ per hour (a replica costs `tp × ep` times it).
    #[serde(default)]
    #[schemars(range(min = 0, max = archsim_accelerators::ranges::MAX_COST_PER_HOUR))]
    pub cost_per_hour: f64,
    /// Phases this pool serves (default `mixed`).
    #[serde(default)]
    pub role: Role,
    /// A name for reports (default `pool<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn one_u32() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn is_one_u64(v: &u64) -> bool {
    *v == 1
}

/// The replica scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// Iteration-level continuous batching (Orca, vLLM).
    #[default]
    Continuous,
}

/// How a replica batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// The policy (`continuous`).
    #[serde(default)]
    pub kind: SchedulerKind,
    /// Most sequences running on a replica (default 256).
    #[serde(default = "default_max_batch")]
    #[schemars(range(min = 1, max = 1048576))]
    pub max_batch: u32,
    /// Most tokens (prefill chunks plus decode tokens) in one iteration (default 8192).
    #[serde(default = "default_max_batch_tokens")]
    #[schemars(range(min = 1, max = 16777216))]
    pub max_batch_tokens: u32,
    /// Split prompts into chunks that share iterations with decodes (Sarathi-Serve; default
    /// true). Without it an iteration runs either whole prefills or decodes (vLLM's default).
    #[serde(default = "yes")]
    pub chunked_prefill: bool,
}

fn default_max_batch() -> u32 {
    256
}
fn default_max_batch_tokens() -> u32 {
    8192
}
fn yes() -> bool {
    true
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            kind: SchedulerKind::Continuous,
            max_batch: default_max_batch(),
            max_batch_tokens: default_max_batch_tokens(),
            chunked_prefill: true,
        }
    }
}

/// How arriving requests pick a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouterKind {
    /// In turn.
    RoundRobin,
    /// The replica with the fewest outstanding tokens (prompt still to prefill plus output
    /// still to generate).
    #[default]
    LeastLoaded,
    /// Two replicas drawn at random (seeded), the less loaded of them.
    PowerOfTwo,
}

/// The router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The policy (default `least_loaded`).
    #[serde(default)]
    pub kind: RouterKind,
}

/// The service-level objective: a request meets it when its TTFT and its TPOT are within the
/// bounds; the fleet meets it when the TTFT p90 and the TPOT p99 are.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Time to first token bound, s (p90 across requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = archsim_accelerators::ranges::MAX_SECONDS), extend("exclusiveMinimum" = 0))]
    pub ttft_p90_s: Option<f64>,
    /// Time per output token bound, s (p99 across requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = archsim_accelerators::ranges::MAX_SECONDS), extend("exclusiveMinimum" = 0))]
    pub tpot_p99_s: Option<f64>,
}

/// What a replica does with a running request when its KV cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preemption {
    /// Drop its KV cache and prefill its tokens again later (vLLM's default).
    #[default]
    Recompute,
    /// Copy its KV cache to host memory over the device's host link, and back later (a device
    /// without a host link recomputes).
    Swap,
}

/// The paged KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvConfig {
    /// Tokens per block (default 16).
    #[serde(default = "default_block")]
    #[schemars(range(min = 1, max = 1048576))]
    pub block_tokens: u32,
    /// Fraction of device memory the server may use (default 1).
    #[serde(default = "one_f64")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub memory_fraction: f64,
    /// Preemption policy (default `recompute`).
    #[serde(default)]
    pub preemption: Preemption,
    /// Element type of the cache (default: the workload's dtype), e.g. `int4`, `fp8`
    /// ([`crate::kv`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<crate::kv::KvDtype>,
    /// Fraction of each sequence's cache a decode step reads (A²ATS-style retrieval; default
    /// 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub read_fraction: Option<f64>,
}

fn default_block() -> u32 {
    16
}
fn one_f64() -> f64 {
    1.0
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            block_tokens: default_block(),
            memory_fraction: 1.0,
            preemption: Preemption::Recompute,
            dtype: None,
            read_fraction: None,
        }
    }
}

/// The prefill → decode KV-cache link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvTransferConfig {
    /// Bandwidth, GB/s (default 50: 400 Gb/s InfiniBand).
    #[serde(default = "default_link")]
    #[schemars(range(min = archsim_accelerators::ranges::MIN_GB_S, max = archsim_accelerators::ranges::MAX_GB_S))]
    pub link_gb_s: f64,
    /// Fixed latency per transfer, s (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = archsim_accelerators::ranges::MAX_SECONDS))]
    pub latency_s: f64,
}

fn default_link() -> f64 {
    50.0
}

impl Default for KvTransferConfig {
    fn default() -> Self {
        KvTransferConfig {
            link_gb_s: default_link(),
            latency_s: 0.0,
        }
    }
}

/// The capacity search: bisection over `traffic.rate`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Requests per evaluated rate (default `traffic.requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::MAX_REQUESTS), extend("x-bound" = "MAX_REQUESTS: a run keeps every request in memory, about 150 bytes each"))]
    pub requests: Option<u64>,
    /// Stop when the bracket is this narrow relative to its top (default 0.02).
    #[serde(default = "default_tol")]
    #[schemars(range(min = 1e-9), extend("exclusiveMaximum" = 1))]
    pub rel_tol: f64,
}

fn default_tol() -> f64 {
    0.02
}

fn bad(key: &str, reason: impl Into<String>) -> ServingError {
    ServingError::Config {
        key: format!("serving.{key}"),
        reason: reason.into(),
    }
}

fn positive(key: &str, v: f64) -> Result<(), ServingError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(key, format!("must be a positive number, got {v}")))
    }
}

impl Lengths {
    fn validate(&self, key: &str) -> Result<(), ServingError> {
        match self {
            Lengths::Fixed(0) => Err(bad(&format!("{key}.fixed"), "must be at least 1")),
            Lengths::Uniform([a, b]) if *a == 0 || a > b => Err(bad(
                &format!("{key}.uniform"),
                format!("needs 1 <= a <= b, got [{a}, {b}]"),
            )),
            Lengths::Lognormal { mean, sigma, max } => {
                positive(&format!("{key}.lognormal.mean"), *mean)?;
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    return Err(bad(
                        &format!("{key}.lognormal.sigma"),
                        format!("must be a number >= 0, got {sigma}"),
                    ));
                }
                if *max == Some(0) {
                    return Err(bad(&format!("{key}.lognormal.max"), "must be at least 1"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl ServingConfig {
    /// Checks the values; errors name the key (`serving.traffic.rate`, …).
    pub fn validate(&self) -> Result<(), ServingError> {
        let t = &self.traffic;
        let arrival = t.arrival();
        if let Some(r) = t.rate {
            positive("traffic.rate", r)?;
        }
        if let Some(cv) = t.cv {
            positive("traffic.cv", cv)?;
        }
        if t.requests == Some(0) {
            return Err(bad("traffic.requests", "must be at least 1"));
        }
        match arrival {
            Arrival::Trace => {
                if t.trace.is_none() {
                    return Err(bad(
                        "traffic.trace",
                        "`arrival: trace` needs a `trace:` file",
                    ));
                }
            }
            Arrival::Poisson | Arrival::Gamma => {
                if t.trace.is_some() {
                    return Err(bad(
                        "traffic.arrival",
                        "a `trace:` gives its own arrival times: use `arrival: trace` or leave it out",
                    ));
                }
                if t.rate.is_none() {
                    return Err(bad(
                        "traffic.rate",
                        "give the arrival rate, requests per second",
                    ));
                }
                for (k, l) in [
                    ("prompt_tokens", &t.prompt_tokens),
                    ("output_tokens", &t.output_tokens),
                ] {
                    match l {
                        None => {
                            return Err(bad(
                                &format!("traffic.{k}"),
                                "give a length distribution: {fixed: N}, {uniform: [a, b]}, {lognormal: {mean, sigma}} or {csv: {path, column}}",
                            ))
                        }
                        Some(l) => l.validate(&format!("traffic.{k}"))?,
                    }
                }
            }
        }
        if arrival != Arrival::Gamma && t.cv.is_some() {
            return Err(bad(
                "traffic.cv",
                "only `arrival: gamma` takes a coefficient of variation",
            ));
        }
        if self.pools.is_empty() {
            return Err(bad("pools", "give at least one pool"));
        }
        for (i, p) in self.pools.iter().enumerate() {
            if p.count == 0 {
                return Err(bad(&format!("pools.{i}.count"), "must be at least 1"));
            }
            if p.count > crate::MAX_REPLICAS {
                return Err(bad(
                    &format!("pools.{i}.count"),
                    format!("must be at most {}", crate::MAX_REPLICAS),
                ));
            }
            if p.tp == 0 {
                return Err(bad(&format!("pools.{i}.tp"), "must be at least 1"));
            }
            if p.ep == 0 {
                return Err(bad(&format!("pools.{i}.ep"), "must be at least 1"));
            }
            if !(p.cost_per_hour.is_finite() && p.cost_per_hour >= 0.0) {
                return Err(bad(
                    &format!("pools.{i}.cost_per_hour"),
                    format!("must be a number >= 0, got {}", p.cost_per_hour),
                ));
            }
        }
        let has = |r: Role| self.pools.iter().any(|p| p.role == r);
        if has(Role::Prefill) != has(Role::Decode) {
            return Err(bad(
                "pools",
                "prefill/decode disaggregation needs both a `role: prefill` and a `role: decode` pool",
            ));
        }
        if has(Role::Prefill) && has(Role::Mixed) {
            return Err(bad(
                "pools",
                "a fleet is either co-located (`role: mixed`) or disaggregated (`prefill` + `decode` pools), not both",
            ));
        }
        let s = &self.scheduler;
        if s.max_batch == 0 {
            return Err(bad("scheduler.max_batch", "must be at least 1"));
        }
        if s.max_batch_tokens == 0 {
            return Err(bad("scheduler.max_batch_tokens", "must be at least 1"));
        }
        if s.max_batch_tokens < s.max_batch {
            return Err(bad(
                "scheduler.max_batch_tokens",
                format!(
                    "must be at least max_batch ({}): every running sequence decodes a token per iteration",
                    s.max_batch
                ),
            ));
        }
        if let Some(v) = self.slo.ttft_p90_s {
            positive("slo.ttft_p90_s", v)?;
        }
        if let Some(v) = self.slo.tpot_p99_s {
            positive("slo.tpot_p99_s", v)?;
        }
        if self.kv.block_tokens == 0 {
            return Err(bad("kv.block_tokens", "must be at least 1"));
        }
        if !(self.kv.memory_fraction > 0.0 && self.kv.memory_fraction <= 1.0) {
            return Err(bad(
                "kv.memory_fraction",
                format!("must be in (0, 1], got {}", self.kv.memory_fraction),
            ));
        }
        crate::kv::validate_read_fraction(self.kv.read_fraction)?;
        if let Some(s) = &self.speculative {
            s.validate()?;
        }
        if let Some(p) = &self.prefix_cache {
            p.validate(self.pools.iter().map(|p| p.role))?;
        }
        positive("kv_transfer.link_gb_s", self.kv_transfer.link_gb_s)?;
        if !(self.kv_transfer.latency_s.is_finite() && self.kv_transfer.latency_s >= 0.0) {
            return Err(bad("kv_transfer.latency_s", "must be a number >= 0"));
        }
        if let Some(m) = &self.migration {
            if !(m.low > 0.0 && m.low < m.high && m.high <= 1.0) {
                return Err(bad(
                    "migration",
                    format!(
                        "needs 0 < low < high <= 1, got low {} and high {}",
                        m.low, m.high
                    ),
                ));
            }
        }
        if let Some(c) = &self.capacity {
            if !(c.rel_tol > 0.0 && c.rel_tol < 1.0) {
                return Err(bad("capacity.rel_tol", "must be in (0, 1)"));
            }
            if c.requests == Some(0) {
                return Err(bad("capacity.requests", "must be at least 1"));
            }
            if arrival == Arrival::Trace && t.rate.is_none() {
                return Err(bad(
                    "capacity",
                    "a capacity search varies `traffic.rate`: give a Poisson or gamma rate, or a rate that scales the trace",
                ));
            }
        }
        Ok(())
    }
}

impl TrafficConfig {
    /// The arrival process: `arrival`, or `trace` when a trace is given, else `poisson`.
    pub fn arrival(&self) -> Arrival {
        self.arrival.unwrap_or(if self.trace.is_some() {
            Arrival::Trace
        } else {
            Arrival::Poisson
        })
    }
}

//! The `Report`: what a simulation returns, serialized as `report.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a report came from: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// archsim version that produced the report.
    pub archsim_version: String,
    /// FNV-1a 64-bit hash (hex) of the resolved config's canonical JSON.
    pub config_hash: String,
    /// Seed of every random choice in the run.
    pub seed: u64,
}

impl Provenance {
    /// The provenance of a run of this archsim build on the config hashed `config_hash`.
    pub fn new(config_hash: &str, seed: u64) -> Provenance {
        Provenance {
            archsim_version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash.to_string(),
            seed,
        }
    }
}

/// One op's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    /// Op name.
    pub name: String,
    /// Op class (`conv2d`, `gemm`, …).
    pub kind: String,
    /// Engine that ran it.
    pub engine: String,
    /// Mapping summary (e.g. dataflow and fold counts).
    pub mapping: String,
    /// Start cycle.
    pub start_cycle: u64,
    /// End cycle.
    pub end_cycle: u64,
    /// Total cycles, `end − start` = compute + stall.
    pub cycles: u64,
    /// Cycles the engine computes (fill, stream and drain included).
    pub compute_cycles: u64,
    /// Cycles the engine waits for memory (its own bandwidth stalls plus contention).
    pub stall_cycles: u64,
    /// MACs per engine-slot per cycle over the op's cycles, in [0, 1].
    pub utilization: f64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes moved per memory level (`dram`, `sram_ifmap`, …).
    pub bytes: BTreeMap<String, u64>,
    /// Energy in joules.
    pub energy_j: f64,
    /// Wall-clock time of the op in seconds.
    pub latency_s: f64,
    /// The kernels priced for the op, in launch order, where the model prices kernels (the
    /// GPU): why the op costs what it costs. Empty (and not written) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernels: Vec<KernelRow>,
}

impl OpReport {
    /// The name of a task's row in a job-stream run: `app#job/task` (`wifi_tx#3/fft_1`), read
    /// back by [`OpReport::job`].
    pub fn task_name(app: &str, job: usize, task: &str) -> String {
        format!("{app}#{job}/{task}")
    }

    /// The job of a task's row in a job-stream run (the `job` of [`OpReport::task_name`];
    /// `wifi_tx#3/fft_1` → 3); `None` for an op's row.
    pub fn job(&self) -> Option<usize> {
        let rest = &self.name[self.name.rfind('#')? + 1..];
        rest.split('/').next()?.parse().ok()
    }
}

/// One kernel of an op's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRow {
    /// What the model calls the kernel (`conv`, `bn_transform`, `elementwise_loop`, …).
    pub name: String,
    /// Its family (`gemm/conv`, `attention`, `norm`, `elementwise`, `copy`, `reduce/pool`,
    /// `other`).
    pub family: String,
    /// GPU time of its body in seconds (launch gaps not included).
    pub time_s: f64,
}

/// The result of simulating one workload on one accelerator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Accelerator description.
    pub accelerator: String,
    /// End of the last op, in cycles.
    pub total_cycles: u64,
    /// Sum of the ops' compute cycles.
    pub compute_cycles: u64,
    /// Sum of the ops' stall cycles.
    pub stall_cycles: u64,
    /// `total_cycles` at the accelerator's clock, in seconds.
    pub latency_s: f64,
    /// Total energy in joules (dynamic energy of every op plus leakage over the run).
    pub energy_j: f64,
    /// Chip area in mm².
    pub area_mm2: f64,
    /// Workload MACs over `total_cycles × MAC units`, in [0, 1].
    pub utilization: f64,
    /// Total multiply-accumulates.
    pub macs: u64,
    /// Peak bytes resident in off-chip memory (weights plus live activations).
    pub peak_memory_bytes: u64,
    /// Whether the design fits: an `llm:` step's weights, KV cache and activations in device
    /// memory (a KV cache that swaps over the host link does not fit). Searches, sweeps and the
    /// gym treat a design that does not fit as infeasible, with `why_not` as the reason.
    #[serde(default = "fits_default")]
    pub fits: bool,
    /// Why the design does not fit (empty when it does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why_not: Vec<String>,
    /// Bytes moved per memory level, summed over ops.
    pub bytes: BTreeMap<String, u64>,
    /// One row per op, in start order.
    pub ops: Vec<OpReport>,
    /// Version, config hash and seed.
    pub provenance: Provenance,
    /// Serving metrics of an `llm:` workload, for models that derive them (the GPU model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmReport>,
    /// Job-level statistics of a heterogeneous-SoC run (absent for op-graph workloads); its
    /// keys sit at the top level of `report.json`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobStats>,
    /// Per-task results when several networks run concurrently on a heterogeneous chip
    /// (`workload: {tasks: [...]}` on `accelerator.kind: hetero`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskReport>>,
}

fn fits_default() -> bool {
    true
}

impl Report {
    /// An empty report of `workload` on `accelerator`: zero totals, no ops, no optional
    /// sections, `fits`. A family fills in what it computed with struct-update syntax,
    /// `Report { total_cycles, latency_s, .., ..Report::new(w, acc, provenance) }`, so every
    /// family builds its report the same way and a new field needs one default here.
    pub fn new(
        workload: impl Into<String>,
        accelerator: impl Into<String>,
        provenance: Provenance,
    ) -> Report {
        Report {
            workload: workload.into(),
            accelerator: accelerator.into(),
            total_cycles: 0,
            compute_cycles: 0,
            stall_cycles: 0,
            latency_s: 0.0,
            energy_j: 0.0,
            area_mm2: 0.0,
            utilization: 0.0,
            macs: 0,
            peak_memory_bytes: 0,
            fits: true,
            why_not: Vec::new(),
            bytes: BTreeMap::new(),
            ops: Vec::new(),
            provenance,
            llm: None,
            jobs: None,
            tasks: None,
        }
    }

    /// Attaches an `llm:` step's serving metrics; when its memory does not fit, the report says
    /// so (`fits: false`, the sizes in `why_not`).
    pub fn with_llm(mut self, llm: Option<LlmReport>) -> Report {
        if let Some(l) = &llm {
            let m = &l.memory;
            if !m.fits {
                let gb = |b: u64| b as f64 / 1e9;
                self.fits = false;
                self.why_not.push(format!(
                    "memory: {} at batch {} and context {} needs {:.2} GB per device (weights \
                     {:.2}, KV cache {:.2}, activations {:.2}), {:.2} GB available{}",
                    l.model,
                    l.batch,
                    l.context_len,
                    gb(m.total_bytes),
                    gb(m.weights_bytes),
                    gb(m.kv_cache_bytes),
                    gb(m.activation_bytes),
                    gb(m.capacity_bytes),
                    match &l.kv_swap {
                        Some(s) => format!(
                            "; the KV cache swaps over the host link ({:.3} s per token)",
                            s.decode_swap_s
                        ),
                        None => String::new(),
                    }
                ));
            }
        }
        self.llm = llm;
        self
    }
}

/// One task (network) of a multi-task run on a heterogeneous chip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Workload name of the task.
    pub workload: String,
    /// Sub-accelerator the task runs on.
    pub sub_accelerator: String,
    /// Cycle at which the task's last op ends (all tasks start at cycle 0).
    pub end_cycle: u64,
    /// `end_cycle` at the chip's clock, in seconds: the task's latency.
    pub latency_s: f64,
    /// Dynamic energy of the task's ops, in joules.
    pub energy_j: f64,
    /// Multiply-accumulates of the task.
    pub macs: u64,
    /// Cycles its ops waited for DRAM bandwidth taken by other ops (contention).
    pub contention_cycles: u64,
}

/// Memory one device needs to serve an LLM step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmMemory {
    /// Weights held by one device (its tensor-parallel share).
    pub weights_bytes: u64,
    /// KV cache of the batch at the context length, one device's share.
    pub kv_cache_bytes: u64,
    /// Peak activations (largest working set of one kernel, prefill or decode).
    pub activation_bytes: u64,
    /// Weights + KV cache + activations.
    pub total_bytes: u64,
    /// Device memory capacity.
    pub capacity_bytes: u64,
    /// `total_bytes <= capacity_bytes`.
    pub fits: bool,
}

impl LlmMemory {
    /// The footprint of `weights + kv_cache + activations` bytes on a device of `capacity`.
    pub fn new(weights: u64, kv_cache: u64, activations: u64, capacity: u64) -> Self {
        let total = weights + kv_cache + activations;
        LlmMemory {
            weights_bytes: weights,
            kv_cache_bytes: kv_cache,
            activation_bytes: activations,
            total_bytes: total,
            capacity_bytes: capacity,
            fits: total <= capacity,
        }
    }
}

/// KV-cache swapping over the host link when the cache overflows device memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvSwap {
    /// KV-cache bytes that do not fit and live in host memory.
    pub overflow_bytes: u64,
    /// Host link bandwidth used, GB/s (one direction).
    pub host_link_gbps: f64,
    /// Time to stream the overflow to the device once per decode step, s.
    pub decode_swap_s: f64,
    /// Time to write the overflow back to the host during the prefill, s.
    pub prefill_swap_s: f64,
}

/// Serving metrics of an LLM on an accelerator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmReport {
    /// Model name.
    pub model: String,
    /// Sequences served together.
    pub batch: u64,
    /// Prompt tokens per sequence.
    pub prompt_len: u64,
    /// Tokens in the KV cache after the decode step priced.
    pub context_len: u64,
    /// Tensor-parallel degree (devices).
    pub tp: u64,
    /// Expert-parallel degree: groups of `tp` devices the experts are split over (`tp × ep`
    /// devices serve the step; absent when 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ep: u64,
    /// Kernel launch mode the latencies assume.
    pub launch: String,
    /// Time to first token: the prefill of `batch × prompt_len` tokens (with KV swap-out).
    pub ttft_s: f64,
    /// Time per output token: one decode step at `context_len` (with KV swap-in).
    pub tpot_s: f64,
    /// Generated tokens per second over the batch, `batch / tpot_s`.
    pub decode_tokens_per_s: f64,
    /// Prompt tokens per second, `batch × prompt_len / ttft_s`.
    pub prefill_tokens_per_s: f64,
    /// Memory of one device.
    pub memory: LlmMemory,
    /// Largest batch whose weights, KV cache and activations fit at `context_len` (0 when
    /// not even one sequence fits).
    pub max_batch: u64,
    /// KV-cache swapping, when the cache overflows device memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_swap: Option<KvSwap>,
    /// What the expert-parallel all-to-alls cost (present when `ep > 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_to_all: Option<LlmAllToAll>,
}

/// The exposed time of an expert-parallel step's all-to-alls (every MoE layer's dispatch and
/// combine): how much longer the step takes than it would with free all-to-alls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmAllToAll {
    /// In the prefill (time to first token), s.
    pub ttft_s: f64,
    /// In one decode step (time per output token), s.
    pub tpot_s: f64,
    /// Share of the decode step, `tpot_s / tpot` of the step.
    pub tpot_share: f64,
    /// Bytes one device sends (and receives) in one decode step's all-to-alls, the busiest
    /// device's: `(ep − 1)/ep` of its buffers.
    pub tpot_bytes: f64,
}

fn one() -> u64 {
    1
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

/// What an LLM step was: the model, its batch and lengths, and how it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmStep {
    /// Model name.
    pub model: String,
    /// Sequences served together.
    pub batch: u64,
    /// Prompt tokens per sequence.
    pub prompt_len: u64,
    /// Tokens in the KV cache after the decode step priced.
    pub context_len: u64,
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Expert-parallel degree.
    pub ep: u64,
    /// Launch (or execution) mode the latencies assume.
    pub launch: String,
}

impl LlmReport {
    /// The serving metrics of `step` from its time to first token and time per output token:
    /// the throughputs follow (`batch / tpot`, `batch × prompt_len / ttft`; 0 for a zero time).
    pub fn new(
        step: LlmStep,
        ttft_s: f64,
        tpot_s: f64,
        memory: LlmMemory,
        max_batch: u64,
        kv_swap: Option<KvSwap>,
    ) -> Self {
        let per_s = |work: u64, t: f64| if t > 0.0 { work as f64 / t } else { 0.0 };
        LlmReport {
            decode_tokens_per_s: per_s(step.batch, tpot_s),
            prefill_tokens_per_s: per_s(step.batch * step.prompt_len, ttft_s),
            model: step.model,
            batch: step.batch,
            prompt_len: step.prompt_len,
            context_len: step.context_len,
            tp: step.tp,
            ep: step.ep,
            launch: step.launch,
            ttft_s,
            tpot_s,
            memory,
            max_batch,
            kv_swap,
            all_to_all: None,
        }
    }

    /// The report with the exposed time of its all-to-alls.
    pub fn with_all_to_all(mut self, a: Option<LlmAllToAll>) -> Self {
        self.all_to_all = a;
        self
    }
}

/// How one processing element of a SoC was used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeUsage {
    /// PE instance name (e.g. `a15_2`).
    pub name: String,
    /// PE type (e.g. `a15`).
    pub kind: String,
    /// Tasks it ran.
    pub tasks: u64,
    /// Time it was busy, in µs.
    pub busy_us: f64,
    /// Busy time over the makespan, in [0, 1].
    pub utilization: f64,
    /// Energy in joules (active power while busy, idle power otherwise).
    pub energy_j: f64,
}

/// Per-application job statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStats {
    /// Application name.
    pub name: String,
    /// Jobs of this application.
    pub jobs: u64,
    /// Mean job latency (arrival to last task's end) in µs.
    pub avg_job_latency_us: f64,
}

/// Job-level statistics of a SoC run: makespan, latency distribution, throughput, PE usage.
///
/// Percentiles use the nearest-rank method: the `p`-th percentile of `n` sorted latencies is the
/// `ceil(p/100 · n)`-th.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    /// Scheduler that produced the schedule (`heft`, `etf`, …).
    pub scheduler: String,
    /// Jobs completed (all of them: a run ends when the last job ends).
    pub jobs_completed: u64,
    /// End of the last task, in µs (the time unit of the job files) from time 0.
    pub makespan: f64,
    /// The same in cycles of the SoC clock.
    pub makespan_cycles: u64,
    /// Mean job latency in µs.
    pub avg_job_latency_us: f64,
    /// Median job latency in µs.
    pub p50_job_latency_us: f64,
    /// 95th-percentile job latency in µs.
    pub p95_job_latency_us: f64,
    /// 99th-percentile job latency in µs.
    pub p99_job_latency_us: f64,
    /// Longest job latency in µs.
    pub max_job_latency_us: f64,
    /// Jobs completed per millisecond of makespan.
    pub throughput_jobs_per_ms: f64,
    /// Energy per job in µJ.
    pub energy_per_job_uj: f64,
    /// Bytes moved between different PEs.
    pub interconnect_bytes: u64,
    /// Per-application statistics, in the config's order.
    pub apps: Vec<AppStats>,
    /// One entry per PE instance.
    pub pe_utilization: Vec<PeUsage>,
    /// Jobs the Gantt chart draws (the config's `accelerator.gantt_jobs`; 8 when absent).
    #[serde(default = "default_gantt_jobs")]
    pub gantt_jobs: u64,
}

fn default_gantt_jobs() -> u64 {
    8
}

/// FNV-1a 64-bit hash of `bytes`, as 16 hex digits — stable across platforms and versions.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's row reads back the job its name was given; an op's row has none.
    #[test]
    fn task_rows_read_back_their_job() {
        let row = |name: String| OpReport {
            name,
            kind: String::new(),
            engine: String::new(),
            mapping: String::new(),
            start_cycle: 0,
            end_cycle: 0,
            cycles: 0,
            compute_cycles: 0,
            stall_cycles: 0,
            utilization: 0.0,
            macs: 0,
            bytes: BTreeMap::new(),
            energy_j: 0.0,
            latency_s: 0.0,
            kernels: Vec::new(),
        };
        assert_eq!(
            row(OpReport::task_name("wifi_tx", 12, "fft_1")).job(),
            Some(12)
        );
        assert_eq!(row(OpReport::task_name("a#b", 3, "x/y")).job(), Some(3));
        assert_eq!(row("layer1.0.conv1".into()).job(), None);
    }
}

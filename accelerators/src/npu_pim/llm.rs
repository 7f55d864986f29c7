//! An `llm:` step on the NPU+PIM family: the step's op graph in each mode (sub-batches in
//! `neupims`), its memory against the device's, and its serving metrics.

use archsim_sim::{LlmMemory, Report};
use archsim_workloads::llm::{self, LlmConfig, Phase};
use archsim_workloads::{DType, Workload};

use super::config::{NpuPimConfig, PimMode};
use super::model::NpuPim;
use crate::gpu::{Gpu, GpuConfig, LaunchMode};
use crate::llm_metrics::{self, MemoryRule, StepModel};
use crate::{pipeline, AccelError};

/// The sequences of each sub-batch: `batch` split into `parts` near-equal non-empty parts.
fn split_batch(batch: u64, parts: u64) -> Vec<u64> {
    let parts = parts.clamp(1, batch.max(1));
    (0..parts)
        .map(|i| batch / parts + u64::from(i < batch % parts))
        .collect()
}

/// Merges workloads into one graph of independent parts, prefixing op names with `sbN.`.
fn merge(parts: Vec<Workload>, name: &str, batch: u64) -> Workload {
    let mut it = parts.into_iter();
    let Some(mut first) = it.next() else {
        return archsim_workloads::WorkloadBuilder::new(name, DType::Fp16).finish();
    };
    for op in first.graph.node_weights_mut() {
        op.name = format!("sb0.{}", op.name);
    }
    for (k, w) in it.enumerate() {
        let mut map = std::collections::BTreeMap::new();
        for n in w.graph.node_indices() {
            let mut op = w.graph[n].clone();
            op.name = format!("sb{}.{}", k + 1, op.name);
            map.insert(n, first.graph.add_node(op));
        }
        for e in w.graph.edge_indices() {
            if let Some((a, b)) = w.graph.edge_endpoints(e) {
                first.graph.add_edge(map[&a], map[&b], w.graph[e].clone());
            }
        }
    }
    first.name = name.to_string();
    first.batch = batch;
    first
}

/// Whether the mode runs `step` as sub-batches ([`step_workload`]).
fn splits(cfg: &NpuPimConfig, step: &LlmConfig) -> bool {
    // The device's sequences: its expert-parallel group's (the whole batch without one).
    cfg.mode == PimMode::Neupims
        && step.phase == Phase::Decode
        && step.group_batch() >= cfg.sub_batch_min.max(2)
}

/// The op graph a mode runs for an `llm:` step: in `neupims` mode a decode step's batch is
/// split into sub-batches whose graphs are scheduled together.
pub(super) fn step_workload(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<Workload, AccelError> {
    let bad = |e: archsim_workloads::WorkloadError| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    };
    let whole = llm::lower(step, dtype).map_err(bad)?;
    if !splits(cfg, step) {
        return Ok(whole);
    }
    let parts = split_batch(step.group_batch(), cfg.sub_batches)
        .into_iter()
        .map(|b| {
            llm::lower(
                &LlmConfig {
                    // A sub-batch of `b` sequences in every group.
                    batch: b * step.ep.max(1),
                    ..step.clone()
                },
                dtype,
            )
            .map_err(bad)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut w = merge(parts, &whole.name, step.batch);
    w.llm = whole.llm;
    Ok(w)
}

/// Memory one device needs for the `llm:` step in the config's mode: its share of the weights,
/// of the KV cache of `batch` sequences at the step's context, and the decode step's peak
/// activations ([`MemoryRule::DecodeStep`]), against the device's capacity (`hbm_gb`, or the
/// GPU preset's memory in `gpu_only`).
pub fn step_memory(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<LlmMemory, AccelError> {
    let (_, decode, _) = step.serving_steps();
    let w = llm::lower(&decode, dtype).map_err(|e| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    })?;
    let capacity = match cfg.mode {
        PimMode::GpuOnly => gpu(cfg)?.spec.hbm_bytes().max(0.0) as u64,
        _ => capacity_bytes(cfg),
    };
    Ok(llm_metrics::step_memory(step, dtype, MemoryRule::DecodeStep, capacity, &w, None)?.memory)
}

fn capacity_bytes(cfg: &NpuPimConfig) -> u64 {
    (cfg.hbm_gb * 1e9) as u64
}

/// [`step_memory`], or [`AccelError::OutOfMemory`] when the step does not fit one device: no
/// mode swaps the KV cache (the NPU has no host link, and the GPU baseline is held to the
/// same rule), so a batch that does not fit is infeasible, never priced as if it fit.
pub(super) fn require_fit(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<LlmMemory, AccelError> {
    let m = step_memory(cfg, step, dtype)?;
    if m.fits {
        return Ok(m);
    }
    Err(no_fit(cfg, step, &m))
}

/// The out-of-memory error of a step whose memory `m` does not fit.
fn no_fit(cfg: &NpuPimConfig, step: &LlmConfig, m: &LlmMemory) -> AccelError {
    let key = match cfg.mode {
        PimMode::GpuOnly => format!("the {} preset's memory (gpu_preset)", cfg.gpu_preset),
        _ => "accelerator.hbm_gb".to_string(),
    };
    let gb = |b: u64| b as f64 / 1e9;
    AccelError::OutOfMemory {
        accelerator: format!("npu_pim {}", cfg.mode.name()),
        reason: format!(
            "{} at batch {} and context {} needs {:.1} GB per device (weights {:.1}, KV cache \
             {:.1}, activations {:.1} at tp {}), more than the {:.1} GB of {key}; use a smaller \
             batch or context, or a larger tp",
            step.model,
            step.batch,
            step.serving_steps().2,
            gb(m.total_bytes),
            gb(m.weights_bytes),
            gb(m.kv_cache_bytes),
            gb(m.activation_bytes),
            step.tp.max(1),
            gb(m.capacity_bytes),
        ),
    }
}

/// The NPU beside its PIM as [`llm_metrics`] prices a step on it: its HBM, no host link (a KV
/// cache that does not fit is out of memory), the decode step's activations
/// ([`MemoryRule::DecodeStep`]), and each step's graph as the mode runs it
/// ([`step_workload`]).
struct StepDevice<'a> {
    cfg: &'a NpuPimConfig,
    acc: &'a NpuPim,
    /// A step already run, with its latency: the report's own step, not run again.
    ran: Option<(&'a LlmConfig, f64)>,
}

impl StepDevice<'_> {
    /// The latency of `step` when it is the step already run (as its serving metrics state
    /// it, `LlmConfig::serving_steps`).
    fn ran(&self, step: &LlmConfig) -> Option<f64> {
        let (ran, seconds) = self.ran?;
        let (prefill, decode, _) = ran.serving_steps();
        let same = match ran.phase {
            Phase::Prefill => prefill == *step,
            Phase::Decode => decode == *step,
        };
        same.then_some(seconds)
    }
}

impl StepModel for StepDevice<'_> {
    fn device_name(&self) -> String {
        format!("npu_pim {}", self.cfg.mode.name())
    }
    fn capacity_bytes(&self) -> u64 {
        capacity_bytes(self.cfg)
    }
    fn host_link_gbps(&self) -> Option<f64> {
        None
    }
    fn mode(&self) -> String {
        self.cfg.mode.name().into()
    }
    fn step_seconds(&self, step: &LlmConfig, lowered: &Workload) -> Result<f64, AccelError> {
        if let Some(seconds) = self.ran(step) {
            return Ok(seconds);
        }
        let split;
        let w = if splits(self.cfg, step) {
            split = step_workload(self.cfg, step, lowered.dtype)?;
            &split
        } else {
            lowered
        };
        let m = pipeline::mapping(w, self.acc)?;
        let s = pipeline::schedule(&m, self.acc)?;
        Ok(s.makespan.get() as f64 / (self.cfg.freq_mhz * 1e6))
    }
    fn memory_rule(&self) -> MemoryRule {
        MemoryRule::DecodeStep
    }
    fn out_of_memory(&self, step: &LlmConfig, memory: &LlmMemory) -> Option<AccelError> {
        Some(no_fit(self.cfg, step, memory))
    }
    /// Its steps run sub-batched graphs of their own: no all-to-all-free rerun.
    fn reports_all_to_all(&self) -> bool {
        false
    }
}

/// Decode tokens per second of one `llm:` decode step (the batch over the step's latency) in
/// the config's mode; `gpu_only` asks the GPU model. A step that does not fit the device's
/// memory is [`AccelError::OutOfMemory`] ([`require_fit`]).
pub fn decode_tokens_per_s(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<f64, AccelError> {
    let step = LlmConfig {
        phase: Phase::Decode,
        ..step.clone()
    };
    require_fit(cfg, &step, dtype)?;
    let latency = step_latency_s(cfg, &step, dtype)?;
    Ok(if latency > 0.0 {
        step.batch as f64 / latency
    } else {
        0.0
    })
}

pub(super) fn gpu(cfg: &NpuPimConfig) -> Result<Gpu, AccelError> {
    Gpu::new(&GpuConfig::preset(&cfg.gpu_preset, LaunchMode::CudaGraph))
}

/// Latency of one `llm:` step in the config's mode, s.
pub(super) fn step_latency_s(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<f64, AccelError> {
    if cfg.mode == PimMode::GpuOnly {
        let w = llm::lower(step, dtype).map_err(|e| AccelError::InvalidConfig {
            key: "workload.llm".into(),
            reason: e.to_string(),
        })?;
        return Ok(gpu(cfg)?.predict(&w));
    }
    let acc = NpuPim::new(cfg)?;
    let dev = StepDevice {
        cfg,
        acc: &acc,
        ran: None,
    };
    let w = llm::lower(step, dtype).map_err(|e| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    })?;
    dev.step_seconds(step, &w)
}

/// Runs a workload in the config's mode and returns the report; for an `llm:` workload the
/// report's `llm` field carries the serving metrics (TTFT from the prefill on the same mode,
/// TPOT and decode tokens/s from the decode step).
pub(super) fn evaluate(
    cfg: &NpuPimConfig,
    step: Option<&LlmConfig>,
    dtype: DType,
    w: &Workload,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    // Out of memory before any step is run.
    if let Some(step) = step {
        require_fit(cfg, step, dtype)?;
    }
    if cfg.mode == PimMode::GpuOnly {
        let g = gpu(cfg)?;
        let serving = match step {
            Some(step) => Some(crate::gpu::llm::metrics(&g, step, dtype)?),
            None => None,
        };
        return Ok(g.evaluate(w, config_hash, seed)?.with_llm(serving));
    }
    let acc = NpuPim::new(cfg)?;
    let Some(step) = step else {
        return pipeline::evaluate(w, &acc, config_hash, seed);
    };
    let report = pipeline::evaluate(&step_workload(cfg, step, dtype)?, &acc, config_hash, seed)?;
    let dev = StepDevice {
        cfg,
        acc: &acc,
        ran: Some((step, report.latency_s)),
    };
    let serving = llm_metrics::metrics(&dev, step, dtype)?;
    Ok(report.with_llm(Some(serving)))
}

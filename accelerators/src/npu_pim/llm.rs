//! An `llm:` step on the NPU+PIM family: the step's op graph in each mode (sub-batches in
//! `neupims`), its memory against the device's, and its serving metrics.

use archsim_sim::{LlmMemory, LlmReport, LlmStep, Report};
use archsim_workloads::llm::{self, LlmConfig, Phase};
use archsim_workloads::{DType, Workload};

use super::config::{NpuPimConfig, PimMode};
use super::model::NpuPim;
use crate::gpu::{Gpu, GpuConfig, LaunchMode};
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

/// The op graph a mode runs for an `llm:` step: in `neupims` mode a decode step's batch is
/// split into sub-batches whose graphs are scheduled together.
pub fn step_workload(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<Workload, AccelError> {
    let bad = |e: archsim_workloads::WorkloadError| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    };
    let whole = llm::lower(step, dtype).map_err(bad)?;
    if cfg.mode != PimMode::Neupims
        || step.phase != Phase::Decode
        || step.batch < cfg.sub_batch_min.max(2)
    {
        return Ok(whole);
    }
    let parts = split_batch(step.batch, cfg.sub_batches)
        .into_iter()
        .map(|b| {
            llm::lower(
                &LlmConfig {
                    batch: b,
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

fn run(w: &Workload, acc: &NpuPim, config_hash: &str, seed: u64) -> Result<Report, AccelError> {
    let m = pipeline::mapping(w, acc)?;
    let s = pipeline::schedule(&m, acc)?;
    Ok(pipeline::report(&m, &s, acc, config_hash, seed))
}

/// Memory one device needs for the `llm:` step in the config's mode: its share of the weights,
/// of the KV cache of `batch` sequences at the step's context, and the peak activations,
/// against the device's capacity (`hbm_gb`, or the GPU preset's memory in `gpu_only`).
pub fn step_memory(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<LlmMemory, AccelError> {
    let (_, decode, context) = step.serving_steps();
    let w = llm::lower(&decode, dtype).map_err(|e| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    })?;
    let weights = w.total_weights() * dtype.bytes();
    let kv = w.llm.as_ref().map_or(0, |i| {
        crate::llm_metrics::kv_cache_bytes(&i.spec, i.layers, step.tp.max(1), step.batch, context, dtype)
    });
    let act = crate::llm_metrics::activation_bytes(&w);
    let capacity = match cfg.mode {
        PimMode::GpuOnly => gpu(cfg)?.spec.hbm_bytes().max(0.0) as u64,
        _ => (cfg.hbm_gb * 1e9) as u64,
    };
    Ok(LlmMemory::new(weights, kv, act, capacity))
}

/// [`step_memory`], or [`AccelError::OutOfMemory`] when the step does not fit one device: no
/// mode swaps the KV cache (the NPU has no host link, and the GPU baseline is held to the
/// same rule), so a batch that does not fit is infeasible, never priced as if it fit.
pub fn require_fit(
    cfg: &NpuPimConfig,
    step: &LlmConfig,
    dtype: DType,
) -> Result<LlmMemory, AccelError> {
    let m = step_memory(cfg, step, dtype)?;
    if m.fits {
        return Ok(m);
    }
    let key = match cfg.mode {
        PimMode::GpuOnly => format!("the {} preset's memory (gpu_preset)", cfg.gpu_preset),
        _ => "accelerator.hbm_gb".to_string(),
    };
    let gb = |b: u64| b as f64 / 1e9;
    Err(AccelError::OutOfMemory {
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
    })
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
pub fn step_latency_s(
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
    let w = step_workload(cfg, step, dtype)?;
    let acc = NpuPim::new(cfg)?;
    let m = pipeline::mapping(&w, &acc)?;
    let s = pipeline::schedule(&m, &acc)?;
    Ok(s.makespan.get() as f64 / (cfg.freq_mhz * 1e6))
}

/// Runs a workload in the config's mode and returns the report; for an `llm:` workload the
/// report's `llm` field carries the serving metrics (TTFT from the prefill on the same mode,
/// TPOT and decode tokens/s from the decode step).
pub fn evaluate(
    cfg: &NpuPimConfig,
    step: Option<&LlmConfig>,
    dtype: DType,
    w: &Workload,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    let memory = match step {
        Some(step) => Some(require_fit(cfg, step, dtype)?),
        None => None,
    };
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
        return run(w, &acc, config_hash, seed);
    };
    let graph = step_workload(cfg, step, dtype)?;
    let report = run(&graph, &NpuPim::new(cfg)?, config_hash, seed)?;
    let (prefill, decode, context) = step.serving_steps();
    let ttft = match step.phase {
        Phase::Prefill => report.latency_s,
        Phase::Decode => step_latency_s(cfg, &prefill, dtype)?,
    };
    let tpot = match step.phase {
        Phase::Decode => report.latency_s,
        Phase::Prefill => step_latency_s(cfg, &decode, dtype)?,
    };
    let tp = step.tp.max(1);
    let per_seq = graph.llm.as_ref().map_or(0, |i| {
        crate::llm_metrics::kv_cache_bytes(&i.spec, i.layers, tp, 1, context, dtype)
    });
    let memory = match memory {
        Some(m) => m,
        None => step_memory(cfg, step, dtype)?,
    };
    let free = memory
        .capacity_bytes
        .saturating_sub(memory.weights_bytes + memory.activation_bytes);
    Ok(report.with_llm(Some(LlmReport::new(
        LlmStep {
            model: step.model.clone(),
            batch: step.batch,
            prompt_len: step.serving_prompt_len(),
            context_len: context,
            tp,
            launch: cfg.mode.name().into(),
        },
        ttft,
        tpot,
        memory,
        free / per_seq.max(1),
        None,
    ))))
}

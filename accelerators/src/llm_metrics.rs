//! LLM serving metrics of one `llm:` step on any family that prices a step: time to first
//! token, time per output token, throughput, memory, the largest batch that fits, KV-cache
//! swapping and tensor parallelism. A family implements [`StepModel`] (its device memory, its
//! host link, how long a step takes, and where it differs, how it counts memory) and calls
//! [`metrics`]; the GPU, roofline, RDU and NPU+PIM families do.
//!
//! * **TTFT** is the prefill of `batch × prompt_len` tokens; **TPOT** one decode step with
//!   `context_len` tokens in the cache. Both are [`StepModel::step_seconds`] over the lowered
//!   graphs (`archsim_workloads::llm::lower`).
//! * **Memory** of one device: its share of the weights, its share of the KV cache (KV heads
//!   split across the tensor-parallel group, replicated when there are fewer heads than
//!   devices), and the peak activations — the largest working set of one kernel (inputs plus
//!   output; FlashAttention never materializes the score matrix) of the decode step or of one
//!   sequence's prefill (a batch's prefill that does not fit runs a sequence at a time, as
//!   serving engines chunk prefills).
//! * **Largest batch**: how many sequences of `context_len` tokens fit next to the weights,
//!   each needing its KV cache and its share of the activations.
//! * A device with its own **memory rule** ([`MemoryRule::DecodeStep`], the NPU+PIM family)
//!   counts the decode step's activations alone, and each more sequence needs its KV cache
//!   alone; a device that words its own out-of-memory error ([`StepModel::out_of_memory`])
//!   refuses a step that does not fit with it.
//! * **KV-cache swapping**: when the weights and activations fit but the KV cache does not, the
//!   overflow lives in host memory and crosses the host link (PCIe) every decode step; with
//!   layer-by-layer prefetch the step takes the longer of the device time and the transfer (the
//!   bound of the long-context analysis in Y. Fu, "Challenges in Deploying Long-Context
//!   Transformers: A Theoretical Peak Performance Analysis", arXiv:2405.08944, 2024). The
//!   prefill writes the overflow back the same way. A device without a host link cannot swap:
//!   the overflow is out of memory. When even the weights and activations do not fit, the step
//!   is infeasible: [`AccelError::OutOfMemory`].
//! * **Tensor parallelism** (`tp` in the `llm:` section): the graphs are one device's share;
//!   memory figures are per device.

use archsim_sim::{KvSwap, LlmMemory, LlmReport, LlmStep};
use archsim_workloads::llm::{self, LlmConfig};
use archsim_workloads::{numel, DType, OpKind, Workload};

use crate::AccelError;

/// Peak activation bytes of a graph: the largest working set of one kernel (activation
/// inputs plus output). A decode attention's KV cache is counted in the KV cache, not here.
pub fn activation_bytes(w: &Workload) -> u64 {
    w.graph
        .node_weights()
        .map(|op| {
            let b = op.dtype.bytes();
            match &op.kind {
                OpKind::Reshape => 0,
                // Q, the new token's K and V, and the output.
                OpKind::Attention(_) => 4 * numel(&op.output) * b,
                _ => op.input_elems() * b + op.bytes_written(),
            }
        })
        .max()
        .unwrap_or(0)
}

/// One device's share of the KV cache of `batch` sequences of `context` tokens.
pub fn kv_cache_bytes(
    spec: &llm::TransformerSpec,
    layers: u64,
    tp: u64,
    batch: u64,
    context: u64,
    dtype: DType,
) -> u64 {
    let kv_heads = (spec.kv_heads / tp.max(1)).max(1);
    2 * layers * batch * context * kv_heads * spec.head_dim() * dtype.bytes()
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

/// How a device counts an `llm:` step's activations against its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryRule {
    /// A serving engine's rule (the default): the activations are the larger of the decode
    /// step's working set and one sequence's prefill (a batch's prefill that does not fit runs
    /// a sequence at a time), and each more sequence needs its KV cache and its share of the
    /// decode activations.
    #[default]
    ChunkedPrefill,
    /// The decode step's working set, held whole next to the weights; each more sequence needs
    /// its KV cache alone (the NPU+PIM family, as NeuPIMs sizes its batches by the KV cache).
    DecodeStep,
}

/// One device's memory for an `llm:` step ([`step_memory`]) and what sizes its largest batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMemory {
    /// Weights, KV cache and activations against the capacity.
    pub memory: LlmMemory,
    /// Activation bytes next to the weights that do not grow with the batch.
    pub fixed_activation_bytes: u64,
    /// Bytes each more sequence needs.
    pub per_sequence_bytes: u64,
}

impl StepMemory {
    /// How many sequences fit next to the weights and the fixed activations.
    pub fn max_batch(&self) -> u64 {
        let m = &self.memory;
        m.capacity_bytes
            .saturating_sub(m.weights_bytes + self.fixed_activation_bytes)
            / self.per_sequence_bytes.max(1)
    }
}

/// One device's memory for the `llm:` step `cfg` under `rule`, against `capacity` bytes:
/// `decode` is the step's decode lowered (`LlmConfig::serving_steps`), `prefill` its prefill
/// if the caller has it lowered (the [`MemoryRule::ChunkedPrefill`] rule lowers it otherwise).
pub fn step_memory(
    cfg: &LlmConfig,
    dtype: DType,
    rule: MemoryRule,
    capacity: u64,
    decode: &Workload,
    prefill: Option<&Workload>,
) -> Result<StepMemory, AccelError> {
    let (_, _, context) = cfg.serving_steps();
    let info = decode
        .llm
        .as_ref()
        .ok_or_else(|| AccelError::InvalidConfig {
            key: "workload.llm".into(),
            reason: "the lowered graph carries no LLM metadata".into(),
        })?;
    let tp = cfg.tp.max(1);
    let batch = cfg.batch.max(1);
    let weights = decode.total_weights() * dtype.bytes();
    let kv = kv_cache_bytes(&info.spec, info.layers, tp, cfg.batch, context, dtype);
    let kv_one = kv_cache_bytes(&info.spec, info.layers, tp, 1, context, dtype);
    let act_decode = activation_bytes(decode);
    let (act, fixed, per_seq) = match rule {
        MemoryRule::ChunkedPrefill => {
            let act_prefill = match prefill {
                Some(p) => activation_bytes(p),
                None => activation_bytes(&lower(&cfg.serving_steps().0, dtype)?),
            }
            .div_ceil(batch);
            (
                act_decode.max(act_prefill),
                act_prefill,
                kv_one + act_decode.div_ceil(batch),
            )
        }
        MemoryRule::DecodeStep => (act_decode, act_decode, kv_one),
    };
    Ok(StepMemory {
        memory: LlmMemory::new(weights, kv, act, capacity),
        fixed_activation_bytes: fixed,
        per_sequence_bytes: per_seq,
    })
}

fn lower(cfg: &LlmConfig, dtype: DType) -> Result<Workload, AccelError> {
    llm::lower(cfg, dtype).map_err(|e| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    })
}

/// A device that prices one lowered `llm:` step.
pub trait StepModel {
    /// The device, for error messages.
    fn device_name(&self) -> String;
    /// Memory of one device, bytes.
    fn capacity_bytes(&self) -> u64;
    /// Bandwidth of the link to host memory (GB/s) that a KV cache too large for the device
    /// swaps over; `None`: no swapping, the overflow is out of memory.
    fn host_link_gbps(&self) -> Option<f64>;
    /// How the step runs (a GPU's launch mode, an NPU+PIM mode), for the report.
    fn mode(&self) -> String;
    /// Seconds the step `step` takes; `lowered` is `step` as `llm::lower` lowers it (a device
    /// that runs another graph for the step, e.g. split into sub-batches, builds its own).
    fn step_seconds(&self, step: &LlmConfig, lowered: &Workload) -> Result<f64, AccelError>;
    /// How the device counts activations against its memory (default: a serving engine's).
    fn memory_rule(&self) -> MemoryRule {
        MemoryRule::ChunkedPrefill
    }
    /// The error for a step whose weights, KV cache and activations exceed the device's
    /// memory, where the device refuses it in its own words; `None` (the default): the
    /// weights and activations must fit, and the KV cache swaps over the host link if any.
    fn out_of_memory(&self, _step: &LlmConfig, _memory: &LlmMemory) -> Option<AccelError> {
        None
    }
}

/// Serving metrics of the `llm:` section `cfg` (of either phase) at `dtype` on `dev`.
pub fn metrics(
    dev: &dyn StepModel,
    cfg: &LlmConfig,
    dtype: DType,
) -> Result<LlmReport, AccelError> {
    let (prefill_cfg, decode_cfg, context) = cfg.serving_steps();
    let prefill = lower(&prefill_cfg, dtype)?;
    let decode = lower(&decode_cfg, dtype)?;
    let tp = cfg.tp.max(1);
    let capacity = dev.capacity_bytes();
    let mem = step_memory(
        cfg,
        dtype,
        dev.memory_rule(),
        capacity,
        &decode,
        Some(&prefill),
    )?;
    let m = &mem.memory;
    let (weights, kv, act) = (m.weights_bytes, m.kv_cache_bytes, m.activation_bytes);
    let total = weights + kv + act;
    if total > capacity {
        if let Some(e) = dev.out_of_memory(cfg, m) {
            return Err(e);
        }
    }
    if weights + act > capacity {
        return Err(AccelError::OutOfMemory {
            accelerator: dev.device_name(),
            reason: format!(
                "{} weights ({:.1} GB per device at tp {tp}) and activations ({:.1} GB) exceed \
                 the {:.1} GB of device memory; use a larger tp, a smaller dtype or batch",
                cfg.model,
                gb(weights),
                gb(act),
                gb(capacity)
            ),
        });
    }
    let ttft_dev = dev.step_seconds(&prefill_cfg, &prefill)?;
    let tpot_dev = dev.step_seconds(&decode_cfg, &decode)?;
    let kv_swap = match (total > capacity, dev.host_link_gbps()) {
        (false, _) => None,
        (true, Some(link_gbps)) => {
            let overflow = total - capacity;
            let host_bw = link_gbps * 1e9;
            Some(KvSwap {
                overflow_bytes: overflow,
                host_link_gbps: link_gbps,
                decode_swap_s: overflow as f64 / host_bw,
                prefill_swap_s: overflow as f64 / host_bw,
            })
        }
        (true, None) => {
            return Err(AccelError::OutOfMemory {
                accelerator: dev.device_name(),
                reason: format!(
                    "{} KV cache ({:.1} GB per device for batch {} at context {context}) does \
                     not fit next to the weights and activations in {:.1} GB, and the device \
                     has no host link to swap over; use a smaller batch or context, or a larger tp",
                    cfg.model,
                    gb(kv),
                    cfg.batch,
                    gb(capacity)
                ),
            })
        }
    };
    let (ttft, tpot) = match &kv_swap {
        Some(s) => (
            ttft_dev.max(s.prefill_swap_s),
            tpot_dev.max(s.decode_swap_s),
        ),
        None => (ttft_dev, tpot_dev),
    };
    let max_batch = mem.max_batch();
    Ok(LlmReport::new(
        LlmStep {
            model: cfg.model.clone(),
            batch: cfg.batch,
            prompt_len: cfg.serving_prompt_len(),
            context_len: context,
            tp,
            launch: dev.mode(),
        },
        ttft,
        tpot,
        mem.memory,
        max_batch,
        kv_swap,
    ))
}

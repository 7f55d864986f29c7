//! LLM serving metrics of one `llm:` step on any family that prices a step: time to first
//! token, time per output token, throughput, memory, the largest batch that fits, KV-cache
//! swapping and tensor parallelism. A family implements [`StepModel`] (its device memory, its
//! host link, how long a lowered step takes) and calls [`metrics`]; the GPU and the roofline
//! families do.
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
    /// Seconds one lowered step takes.
    fn step_seconds(&self, w: &Workload) -> f64;
}

/// Serving metrics of the `llm:` section `cfg` (of either phase) at `dtype` on `dev`.
pub fn metrics(
    dev: &dyn StepModel,
    cfg: &LlmConfig,
    dtype: DType,
) -> Result<LlmReport, AccelError> {
    let bad = |e: archsim_workloads::WorkloadError| AccelError::InvalidConfig {
        key: "workload.llm".into(),
        reason: e.to_string(),
    };
    let (prefill_cfg, decode_cfg, context) = cfg.serving_steps();
    let prefill = llm::lower(&prefill_cfg, dtype).map_err(bad)?;
    let decode = llm::lower(&decode_cfg, dtype).map_err(bad)?;
    let info = decode
        .llm
        .as_ref()
        .ok_or_else(|| AccelError::InvalidConfig {
            key: "workload.llm".into(),
            reason: "the lowered graph carries no LLM metadata".into(),
        })?;
    let tp = cfg.tp.max(1);
    let weights = decode.total_weights() * dtype.bytes();
    let kv = kv_cache_bytes(&info.spec, info.layers, tp, cfg.batch, context, dtype);
    // A batch's prefill that does not fit at once runs one sequence at a time (as serving
    // engines chunk prefills): count one sequence's prefill working set.
    let act_decode = activation_bytes(&decode);
    let act_prefill = activation_bytes(&prefill).div_ceil(cfg.batch.max(1));
    let act = act_decode.max(act_prefill);
    let capacity = dev.capacity_bytes();
    let total = weights + kv + act;
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
    let ttft_dev = dev.step_seconds(&prefill);
    let tpot_dev = dev.step_seconds(&decode);
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
    // Each more sequence needs its KV cache and its share of the decode activations, next to
    // the weights and one sequence's prefill working set.
    let per_seq = kv_cache_bytes(&info.spec, info.layers, tp, 1, context, dtype)
        + act_decode.div_ceil(cfg.batch.max(1));
    let max_batch = capacity.saturating_sub(weights + act_prefill) / per_seq.max(1);
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
        LlmMemory::new(weights, kv, act, capacity),
        max_batch,
        kv_swap,
    ))
}

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
//! * **Expert parallelism** (`ep`): `tp × ep` devices, attention data-parallel over the `ep`
//!   groups and tensor-parallel within one, each MoE layer's experts split over the groups.
//!   The graphs are the busiest device's share (its group's `⌈batch / ep⌉` sequences, its
//!   experts' tokens, the dispatch and combine all-to-alls); the weights are its attention
//!   share and its `experts / ep` experts (those no token reached included), the KV cache its
//!   group's sequences'; the largest batch is `ep` times what one group holds. The report's
//!   `all_to_all` is the all-to-alls' exposed time: the step's time less the same step's with
//!   the all-to-alls free.

use archsim_sim::{KvSwap, LlmAllToAll, LlmMemory, LlmReport, LlmStep};
use archsim_workloads::llm::{self, LlmConfig};
use archsim_workloads::{numel, CollectiveFunc, DType, OpKind, Workload};

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

fn is_all_to_all(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Collective {
            func: CollectiveFunc::AllToAll,
            ..
        }
    )
}

/// `w` with its all-to-alls made free (views that move nothing): the step an expert-parallel
/// one would be if its dispatch and combine cost nothing.
pub fn without_all_to_alls(w: &Workload) -> Workload {
    let mut free = w.clone();
    for op in free.graph.node_weights_mut() {
        if is_all_to_all(&op.kind) {
            op.kind = OpKind::Reshape;
        }
    }
    free
}

/// Bytes one device sends (and receives) over its links in the all-to-alls of `w`: `(p − 1)/p`
/// of each one's buffer (`archsim_workloads::Op::collective_bytes`).
pub fn all_to_all_bytes(w: &Workload) -> f64 {
    w.graph
        .node_weights()
        .filter_map(|op| match op.kind {
            OpKind::Collective {
                func: CollectiveFunc::AllToAll,
                ranks,
            } if ranks > 1 => {
                let p = ranks as f64;
                Some(op.collective_bytes() as f64 * (p - 1.0) / p)
            }
            _ => None,
        })
        .sum()
}

/// The exposed time of the all-to-alls of `w` (the step `step` lowered) on `dev`: its time
/// less its time without them.
pub fn exposed_all_to_all_seconds(
    dev: &dyn StepModel,
    step: &LlmConfig,
    w: &Workload,
    with: f64,
) -> Result<f64, AccelError> {
    Ok((with - dev.step_seconds(step, &without_all_to_alls(w))?).max(0.0))
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
    /// Expert-parallel groups, each holding as many sequences (`workload.llm.ep`, at least 1).
    pub groups: u64,
}

impl StepMemory {
    /// How many sequences fit next to the weights and the fixed activations (on each device
    /// of a group, times the groups).
    pub fn max_batch(&self) -> u64 {
        let m = &self.memory;
        m.capacity_bytes
            .saturating_sub(m.weights_bytes + self.fixed_activation_bytes)
            / self.per_sequence_bytes.max(1)
            * self.groups
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
    // One device's sequences: its expert-parallel group's.
    let batch = cfg.group_batch().max(1);
    // The weights the step reads, and its experts that no token reached (held all the same).
    let weights = (decode.total_weights() + info.idle_expert_params) * dtype.bytes();
    let kv = kv_cache_bytes(&info.spec, info.layers, tp, batch, context, dtype);
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
        groups: cfg.ep.max(1),
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
    /// Whether the report states an expert-parallel step's exposed all-to-all time (the step
    /// timed again with its all-to-alls free; default yes).
    fn reports_all_to_all(&self) -> bool {
        true
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
    let ep = cfg.ep.max(1);
    // One device's sequences: its expert-parallel group's.
    let group = cfg.group_batch().max(1);
    let at = if ep > 1 {
        format!("tp {tp} and ep {ep}")
    } else {
        format!("tp {tp}")
    };
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
                "{} weights ({:.1} GB per device at {at}) and activations ({:.1} GB) exceed \
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
                    group,
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
    let all_to_all = if ep > 1 && dev.reports_all_to_all() {
        let tpot_s = exposed_all_to_all_seconds(dev, &decode_cfg, &decode, tpot_dev)?;
        Some(LlmAllToAll {
            ttft_s: exposed_all_to_all_seconds(dev, &prefill_cfg, &prefill, ttft_dev)?,
            tpot_s,
            tpot_share: if tpot_dev > 0.0 {
                tpot_s / tpot_dev
            } else {
                0.0
            },
            tpot_bytes: all_to_all_bytes(&decode),
        })
    } else {
        None
    };
    Ok(LlmReport::new(
        LlmStep {
            model: cfg.model.clone(),
            batch: cfg.batch,
            prompt_len: cfg.serving_prompt_len(),
            context_len: context,
            tp,
            ep,
            launch: dev.mode(),
        },
        ttft,
        tpot,
        mem.memory,
        max_batch,
        kv_swap,
    )
    .with_all_to_all(all_to_all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::Links;
    use crate::gpu::{Gpu, GpuConfig, LaunchMode};
    use archsim_workloads::llm::Phase;

    fn h100() -> Gpu {
        Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap()
    }

    fn mixtral(batch: u64, tp: u64, ep: u64, skew: f64) -> LlmConfig {
        LlmConfig {
            model: "mixtral_8x7b".into(),
            phase: Phase::Decode,
            batch,
            prompt_len: 1024,
            context_len: Some(1025),
            tp,
            ep,
            moe_skew: skew,
            ..Default::default()
        }
    }

    /// Mixtral-8x7B decoding 64 sequences on 8 H100s, one expert each (ep 8), by hand.
    #[test]
    fn mixtral_decode_on_eight_h100_with_ep_8() {
        let gpu = h100();
        let c = mixtral(64, 1, 8, 0.0);
        let r = metrics(&gpu, &c, DType::Bf16).unwrap();
        assert_eq!((r.tp, r.ep, r.batch), (1, 8, 64));
        let a = r.all_to_all.as_ref().unwrap();
        // Per layer a dispatch and a combine; each moves tokens × hidden × top_k × bytes ×
        // (ep−1)/ep per direction: 8 tokens per device, 4096 wide, top-2, bf16.
        let per = 8.0 * 4096.0 * 2.0 * 2.0 * 7.0 / 8.0;
        assert_eq!(a.tpot_bytes, 32.0 * 2.0 * per);
        // Each all-to-all is one NCCL kernel on the NVSwitch, whose time is archsim-net's: the
        // exposed time is at least their sum less what CUDA graphs overlap (nothing here).
        let one = Links::nccl_switch(gpu.spec.nvlink_gbps).seconds(
            CollectiveFunc::AllToAll,
            8,
            8.0 * 4096.0 * 2.0 * 2.0,
        );
        assert!(
            (a.tpot_s - 64.0 * one).abs() < 0.05 * a.tpot_s,
            "{} vs 64 × {one}",
            a.tpot_s
        );
        assert!(a.tpot_share > 0.0 && a.tpot_share < 0.5);
        assert!((a.tpot_share - a.tpot_s / r.tpot_s).abs() < 1e-12);
        // Memory: the attention, embeddings and head whole, one expert of 8 per layer; the KV
        // cache of 8 sequences; 8 groups' worth of sequences fit.
        let s = llm::spec("mixtral_8x7b").unwrap();
        let expert = 3 * 4096 * 14336;
        let weights = (s.params() - 32 * 7 * expert) * 2;
        let norms = (2 * 32 + 1) * 4096 * 2; // the reference RMSNorm's weights are operands
        assert_eq!(r.memory.weights_bytes + norms, weights);
        assert_eq!(
            r.memory.kv_cache_bytes,
            kv_cache_bytes(&s, 32, 1, 8, 1025, DType::Bf16)
        );
        assert_eq!(r.max_batch % 8, 0);
        // Skew: the busiest device's expert gets 47 of the 128 choices instead of 16; its
        // expert GEMMs and its all-to-all buffers grow with them.
        let k = metrics(&gpu, &mixtral(64, 1, 8, 1.0), DType::Bf16).unwrap();
        let ka = k.all_to_all.as_ref().unwrap();
        assert_eq!(ka.tpot_bytes, 32.0 * 2.0 * 47.0 * 4096.0 * 2.0 * 7.0 / 8.0);
        assert!(k.tpot_s > r.tpot_s && ka.tpot_s > a.tpot_s);
    }

    #[test]
    fn ep_1_has_no_all_to_all_and_more_experts_per_device_cost_more() {
        let gpu = h100();
        let r = metrics(&gpu, &mixtral(64, 8, 1, 0.0), DType::Bf16).unwrap();
        assert!(r.all_to_all.is_none() && r.ep == 1);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("ep").is_none() && json.get("all_to_all").is_none());
        // Fewer devices per expert: more weights per device and a slower step.
        let t = |ep| metrics(&gpu, &mixtral(64, 1, ep, 0.0), DType::Bf16).unwrap();
        let (two, four, eight) = (t(2), t(4), t(8));
        assert!(two.tpot_s > four.tpot_s && four.tpot_s > eight.tpot_s);
        assert!(two.memory.weights_bytes > four.memory.weights_bytes);
        // Without expert parallelism the whole model does not fit one H100.
        assert!(matches!(
            metrics(&gpu, &mixtral(64, 1, 1, 0.0), DType::Bf16),
            Err(AccelError::OutOfMemory { .. })
        ));
    }
}

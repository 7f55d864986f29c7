//! The `workload.training:` and `parallel:` sections (serde + JSON schema) and the checks
//! that a layout fits the model and the cluster. The keys are fixed in DESIGN.md
//! ("Training"); `dp_overlap` is an additive extra.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_workloads::llm::{spec, Ffn, TransformerSpec};
use archsim_workloads::NormFunc;

use crate::error::{invalid, TrainingError};
pub use archsim_net::config::HostConfig;

/// The model trained: an `llm:` zoo name or an explicit shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelRef {
    /// A zoo name (`gpt3_175b`, `llama2_7b`, ...).
    Zoo(String),
    /// An explicit GPT-style shape.
    Shape(ModelShape),
}

fn zero() -> u64 {
    0
}

/// An explicit transformer shape (GPT-style: GELU FFN, LayerNorm, learned positions of
/// `seq_len`, untied LM head unless `tied_head`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    /// Transformer layers.
    pub layers: u64,
    /// Hidden size.
    pub hidden: u64,
    /// Attention heads.
    pub heads: u64,
    /// Key/value heads (default: `heads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u64>,
    /// FFN inner size (default 4 × hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffn: Option<u64>,
    /// Vocabulary.
    pub vocab: u64,
    /// The LM head shares the embedding's weights (Megatron's GPT does; default true).
    #[serde(default = "yes")]
    pub tied_head: bool,
    /// MoE experts (0 = dense; MoE training is not modelled yet and is rejected).
    #[serde(default = "zero")]
    pub experts: u64,
    /// Experts per token.
    #[serde(default = "zero")]
    pub top_k: u64,
}

fn yes() -> bool {
    true
}

/// Activation recomputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recompute {
    /// Keep every activation.
    #[default]
    None,
    /// Re-run attention's core (Q·Kᵀ, softmax, dropout, ·V) in the backward pass
    /// (Korthikanti et al. 2022).
    Selective,
    /// Keep only each layer's input and re-run the layer's forward before its backward.
    Full,
}

/// Optimizer (mixed precision: fp32 master weights beside the 16-bit ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Adam: fp32 master weights, momentum and variance (K = 12 bytes per parameter).
    #[default]
    Adam,
    /// AdamW: as Adam (decoupled weight decay costs no state).
    Adamw,
    /// Plain SGD: fp32 master weights only (K = 4).
    Sgd,
}

impl Optimizer {
    /// Optimizer-state bytes per parameter (the ZeRO paper's K).
    pub fn state_bytes(self) -> u64 {
        match self {
            Optimizer::Adam | Optimizer::Adamw => 12,
            Optimizer::Sgd => 4,
        }
    }
}

fn one() -> u64 {
    1
}

/// `workload.training:` — what is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// The model.
    pub model: ModelRef,
    /// Tokens per sequence (at most 2^24: ByteScale's contexts are 2M tokens).
    #[schemars(range(min = 1, max = 16_777_216))]
    pub seq_len: u64,
    /// Sequences per iteration (all data-parallel replicas together; at most 2^24).
    #[schemars(range(min = 1, max = 16_777_216))]
    pub global_batch: u64,
    /// Sequences per micro-batch (default 1; at most 2^20).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub micro_batch: u64,
    /// `none` (default), `selective` or `full`.
    #[serde(default)]
    pub recompute: Recompute,
    /// `adam` (default), `adamw` or `sgd`.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Overrides the model's layer count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u64>,
}

/// Pipeline schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Schedule {
    /// All forwards, then all backwards (Huang et al. 2019).
    #[serde(rename = "gpipe")]
    Gpipe,
    /// One forward, one backward (PipeDream-Flush / Megatron's default).
    #[default]
    #[serde(rename = "1f1b")]
    OneFOneB,
    /// Megatron-LM's interleaved 1F1B over `vpp` model chunks (virtual stages) per device.
    #[serde(rename = "interleaved")]
    Interleaved,
}

impl Schedule {
    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Gpipe => "gpipe",
            Schedule::OneFOneB => "1f1b",
            Schedule::Interleaved => "interleaved",
        }
    }
}

fn one_usize() -> usize {
    1
}

/// `parallel:` — how the job is spread over the devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParallelConfig {
    /// Tensor-parallel degree (Megatron column/row splits).
    #[serde(default = "one_usize")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub tp: usize,
    /// Pipeline stages.
    #[serde(default = "one_usize")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub pp: usize,
    /// Data-parallel replicas.
    #[serde(default = "one_usize")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub dp: usize,
    /// Virtual stages per device (interleaved 1F1B).
    #[serde(default = "one_usize")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub vpp: usize,
    /// Sequence parallelism (norms and dropouts sharded; TP all-reduces become
    /// reduce-scatter + all-gather).
    #[serde(default)]
    pub sequence_parallel: bool,
    /// ZeRO stage 0–3.
    #[serde(default)]
    #[schemars(range(max = 3))]
    pub zero: u8,
    /// `gpipe`, `1f1b` (default) or `interleaved`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Overlap the data-parallel gradient reduction with the last micro-batch's backward pass
    /// (per-stage, as soon as the stage's backward ends) instead of after the whole pipeline
    /// flush (default false: no gradient bucketing).
    #[serde(default)]
    pub dp_overlap: bool,
    /// Where model states live when not on the device (ZeRO-Offload / ZeRO-Infinity;
    /// default: everything on the device). Needs `cluster.host`.
    #[serde(default, skip_serializing_if = "OffloadConfig::is_none")]
    pub offload: OffloadConfig,
    /// Layers of each (virtual) pipeline stage in model order, `pp · vpp` entries adding up
    /// to the model's layers (default: `layers / pp` each, the remainder on the first stages;
    /// on a heterogeneous cluster, chosen by the devices' speed). Additive extra.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 1)))]
    pub layers_per_stage: Vec<u64>,
    /// Where the pipeline stages run on a heterogeneous cluster (`cluster.groups`): a list of
    /// group indices, one per stage, or `nic_aware` (default: each stage inside one group,
    /// stages in the groups' order, so data-parallel groups stay on one NIC kind and only
    /// pipeline sends cross between groups) or `flat` (Megatron-LM's rank order over the
    /// groups' devices as listed, every inter-node collective on the slowest NIC). Additive
    /// extra.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// `parallel.placement:` — the pipeline stages on a heterogeneous cluster's groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Placement {
    /// The group (index into `cluster.groups`) of every pipeline stage.
    Stages(Vec<usize>),
    /// A placement rule.
    Rule(PlacementRule),
}

/// How the stages are placed when no list is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementRule {
    /// Each stage inside one group, as many stages per group as its devices hold, in the
    /// groups' order (Holmes: cross-cluster pipeline, data parallelism inside a NIC kind).
    NicAware,
    /// Megatron-LM's rank order over all devices as one cluster, every inter-node
    /// collective at the slowest NIC (what a NIC-oblivious launcher gets).
    Flat,
}

/// Where one kind of model state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// On the device (default).
    #[default]
    None,
    /// In the host's memory, across PCIe.
    Cpu,
    /// On the node's NVMe drives, through host memory and PCIe.
    Nvme,
}

impl Place {
    /// Off the device.
    pub fn is_off(self) -> bool {
        self != Place::None
    }
}

/// `parallel.offload:` — ZeRO-Offload (Ren et al., ATC 2021: fp32 master weights and Adam
/// states in host memory, CPU Adam, 16-bit gradients down and parameters up over PCIe) and
/// ZeRO-Infinity (Rajbhandari et al., SC 2021: the same states on NVMe, and the 16-bit
/// parameters fetched layer by layer with prefetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OffloadConfig {
    /// Optimizer states (fp32 master weights, momentum, variance) and the optimizer step:
    /// `none`, `cpu` or `nvme`.
    #[serde(default)]
    pub optimizer: Place,
    /// 16-bit parameters: `none`, `cpu` or `nvme` (each layer's weights fetched to the device
    /// before its forward and its backward, one layer prefetched ahead).
    #[serde(default)]
    pub params: Place,
    /// 16-bit gradients: `none` (accumulated on the device, sent to the host once per
    /// iteration) or `cpu` (each micro-batch's layer gradients sent down as they are made and
    /// accumulated on the host).
    #[serde(default)]
    pub gradients: Place,
}

impl OffloadConfig {
    /// Nothing offloaded.
    pub fn is_none(&self) -> bool {
        !self.optimizer.is_off() && !self.params.is_off() && !self.gradients.is_off()
    }
}

/// `checkpoint:` — saving the model and optimizer states every `interval_iters` iterations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Iterations between checkpoints.
    #[schemars(range(min = 1))]
    pub interval_iters: u64,
    /// Write bandwidth to the checkpoint storage from each node, GB/s (one node's writers
    /// share it; nodes write in parallel).
    #[schemars(range(min = 0, max = 1e7))]
    pub storage_gb_s: f64,
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            tp: 1,
            pp: 1,
            dp: 1,
            vpp: 1,
            sequence_parallel: false,
            zero: 0,
            schedule: Schedule::OneFOneB,
            dp_overlap: false,
            offload: OffloadConfig::default(),
            layers_per_stage: Vec::new(),
            placement: None,
        }
    }
}

impl TrainingConfig {
    /// The transformer's hyper-parameters (zoo or explicit shape, with `layers` applied).
    pub fn spec(&self) -> Result<TransformerSpec, TrainingError> {
        let mut s = match &self.model {
            ModelRef::Zoo(name) => spec(name).ok_or_else(|| {
                invalid(
                    "workload.training.model",
                    format!("unknown model `{name}`; give a zoo name or {{layers, hidden, heads, kv_heads, ffn, vocab}}"),
                )
            })?,
            ModelRef::Shape(m) => {
                for (k, v) in [("layers", m.layers), ("hidden", m.hidden), ("heads", m.heads), ("vocab", m.vocab)] {
                    if v == 0 {
                        return Err(invalid(&format!("workload.training.model.{k}"), "must be positive"));
                    }
                }
                TransformerSpec {
                    name: "custom".into(),
                    layers: m.layers,
                    hidden: m.hidden,
                    heads: m.heads,
                    kv_heads: m.kv_heads.unwrap_or(m.heads),
                    ffn: m.ffn.unwrap_or(4 * m.hidden),
                    ffn_kind: Ffn::Gelu,
                    norm: NormFunc::LayerNorm,
                    vocab: m.vocab,
                    positions: self.seq_len,
                    token_types: 0,
                    post_norm: false,
                    causal: true,
                    tied_head: m.tied_head,
                    experts: m.experts,
                    top_k: m.top_k,
                }
            }
        };
        if let Some(l) = self.layers {
            if l == 0 {
                return Err(invalid("workload.training.layers", "must be positive"));
            }
            s.layers = l;
        }
        if s.hidden % s.heads != 0 {
            return Err(invalid(
                "workload.training.model.heads",
                format!("{} heads do not divide hidden {}", s.heads, s.hidden),
            ));
        }
        if s.kv_heads == 0 || s.heads % s.kv_heads != 0 {
            return Err(invalid(
                "workload.training.model.kv_heads",
                format!("{} kv heads do not divide {} heads", s.kv_heads, s.heads),
            ));
        }
        if s.experts > 0 {
            return Err(invalid(
                "workload.training.model",
                "mixture-of-experts training (expert parallelism) is not modelled yet",
            ));
        }
        if s.vocab == 0 || !s.causal {
            return Err(invalid(
                "workload.training.model",
                "training needs a causal language model with a vocabulary",
            ));
        }
        Ok(s)
    }
}

/// Checks a layout against the model, the batch and the device count; errors name the keys.
pub fn validate(
    t: &TrainingConfig,
    s: &TransformerSpec,
    p: &ParallelConfig,
    devices: usize,
) -> Result<(), TrainingError> {
    for (k, v) in [("tp", p.tp), ("pp", p.pp), ("dp", p.dp), ("vpp", p.vpp)] {
        if v == 0 {
            return Err(invalid(&format!("parallel.{k}"), "must be at least 1"));
        }
    }
    let product = p.tp.checked_mul(p.pp).and_then(|x| x.checked_mul(p.dp));
    if product != Some(devices) {
        return Err(invalid(
            "parallel.tp, parallel.pp, parallel.dp",
            format!(
                "tp·pp·dp = {}·{}·{} = {} but the cluster has {devices} devices",
                p.tp,
                p.pp,
                p.dp,
                product.map_or("more than 2^64".into(), |n| n.to_string())
            ),
        ));
    }
    if s.heads % p.tp as u64 != 0 || s.kv_heads % p.tp as u64 != 0 {
        return Err(invalid(
            "parallel.tp",
            format!(
                "tp {} does not divide the {} heads ({} kv heads)",
                p.tp, s.heads, s.kv_heads
            ),
        ));
    }
    if s.ffn % p.tp as u64 != 0 {
        return Err(invalid(
            "parallel.tp",
            format!("tp {} does not divide the ffn size {}", p.tp, s.ffn),
        ));
    }
    if p.pp as u64 > s.layers {
        return Err(invalid(
            "parallel.pp",
            format!("pp {} is larger than the {} layers", p.pp, s.layers),
        ));
    }
    if p.zero > 3 {
        return Err(invalid(
            "parallel.zero",
            format!("ZeRO stage {} does not exist (0–3)", p.zero),
        ));
    }
    match p.schedule {
        Schedule::Interleaved => {
            if p.vpp < 2 {
                return Err(invalid(
                    "parallel.vpp",
                    format!(
                        "schedule: interleaved needs vpp > 1 model chunks per device, not {}",
                        p.vpp
                    ),
                ));
            }
            if p.pp < 2 {
                return Err(invalid(
                    "parallel.pp",
                    "schedule: interleaved needs a pipeline (pp > 1)",
                ));
            }
            if (p.pp as u64).saturating_mul(p.vpp as u64) > s.layers {
                return Err(invalid(
                    "parallel.pp, parallel.vpp",
                    format!(
                        "pp·vpp = {}·{} virtual stages is more than the {} layers",
                        p.pp, p.vpp, s.layers
                    ),
                ));
            }
        }
        _ if p.vpp != 1 => {
            return Err(invalid(
                "parallel.vpp",
                format!("vpp {} needs schedule: interleaved", p.vpp),
            ));
        }
        _ => {}
    }
    if !p.layers_per_stage.is_empty() {
        let nv = (p.pp as u64).saturating_mul(p.vpp as u64);
        if p.layers_per_stage.len() as u64 != nv {
            return Err(invalid(
                "parallel.layers_per_stage",
                format!(
                    "{} entries, but the pipeline has pp·vpp = {nv} (virtual) stages",
                    p.layers_per_stage.len()
                ),
            ));
        }
        if p.layers_per_stage.contains(&0) {
            return Err(invalid(
                "parallel.layers_per_stage",
                "every stage needs at least one layer",
            ));
        }
        let sum: u64 = p.layers_per_stage.iter().sum();
        if sum != s.layers {
            return Err(invalid(
                "parallel.layers_per_stage",
                format!(
                    "the stages hold {sum} layers but the model has {}",
                    s.layers
                ),
            ));
        }
    }
    if t.seq_len == 0 {
        return Err(invalid("workload.training.seq_len", "must be positive"));
    }
    if p.sequence_parallel && t.seq_len % p.tp as u64 != 0 {
        return Err(invalid(
            "parallel.sequence_parallel",
            format!("tp {} does not divide seq_len {}", p.tp, t.seq_len),
        ));
    }
    if t.global_batch == 0 || t.global_batch % p.dp as u64 != 0 {
        return Err(invalid(
            "workload.training.global_batch",
            format!(
                "global_batch {} is not a positive multiple of dp {}",
                t.global_batch, p.dp
            ),
        ));
    }
    let per_replica = t.global_batch / p.dp as u64;
    if t.micro_batch == 0 || per_replica % t.micro_batch != 0 {
        return Err(invalid(
            "workload.training.micro_batch",
            format!(
                "micro_batch {} does not divide the per-replica batch {} (global_batch / dp)",
                t.micro_batch, per_replica
            ),
        ));
    }
    // Every count of the step is a 64-bit integer: the largest product of one pass (tokens of
    // a micro-batch × the widest dimension × the widest or the sequence, with 2^10 of room for
    // summing layers, passes and micro-batches) must fit, or the sizes are out of reach.
    let widest = s.hidden.max(s.ffn).max(s.vocab).max(1);
    let countable = t
        .micro_batch
        .checked_mul(t.seq_len)
        .and_then(|x| x.checked_mul(widest))
        .and_then(|x| x.checked_mul(widest.max(t.seq_len)))
        .and_then(|x| x.checked_mul(1 << 10));
    if countable.is_none() {
        return Err(invalid(
            "workload.training.seq_len, workload.training.micro_batch",
            format!(
                "a micro-batch of {} sequences of {} tokens on a model {widest} wide is beyond \
                 what archsim counts (its operations exceed 2^54); use smaller sizes",
                t.micro_batch, t.seq_len
            ),
        ));
    }
    let m = per_replica / t.micro_batch;
    if p.schedule == Schedule::Interleaved && m % p.pp as u64 != 0 {
        return Err(invalid(
            "workload.training.global_batch, workload.training.micro_batch, parallel.pp",
            format!(
                "the interleaved schedule needs the micro-batches per pipeline (global_batch / dp / micro_batch = {m}) to be a multiple of pp {}",
                p.pp
            ),
        ));
    }
    Ok(())
}

fn positive(key: &str, v: f64) -> Result<f64, TrainingError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(key, format!("must be a positive number, not {v}")))
    }
}

/// The host bandwidths offload uses, checked: `(pcie, cpu_adam, nvme)` in bytes/s (`nvme`
/// 0 when nothing goes to NVMe). Errors name the missing or non-positive key.
pub fn check_offload(
    o: &OffloadConfig,
    host: Option<&HostConfig>,
    p: &ParallelConfig,
) -> Result<(f64, f64, f64), TrainingError> {
    if o.is_none() {
        return Ok((0.0, 0.0, 0.0));
    }
    if o.gradients == Place::Nvme {
        return Err(invalid(
            "parallel.offload.gradients",
            "gradients are offloaded to `cpu` (they are accumulated in host memory), not `nvme`",
        ));
    }
    if !o.optimizer.is_off() && (o.gradients.is_off() || o.params.is_off()) {
        let which = if o.gradients.is_off() {
            "parallel.offload.gradients"
        } else {
            "parallel.offload.params"
        };
        return Err(invalid(
            which,
            "offloading gradients or parameters needs the optimizer offloaded too (parallel.offload.optimizer: cpu or nvme): the host updates what it holds",
        ));
    }
    if o.gradients.is_off() && p.dp > 1 {
        return Err(invalid(
            "parallel.offload.gradients",
            "gradients: cpu with dp > 1 would reduce gradients on the host, which is not modelled; use gradients: none (reduced on the device, then sent down)",
        ));
    }
    let h = host.ok_or_else(|| {
        invalid(
            "cluster.host",
            "offload needs the host: {pcie_gb_s, host_mem_gb, cpu_adam_gb_s} (and nvme_gb_s, nvme_gb for NVMe)",
        )
    })?;
    let pcie = positive("cluster.host.pcie_gb_s", h.pcie_gb_s)?;
    positive("cluster.host.host_mem_gb", h.host_mem_gb)?;
    let cpu = positive("cluster.host.cpu_adam_gb_s", h.cpu_adam_gb_s)?;
    let mut nvme = 0.0;
    if o.optimizer == Place::Nvme || o.params == Place::Nvme {
        let bw = h.nvme_gb_s.ok_or_else(|| {
            invalid(
                "cluster.host.nvme_gb_s",
                "NVMe offload needs the NVMe bandwidth (GB/s)",
            )
        })?;
        nvme = positive("cluster.host.nvme_gb_s", bw)?;
        let cap = h.nvme_gb.ok_or_else(|| {
            invalid(
                "cluster.host.nvme_gb",
                "NVMe offload needs the NVMe capacity (GB)",
            )
        })?;
        positive("cluster.host.nvme_gb", cap)?;
    }
    Ok((pcie * 1e9, cpu * 1e9, nvme * 1e9))
}

/// Checks a checkpoint policy; errors name the key.
pub fn check_checkpoint(c: &CheckpointConfig) -> Result<(), TrainingError> {
    if c.interval_iters == 0 {
        return Err(invalid("checkpoint.interval_iters", "must be at least 1"));
    }
    positive("checkpoint.storage_gb_s", c.storage_gb_s)?;
    Ok(())
}

//! The `workload.training:` and `parallel:` sections (serde + JSON schema) and the checks
//! that a layout fits the model and the cluster. The keys are fixed in DESIGN.md
//! ("Training"); `dp_overlap` is an additive extra.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_workloads::llm::{spec, Ffn, TransformerSpec};
use archsim_workloads::NormFunc;

use crate::error::{invalid, TrainingError};

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
    /// Tokens per sequence.
    pub seq_len: u64,
    /// Sequences per iteration (all data-parallel replicas together).
    pub global_batch: u64,
    /// Sequences per micro-batch (default 1).
    #[serde(default = "one")]
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

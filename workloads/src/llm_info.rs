//! The description of an LLM step that a [`Workload`](crate::Workload) carries: the model's
//! hyper-parameters, the phase, and the step's whole-model figures.
//!
//! Plain data, apart from the closed-form sizes of [`TransformerSpec`]. The lowering that fills
//! it in is [`crate::llm`] (which re-exports these types); the graph only carries it, so
//! `graph.rs` depends on this module and not on the lowering.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::op::NormFunc;
use crate::DType;

/// The feed-forward block of a transformer layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ffn {
    /// `fc2(GELU(fc1(x)))`.
    Gelu,
    /// `down(SiLU(gate(x)) · up(x))`.
    SwiGlu,
}

/// The hyper-parameters of a transformer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformerSpec {
    /// Zoo name.
    pub name: String,
    /// Layers.
    pub layers: u64,
    /// Hidden size.
    pub hidden: u64,
    /// Attention heads.
    pub heads: u64,
    /// Key/value heads (`heads` for multi-head attention, fewer for grouped-query attention).
    pub kv_heads: u64,
    /// FFN inner size (per expert for MoE).
    pub ffn: u64,
    /// FFN kind.
    pub ffn_kind: Ffn,
    /// LayerNorm or RMSNorm.
    pub norm: NormFunc,
    /// Vocabulary (0 for a vision trunk).
    pub vocab: u64,
    /// Learned absolute positions (0 = rotary embeddings applied to Q and K).
    pub positions: u64,
    /// Token-type (segment) embeddings (BERT: 2).
    pub token_types: u64,
    /// Norm after the residual (BERT) instead of before the block (GPT, LLaMA, ViT).
    pub post_norm: bool,
    /// Causal (decoder) attention.
    pub causal: bool,
    /// LM head shares the token embedding's weights.
    pub tied_head: bool,
    /// Experts per MoE layer (0 = dense).
    pub experts: u64,
    /// Experts per token.
    pub top_k: u64,
}

impl TransformerSpec {
    /// Channels per head.
    pub fn head_dim(&self) -> u64 {
        self.hidden / self.heads
    }

    /// Parameters of the whole model, in closed form.
    pub fn params(&self) -> u64 {
        let (h, d) = (self.hidden, self.head_dim());
        let attn = h * self.heads * d * 2 + h * self.kv_heads * d * 2;
        let ffn_mats = match self.ffn_kind {
            Ffn::Gelu => 2,
            Ffn::SwiGlu => 3,
        };
        let ffn = if self.experts > 0 {
            self.experts * ffn_mats * h * self.ffn + h * self.experts
        } else {
            ffn_mats * h * self.ffn
        };
        let norms = self.norm_params() * 2;
        let layer = attn + ffn + norms;
        let embed = (self.vocab + self.positions + self.token_types) * h;
        let head = if self.tied_head || self.vocab == 0 || !self.causal {
            0
        } else {
            self.vocab * h
        };
        self.layers * layer + embed + self.final_norm_params() + head
    }

    fn norm_params(&self) -> u64 {
        match self.norm {
            NormFunc::LayerNorm => 2 * self.hidden,
            NormFunc::RmsNorm => self.hidden,
        }
    }

    fn final_norm_params(&self) -> u64 {
        // BERT normalizes the embeddings instead of the final hidden state; same size.
        self.norm_params()
    }

    /// Bytes of the KV cache for `batch` sequences of `context_len` tokens, whole model.
    pub fn kv_cache_bytes(&self, batch: u64, context_len: u64, dtype: DType) -> u64 {
        2 * self.layers * batch * context_len * self.kv_heads * self.head_dim() * dtype.bytes()
    }
}

/// Inference phase of an LLM workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Process the whole prompt (time to first token).
    #[default]
    Prefill,
    /// Generate one token against the KV cache (time per output token).
    Decode,
}

/// Metadata of a lowered LLM workload (whole-model figures, not one device's share).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmInfo {
    /// The hyper-parameters.
    pub spec: TransformerSpec,
    /// Phase lowered.
    pub phase: Phase,
    /// Sequences.
    pub batch: u64,
    /// New tokens per sequence in this step.
    pub q_len: u64,
    /// Tokens attended to per sequence.
    pub kv_len: u64,
    /// Layers lowered.
    pub layers: u64,
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Expert-parallel degree (the device groups the experts are split over; 1 = none).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ep: u64,
    /// Parameters one device holds that no op of the step reads: the weights of its experts
    /// that no token was routed to (they take memory all the same).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub idle_expert_params: u64,
    /// Parameters of the whole model.
    pub params: u64,
    /// Bytes of the whole model's KV cache at `kv_len` tokens.
    pub kv_cache_bytes: u64,
    /// KV-cache bytes this step reads (all devices).
    pub kv_cache_read_bytes: u64,
    /// KV-cache bytes this step writes (all devices).
    pub kv_cache_write_bytes: u64,
}

fn one() -> u64 {
    1
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

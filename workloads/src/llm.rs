//! Transformer lowering: encoders (BERT, ViT's trunk), decoders (GPT-2, LLaMA-2) and
//! mixture-of-experts decoders (Mixtral) in prefill and decode phases, with grouped-query
//! attention, KV cache, tensor parallelism and a layer-count override.
//!
//! ## What one layer becomes
//!
//! ```text
//! x ─► norm ─► q_proj ─► (rope) ─┐
//!          ├─► k_proj ─► (rope) ─┼─► attention ─► o_proj ─► [all-reduce] ─► + x ─► norm ─► MLP ─► [all-reduce] ─► + ─►
//!          └─► v_proj ───────────┘       ▲
//!                      KV cache (decode) ┘
//! MLP = fc1 ─► GELU ─► fc2                      (GPT-2, BERT, ViT)
//!     = gate, up ─► SiLU(gate)·up ─► down        (LLaMA SwiGLU)
//!     = router ─► top-k ─► dispatch ─► experts (SwiGLU each) ─► combine   (Mixtral)
//! ```
//!
//! * **Prefill**: `batch × prompt_len` tokens; attention is causal with `q_len = kv_len =
//!   prompt_len` (GEMM-like). K and V projections are the cache writes.
//! * **Decode**: one new token per sequence against a cache of `context_len` tokens
//!   (`context_len − 1` cached plus the new one); attention has `q_len = 1` (GEMV-like) and
//!   reads the cache, a graph input.
//! * **Logits** are computed for the last token of each sequence only (what serving needs).
//! * **Tensor parallelism** of degree `tp` splits heads, KV heads (replicated when fewer than
//!   `tp`) and FFN columns; `o_proj` and the MLP's down projection end in an all-reduce of the
//!   hidden state; the LM head is split by vocabulary and ends in an all-gather. The workload is
//!   one device's share.
//! * **MoE**: a router GEMM and a top-k selection; each expert gets `tokens × top_k / experts`
//!   tokens (the remainder spread over the first experts), or a Zipf-skewed share with
//!   `moe_skew > 0` (expert `i` gets a share proportional to `(i + 1)^-skew`); experts with no
//!   token are skipped (their weights still count in memory: `LlmInfo::idle_expert_params`).
//! * **Expert parallelism** of degree `ep` (DeepSpeed-MoE's and vLLM's): `tp × ep` devices in
//!   `ep` groups of `tp`. Attention (and the embeddings, norms and LM head) is data-parallel
//!   over the groups, each running `⌈batch / ep⌉` sequences and holding their KV cache, and
//!   tensor-parallel within one; group `d` holds experts `d·E/ep … (d+1)·E/ep − 1`. The step's
//!   tokens are routed together (`tokens_per_expert` over all `batch × q_len`), and the graph
//!   is the busiest device's share, since every layer's all-to-alls wait for it: its group's
//!   sequences, then per MoE layer a permute of its tokens by destination (`tokens × top_k`
//!   rows), the dispatch all-to-all(v) (`moe_dispatch`: it receives the rows of its experts),
//!   its experts on their tokens (the received buffer is grouped by expert: views), the
//!   combine all-to-all(v) back (`moe_combine_all_to_all`) and the top-k sum. An all-to-all's
//!   buffer is the larger of what the device sends and receives (`Op::collective_bytes`), of
//!   which `(ep − 1)/ep` crosses its links (a device's received tokens come from every group
//!   alike). Under uniform routing that is `tokens × hidden × top_k × bytes × (ep − 1)/ep` per
//!   direction.
//!
//! Head reshapes are views (kernels read Q/K/V with strides); biases are not modeled (under
//! 0.1% of the parameters of every model here); layer norms, softmax and rotary embeddings are
//! ops of their own.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::framework::{Framework, GqaImpl, KvWrite, LlmProgram, NormImpl};
use crate::graph::{Tensor, WorkloadBuilder};
use crate::op::{Attention, CollectiveFunc, EltFunc, NormFunc, OpKind, ReduceFunc};
use crate::{DType, Workload, WorkloadError};

// The description of a lowered step, which the workload carries (its own module, so that the
// graph does not depend on the lowering).
pub use crate::llm_info::{Ffn, LlmInfo, Phase, TransformerSpec};

/// The zoo's transformer names handled here.
pub const MODELS: &[&str] = &[
    "bert_base",
    "bert_large",
    "gpt2",
    "llama2_7b",
    "llama2_13b",
    "llama2_70b",
    "mixtral_8x7b",
    "gpt3_7b",
    "gpt3_13b",
    "gpt3_30b",
    "gpt3_175b",
    "llama3_8b",
    "llama3_70b",
    "llama3_1_8b",
    "llama3_1_70b",
    "qwen2_7b",
    "phi3_mini",
    "codellama_7b",
    "codellama_34b",
];

/// The published hyper-parameters of a zoo transformer.
///
/// Sources: BERT (Devlin et al., NAACL 2019, Table/§3), GPT-2 124M (Radford et al. 2019; the
/// HF `gpt2` config), LLaMA-2 (Touvron et al., arXiv:2307.09288, Table 1 and the HF configs:
/// 7B 32×4096 FFN 11008, 13B 40×5120 FFN 13824, 70B 80×8192 FFN 28672 with 8 KV heads),
/// Mixtral 8x7B (Jiang et al., arXiv:2401.04088: 32×4096, 8 KV heads, FFN 14336, 8 experts,
/// top-2). GPT-3-style models for NeuPIMs (Heo et al., ASPLOS 2024) follow GPT-3 (Brown et al.,
/// NeurIPS 2020, Table 2.1: 6.7B 32×4096 with 32 heads, 13B 40×5140 with 40 heads (5120 here, so
/// that heads of 128 channels divide it), 175B 96×12288 with 96 heads; FFN 4× hidden, 2048
/// positions, GELU, LayerNorm; the LM head is lowered as its own weight, which moves the same
/// bytes per step as GPT-3's tied one); `gpt3_30b` (48×7168, 56 heads) is OPT-30B's
/// shape (Zhang et al., arXiv:2205.01068), GPT-3 having no 30B size.
///
/// The models served today, from each model's published `config.json` on the Hugging Face Hub
/// (`hidden_size`, `num_hidden_layers`, `num_attention_heads`, `num_key_value_heads`,
/// `intermediate_size`, `vocab_size`, `tie_word_embeddings`): Llama-3-8B 32×4096, 32 heads, 8
/// KV heads, FFN 14336, vocabulary 128,256, untied; Llama-3-70B 80×8192, 64 heads, 8 KV heads,
/// FFN 28672, vocabulary 128,256, untied; Llama-3.1 8B and 70B have the same shapes (only the
/// context and the rotary scaling differ, which a step's cost does not see: `llama3_1_8b` and
/// `llama3_1_70b` are aliases with the longer window); Qwen2-7B 28×3584, 28 heads, 4 KV
/// heads, FFN 18944, vocabulary 152,064, untied (its q/k/v biases, 0.1 M parameters, are not
/// modeled); Phi-3-mini (4k) 32×3072, 32 heads (MHA), FFN 8192, vocabulary 32,064, untied;
/// CodeLlama-7B is LLaMA-2-7B with a vocabulary of 32,016; CodeLlama-34B 48×8192, 64 heads, 8
/// KV heads, FFN 22016, vocabulary 32,000. Every one is a SwiGLU, RMSNorm, rotary decoder.
pub fn spec(name: &str) -> Option<TransformerSpec> {
    let base = |name: &str, layers, hidden, heads, ffn| TransformerSpec {
        name: name.into(),
        layers,
        hidden,
        heads,
        kv_heads: heads,
        ffn,
        ffn_kind: Ffn::Gelu,
        norm: NormFunc::LayerNorm,
        vocab: 0,
        positions: 0,
        token_types: 0,
        post_norm: false,
        causal: true,
        tied_head: false,
        experts: 0,
        top_k: 0,
    };
    let bert = |name: &str, layers, hidden, heads, ffn| TransformerSpec {
        vocab: 30522,
        positions: 512,
        token_types: 2,
        post_norm: true,
        causal: false,
        ..base(name, layers, hidden, heads, ffn)
    };
    let llama = |name: &str, layers, hidden, heads, kv_heads, ffn| TransformerSpec {
        kv_heads,
        ffn_kind: Ffn::SwiGlu,
        norm: NormFunc::RmsNorm,
        vocab: 32000,
        ..base(name, layers, hidden, heads, ffn)
    };
    Some(match name {
        "bert_base" => bert(name, 12, 768, 12, 3072),
        "bert_large" => bert(name, 24, 1024, 16, 4096),
        "gpt2" => TransformerSpec {
            vocab: 50257,
            positions: 1024,
            tied_head: true,
            ..base(name, 12, 768, 12, 3072)
        },
        "gpt3_7b" | "gpt3_13b" | "gpt3_30b" | "gpt3_175b" => {
            let (layers, hidden, heads) = match name {
                "gpt3_7b" => (32, 4096, 32),
                "gpt3_13b" => (40, 5120, 40),
                "gpt3_30b" => (48, 7168, 56),
                _ => (96, 12288, 96),
            };
            TransformerSpec {
                vocab: 50257,
                positions: 2048,
                ..base(name, layers, hidden, heads, 4 * hidden)
            }
        }
        "llama2_7b" => llama(name, 32, 4096, 32, 32, 11008),
        "llama2_13b" => llama(name, 40, 5120, 40, 40, 13824),
        "llama2_70b" => llama(name, 80, 8192, 64, 8, 28672),
        "llama3_8b" | "llama3_1_8b" => TransformerSpec {
            vocab: 128_256,
            ..llama(name, 32, 4096, 32, 8, 14336)
        },
        "llama3_70b" | "llama3_1_70b" => TransformerSpec {
            vocab: 128_256,
            ..llama(name, 80, 8192, 64, 8, 28672)
        },
        "qwen2_7b" => TransformerSpec {
            vocab: 152_064,
            ..llama(name, 28, 3584, 28, 4, 18944)
        },
        "phi3_mini" => TransformerSpec {
            vocab: 32_064,
            ..llama(name, 32, 3072, 32, 32, 8192)
        },
        "codellama_7b" => TransformerSpec {
            vocab: 32_016,
            ..llama(name, 32, 4096, 32, 32, 11008)
        },
        "codellama_34b" => llama(name, 48, 8192, 64, 8, 22016),
        "mixtral_8x7b" => TransformerSpec {
            experts: 8,
            top_k: 2,
            ..llama(name, 32, 4096, 32, 8, 14336)
        },
        _ => return None,
    })
}

/// The context window of a zoo transformer: the most tokens one sequence may hold (prompt and
/// generated tokens together). Learned position embeddings bound it at their count (BERT 512,
/// GPT-2 1,024, GPT-3 2,048); rotary models state it: LLaMA-2 4,096 (Touvron et al.,
/// arXiv:2307.09288, §2.2 "we double the context length ... to 4k"), Mixtral 8x7B 32,768
/// (Jiang et al., arXiv:2401.04088, §2 "a context length of 32k tokens"), Llama-3 8,192 and
/// Llama-3.1 131,072 (`max_position_embeddings` of their configs), Qwen2-7B 32,768 (its
/// pre-training context, Qwen2 technical report arXiv:2407.10671 §3.1), Phi-3-mini 4,096
/// (the 4k model), CodeLlama 16,384 (Rozière et al., arXiv:2308.12950, §2.4: trained on
/// 16,384-token sequences). `None` for a name that is not a zoo transformer.
pub fn max_context(name: &str) -> Option<u64> {
    let s = spec(name)?;
    Some(match name {
        _ if s.positions > 0 => s.positions,
        "llama2_7b" | "llama2_13b" | "llama2_70b" => 4096,
        "mixtral_8x7b" | "qwen2_7b" => 32_768,
        "llama3_8b" | "llama3_70b" => 8192,
        "llama3_1_8b" | "llama3_1_70b" => 131_072,
        "phi3_mini" => 4096,
        "codellama_7b" | "codellama_34b" => 16_384,
        // Every zoo transformer is named above; a new one must state its window here.
        _ => return None,
    })
}

fn one() -> u64 {
    1
}

/// The `workload.llm` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// Zoo name (`gpt2`, `llama2_7b`, `llama2_13b`, `llama2_70b`, `mixtral_8x7b`, `bert_base`, `bert_large`).
    pub model: String,
    /// `prefill` or `decode`.
    #[serde(default)]
    pub phase: Phase,
    /// Concurrent sequences (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub batch: u64,
    /// Prompt tokens per sequence (prefill).
    #[serde(default = "default_prompt")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub prompt_len: u64,
    /// Tokens in the KV cache after this step (decode); default `prompt_len + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub context_len: Option<u64>,
    /// Layers to lower (default: all; e.g. 1 to study one block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub layers: Option<u64>,
    /// Tensor-parallel degree (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub tp: u64,
    /// Zipf skew of tokens over experts (0 = uniform).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub moe_skew: f64,
    /// Expert-parallel degree (default 1): each MoE layer's experts are partitioned over `ep`
    /// groups of `tp` devices (`tp × ep` devices serve the step); attention is data-parallel
    /// over the groups (each holds `batch / ep` of the sequences and their KV cache) and
    /// tensor-parallel within one. Tokens reach their experts' devices by an all-to-all and
    /// come back by another. Must divide the expert count; dense models take only 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(range(min = 1, max = crate::MAX_SIZE))]
    pub ep: u64,
    /// One fused QKV projection, split by views (default true, under both frameworks: the
    /// measured PyTorch program and serving engines fuse it). `false`: separate Q, K and V
    /// projections, as Hugging Face's LLaMA writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused_qkv: Option<bool>,
    /// One fused gate+up projection of a SwiGLU MLP, chunked by views (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused_gate_up: Option<bool>,
    /// RMSNorm as PyTorch's six-kernel reference (`reference`, the `pytorch` framework's
    /// default) or one kernel (`fused`, the `fused` framework's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_impl: Option<NormImpl>,
    /// New K/V written by two slice-assignment copies (`copy`, `pytorch`'s default) or one
    /// in-place cache write (`inplace`, `fused`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_write: Option<KvWrite>,
    /// Grouped-query K/V expanded to all heads before attention (`repeat`, `pytorch`'s
    /// default) or read natively (`native`, `fused`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gqa: Option<GqaImpl>,
    /// Apply the rotary position embedding of LLaMA-family models (default true; the measured
    /// H100 decoder in `llm.csv` has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope: Option<bool>,
    /// The framework whose program the step runs: `workload.framework`, filled in by the
    /// workload section (not a key of `llm:`).
    #[serde(skip)]
    #[schemars(skip)]
    pub framework: Framework,
}

impl Default for LlmConfig {
    /// LLaMA-2-7B, one 512-token prefill, one device, the default framework.
    fn default() -> Self {
        LlmConfig {
            model: "llama2_7b".into(),
            phase: Phase::Prefill,
            batch: 1,
            prompt_len: default_prompt(),
            context_len: None,
            layers: None,
            tp: 1,
            moe_skew: 0.0,
            ep: 1,
            fused_qkv: None,
            fused_gate_up: None,
            norm_impl: None,
            kv_write: None,
            gqa: None,
            rope: None,
            framework: Framework::default(),
        }
    }
}

fn default_prompt() -> u64 {
    512
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

impl LlmConfig {
    /// The program the step lowers to: the framework's defaults with the `llm:` keys applied.
    pub fn program(&self) -> LlmProgram {
        let d = LlmProgram::of(self.framework);
        LlmProgram {
            fused_qkv: self.fused_qkv.unwrap_or(d.fused_qkv),
            fused_gate_up: self.fused_gate_up.unwrap_or(d.fused_gate_up),
            norm: self.norm_impl.unwrap_or(d.norm),
            kv_write: self.kv_write.unwrap_or(d.kv_write),
            gqa: self.gqa.unwrap_or(d.gqa),
            rope: self.rope.unwrap_or(d.rope),
            fused_rope: d.fused_rope,
        }
    }

    /// The two steps behind serving metrics, and the context the decode step runs at: the
    /// prefill of the (serving) prompt, and one decode step at `context_len` (default: right
    /// after the prompt).
    pub fn serving_steps(&self) -> (LlmConfig, LlmConfig, u64) {
        let context = match self.phase {
            Phase::Prefill => self.prompt_len + 1,
            Phase::Decode => self.context_len.unwrap_or(self.prompt_len + 1),
        };
        let prefill = LlmConfig {
            phase: Phase::Prefill,
            context_len: None,
            prompt_len: self.serving_prompt_len(),
            ..self.clone()
        };
        let decode = LlmConfig {
            phase: Phase::Decode,
            context_len: Some(context),
            ..self.clone()
        };
        (prefill, decode, context)
    }

    /// The prompt behind a step's serving metrics (time to first token): `prompt_len`, except
    /// that a decode step at `context_len` cannot have had a longer prompt than
    /// `context_len − 1` tokens (so `{phase: decode, context_len: 129}` with the default
    /// `prompt_len` is a 128-token prompt).
    pub fn serving_prompt_len(&self) -> u64 {
        match (self.phase, self.context_len) {
            (Phase::Decode, Some(c)) => self.prompt_len.min(c.saturating_sub(1)).max(1),
            _ => self.prompt_len,
        }
    }

    /// Sequences one expert-parallel group serves: the batch split over the `ep` groups, the
    /// first groups taking one more when it does not divide (the busiest group's share).
    pub fn group_batch(&self) -> u64 {
        self.batch.div_ceil(self.ep.max(1))
    }

    /// Checks `tp`: at least 1, and (for a known model) a divisor of its attention heads and
    /// FFN size, since each device holds a whole share of both; and `ep`: at least 1, and above
    /// 1 only for a mixture-of-experts model whose expert count it divides.
    pub fn check_parallelism(&self) -> Result<(), WorkloadError> {
        self.check_tp()?;
        self.check_ep()
    }

    fn check_ep(&self) -> Result<(), WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidParameter {
            key: "workload.llm.ep".into(),
            reason,
        };
        if self.ep == 0 {
            return Err(bad(
                "must be at least 1 (the device groups the experts are split over)".into(),
            ));
        }
        if self.ep == 1 {
            return Ok(());
        }
        match spec(&self.model) {
            Some(s) if s.experts == 0 => Err(bad(format!(
                "`{}` is dense (no experts): expert parallelism partitions the experts of a \
                 mixture-of-experts model (mixtral_8x7b); use tp to split a dense model",
                self.model
            ))),
            Some(s) if s.experts % self.ep != 0 => Err(bad(format!(
                "{} device groups cannot split the {} experts of {} evenly: ep must divide {} \
                 (e.g. {})",
                self.ep,
                s.experts,
                s.name,
                s.experts,
                (1..=s.experts)
                    .filter(|e| s.experts % e == 0)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            _ => Ok(()),
        }
    }

    fn check_tp(&self) -> Result<(), WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidParameter {
            key: "workload.llm.tp".into(),
            reason,
        };
        if self.tp == 0 {
            return Err(bad(
                "must be at least 1 (the devices one model is split over)".into(),
            ));
        }
        match spec(&self.model) {
            Some(s) if s.heads % self.tp != 0 || s.ffn % self.tp != 0 => Err(bad(format!(
                "{} devices cannot split {}: tp must divide its {} attention heads and its FFN \
                 size {} (e.g. {})",
                self.tp,
                s.name,
                s.heads,
                s.ffn,
                (1..=s.heads)
                    .filter(|t| s.heads % t == 0 && s.ffn % t == 0 && *t <= 16)
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// Checks what only makes sense for some models: a prompt or context longer than the
    /// model's context window ([`max_context`]), and `moe_skew` on a dense model (it skews
    /// tokens over experts, which a dense model has none of). Errors name the key.
    pub fn check_model_fit(&self) -> Result<(), WorkloadError> {
        let bad = |key: &str, reason: String| WorkloadError::InvalidParameter {
            key: format!("workload.llm.{key}"),
            reason,
        };
        let Some(s) = spec(&self.model) else {
            return Ok(());
        };
        if s.experts == 0 && self.moe_skew != 0.0 {
            return Err(bad(
                "moe_skew",
                format!(
                    "`{}` is dense (no experts): moe_skew skews tokens over the experts of a \
                     mixture-of-experts model (mixtral_8x7b); remove it",
                    self.model
                ),
            ));
        }
        if let Some(window) = max_context(&self.model) {
            let (key, tokens, what) = match (self.phase, self.context_len) {
                (Phase::Decode, Some(c)) => ("context_len", c, "tokens in the KV cache"),
                (Phase::Decode, None) => (
                    "prompt_len",
                    self.prompt_len + 1,
                    "tokens in the KV cache (prompt_len + 1)",
                ),
                (Phase::Prefill, _) => ("prompt_len", self.prompt_len, "prompt tokens"),
            };
            if tokens > window {
                return Err(bad(
                    key,
                    format!(
                        "{tokens} {what} exceed {}'s context window of {window} tokens",
                        self.model
                    ),
                ));
            }
            if self.prompt_len > window {
                return Err(bad(
                    "prompt_len",
                    format!(
                        "{} prompt tokens exceed {}'s context window of {window} tokens",
                        self.prompt_len, self.model
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the sizes that need no model spec: `batch`, `prompt_len`, `context_len` and
    /// `layers` at most [`crate::MAX_SIZE`], and the tokens held (batch x context) too.
    pub fn check_sizes(&self) -> Result<(), WorkloadError> {
        let bad = |key: &str, reason: String| WorkloadError::InvalidParameter {
            key: format!("workload.llm.{key}"),
            reason,
        };
        let max = crate::MAX_SIZE;
        for (k, v) in [
            ("batch", Some(self.batch)),
            ("prompt_len", Some(self.prompt_len)),
            ("context_len", self.context_len),
            ("layers", self.layers),
            ("tp", Some(self.tp)),
            ("ep", Some(self.ep)),
        ] {
            if v.is_some_and(|v| v > max) {
                return Err(bad(k, format!("must be at most {max}")));
            }
        }
        let kv = match self.phase {
            Phase::Prefill => self.prompt_len,
            Phase::Decode => self.context_len.unwrap_or(self.prompt_len + 1),
        };
        if self.batch * kv > max {
            let key = match (self.phase, self.context_len) {
                (Phase::Decode, Some(_)) => "context_len",
                _ => "prompt_len",
            };
            return Err(bad(
                key,
                format!(
                    "batch x tokens = {} x {kv} = {}, more than the {max} tokens a step may hold",
                    self.batch,
                    self.batch * kv
                ),
            ));
        }
        Ok(())
    }
}

/// Lowers an `llm:` section to one device's op graph.
pub fn lower(cfg: &LlmConfig, dtype: DType) -> Result<Workload, WorkloadError> {
    let bad = |key: &str, reason: String| WorkloadError::InvalidParameter {
        key: format!("workload.llm.{key}"),
        reason,
    };
    let spec = spec(&cfg.model).ok_or_else(|| {
        bad(
            "model",
            format!(
                "unknown model `{}`; known: {}",
                cfg.model,
                MODELS.join(", ")
            ),
        )
    })?;
    if cfg.batch == 0 {
        return Err(bad("batch", "must be at least 1".into()));
    }
    cfg.check_parallelism()?;
    if !(cfg.moe_skew.is_finite() && cfg.moe_skew >= 0.0) {
        return Err(bad("moe_skew", "must be a non-negative number".into()));
    }
    cfg.check_sizes()?;
    let layers = cfg.layers.unwrap_or(spec.layers);
    if layers == 0 {
        return Err(bad("layers", "must be at least 1".into()));
    }
    if layers > spec.layers {
        return Err(bad(
            "layers",
            format!("`{}` has {} layers", spec.name, spec.layers),
        ));
    }
    let (q_len, kv_len) = match cfg.phase {
        Phase::Prefill => {
            if cfg.prompt_len == 0 {
                return Err(bad("prompt_len", "must be at least 1".into()));
            }
            (cfg.prompt_len, cfg.prompt_len)
        }
        Phase::Decode => {
            if !spec.causal {
                return Err(bad(
                    "phase",
                    format!("`{}` is an encoder: it has no decode phase", spec.name),
                ));
            }
            let ctx = cfg.context_len.unwrap_or(cfg.prompt_len + 1);
            if ctx == 0 {
                return Err(bad("context_len", "must be at least 1".into()));
            }
            (1, ctx)
        }
    };
    if spec.positions > 0 && kv_len > spec.positions {
        return Err(bad(
            "prompt_len",
            format!(
                "{kv_len} tokens exceed the model's {} positions",
                spec.positions
            ),
        ));
    }
    let name = if spec.causal {
        format!("{}_{}", spec.name, phase_name(cfg.phase))
    } else {
        spec.name.clone()
    };
    let mut b = WorkloadBuilder::new(name, dtype);
    // One device's share: with expert parallelism, its group's sequences.
    let batch = cfg.group_batch();
    let ids = b.input(vec![batch, q_len]);
    let mut prog = cfg.program();
    if cfg.fused_qkv.is_none() && !spec.causal {
        // Encoders (Hugging Face's BERT) project Q, K and V separately.
        prog.fused_qkv = false;
    }
    let lw = LayerShape {
        batch,
        q_len,
        kv_len,
        tp: cfg.tp,
        ep: cfg.ep,
        routed_tokens: cfg.batch * q_len,
        skew: cfg.moe_skew,
        prog,
        cache: spec.causal && spec.vocab > 0,
    };
    let mut x = embed(&mut b, &spec, &lw.prog, &ids)?;
    for l in 0..layers {
        x = decoder_layer(&mut b, &spec, &lw, &format!("layer{l}"), &x)?;
    }
    head(&mut b, &spec, &lw, &x)?;
    let mut w = b.finish();
    w.batch = cfg.batch;
    w.framework = cfg.framework;
    let d = spec.head_dim();
    let kv_bytes =
        |tokens: u64| 2 * layers * cfg.batch * tokens * spec.kv_heads * d * dtype.bytes();
    let idle_expert_params = layers * idle_experts(&spec, &lw) * expert_params(&spec, cfg.tp);
    w.llm = Some(LlmInfo {
        phase: cfg.phase,
        batch: cfg.batch,
        q_len,
        kv_len,
        layers,
        tp: cfg.tp,
        ep: cfg.ep,
        idle_expert_params,
        params: spec.params(),
        kv_cache_bytes: spec.kv_cache_bytes(cfg.batch, kv_len, dtype),
        kv_cache_read_bytes: if cfg.phase == Phase::Decode {
            kv_bytes(kv_len - 1)
        } else {
            0
        },
        kv_cache_write_bytes: kv_bytes(q_len),
        spec,
    });
    Ok(w)
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Prefill => "prefill",
        Phase::Decode => "decode",
    }
}

struct LayerShape {
    /// Sequences this device's attention serves (its expert-parallel group's).
    batch: u64,
    q_len: u64,
    kv_len: u64,
    tp: u64,
    /// Expert-parallel degree.
    ep: u64,
    /// Tokens routed over the experts in one MoE layer: every group's (`batch × q_len` of
    /// the whole step).
    routed_tokens: u64,
    skew: f64,
    /// The framework's program (fused projections, norm form, cache writes, GQA reads).
    prog: LlmProgram,
    /// The step keeps a KV cache (a causal decoder with a vocabulary), so new K/V are written.
    cache: bool,
}

/// A norm over the last axis of `x`: one op, or PyTorch's six-kernel reference RMSNorm
/// (`x * rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w`).
fn norm(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    prog: &LlmProgram,
    name: &str,
    x: &Tensor,
) -> Result<Tensor, WorkloadError> {
    if spec.norm != NormFunc::RmsNorm || prog.norm == NormImpl::Fused {
        return b.norm(name, spec.norm, x);
    }
    let mut stat = x.shape.clone();
    if let Some(last) = stat.last_mut() {
        *last = 1;
    }
    let sq = b.eltwise(&format!("{name}.pow"), EltFunc::Pow, &[x])?;
    let mean = b.reduce(&format!("{name}.mean"), ReduceFunc::Mean, &sq, stat)?;
    let eps = b.eltwise(&format!("{name}.add_eps"), EltFunc::Add, &[&mean])?;
    let r = b.eltwise(&format!("{name}.rsqrt"), EltFunc::Sqrt, &[&eps])?;
    let y = b.eltwise(&format!("{name}.mul"), EltFunc::Mul, &[x, &r])?;
    let w = Tensor {
        producer: None,
        shape: vec![spec.hidden],
    };
    b.eltwise(&format!("{name}.mul_weight"), EltFunc::Mul, &[&y, &w])
}

/// Rotary embedding of `x` (`[batch, q_len, heads, d]`) as Hugging Face writes it in PyTorch:
/// `x * cos + rotate_half(x) * sin`, `rotate_half` = `cat(-x2, x1)` (five kernels).
fn rope_pytorch(
    b: &mut WorkloadBuilder,
    name: &str,
    x: &Tensor,
    table: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let xc = b.eltwise(&format!("{name}.mul_cos"), EltFunc::Mul, &[x, table])?;
    let mut half = x.shape.clone();
    if let Some(last) = half.last_mut() {
        *last = (*last / 2).max(1);
    }
    let x2 = b.add_op(format!("{name}.x2"), OpKind::Reshape, &[x], half);
    let neg = b.eltwise(&format!("{name}.neg"), EltFunc::Neg, &[&x2])?;
    let rot = b.copy(&format!("{name}.cat"), &[&neg, x], x.shape.clone())?;
    let xs = b.eltwise(&format!("{name}.mul_sin"), EltFunc::Mul, &[&rot, table])?;
    b.eltwise(&format!("{name}.add"), EltFunc::Add, &[&xc, &xs])
}

fn embed(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    prog: &LlmProgram,
    ids: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    let mut x = b.embedding("embed.tokens", ids, spec.vocab, h)?;
    if spec.positions > 0 {
        let pos = b.embedding("embed.positions", ids, spec.positions, h)?;
        x = b.eltwise("embed.add_positions", EltFunc::Add, &[&x, &pos])?;
    }
    if spec.token_types > 0 {
        let tt = b.embedding("embed.token_types", ids, spec.token_types, h)?;
        x = b.eltwise("embed.add_token_types", EltFunc::Add, &[&x, &tt])?;
    }
    if spec.post_norm {
        x = norm(b, spec, prog, "embed.norm", &x)?;
    }
    Ok(x)
}

/// One transformer layer on `x` of shape `[batch, q_len, hidden]`.
fn decoder_layer(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    s: &LayerShape,
    p: &str,
    x: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    let d = spec.head_dim();
    let heads = spec.heads / s.tp;
    let kv_heads = (spec.kv_heads / s.tp).max(1);
    let prog = &s.prog;
    let weight = |rows: u64, cols: u64| Tensor {
        producer: None,
        shape: vec![rows, cols],
    };

    let a_in = if spec.post_norm {
        x.clone()
    } else {
        norm(b, spec, prog, &format!("{p}.attn_norm"), x)?
    };
    let (q, k, v) = if prog.fused_qkv {
        // One projection; Q, K and V are views of its output (strided, no copy).
        let qkv = b.matmul(
            &format!("{p}.qkv_proj"),
            &a_in,
            &weight(h, (heads + 2 * kv_heads) * d),
            true,
        )?;
        let part = |b: &mut WorkloadBuilder, name: &str, n: u64| {
            b.add_op(
                format!("{p}.{name}"),
                OpKind::Reshape,
                &[&qkv],
                vec![s.batch, s.q_len, n * d],
            )
        };
        (
            part(b, "q", heads),
            part(b, "k", kv_heads),
            part(b, "v", kv_heads),
        )
    } else {
        (
            b.matmul(&format!("{p}.q_proj"), &a_in, &weight(h, heads * d), true)?,
            b.matmul(
                &format!("{p}.k_proj"),
                &a_in,
                &weight(h, kv_heads * d),
                true,
            )?,
            b.matmul(
                &format!("{p}.v_proj"),
                &a_in,
                &weight(h, kv_heads * d),
                true,
            )?,
        )
    };
    let (q, k) = if spec.positions == 0 && spec.vocab > 0 && prog.rope {
        // Rotary position embedding: a rotation of each (even, odd) pair by a per-position angle.
        let table = Tensor {
            producer: None,
            shape: vec![1, s.q_len, 1, d],
        };
        let q4 = b.reshape(
            &format!("{p}.q_heads"),
            &q,
            vec![s.batch, s.q_len, heads, d],
        )?;
        let k4 = b.reshape(
            &format!("{p}.k_heads"),
            &k,
            vec![s.batch, s.q_len, kv_heads, d],
        )?;
        if !prog.fused_rope {
            (
                rope_pytorch(b, &format!("{p}.q_rope"), &q4, &table)?,
                rope_pytorch(b, &format!("{p}.k_rope"), &k4, &table)?,
            )
        } else {
            // One kernel rotates Q and K in place.
            let both = b.add_op(
                format!("{p}.rope"),
                OpKind::Elementwise { func: EltFunc::Mul },
                &[&q4, &k4, &table],
                vec![s.batch, s.q_len, heads + kv_heads, d],
            );
            let q = b.add_op(
                format!("{p}.q_rot"),
                OpKind::Reshape,
                &[&both],
                vec![s.batch, s.q_len, heads, d],
            );
            let k = b.add_op(
                format!("{p}.k_rot"),
                OpKind::Reshape,
                &[&both],
                vec![s.batch, s.q_len, kv_heads, d],
            );
            (q, k)
        }
    } else {
        (q, k)
    };
    let qh = b.reshape(&format!("{p}.q_view"), &q, vec![s.batch, heads, s.q_len, d])?;
    let kh = b.reshape(
        &format!("{p}.k_view"),
        &k,
        vec![s.batch, kv_heads, s.q_len, d],
    )?;
    let vh = b.reshape(
        &format!("{p}.v_view"),
        &v,
        vec![s.batch, kv_heads, s.q_len, d],
    )?;
    // The new tokens' K and V go into the cache.
    let new_kv = vec![s.batch, kv_heads, s.q_len, d];
    let writes: Vec<Tensor> = if !s.cache {
        Vec::new()
    } else if prog.kv_write == KvWrite::Copy {
        vec![
            b.copy(&format!("{p}.k_cache_write"), &[&kh], new_kv.clone())?,
            b.copy(&format!("{p}.v_cache_write"), &[&vh], new_kv)?,
        ]
    } else {
        let mut both = new_kv;
        both.insert(0, 2);
        vec![b.copy(&format!("{p}.kv_cache_write"), &[&kh, &vh], both)?]
    };
    // The cache as attention reads it: the earlier tokens (a graph input) and the new ones.
    let cached = Tensor {
        producer: None,
        shape: vec![s.batch, kv_heads, s.kv_len - s.q_len, d],
    };
    let repeat = s.cache && kv_heads < heads && prog.gqa == GqaImpl::Repeat;
    let mut att = Attention {
        batch: s.batch,
        heads,
        kv_heads,
        q_len: s.q_len,
        kv_len: s.kv_len,
        head_dim: d,
        causal: spec.causal,
    };
    // K and V as attention reads them: the cached tokens (if any) and the new ones.
    let (k_new, v_new) = match writes.as_slice() {
        [kw, vw] => (kw.clone(), vw.clone()),
        [kvw] => (kvw.clone(), kvw.clone()),
        _ => (kh, vh),
    };
    let with_cache = |t: Tensor| -> Vec<Tensor> {
        if s.kv_len > s.q_len {
            vec![cached.clone(), t]
        } else {
            vec![t]
        }
    };
    let (k_in, v_in) = (with_cache(k_new), with_cache(v_new));
    let kv_in: Vec<Tensor> = if repeat {
        // `repeat_interleave` of the whole cached K and V to all heads (two copies).
        let full = vec![s.batch, heads, s.kv_len, d];
        let k_rep = b.copy(
            &format!("{p}.k_repeat"),
            &k_in.iter().collect::<Vec<_>>(),
            full.clone(),
        )?;
        let v_rep = b.copy(
            &format!("{p}.v_repeat"),
            &v_in.iter().collect::<Vec<_>>(),
            full,
        )?;
        att.kv_heads = heads;
        vec![k_rep, v_rep]
    } else {
        // The cached K and V first, the new ones last.
        let (mut k_in, mut v_in) = (k_in, v_in);
        let (k_last, v_last) = (k_in.pop(), v_in.pop());
        k_in.into_iter()
            .chain(v_in)
            .chain(k_last)
            .chain(v_last)
            .collect()
    };
    let mut inputs: Vec<&Tensor> = vec![&qh];
    inputs.extend(kv_in.iter());
    let ctx = b.add_op(
        format!("{p}.attention"),
        OpKind::Attention(att),
        &inputs,
        qh.shape.clone(),
    );
    let ctx = b.reshape(
        &format!("{p}.attn_out_view"),
        &ctx,
        vec![s.batch, s.q_len, heads * d],
    )?;
    let o = b.matmul(&format!("{p}.o_proj"), &ctx, &weight(heads * d, h), true)?;
    let o = all_reduce(b, &format!("{p}.attn_allreduce"), &o, s.tp)?;
    let mut x = b.eltwise(&format!("{p}.attn_residual"), EltFunc::Add, &[x, &o])?;
    if spec.post_norm {
        x = norm(b, spec, prog, &format!("{p}.attn_norm"), &x)?;
    }

    let f_in = if spec.post_norm {
        x.clone()
    } else {
        norm(b, spec, prog, &format!("{p}.ffn_norm"), &x)?
    };
    let f = if spec.experts > 0 {
        moe(b, spec, s, p, &f_in)?
    } else {
        ffn(
            b,
            spec,
            s.tp,
            prog.fused_gate_up,
            &format!("{p}.ffn"),
            &f_in,
        )?
    };
    let f = all_reduce(b, &format!("{p}.ffn_allreduce"), &f, s.tp)?;
    let mut y = b.eltwise(&format!("{p}.ffn_residual"), EltFunc::Add, &[&x, &f])?;
    if spec.post_norm {
        y = norm(b, spec, prog, &format!("{p}.ffn_norm"), &y)?;
    }
    Ok(y)
}

fn all_reduce(
    b: &mut WorkloadBuilder,
    name: &str,
    x: &Tensor,
    tp: u64,
) -> Result<Tensor, WorkloadError> {
    if tp > 1 {
        b.collective(name, CollectiveFunc::AllReduce, x, tp)
    } else {
        Ok(x.clone())
    }
}

/// A dense FFN on `x` (`[..., hidden]`), one device's `1/tp` column share.
fn ffn(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    tp: u64,
    fused_gate_up: bool,
    p: &str,
    x: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    let f = spec.ffn / tp;
    let weight = |rows: u64, cols: u64| Tensor {
        producer: None,
        shape: vec![rows, cols],
    };
    match spec.ffn_kind {
        Ffn::Gelu => {
            let u = b.matmul(&format!("{p}.fc1"), x, &weight(h, f), true)?;
            let a = b.eltwise(&format!("{p}.gelu"), EltFunc::Gelu, &[&u])?;
            b.matmul(&format!("{p}.fc2"), &a, &weight(f, h), true)
        }
        Ffn::SwiGlu => {
            let (g, u) = if fused_gate_up {
                // One projection to 2·ffn, chunked into two strided views.
                let gu = b.matmul(&format!("{p}.gate_up"), x, &weight(h, 2 * f), true)?;
                let mut half = gu.shape.clone();
                if let Some(last) = half.last_mut() {
                    *last = f;
                }
                (
                    b.add_op(format!("{p}.gate"), OpKind::Reshape, &[&gu], half.clone()),
                    b.add_op(format!("{p}.up"), OpKind::Reshape, &[&gu], half),
                )
            } else {
                (
                    b.matmul(&format!("{p}.gate"), x, &weight(h, f), true)?,
                    b.matmul(&format!("{p}.up"), x, &weight(h, f), true)?,
                )
            };
            let a = b.eltwise(&format!("{p}.silu"), EltFunc::Silu, &[&g])?;
            let m = b.eltwise(&format!("{p}.gate_mul"), EltFunc::Mul, &[&a, &u])?;
            b.matmul(&format!("{p}.down"), &m, &weight(f, h), true)
        }
    }
}

/// Tokens routed to each expert: `tokens × top_k` assignments, uniform or Zipf-skewed.
pub fn tokens_per_expert(tokens: u64, experts: u64, top_k: u64, skew: f64) -> Vec<u64> {
    let total = tokens * top_k;
    let weights: Vec<f64> = (0..experts).map(|i| ((i + 1) as f64).powf(-skew)).collect();
    let sum: f64 = weights.iter().sum();
    // Largest-remainder rounding keeps the total exact; no expert gets more than `tokens`.
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut counts: Vec<u64> = exact
        .iter()
        .map(|e| (e.floor() as u64).min(tokens))
        .collect();
    let mut order: Vec<usize> = (0..experts as usize).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = total - counts.iter().sum::<u64>();
    while left > 0 {
        let mut placed = false;
        for &i in &order {
            if left > 0 && counts[i] < tokens {
                counts[i] += 1;
                left -= 1;
                placed = true;
            }
        }
        if !placed {
            break;
        }
    }
    counts
}

/// Tokens the experts of each of `ep` device groups receive in one MoE layer (group `d` holds
/// experts `d·E/ep … (d+1)·E/ep − 1`): the sums of [`tokens_per_expert`] over each group's
/// experts, `tokens × top_k` in all.
pub fn group_loads(tokens: u64, experts: u64, top_k: u64, skew: f64, ep: u64) -> Vec<u64> {
    let counts = tokens_per_expert(tokens, experts, top_k, skew);
    let per = (experts / ep.max(1)).max(1) as usize;
    counts.chunks(per).map(|c| c.iter().sum()).collect()
}

/// The experts of the busiest device group (the first of equals): its tokens set the pace of
/// every expert-parallel layer, since the dispatch and combine all-to-alls wait for it.
fn busiest_group(counts: &[u64], ep: u64) -> std::ops::Range<usize> {
    let per = (counts.len() / ep.max(1) as usize).max(1);
    let mut best = (0usize, 0u64);
    for (d, c) in counts.chunks(per).enumerate() {
        let load: u64 = c.iter().sum();
        if load > best.1 {
            best = (d, load);
        }
    }
    best.0 * per..((best.0 + 1) * per).min(counts.len())
}

/// Parameters of one expert on one device (its `1/tp` column share).
fn expert_params(spec: &TransformerSpec, tp: u64) -> u64 {
    let mats = match spec.ffn_kind {
        Ffn::Gelu => 2,
        Ffn::SwiGlu => 3,
    };
    mats * spec.hidden * (spec.ffn / tp.max(1))
}

/// Experts one device holds that no token reaches in this step (so no op of the graph reads
/// their weights, which still take memory), per layer.
fn idle_experts(spec: &TransformerSpec, s: &LayerShape) -> u64 {
    if spec.experts == 0 {
        return 0;
    }
    let counts = tokens_per_expert(s.routed_tokens, spec.experts, spec.top_k, s.skew);
    counts[busiest_group(&counts, s.ep)]
        .iter()
        .filter(|&&t| t == 0)
        .count() as u64
}

fn moe(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    s: &LayerShape,
    p: &str,
    x: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    let tokens = s.batch * s.q_len;
    let flat = b.reshape(&format!("{p}.moe_tokens"), x, vec![tokens, h])?;
    let scores = b.matmul(
        &format!("{p}.router"),
        &flat,
        &Tensor {
            producer: None,
            shape: vec![h, spec.experts],
        },
        true,
    )?;
    let route = b.moe_router(&format!("{p}.topk"), &scores, spec.top_k)?;
    let counts = tokens_per_expert(s.routed_tokens, spec.experts, spec.top_k, s.skew);
    if s.ep > 1 {
        return moe_expert_parallel(b, spec, s, p, x, &flat, &route, &counts);
    }
    let mut outs = Vec::new();
    for (e, &t) in counts.iter().enumerate() {
        if t == 0 {
            continue;
        }
        let slice = b.copy(
            &format!("{p}.expert{e}.dispatch"),
            &[&flat, &route],
            vec![t, h],
        )?;
        outs.push(ffn(
            b,
            spec,
            s.tp,
            s.prog.fused_gate_up,
            &format!("{p}.expert{e}"),
            &slice,
        )?);
    }
    let refs: Vec<&Tensor> = outs.iter().collect();
    let combined = b.copy(&format!("{p}.moe_combine"), &refs, vec![tokens, h])?;
    b.reshape(&format!("{p}.moe_out"), &combined, x.shape.clone())
}

/// An MoE layer on the busiest device of an expert-parallel group (DeepSpeed-MoE, vLLM's
/// expert parallelism): this device's tokens are permuted by destination (each token copied
/// once per chosen expert), sent to the devices holding their experts by an all-to-all(v),
/// run through this device's experts (the received buffer is grouped by expert: each
/// expert's rows are a view), sent back by a second all-to-all(v), and summed over the top-k
/// choices.
#[allow(clippy::too_many_arguments)]
fn moe_expert_parallel(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    s: &LayerShape,
    p: &str,
    x: &Tensor,
    flat: &Tensor,
    route: &Tensor,
    counts: &[u64],
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    let tokens = s.batch * s.q_len;
    let held = busiest_group(counts, s.ep);
    let received: u64 = counts[held.clone()].iter().sum();
    let permuted = b.copy(
        &format!("{p}.moe_permute"),
        &[flat, route],
        vec![tokens * spec.top_k, h],
    )?;
    let dispatched = b.all_to_all(
        &format!("{p}.moe_dispatch"),
        &[&permuted],
        vec![received, h],
        s.ep,
    )?;
    let mut outs = Vec::new();
    for e in held {
        let t = counts[e];
        if t == 0 {
            continue;
        }
        let rows = b.add_op(
            format!("{p}.expert{e}.tokens"),
            OpKind::Reshape,
            &[&dispatched],
            vec![t, h],
        );
        outs.push(ffn(
            b,
            spec,
            s.tp,
            s.prog.fused_gate_up,
            &format!("{p}.expert{e}"),
            &rows,
        )?);
    }
    let refs: Vec<&Tensor> = outs.iter().collect();
    let back = b.all_to_all(
        &format!("{p}.moe_combine_all_to_all"),
        &refs,
        vec![tokens * spec.top_k, h],
        s.ep,
    )?;
    let combined = b.copy(&format!("{p}.moe_combine"), &[&back], vec![tokens, h])?;
    b.reshape(&format!("{p}.moe_out"), &combined, x.shape.clone())
}

fn head(
    b: &mut WorkloadBuilder,
    spec: &TransformerSpec,
    s: &LayerShape,
    x: &Tensor,
) -> Result<Tensor, WorkloadError> {
    let h = spec.hidden;
    if spec.vocab == 0 || !spec.causal {
        // Encoders end with their last layer here (BERT's pooler and task heads are the user's).
        return Ok(x.clone());
    }
    let last = if s.q_len > 1 {
        // `x[:, -1:, :]`: a strided view of each sequence's last token; the norm and the LM
        // head read just those rows.
        b.add_op("last_token", OpKind::Reshape, &[x], vec![s.batch, 1, h])
    } else {
        x.clone()
    };
    let n = norm(b, spec, &s.prog, "final_norm", &last)?;
    let shard = spec.vocab.div_ceil(s.tp);
    let table = Tensor {
        producer: None,
        shape: vec![h, shard],
    };
    let logits = if spec.tied_head {
        // The head reuses the embedding table: an activation-by-activation product, no new weight.
        b.matmul("lm_head", &n, &table, false)?
    } else {
        b.matmul("lm_head", &n, &table, true)?
    };
    if s.tp > 1 {
        b.collective(
            "lm_head_allgather",
            CollectiveFunc::AllGather,
            &logits,
            s.tp,
        )
    } else {
        Ok(logits)
    }
}

/// ViT-B/16 (Dosovitskiy et al., ICLR 2021; torchvision `vit_b_16`) on 224×224 images:
/// 16×16 patches (196 tokens plus a class token), 12 pre-norm layers of width 768 with 12 heads
/// and a 3072-wide GELU MLP, a 1000-class head on the class token.
pub fn vit_b_16(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    let spec = TransformerSpec {
        name: "vit_b_16".into(),
        layers: 12,
        hidden: 768,
        heads: 12,
        kv_heads: 12,
        ffn: 3072,
        ffn_kind: Ffn::Gelu,
        norm: NormFunc::LayerNorm,
        vocab: 0,
        positions: 0,
        token_types: 0,
        post_norm: false,
        causal: false,
        tied_head: false,
        experts: 0,
        top_k: 0,
    };
    let (h, patches) = (768, 14 * 14);
    let tokens = patches + 1;
    let mut b = WorkloadBuilder::new("vit_b_16", dtype);
    let img = b.input(vec![batch, 3, 224, 224]);
    let x = b.conv2d("patch_embed", &img, crate::Conv2d::square(3, h, 16, 16, 0))?;
    let x = b.reshape("patch_flatten", &x, vec![batch, h, patches])?;
    let x = b.copy("patch_transpose", &[&x], vec![batch, patches, h])?;
    let zeros = b.input(vec![batch, 1]);
    let cls = b.embedding("class_token", &zeros, 1, h)?;
    let x = b.copy("concat_class_token", &[&cls, &x], vec![batch, tokens, h])?;
    let pos_ids = b.input(vec![batch, tokens]);
    let pos = b.embedding("pos_embedding", &pos_ids, tokens, h)?;
    let mut x = b.eltwise("add_pos_embedding", EltFunc::Add, &[&x, &pos])?;
    let s = LayerShape {
        batch,
        q_len: tokens,
        kv_len: tokens,
        tp: 1,
        ep: 1,
        routed_tokens: batch * tokens,
        skew: 0.0,
        prog: LlmProgram {
            fused_qkv: false,
            ..LlmProgram::of(crate::Framework::Fused)
        },
        cache: false,
    };
    for l in 0..spec.layers {
        x = decoder_layer(&mut b, &spec, &s, &format!("layer{l}"), &x)?;
    }
    let x = norm(&mut b, &spec, &s.prog, "final_norm", &x)?;
    let cls_out = b.copy("class_token_out", &[&x], vec![batch, h])?;
    b.linear("head", &cls_out, 1000)?;
    let mut w = b.finish();
    w.batch = batch;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(model: &str, phase: Phase) -> LlmConfig {
        LlmConfig {
            model: model.into(),
            phase,
            batch: 1,
            prompt_len: 128,
            context_len: None,
            layers: None,
            tp: 1,
            moe_skew: 0.0,
            ..Default::default()
        }
    }

    #[test]
    fn published_parameter_counts() {
        let within = |name: &str, want: f64, tol: f64| {
            let p = spec(name).unwrap().params() as f64;
            assert!((p - want).abs() / want <= tol, "{name}: {p} vs {want}");
        };
        within("llama2_7b", 6.738e9, 0.005);
        within("llama2_13b", 13.016e9, 0.005);
        within("llama2_70b", 68.977e9, 0.005);
        within("mixtral_8x7b", 46.70e9, 0.005);
        within("gpt2", 124.44e6, 0.005);
        within("bert_base", 109.48e6, 0.01);
        within("bert_large", 335.14e6, 0.01);
    }

    /// The served models against the parameter counts their Hugging Face model cards and
    /// safetensors indexes publish.
    #[test]
    fn llama3_8b_parameter_count() {
        let s = spec("llama3_8b").unwrap();
        assert_eq!((s.vocab, s.kv_heads, s.heads), (128_256, 8, 32));
        assert_eq!(s.params(), 8_030_261_248);
    }

    #[test]
    fn llama3_70b_parameter_count() {
        let s = spec("llama3_70b").unwrap();
        assert_eq!((s.vocab, s.kv_heads, s.heads), (128_256, 8, 64));
        assert_eq!(s.params(), 70_553_706_496);
    }

    #[test]
    fn llama3_1_models_are_llama3_with_a_longer_window() {
        for (alias, of) in [("llama3_1_8b", "llama3_8b"), ("llama3_1_70b", "llama3_70b")] {
            let (a, b) = (spec(alias).unwrap(), spec(of).unwrap());
            assert_eq!(a.params(), b.params());
            assert_eq!(
                TransformerSpec {
                    name: b.name.clone(),
                    ..a
                },
                b
            );
            assert_eq!(max_context(alias), Some(131_072));
            assert_eq!(max_context(of), Some(8192));
        }
    }

    #[test]
    fn qwen2_7b_parameter_count() {
        // 7,615,616,512 published, q/k/v biases (132 K) included; they are not modeled.
        let p = spec("qwen2_7b").unwrap().params() as f64;
        assert!((p - 7_615_616_512.0).abs() / 7.6e9 < 1e-4, "{p}");
    }

    #[test]
    fn phi3_mini_parameter_count() {
        assert_eq!(spec("phi3_mini").unwrap().params(), 3_821_079_552);
    }

    #[test]
    fn codellama_7b_parameter_count() {
        assert_eq!(spec("codellama_7b").unwrap().params(), 6_738_546_688);
    }

    #[test]
    fn codellama_34b_parameter_count() {
        assert_eq!(spec("codellama_34b").unwrap().params(), 33_743_970_304);
    }

    #[test]
    fn vit_b_16_matches_torchvision() {
        let w = vit_b_16(1, DType::Fp16).unwrap();
        let macs = w.total_macs() as f64;
        assert!((macs - 17.56e9).abs() / 17.56e9 < 0.02, "{macs}");
        // torchvision: 86.57 M parameters; biases are not modeled (0.1%).
        let params = w.total_weights() as f64;
        assert!((params - 86.57e6).abs() / 86.57e6 < 0.02, "{params}");
    }

    #[test]
    fn llama2_7b_kv_cache_at_batch_16_and_2048_tokens_is_16_gib() {
        let s = spec("llama2_7b").unwrap();
        assert_eq!(s.kv_cache_bytes(16, 2048, DType::Bf16), 16 << 30);
    }

    #[test]
    fn graph_weights_equal_the_closed_form() {
        for m in ["llama2_7b", "gpt2", "mixtral_8x7b"] {
            let mut c = cfg(m, Phase::Prefill);
            c.framework = crate::Framework::Fused;
            let w = lower(&c, DType::Bf16).unwrap();
            let s = spec(m).unwrap();
            assert_eq!(w.total_weights(), s.params(), "{m}");
            // PyTorch's reference RMSNorm multiplies by its weight as an element-wise input:
            // the same parameters, read as operands (two norms per layer and a final one).
            c.framework = crate::Framework::Pytorch;
            let w = lower(&c, DType::Bf16).unwrap();
            let norms = if s.norm == NormFunc::RmsNorm {
                (2 * s.layers + 1) * s.hidden
            } else {
                0
            };
            assert_eq!(w.total_weights() + norms, s.params(), "{m}");
        }
    }

    /// The measured PyTorch decoder layer (`tests/data/gpu/h100/README.md`): a six-op RMSNorm,
    /// one QKV projection, two cache copies, attention, the output projection, a residual add,
    /// the second norm, one gate+up projection, SiLU, multiply, down projection, residual add:
    /// 23 kernel-launching ops (the trace's 25 kernels less cuBLAS's two split-K reductions). An engine's program has 12 (fused norm, one cache write).
    #[test]
    fn the_pytorch_program_is_the_measured_one() {
        let launching = |fw| {
            let mut c = cfg("llama2_7b", Phase::Decode);
            c.context_len = Some(2048);
            c.layers = Some(1);
            c.rope = Some(false);
            c.framework = fw;
            let w = lower(&c, DType::Bf16).unwrap();
            w.ops()
                .filter(|o| o.name.starts_with("layer0.") && o.kind != OpKind::Reshape)
                .map(|o| o.name.trim_start_matches("layer0.").to_string())
                .collect::<Vec<_>>()
        };
        let p = launching(crate::Framework::Pytorch);
        assert_eq!(p.len(), 23, "{p:?}");
        assert_eq!(p[6], "qkv_proj");
        assert_eq!(&p[7..9], ["k_cache_write", "v_cache_write"]);
        assert_eq!(launching(crate::Framework::Fused).len(), 12);
        // LLaMA-2-70B's grouped-query heads are expanded to all heads under PyTorch.
        let mut c = cfg("llama2_70b", Phase::Decode);
        c.layers = Some(1);
        let w = lower(&c, DType::Bf16).unwrap();
        let att = w.ops().find(|o| o.name == "layer0.attention").unwrap();
        assert!(matches!(&att.kind, OpKind::Attention(a) if a.kv_heads == a.heads));
        assert!(w.ops().any(|o| o.name == "layer0.k_repeat"));
        c.framework = crate::Framework::Fused;
        let w = lower(&c, DType::Bf16).unwrap();
        let att = w.ops().find(|o| o.name == "layer0.attention").unwrap();
        assert!(matches!(&att.kind, OpKind::Attention(a) if a.kv_heads == 8));
    }

    #[test]
    fn decode_attention_is_gemv_like_and_reads_the_cache() {
        let mut c = cfg("llama2_7b", Phase::Decode);
        c.context_len = Some(1024);
        c.batch = 4;
        let w = lower(&c, DType::Bf16).unwrap();
        let att: Vec<_> = w.ops().filter(|o| o.class() == "attention").collect();
        assert_eq!(att.len(), 32);
        assert!(!att[0].is_gemm_like());
        let info = w.llm.as_ref().unwrap();
        assert_eq!(info.kv_cache_read_bytes, 2 * 32 * 4 * 1023 * 4096 * 2);
        assert_eq!(info.kv_cache_write_bytes, 2 * 32 * 4 * 4096 * 2);
        // Reads of the attention ops cover the whole cache plus the new token.
        let read: u64 = att.iter().map(|o| o.bytes_read()).sum();
        let q = 32 * 4 * 4096 * 2;
        assert_eq!(
            read,
            info.kv_cache_read_bytes + info.kv_cache_write_bytes + q
        );
    }

    #[test]
    fn prefill_macs_follow_the_closed_form() {
        let c = cfg("llama2_7b", Phase::Prefill);
        let w = lower(&c, DType::Bf16).unwrap();
        let (t, h, f, l, v) = (128u64, 4096u64, 11008u64, 32u64, 32000u64);
        let per_layer = t * h * h * 4 + t * h * f * 3 + 2 * t * t * h;
        assert_eq!(w.total_macs(), l * per_layer + h * v);
    }

    #[test]
    fn gqa_and_tensor_parallelism_split_the_work() {
        let mut c = cfg("llama2_70b", Phase::Prefill);
        c.layers = Some(2);
        c.fused_qkv = Some(false);
        let one = lower(&c, DType::Bf16).unwrap();
        c.tp = 8;
        let eight = lower(&c, DType::Bf16).unwrap();
        let ratio = one.total_macs() as f64 / eight.total_macs() as f64;
        assert!((ratio - 8.0).abs() < 0.05, "{ratio}");
        let collectives = eight.ops().filter(|o| o.class() == "collective").count();
        assert_eq!(collectives, 2 * 2 + 1);
        // 70B has 8 KV heads: one per device at tp 8.
        let k = eight.ops().find(|o| o.name == "layer0.k_proj").unwrap();
        assert_eq!(k.output.last(), Some(&128));
    }

    #[test]
    fn moe_routes_every_token_to_top_k_experts() {
        assert_eq!(tokens_per_expert(10, 8, 2, 0.0).iter().sum::<u64>(), 20);
        assert_eq!(tokens_per_expert(16, 8, 2, 0.0), vec![4; 8]);
        let skewed = tokens_per_expert(64, 8, 2, 1.0);
        assert_eq!(skewed.iter().sum::<u64>(), 128);
        assert!(skewed[0] > skewed[7] && skewed.iter().all(|&t| t <= 64));
        let mut c = cfg("mixtral_8x7b", Phase::Prefill);
        c.layers = Some(1);
        let w = lower(&c, DType::Bf16).unwrap();
        let expert_macs: u64 = w
            .ops()
            .filter(|o| o.name.contains(".expert"))
            .map(|o| o.macs())
            .sum();
        assert_eq!(expert_macs, 128 * 2 * 3 * 4096 * 14336);
    }

    /// MACs of one device's share in closed form (what the lowering must preserve).
    fn closed_form_macs(c: &LlmConfig) -> u64 {
        let s = spec(&c.model).unwrap();
        let (h, d, tp) = (s.hidden, s.head_dim(), c.tp);
        let layers = c.layers.unwrap_or(s.layers);
        let (q, kv) = match c.phase {
            Phase::Prefill => (c.prompt_len, c.prompt_len),
            Phase::Decode => (1, c.context_len.unwrap_or(c.prompt_len + 1)),
        };
        // One device's sequences: its expert-parallel group's.
        let batch = c.batch.div_ceil(c.ep);
        let t = batch * q;
        let heads = s.heads / tp;
        let kvh = (s.kv_heads / tp).max(1);
        let attn = t * h * (2 * heads * d + 2 * kvh * d) + 2 * batch * heads * q * kv * d;
        let mats = if s.ffn_kind == Ffn::SwiGlu { 3 } else { 2 };
        // The busiest group's experts receive the most of the step's routed tokens.
        let routed = if s.experts > 0 {
            *group_loads(c.batch * q, s.experts, s.top_k, c.moe_skew, c.ep)
                .iter()
                .max()
                .unwrap()
        } else {
            0
        };
        let ffn = if s.experts > 0 {
            t * h * s.experts + routed * mats * h * (s.ffn / tp)
        } else {
            t * mats * h * (s.ffn / tp)
        };
        let head = if s.causal {
            batch * h * s.vocab.div_ceil(tp)
        } else {
            0
        };
        layers * (attn + ffn) + head
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        #[test]
        fn lowering_preserves_macs_and_edges_carry_tensor_sizes(
            model in proptest::sample::select(vec!["gpt2", "llama2_7b", "llama2_70b", "mixtral_8x7b", "bert_base"]),
            decode in proptest::bool::ANY,
            batch in 1u64..6, prompt in 1u64..300, layers in 1u64..3,
            tp in proptest::sample::select(vec![1u64, 2, 4]),
            ep in proptest::sample::select(vec![1u64, 2, 4, 8]),
            skew in 0.0f64..2.0,
            fused in proptest::bool::ANY,
        ) {
            let s = spec(model).unwrap();
            let phase = if decode && s.causal { Phase::Decode } else { Phase::Prefill };
            let ep = if s.experts > 0 { ep } else { 1 };
            let c = LlmConfig { model: model.into(), phase, batch, prompt_len: prompt, context_len: None, layers: Some(layers), tp, moe_skew: skew, ep,
                framework: if fused { crate::Framework::Fused } else { crate::Framework::Pytorch }, ..Default::default() };
            let w = lower(&c, DType::Bf16).unwrap();
            proptest::prop_assert_eq!(w.total_macs(), closed_form_macs(&c));
            proptest::prop_assert_eq!(w.topo_order().len(), w.len(), "a DAG");
            for e in w.graph.edge_indices() {
                let (a, _) = w.graph.edge_endpoints(e).unwrap();
                proptest::prop_assert_eq!(w.graph[e].bytes, crate::numel(&w.graph[a].output) * DType::Bf16.bytes());
            }
        }
    }

    /// Mixtral-8x7B decoding 64 sequences on 8 devices, one expert each: every device runs
    /// attention for 8 sequences and sends each of their tokens to its 2 experts' devices.
    #[test]
    fn expert_parallel_dispatch_sends_top_k_copies_of_every_token() {
        let mut c = cfg("mixtral_8x7b", Phase::Decode);
        c.batch = 64;
        c.context_len = Some(1025);
        c.layers = Some(2);
        c.ep = 8;
        let w = lower(&c, DType::Bf16).unwrap();
        let (tokens, h, k, b, ep) = (8u64, 4096u64, 2u64, 2u64, 8u64);
        let a2a: Vec<_> = w
            .ops()
            .filter(|o| {
                matches!(
                    o.kind,
                    OpKind::Collective {
                        func: CollectiveFunc::AllToAll,
                        ranks: 8
                    }
                )
            })
            .collect();
        assert_eq!(a2a.len(), 2 * 2, "a dispatch and a combine per layer");
        for o in &a2a {
            // Uniform routing: each device sends and receives tokens × top_k rows, (ep−1)/ep of
            // them to and from other devices.
            assert_eq!(o.collective_bytes(), tokens * k * h * b, "{}", o.name);
            let per_direction = o.collective_bytes() as f64 * (ep - 1) as f64 / ep as f64;
            assert_eq!(per_direction, (tokens * h * k * b * 7) as f64 / 8.0);
        }
        // Attention on the group's 8 sequences; one expert (the busiest device's: expert 0)
        // on the 16 tokens routed to it.
        let att = w.ops().find(|o| o.name == "layer0.attention").unwrap();
        assert!(matches!(&att.kind, OpKind::Attention(a) if a.batch == 8));
        let experts: Vec<_> = w
            .ops()
            .filter(|o| o.name.starts_with("layer0.expert") && o.macs() > 0)
            .collect();
        assert!(experts
            .iter()
            .all(|o| o.name.starts_with("layer0.expert0.")));
        let macs: u64 = experts.iter().map(|o| o.macs()).sum();
        assert_eq!(macs, 16 * 3 * h * 14336);
        // Memory: every weight but the other devices' experts; none of this device's is idle.
        let info = w.llm.as_ref().unwrap();
        assert_eq!((info.ep, info.idle_expert_params), (8, 0));
        let one = lower(&LlmConfig { ep: 1, ..c }, DType::Bf16).unwrap();
        assert_eq!(
            w.total_weights(),
            one.total_weights() - 2 * 7 * 3 * h * 14336,
            "the other 7 experts of each layer live on the other devices"
        );
    }

    /// With Zipf routing (`moe_skew`), expert `i` gets a share `(i+1)^-s / Σ_j (j+1)^-s` of
    /// the `tokens × top_k` choices; the busiest device's experts set its expert GEMMs and the
    /// all-to-all volume.
    #[test]
    fn skew_loads_the_busiest_device_as_the_zipf_shares_say() {
        let (tokens, k) = (64u64, 2u64);
        for (skew, ep) in [(1.0, 8u64), (1.0, 2), (0.5, 4), (0.0, 8)] {
            let harmonic: f64 = (1..=8).map(|i| (i as f64).powf(-skew)).sum();
            let per = 8 / ep;
            let share: f64 = (1..=per).map(|i| (i as f64).powf(-skew)).sum::<f64>() / harmonic;
            let want = (tokens * k) as f64 * share;
            let loads = group_loads(tokens, 8, k, skew, ep);
            assert_eq!(loads.iter().sum::<u64>(), tokens * k);
            // Largest-remainder rounding of each expert's exact share: within one per expert.
            assert!(
                (loads[0] as f64 - want).abs() <= per as f64,
                "{skew} {ep}: {loads:?} vs {want}"
            );
            assert_eq!(loads[0], *loads.iter().max().unwrap());
            let mut c = cfg("mixtral_8x7b", Phase::Decode);
            c.batch = tokens;
            c.layers = Some(1);
            c.ep = ep;
            c.moe_skew = skew;
            let w = lower(&c, DType::Bf16).unwrap();
            let dispatch = w.ops().find(|o| o.name == "layer0.moe_dispatch").unwrap();
            assert_eq!(dispatch.output, vec![loads[0], 4096]);
            let sent = tokens / ep * k * 4096 * 2;
            assert_eq!(dispatch.collective_bytes(), (loads[0] * 4096 * 2).max(sent));
        }
        // Skew 1 on 8 devices: expert 0 gets 128/H₈ = 47.1 of the 128 choices, three times
        // the uniform 16.
        assert_eq!(group_loads(64, 8, 2, 1.0, 8)[0], 47);
        assert_eq!(group_loads(64, 8, 2, 0.0, 8), vec![16; 8]);
    }

    #[test]
    fn idle_experts_still_take_memory() {
        // One sequence decoding: 2 of the 8 experts run, all 8 are held (4 per device at ep 2,
        // of which the busiest device runs 2).
        for (ep, held, idle) in [(1u64, 8u64, 6u64), (2, 4, 2)] {
            let mut c = cfg("mixtral_8x7b", Phase::Decode);
            c.layers = Some(1);
            c.ep = ep;
            let w = lower(&c, DType::Bf16).unwrap();
            let info = w.llm.as_ref().unwrap();
            let expert = 3 * 4096 * 14336;
            assert_eq!(info.idle_expert_params, idle * expert, "ep {ep}");
            let ran: u64 = w
                .ops()
                .filter(|o| o.name.contains(".expert"))
                .map(|o| o.weight_elems())
                .sum();
            assert_eq!(ran + info.idle_expert_params, held * expert, "ep {ep}");
        }
    }

    #[test]
    fn bad_parameters_name_the_key() {
        let mut c = cfg("llama2_7b", Phase::Prefill);
        c.tp = 3;
        assert!(lower(&c, DType::Bf16)
            .unwrap_err()
            .to_string()
            .starts_with("workload.llm.tp:"));
        let mut c = cfg("bert_base", Phase::Decode);
        c.context_len = Some(10);
        assert!(lower(&c, DType::Bf16)
            .unwrap_err()
            .to_string()
            .contains("encoder"));
        let c = cfg("llama3", Phase::Prefill);
        assert!(lower(&c, DType::Bf16)
            .unwrap_err()
            .to_string()
            .starts_with("workload.llm.model:"));
        for (model, ep, why) in [
            ("llama2_7b", 2, "is dense"),
            ("mixtral_8x7b", 3, "must divide 8"),
            ("mixtral_8x7b", 0, "at least 1"),
        ] {
            let mut c = cfg(model, Phase::Decode);
            c.ep = ep;
            let e = lower(&c, DType::Bf16).unwrap_err().to_string();
            assert!(e.starts_with("workload.llm.ep:") && e.contains(why), "{e}");
        }
    }
}

//! `workload.framework`: how a framework turns a network's ops into the kernels a device runs.
//!
//! The same network is a different program under different software. Plain eager PyTorch runs
//! a BatchNorm, an activation and a residual add as kernels of their own after each
//! convolution, writes an LLM's RMSNorm out as six element-wise kernels, copies new keys and
//! values into a preallocated cache by slice assignment and expands a grouped-query cache to all
//! heads with `repeat_interleave` before attention. An inference engine (TensorRT, vLLM,
//! TensorRT-LLM) fuses the BatchNorm and the activation into the convolution's epilogue, runs a
//! one-kernel RMSNorm, writes the cache in place and reads grouped K/V heads natively.
//!
//! The op graph a zoo model, an ONNX file or an `llm:` step lowers to is the network's math;
//! the framework decides the program: the LLM lowering emits the framework's ops (fused QKV,
//! the reference RMSNorm, the cache copies), and a device model that prices kernels (the GPU)
//! asks [`Framework`] which ops fuse. Devices that price the math (systolic arrays, PIM, RDUs)
//! see the LLM program's extra ops as the small data movements they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a framework turns ops into kernels (`workload.framework`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// Plain eager PyTorch (the default: the program archsim's GPU model is validated on, and
    /// what a user timing a model in PyTorch runs). BatchNorm, activations and residual adds
    /// are kernels of their own; the reference RMSNorm is six kernels; K/V are copied into the
    /// cache; grouped-query K/V are expanded with `repeat_interleave`.
    #[default]
    Pytorch,
    /// An inference engine: conv + BatchNorm + activation fused into one kernel, a one-kernel
    /// RMSNorm and rotary embedding, K/V written in place, grouped-query heads read natively.
    Fused,
}

impl Framework {
    /// `pytorch` or `fused`.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Pytorch => "pytorch",
            Framework::Fused => "fused",
        }
    }
}

/// How an RMSNorm is computed (`llm.norm_impl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NormImpl {
    /// Written out in PyTorch: `x * rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w`: pow,
    /// mean, add, rsqrt, mul, mul (six kernels).
    Reference,
    /// One kernel.
    Fused,
}

/// How new keys and values reach the KV cache (`llm.kv_write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KvWrite {
    /// Slice assignment into a preallocated cache: one copy kernel for K, one for V.
    Copy,
    /// One kernel writing K and V into the cache (vLLM's `reshape_and_cache`).
    Inplace,
}

/// How grouped-query attention reads fewer K/V heads than query heads (`llm.gqa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GqaImpl {
    /// K and V expanded to all heads with `repeat_interleave` over the whole cached length
    /// before attention (two materialized copies every step).
    Repeat,
    /// The attention kernel reads each K/V head once for its group of query heads.
    Native,
}

/// The LLM lowering's program choices, resolved from the framework and the `llm:` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LlmProgram {
    /// One QKV projection (a single GEMM to `(heads + 2·kv_heads)·head_dim`), split by views.
    pub fused_qkv: bool,
    /// One gate+up projection (a single GEMM to `2·ffn`), chunked by views.
    pub fused_gate_up: bool,
    /// How an RMSNorm runs.
    pub norm: NormImpl,
    /// How K/V reach the cache.
    pub kv_write: KvWrite,
    /// How grouped-query K/V are read.
    pub gqa: GqaImpl,
    /// Rotary position embedding applied to Q and K (models with rotary positions).
    pub rope: bool,
    /// The rotary embedding is one kernel over Q and K (an engine's), not Hugging Face's five
    /// PyTorch kernels per tensor.
    pub fused_rope: bool,
}

impl LlmProgram {
    /// The framework's defaults.
    pub fn of(framework: Framework) -> Self {
        match framework {
            Framework::Pytorch => LlmProgram {
                fused_qkv: true,
                fused_gate_up: true,
                norm: NormImpl::Reference,
                kv_write: KvWrite::Copy,
                gqa: GqaImpl::Repeat,
                rope: true,
                fused_rope: false,
            },
            Framework::Fused => LlmProgram {
                fused_qkv: true,
                fused_gate_up: true,
                norm: NormImpl::Fused,
                kv_write: KvWrite::Inplace,
                gqa: GqaImpl::Native,
                rope: true,
                fused_rope: true,
            },
        }
    }
}

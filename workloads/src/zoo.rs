//! The model zoo: builders with the published hyper-parameters, any batch size and dtype.
//!
//! Batch normalization is folded into the preceding convolution, as inference compilers do;
//! activations, residual additions and pooling are kept as ops of their own.
//!
//! | name | source | MACs at batch 1, 224×224 |
//! |---|---|---|
//! | `resnet18` | He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (torchvision layout) | 1.814 G |
//! | `mobilenet_v1` | Howard et al., "MobileNets", arXiv:1704.04861 (width 1.0) | 0.569 G |
//! | `vit_b_16` | Dosovitskiy et al., ICLR 2021 (torchvision layout) | 17.56 G |
//!
//! Sequence models (`bert_base`, `bert_large`, `gpt2`, `llama2_7b`, `llama2_13b`,
//! `llama2_70b`, `mixtral_8x7b`) take a `seq_len` and are lowered by [`crate::llm`] as a
//! prefill of `seq_len` tokens; use an `llm:` workload for decode, tensor parallelism or MoE skew.

mod cnn;

pub use cnn::{mobilenet_v1, resnet18};

use crate::{DType, Workload, WorkloadError};

/// Names of the zoo's image models, as used in `workload.model`.
pub const MODELS: &[&str] = &["resnet18", "mobilenet_v1", "vit_b_16"];

/// Every zoo name: image models, then sequence models.
pub fn all_models() -> Vec<&'static str> {
    MODELS.iter().chain(crate::llm::MODELS).copied().collect()
}

/// Default sequence length of a sequence model built without `seq_len`.
pub const DEFAULT_SEQ_LEN: u64 = 128;

/// Builds the zoo model `name` for `batch` inputs of `dtype`; sequence models process
/// `seq_len` tokens (default [`DEFAULT_SEQ_LEN`]).
pub fn build_seq(
    name: &str,
    batch: u64,
    dtype: DType,
    seq_len: Option<u64>,
) -> Result<Workload, WorkloadError> {
    if crate::llm::spec(name).is_some() {
        let cfg = crate::llm::LlmConfig {
            model: name.into(),
            phase: crate::llm::Phase::Prefill,
            batch,
            prompt_len: seq_len.unwrap_or(DEFAULT_SEQ_LEN),
            context_len: None,
            layers: None,
            tp: 1,
            moe_skew: 0.0,
        };
        return crate::llm::lower(&cfg, dtype).map_err(|e| match e {
            WorkloadError::InvalidParameter { key, reason } => WorkloadError::InvalidParameter {
                key: key
                    .replace("workload.llm.prompt_len", "workload.seq_len")
                    .replace("workload.llm.", "workload."),
                reason,
            },
            other => other,
        });
    }
    build(name, batch, dtype)
}

/// Builds the zoo model `name` for `batch` images of `dtype`.
pub fn build(name: &str, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    if batch == 0 {
        return Err(WorkloadError::InvalidParameter {
            key: "workload.batch".into(),
            reason: "must be at least 1".into(),
        });
    }
    match name {
        "resnet18" => resnet18(batch, dtype),
        "mobilenet_v1" => mobilenet_v1(batch, dtype),
        "vit_b_16" => crate::llm::vit_b_16(batch, dtype),
        _ if crate::llm::spec(name).is_some() => build_seq(name, batch, dtype, None),
        _ => Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: all_models().join(", "),
        }),
    }
}

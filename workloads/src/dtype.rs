//! Element types of tensors.

use serde::{Deserialize, Serialize};

/// The element type of a tensor, which fixes its width in bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 8-bit integer (the usual inference type of systolic accelerators).
    #[default]
    Int8,
    /// 8-bit float (E4M3/E5M2; both are one byte).
    Fp8,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    Fp16,
    /// IEEE single precision.
    Fp32,
}

impl DType {
    /// Width of one element in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            DType::Int8 | DType::Fp8 => 1,
            DType::Bf16 | DType::Fp16 => 2,
            DType::Fp32 => 4,
        }
    }

    /// The name used in configs (`int8`, `fp8`, `bf16`, `fp16`, `fp32`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Fp8 => "fp8",
            DType::Bf16 => "bf16",
            DType::Fp16 => "fp16",
            DType::Fp32 => "fp32",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

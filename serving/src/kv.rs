//! KV-cache precision and compression: what `serving.kv.dtype` (a quantized cache, e.g.
//! COMET's KV4 or an FP8 cache next to 16-bit weights) and `serving.kv.read_fraction`
//! (A²ATS-style retrieval: a decode step reads only a fraction of each sequence's cache) change.
//!
//! * **Memory and capacity.** A token's KV bytes scale with the cache's bits per element:
//!   `kv_bytes(dtype) = kv_bytes(weights' dtype) × bits(kv) / bits(weights)`. The bytes left for
//!   the cache (`memory × memory_fraction − weights − activations`) do not change, so an int4
//!   cache next to fp16 weights holds four times the blocks, and a KV-bound replica four times
//!   the sequences. The KV transfer of a disaggregated fleet, migration and swapping move the
//!   smaller bytes too.
//! * **Attention time.** The decode-attention term of an iteration
//!   (`a_dec(n) · Σ contexts`, [`crate::step`]) is the cost of reading the cache: it is priced
//!   at the weights' dtype and scaled by `bits(kv) / bits(weights) × read_fraction`. This is
//!   exact where decode attention is bound by its KV reads, which it is on every shipped
//!   family and model (about 1 to 8 flops per KV byte, far below any device's ridge point);
//!   the (de)quantization arithmetic and the retrieval's own scoring are not priced.
//! * A prefill chunk's attention (compute-bound, over its own tokens and the cached ones) is
//!   unchanged; retrieval applies to decode steps, as in A²ATS.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_workloads::DType;

use crate::ServingError;

/// The element type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KvDtype {
    /// 4-bit integers (COMET's KV4, KIVI's 4-bit cache).
    Int4,
    /// 8-bit integers.
    Int8,
    /// 8-bit floats.
    Fp8,
    /// IEEE half precision.
    Fp16,
    /// bfloat16.
    Bf16,
    /// IEEE single precision.
    Fp32,
}

impl KvDtype {
    /// Bits of one element.
    pub fn bits(self) -> u32 {
        match self {
            KvDtype::Int4 => 4,
            KvDtype::Int8 | KvDtype::Fp8 => 8,
            KvDtype::Fp16 | KvDtype::Bf16 => 16,
            KvDtype::Fp32 => 32,
        }
    }

    /// The name in configs.
    pub fn name(self) -> &'static str {
        match self {
            KvDtype::Int4 => "int4",
            KvDtype::Int8 => "int8",
            KvDtype::Fp8 => "fp8",
            KvDtype::Fp16 => "fp16",
            KvDtype::Bf16 => "bf16",
            KvDtype::Fp32 => "fp32",
        }
    }
}

/// The KV cache of a pool as the config sets it, against the model's (weights') dtype.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvFormat {
    /// Bits per element of the cache.
    pub bits: u32,
    /// Bits per element of the model's dtype.
    pub model_bits: u32,
    /// Fraction of each sequence's cache a decode step reads.
    pub read_fraction: f64,
}

impl KvFormat {
    /// The format of `dtype` (default: the model's) and `read_fraction` (default 1) for a
    /// model in `model`.
    pub fn new(dtype: Option<KvDtype>, read_fraction: Option<f64>, model: DType) -> KvFormat {
        let model_bits = (model.bytes() * 8) as u32;
        KvFormat {
            bits: dtype.map_or(model_bits, KvDtype::bits),
            model_bits,
            read_fraction: read_fraction.unwrap_or(1.0),
        }
    }

    /// A token's KV bytes in this format from its bytes at the model's dtype.
    pub fn bytes(&self, model_bytes: f64) -> f64 {
        model_bytes * self.bits as f64 / self.model_bits as f64
    }

    /// The factor on the decode-attention term: bytes per element × the fraction read.
    pub fn attention_scale(&self) -> f64 {
        self.bits as f64 / self.model_bits as f64 * self.read_fraction
    }

    /// Whether the format is the model's own, read whole (nothing changes).
    pub fn is_identity(&self) -> bool {
        self.bits == self.model_bits && self.read_fraction == 1.0
    }
}

/// Checks `serving.kv.read_fraction`.
pub(crate) fn validate_read_fraction(f: Option<f64>) -> Result<(), ServingError> {
    match f {
        Some(f) if !(f > 0.0 && f <= 1.0) => Err(ServingError::Config {
            key: "serving.kv.read_fraction".into(),
            reason: format!("must be in (0, 1], got {f}"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_is_a_quarter_of_fp16_and_the_read_fraction_multiplies() {
        let f = KvFormat::new(Some(KvDtype::Int4), Some(0.25), DType::Fp16);
        assert_eq!(f.bytes(1024.0), 256.0);
        assert_eq!(f.attention_scale(), 0.0625);
        assert!(KvFormat::new(None, None, DType::Bf16).is_identity());
        assert!(!KvFormat::new(Some(KvDtype::Fp8), None, DType::Bf16).is_identity());
        assert!(validate_read_fraction(Some(0.0)).is_err());
        assert!(validate_read_fraction(Some(1.5)).is_err());
        assert!(validate_read_fraction(Some(0.1)).is_ok());
    }
}

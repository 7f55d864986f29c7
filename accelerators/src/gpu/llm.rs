//! LLM serving metrics on a GPU: time to first token, time per output token, throughput,
//! memory, the largest batch that fits, KV-cache swapping and tensor parallelism.
//!
//! * **TTFT** is the prefill of `batch × prompt_len` tokens; **TPOT** one decode step with
//!   `context_len` tokens in the cache. Both are [`Gpu::predict`] over the lowered graphs
//!   (`archsim_workloads::llm::lower`), so they include every kernel's launch cost in the
//!   configured launch mode.
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
//!   layer-by-layer prefetch the step takes the longer of the GPU time and the transfer (the
//!   bound of the long-context analysis in Y. Fu, "Challenges in Deploying Long-Context
//!   Transformers: A Theoretical Peak Performance Analysis", arXiv:2405.08944, 2024). The
//!   prefill writes the overflow back the same way. When even the weights and activations do
//!   not fit, the step is infeasible: [`AccelError::OutOfMemory`].
//! * **Tensor parallelism** (`tp` in the `llm:` section): the graphs are one device's share,
//!   with all-reduces over NVLink (priced by `archsim-net` as NCCL) after the attention and MLP blocks
//!   ([`super::kernels`]); memory figures are per device.

use archsim_workloads::llm::LlmConfig;
use archsim_workloads::{DType, Workload};


use super::Gpu;
use crate::llm_metrics::StepModel;
use crate::{AccelError, Accelerator};

impl StepModel for Gpu {
    fn device_name(&self) -> String {
        self.name()
    }
    fn capacity_bytes(&self) -> u64 {
        self.spec.hbm_bytes().max(0.0) as u64
    }
    fn host_link_gbps(&self) -> Option<f64> {
        Some(self.spec.host_link_gbps)
    }
    fn mode(&self) -> String {
        self.launch.name().into()
    }
    fn step_seconds(&self, _step: &LlmConfig, w: &Workload) -> Result<f64, AccelError> {
        Ok(self.predict(w))
    }
}

/// Serving metrics of the `llm:` section `cfg` (of either phase) at `dtype` on `gpu`
/// ([`crate::llm_metrics::metrics`] with the GPU's memory, host link and launch mode).
pub(crate) fn metrics(gpu: &Gpu, cfg: &LlmConfig, dtype: DType) -> Result<archsim_sim::LlmReport, AccelError> {
    crate::llm_metrics::metrics(gpu, cfg, dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{GpuConfig, LaunchMode};
    use archsim_workloads::llm::Phase;

    fn cfg(model: &str, batch: u64, prompt: u64, context: u64, tp: u64) -> LlmConfig {
        LlmConfig {
            model: model.into(),
            phase: Phase::Decode,
            batch,
            prompt_len: prompt,
            context_len: Some(context),
            layers: None,
            tp,
            moe_skew: 0.0,
            ..Default::default()
        }
    }

    fn h100() -> Gpu {
        Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap()
    }

    #[test]
    fn llama2_7b_fits_one_h100_with_room_for_many_sequences() {
        let r = metrics(&h100(), &cfg("llama2_7b", 1, 2048, 2049, 1), DType::Bf16).unwrap();
        assert!(r.memory.fits && r.kv_swap.is_none());
        // 13.5 GB of weights; 1 GiB of KV cache per 2k-token sequence.
        assert!((r.memory.weights_bytes as f64 - 13.48e9).abs() < 0.05e9);
        assert!(r.max_batch > 50 && r.max_batch < 70, "{}", r.max_batch);
        assert!(r.ttft_s > r.tpot_s && r.tpot_s > 4e-3);
        assert!((r.decode_tokens_per_s - 1.0 / r.tpot_s).abs() < 1e-9);
    }

    #[test]
    fn a_decode_context_bounds_the_prompt_behind_its_ttft() {
        // Decode at 129 tokens with a 512-token prompt (the default) cannot be: the prompt was
        // 128 tokens, and the TTFT is that prefill's.
        let short = metrics(&h100(), &cfg("llama2_7b", 1, 512, 129, 1), DType::Bf16).unwrap();
        let exact = metrics(&h100(), &cfg("llama2_7b", 1, 128, 129, 1), DType::Bf16).unwrap();
        assert_eq!(short.prompt_len, 128);
        assert_eq!(short.ttft_s, exact.ttft_s);
        assert_eq!(short.prefill_tokens_per_s, exact.prefill_tokens_per_s);
        // A decode step with room for the whole prompt keeps it.
        let long = metrics(&h100(), &cfg("llama2_7b", 1, 512, 2049, 1), DType::Bf16).unwrap();
        assert_eq!(long.prompt_len, 512);
        assert!(long.ttft_s > exact.ttft_s);
    }

    #[test]
    fn long_context_swaps_the_kv_cache_over_pcie() {
        // 64 sequences of 32k tokens: 1 TiB of KV cache.
        let r = metrics(&h100(), &cfg("llama2_7b", 64, 32767, 32768, 1), DType::Bf16).unwrap();
        let s = r.kv_swap.as_ref().expect("swaps");
        assert!(!r.memory.fits);
        assert!(s.overflow_bytes > 900_000_000_000);
        // PCIe Gen5 at 64 GB/s: > 14 s per token, and the step is bound by it.
        assert!(r.tpot_s >= s.decode_swap_s && r.tpot_s > 14.0);
    }

    #[test]
    fn seventy_b_needs_tensor_parallelism() {
        let e = metrics(&h100(), &cfg("llama2_70b", 1, 128, 129, 1), DType::Bf16).unwrap_err();
        assert!(e.to_string().contains("out of memory"), "{e}");
        let r = metrics(&h100(), &cfg("llama2_70b", 1, 128, 129, 4), DType::Bf16).unwrap();
        assert!(r.memory.fits);
        let r8 = metrics(&h100(), &cfg("llama2_70b", 1, 128, 129, 8), DType::Bf16).unwrap();
        assert!(r8.memory.weights_bytes < r.memory.weights_bytes);
        assert!(r8.tpot_s < r.tpot_s, "{} vs {}", r8.tpot_s, r.tpot_s);
    }
}

//! An NPU beside HBM-PIM, after NeuPIMs: G. Heo, S. Lee, J. Cho, H. Choi, S. Lee, H. Ham,
//! G. Kim, D. Mahajan and J. Park, "NeuPIMs: NPU-PIM Heterogeneous Acceleration for Batched LLM
//! Inferencing", ASPLOS 2024, doi:10.1145/3620666.3651380.
//!
//! Fidelity: [`crate::Fidelity::CycleApprox`]. Two engines share one HBM:
//!
//! * the **NPU**: `arrays` systolic arrays (each priced by [`crate::systolic`]; a GEMM's
//!   groups, or else its output columns, are split across the arrays) and a vector unit for
//!   norms, softmax and element-wise ops; its operands stream over the external HBM bus;
//! * the **PIM**: `channels × banks` DRAM banks, each with a MAC unit fed from its row buffer,
//!   so a GEMV (decode attention: `q·Kᵀ` and `p·V` over the KV cache) runs at the banks'
//!   internal bandwidth, not the bus's.
//!
//! DRAM is timed at command level (`dram::simulate_channel`): ACT / PRE / RD (or PIM MAC column
//! command) per bank, with tRCD, tRP, tRAS, tRTP, tCCD, tRRD and a tFAW window per channel and,
//! for ordinary reads, a shared data bus. **Refresh is ignored** (it costs a few percent of
//! every mode alike). A long GEMV is priced by simulating a few rows per bank and
//! extrapolating the steady-state period per row, exact once the schedule is periodic.
//!
//! Modes (`mode:` in the config):
//!
//! | mode | GEMM-like ops | GEMV-like attention | concurrency |
//! |---|---|---|---|
//! | `gpu_only` | the [`crate::gpu`] model (preset `gpu_preset`) | same | — |
//! | `npu_only` | NPU | NPU, KV cache over the external bus | — |
//! | `npu_pim_naive` | NPU | PIM, blocked mode | a PIM op holds the bus: NPU and PIM never overlap |
//! | `neupims` | NPU | PIM, dual row buffers | NPU traffic and PIM commands proceed together; the batch is split into `sub_batches` sub-batches whose graphs are scheduled together, so one sub-batch's GEMMs overlap another's attention |
//!
//! Routing is by arithmetic intensity: ops for which [`archsim_workloads::Op::is_gemm_like`] holds go to the NPU's
//! systolic arrays (timed as the authors' pipelined weight-stationary core by default,
//! [`ArrayTiming`]; a GEMM whose weight is shared by the batch stacks the batch into its rows); attention that is not GEMM-like (decode: one query row) goes to the
//! PIM; other GEMV-like products (and, in `npu_only`, decode attention) run on the NPU's vector
//! unit at one MAC per lane per cycle, where a systolic array would use one row in 128; the
//! rest (norms, softmax, element-wise) runs on the vector unit too. The list scheduler of `archsim-sim` resolves the overlap: the
//! external bus is a shared-bandwidth memory; in blocked mode a PIM op reserves it for its whole
//! duration.
//!
//! ```
//! use archsim_accelerators::npu_pim::{NpuPimConfig, PimMode, decode_tokens_per_s};
//! use archsim_workloads::{llm::{LlmConfig, Phase}, DType};
//!
//! let step = LlmConfig {
//!     model: "gpt3_7b".into(), phase: Phase::Decode, batch: 256, prompt_len: 1023,
//!     context_len: Some(1024), layers: Some(2), tp: 1, moe_skew: 0.0, ..Default::default()
//! };
//! let tps = |mode| decode_tokens_per_s(&NpuPimConfig::with_mode(mode), &step, DType::Fp16).unwrap();
//! assert!(tps(PimMode::Neupims) > tps(PimMode::NpuOnly));
//! assert!(tps(PimMode::NpuPimNaive) > tps(PimMode::NpuOnly));
//! ```

mod config;
mod dram;
mod llm;
mod model;

// What other crates use (the NeuPIMs study); the rest is the family's own.
pub use config::{ArrayTiming, NpuPimConfig, PimMode};
pub use dram::DramTiming;
pub use llm::{decode_tokens_per_s, step_memory};
pub use model::{NpuPim, NpuPimPlan};

use crate::config::KeyError;
use archsim_sim::Report;
use archsim_workloads::Workload;

use crate::{pipeline, AccelError, Accelerator};

impl crate::family::FamilyConfig for NpuPimConfig {
    const LLM_METRICS: bool = true;
    fn validate(&self) -> Result<(), AccelError> {
        NpuPimConfig::validate(self)
    }
    /// `gpu_preset` picks the GPU of `gpu_only` and nothing else: another preset in another
    /// mode would be ignored. (The default preset is what a written-out config carries, so it
    /// is accepted in every mode.)
    fn reconcile(
        &mut self,
        _given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), KeyError> {
        crate::collective::check_expert_parallel_node(
            workload,
            crate::collective::NODE_DEVICES,
            "a node holds 8 devices on one switch of link_gbps",
        )?;
        if self.mode != PimMode::GpuOnly && self.gpu_preset != NpuPimConfig::default().gpu_preset
        {
            return Err(KeyError::new(
                vec!["accelerator".into(), "gpu_preset".into()],
                format!(
                    "applies to `mode: gpu_only` (the GPU baseline); in mode `{}` the NPU runs \
                     the step and `{}` would be ignored: remove gpu_preset or set mode: gpu_only",
                    self.mode.name(),
                    self.gpu_preset
                ),
            ));
        }
        Ok(())
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        fn boxed<A: Accelerator + Send + Sync + 'static>(a: A) -> (String, f64, Box<dyn pipeline::Stages>) {
            (a.name(), a.area_mm2(), Box::new(a))
        }
        let (name, area_mm2, per_op) = match self.mode {
            PimMode::GpuOnly => boxed(llm::gpu(self)?),
            _ => boxed(NpuPim::new(self)?),
        };
        Ok(Box::new(NpuPimFamily {
            cfg: self.clone(),
            name,
            area_mm2,
            per_op,
        }))
    }
}

/// The NPU+PIM family: the per-op model of the configured mode (the NPU beside its PIM, or
/// the GPU of `gpu_only`) and the mode's `llm:` step pricing (`llm::evaluate`).
struct NpuPimFamily {
    cfg: NpuPimConfig,
    /// The per-op model's name and area.
    name: String,
    area_mm2: f64,
    per_op: Box<dyn pipeline::Stages>,
}

impl crate::family::Family for NpuPimFamily {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn area_mm2(&self) -> f64 {
        self.area_mm2
    }
    fn run_graph(
        &self,
        w: &Workload,
        ctx: &crate::family::Context<'_>,
    ) -> Result<Report, AccelError> {
        llm::evaluate(&self.cfg, ctx.llm, ctx.dtype, w, ctx.config_hash, ctx.seed)
    }
    fn per_op(&self) -> Option<&dyn pipeline::Stages> {
        Some(self.per_op.as_ref())
    }
}

#[cfg(test)]
mod tests;

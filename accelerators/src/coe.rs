//! Serving a Composition of Experts (CoE): many expert models, a router that picks one per
//! prompt, and the switch that brings the chosen expert's weights into device memory. After
//! Samba-CoE on an 8-socket SN40L node vs a DGX (Prabhakar et al., MICRO 2024, §V and §VI-C,
//! doi:10.1109/MICRO61859.2024.00100).
//!
//! Fidelity: [`Fidelity::Analytic`](crate::Fidelity::Analytic). One batch of `batch` prompts is
//! served as the paper describes: the router (a model of the experts' class) runs once over
//! the batch (prefill), the experts the prompts need are copied into device memory, then each
//! (prompt, expert) pair runs one after the other (a prefill of the prompt, then one decode
//! step per further output token), tensor-parallel over the whole machine. Step times come
//! from the platform's own model: [`rdu`] fused kernels for the node, the calibrated [`gpu`]
//! model (CUDA graphs, NVLink collectives) for the DGX, unless the DGX config gives a
//! published per-prompt expert latency (`published_expert_s`, the paper's own source), which
//! then replaces the GPU model's expert time (the router stays on the GPU model).
//!
//! **Residency.** The backing memory (the RDU's DDR, the DGX's host memory) holds every expert;
//! device memory (HBM of every socket or GPU) holds the router, the KV caches and copies of as
//! many whole experts as fit. Prompts pick experts uniformly at random, so a batch copies in,
//! on average, the non-resident experts that at least one of its prompts picks:
//! `(E − H) · (1 − (1 − 1/E)^B)` for `E` experts, `H` resident and `B` prompts. A copy runs at
//! the node's DDR-to-HBM rate or the DGX's host-to-GPU rate ([`rdu::switch_seconds`]). More
//! experts than the backing memory holds is an out-of-memory error (the paper's DGXs, with
//! 2 TB of host memory, run out of memory at 150 7B experts).

use serde::{Deserialize, Serialize};

use archsim_workloads::llm::{self, LlmConfig, Phase};
use archsim_workloads::{DType, Workload};

use crate::gpu::{Gpu, GpuConfig, LaunchMode};
use crate::rdu::{self, RduConfig, SwitchSource};
use crate::AccelError;

/// The CoE and its traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoeWorkload {
    /// Zoo name of every expert and of the router (Samba-CoE: all derived from `llama2_7b`).
    pub expert: String,
    /// Experts in the CoE.
    #[schemars(range(min = 1, max = 16777216))]
    pub experts: u64,
    /// Prompts per batch (each may need a different expert).
    #[schemars(range(min = 1, max = 16777216))]
    pub batch: u64,
    /// Tokens per prompt.
    #[schemars(range(min = 1, max = 16777216))]
    pub prompt_len: u64,
    /// Tokens generated per prompt.
    #[schemars(range(min = 1, max = 16777216))]
    pub output_tokens: u64,
    /// Tensor-parallel degree of every model (the paper: 8, over the whole machine).
    #[schemars(range(min = 1, max = 16777216))]
    pub tp: u64,
}

/// A DGX: GPUs of one preset, their HBM, and host memory behind a host-to-GPU link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DgxConfig {
    /// GPU preset (`h100_sxm`, `a100_80gb`).
    pub gpu_preset: String,
    /// GPUs.
    #[schemars(range(min = 1, max = 4096))]
    pub gpus: u64,
    /// Host-to-GPU bandwidth of the machine, GB/s.
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub host_gbps: f64,
    /// Host memory available for experts, GB.
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub host_memory_gb: f64,
    /// Published latency of one prompt on one expert at batch 1 (prefill and every output
    /// token, at the workload's TP), s: replaces the GPU model's expert time when given.
    #[serde(default)]
    #[schemars(range(max = crate::ranges::MAX_SECONDS), extend("exclusiveMinimum" = 0))]
    pub published_expert_s: Option<f64>,
}

/// One platform's serving of one batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoeResult {
    /// Experts resident in device memory.
    pub resident_experts: u64,
    /// Expected expert copies per batch.
    pub switches_per_batch: f64,
    /// Seconds of one expert copy.
    pub switch_s: f64,
    /// Seconds of the router over the batch.
    pub router_s: f64,
    /// Seconds of one prompt on its expert (prefill and decode).
    pub expert_s: f64,
    /// Seconds of the whole batch.
    pub batch_s: f64,
    /// Prompts served per second.
    pub requests_per_s: f64,
}

fn bad(key: &str, reason: String) -> AccelError {
    AccelError::InvalidConfig {
        key: format!("coe.{key}"),
        reason,
    }
}

impl CoeWorkload {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), AccelError> {
        for (k, v) in [
            ("experts", self.experts),
            ("batch", self.batch),
            ("prompt_len", self.prompt_len),
            ("output_tokens", self.output_tokens),
            ("tp", self.tp),
        ] {
            if v == 0 {
                return Err(bad(k, "must be positive".into()));
            }
        }
        llm::spec(&self.expert)
            .map(|_| ())
            .ok_or_else(|| bad("expert", format!("unknown model `{}`", self.expert)))
    }

    fn spec(&self) -> Result<llm::TransformerSpec, AccelError> {
        llm::spec(&self.expert)
            .ok_or_else(|| bad("expert", format!("unknown model `{}`", self.expert)))
    }

    /// Bytes of one expert's weights (bf16).
    pub fn expert_bytes(&self) -> Result<u64, AccelError> {
        Ok(self.spec()?.params() * DType::Bf16.bytes())
    }

    /// Bytes of the KV caches held while a batch is served: the router's over the batch and
    /// one expert's over one prompt and its output.
    fn kv_bytes(&self) -> Result<u64, AccelError> {
        let s = self.spec()?;
        let per_token = 2 * s.layers * s.kv_heads * s.head_dim() * DType::Bf16.bytes();
        Ok(per_token * (self.batch * self.prompt_len + self.prompt_len + self.output_tokens))
    }

    fn lower(
        &self,
        phase: Phase,
        batch: u64,
        context: Option<u64>,
    ) -> Result<Workload, AccelError> {
        llm::lower(
            &LlmConfig {
                model: self.expert.clone(),
                phase,
                batch,
                prompt_len: self.prompt_len,
                context_len: context,
                layers: None,
                tp: self.tp,
                moe_skew: 0.0,
                // Experts served by an engine (the paper's per-token latencies are served ones).
                framework: archsim_workloads::Framework::Fused,
                ..Default::default()
            },
            DType::Bf16,
        )
        .map_err(|e| bad("expert", e.to_string()))
    }
}

/// Expected distinct non-resident experts picked by `batch` prompts choosing uniformly among
/// `experts`, `resident` of which are in device memory.
pub(crate) fn expected_switches(experts: u64, resident: u64, batch: u64) -> f64 {
    if experts == 0 || resident >= experts {
        return 0.0;
    }
    let p_picked = 1.0 - (1.0 - 1.0 / experts as f64).powi(batch.min(i32::MAX as u64) as i32);
    (experts - resident) as f64 * p_picked
}

/// Serves one batch given the platform's step time, its device memory, its backing memory
/// and its copy time per expert.
#[allow(clippy::too_many_arguments)]
fn serve(
    w: &CoeWorkload,
    step_s: &dyn Fn(&Workload) -> f64,
    expert_override: Option<f64>,
    device_bytes: f64,
    backing_bytes: f64,
    switch_s: f64,
    name: &str,
) -> Result<CoeResult, AccelError> {
    w.validate()?;
    let expert = w.expert_bytes()? as f64;
    let free = device_bytes - expert - w.kv_bytes()? as f64;
    if free < expert {
        return Err(AccelError::OutOfMemory {
            accelerator: name.into(),
            reason: format!(
                "{:.1} GB of device memory hold the router and KV caches but not one {:.1} GB expert",
                device_bytes / 1e9,
                expert / 1e9
            ),
        });
    }
    let resident = ((free / expert).floor() as u64).min(w.experts);
    // The backing memory holds every expert; device memory holds copies.
    let all = w.experts as f64 * expert;
    if resident < w.experts && all > backing_bytes {
        return Err(AccelError::OutOfMemory {
            accelerator: name.into(),
            reason: format!(
                "{} experts of {:.1} GB need {:.0} GB of backing memory, which holds {:.0} GB",
                w.experts,
                expert / 1e9,
                all / 1e9,
                backing_bytes / 1e9
            ),
        });
    }
    let router_s = step_s(&w.lower(Phase::Prefill, w.batch, None)?);
    // The first output token comes from the prefill; the decode steps see on average the
    // prompt plus half the output in their KV cache.
    let prefill = step_s(&w.lower(Phase::Prefill, 1, None)?);
    let decodes = w.output_tokens - 1;
    let decode = if decodes > 0 {
        let ctx = w.prompt_len + 1 + decodes / 2;
        step_s(&w.lower(Phase::Decode, 1, Some(ctx))?)
    } else {
        0.0
    };
    let expert_s = expert_override.unwrap_or(prefill + decodes as f64 * decode);
    let switches = expected_switches(w.experts, resident, w.batch);
    let batch_s = router_s + switches * switch_s + w.batch as f64 * expert_s;
    Ok(CoeResult {
        resident_experts: resident,
        switches_per_batch: switches,
        switch_s,
        router_s,
        expert_s,
        batch_s,
        requests_per_s: w.batch as f64 / batch_s,
    })
}

/// Serves `w` on a node of `cfg.sockets` RDU sockets (fused kernels; the model's `tp` must
/// divide over the sockets): experts in DDR, copied to HBM on a switch.
pub fn serve_rdu(cfg: &RduConfig, w: &CoeWorkload) -> Result<CoeResult, AccelError> {
    cfg.validate()?;
    w.validate()?;
    if w.tp > cfg.sockets {
        return Err(bad(
            "tp",
            format!("{} exceeds the node's {} sockets", w.tp, cfg.sockets),
        ));
    }
    let fused = RduConfig {
        fused: true,
        ..cfg.clone()
    };
    let step = |wl: &Workload| rdu::workload_seconds(&fused, wl);
    let switch_s = rdu::switch_seconds(cfg, w.expert_bytes()?, SwitchSource::RduDdr);
    serve(
        w,
        &step,
        None,
        cfg.sockets as f64 * cfg.hbm_gb * 1e9,
        cfg.sockets as f64 * cfg.ddr_gb * 1e9,
        switch_s,
        "sn40l node",
    )
}

/// Serves `w` on a DGX: the GPU model with CUDA graphs, experts in host memory, copied over
/// the host-to-GPU links on a switch.
pub fn serve_dgx(d: &DgxConfig, w: &CoeWorkload) -> Result<CoeResult, AccelError> {
    w.validate()?;
    if d.gpus == 0 || w.tp > d.gpus {
        return Err(bad(
            "tp",
            format!("{} exceeds the DGX's {} GPUs", w.tp, d.gpus),
        ));
    }
    for (k, v) in [
        ("host_gbps", d.host_gbps),
        ("host_memory_gb", d.host_memory_gb),
        ("published_expert_s", d.published_expert_s.unwrap_or(1.0)),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(k, "must be positive".into()));
        }
    }
    let g = Gpu::new(&GpuConfig::preset(&d.gpu_preset, LaunchMode::CudaGraph))?;
    let step = |wl: &Workload| g.predict(wl);
    let switch_s = rdu::switch_seconds(
        &RduConfig::default(),
        w.expert_bytes()?,
        SwitchSource::DgxHost {
            gpus: d.gpus,
            pcie_gbps: g.spec.host_link_gbps,
            host_gbps: d.host_gbps,
        },
    );
    serve(
        w,
        &step,
        d.published_expert_s,
        d.gpus as f64 * g.spec.hbm_gb * 1e9,
        d.host_memory_gb * 1e9,
        switch_s,
        &format!("dgx ({} x {})", d.gpus, d.gpu_preset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coe(experts: u64) -> CoeWorkload {
        CoeWorkload {
            expert: "llama2_7b".into(),
            experts,
            batch: 8,
            prompt_len: 128,
            output_tokens: 20,
            tp: 8,
        }
    }

    fn dgx() -> DgxConfig {
        DgxConfig {
            gpu_preset: "h100_sxm".into(),
            gpus: 8,
            host_gbps: 64.0,
            host_memory_gb: 2000.0,
            published_expert_s: None,
        }
    }

    #[test]
    fn a_published_expert_latency_replaces_the_gpu_model() {
        let w = coe(100);
        let model = serve_dgx(&dgx(), &w).unwrap();
        let d = DgxConfig {
            published_expert_s: Some(0.1),
            ..dgx()
        };
        let published = serve_dgx(&d, &w).unwrap();
        assert_eq!(published.expert_s, 0.1);
        assert_eq!(published.router_s, model.router_s);
        assert_eq!(published.switches_per_batch, model.switches_per_batch);
        let bad = DgxConfig {
            published_expert_s: Some(0.0),
            ..dgx()
        };
        assert!(serve_dgx(&bad, &w).is_err());
    }

    #[test]
    fn expected_switches_by_hand() {
        // All resident: nothing to copy.
        assert_eq!(expected_switches(10, 10, 8), 0.0);
        // One prompt, 10 experts, 4 resident: 6 · (1 − 0.9) = 0.6.
        assert!((expected_switches(10, 4, 1) - 0.6).abs() < 1e-12);
        // Two prompts: 6 · (1 − 0.81) = 1.14.
        assert!((expected_switches(10, 4, 2) - 1.14).abs() < 1e-12);
    }

    #[test]
    fn node_beats_dgx_once_experts_spill_from_hbm() {
        let cfg = RduConfig::default();
        let few = coe(20);
        let many = coe(120);
        let (rf, df) = (
            serve_rdu(&cfg, &few).unwrap(),
            serve_dgx(&dgx(), &few).unwrap(),
        );
        assert_eq!(df.switches_per_batch, 0.0);
        let (rm, dm) = (
            serve_rdu(&cfg, &many).unwrap(),
            serve_dgx(&dgx(), &many).unwrap(),
        );
        assert!(dm.switches_per_batch > 0.0 && rm.switches_per_batch > 0.0);
        // Spilling costs the DGX far more than the node: its copies are over PCIe.
        assert!(dm.switch_s > 10.0 * rm.switch_s);
        let gain_few = rf.requests_per_s / df.requests_per_s;
        let gain_many = rm.requests_per_s / dm.requests_per_s;
        assert!(
            gain_many > gain_few && gain_many > 1.0,
            "{gain_few} {gain_many}"
        );
    }

    #[test]
    fn too_many_experts_is_out_of_memory() {
        let e = serve_dgx(&dgx(), &coe(1000)).unwrap_err();
        assert!(matches!(e, AccelError::OutOfMemory { .. }), "{e}");
        // Host memory holds every expert: 2 TB hold 148 7B experts, not 150 (the paper's
        // DGXs run out of memory at 150).
        assert!(serve_dgx(&dgx(), &coe(148)).is_ok());
        assert!(serve_dgx(&dgx(), &coe(150)).is_err());
        assert!(serve_rdu(&RduConfig::default(), &coe(850)).is_ok());
        assert!(serve_rdu(&RduConfig::default(), &coe(2000)).is_err());
        let mut w = coe(10);
        w.expert = "nope".into();
        assert!(serve_rdu(&RduConfig::default(), &w).is_err());
    }
}

//! A GPU: SMs with tensor cores, an L2, HBM, a host link and NVLink, running one kernel per op
//! in a CUDA stream.
//!
//! Fidelity: [`Fidelity::Analytic`], calibrated on measured H100 SXM timings
//! (`../shared/data/gpu/h100/`, copied to `tests/data/gpu/h100/`). The kernel models
//! ([`kernels`]) follow how the hardware executes each op — GEMMs as output tiles in waves over
//! the SMs with operand traffic through L2/HBM, FlashAttention for prefill and flash-decoding
//! for decode, bandwidth-bound kernels for the rest, ring collectives over NVLink — in the
//! spirit of the analytic GPU models of LLMCompass (Zhang et al., ISCA 2024) and GenZ (Bambhaniya
//! et al., 2024), with what those tools assume away (datasheet peaks at 100%, no launch cost, no
//! wave quantization, no misaligned-operand fallback) calibrated on measurements instead
//! ([`calib`]).
//!
//! ```text
//! accelerator: {kind: gpu, preset: h100_sxm, launch: cudagraph, hbm_gbps: 4000}
//!                             │            │
//!        GpuSpec::preset ─────┘            └── eager: max(host launch, GPU time) per kernel
//!        + overrides = resources               cudagraph: GPU time + graph launch gap
//!                             │
//! op ──► kernels::Device::op ──► KernelEstimate {compute_s, memory_s, body_s, tile, split, waves}
//!                             │
//!        Gpu::op_latency ◄────┘  (launch overheads)  ──►  Cost (cycles at the SM clock)
//! ```
//!
//! The model runs the op graph in topological order on one stream (the scheduler's single
//! `stream` engine), so a step's latency is the sum of its kernels' latencies; [`Gpu::predict`]
//! computes that sum directly (no report) for the inner loops of searches. [`llm`] derives
//! serving metrics (TTFT, TPOT, memory, the largest batch, KV-cache swapping, tensor
//! parallelism) for `llm:` workloads.
//!
//! ```
//! use archsim_accelerators::gpu::{Gpu, GpuConfig, LaunchMode};
//! use archsim_workloads::{llm, DType};
//!
//! let gpu = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap();
//! let step = llm::LlmConfig {
//!     model: "llama2_7b".into(), phase: llm::Phase::Decode, batch: 1, prompt_len: 128,
//!     context_len: Some(129), layers: None, tp: 1, moe_skew: 0.0, ..Default::default()
//! };
//! let w = llm::lower(&step, DType::Bf16).unwrap();
//! let tpot = gpu.predict(&w);
//! // 13.5 GB of weights at ~3 TB/s, plus ~500 small kernels: 5-8 ms.
//! assert!(tpot > 5e-3 && tpot < 8e-3, "{tpot}");
//! ```

pub mod calib;
pub mod kernels;
pub(crate) mod llm;
pub mod program;
mod spec;
pub mod trace;
pub mod validation;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{Engine, Memory, Resources};
use archsim_workloads::{DType, Op, Workload};

use crate::{AccelError, Accelerator, Cost, Fidelity, OpMapping, OpPlan};
pub use calib::Calibration;
pub use kernels::{Device, GemmProblem, KernelClass, KernelEstimate};
pub use spec::{GpuSpec, TensorPeaks, PRESETS};

/// How kernels are launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LaunchMode {
    /// One host launch per kernel from an eager framework: a kernel takes at least the host's
    /// launch cost (`launch_us`), since the GPU waits for the host when kernels are short.
    Eager,
    /// The whole step replayed from one CUDA graph: the GPU's own time plus a small launch gap
    /// per kernel (the default: what a serving engine does, and the hardware's own time).
    #[default]
    #[serde(rename = "cudagraph")]
    CudaGraph,
    /// Each kernel timed alone, as a microbenchmark times it (CUDA events around one eager
    /// call, cold L2): the harness's fixed cost per kernel and no in-network effects. The
    /// conditions of the calibration CSVs, for holding archsim against your own
    /// microbenchmarks.
    Isolated,
}

impl LaunchMode {
    /// `eager` or `cudagraph`.
    pub fn name(self) -> &'static str {
        match self {
            LaunchMode::Eager => "eager",
            LaunchMode::CudaGraph => "cudagraph",
            LaunchMode::Isolated => "isolated",
        }
    }
}

fn default_preset() -> String {
    "h100_sxm".into()
}

/// The `accelerator:` section for `kind: gpu`: a preset, the launch mode, and optional
/// overrides of any resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuConfig {
    /// `h100_sxm` (default; calibrated), `a100_80gb`, `h200`, `rtx4090`, `l4`, `a10g`, `a40`
    /// or `l40s`.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// `cudagraph` (default: one graph replay, the GPU's own time), `eager` (launched from
    /// Python one op at a time) or `isolated` (each kernel alone, as a microbenchmark).
    #[serde(default)]
    pub launch: LaunchMode,
    /// Run fp32 matmuls on TF32 tensor cores (default false, PyTorch's default for matmuls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_tf32: Option<bool>,
    /// Fold each BatchNorm into the conv before it, as inference compilers (TensorRT,
    /// `torch.compile` with frozen weights) do. Default false: PyTorch runs a network's
    /// BatchNorms as kernels of their own, in eager mode and in CUDA graphs alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold_batchnorm: Option<bool>,
    /// Override: streaming multiprocessors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub sms: Option<u32>,
    /// Override: SM clock in MHz at which the peaks are quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub clock_mhz: Option<f64>,
    /// Override: dense tensor-core peaks in TFLOP/s per type (`{tf32, bf16, fp16, fp8, int8}`,
    /// each optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_tflops: Option<TensorPeaks>,
    /// Override: CUDA-core FP32 peak in TFLOP/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub cuda_tflops: Option<f64>,
    /// Override: device memory capacity in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub hbm_gb: Option<f64>,
    /// Override: device memory bandwidth in GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub hbm_gbps: Option<f64>,
    /// Override: L2 size in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_MB), extend("exclusiveMinimum" = 0))]
    pub l2_mb: Option<f64>,
    /// Override: L2 bandwidth in GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub l2_gbps: Option<f64>,
    /// Override: shared memory per SM in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_MB), extend("exclusiveMinimum" = 0))]
    pub smem_kib: Option<f64>,
    /// Override: host link (PCIe) bandwidth in GB/s, one direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub host_link_gbps: Option<f64>,
    /// Override: NVLink bandwidth in GB/s, one direction per GPU (0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = crate::ranges::MAX_GB_S))]
    pub nvlink_gbps: Option<f64>,
    /// Override: host cost of one eager kernel launch in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub launch_us: Option<f64>,
    /// Override: board power in W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_W), extend("exclusiveMinimum" = 0))]
    pub tdp_w: Option<f64>,
}

impl GpuConfig {
    /// A preset with no overrides.
    pub fn preset(name: &str, launch: LaunchMode) -> Self {
        GpuConfig {
            preset: name.into(),
            launch,
            allow_tf32: None,
            fold_batchnorm: None,
            sms: None,
            clock_mhz: None,
            tensor_tflops: None,
            cuda_tflops: None,
            hbm_gb: None,
            hbm_gbps: None,
            l2_mb: None,
            l2_gbps: None,
            smem_kib: None,
            host_link_gbps: None,
            nvlink_gbps: None,
            launch_us: None,
            tdp_w: None,
        }
    }

    /// The resources: the preset with the overrides applied, validated. Errors name the key
    /// relative to the `accelerator:` section.
    pub fn resolve(&self) -> Result<GpuSpec, AccelError> {
        let bad = |key: &str, reason: String| AccelError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let mut s = GpuSpec::preset(&self.preset).ok_or_else(|| {
            bad(
                "preset",
                format!(
                    "unknown preset `{}`; known presets: {}",
                    self.preset,
                    PRESETS.join(", ")
                ),
            )
        })?;
        let custom = [
            self.sms.is_some(),
            self.clock_mhz.is_some(),
            self.tensor_tflops.is_some(),
            self.cuda_tflops.is_some(),
            self.hbm_gb.is_some(),
            self.hbm_gbps.is_some(),
            self.l2_mb.is_some(),
            self.l2_gbps.is_some(),
            self.smem_kib.is_some(),
            self.host_link_gbps.is_some(),
            self.nvlink_gbps.is_some(),
            self.launch_us.is_some(),
            self.tdp_w.is_some(),
        ]
        .iter()
        .any(|&b| b);
        if let Some(v) = self.sms {
            if v == 0 {
                return Err(bad("sms", "must be at least 1".into()));
            }
            s.sms = v;
        }
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(bad(key, format!("must be a positive number, got {v}")))
            }
        };
        let non_negative = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(bad(key, format!("must be a non-negative number, got {v}")))
            }
        };
        for (key, over, field) in [
            ("clock_mhz", self.clock_mhz, &mut s.clock_mhz),
            ("cuda_tflops", self.cuda_tflops, &mut s.cuda_tflops),
            ("hbm_gb", self.hbm_gb, &mut s.hbm_gb),
            ("hbm_gbps", self.hbm_gbps, &mut s.hbm_gbps),
            ("l2_mb", self.l2_mb, &mut s.l2_mb),
            ("l2_gbps", self.l2_gbps, &mut s.l2_gbps),
            ("smem_kib", self.smem_kib, &mut s.smem_kib),
            ("host_link_gbps", self.host_link_gbps, &mut s.host_link_gbps),
            ("tdp_w", self.tdp_w, &mut s.tdp_w),
        ] {
            if let Some(v) = over {
                *field = positive(key, v)?;
            }
        }
        if s.clock_mhz > crate::MAX_FREQ_MHZ {
            return Err(bad(
                "clock_mhz",
                "must be at most 100000 (100 GHz)".to_string(),
            ));
        }
        if let Some(v) = self.nvlink_gbps {
            s.nvlink_gbps = non_negative("nvlink_gbps", v)?;
        }
        if let Some(v) = self.launch_us {
            s.launch_us = non_negative("launch_us", v)?;
            if v > 1e9 {
                return Err(bad("launch_us", "must be at most 1e9 µs".to_string()));
            }
        }
        if let Some(t) = &self.tensor_tflops {
            for (key, over, field) in [
                ("tf32", t.tf32, &mut s.tensor_tflops.tf32),
                ("bf16", t.bf16, &mut s.tensor_tflops.bf16),
                ("fp16", t.fp16, &mut s.tensor_tflops.fp16),
                ("fp8", t.fp8, &mut s.tensor_tflops.fp8),
                ("int8", t.int8, &mut s.tensor_tflops.int8),
            ] {
                if let Some(v) = over {
                    *field = Some(positive(&format!("tensor_tflops.{key}"), v)?);
                }
            }
        }
        if custom {
            s.name = format!("{}+overrides", s.name);
        }
        Ok(s)
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), AccelError> {
        self.resolve().map(|_| ())
    }
}

/// The GPU model built from a validated config.
#[derive(Debug, Clone)]
pub struct Gpu {
    /// Resources.
    pub spec: GpuSpec,
    /// Calibration constants.
    pub cal: Calibration,
    /// Launch mode.
    pub launch: LaunchMode,
    /// fp32 matmuls on TF32 tensor cores.
    pub allow_tf32: bool,
    /// BatchNorms folded into their convs (no kernel of their own).
    pub fold_batchnorm: bool,
}

impl Gpu {
    /// Builds the model from the `accelerator:` section, with the H100 calibration.
    pub fn new(cfg: &GpuConfig) -> Result<Gpu, AccelError> {
        Ok(Gpu {
            spec: cfg.resolve()?,
            cal: Calibration::h100(),
            launch: cfg.launch,
            allow_tf32: cfg.allow_tf32.unwrap_or(false),
            fold_batchnorm: cfg.fold_batchnorm.unwrap_or(false),
        })
    }

    /// A model from explicit resources and constants (for calibration and studies).
    pub fn from_parts(spec: GpuSpec, cal: Calibration, launch: LaunchMode) -> Gpu {
        Gpu {
            spec,
            cal,
            launch,
            allow_tf32: false,
            fold_batchnorm: false,
        }
    }

    /// The kernel-model view of the hardware.
    pub fn device(&self) -> Device<'_> {
        Device {
            spec: &self.spec,
            cal: &self.cal,
            allow_tf32: self.allow_tf32,
            fold_batchnorm: self.fold_batchnorm,
        }
    }

    /// The kernel-model view for pricing a framework program: convolutions priced alone
    /// ([`program::lower`] adds PyTorch's BatchNorm kernels itself).
    pub fn device_for_program(&self) -> Device<'_> {
        Device {
            fold_batchnorm: true,
            ..self.device()
        }
    }

    /// The kernels of `op` (launch overheads excluded).
    pub fn kernel(&self, op: &Op) -> KernelEstimate {
        self.device().op(op)
    }

    /// GPU-side time in seconds of a kernel estimate inside a network (stream context): its
    /// body plus the launch gap of each kernel (graph replay, or the host's queue when eager).
    pub fn stream_latency(&self, e: &KernelEstimate) -> f64 {
        if e.launches == 0 {
            return 0.0;
        }
        f64::from(e.launches) * self.gap_s() + e.body_s
    }

    /// What separates two kernels on the GPU: the graph's launch gap, the host queue's gap,
    /// or (isolated) the harness's fixed cost.
    fn gap_s(&self) -> f64 {
        match self.launch {
            LaunchMode::CudaGraph => self.cal.graph_launch_us,
            LaunchMode::Eager => self.cal.queued_launch_us,
            LaunchMode::Isolated => self.cal.harness_floor_us,
        }
        .max(0.0)
            * 1e-6
    }

    /// GPU time of an op's kernels in its context: each kernel's body plus its gap.
    pub fn program_latency(&self, k: &program::OpKernels) -> f64 {
        k.kernels.iter().map(|k| self.gap_s() + k.est.body_s).sum()
    }

    /// Host time in seconds to issue the kernels of an estimate: `launch_us` per kernel when
    /// eager, nothing when replayed from a CUDA graph.
    pub fn issue_latency(&self, e: &KernelEstimate) -> f64 {
        match self.launch {
            LaunchMode::CudaGraph | LaunchMode::Isolated => 0.0,
            LaunchMode::Eager => f64::from(e.launches) * self.spec.launch_us * 1e-6,
        }
    }

    /// Host time in seconds to issue an op's program: one framework call per op when eager.
    pub(crate) fn host_latency(&self, k: &program::OpKernels) -> f64 {
        match self.launch {
            LaunchMode::Eager => f64::from(k.host_calls) * self.spec.launch_us * 1e-6,
            _ => 0.0,
        }
    }

    /// GPU-side time in seconds of `op` inside a network (launch gap included, host issue
    /// excluded).
    pub fn op_latency(&self, op: &Op) -> f64 {
        self.stream_latency(&self.kernel(op))
    }

    /// Latency in seconds of `op` as the calibration harness measures it alone (CUDA events
    /// around an eager call, cold L2): what the H100 CSVs hold.
    pub fn isolated_latency(&self, op: &Op) -> f64 {
        let e = self.kernel(op);
        f64::from(e.launches) * self.cal.harness_floor_us * 1e-6 + e.body_s
    }

    /// Latency in seconds of one pass over the workload (one forward, one prefill or one
    /// decode step) on one stream: the same figure as the report's `latency_s` (up to cycle
    /// rounding) without building a report.
    ///
    /// Kernels run in program order. With CUDA graphs the step takes the sum of the kernels'
    /// GPU times; when eager, the host issues kernel `i` at `Σ_{j≤i} issue_j` and the GPU starts
    /// it at `max(issued, previous kernel's end)`, so the host's launch cost hides behind long
    /// kernels and shows between short ones.
    pub fn predict(&self, w: &Workload) -> f64 {
        use std::cell::Cell;
        let (host, end) = (Cell::new(0.0f64), Cell::new(0.0f64));
        // The host issues an op `h` after the previous one; the GPU runs it for `t` once both
        // it and the host are ready.
        let advance = |h: f64, t: f64| {
            host.set(host.get() + h);
            end.set(end.get().max(host.get()) + t);
        };
        let step = |k: &program::OpKernels| {
            if !k.kernels.is_empty() {
                advance(self.host_latency(k), self.program_latency(k));
            }
        };
        // Repeated layers: each op's (host, GPU) time once, then the recurrence alone.
        let mut block = |layer: &[program::OpKernels], times: usize| {
            let costs: Vec<(f64, f64)> = layer
                .iter()
                .filter(|k| !k.kernels.is_empty())
                .map(|k| (self.host_latency(k), self.program_latency(k)))
                .collect();
            for _ in 0..times {
                for &(h, t) in &costs {
                    advance(h, t);
                }
            }
        };
        program::walk_with(self, w, true, |_, k| step(k), Some(&mut block));
        end.get()
    }

    /// Maps, schedules and reports `w` on this GPU: [`pipeline::evaluate`] with the host's
    /// eager launch queue applied to the stream (an op waits for its launch; the wait is
    /// reported as stall cycles).
    ///
    /// [`pipeline::evaluate`]: crate::pipeline::evaluate
    pub fn evaluate(
        &self,
        w: &Workload,
        config_hash: &str,
        seed: u64,
    ) -> Result<archsim_sim::Report, AccelError> {
        use crate::pipeline;
        let prog = program::lower(self, w);
        let mut at = vec![usize::MAX; program::node_bound(w)];
        for (i, (n, _)) in prog.iter().enumerate() {
            at[n.index()] = i;
        }
        let m = pipeline::mapping_by(w, self, |n, op| Ok(self.price(op, &prog[at[n.index()]].1)))?;
        let mut s = pipeline::schedule(&m, self)?;
        if self.launch == LaunchMode::Eager {
            // One stream: the slots run back to back in start order, each behind its launch.
            let mut order: Vec<usize> = (0..s.slots.len()).collect();
            order.sort_by_key(|&i| (s.slots[i].start, i));
            let (mut host, mut end) = (0.0f64, 0u64);
            for i in order {
                // The mapping lists the ops in the topological order the program has.
                host += self.host_latency(&prog[i].1);
                let slot = &mut s.slots[i];
                let busy = slot.end.get() - slot.start.get();
                let ready = self.cycles(host).max(end);
                slot.start = archsim_sim::Cycle(end);
                slot.end = archsim_sim::Cycle(ready + busy);
                slot.contention_cycles = ready - end;
                end = ready + busy;
            }
            s.makespan = archsim_sim::Cycle(end);
        }
        Ok(pipeline::report(&m, &s, self, config_hash, seed))
    }

    /// The mapping and cost of an op from its program's kernels.
    fn price(&self, op: &Op, k: &program::OpKernels) -> (OpMapping<GpuPlan>, Cost) {
        let latency = self.program_latency(k);
        let main = k
            .kernels
            .iter()
            .max_by(|a, b| a.est.body_s.total_cmp(&b.est.body_s))
            .map(|k| k.est);
        let total = self.cycles(latency);
        let compute_s: f64 = k.kernels.iter().map(|k| k.est.compute_s.min(k.est.body_s)).sum();
        let compute = self.cycles(compute_s).min(total);
        let hbm: f64 = k.kernels.iter().map(|k| k.est.hbm_bytes).sum();
        let l2: f64 = k.kernels.iter().map(|k| k.est.l2_bytes).sum();
        let bound = match (&main, k.fused_into) {
            (_, Some(_)) => "fused".to_string(),
            (Some(e), _) => e.bound().to_string(),
            (None, _) => "launch".to_string(),
        };
        let plan = GpuPlan {
            kernel: main.map_or("view", |e| e.class.name()).to_string(),
            tile: main.map_or([0, 0], |e| e.tile),
            split: main.map_or(1, |e| e.split),
            waves: main.map_or(0, |e| e.waves),
            launches: k.kernels.len() as u32,
            bound,
            kernels: k
                .kernels
                .iter()
                .map(|k| archsim_sim::KernelRow {
                    name: k.name.to_string(),
                    family: k.family.name().to_string(),
                    time_s: k.est.body_s,
                })
                .collect(),
        };
        let cost = Cost {
            compute_cycles: compute,
            stall_cycles: total - compute,
            dram_bytes: hbm.round() as u64,
            bytes: vec![("hbm", hbm.round() as u64), ("l2", l2.round() as u64)],
            energy_pj: self.spec.tdp_w * latency * 1e12,
            mac_slots: if op.macs() > 0 {
                self.mac_slots(op.dtype)
            } else {
                0
            },
        };
        (OpMapping { engine: STREAM, plan }, cost)
    }

    fn cycles(&self, seconds: f64) -> u64 {
        (seconds * self.spec.clock_mhz * 1e6).round().max(0.0) as u64
    }

    /// MACs per cycle of the whole GPU at `dtype`'s datasheet peak.
    fn mac_slots(&self, dtype: DType) -> u64 {
        let (peak, _) = self.spec.matmul_peak(dtype, self.allow_tf32);
        (peak / 2.0 / (self.spec.clock_mhz * 1e6)).round().max(1.0) as u64
    }
}

/// The GPU family's mapping of one op ([`Accelerator::Plan`] of [`Gpu`]): the kernel(s) that
/// run it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "gpu")]
pub struct GpuPlan {
    /// Kernel family (`gemm`, `gemm_narrow`, `implicit_gemm`, `flash_attention`, …).
    pub kernel: String,
    /// Output tile `[bm, bn]` of a tiled kernel (`[0, 0]` otherwise).
    pub tile: [u32; 2],
    /// K splits (GEMM) or KV splits (flash-decoding).
    pub split: u32,
    /// Waves of CTAs over the SMs.
    pub waves: u64,
    /// Kernels launched.
    pub launches: u32,
    /// `compute`, `memory` or `launch`.
    pub bound: String,
    /// Every kernel priced for the op, in launch order (the framework's program).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernels: Vec<archsim_sim::KernelRow>,
}

impl OpPlan for GpuPlan {
    fn summary(&self) -> String {
        let mut s = self.kernel.clone();
        if self.tile[0] > 0 {
            s.push_str(&format!(" {}x{}", self.tile[0], self.tile[1]));
        }
        if self.split > 1 {
            s.push_str(&format!(" split {}", self.split));
        }
        if self.waves > 1 {
            s.push_str(&format!(" {} waves", self.waves));
        }
        s.push_str(&format!(" ({})", self.bound));
        s
    }
    fn kernels(&self) -> Vec<archsim_sim::KernelRow> {
        self.kernels.clone()
    }
}

/// Index of the stream engine and the HBM memory in [`Gpu::resources`].
const STREAM: usize = 0;
const HBM: usize = 0;

impl Accelerator for Gpu {
    type Plan = GpuPlan;

    fn name(&self) -> String {
        format!("gpu {} ({})", self.spec.name, self.launch.name())
    }

    fn fidelity(&self) -> Fidelity {
        Fidelity::Analytic
    }

    fn resources(&self) -> Resources {
        Resources {
            engines: vec![Engine {
                name: "stream".into(),
            }],
            // Bandwidth is priced inside each kernel's cost; the scheduler checks capacity.
            memories: vec![Memory {
                name: "hbm".into(),
                capacity_bytes: Some(self.spec.hbm_bytes() as u64),
                bandwidth_bytes_per_cycle: None,
            }],
        }
    }

    fn dram(&self) -> Option<usize> {
        Some(HBM)
    }

    fn map(&self, op: &Op) -> Result<OpMapping<GpuPlan>, AccelError> {
        let e = self.kernel(op);
        Ok(OpMapping {
            engine: STREAM,
            plan: GpuPlan {
                kernel: e.class.name().to_string(),
                tile: e.tile,
                split: e.split,
                waves: e.waves,
                launches: e.launches,
                bound: e.bound().to_string(),
                kernels: Vec::new(),
            },
        })
    }

    fn cost(&self, op: &Op, mapping: &OpMapping<GpuPlan>) -> Cost {
        let p = &mapping.plan;
        let plan = (p.tile[0] > 0).then_some((p.tile, p.split));
        let e = self.device().op_planned(op, plan);
        let latency = self.stream_latency(&e);
        let total = self.cycles(latency);
        let compute = self.cycles(e.compute_s).min(total);
        Cost {
            compute_cycles: compute,
            stall_cycles: total - compute,
            dram_bytes: e.hbm_bytes.round() as u64,
            bytes: vec![
                ("hbm", e.hbm_bytes.round() as u64),
                ("l2", e.l2_bytes.round() as u64),
            ],
            // Board power while the kernel runs: an upper bound on the energy.
            energy_pj: self.spec.tdp_w * latency * 1e12,
            mac_slots: if op.macs() > 0 {
                self.mac_slots(op.dtype)
            } else {
                0
            },
        }
    }

    fn freq_mhz(&self) -> f64 {
        self.spec.clock_mhz
    }

    fn mac_units(&self) -> u64 {
        self.mac_slots(DType::Bf16)
    }

    fn area_mm2(&self) -> f64 {
        self.spec.die_mm2
    }
}


/// The GPU section of an `accelerator:` config, when its kind is `gpu` (for GPU-only tools
/// such as `archsim validate`).
pub fn config_of(acc: &crate::AcceleratorConfig) -> Option<&GpuConfig> {
    <Box<GpuConfig> as crate::family::Registered>::of(acc).map(|c| &**c)
}

impl crate::family::FamilyConfig for GpuConfig {
    const LLM_METRICS: bool = true;
    fn presets() -> Vec<&'static str> {
        PRESETS.to_vec()
    }
    /// The preset's tensor-core peak at `dtype` (fp16 falling back to bf16 and back; int8;
    /// fp8; tf32 for fp32) and its HBM.
    fn datasheet(&self, dtype: DType) -> Option<Result<crate::family::Datasheet, AccelError>> {
        Some(self.resolve().map(|spec| {
            let t = spec.tensor_tflops;
            let peak = match dtype {
                DType::Fp16 | DType::Bf16 => t.fp16.or(t.bf16),
                DType::Fp8 => t.fp8,
                DType::Int8 => t.int8,
                DType::Fp32 => t.tf32,
            };
            crate::family::Datasheet {
                peak_flops: peak.map(|p| p * 1e12),
                mem_bytes: spec.hbm_gb * 1e9,
            }
        }))
    }
    fn validate(&self) -> Result<(), AccelError> {
        GpuConfig::validate(self)
    }
    /// An expert-parallel step spans `tp × ep` GPUs of one NVSwitch node of eight.
    fn reconcile(
        &mut self,
        _given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), crate::config::KeyError> {
        crate::collective::check_expert_parallel_node(
            workload,
            crate::collective::NODE_DEVICES,
            "a GPU node holds 8 GPUs on one NVSwitch",
        )
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        Ok(Box::new(Gpu::new(self)?))
    }
}

crate::family::per_op_family!(Gpu, own run_graph {
    /// The op graph's report, and for an `llm:` step its serving metrics (TTFT, TPOT, memory,
    /// largest batch, KV-cache swapping); a model whose weights do not fit in device memory is
    /// an out-of-memory error.
    fn run_graph(
        &self,
        w: &Workload,
        ctx: &crate::family::Context<'_>,
    ) -> Result<archsim_sim::Report, AccelError> {
        let serving = match ctx.llm {
            Some(l) => Some(llm::metrics(self, l, ctx.dtype)?),
            None => None,
        };
        Ok(Gpu::evaluate(self, w, ctx.config_hash, ctx.seed)?.with_llm(serving))
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_workloads::OpKind;
    use archsim_workloads::{single_gemm, zoo};

    #[test]
    fn batchnorms_are_kernels_of_their_own_unless_folded() {
        let w = zoo::resnet18(1, DType::Bf16).unwrap();
        let convs_with_bn = w
            .ops()
            .filter(|o| matches!(&o.kind, OpKind::Conv2d(c) if c.folded_bn))
            .count() as u32;
        assert_eq!(
            convs_with_bn, 20,
            "every ResNet-18 conv but none is followed by a BN"
        );
        let mut cfg = GpuConfig::preset("h100_sxm", LaunchMode::Eager);
        let launches = |g: &Gpu| -> u32 { w.ops().map(|o| g.kernel(o).launches).sum() };
        let framework = Gpu::new(&cfg).unwrap();
        cfg.fold_batchnorm = Some(true);
        let compiler = Gpu::new(&cfg).unwrap();
        assert_eq!(launches(&framework), launches(&compiler) + convs_with_bn);
        // Eager ResNet-18 is launch-bound: 20 more launches of ~20 µs each.
        let extra = framework.predict(&w) - compiler.predict(&w);
        assert!(extra > 20.0 * 15e-6 && extra < 20.0 * 25e-6, "{extra}");
    }

    #[test]
    fn every_preset_builds() {
        for p in PRESETS {
            let g = Gpu::new(&GpuConfig::preset(p, LaunchMode::Eager)).unwrap();
            assert!(g.spec.sms > 0 && g.spec.hbm_gbps > 0.0, "{p}");
        }
    }

    /// The serving presets from their datasheets: the dense bf16 peaks quoted, and a
    /// memory-bound LLaMA-2-7B decode ordered by memory bandwidth (A10G 600 GB/s, A40 696,
    /// L40S 864), each slower than the H100's 3350.
    #[test]
    fn serving_presets_follow_their_datasheets() {
        let step = archsim_workloads::llm::LlmConfig {
            model: "llama2_7b".into(),
            phase: archsim_workloads::llm::Phase::Decode,
            batch: 1,
            prompt_len: 128,
            context_len: Some(129),
            ..Default::default()
        };
        let w = archsim_workloads::llm::lower(&step, DType::Bf16).unwrap();
        let mut last = f64::INFINITY;
        for (p, bf16, gbps) in [
            ("a10g", 70.0, 600.0),
            ("a40", 149.7, 696.0),
            ("l40s", 362.05, 864.0),
            ("h100_sxm", 989.4, 3350.0),
        ] {
            let g = Gpu::new(&GpuConfig::preset(p, LaunchMode::CudaGraph)).unwrap();
            assert_eq!(g.spec.matmul_peak(DType::Bf16, false), (bf16 * 1e12, true), "{p}");
            assert_eq!(g.spec.hbm_gbps, gbps);
            let t = g.predict(&w);
            // 13.5 GB of weights: at least their read at the datasheet bandwidth.
            assert!(t > 13.4e9 / (gbps * 1e9), "{p}: {t}");
            assert!(t < last, "{p}: {t} not below {last}");
            last = t;
        }
        let fp8 = |p: &str| GpuSpec::preset(p).unwrap().tensor_tflops.fp8;
        assert_eq!((fp8("a10g"), fp8("a40"), fp8("l40s")), (None, None, Some(733.0)));
    }

    #[test]
    fn bad_configs_name_the_key() {
        let mut c = GpuConfig::preset("h100", LaunchMode::CudaGraph);
        let e = Gpu::new(&c).unwrap_err().to_string();
        assert!(
            e.starts_with("accelerator.preset: unknown preset `h100`"),
            "{e}"
        );
        c.preset = "h100_sxm".into();
        c.hbm_gbps = Some(0.0);
        let e = Gpu::new(&c).unwrap_err().to_string();
        assert!(
            e.starts_with("accelerator.hbm_gbps: must be a positive"),
            "{e}"
        );
        c.hbm_gbps = None;
        c.tensor_tflops = Some(TensorPeaks {
            bf16: Some(f64::NAN),
            ..TensorPeaks::default()
        });
        let e = Gpu::new(&c).unwrap_err().to_string();
        assert!(e.starts_with("accelerator.tensor_tflops.bf16:"), "{e}");
        c.tensor_tflops = None;
        c.sms = Some(0);
        assert!(Gpu::new(&c).is_err());
    }

    #[test]
    fn overrides_change_the_resources() {
        let mut c = GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph);
        c.hbm_gbps = Some(6700.0);
        let fast = Gpu::new(&c).unwrap();
        let slow = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap();
        let w = single_gemm(1, 8192, 8192, DType::Bf16).unwrap();
        assert!(fast.predict(&w) < 0.6 * slow.predict(&w));
        assert_eq!(fast.spec.name, "h100_sxm+overrides");
    }

    #[test]
    fn eager_is_launch_bound_for_small_batches() {
        let w = zoo::build("resnet18", 1, DType::Bf16).unwrap();
        let g = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap();
        let e = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::Eager)).unwrap();
        let (pg, pe) = (g.predict(&w), e.predict(&w));
        // Batch-1 ResNet-18 is launch-bound when eager: about one host launch per kernel (a
        // conv and its BatchNorm are two).
        let kernels: f64 = w.ops().map(|o| f64::from(e.kernel(o).launches)).sum();
        assert!(pe > 2.0 * pg, "{pe} vs {pg}");
        assert!((pe - kernels * e.spec.launch_us * 1e-6).abs() / pe < 0.05);
        // The report's eager schedule agrees with predict.
        let r = e.evaluate(&w, "t", 0).unwrap();
        assert!(
            (r.latency_s - pe).abs() / pe < 1e-3,
            "{} vs {pe}",
            r.latency_s
        );
        assert!(r.stall_cycles > r.compute_cycles);
    }

    #[test]
    fn report_latency_matches_predict_and_every_op_is_priced() {
        let w = zoo::build("resnet50", 8, DType::Bf16).unwrap();
        let g = Gpu::new(&GpuConfig::preset("a100_80gb", LaunchMode::CudaGraph)).unwrap();
        let r = g.evaluate(&w, "t", 0).unwrap();
        let p = g.predict(&w);
        assert!((r.latency_s - p).abs() / p < 1e-3, "{} vs {p}", r.latency_s);
        let sum: f64 = r.ops.iter().map(|o| o.latency_s).sum();
        assert!((sum - r.latency_s).abs() / p < 1e-3);
        assert!(r.ops.iter().all(|o| o.utilization <= 1.0));
    }
}

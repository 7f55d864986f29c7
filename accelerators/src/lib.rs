//! # archsim-accelerators — hardware models
//!
//! The second stage of archsim's data flow: each hardware family maps ops onto its engines and
//! prices them with a pure cost function; [`pipeline`] then asks `archsim-sim` for a timed
//! schedule and assembles the [`Report`].
//!
//! ```text
//! config.yaml ──► Workload ──► Mapping ──► Schedule ──► Report
//!                              ^^^^^^^
//!          Accelerator::map(op) -> OpMapping      (engine, folding)
//!          Accelerator::cost(op, mapping) -> Cost (cycles, stalls, bytes, energy)
//! ```
//!
//! `cost` is pure: no clock, no RNG, no I/O. Contention between concurrent ops for shared
//! memory bandwidth is resolved by the scheduler in `archsim-sim`, not by the model.
//!
//! Families today: [`systolic`] (SCALE-Sim v3 parity) and [`gpu`] (calibrated on a measured
//! H100) behind the [`Accelerator`] trait, and [`soc`], a heterogeneous SoC that runs streams
//! of job DAGs (DS3) with online schedulers (its own event-driven engine on archsim-sim's event
//! queue, since its unit is a task on a PE, not an op on an engine), [`hetero`] (several systolic
//! sub-accelerators sharing DRAM, running several networks at once, after NASAIC, DAC 2020),
//! [`npu_pim`] (an NPU beside HBM-PIM after NeuPIMs) and [`rdu`] (a dataflow RDU after SambaNova
//! SN40L, which prices fused sections rather than single ops).
//!
//! ```
//! use archsim_accelerators::{pipeline, systolic::{Dataflow, Systolic, SystolicConfig}};
//! use archsim_workloads::{zoo, DType};
//!
//! let w = zoo::build("resnet18", 1, DType::Int8).unwrap();
//! let acc = Systolic::new(SystolicConfig::new(128, 128, Dataflow::Os)).unwrap();
//! let report = pipeline::evaluate(&w, &acc, "doc", 0).unwrap();
//! assert_eq!(report.macs, w.total_macs());
//! assert!(report.utilization > 0.0 && report.utilization <= 1.0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod coe;
pub mod config;
pub mod energy;
pub mod gpu;
pub mod hetero;
pub mod npu_pim;
pub mod pipeline;
pub mod rdu;
pub mod soc;
pub mod systolic;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use archsim_sim::{Resources, SimError};
use archsim_workloads::Op;

/// How closely a model follows the hardware, so tests know which tolerance applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Closed-form roofline-style model.
    Analytic,
    /// Closed-form or fold-level model that reproduces a cycle-level reference.
    CycleApprox,
    /// Driven by an event or trace simulation.
    EventDriven,
}

/// Errors of the mapping and scheduling stages.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AccelError {
    /// A config value is out of range. Fatal for this design point; agents treat it as
    /// an infeasible point.
    #[error("accelerator.{key}: {reason}")]
    InvalidConfig {
        /// Key relative to the `accelerator:` section.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An op cannot run on this accelerator (infeasible design point).
    #[error("op `{op}` cannot be mapped on {accelerator}: {reason}")]
    Mapping {
        /// Op name.
        op: String,
        /// Accelerator description.
        accelerator: String,
        /// Why.
        reason: String,
    },
    /// The workload does not fit in the accelerator's memory (infeasible design point).
    #[error("out of memory on {accelerator}: {reason}")]
    OutOfMemory {
        /// Accelerator description.
        accelerator: String,
        /// What does not fit, with the sizes.
        reason: String,
    },
    /// The scheduler failed.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Where and how an op runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpMapping {
    /// Index of the engine in [`Accelerator::resources`].
    pub engine: usize,
    /// Family-specific plan.
    pub plan: Plan,
}

/// Family-specific mapping details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Plan {
    /// Folding of each matrix product of the op onto a systolic array (one for a conv or a
    /// GEMM, two for attention), run one after the other.
    Systolic {
        /// One fold plan per product.
        folds: Vec<systolic::Fold>,
    },
    /// An element-wise or pooling op on a vector unit.
    Vector {
        /// SIMD lanes.
        lanes: u64,
    },
    /// The kernel(s) of an op on a GPU.
    Gpu {
        /// Kernel family (`gemm`, `gemm_narrow`, `implicit_gemm`, `flash_attention`, …).
        kernel: String,
        /// Output tile `[bm, bn]` of a tiled kernel (`[0, 0]` otherwise).
        tile: [u32; 2],
        /// K splits (GEMM) or KV splits (flash-decoding).
        split: u32,
        /// Waves of CTAs over the SMs.
        waves: u64,
        /// Kernels launched.
        launches: u32,
        /// `compute`, `memory` or `launch`.
        bound: String,
    },
    /// A GEMV on processing-in-memory banks: every bank of every channel streams its rows
    /// through its MAC unit.
    Pim {
        /// Channels.
        channels: u64,
        /// Banks per channel.
        banks: u64,
        /// Rows each bank streams (per GEMV of the op).
        rows_per_bank: u64,
        /// Blocked mode: the PIM holds the memory bus while it computes.
        blocked: bool,
    },
}

impl Plan {
    /// One-line summary for reports, e.g. `os 95x1 folds`.
    pub fn summary(&self) -> String {
        match self {
            Plan::Systolic { folds } => folds
                .iter()
                .map(|f| {
                    let g = if f.groups > 1 {
                        format!(" x{} groups", f.groups)
                    } else {
                        String::new()
                    };
                    format!(
                        "{} {}x{} folds{g}",
                        f.dataflow.name(),
                        f.row_folds,
                        f.col_folds
                    )
                })
                .collect::<Vec<_>>()
                .join(" + "),
            Plan::Vector { lanes } => format!("vector {lanes} lanes"),
            Plan::Gpu {
                kernel,
                tile,
                split,
                waves,
                bound,
                ..
            } => {
                let mut s = kernel.clone();
                if tile[0] > 0 {
                    s.push_str(&format!(" {}x{}", tile[0], tile[1]));
                }
                if *split > 1 {
                    s.push_str(&format!(" split {split}"));
                }
                if *waves > 1 {
                    s.push_str(&format!(" {waves} waves"));
                }
                s.push_str(&format!(" ({bound})"));
                s
            }
            Plan::Pim {
                channels,
                banks,
                rows_per_bank,
                blocked,
            } => format!(
                "pim {channels}ch x {banks} banks, {rows_per_bank} rows/bank{}",
                if *blocked { " (blocked)" } else { "" }
            ),
        }
    }
}

/// The price of one op under one mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Cycles the engine computes.
    pub compute_cycles: u64,
    /// Cycles it waits for memory when it has the memory to itself.
    pub stall_cycles: u64,
    /// Bytes moved through off-chip memory.
    pub dram_bytes: u64,
    /// Bytes moved per memory level.
    pub bytes: Vec<(&'static str, u64)>,
    /// Dynamic energy in picojoules.
    pub energy_pj: f64,
    /// MAC units of the engine (0 for engines without MACs).
    pub mac_slots: u64,
}

impl Cost {
    /// The cost of running `parts` one after the other on the same engine.
    pub fn sum(parts: Vec<Cost>) -> Cost {
        let mut total = Cost {
            compute_cycles: 0,
            stall_cycles: 0,
            dram_bytes: 0,
            bytes: Vec::new(),
            energy_pj: 0.0,
            mac_slots: 0,
        };
        for p in parts {
            total.compute_cycles += p.compute_cycles;
            total.stall_cycles += p.stall_cycles;
            total.dram_bytes += p.dram_bytes;
            total.energy_pj += p.energy_pj;
            total.mac_slots = total.mac_slots.max(p.mac_slots);
            for (level, b) in p.bytes {
                match total.bytes.iter_mut().find(|(l, _)| *l == level) {
                    Some(e) => e.1 += b,
                    None => total.bytes.push((level, b)),
                }
            }
        }
        total
    }
}

/// The highest clock a config may give, MHz (100 GHz): beyond it, cycle counts of long
/// workloads would overflow 64 bits.
pub const MAX_FREQ_MHZ: f64 = 1e5;

/// A hardware model.
pub trait Accelerator {
    /// Short description, e.g. `systolic 128x128 os`.
    fn name(&self) -> String;
    /// Fidelity of the model.
    fn fidelity(&self) -> Fidelity;
    /// Engines and memories, for the scheduler.
    fn resources(&self) -> Resources;
    /// Index of the off-chip memory in [`Accelerator::resources`], if any.
    fn dram(&self) -> Option<usize>;
    /// Chooses the engine and the tiling of one op.
    fn map(&self, op: &Op) -> Result<OpMapping, AccelError>;
    /// Prices one op under a mapping. Pure.
    fn cost(&self, op: &Op, mapping: &OpMapping) -> Cost;
    /// Clock in MHz.
    fn freq_mhz(&self) -> f64;
    /// MAC units on the chip (for utilization).
    fn mac_units(&self) -> u64;
    /// Chip area in mm².
    fn area_mm2(&self) -> f64;
}

/// The `accelerator:` section of a config, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AcceleratorConfig {
    /// A systolic array (`kind: systolic`).
    Systolic(systolic::SystolicConfig),
    /// A GPU (`kind: gpu`): a preset plus optional resource overrides.
    Gpu(Box<gpu::GpuConfig>),
    /// A heterogeneous SoC running job DAGs (`kind: soc`; needs a `jobs:` workload).
    Soc(soc::SocConfig),
    /// Several systolic sub-accelerators sharing DRAM (`kind: hetero`); runs a single
    /// workload on `assignment[0]`, or several concurrently with `workload: {tasks: [...]}`.
    Hetero(hetero::HeteroConfig),
    /// An NPU beside HBM-PIM (`kind: npu_pim`), after NeuPIMs.
    NpuPim(Box<npu_pim::NpuPimConfig>),
    /// A dataflow RDU socket (`kind: rdu`), after SambaNova SN40L.
    Rdu(Box<rdu::RduConfig>),
}

/// Kinds accepted in `accelerator.kind`.
pub const KINDS: &[&str] = &["systolic", "gpu", "soc", "hetero", "npu_pim", "rdu"];

impl AcceleratorConfig {
    /// Builds the model, validating the config.
    pub fn build(&self) -> Result<Box<dyn Accelerator + Send + Sync>, AccelError> {
        match self {
            AcceleratorConfig::Systolic(c) => Ok(Box::new(systolic::Systolic::new(c.clone())?)),
            AcceleratorConfig::Gpu(c) => Ok(Box::new(gpu::Gpu::new(c)?)),
            AcceleratorConfig::Hetero(c) => Ok(Box::new(hetero::Hetero::new(c.clone())?)),
            AcceleratorConfig::NpuPim(c) => match c.mode {
                npu_pim::PimMode::GpuOnly => Ok(Box::new(gpu::Gpu::new(&gpu::GpuConfig::preset(
                    &c.gpu_preset,
                    gpu::LaunchMode::CudaGraph,
                ))?)),
                _ => Ok(Box::new(npu_pim::NpuPim::new(c)?)),
            },
            AcceleratorConfig::Rdu(_) => Err(AccelError::InvalidConfig {
                key: "kind".into(),
                reason: "`rdu` runs through `rdu::evaluate` (sections, not per-op engines)".into(),
            }),
            AcceleratorConfig::Soc(_) => Err(AccelError::InvalidConfig {
                key: "kind".into(),
                reason: "`soc` runs a `jobs:` workload (see `soc::simulate`), not an op graph"
                    .into(),
            }),
        }
    }

    /// Validates the config without building the model.
    pub fn validate(&self) -> Result<(), AccelError> {
        match self {
            AcceleratorConfig::Systolic(c) => c.validate(),
            AcceleratorConfig::Gpu(c) => c.validate(),
            AcceleratorConfig::Soc(c) => c.validate(),
            AcceleratorConfig::Hetero(c) => c.validate(),
            AcceleratorConfig::NpuPim(c) => c.validate(),
            AcceleratorConfig::Rdu(c) => c.validate(),
        }
    }
}

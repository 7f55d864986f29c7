//! The per-op model of the NPU beside its PIM: how each op is routed (systolic arrays, vector
//! unit, PIM banks, link) and priced.

use serde::Serialize;

use archsim_sim::{Engine, Memory, Resources};
use archsim_workloads::{CollectiveFunc, GemmView, Op, OpKind};

use super::config::{ArrayTiming, NpuPimConfig, PimMode};
use super::dram::{stream_rows, ColumnMode, DramTiming, PERIOD_ROWS, SIM_ROWS};
use crate::collective::Links;
use crate::systolic::{Systolic, SystolicConfig};
use crate::{energy, AccelError, Accelerator, Cost, Fidelity, OpMapping, OpPlan};

/// The NPU+PIM family's mapping of one op ([`Accelerator::Plan`] of [`NpuPim`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NpuPimPlan {
    /// The matrix products of the op folded onto the NPU's systolic arrays.
    Systolic {
        /// One fold plan per product.
        folds: Vec<crate::systolic::Fold>,
    },
    /// The op on the NPU's vector unit (or, with 0 lanes, a collective on the link).
    Vector {
        /// SIMD lanes.
        lanes: u64,
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

impl OpPlan for NpuPimPlan {
    fn summary(&self) -> String {
        match self {
            NpuPimPlan::Systolic { folds } => crate::systolic::folds_summary(folds),
            NpuPimPlan::Vector { lanes } => crate::systolic::vector_summary(*lanes),
            NpuPimPlan::Pim {
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

const NPU: usize = 0;
const VECTOR: usize = 1;
const PIM: usize = 2;
const LINK: usize = 3;
const HBM: usize = 0;

/// The NPU+PIM model (modes other than `gpu_only`; see [`evaluate`] for that one).
#[derive(Debug, Clone)]
pub struct NpuPim {
    cfg: NpuPimConfig,
    array: Systolic,
    /// Channel time to stream 0..=SIM_ROWS rows per bank, PIM mode.
    pim_rows: Vec<u64>,
    /// Effective external bytes per cycle of the whole HBM (streaming reads, all channels).
    ext_bytes_per_cycle: f64,
}

impl NpuPim {
    /// Builds the model, validating the config.
    pub fn new(cfg: &NpuPimConfig) -> Result<NpuPim, AccelError> {
        cfg.validate()?;
        let mut sc = SystolicConfig::new(cfg.array_dim, cfg.array_dim, cfg.dataflow);
        sc.word_bytes = 2;
        sc.freq_mhz = cfg.freq_mhz;
        let array = Systolic::new(sc)?;
        let cols = cfg.row_bytes / cfg.burst_bytes;
        let banks = cfg.banks as usize;
        // PIM: one activation opens `pim_act_banks` banks, whose MAC units then take each
        // column command in lockstep, so a group of banks streams as one bank does; the
        // activations obey the PIM window (`pim_acts_per_faw` per tFAW).
        let pim_timing = DramTiming {
            faw_acts: cfg.pim_acts_per_faw,
            ..cfg.timing
        };
        let groups = (cfg.banks / cfg.pim_act_banks) as usize;
        let pim_cols = cfg.row_bytes / cfg.pim_col_bytes;
        let pim_rows = (0..=SIM_ROWS)
            .map(|r| stream_rows(&pim_timing, groups, pim_cols, r, ColumnMode::Pim))
            .collect();
        let ext = stream_rows(&cfg.timing, banks, cols, SIM_ROWS, ColumnMode::External);
        let bytes = SIM_ROWS * cfg.banks * cfg.row_bytes;
        Ok(NpuPim {
            ext_bytes_per_cycle: bytes as f64 / ext.max(1) as f64 * cfg.channels as f64,
            array,
            pim_rows,
            cfg: cfg.clone(),
        })
    }

    /// The config.
    pub fn config(&self) -> &NpuPimConfig {
        &self.cfg
    }

    /// Effective external bandwidth of the HBM for streaming reads, bytes per cycle (from the
    /// command-level simulation: row switches included).
    pub fn external_bytes_per_cycle(&self) -> f64 {
        self.ext_bytes_per_cycle
    }

    /// Cycles for every bank of every channel to stream `rows` rows through its PIM MAC unit.
    pub fn pim_stream_cycles(&self, rows: u64) -> u64 {
        let k = SIM_ROWS as usize;
        if rows <= SIM_ROWS {
            return self.pim_rows[rows as usize];
        }
        let p = PERIOD_ROWS as usize;
        let span = self.pim_rows[k] - self.pim_rows[k - p];
        self.pim_rows[k] + ((rows - SIM_ROWS) * span).div_ceil(PERIOD_ROWS)
    }

    /// Rows per bank that `bytes` spread evenly over all banks occupy.
    pub fn rows_per_bank(&self, bytes: u64) -> u64 {
        bytes
            .div_ceil(self.cfg.row_bytes)
            .div_ceil(self.cfg.channels * self.cfg.banks)
    }

    fn goes_to_pim(&self, op: &Op) -> bool {
        self.cfg.mode != PimMode::NpuOnly
            && matches!(op.kind, OpKind::Attention(_))
            && !op.is_gemm_like()
    }

    /// The op's matrix products as the NPU runs them: a GEMM whose right operand is shared by
    /// the whole batch (a weight, or a tied embedding table) stacks the batch into its rows.
    fn npu_views(op: &Op) -> Vec<GemmView> {
        let shared =
            matches!(op.kind, OpKind::Gemm(_)) && op.inputs.get(1).is_none_or(|s| s.len() <= 2);
        op.gemm_views()
            .into_iter()
            .map(|g| {
                if shared && g.groups > 1 {
                    GemmView {
                        groups: 1,
                        m: g.m * g.groups,
                        ..g
                    }
                } else {
                    g
                }
            })
            .collect()
    }

    fn mem_cycles(&self, bytes: u64) -> u64 {
        (bytes as f64 / self.ext_bytes_per_cycle).ceil() as u64
    }

    /// Cycles of one GEMM view on the authors' pipelined weight-stationary core
    /// ([`ArrayTiming::Pipelined`]).
    fn pipelined_cycles(&self, g: &GemmView) -> u64 {
        let d = u64::from(self.cfg.array_dim);
        let per_tile = (d / u64::from(self.cfg.arrays)).max(1);
        let stationary = g.groups * g.m.div_ceil(d) * g.k.div_ceil(d);
        let streamed = g.n.div_ceil(d);
        if stationary == 0 || streamed == 0 {
            return 0;
        }
        stationary * (d + (streamed - 1) * per_tile) + 2 * d - 2 + per_tile
    }

    fn npu_cost(&self, op: &Op) -> Cost {
        let arrays = u64::from(self.cfg.arrays);
        let pipelined = self.cfg.array_timing == ArrayTiming::Pipelined;
        let compute: u64 = Self::npu_views(op)
            .iter()
            .map(|g| {
                if pipelined {
                    return self.pipelined_cycles(g);
                }
                // Split the groups across the arrays, or else the output columns.
                let g = if g.groups >= arrays {
                    GemmView {
                        groups: g.groups.div_ceil(arrays),
                        ..*g
                    }
                } else {
                    GemmView {
                        n: g.n.div_ceil(arrays),
                        ..*g
                    }
                };
                Systolic::compute_cycles(&self.array.fold(&g))
            })
            .sum();
        let bytes = op.bytes_read() + op.bytes_written();
        let mem = self.mem_cycles(bytes);
        let wb = op.dtype.bytes();
        Cost {
            compute_cycles: compute,
            stall_cycles: mem.saturating_sub(compute),
            dram_bytes: bytes,
            bytes: vec![("dram", bytes)],
            energy_pj: op.macs() as f64 * energy::mac_pj(wb as u32)
                + bytes as f64 * energy::DRAM_PJ_PER_BYTE,
            mac_slots: arrays * u64::from(self.cfg.array_dim).pow(2),
        }
    }

    /// Element-wise work, and GEMV-like products (one MAC per lane per cycle), on the vector
    /// unit.
    fn vector_cost(&self, op: &Op) -> Cost {
        let work = if op.macs() > 0 {
            op.flops().saturating_sub(op.macs())
        } else {
            op.vector_work()
        };
        let compute = work.div_ceil(self.cfg.vector_lanes);
        let bytes = op.bytes_read() + op.bytes_written();
        let mem = self.mem_cycles(bytes);
        Cost {
            compute_cycles: compute,
            stall_cycles: mem.saturating_sub(compute),
            dram_bytes: bytes,
            bytes: vec![("dram", bytes)],
            energy_pj: op.vector_work() as f64 * energy::alu_pj(op.dtype.bytes() as u32)
                + bytes as f64 * energy::DRAM_PJ_PER_BYTE,
            mac_slots: 0,
        }
    }

    fn link_cost(&self, op: &Op, func: CollectiveFunc, ranks: u64) -> Cost {
        // Priced by archsim-net as NCCL on a switch of `link_gbps` per device, as the GPU
        // baseline's; a ring moves 2 (p−1)/p of the buffer across each device's link.
        let bytes = op.collective_bytes();
        let moved = match func {
            // An all-to-all sends (and receives) the blocks for the other ranks once.
            CollectiveFunc::AllToAll => bytes * ranks.saturating_sub(1) / ranks.max(1),
            _ => 2 * bytes * ranks.saturating_sub(1) / ranks.max(1),
        };
        let seconds = Links::nccl_switch(self.cfg.link_gbps).seconds(func, ranks, bytes as f64);
        Cost {
            compute_cycles: (seconds * self.cfg.freq_mhz * 1e6).ceil() as u64,
            stall_cycles: 0,
            dram_bytes: 0,
            bytes: vec![("link", moved)],
            energy_pj: 0.0,
            mac_slots: 0,
        }
    }

    /// A decode attention on the PIM: `q·Kᵀ` over the K cache and `p·V` over the V cache as
    /// bank-parallel GEMVs, the scores' softmax on the NPU's vector unit in between (scores
    /// cross the bus twice).
    fn pim_cost(&self, op: &Op) -> Cost {
        let OpKind::Attention(a) = &op.kind else {
            return self.vector_cost(op);
        };
        let wb = op.dtype.bytes();
        let half = a.batch * a.kv_heads * a.kv_len * a.head_dim * wb;
        let rows = self.rows_per_bank(half);
        let gemv = 2 * self.pim_stream_cycles(rows);
        let scores = a.batch * a.heads * a.q_len * a.kv_len * wb;
        let io = 2 * scores + 2 * a.batch * a.heads * a.q_len * a.head_dim * wb;
        let softmax = (5 * scores / wb).div_ceil(self.cfg.vector_lanes);
        let compute = gemv + softmax + self.mem_cycles(io);
        let blocked = self.cfg.mode == PimMode::NpuPimNaive;
        // In blocked mode a PIM op holds the whole bus for its duration.
        let bus = if blocked {
            (compute as f64 * self.ext_bytes_per_cycle) as u64
        } else {
            io
        };
        Cost {
            compute_cycles: compute,
            stall_cycles: 0,
            dram_bytes: bus,
            bytes: vec![("pim_bank", 2 * half), ("dram", io)],
            energy_pj: op.macs() as f64 * energy::mac_pj(wb as u32)
                + (2 * half) as f64 * self.cfg.pim_pj_per_byte
                + io as f64 * energy::DRAM_PJ_PER_BYTE,
            mac_slots: self.cfg.channels * self.cfg.banks * (self.cfg.pim_col_bytes / wb).max(1),
        }
    }
}

impl Accelerator for NpuPim {
    type Plan = NpuPimPlan;

    fn name(&self) -> String {
        format!(
            "npu_pim {} ({}x {}x{} arrays, {} ch x {} banks)",
            self.cfg.mode.name(),
            self.cfg.arrays,
            self.cfg.array_dim,
            self.cfg.array_dim,
            self.cfg.channels,
            self.cfg.banks
        )
    }

    fn fidelity(&self) -> Fidelity {
        Fidelity::CycleApprox
    }

    fn resources(&self) -> Resources {
        let engine = |n: &'static str| Engine { name: n.into() };
        Resources {
            engines: vec![
                engine("npu"),
                engine("vector"),
                engine("pim"),
                engine("link"),
            ],
            memories: vec![Memory {
                name: "hbm".into(),
                capacity_bytes: None,
                bandwidth_bytes_per_cycle: Some(self.ext_bytes_per_cycle),
            }],
        }
    }

    fn dram(&self) -> Option<usize> {
        Some(HBM)
    }

    fn map(&self, op: &Op) -> Result<OpMapping<NpuPimPlan>, AccelError> {
        if self.goes_to_pim(op) {
            let rows = match &op.kind {
                OpKind::Attention(a) => self
                    .rows_per_bank(a.batch * a.kv_heads * a.kv_len * a.head_dim * op.dtype.bytes()),
                _ => 0,
            };
            return Ok(OpMapping {
                engine: PIM,
                plan: NpuPimPlan::Pim {
                    channels: self.cfg.channels,
                    banks: self.cfg.banks,
                    rows_per_bank: rows,
                    blocked: self.cfg.mode == PimMode::NpuPimNaive,
                },
            });
        }
        if let OpKind::Collective { .. } = op.kind {
            return Ok(OpMapping {
                engine: LINK,
                plan: NpuPimPlan::Vector { lanes: 0 },
            });
        }
        let views = Self::npu_views(op);
        let gemv = views.iter().any(|g| g.m <= 1 || g.n <= 1);
        Ok(if views.is_empty() || gemv {
            OpMapping {
                engine: VECTOR,
                plan: NpuPimPlan::Vector {
                    lanes: self.cfg.vector_lanes,
                },
            }
        } else {
            OpMapping {
                engine: NPU,
                plan: NpuPimPlan::Systolic {
                    folds: views.iter().map(|g| self.array.fold(g)).collect(),
                },
            }
        })
    }

    fn cost(&self, op: &Op, mapping: &OpMapping<NpuPimPlan>) -> Cost {
        match (&mapping.plan, &op.kind) {
            (NpuPimPlan::Pim { .. }, _) => self.pim_cost(op),
            (_, OpKind::Collective { func, ranks }) => self.link_cost(op, *func, *ranks),
            (NpuPimPlan::Systolic { .. }, _) => self.npu_cost(op),
            _ => self.vector_cost(op),
        }
    }

    fn freq_mhz(&self) -> f64 {
        self.cfg.freq_mhz
    }

    fn mac_units(&self) -> u64 {
        u64::from(self.cfg.arrays) * u64::from(self.cfg.array_dim).pow(2)
    }

    fn area_mm2(&self) -> f64 {
        self.mac_units() as f64 * energy::pe_area_um2(2) * 1e-6
            + self.cfg.vector_lanes as f64 * energy::alu_lane_area_um2(2) * 1e-6
    }
}

//! The `accelerator:` section of `kind: npu_pim`: its modes, the arrays' timing, the HBM and
//! PIM geometry, and their checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dram::DramTiming;
use crate::gpu::LaunchMode;
use crate::systolic::Dataflow;
use crate::{energy, AccelError};

/// How the NPU's arrays time a GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArrayTiming {
    /// The NeuPIMs authors' pipelined weight-stationary core (default): a 128 × 128 tile of the
    /// activations (rows × K) is preloaded as the stationary operand, then the weight's
    /// column tiles stream through it; the preload takes `array_dim` cycles of issue, each
    /// further `array_dim`³ tile `array_dim / arrays` (the arrays share the work), and the last
    /// tile drains `2 · array_dim − 2 + array_dim / arrays` cycles after it issues.
    #[default]
    Pipelined,
    /// SCALE-Sim folds of one array with `dataflow`, the output columns split across the
    /// arrays.
    Fold,
}

/// Which engines run what (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PimMode {
    /// Everything on the GPU model (`gpu_preset`).
    GpuOnly,
    /// Everything on the NPU; PIM unused.
    NpuOnly,
    /// GEMV-like attention on PIM in blocked mode: NPU or PIM active, never both.
    NpuPimNaive,
    /// NeuPIMs: dual row buffers and sub-batch interleaving (default).
    #[default]
    Neupims,
}

impl PimMode {
    /// All modes, in the order of the paper's comparison.
    pub const ALL: [PimMode; 4] = [
        PimMode::GpuOnly,
        PimMode::NpuOnly,
        PimMode::NpuPimNaive,
        PimMode::Neupims,
    ];

    /// The config spelling (`gpu_only`, `npu_only`, `npu_pim_naive`, `neupims`).
    pub fn name(self) -> &'static str {
        match self {
            PimMode::GpuOnly => "gpu_only",
            PimMode::NpuOnly => "npu_only",
            PimMode::NpuPimNaive => "npu_pim_naive",
            PimMode::Neupims => "neupims",
        }
    }
}

/// The `accelerator:` section for `kind: npu_pim`.
///
/// The defaults are the NeuPIMs authors' simulator configuration
/// (github.com/casys-kaist/NeuPIMs; file and line of each in `configs/repro/neupims.yaml`): an
/// NPU of 8 systolic arrays of 128×128 and 8 vector units of 128 lanes at 1 GHz beside 32 GB
/// of HBM2 in 32 channels of 32 banks, 1 KB rows, 64-byte requests, PIM units of 16 fp16
/// multipliers per bank that a bank-group-wide activation (G_ACT) feeds. The values the
/// authors' configuration does not give are named with the reason for each: `link_gbps`,
/// `pim_pj_per_byte`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NpuPimConfig {
    /// `gpu_only`, `npu_only`, `npu_pim_naive` or `neupims` (default).
    pub mode: PimMode,
    /// GPU preset of `gpu_only` (default `a100_80gb`, the paper's GPU baseline class).
    pub gpu_preset: String,
    /// Systolic arrays of the NPU (default 8).
    #[schemars(range(min = 1, max = 4096))]
    pub arrays: u32,
    /// Rows and columns of each array (default 128).
    #[schemars(range(min = 1, max = 4096))]
    pub array_dim: u32,
    /// How a GEMM is timed (default `pipelined`: the authors' pipelined weight-stationary
    /// core; `fold`: SCALE-Sim folds with `dataflow`).
    pub array_timing: ArrayTiming,
    /// Dataflow of the arrays' folds when `array_timing` is `fold` (default `os`: one fill
    /// per output tile, K streamed; `ws` pays a weight tile's fill on every fold).
    pub dataflow: Dataflow,
    /// Vector-unit lanes (default 1024 = 8 vector units × 128 lanes).
    #[schemars(range(min = 1, max = 65536))]
    pub vector_lanes: u64,
    /// NPU and DRAM command clock in MHz (default 1000).
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub freq_mhz: f64,
    /// HBM channels (default 32).
    #[schemars(range(min = 1, max = 65536))]
    pub channels: u64,
    /// Banks per channel, each with a PIM MAC unit (default 32: 2 ranks × 4 bank groups × 4
    /// banks).
    #[schemars(range(min = 1, max = 65536))]
    pub banks: u64,
    /// Row-buffer (page) bytes per bank (default 1024).
    #[schemars(range(min = 1, max = 16777216))]
    pub row_bytes: u64,
    /// Bytes per column burst on the external bus (default 64: a 128-bit channel × burst
    /// length 4).
    #[schemars(range(min = 1, max = 16777216))]
    pub burst_bytes: u64,
    /// DRAM command timings.
    pub timing: DramTiming,
    /// Banks one PIM activation opens together (default 4: a G_ACT opens a bank group).
    #[schemars(range(min = 1, max = 65536))]
    pub pim_act_banks: u64,
    /// PIM activations allowed in one `timing.t_faw` window of a channel (default 2: a G_ACT
    /// waits tFAW after the previous one in its rank, and a channel has 2 ranks).
    #[schemars(range(min = 1, max = 65536))]
    pub pim_acts_per_faw: u64,
    /// Bytes one PIM column command (COMP) consumes per bank (default 32: 16 fp16
    /// multipliers per bank).
    #[schemars(range(min = 1, max = 65536))]
    pub pim_col_bytes: u64,
    /// On-chip SRAM of the NPU, MB (default 134.218: the authors' 134218 KB scratchpad). It
    /// double-buffers a GEMM's tiles; nothing stays in it from one op to the next, so in
    /// `neupims` mode every sub-batch reads its layer's weights from HBM (as the authors'
    /// simulator does: every tile load is a DRAM read).
    #[schemars(range(max = crate::ranges::MAX_MB), extend("exclusiveMinimum" = 0))]
    pub sram_mb: f64,
    /// Sub-batches interleaved in `neupims` mode (default 2, as in the paper).
    #[schemars(range(min = 1, max = 65536))]
    pub sub_batches: u64,
    /// Smallest batch that `neupims` mode splits into sub-batches (default 256: the authors
    /// interleave sub-batches only from batch 256 on); a smaller batch runs whole.
    #[schemars(range(min = 0, max = 16777216))]
    pub sub_batch_min: u64,
    /// Device-to-device link for tensor-parallel collectives, GB/s per direction (default 300,
    /// NVLink-3 class, as the GPU baseline; not stated for the NPU). Collectives are priced by
    /// `archsim-net` as NCCL on a switch of this bandwidth, like the GPU baseline's.
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub link_gbps: f64,
    /// Device memory capacity, GB (default 32: 32 channels of 1 GB). A step whose weights, KV
    /// cache and activations exceed it is out of memory (the NPU does not swap).
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub hbm_gb: f64,
    /// Energy of a PIM access per byte, pJ (default 1/4 of an external DRAM byte: the bank
    /// array access without the I/O and TSV transfer, which dominate HBM access energy).
    #[schemars(range(min = 0, max = crate::ranges::MAX_PJ))]
    pub pim_pj_per_byte: f64,
}

impl Default for NpuPimConfig {
    fn default() -> Self {
        NpuPimConfig {
            mode: PimMode::Neupims,
            gpu_preset: "a100_80gb".into(),
            arrays: 8,
            array_dim: 128,
            array_timing: ArrayTiming::Pipelined,
            dataflow: Dataflow::Os,
            vector_lanes: 1024,
            freq_mhz: 1000.0,
            channels: 32,
            banks: 32,
            row_bytes: 1024,
            burst_bytes: 64,
            timing: DramTiming::default(),
            pim_act_banks: 4,
            pim_acts_per_faw: 2,
            pim_col_bytes: 32,
            sram_mb: 134.218,
            sub_batches: 2,
            sub_batch_min: 256,
            link_gbps: 300.0,
            hbm_gb: 32.0,
            pim_pj_per_byte: energy::DRAM_PJ_PER_BYTE / 4.0,
        }
    }
}

impl NpuPimConfig {
    /// The defaults with `mode`.
    pub fn with_mode(mode: PimMode) -> Self {
        NpuPimConfig {
            mode,
            ..NpuPimConfig::default()
        }
    }

    /// Checks every value; the error names the key relative to the `accelerator:` section.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: &str, reason: &str| {
            Err(AccelError::InvalidConfig {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.arrays == 0 || self.arrays > 4096 {
            return bad("arrays", "must be in 1..=4096");
        }
        if self.array_dim == 0 || self.array_dim > 4096 {
            return bad("array_dim", "must be in 1..=4096");
        }
        for (k, v) in [
            ("vector_lanes", self.vector_lanes),
            ("channels", self.channels),
            ("banks", self.banks),
            ("sub_batches", self.sub_batches),
            ("pim_act_banks", self.pim_act_banks),
            ("pim_acts_per_faw", self.pim_acts_per_faw),
            ("pim_col_bytes", self.pim_col_bytes),
            ("timing.faw_acts", self.timing.faw_acts),
        ] {
            if v == 0 || v > 65536 {
                return bad(k, "must be in 1..=65536");
            }
        }
        if self.burst_bytes == 0 || self.row_bytes < self.burst_bytes {
            return bad(
                "row_bytes",
                "must be at least burst_bytes, and burst_bytes at least 1",
            );
        }
        if self.row_bytes / self.burst_bytes > 4096 {
            return bad("row_bytes", "at most 4096 bursts per row");
        }
        if self.banks % self.pim_act_banks != 0 {
            return bad("pim_act_banks", "must divide banks");
        }
        if self.pim_col_bytes > self.row_bytes || self.row_bytes / self.pim_col_bytes > 4096 {
            return bad(
                "pim_col_bytes",
                "must be at most row_bytes, with at most 4096 PIM columns per row",
            );
        }
        if !(self.sram_mb.is_finite() && self.sram_mb >= 0.0) {
            return bad("sram_mb", "must be a non-negative number");
        }
        for (k, v) in [
            ("freq_mhz", self.freq_mhz),
            ("link_gbps", self.link_gbps),
            ("hbm_gb", self.hbm_gb),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "must be a positive number");
            }
        }
        if !(self.pim_pj_per_byte.is_finite() && self.pim_pj_per_byte >= 0.0) {
            return bad("pim_pj_per_byte", "must be a non-negative number");
        }
        let t = &self.timing;
        if t.t_ccd == 0 || t.t_bl == 0 {
            return bad("timing.t_ccd", "t_ccd and t_bl must be at least 1");
        }
        for (k, v) in [
            ("timing.t_rcd", t.t_rcd),
            ("timing.t_rp", t.t_rp),
            ("timing.t_ras", t.t_ras),
            ("timing.t_cl", t.t_cl),
            ("timing.t_rtp", t.t_rtp),
            ("timing.t_ccd", t.t_ccd),
            ("timing.t_bl", t.t_bl),
            ("timing.t_rrd", t.t_rrd),
            ("timing.t_faw", t.t_faw),
        ] {
            if v > 1000 {
                return bad(k, "timings above 1000 cycles are not DRAM timings");
            }
        }
        if t.t_rcd > 1000 || t.t_rp > 1000 || t.t_ras > 1000 || t.t_faw > 1000 {
            return bad("timing", "timings above 1000 cycles are not DRAM timings");
        }
        // Checked in every mode: a study prices the `gpu_only` column from the same config.
        crate::gpu::GpuConfig::preset(&self.gpu_preset, LaunchMode::CudaGraph)
            .validate()
            .map_err(|e| AccelError::InvalidConfig {
                key: "gpu_preset".into(),
                reason: match e {
                    AccelError::InvalidConfig { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
        Ok(())
    }
}

//! A systolic array with output-, weight- and input-stationary dataflows.
//!
//! Fidelity: [`Fidelity::CycleApprox`]. The compute model follows SCALE-Sim v3
//! (Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN
//! Accelerators using SCALE-Sim", ISPASS 2020, doi:10.1109/ISPASS48437.2020.00016; code at
//! `scalesim` 3.0.0) and reproduces its per-layer compute cycles exactly, in closed form.
//!
//! ## Folding
//!
//! A GEMM-like op is `groups` products of an ifmap operand `M×K` (im2col of the input: output
//! pixels × filter window) and a filter operand `K×N`. Each dataflow pins one dimension to the
//! array rows (`Sr`), one to the columns (`Sc`), and streams the third in time (`T`):
//!
//! | dataflow | Sr | Sc | T | cycles per fold |
//! |---|---|---|---|---|
//! | `os` output stationary | M | N | K | R + C + T − 2 |
//! | `ws` weight stationary | K | N | M | 2R + C + T − 2 |
//! | `is` input stationary | K | M | N | 2R + C + T − 2 |
//!
//! for an `R×C` array, with `⌈Sr/R⌉·⌈Sc/C⌉` folds and `groups·folds·(cycles per fold) − 1`
//! compute cycles per op (SCALE-Sim counts from cycle 0). For `os`, SCALE-Sim's count assumes a
//! fold's outputs drain while the next fold fills; `os_drain: separate` adds the drain of
//! `R` cycles per fold instead (the `2R + C + T − 2` of SCALE-Sim's paper).
//!
//! ## Memory traffic
//!
//! Folds run with `Sr`-folds outer and `Sc`-folds inner. SRAM reads follow from the operands
//! each fold streams (the stationary operand is read once per fold; the streaming operand once
//! per fold that needs it). DRAM traffic depends on reuse, which depends on SRAM size — unlike
//! SCALE-Sim, whose DRAM counts ignore it:
//!
//! * the operand indexed by the outer fold only is fetched once;
//! * the operand indexed by the inner fold only is fetched once if it fits its SRAM, else once
//!   per outer fold;
//! * `ws`/`is` accumulate partial sums over the `K`-folds: if the ofmap fits its SRAM it is
//!   written once, else every pass writes partial sums and all but the first read them back;
//! * ifmap traffic counts unique input elements (im2col duplication happens on chip).
//!
//! ## Stalls
//!
//! With `dram_bw_bytes_per_cycle` set (`B` = that over `word_bytes`, in words per cycle),
//! every SRAM is double-buffered: while fold `f` computes
//! (`t` cycles) the DRAM interface prefetches fold `f+1`'s new operands and writes back fold
//! `f−1`'s outputs. Fold `f+1` waits `max(0, ⌈(reads(f+1) + writes(f−1)) / B⌉ − t)` cycles; the
//! first fold waits for its own operands and the last fold's outputs drain after it. Without
//! `B` the interface is unlimited and nothing stalls.
//!
//! Element-wise and pooling ops run on a vector unit of `cols` lanes beside the array, reading
//! and writing DRAM; its time is `⌈work / cols⌉` cycles, or the DRAM time if longer. A chip
//! without such a unit can run pooling on the array instead (`pool_mapping`: `depthwise`, one
//! group per channel with a window-sized filter, or `dense`, channels→channels with a diagonal
//! weight tensor) and fold element-wise sums into the partial sums of the array (`sum_as_psum`:
//! no compute, each addend after the first read from DRAM as a partial sum).

use crate::config::KeyError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{Engine, Memory, Resources};
use archsim_workloads::{numel, EltFunc, GemmView, Op, OpKind};

use crate::energy;
use crate::{AccelError, Accelerator, Cost, Fidelity, OpMapping, OpPlan};

/// Which operand stays in the PEs while the others stream through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dataflow {
    /// Output stationary: each PE accumulates one output.
    Os,
    /// Weight stationary: each PE holds one filter weight.
    Ws,
    /// Input stationary: each PE holds one ifmap element.
    Is,
}

impl Dataflow {
    /// `os`, `ws` or `is`.
    pub fn name(self) -> &'static str {
        match self {
            Dataflow::Os => "os",
            Dataflow::Ws => "ws",
            Dataflow::Is => "is",
        }
    }
}

/// How an output-stationary fold's drain is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DrainMode {
    /// The drain overlaps the next fold's fill (SCALE-Sim v3's count, the default).
    #[default]
    Overlapped,
    /// The drain takes `rows` cycles of its own per fold.
    Separate,
}

/// Where a pooling op runs (see [`SystolicConfig::pool_mapping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PoolMapping {
    /// On the vector unit beside the array (default).
    #[default]
    Vector,
    /// On the array, as a depthwise convolution: one group per channel, one filter of the
    /// window's size.
    Depthwise,
    /// On the array, as a dense convolution from every channel to every channel whose weights
    /// are zero off the diagonal.
    Dense,
}

impl PoolMapping {
    /// `vector`, `depthwise` or `dense`.
    pub fn name(self) -> &'static str {
        match self {
            PoolMapping::Vector => "vector",
            PoolMapping::Depthwise => "depthwise",
            PoolMapping::Dense => "dense",
        }
    }

    fn is_vector(&self) -> bool {
        *self == PoolMapping::Vector
    }
}

/// On-chip SRAM sizes in KiB, one double-buffered SRAM per operand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SramKib {
    /// Input feature map SRAM (default 512).
    #[serde(default = "default_ifmap_kib")]
    #[schemars(range(min = 1))]
    pub ifmap: u32,
    /// Filter (weight) SRAM (default 512).
    #[serde(default = "default_filter_kib")]
    #[schemars(range(min = 1))]
    pub filter: u32,
    /// Output feature map SRAM (default 256).
    #[serde(default = "default_ofmap_kib")]
    #[schemars(range(min = 1))]
    pub ofmap: u32,
}

fn default_ifmap_kib() -> u32 {
    512
}
fn default_filter_kib() -> u32 {
    512
}
fn default_ofmap_kib() -> u32 {
    256
}

impl Default for SramKib {
    fn default() -> Self {
        SramKib {
            ifmap: default_ifmap_kib(),
            filter: default_filter_kib(),
            ofmap: default_ofmap_kib(),
        }
    }
}

fn one() -> u32 {
    1
}
fn default_freq() -> f64 {
    1000.0
}

/// The `accelerator:` section for `kind: systolic`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystolicConfig {
    /// PE rows (R).
    #[schemars(range(min = 1, max = 65536))]
    pub rows: u32,
    /// PE columns (C).
    #[schemars(range(min = 1, max = 65536))]
    pub cols: u32,
    /// `os`, `ws` or `is`.
    pub dataflow: Dataflow,
    /// SRAM sizes in KiB (default ifmap 512, filter 512, ofmap 256, as SCALE-Sim's examples).
    #[serde(default)]
    pub sram_kib: SramKib,
    /// Bytes per word: 1 (int8), 2 (fp16/bf16) or 4 (fp32). Default 1.
    #[serde(default = "one")]
    #[schemars(extend("enum" = [1, 2, 4]))]
    pub word_bytes: u32,
    /// Clock in MHz. Default 1000.
    #[serde(default = "default_freq")]
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub freq_mhz: f64,
    /// DRAM bandwidth in bytes per cycle (as every kind gives it); absent = unlimited (no
    /// stalls). The array moves `dram_bw_bytes_per_cycle / word_bytes` words per cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_BYTES_PER_CYCLE, max = crate::ranges::MAX_BYTES_PER_CYCLE))]
    pub dram_bw_bytes_per_cycle: Option<f64>,
    /// `overlapped` (SCALE-Sim v3, default) or `separate` output drain for `os`.
    #[serde(default)]
    pub os_drain: DrainMode,
    /// Where pooling runs: `vector` (the vector unit, default), `depthwise` (the PE array, as a
    /// depthwise convolution with constant window weights: for chips without a pooling unit,
    /// such as Eyeriss v1) or `dense` (the PE array, as a dense channels→channels convolution
    /// with a diagonal weight tensor: the lowering of a dense-conv-only compiler, and how the
    /// DNN-Chip Predictor prices pooling, HW-NAS-Bench's Eyeriss numbers included).
    #[serde(default, skip_serializing_if = "PoolMapping::is_vector")]
    pub pool_mapping: PoolMapping,
    /// Element-wise sums accumulate into the array's partial sums instead of running on the
    /// vector unit: each addend after the first is read in as a partial sum, as Eyeriss reads
    /// partial sums back from its global buffer when a reduction spans several passes. The sum
    /// then costs no compute, only reading those addends from DRAM. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sum_as_psum: bool,
}

impl SystolicConfig {
    /// A `rows × cols` array with SCALE-Sim's default SRAMs, 1-byte words, 1 GHz, no DRAM limit.
    pub fn new(rows: u32, cols: u32, dataflow: Dataflow) -> Self {
        SystolicConfig {
            rows,
            cols,
            dataflow,
            sram_kib: SramKib::default(),
            word_bytes: 1,
            freq_mhz: 1000.0,
            dram_bw_bytes_per_cycle: None,
            os_drain: DrainMode::Overlapped,
            pool_mapping: PoolMapping::Vector,
            sum_as_psum: false,
        }
    }

    /// DRAM bandwidth in words per cycle (`dram_bw_bytes_per_cycle / word_bytes`); `None`:
    /// unlimited.
    pub(crate) fn dram_bw_words(&self) -> Option<f64> {
        self.dram_bw_bytes_per_cycle
            .map(|b| b / f64::from(self.word_bytes))
    }

    /// Names accepted by [`SystolicConfig::preset`].
    pub const PRESETS: &'static [&'static str] = &["eyeriss", "shidiannao", "nvdla_small"];

    /// A built-in design, by name:
    ///
    /// * `eyeriss`: Eyeriss v1 (Chen et al., ISSCC 2016 / JSSC 2017,
    ///   doi:10.1109/JSSC.2016.2616357): 168 PEs as a 12×14 array, 16-bit words, 200 MHz, the
    ///   108 KB global buffer split 64/32/12 KiB over ifmap/filter/ofmap, and a 64-bit
    ///   (4-word) DRAM interface. Its row-stationary dataflow is approximated by input
    ///   stationary (`is`): a filter row stays in a PE row while ifmap rows stream diagonally,
    ///   which a GEMM-level model can only see as an operand held in place across the array.
    ///   The chip has no pooling or element-wise unit (its datapath is the PE array, the global
    ///   buffer, a ReLU and the run-length codec), so pooling runs on the array as a depthwise
    ///   convolution (`pool_mapping: depthwise`) and sums fold into partial sums
    ///   (`sum_as_psum`).
    /// * `shidiannao`: ShiDianNao (Du et al., ISCA 2015, doi:10.1145/2749469.2750389): 8×8
    ///   output-stationary PEs, 16-bit, 1 GHz, 64 + 128 + 64 KiB buffers, 8 words/cycle.
    /// * `nvdla_small`: the small NVDLA configuration (`nv_small`, 64 int8 MACs as 8×8,
    ///   weight stationary), 1 GHz, 128 KiB convolution buffer split 64/64 plus 32 KiB out,
    ///   8 bytes/cycle.
    pub fn preset(name: &str) -> Option<SystolicConfig> {
        let mut c = match name {
            "eyeriss" => {
                let mut c = SystolicConfig::new(12, 14, Dataflow::Is);
                c.sram_kib = SramKib {
                    ifmap: 64,
                    filter: 32,
                    ofmap: 12,
                };
                c.word_bytes = 2;
                c.freq_mhz = 200.0;
                c.dram_bw_bytes_per_cycle = Some(8.0); // 64 bits: 4 words
                c.pool_mapping = PoolMapping::Depthwise;
                c.sum_as_psum = true;
                c
            }
            "shidiannao" => {
                let mut c = SystolicConfig::new(8, 8, Dataflow::Os);
                c.sram_kib = SramKib {
                    ifmap: 64,
                    filter: 128,
                    ofmap: 64,
                };
                c.word_bytes = 2;
                c.dram_bw_bytes_per_cycle = Some(16.0); // 8 words
                c
            }
            "nvdla_small" => {
                let mut c = SystolicConfig::new(8, 8, Dataflow::Ws);
                c.sram_kib = SramKib {
                    ifmap: 64,
                    filter: 64,
                    ofmap: 32,
                };
                c.dram_bw_bytes_per_cycle = Some(8.0);
                c
            }
            _ => return None,
        };
        c.os_drain = DrainMode::Overlapped;
        Some(c)
    }

    /// Checks every value; the error names the key relative to the `accelerator:` section.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: &str, reason: &str| {
            Err(AccelError::InvalidConfig {
                key: key.into(),
                reason: reason.into(),
            })
        };
        const MAX_DIM: u32 = 1 << 16;
        for (key, v) in [("rows", self.rows), ("cols", self.cols)] {
            if v == 0 {
                return bad(key, "must be at least 1");
            }
            if v > MAX_DIM {
                return bad(key, "must be at most 65536");
            }
        }
        for (key, v) in [
            ("sram_kib.ifmap", self.sram_kib.ifmap),
            ("sram_kib.filter", self.sram_kib.filter),
            ("sram_kib.ofmap", self.sram_kib.ofmap),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if ![1, 2, 4].contains(&self.word_bytes) {
            return bad("word_bytes", "must be 1, 2 or 4");
        }
        if !(self.freq_mhz.is_finite() && self.freq_mhz > 0.0) {
            return bad("freq_mhz", "must be a positive number");
        }
        if let Some(bw) = self.dram_bw_bytes_per_cycle {
            if !(bw.is_finite() && bw > 0.0) {
                return bad(
                    "dram_bw_bytes_per_cycle",
                    "must be a positive number (omit it for unlimited bandwidth)",
                );
            }
        }
        Ok(())
    }
}

/// How one GEMM-like op is folded onto the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// Dataflow used.
    pub dataflow: Dataflow,
    /// Dimension pinned to rows.
    pub sr: u64,
    /// Dimension pinned to columns.
    pub sc: u64,
    /// Dimension streamed in time.
    pub t: u64,
    /// Folds along the rows, `⌈Sr/R⌉`.
    pub row_folds: u64,
    /// Folds along the columns, `⌈Sc/C⌉`.
    pub col_folds: u64,
    /// Independent products (conv groups).
    pub groups: u64,
    /// Cycles of one fold.
    pub fold_cycles: u64,
}

/// The systolic family's mapping of one op ([`Accelerator::Plan`] of [`Systolic`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SystolicPlan {
    /// Folding of each matrix product of the op onto the array (one for a conv or a GEMM, two
    /// for attention), run one after the other.
    Systolic {
        /// One fold plan per product.
        folds: Vec<Fold>,
    },
    /// An element-wise or pooling op on the vector unit.
    Vector {
        /// SIMD lanes.
        lanes: u64,
    },
}

impl OpPlan for SystolicPlan {
    fn summary(&self) -> String {
        match self {
            SystolicPlan::Systolic { folds } => folds_summary(folds),
            SystolicPlan::Vector { lanes } => vector_summary(*lanes),
        }
    }
}

/// The summary of products folded onto an array, e.g. `os 95x1 folds + ws 2x2 folds x4 groups`.
pub(crate) fn folds_summary(folds: &[Fold]) -> String {
    folds
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
        .join(" + ")
}

/// The summary of an op on a vector unit of `lanes` lanes.
pub(crate) fn vector_summary(lanes: u64) -> String {
    format!("vector {lanes} lanes")
}

const ARRAY: usize = 0;
const VECTOR: usize = 1;
const DRAM: usize = 0;

/// The classes of folds along one axis of the prefetch model, as `(representative, count)`:
/// every fold (at most four of them kept in place), or the first, the middle ones, the second
/// last and the last.
enum Classes {
    Few([(u64, u64); 4], usize),
    Many(Vec<(u64, u64)>),
}

impl Classes {
    fn of(n: u64, compress: bool) -> Classes {
        if n > 4 && compress {
            Classes::Few([(0, 1), (1, n - 3), (n - 2, 1), (n - 1, 1)], 4)
        } else if n <= 4 {
            let mut c = [(0, 1); 4];
            for (i, e) in c.iter_mut().enumerate() {
                e.0 = i as u64;
            }
            Classes::Few(c, n as usize)
        } else {
            Classes::Many((0..n).map(|i| (i, 1)).collect())
        }
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        match self {
            Classes::Few(c, n) => &c[..*n],
            Classes::Many(v) => v,
        }
    }
}

/// The products of an op on the array ([`Systolic::array_views`]).
enum Views {
    One(GemmView),
    Many(Vec<GemmView>),
}

impl Views {
    fn as_slice(&self) -> &[GemmView] {
        match self {
            Views::One(g) => std::slice::from_ref(g),
            Views::Many(v) => v,
        }
    }
}

/// The systolic-array model built from a validated [`SystolicConfig`].
#[derive(Debug, Clone)]
pub struct Systolic {
    cfg: SystolicConfig,
    r: u64,
    c: u64,
    cap_words: [u64; 3],
    sram_pj: [f64; 3],
    mac_pj: f64,
    alu_pj: f64,
}

impl Systolic {
    /// Builds the model; fails with the offending key if the config is invalid.
    pub fn new(cfg: SystolicConfig) -> Result<Self, AccelError> {
        cfg.validate()?;
        let wb = cfg.word_bytes;
        let kibs = [cfg.sram_kib.ifmap, cfg.sram_kib.filter, cfg.sram_kib.ofmap];
        Ok(Systolic {
            r: u64::from(cfg.rows),
            c: u64::from(cfg.cols),
            cap_words: kibs.map(|k| u64::from(k) * 1024 / u64::from(wb)),
            sram_pj: kibs.map(|k| energy::sram_word_pj(f64::from(k), wb)),
            mac_pj: energy::mac_pj(wb),
            alu_pj: energy::alu_pj(wb),
            cfg,
        })
    }

    /// The config the model was built from.
    pub fn config(&self) -> &SystolicConfig {
        &self.cfg
    }

    /// Folds a GEMM view onto the array with the configured dataflow.
    pub fn fold(&self, g: &GemmView) -> Fold {
        let (r, c) = (self.r, self.c);
        let (sr, sc, t) = match self.cfg.dataflow {
            Dataflow::Os => (g.m, g.n, g.k),
            Dataflow::Ws => (g.k, g.n, g.m),
            Dataflow::Is => (g.k, g.m, g.n),
        };
        let fill = match (self.cfg.dataflow, self.cfg.os_drain) {
            (Dataflow::Os, DrainMode::Overlapped) => r + c,
            _ => 2 * r + c,
        };
        Fold {
            dataflow: self.cfg.dataflow,
            sr,
            sc,
            t,
            row_folds: sr.div_ceil(r),
            col_folds: sc.div_ceil(c),
            groups: g.groups,
            fold_cycles: fill + t - 2,
        }
    }

    /// The products an op runs on the array: its GEMM views, or a pooling window as a
    /// convolution when `pool_mapping` puts pooling on the array. Empty for the ops that run on
    /// the vector unit.
    pub fn array_views(&self, op: &Op) -> Vec<GemmView> {
        self.views(op).as_slice().to_vec()
    }

    /// [`Systolic::array_views`], without a list for an op of one product or none.
    fn views(&self, op: &Op) -> Views {
        match (&op.kind, self.cfg.pool_mapping) {
            (OpKind::Pool(p), PoolMapping::Depthwise | PoolMapping::Dense)
                if op.output.len() == 4 =>
            {
                let o = &op.output;
                let (pixels, ch, window) = (o[0] * o[2] * o[3], o[1], p.kernel[0] * p.kernel[1]);
                Views::One(if self.cfg.pool_mapping == PoolMapping::Dense {
                    GemmView {
                        groups: 1,
                        m: pixels,
                        n: ch,
                        k: window * ch,
                    }
                } else {
                    GemmView {
                        groups: ch,
                        m: pixels,
                        n: 1,
                        k: window,
                    }
                })
            }
            (OpKind::Attention(_), _) => Views::Many(op.gemm_views()),
            // Any other op is one product (a conv, a GEMM) or none: `Op::gemm_views` is its
            // `gemm_view`.
            _ => match op.gemm_view() {
                Some(g) => Views::One(g),
                None => Views::Many(Vec::new()),
            },
        }
    }

    /// Compute cycles of a fold plan (SCALE-Sim's count).
    pub fn compute_cycles(f: &Fold) -> u64 {
        (f.groups * f.row_folds * f.col_folds * f.fold_cycles).saturating_sub(1)
    }

    fn array_cost(&self, op: &Op, g: &GemmView, f: &Fold) -> Cost {
        let (m, n, k) = (g.m, g.n, g.k);
        let (fr, fc) = (f.row_folds, f.col_folds);
        let groups = g.groups;
        let ifmap_unique = op
            .inputs
            .first()
            .map_or(m * k, |s| numel(s) / groups)
            .min(m * k);
        // The ifmap operand is indexed by the outer fold (os) or by both folds (ws, is), so it
        // is fetched once whatever the ifmap SRAM's size.
        let [_, cap_f, cap_o] = self.cap_words;
        // ws and is accumulate partial sums over the K-folds: on chip if the ofmap fits its
        // SRAM, else every pass writes them out and all but the first read them back.
        let (psum_w, psum_r) = if m * n <= cap_o {
            (m * n, 0)
        } else {
            (fr * m * n, (fr - 1) * m * n)
        };

        // SRAM accesses (words) and DRAM traffic (words) per group.
        let (sram_i, sram_f, sram_o, dram_i, dram_f, dram_o_w, dram_o_r) = match f.dataflow {
            Dataflow::Os => {
                let dram_f = if k * n <= cap_f { k * n } else { fr * k * n };
                (
                    m * k * fc,
                    k * n * fr,
                    m * n,
                    ifmap_unique,
                    dram_f,
                    m * n,
                    0,
                )
            }
            Dataflow::Ws => (
                m * k * fc,
                k * n,
                m * n * (2 * fr - 1),
                ifmap_unique,
                k * n,
                psum_w,
                psum_r,
            ),
            Dataflow::Is => (
                m * k,
                k * n * fc,
                m * n * (2 * fr - 1),
                ifmap_unique,
                k * n,
                psum_w,
                psum_r,
            ),
        };
        let compute = Self::compute_cycles(f);
        let stall = match self.cfg.dram_bw_words() {
            Some(bw) => self.stall_cycles(g, f, ifmap_unique, bw),
            None => 0,
        };
        let wb = u64::from(self.cfg.word_bytes);
        let dram_words = groups * (dram_i + dram_f + dram_o_w + dram_o_r);
        let sram = [groups * sram_i, groups * sram_f, groups * sram_o];
        // A pool run on the array has no MACs of its own: count its window operations.
        let macs = if matches!(op.kind, OpKind::Pool(_)) {
            g.macs()
        } else {
            op.macs()
        };
        let energy_pj = macs as f64 * self.mac_pj
            + sram
                .iter()
                .zip(self.sram_pj)
                .map(|(&a, e)| a as f64 * e)
                .sum::<f64>()
            + (dram_words * wb) as f64 * energy::DRAM_PJ_PER_BYTE;
        Cost {
            compute_cycles: compute,
            stall_cycles: stall,
            dram_bytes: dram_words * wb,
            bytes: vec![
                ("dram", dram_words * wb),
                ("sram_ifmap", sram[0] * wb),
                ("sram_filter", sram[1] * wb),
                ("sram_ofmap", sram[2] * wb),
            ],
            energy_pj,
            mac_slots: self.r * self.c,
        }
    }

    /// Stall cycles of the double-buffered prefetch model at `bw` words per cycle.
    fn stall_cycles(&self, g: &GemmView, f: &Fold, ifmap_unique: u64, bw: f64) -> u64 {
        self.prefetch_stalls(g, f, ifmap_unique, bw, true)
    }

    /// [`Systolic::stall_cycles`], summed over fold classes (`compress`) or fold by fold.
    fn prefetch_stalls(
        &self,
        g: &GemmView,
        f: &Fold,
        ifmap_unique: u64,
        bw: f64,
        compress: bool,
    ) -> u64 {
        let (r, c) = (self.r, self.c);
        let (m, n, k) = (g.m as f64, g.n as f64, g.k as f64);
        // Share of unique ifmap words per im2col word.
        let ifmap_scale = ifmap_unique as f64 / (m * k);
        let filter_resident = g.k * g.n <= self.cap_words[1];
        let ofmap_resident = g.m * g.n <= self.cap_words[2];
        let rows_of = |i: u64| (f.sr - i * r).min(r) as f64;
        let cols_of = |j: u64| (f.sc - j * c).min(c) as f64;
        // New words read before fold (i, j), and words written back after it (apart: a
        // fold's exposed time needs its successor's reads and its predecessor's writes).
        let reads = |i: u64, j: u64| -> f64 {
            let (ri, cj) = (rows_of(i), cols_of(j));
            match f.dataflow {
                Dataflow::Os => {
                    let ifmap = if j == 0 { ri * k * ifmap_scale } else { 0.0 };
                    let filter = if i == 0 || !filter_resident {
                        k * cj
                    } else {
                        0.0
                    };
                    ifmap + filter
                }
                Dataflow::Ws => {
                    let ifmap = if j == 0 { m * ri * ifmap_scale } else { 0.0 };
                    let psum_in = if !ofmap_resident && i > 0 {
                        m * cj
                    } else {
                        0.0
                    };
                    ri * cj + ifmap + psum_in
                }
                Dataflow::Is => {
                    let filter = if j == 0 { ri * n } else { 0.0 };
                    let psum_in = if !ofmap_resident && i > 0 {
                        cj * n
                    } else {
                        0.0
                    };
                    ri * cj * ifmap_scale + filter + psum_in
                }
            }
        };
        let writes = |i: u64, j: u64| -> f64 {
            let last_pass = i + 1 == f.row_folds;
            match f.dataflow {
                Dataflow::Os => rows_of(i) * cols_of(j),
                Dataflow::Ws if ofmap_resident && !last_pass => 0.0,
                Dataflow::Ws => m * cols_of(j),
                Dataflow::Is if ofmap_resident && !last_pass => 0.0,
                Dataflow::Is => cols_of(j) * n,
            }
        };
        let t = f.fold_cycles;
        let wait = |words: f64| (words / bw).ceil() as u64;
        let (rows, cols) = (f.row_folds, f.col_folds);
        let per_group = rows * cols;
        let total = f.groups * per_group;
        let at = |idx: u64| {
            let local = idx % per_group;
            (local / cols, local % cols)
        };
        let read = |idx: u64| {
            if idx < total {
                let (i, j) = at(idx);
                reads(i, j)
            } else {
                0.0
            }
        };
        let write = |idx: Option<u64>| {
            idx.map_or(0.0, |idx| {
                let (i, j) = at(idx);
                writes(i, j)
            })
        };
        // While fold idx computes, the interface prefetches fold idx+1's reads and drains fold
        // idx−1's writes; what does not fit in the fold's `t` cycles stalls the array.
        let exposed = |idx: u64| wait(read(idx + 1) + write(idx.checked_sub(1))).saturating_sub(t);
        // Folds come as groups × rows × columns, and a fold's traffic depends only on whether
        // its row, column and group are the first, the last or one in between. So the exposed
        // time of every fold in the middle of an axis (not first, and neither it nor its
        // successor last) is the same: one representative per class, times its count, makes
        // this O(1) per op instead of O(folds).
        let classes = |n: u64| Classes::of(n, compress);
        let mut stall = wait(read(0));
        for &(g, ng) in classes(f.groups).as_slice() {
            for &(i, ni) in classes(rows).as_slice() {
                for &(j, nj) in classes(cols).as_slice() {
                    stall += ng * ni * nj * exposed(g * per_group + i * cols + j);
                }
            }
        }
        // The last fold's outputs drain after it.
        stall + wait(write(total.checked_sub(1)))
    }

    /// Whether `op` is an element-wise sum that accumulates into partial sums on the array.
    fn is_psum_sum(&self, op: &Op) -> bool {
        self.cfg.sum_as_psum
            && matches!(op.kind, OpKind::Elementwise { func: EltFunc::Add })
            && op.inputs.len() >= 2
    }

    /// A sum folded into the array's partial sums: the addends after the first are read from
    /// DRAM as partial sums; the result leaves the array as the producer's output would.
    fn psum_sum_cost(&self, op: &Op) -> Cost {
        let wb = u64::from(self.cfg.word_bytes);
        let words: u64 = op.inputs.iter().skip(1).map(|s| numel(s)).sum();
        let stall = match self.cfg.dram_bw_words() {
            Some(bw) => (words as f64 / bw).ceil() as u64,
            None => 0,
        };
        Cost {
            compute_cycles: 0,
            stall_cycles: stall,
            dram_bytes: words * wb,
            bytes: vec![("dram", words * wb), ("sram_ofmap", words * wb)],
            energy_pj: (words * wb) as f64 * energy::DRAM_PJ_PER_BYTE
                + words as f64 * (self.sram_pj[2] + self.alu_pj),
            mac_slots: 0,
        }
    }

    fn vector_cost(&self, op: &Op) -> Cost {
        let work = op.vector_work();
        let compute = work.div_ceil(self.c);
        let wb = u64::from(self.cfg.word_bytes);
        let words = op.bytes_read().div_ceil(op.dtype.bytes())
            + op.bytes_written().div_ceil(op.dtype.bytes());
        let stall = match self.cfg.dram_bw_words() {
            Some(bw) => ((words as f64 / bw).ceil() as u64).saturating_sub(compute),
            None => 0,
        };
        Cost {
            compute_cycles: compute,
            stall_cycles: stall,
            dram_bytes: words * wb,
            bytes: vec![("dram", words * wb)],
            energy_pj: work as f64 * self.alu_pj + (words * wb) as f64 * energy::DRAM_PJ_PER_BYTE,
            mac_slots: 0,
        }
    }
}

impl Accelerator for Systolic {
    type Plan = SystolicPlan;

    fn name(&self) -> String {
        format!(
            "systolic {}x{} {}",
            self.r,
            self.c,
            self.cfg.dataflow.name()
        )
    }

    fn fidelity(&self) -> Fidelity {
        Fidelity::CycleApprox
    }

    fn resources(&self) -> Resources {
        let bw = self.cfg.dram_bw_bytes_per_cycle;
        Resources {
            engines: vec![
                Engine {
                    name: "array".into(),
                },
                Engine {
                    name: "vector".into(),
                },
            ],
            memories: vec![Memory {
                name: "dram".into(),
                capacity_bytes: None,
                bandwidth_bytes_per_cycle: bw,
            }],
        }
    }

    fn dram(&self) -> Option<usize> {
        Some(DRAM)
    }

    fn map(&self, op: &Op) -> Result<OpMapping<SystolicPlan>, AccelError> {
        if self.is_psum_sum(op) {
            // No folds: the addends join the partial sums of the array's passes.
            return Ok(OpMapping {
                engine: ARRAY,
                plan: SystolicPlan::Systolic { folds: Vec::new() },
            });
        }
        let views = self.views(op);
        let views = views.as_slice();
        Ok(if views.is_empty() {
            OpMapping {
                engine: VECTOR,
                plan: SystolicPlan::Vector { lanes: self.c },
            }
        } else {
            OpMapping {
                engine: ARRAY,
                plan: SystolicPlan::Systolic {
                    folds: views.iter().map(|g| self.fold(g)).collect(),
                },
            }
        })
    }

    fn cost(&self, op: &Op, mapping: &OpMapping<SystolicPlan>) -> Cost {
        if self.is_psum_sum(op) {
            return self.psum_sum_cost(op);
        }
        match &mapping.plan {
            SystolicPlan::Systolic { folds } => match (self.views(op).as_slice(), &folds[..]) {
                ([g], [f]) => Cost::sum_of_one(self.array_cost(op, g, f)),
                (views, _) => Cost::sum(
                    views
                        .iter()
                        .zip(folds)
                        .map(|(g, f)| self.array_cost(op, g, f))
                        .collect(),
                ),
            },
            SystolicPlan::Vector { .. } => self.vector_cost(op),
        }
    }

    fn freq_mhz(&self) -> f64 {
        self.cfg.freq_mhz
    }

    fn mac_units(&self) -> u64 {
        self.r * self.c
    }

    fn area_mm2(&self) -> f64 {
        let wb = self.cfg.word_bytes;
        let s = self.cfg.sram_kib;
        let sram_kib = f64::from(s.ifmap) + f64::from(s.filter) + f64::from(s.ofmap);
        (self.r * self.c) as f64 * energy::pe_area_um2(wb) * 1e-6
            + self.c as f64 * energy::alu_lane_area_um2(wb) * 1e-6
            + sram_kib * energy::SRAM_MM2_PER_KIB
    }
}


/// The systolic array's former DRAM bandwidth key (words per cycle), now an error naming
/// `dram_bw_bytes_per_cycle`.
pub(crate) const RENAMED_DRAM_BW: &str = "dram_bw_words_per_cycle";

impl crate::family::FamilyConfig for SystolicConfig {
    fn presets() -> Vec<&'static str> {
        SystolicConfig::PRESETS.to_vec()
    }
    fn from_map(
        acc: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, KeyError> {
        // One unit per quantity across kinds: DRAM bandwidth is in bytes per cycle, as
        // `kind: hetero` and the co-design hardware space give it.
        if let Some(v) = acc.get(RENAMED_DRAM_BW) {
            let hint = v
                .as_f64()
                .map(|w| format!(": {w} words × word_bytes"))
                .unwrap_or_default();
            // Worded as an unknown field, so that a search space naming it is rejected up
            // front and the error points at the key.
            return Err(KeyError::new(
                vec!["accelerator".into(), RENAMED_DRAM_BW.into()],
                format!(
                    "unknown field `{RENAMED_DRAM_BW}`: it is now `dram_bw_bytes_per_cycle`, the \
                     DRAM bandwidth in bytes per cycle{hint}"
                ),
            ));
        }
        // `preset: NAME` (e.g. `eyeriss`) starts from a built-in design; the keys given beside
        // it replace the preset's.
        let merged = crate::config::merge_preset(acc, false, |name| {
            let base = SystolicConfig::preset(name).ok_or_else(|| {
                format!(
                    "unknown systolic preset `{name}`; known: {}",
                    SystolicConfig::PRESETS.join(", ")
                )
            })?;
            match serde_json::to_value(base) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                _ => Err("preset does not serialize".into()),
            }
        })?;
        crate::config::typed(serde_json::Value::Object(merged), &["accelerator"])
    }
    fn setter(
        path: &[&str],
        value: &serde_json::Value,
    ) -> Option<crate::family::Setter<Self>> {
        use crate::family::set_field;
        // Every field reads on its own (no key depends on another's value).
        match path {
            ["rows"] => set_field!(value, rows),
            ["cols"] => set_field!(value, cols),
            ["dataflow"] => set_field!(value, dataflow),
            ["sram_kib"] => set_field!(value, sram_kib),
            ["sram_kib", "ifmap"] => set_field!(value, sram_kib.ifmap),
            ["sram_kib", "filter"] => set_field!(value, sram_kib.filter),
            ["sram_kib", "ofmap"] => set_field!(value, sram_kib.ofmap),
            ["word_bytes"] => set_field!(value, word_bytes),
            ["freq_mhz"] => set_field!(value, freq_mhz),
            ["dram_bw_bytes_per_cycle"] => set_field!(value, dram_bw_bytes_per_cycle),
            ["os_drain"] => set_field!(value, os_drain),
            ["pool_mapping"] => set_field!(value, pool_mapping),
            ["sum_as_psum"] => set_field!(value, sum_as_psum),
            _ => None,
        }
    }
    fn validate(&self) -> Result<(), AccelError> {
        SystolicConfig::validate(self)
    }
    fn reconcile(
        &mut self,
        given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), KeyError> {
        crate::family::word_follows_dtype(&mut self.word_bytes, given, workload)
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        Ok(Box::new(Systolic::new(self.clone())?))
    }
}

crate::family::per_op_family!(Systolic);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dram_bandwidth_is_given_in_bytes_and_used_in_words() {
        let mut c = SystolicConfig::new(8, 8, Dataflow::Os);
        assert_eq!(c.dram_bw_words(), None);
        c.dram_bw_bytes_per_cycle = Some(32.0);
        c.word_bytes = 2;
        assert_eq!(c.dram_bw_words(), Some(16.0));
        // The presets keep their published interfaces: Eyeriss's 64-bit bus is 4 16-bit words.
        let e = SystolicConfig::preset("eyeriss").unwrap();
        assert_eq!((e.dram_bw_bytes_per_cycle, e.dram_bw_words()), (Some(8.0), Some(4.0)));
        let s = SystolicConfig::preset("shidiannao").unwrap();
        assert_eq!(s.dram_bw_words(), Some(8.0));
        // The former key is an error that names the new one.
        let mut m = serde_json::Map::new();
        for (k, v) in [("rows", 8), ("cols", 8), ("dram_bw_words_per_cycle", 4)] {
            m.insert(k.into(), v.into());
        }
        m.insert("dataflow".into(), "os".into());
        let KeyError { path, message: msg } =
            <SystolicConfig as crate::family::FamilyConfig>::from_map(m).unwrap_err();
        assert_eq!(path, ["accelerator", "dram_bw_words_per_cycle"]);
        assert!(msg.contains("`dram_bw_bytes_per_cycle`"), "{msg}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Summing the prefetch stalls over fold classes gives exactly the fold-by-fold walk.
        #[test]
        fn class_sums_equal_the_fold_walk(
            groups in 1u64..7, m in 1u64..3000, n in 1u64..700, k in 1u64..2000,
            rows in 1u32..40, cols in 1u32..40, df in 0usize..3,
            kib in prop::array::uniform3(1u32..64), bw in 0.25f64..24.0,
            unique in 0.2f64..1.0,
        ) {
            let dataflow = [Dataflow::Os, Dataflow::Ws, Dataflow::Is][df];
            let mut cfg = SystolicConfig::new(rows, cols, dataflow);
            cfg.sram_kib = SramKib { ifmap: kib[0], filter: kib[1], ofmap: kib[2] };
            cfg.dram_bw_bytes_per_cycle = Some(bw);
            let s = Systolic::new(cfg).unwrap();
            let g = GemmView { groups, m, n, k };
            let f = s.fold(&g);
            let ifmap_unique = ((m * k) as f64 * unique).ceil() as u64;
            prop_assert_eq!(
                s.prefetch_stalls(&g, &f, ifmap_unique, bw, true),
                s.prefetch_stalls(&g, &f, ifmap_unique, bw, false)
            );
        }
    }
}

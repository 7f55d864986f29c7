//! Kernel models: how long one op's kernels keep the GPU busy, derived from how the hardware
//! executes them.
//!
//! Every estimate is split into the time the math units need (`compute_s`), the time the
//! memory system needs (`memory_s`, with the request pipeline's fill and drain), and fixed
//! per-kernel costs; the kernel takes `max(compute, memory)` plus its fixed costs. Launch
//! overheads are added by [`super::Gpu`]: a launch gap per kernel inside a network
//! ([`super::Gpu::op_latency`]), the harness's fixed cost for the isolated calibration
//! measurements ([`super::Gpu::isolated_latency`]). Operands always come from device memory:
//! the calibration flushed L2 before each kernel "as it would be for a layer inside a network"
//! (the data's README), so no L2 residency between kernels is assumed.
//!
//! * **GEMM** (and batched GEMM, and the implicit GEMM of a convolution): the output is cut into
//!   `bm × bn` tiles (64×64 … 256×128, the Hopper CUTLASS/cuBLAS tile set), optionally split
//!   along K; tiles run in waves of one per SM (wave quantization); a tile's k-step costs
//!   `bm·bn` MACs plus the staging of `bm + bn` operand elements (small tiles reuse operands
//!   less); operands stream from HBM (or L2) at the achievable bandwidth, capped by what the
//!   active SMs can keep in flight — which is what makes a small-M GEMM (a GEMV) a
//!   weight-streaming kernel. The tile and split with the least time win, as a tuned library's
//!   heuristic would pick. A GEMM whose leading dimensions (`k` for A, `n` for B and C,
//!   row-major) are not 16-byte aligned cannot use TMA and falls back to kernels with narrow
//!   loads: lower MAC rate and load bandwidth, scaled by the alignment.
//! * **Convolution**: implicit GEMM (`m` = output pixels, `n` = filters, `k` = window ×
//!   channels) reading the input once; depthwise convolution is a memory-bound stencil.
//! * **Attention**: prefill is FlashAttention — one CTA per (sequence, head, 128-query block)
//!   streaming 128-key blocks, each block two small GEMMs and a softmax; a causal mask skips the
//!   blocks above the diagonal (causal halving), which leaves CTAs unequal, so the time is the
//!   larger of the average load per SM and the longest CTA. Decode (one query) is
//!   flash-decoding: a memory-bound read of the KV cache, split along the cache into a second
//!   (combine) kernel when there are too few heads to fill the SMs.
//! * **Element-wise, normalization, softmax, embedding, copy, pooling, reduction**: bandwidth
//!   bound on the bytes they move (normalization and softmax make extra passes; a norm of few
//!   rows is bound by one block's serial row reduction).
//! * **Collectives**: all-reduce and all-gather priced by `archsim-net` as NCCL on an NVSwitch
//!   node of the preset's NVLink bandwidth (a PCIe tree of the host link without NVLink):
//!   NCCL's launch latency, protocols and ~80% of the wire, fitted on measured A100 NCCL; the
//!   reduction's adds stream `2(N−1)/N` of the tensor through HBM.
//! * **Views** (reshape) launch nothing.

use serde::{Deserialize, Serialize};

use crate::collective::Links;
use archsim_workloads::{
    numel, Attention, CollectiveFunc, Conv2d, DType, GemmView, Op, OpKind, ReduceFunc,
};

use super::calib::{info, Calibration};
use super::spec::GpuSpec;

/// Kernel families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelClass {
    /// Tiled GEMM with 16-byte-aligned operands (TMA, tensor cores or CUDA-core SGEMM).
    Gemm,
    /// Tiled GEMM falling back to narrow loads (an operand's leading dimension is misaligned).
    GemmNarrow,
    /// Implicit-GEMM convolution.
    Conv,
    /// Depthwise convolution (memory-bound stencil).
    DepthwiseConv,
    /// FlashAttention forward (prefill).
    FlashAttention,
    /// Flash-decoding (KV-cache read).
    FlashDecode,
    /// Bandwidth-bound kernel (element-wise, norm, softmax, embedding, copy, pool, reduce).
    Memory,
    /// Ring collective over NVLink or the host link.
    Collective,
    /// A view: no kernel.
    View,
}

impl KernelClass {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelClass::Gemm => "gemm",
            KernelClass::GemmNarrow => "gemm_narrow",
            KernelClass::Conv => "implicit_gemm",
            KernelClass::DepthwiseConv => "depthwise",
            KernelClass::FlashAttention => "flash_attention",
            KernelClass::FlashDecode => "flash_decode",
            KernelClass::Memory => "memory",
            KernelClass::Collective => "ring",
            KernelClass::View => "view",
        }
    }
}

/// What one op's kernels cost on the GPU (launch overheads excluded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KernelEstimate {
    /// Kernel family.
    pub class: KernelClass,
    /// Kernels launched (0 for a view).
    pub launches: u32,
    /// Time the math units need, s.
    pub compute_s: f64,
    /// Time the memory system (or the link) needs, s.
    pub memory_s: f64,
    /// GPU-side time: `max(compute, memory)` plus fixed per-kernel costs, s.
    pub body_s: f64,
    /// Bytes moved through device memory.
    pub hbm_bytes: f64,
    /// Bytes served by L2 instead of device memory.
    pub l2_bytes: f64,
    /// Floating-point (or integer) operations.
    pub flops: f64,
    /// Output tile `[bm, bn]` of a tiled kernel (`[0, 0]` otherwise).
    pub tile: [u32; 2],
    /// K splits of a tiled kernel (0 for a stream-K schedule), or KV splits of
    /// flash-decoding.
    pub split: u32,
    /// Waves of CTAs over the SMs.
    pub waves: u64,
}

impl KernelEstimate {
    fn view() -> Self {
        KernelEstimate {
            class: KernelClass::View,
            launches: 0,
            compute_s: 0.0,
            memory_s: 0.0,
            body_s: 0.0,
            hbm_bytes: 0.0,
            l2_bytes: 0.0,
            flops: 0.0,
            tile: [0, 0],
            split: 1,
            waves: 0,
        }
    }

    /// `compute` or `memory`, whichever bounds the kernel (`launch` for a view).
    pub fn bound(&self) -> &'static str {
        if self.launches == 0 {
            "launch"
        } else if self.compute_s >= self.memory_s {
            "compute"
        } else {
            "memory"
        }
    }
}

/// Output tiles a GEMM may use (`bm × bn`): the Hopper CUTLASS/cuBLAS tensor-core set.
pub const TILES: [(u64, u64); 6] = [
    (64, 64),
    (64, 128),
    (128, 64),
    (128, 128),
    (128, 256),
    (256, 128),
];

/// Narrow-M tiles of the small-batch kernels (tensor-core `mma.sync` with M = 16 or 32; the
/// CUDA-core kernels go down to M = 32).
pub const SMALL_M_TILES: [(u64, u64); 2] = [(16, 128), (32, 128)];

/// The GEMV kernel's "tile": one row, 128 columns per CTA (used when `m = 1`).
pub const GEMV_TILE: (u64, u64) = (1, 128);

/// K-iteration granularity of a stream-K schedule.
const STREAM_K_STEP: u64 = 64;

/// K splits a GEMM may use.
pub const SPLITS: [u64; 7] = [1, 2, 3, 4, 8, 16, 32];

/// Rows of a norm or softmax processed concurrently per SM (2048 resident threads in blocks
/// of 256).
const ROWS_PER_SM: f64 = 8.0;

/// Largest power of two dividing `bytes`, capped at 16 (the TMA alignment).
pub fn alignment(bytes: u64) -> u64 {
    if bytes == 0 {
        return 16;
    }
    (1u64 << bytes.trailing_zeros().min(4)).min(16)
}

/// A GEMM problem: `batch` products of `m×k` by `k×n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmProblem {
    /// Independent products.
    pub batch: u64,
    /// Rows of A and C.
    pub m: u64,
    /// Columns of B and C.
    pub n: u64,
    /// Reduction length.
    pub k: u64,
    /// Bytes of A moved from memory (the unique input; for a conv the input feature map).
    pub a_bytes: f64,
    /// Bytes of B moved from memory.
    pub b_bytes: f64,
    /// Bytes of C written.
    pub c_bytes: f64,
    /// Alignment in bytes of A's leading dimension.
    pub align_a: u64,
    /// Alignment in bytes of B's and C's leading dimension.
    pub align_b: u64,
    /// Extra fixed time of the library kernel, s (cuDNN's convolution kernels).
    pub extra_s: f64,
    /// The library kernel pays cuBLAS's stream warm-up (`gemm_warmup_mb`).
    pub warmup: bool,
    /// Factor on the main loop's MAC rate (below 1 for a convolution's im2col gather).
    pub rate_factor: f64,
}

impl GemmProblem {
    /// A plain (batched) GEMM of `dtype` with row-major operands read from memory.
    pub fn dense(batch: u64, m: u64, n: u64, k: u64, dtype: DType) -> Self {
        let b = dtype.bytes() as f64;
        let (bf, mf, nf, kf) = (batch as f64, m as f64, n as f64, k as f64);
        GemmProblem {
            batch,
            m,
            n,
            k,
            a_bytes: bf * mf * kf * b,
            b_bytes: bf * kf * nf * b,
            c_bytes: bf * mf * nf * b,
            align_a: alignment(k * dtype.bytes()),
            align_b: alignment(n * dtype.bytes()),
            extra_s: 0.0,
            warmup: true,
            rate_factor: 1.0,
        }
    }
}

/// The hardware and constants a kernel model needs.
#[derive(Debug, Clone)]
pub struct Device<'a> {
    /// Resources.
    pub spec: &'a GpuSpec,
    /// Constants.
    pub cal: &'a Calibration,
    /// Run fp32 matmuls on TF32 tensor cores.
    pub allow_tf32: bool,
    /// BatchNorms stay folded into their convs (otherwise each is a kernel of its own).
    pub fold_batchnorm: bool,
}

impl Device<'_> {
    fn sms(&self) -> f64 {
        f64::from(self.spec.sms.max(1))
    }

    /// Achievable device-memory bandwidth, bytes/s.
    pub fn hbm_bw(&self) -> f64 {
        self.spec.hbm_gbps * 1e9 * self.cal.hbm_efficiency
    }

    fn l2_bw(&self) -> f64 {
        self.spec.l2_gbps * 1e9
    }

    fn ramp(&self) -> f64 {
        self.cal.dram_ramp_us * 1e-6
    }

    /// Warm-up of a library GEMM's operand stream: its first `gemm_warmup_mb` stream
    /// `gemm_warmup_share` slower than the full rate.
    fn warmup(&self, read_bytes: f64) -> f64 {
        self.cal.gemm_warmup_share * read_bytes.min(self.cal.gemm_warmup_mb * 1e6) / self.hbm_bw()
    }

    /// Sustained matmul rate in MAC/s of the whole GPU for `dtype`, and whether on tensor cores.
    ///
    /// Tensor cores sustain `mma_efficiency` (fitted on bf16) times the type's measured/datasheet
    /// ratio relative to bf16; CUDA-core SGEMM sustains its measured fraction of peak
    /// (`info.json`) in its largest (128×128) tile.
    pub fn mac_rate(&self, dtype: DType) -> (f64, bool) {
        let (peak, tensor) = self.spec.matmul_peak(dtype, self.allow_tf32);
        let eff = if tensor {
            self.cal.mma_efficiency * info::relative_efficiency(dtype, true)
        } else {
            info::cuda_core_efficiency()
        };
        (peak / 2.0 * eff, tensor)
    }

    /// The best tile and split for a GEMM problem, and its estimate.
    pub fn gemm(&self, p: &GemmProblem, dtype: DType) -> KernelEstimate {
        self.gemm_planned(p, dtype, None)
    }

    /// [`Device::gemm`] restricted to one `(tile, split)` when `plan` is given (a mapping
    /// already chosen; split 0 is stream-K). Falls back to the free choice if the plan does not
    /// apply.
    pub fn gemm_planned(
        &self,
        p: &GemmProblem,
        dtype: DType,
        plan: Option<([u32; 2], u32)>,
    ) -> KernelEstimate {
        let allowed = |bm: u64, bn: u64, s: u64| {
            plan.is_none_or(|(t, sp)| {
                u64::from(t[0]) == bm && u64::from(t[1]) == bn && u64::from(sp) == s
            })
        };
        let c = self.cal;
        let sms = self.sms();
        let (rate, _) = self.mac_rate(dtype);
        let mut rate_sm = rate / sms * p.rate_factor.clamp(1e-3, 1.0);
        let bw = self.hbm_bw();
        let (_, tensor) = self.spec.matmul_peak(dtype, self.allow_tf32);
        // CUDA-core SGEMM loads through L1 with no alignment-dependent fallback.
        let align = p.align_a.min(p.align_b);
        let narrow = tensor && align < 16 && p.m > 1;
        let mut sm_bw = c.sm_stream_gbps * 1e9;
        let mut fixed = p.extra_s;
        if narrow {
            let a = align.max(1) as f64 / 2.0;
            rate_sm *= (c.narrow_mma * a.powf(c.narrow_exponent)).min(1.0);
            sm_bw *= (c.narrow_bw * a.powf(c.narrow_bw_exponent)).min(1.0);
            fixed += c.narrow_us * 1e-6;
        }
        let (a_src, a_hbm) = (bw, p.a_bytes);
        let (b_src, b_hbm) = (bw, p.b_bytes);
        let warmup = if p.warmup {
            self.warmup(a_hbm + b_hbm)
        } else {
            0.0
        };
        let flops = 2.0 * (p.batch * p.m) as f64 * p.n as f64 * p.k as f64;
        // CUDA-core SGEMM's measured peak (info.json) is its 128×128 tile's rate.
        let anchor = if tensor {
            1.0
        } else {
            1.0 + c.tile_overhead / 64.0
        };
        let mut best: Option<(f64, KernelEstimate)> = None;
        let class = if narrow {
            KernelClass::GemmNarrow
        } else {
            KernelClass::Gemm
        };
        let mut consider = |t: f64,
                            compute: f64,
                            memory: f64,
                            bm: u64,
                            bn: u64,
                            s: u64,
                            waves: u64,
                            partials: f64| {
            if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                best = Some((
                    t,
                    KernelEstimate {
                        class,
                        launches: 1,
                        compute_s: compute,
                        memory_s: memory,
                        body_s: t,
                        hbm_bytes: a_hbm + b_hbm + p.c_bytes + partials,
                        l2_bytes: p.a_bytes + p.b_bytes - a_hbm - b_hbm,
                        flops,
                        tile: [bm as u32, bn as u32],
                        split: s as u32,
                        waves,
                    },
                ));
            }
        };
        let small_m: &[(u64, u64)] = if tensor {
            &SMALL_M_TILES
        } else {
            &SMALL_M_TILES[1..]
        };
        let gemv: &[(u64, u64)] = if p.m == 1 { &[GEMV_TILE] } else { &[] };
        let simt = &TILES[..4];
        let big: &[(u64, u64)] = if tensor { &TILES } else { simt };
        for &(bm, bn) in gemv.iter().chain(small_m).chain(big) {
            // A GEMV streams B once and does one MAC per element: no tile staging.
            let staging = if bm == 1 {
                1.0
            } else {
                (1.0 + c.tile_overhead * (1.0 / bm as f64 + 1.0 / bn as f64)) / anchor
            };
            let per_step = (bm * bn) as f64 / rate_sm * staging;
            let base_tiles = p.m.div_ceil(bm) * p.n.div_ceil(bn) * p.batch;
            for &s in &SPLITS {
                if !allowed(bm, bn, s) {
                    continue;
                }
                let ks = p.k.div_ceil(s);
                if s > 1 && (ks < 64 || base_tiles as f64 >= sms) {
                    continue;
                }
                let tiles = base_tiles * s;
                let waves = tiles.div_ceil(sms as u64);
                let compute = waves as f64 * (c.wave_us * 1e-6 + ks as f64 * per_step);
                let active = (tiles as f64).min(sms);
                let cap = active * sm_bw;
                let partials = if s > 1 {
                    (s - 1) as f64 * (p.batch * p.m * p.n) as f64 * 8.0
                } else {
                    0.0
                };
                let loads = p.a_bytes / a_src.min(cap) + p.b_bytes / b_src.min(cap);
                let stores = (p.c_bytes + partials) / bw.min(cap);
                // The fallback kernels store their tile after the main loop, with narrow
                // stores that do not overlap the math (no TMA-store epilogue).
                let (compute, memory) = if narrow {
                    (compute + stores, loads + self.ramp() + warmup)
                } else {
                    (compute, loads + stores + self.ramp() + warmup)
                };
                let split = if s > 1 { c.split_k_us * 1e-6 } else { 0.0 };
                let t = compute.max(memory) + split + fixed;
                consider(t, compute, memory, bm, bn, s, waves, partials);
            }
            // Stream-K (cuBLAS/CUTLASS): the big tiles' k-iterations dealt out evenly to the
            // SMs, which removes wave quantization at the price of a partial-tile fixup.
            if !narrow && bm * bn >= 128 * 128 && base_tiles as f64 > sms && allowed(bm, bn, 0) {
                let iters = p.k.div_ceil(STREAM_K_STEP);
                let per_sm = (base_tiles * iters).div_ceil(sms as u64);
                let compute = c.wave_us * 1e-6 * (per_sm as f64 / iters as f64).ceil()
                    + (per_sm * STREAM_K_STEP) as f64 * per_step;
                let partials = sms * (bm * bn) as f64 * 8.0;
                let memory = p.a_bytes / a_src.min(bw)
                    + p.b_bytes / b_src.min(bw)
                    + (p.c_bytes + partials) / bw
                    + self.ramp()
                    + warmup;
                let t = compute.max(memory) + c.split_k_us * 1e-6 + fixed;
                let waves = base_tiles.div_ceil(sms as u64);
                consider(t, compute, memory, bm, bn, 0, waves, partials);
            }
        }
        match best {
            Some((_, e)) => e,
            None if plan.is_some() => self.gemm_planned(p, dtype, None),
            None => KernelEstimate::view(),
        }
    }

    /// FlashAttention (prefill) or flash-decoding (decode) for one attention op.
    ///
    /// `kv_heads_read` is the number of K/V heads the kernel reads from memory (the op's
    /// `kv_heads` for a GQA kernel; `heads` when K/V were expanded beforehand).
    pub fn attention(&self, a: &Attention, dtype: DType) -> KernelEstimate {
        let c = self.cal;
        let sms = self.sms();
        let b = dtype.bytes() as f64;
        let (rate, _) = self.mac_rate(dtype);
        let rate_sm = rate / sms;
        let (bf, hf, d) = (a.batch as f64, a.heads as f64, a.head_dim as f64);
        let q_bytes = bf * hf * a.q_len as f64 * d * b;
        let kv_bytes = 2.0 * bf * a.kv_heads as f64 * a.kv_len as f64 * d * b;
        let bw = self.hbm_bw();
        if a.q_len <= 16 {
            // Flash-decoding: each CTA reads a chunk of one head's cache; split the cache when
            // batch × heads CTAs cannot fill the SMs (FlashAttention-2's heuristic), which adds
            // a combine kernel.
            let ctas = (a.batch * a.heads) as f64;
            let blocks = (a.kv_len as f64 / 128.0).ceil().max(1.0);
            let split = if ctas < 0.8 * sms {
                (sms / ctas.max(1.0)).ceil().min(blocks).clamp(1.0, 128.0)
            } else {
                1.0
            };
            let macs = 2.0 * bf * hf * a.q_len as f64 * a.kv_len as f64 * d;
            let compute = macs / rate + c.wave_us * 1e-6 * (ctas * split / sms).ceil();
            let cap = (ctas * split).min(sms) * c.sm_stream_gbps * 1e9;
            let bytes = q_bytes * 2.0 + kv_bytes;
            let memory = bytes / bw.min(cap) + self.ramp();
            let launches = if split > 1.0 { 2 } else { 1 };
            return KernelEstimate {
                class: KernelClass::FlashDecode,
                launches,
                compute_s: compute,
                memory_s: memory,
                body_s: compute.max(memory),
                hbm_bytes: bytes,
                l2_bytes: 0.0,
                flops: 2.0 * macs,
                tile: [0, 0],
                split: split as u32,
                waves: 1,
            };
        }
        // FlashAttention: CTA per (sequence, head, 128-query block); each visits the 128-key
        // blocks it needs, two GEMMs (QKᵀ, PV) of 128×128×d each per block.
        let (br, bc) = (128u64, 128u64);
        let q_blocks = a.q_len.div_ceil(br);
        let kv_blocks = a.kv_len.div_ceil(bc);
        let per_block = 2.0 * (br * bc) as f64 * d / (rate_sm * c.attention_efficiency)
            * (1.0 + c.tile_overhead * (1.0 / br as f64 + 1.0 / bc as f64));
        let offset = a.kv_len.saturating_sub(a.q_len);
        let mut total_blocks = 0u64;
        let mut max_blocks = 0u64;
        for i in 0..q_blocks {
            let need = if a.causal {
                ((offset + (i + 1) * br).div_ceil(bc)).min(kv_blocks)
            } else {
                kv_blocks
            };
            total_blocks += need;
            max_blocks = max_blocks.max(need);
        }
        let heads_seqs = (a.batch * a.heads) as f64;
        let ctas = heads_seqs * q_blocks as f64;
        let waves = (ctas / sms).ceil();
        let avg = heads_seqs * total_blocks as f64 * per_block / sms;
        // Greedy CTA scheduling of unequal CTAs: the average load per SM plus half the
        // longest CTA (the expected imbalance of the last wave), never less than the longest.
        let longest = max_blocks as f64 * per_block;
        let compute = (avg + longest / 2.0).max(longest) + waves * c.wave_us * 1e-6;
        // Q, K, V and O through device memory; every query block re-reads its K/V blocks
        // through L2.
        let hbm = 2.0 * q_bytes + kv_bytes;
        let l2 = heads_seqs * total_blocks as f64 * 2.0 * (bc as f64) * d * b;
        let memory = (hbm / bw).max(l2 / self.l2_bw()) + self.ramp();
        let macs = 2.0 * heads_seqs * total_blocks as f64 * (br * bc) as f64 * d;
        KernelEstimate {
            class: KernelClass::FlashAttention,
            launches: 1,
            compute_s: compute,
            memory_s: memory,
            body_s: compute.max(memory) + c.attention_us * 1e-6,
            hbm_bytes: hbm,
            l2_bytes: l2,
            flops: 2.0 * macs,
            tile: [br as u32, bc as u32],
            split: 1,
            waves: waves as u64,
        }
    }

    /// A bandwidth-bound kernel moving `bytes` (ideal read + write) with `passes` effective
    /// passes.
    fn memory_kernel(&self, bytes: f64, passes: f64, flops: f64) -> KernelEstimate {
        let memory = bytes * passes / self.hbm_bw() + self.ramp();
        // Element-wise math on CUDA cores: rarely binding, counted for completeness.
        let compute = flops / (self.spec.cuda_tflops * 1e12).max(1.0) + self.cal.wave_us * 1e-6;
        KernelEstimate {
            class: KernelClass::Memory,
            launches: 1,
            compute_s: compute,
            memory_s: memory,
            body_s: compute.max(memory),
            hbm_bytes: bytes,
            l2_bytes: 0.0,
            flops,
            tile: [0, 0],
            split: 1,
            waves: 1,
        }
    }

    /// The kernels of one op.
    pub fn op(&self, op: &Op) -> KernelEstimate {
        self.op_planned(op, None)
    }

    /// The kernels of one op, with a GEMM-like op's `(tile, split)` fixed by `plan` (see
    /// [`Device::gemm_planned`]).
    pub fn op_planned(&self, op: &Op, plan: Option<([u32; 2], u32)>) -> KernelEstimate {
        let dtype = op.dtype;
        match &op.kind {
            OpKind::Reshape => KernelEstimate::view(),
            OpKind::Gemm(g) => {
                let p = GemmProblem::dense(g.batch, g.m, g.n, g.k, dtype);
                self.gemm_planned(&p, dtype, plan)
            }
            OpKind::Conv2d(cv) | OpKind::ConvTranspose2d(cv) => {
                let mut e = self.conv(op, cv, dtype, plan);
                if cv.folded_bn && !self.fold_batchnorm {
                    // The framework's BatchNorm after the conv: a kernel of its own that reads
                    // and writes the conv's output (inference mode: a per-channel scale and
                    // shift).
                    let out = op.bytes_written() as f64;
                    let bn = self.memory_kernel(2.0 * out, 1.0, 2.0 * numel(&op.output) as f64);
                    e.launches += bn.launches;
                    e.body_s += bn.body_s;
                    e.compute_s += bn.compute_s;
                    e.memory_s += bn.memory_s;
                    e.hbm_bytes += bn.hbm_bytes;
                    e.flops += bn.flops;
                }
                e
            }
            OpKind::Attention(a) => self.attention(a, dtype),
            OpKind::Collective { func, ranks } => self.collective(op, *func, *ranks),
            OpKind::Norm { .. } => {
                let cols = op.output.last().copied().unwrap_or(1).max(1);
                let rows = (numel(&op.output) / cols).max(1);
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                let mut e = self.memory_kernel(bytes, self.cal.norm_passes, op.flops() as f64);
                let waves = (rows as f64 / (self.sms() * ROWS_PER_SM)).ceil();
                let row = waves * cols as f64 * self.cal.row_ns * 1e-9;
                e.compute_s = e.compute_s.max(row);
                e.body_s = e.compute_s.max(e.memory_s);
                e
            }
            OpKind::Softmax => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                self.memory_kernel(bytes, self.cal.softmax_passes, op.flops() as f64)
            }
            OpKind::Embedding { .. } => {
                // Gather: read the rows and the ids, write the output.
                let bytes = (2 * op.bytes_written()) as f64 + op.input_elems() as f64 * 4.0;
                self.memory_kernel(bytes, 1.0, 0.0)
            }
            OpKind::Reduce {
                func: ReduceFunc::Mean | ReduceFunc::Sum | ReduceFunc::MaxMin,
            }
            | OpKind::Pool(_)
            | OpKind::Elementwise { .. }
            | OpKind::Copy
            | OpKind::MoeRouter { .. } => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                self.memory_kernel(bytes, 1.0, op.flops() as f64)
            }
        }
    }

    /// A (transposed) convolution as implicit GEMM, or the depthwise stencil.
    fn conv(
        &self,
        op: &Op,
        cv: &Conv2d,
        dtype: DType,
        plan: Option<([u32; 2], u32)>,
    ) -> KernelEstimate {
        let b = dtype.bytes();
        let Some(v) = op.gemm_view() else {
            return KernelEstimate::view();
        };
        if cv.is_depthwise() {
            return self.depthwise(op, v);
        }
        let input = op.input_elems() as f64 * b as f64;
        let weights = op.weight_elems() as f64 * b as f64;
        let mut p = GemmProblem {
            batch: v.groups,
            m: v.m,
            n: v.n,
            k: v.k,
            a_bytes: input,
            b_bytes: weights,
            c_bytes: op.bytes_written() as f64,
            align_a: alignment(cv.in_channels / cv.groups.max(1) * b),
            align_b: alignment(cv.out_channels / cv.groups.max(1) * b),
            extra_s: self.cal.conv_us * 1e-6,
            warmup: false,
            // The im2col gather of a windowed conv (address generation, halos) slows the main
            // loop.
            rate_factor: if cv.kernel[0] * cv.kernel[1] > 1 {
                self.cal.conv_window_efficiency
            } else {
                1.0
            },
        };
        if v.groups > 1 {
            p.align_a = p.align_a.min(alignment(v.k * b));
        }
        let mut e = self.gemm_planned(&p, dtype, plan);
        e.class = KernelClass::Conv;
        e
    }

    /// Depthwise convolution: a stencil over channels-last activations, memory-bound; its
    /// MACs run on the CUDA cores (2 per lane and cycle for 16-bit types).
    fn depthwise(&self, op: &Op, v: GemmView) -> KernelEstimate {
        let b = op.dtype.bytes() as f64;
        let input = op.input_elems() as f64 * b;
        let bytes = input + op.bytes_written() as f64 + op.weight_elems() as f64 * b;
        let mut e = self.memory_kernel(bytes, self.cal.depthwise_passes, 0.0);
        let lanes = if b <= 2.0 { 2.0 } else { 1.0 };
        let macs = v.macs() as f64;
        e.flops = 2.0 * macs;
        e.compute_s =
            2.0 * macs / (self.spec.cuda_tflops * 1e12 * lanes * self.cal.mma_efficiency).max(1.0);
        e.body_s = e.compute_s.max(e.memory_s) + self.cal.conv_us * 1e-6;
        e.class = KernelClass::DepthwiseConv;
        e
    }

    /// All-reduce or all-gather of the op's output, or all-to-all(v) of its buffer
    /// ([`Op::collective_bytes`]), across `ranks` GPUs, priced by
    /// `archsim-net` as NCCL on the preset's NVSwitch (or PCIe where it has no NVLink).
    fn collective(&self, op: &Op, func: CollectiveFunc, ranks: u64) -> KernelEstimate {
        let n = ranks.max(1) as f64;
        let bytes = op.collective_bytes() as f64;
        let links = if self.spec.nvlink_gbps > 0.0 {
            Links::nccl_switch(self.spec.nvlink_gbps)
        } else {
            Links::nccl_pcie(self.spec.host_link_gbps)
        };
        // Bytes each GPU sends (and receives) in a ring: what its HBM streams.
        let traffic = match func {
            CollectiveFunc::AllReduce => 2.0 * (n - 1.0) / n * bytes,
            CollectiveFunc::AllGather | CollectiveFunc::AllToAll => (n - 1.0) / n * bytes,
        };
        let memory = links.seconds(func, ranks, bytes);
        // The reduction's adds run at memory speed on each GPU.
        let compute = if func == CollectiveFunc::AllReduce && n > 1.0 {
            traffic / self.hbm_bw()
        } else {
            0.0
        };
        KernelEstimate {
            class: KernelClass::Collective,
            launches: u32::from(n > 1.0),
            compute_s: compute,
            memory_s: memory,
            body_s: compute.max(memory),
            hbm_bytes: 2.0 * traffic,
            l2_bytes: 0.0,
            flops: if func == CollectiveFunc::AllReduce {
                (n - 1.0) / n * bytes / op.dtype.bytes() as f64
            } else {
                0.0
            },
            tile: [0, 0],
            split: 1,
            waves: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> (GpuSpec, Calibration) {
        (GpuSpec::preset("h100_sxm").unwrap(), Calibration::h100())
    }

    #[test]
    fn alignment_is_the_largest_power_of_two_up_to_16() {
        assert_eq!(alignment(4096 * 2), 16);
        assert_eq!(alignment(4476 * 2), 8);
        assert_eq!(alignment(2983 * 2), 2);
        assert_eq!(alignment(0), 16);
    }

    #[test]
    fn big_gemm_is_compute_bound_and_gemv_memory_bound() {
        let (s, c) = h100();
        let d = Device {
            spec: &s,
            cal: &c,
            allow_tf32: false,
            fold_batchnorm: false,
        };
        let big = d.gemm(
            &GemmProblem::dense(1, 8192, 8192, 8192, DType::Bf16),
            DType::Bf16,
        );
        assert_eq!(big.bound(), "compute");
        let tflops = big.flops / big.body_s / 1e12;
        assert!(tflops > 600.0 && tflops < 989.4, "{tflops}");
        let gemv = d.gemm(
            &GemmProblem::dense(1, 1, 8192, 8192, DType::Bf16),
            DType::Bf16,
        );
        assert_eq!(gemv.bound(), "memory");
        let gbps = gemv.hbm_bytes / gemv.body_s / 1e9;
        assert!(gbps > 2000.0 && gbps < 3350.0, "{gbps}");
    }

    #[test]
    fn misaligned_gemm_falls_back_and_is_slower() {
        let (s, c) = h100();
        let d = Device {
            spec: &s,
            cal: &c,
            allow_tf32: false,
            fold_batchnorm: false,
        };
        let t = |n| {
            d.gemm(
                &GemmProblem::dense(1, 4096, n, 4096, DType::Bf16),
                DType::Bf16,
            )
        };
        let (a, m) = (t(4096), t(4095));
        assert_eq!(a.class, KernelClass::Gemm);
        assert_eq!(m.class, KernelClass::GemmNarrow);
        assert!(m.body_s > 2.0 * a.body_s);
    }
}

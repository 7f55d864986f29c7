//! Calibration constants of the GPU kernel models, and the fitter that sets them.
//!
//! The kernel models in [`super::kernels`] are built from the hardware's resources; what the
//! datasheet cannot say (how close a kernel gets to peak, what a launch costs, how a kernel
//! without 16-byte-aligned operands behaves) is a named constant here. Each constant has one
//! physical meaning, and each is either
//!
//! * **measured** — read off `info.json` of the H100 measurements (peak ratios, copy
//!   bandwidth, eager launch cost),
//! * **fitted** — by [`fit`] (Nelder–Mead on the mean absolute percentage error) on
//!   `gemm.csv`, `attn.csv`, `conv.csv` or `ops.csv` only, or
//! * **external** — taken from a cited public measurement because the H100 data cannot
//!   separate it (the CUDA-graph launch gap).
//!
//! `llm.csv` and `models.csv` are never used for fitting: they check the models.
//!
//! The fitted values of [`Calibration::h100`] are what `cargo run --release --example
//! gpu_validation` prints for a fit on all rows (the test `preset_constants_are_the_full_fit`
//! keeps them in sync).

use serde::{Deserialize, Serialize};

/// Peak matmul throughput measured on the H100 in `info.json` (TFLOP/s; 8192³ bf16/fp16,
/// 4096³ fp32/tf32, warm L2).
pub mod info {
    /// bf16 matmul peak.
    pub const PEAK_BF16_TFLOPS: f64 = 787.615763605488;
    /// fp16 matmul peak.
    pub const PEAK_FP16_TFLOPS: f64 = 757.6401710732918;
    /// fp32 matmul peak (TF32 off: CUDA cores).
    pub const PEAK_FP32_TFLOPS: f64 = 51.34020436158928;
    /// tf32 matmul peak.
    pub const PEAK_TF32_TFLOPS: f64 = 395.7765754711485;
    /// Device-to-device copy bandwidth counting bytes read plus written, GB/s.
    pub const COPY_GBPS: f64 = 3020.6370028580186;
    /// Eager launch cost of a tiny kernel from Python, µs.
    pub const EAGER_SMALL_KERNEL_US: f64 = 20.596352500000137;

    /// H100 SXM datasheet dense peaks (TFLOP/s) the measured ones are compared with.
    const DATASHEET_BF16: f64 = 989.4;
    const DATASHEET_TF32: f64 = 494.7;
    const DATASHEET_FP32: f64 = 66.9;

    /// Fraction of the datasheet CUDA-core FP32 peak an SGEMM sustains (`info.json`: 51.3 of
    /// 66.9 TFLOP/s).
    pub fn cuda_core_efficiency() -> f64 {
        PEAK_FP32_TFLOPS / DATASHEET_FP32
    }

    /// Measured/datasheet peak ratio of a data type relative to bf16's: how much closer to (or
    /// further from) its datasheet peak the type gets than bf16 (fp16 0.96, tf32 1.00, fp32 on
    /// CUDA cores 0.96). Types without a measurement use 1.
    pub fn relative_efficiency(dtype: archsim_workloads::DType, tensor: bool) -> f64 {
        use archsim_workloads::DType;
        let bf16 = PEAK_BF16_TFLOPS / DATASHEET_BF16;
        match (dtype, tensor) {
            (DType::Fp32, false) => PEAK_FP32_TFLOPS / DATASHEET_FP32 / bf16,
            (DType::Fp32, true) => PEAK_TF32_TFLOPS / DATASHEET_TF32 / bf16,
            (DType::Fp16, _) => PEAK_FP16_TFLOPS / DATASHEET_BF16 / bf16,
            _ => 1.0,
        }
    }
}

/// The calibration constants. Times in µs, bandwidths in GB/s, sizes in MB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    // ---- matrix units -----------------------------------------------------------------
    /// Fitted. Fraction of the datasheet bf16 tensor-core peak a large tile's main loop
    /// sustains (the clock under the power limit, issue overheads). Other types scale it by
    /// their measured/datasheet ratio relative to bf16 (`info.json`).
    pub mma_efficiency: f64,
    /// Fitted. Operand-staging cost of a `bm × bn` output tile: each k-step costs
    /// `bm·bn·(1 + tile_overhead·(1/bm + 1/bn))` MAC slots, so small tiles, which reuse each
    /// loaded operand element less, run further from peak.
    pub tile_overhead: f64,
    /// Fitted. Per-wave cost of a tile: pipeline fill (first operand loads) plus epilogue
    /// (accumulator store), µs.
    pub wave_us: f64,
    /// Fitted. Bandwidth one SM can stream from memory (bytes in flight over latency), GB/s:
    /// caps a kernel that runs on few SMs.
    pub sm_stream_gbps: f64,
    /// Fitted. Extra cost of a split-K GEMM (the reduction of the partial sums), µs.
    pub split_k_us: f64,
    /// Fitted. Throughput of the fallback kernels used when a GEMM operand's leading dimension
    /// is not 16-byte aligned (no TMA, narrow vector loads), as a fraction of the aligned
    /// kernels' MAC rate at 2-byte alignment.
    pub narrow_mma: f64,
    /// Fitted. Operand load bandwidth of those fallback kernels at 2-byte alignment, as a
    /// fraction of the achievable memory bandwidth.
    pub narrow_bw: f64,
    /// Fitted. The fallback MAC rate grows with the alignment as
    /// `(alignment_bytes / 2)^narrow_exponent`.
    pub narrow_exponent: f64,
    /// Fitted. The fallback load bandwidth grows as `(alignment_bytes / 2)^narrow_bw_exponent`.
    pub narrow_bw_exponent: f64,
    /// Fitted. Extra fixed cost of a fallback kernel, µs.
    pub narrow_us: f64,
    // ---- memory ---------------------------------------------------------------------
    /// Measured. Achievable fraction of the datasheet memory bandwidth: `info.json` copy
    /// bandwidth (read + write) over the H100's 3.35 TB/s.
    pub hbm_efficiency: f64,
    /// Fitted. Fill and drain of a memory-bound kernel's request pipeline, µs.
    pub dram_ramp_us: f64,
    // ---- attention --------------------------------------------------------------------
    /// Fitted on `attn.csv`. Fraction of the GEMM main-loop rate a FlashAttention KV block
    /// sustains (the softmax, its exponentials and rescaling, between the two products).
    pub attention_efficiency: f64,
    /// Fitted on `attn.csv`. Fixed cost of a FlashAttention kernel beyond a GEMM's (per-CTA
    /// softmax state, Q tile load, output rescale), µs.
    pub attention_us: f64,
    // ---- convolution ----------------------------------------------------------------
    /// Fitted on `conv.csv`. MAC-rate factor of an implicit-GEMM convolution with a window
    /// larger than 1×1 (the on-the-fly im2col gather), relative to a GEMM.
    pub conv_window_efficiency: f64,
    /// Fitted on `conv.csv`. Extra fixed cost of a cuDNN convolution kernel over a cuBLAS
    /// GEMM's (filter-layout and im2col setup), µs.
    pub conv_us: f64,
    /// Fitted on `conv.csv`. Effective passes over memory of a depthwise convolution (halo
    /// re-reads, channels-last stencil), relative to one read + one write.
    pub depthwise_passes: f64,
    // ---- memory-bound ops -------------------------------------------------------------
    /// Fitted on `ops.csv`. Effective passes over memory of a normalization kernel (read for
    /// the statistics, read again to normalize, write), relative to one read + one write.
    pub norm_passes: f64,
    /// Fitted on `ops.csv`. Same for softmax along the last axis (max, sum, normalize).
    pub softmax_passes: f64,
    /// Fitted on `ops.csv`. Latency per element of a row reduction done by one thread block,
    /// ns: a normalization of few long rows is bound by it rather than by bandwidth.
    pub row_ns: f64,
    // ---- launch ---------------------------------------------------------------------
    /// Fitted. Fixed time of one kernel as the calibration harness measures it (CUDA events
    /// around an eager call with the GPU otherwise idle: host submission after the start event,
    /// launch, first CTA), µs. Applies to isolated measurements only.
    pub harness_floor_us: f64,
    /// Fitted. Warm-up of a cuBLAS GEMM's operand stream, MB: the first `gemm_warmup_mb` of
    /// the bytes the kernel reads stream at `1 / (1 + gemm_warmup_share)` of the full rate, so
    /// the kernel pays `gemm_warmup_share × min(bytes read, gemm_warmup_mb)` more at the
    /// memory bandwidth. Element-wise kernels (`ops.csv`) and cuDNN convolutions (`conv.csv`)
    /// show no such cost after the same cache flush, so it is a property of the GEMM kernels,
    /// not of the cold L2, and it applies inside networks too.
    pub gemm_warmup_mb: f64,
    /// Fitted. How much slower a cuBLAS GEMM's operand stream runs during its warm-up
    /// (`gemm_warmup_mb`), as the extra time per byte relative to the full rate: `gemm.csv`'s
    /// GEMVs of 34–52 MB pay a third of their bytes' time more, the longer ones about 9 µs
    /// in all.
    pub gemm_warmup_share: f64,
    /// External. Gap between back-to-back kernels replayed from a CUDA graph, µs: NVIDIA's
    /// "Getting Started with CUDA Graphs" (A. Gray, NVIDIA Technical Blog, 2019) measures
    /// 3.4 µs per graph node for a 2.9 µs kernel, i.e. ~0.5 µs of launch gap.
    pub graph_launch_us: f64,
    /// External. Gap between back-to-back kernels queued by the host on a stream without a
    /// graph (the host running ahead), µs: the same blog measures 3.8 µs per kernel, ~0.9 µs.
    pub queued_launch_us: f64,
    // ---- kernels inside a network (fitted on `kernels.csv`) -------------------------------
    /// Fitted on `kernels.csv`. Shortest in-network duration of PyTorch's vectorized
    /// element-wise kernel (and of other small memory-bound kernels), µs: the decode layer's
    /// `add`, `rsqrt` and `pow` on 16 × 4096 elements take 1.2–1.7 µs, not the 0.1 µs their
    /// bytes need.
    pub stream_floor_us: f64,
    /// Fitted on `kernels.csv`. Shortest in-network duration of PyTorch's generic loop kernel
    /// (broadcast or strided operands, copies into a strided cache slice, memsets), µs.
    pub loop_floor_us: f64,
    /// Fitted on `kernels.csv`. Shortest in-network duration of a row reduction (`mean` over
    /// the hidden size), µs.
    pub reduce_floor_us: f64,
    /// Fitted on `kernels.csv`. Fraction of the copy bandwidth PyTorch's generic loop kernel
    /// reaches (no vector loads; the prefill layer's SiLU on a chunked view, its cache copies).
    pub loop_bw: f64,
    /// Fitted on `kernels.csv`. Effective passes over memory of PyTorch's channels-last
    /// BatchNorm transform, relative to one read + one write.
    pub bn_passes: f64,
    /// Fitted on `kernels.csv`. Effective passes over memory of PyTorch's channels-last max
    /// pooling (its window re-reads), relative to one read + one write.
    pub pool_passes: f64,
    /// Fitted on `kernels.csv`. Bytes of the previous kernel's output still in L2 when the
    /// next kernel reads it, MB.
    pub l2_resident_mb: f64,
    /// Fitted on `kernels.csv`. Main-loop time of a compute-bound kernel (GEMM, convolution,
    /// attention) inside a long kernel sequence relative to the same kernel timed alone: the
    /// in-network durations of the prefill layer's GEMMs against `gemm.csv`'s for the same
    /// shapes.
    pub sustained_mma: f64,
    /// Fitted on `kernels.csv`. Main-loop time of a cuDNN convolution in a PyTorch network
    /// relative to `conv.csv`'s: the network runs cuDNN's default heuristics, `conv.csv` was
    /// autotuned (`cudnn.benchmark`), so the network's kernels are not always the fastest.
    pub conv_heuristic: f64,
}

impl Calibration {
    /// The constants fitted on the H100 SXM measurements (see the module docs).
    pub fn h100() -> Calibration {
        Calibration {
            mma_efficiency: 0.9717,
            tile_overhead: 26.24,
            wave_us: 0.03642,
            sm_stream_gbps: 137.8,
            split_k_us: 3.045,
            narrow_mma: 0.2091,
            narrow_bw: 0.06159,
            narrow_exponent: 0.4525,
            narrow_bw_exponent: 1.139,
            narrow_us: 2.732,
            hbm_efficiency: info::COPY_GBPS / 3350.0,
            dram_ramp_us: 0.3147,
            attention_efficiency: 0.8746,
            attention_us: 3.256,
            conv_window_efficiency: 0.786,
            conv_us: 0.8113,
            depthwise_passes: 1.694,
            norm_passes: 1.584,
            softmax_passes: 2.333,
            row_ns: 1.933,
            harness_floor_us: 5.698,
            gemm_warmup_mb: 73.87,
            gemm_warmup_share: 0.3694,
            graph_launch_us: 0.5,
            queued_launch_us: 0.9,
            stream_floor_us: 1.536,
            loop_floor_us: 2.144,
            reduce_floor_us: 5.856,
            loop_bw: 0.4612,
            bn_passes: 1.988,
            pool_passes: 8.759,
            l2_resident_mb: 24.6,
            sustained_mma: 0.9316,
            conv_heuristic: 1.301,
        }
    }

    /// Neutral starting point of a fit: physically plausible round numbers, not fitted to
    /// anything (so that cross-validation folds start from no knowledge of the held-out rows).
    pub fn initial_guess() -> Calibration {
        Calibration {
            mma_efficiency: 0.8,
            tile_overhead: 16.0,
            wave_us: 1.0,
            sm_stream_gbps: 22.0,
            split_k_us: 2.0,
            narrow_mma: 0.2,
            narrow_bw: 0.3,
            narrow_exponent: 0.5,
            narrow_bw_exponent: 0.5,
            narrow_us: 4.0,
            hbm_efficiency: info::COPY_GBPS / 3350.0,
            dram_ramp_us: 1.0,
            attention_efficiency: 0.7,
            attention_us: 3.0,
            conv_window_efficiency: 0.8,
            conv_us: 1.0,
            depthwise_passes: 1.5,
            norm_passes: 1.5,
            softmax_passes: 2.0,
            row_ns: 1.0,
            harness_floor_us: 5.0,
            gemm_warmup_mb: 10.0,
            gemm_warmup_share: 1.0,
            graph_launch_us: 0.5,
            queued_launch_us: 0.9,
            stream_floor_us: 1.0,
            loop_floor_us: 1.0,
            reduce_floor_us: 1.0,
            loop_bw: 1.0,
            bn_passes: 1.0,
            pool_passes: 1.0,
            l2_resident_mb: 10.0,
            sustained_mma: 1.0,
            conv_heuristic: 1.0,
        }
    }

    /// Mutable access to a constant by its field name.
    pub fn param_mut(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "mma_efficiency" => &mut self.mma_efficiency,
            "tile_overhead" => &mut self.tile_overhead,
            "wave_us" => &mut self.wave_us,
            "sm_stream_gbps" => &mut self.sm_stream_gbps,
            "split_k_us" => &mut self.split_k_us,
            "narrow_mma" => &mut self.narrow_mma,
            "narrow_bw" => &mut self.narrow_bw,
            "narrow_exponent" => &mut self.narrow_exponent,
            "narrow_bw_exponent" => &mut self.narrow_bw_exponent,
            "narrow_us" => &mut self.narrow_us,
            "hbm_efficiency" => &mut self.hbm_efficiency,
            "dram_ramp_us" => &mut self.dram_ramp_us,
            "attention_efficiency" => &mut self.attention_efficiency,
            "attention_us" => &mut self.attention_us,
            "conv_window_efficiency" => &mut self.conv_window_efficiency,
            "conv_us" => &mut self.conv_us,
            "depthwise_passes" => &mut self.depthwise_passes,
            "norm_passes" => &mut self.norm_passes,
            "softmax_passes" => &mut self.softmax_passes,
            "row_ns" => &mut self.row_ns,
            "harness_floor_us" => &mut self.harness_floor_us,
            "gemm_warmup_mb" => &mut self.gemm_warmup_mb,
            "gemm_warmup_share" => &mut self.gemm_warmup_share,
            "graph_launch_us" => &mut self.graph_launch_us,
            "queued_launch_us" => &mut self.queued_launch_us,
            "stream_floor_us" => &mut self.stream_floor_us,
            "loop_floor_us" => &mut self.loop_floor_us,
            "reduce_floor_us" => &mut self.reduce_floor_us,
            "loop_bw" => &mut self.loop_bw,
            "bn_passes" => &mut self.bn_passes,
            "pool_passes" => &mut self.pool_passes,
            "l2_resident_mb" => &mut self.l2_resident_mb,
            "sustained_mma" => &mut self.sustained_mma,
            "conv_heuristic" => &mut self.conv_heuristic,
            _ => return None,
        })
    }

    /// A constant by its field name.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.clone().param_mut(name).map(|v| *v)
    }
}

/// The constants each calibration file fits (the others stay as given).
pub mod fitted {
    /// Fitted on `gemm.csv`.
    pub const GEMM: &[&str] = &[
        "mma_efficiency",
        "tile_overhead",
        "wave_us",
        "sm_stream_gbps",
        "split_k_us",
        "narrow_mma",
        "narrow_bw",
        "narrow_exponent",
        "narrow_bw_exponent",
        "narrow_us",
        "dram_ramp_us",
        "harness_floor_us",
        "gemm_warmup_mb",
        "gemm_warmup_share",
    ];
    /// Fitted on `attn.csv` (GEMM constants fixed).
    pub const ATTENTION: &[&str] = &["attention_efficiency", "attention_us"];
    /// Fitted on `conv.csv` (GEMM constants fixed).
    pub const CONV: &[&str] = &["conv_window_efficiency", "conv_us", "depthwise_passes"];
    /// Fitted on `ops.csv` (GEMM constants fixed).
    pub const OPS: &[&str] = &["norm_passes", "softmax_passes", "row_ns"];
    /// Fitted on `kernels.csv`, the in-network kernel durations (every isolated constant
    /// fixed).
    pub const NETWORK: &[&str] = &[
        "stream_floor_us",
        "loop_floor_us",
        "reduce_floor_us",
        "loop_bw",
        "bn_passes",
        "pool_passes",
        "l2_resident_mb",
        "sustained_mma",
        "conv_heuristic",
    ];
}

/// Fits the constants named in `names` (positive values, searched in log space) to minimize
/// `loss`, starting from `start`. Deterministic: a coordinate pattern search (each constant
/// multiplied and divided by shrinking factors; the loss is a mean of maxima and minima over
/// kernel configurations, piecewise smooth with kinks that stall simplex methods), then two
/// Nelder–Mead runs of `iters` iterations to polish.
pub fn fit<F>(start: &Calibration, names: &[&str], iters: usize, loss: F) -> (Calibration, f64)
where
    F: Fn(&Calibration) -> f64,
{
    let base: Vec<f64> = names
        .iter()
        .map(|n| start.param(n).unwrap_or(1.0).max(1e-12))
        .collect();
    let make = |x: &[f64]| {
        let mut c = start.clone();
        for ((n, b), xi) in names.iter().zip(&base).zip(x) {
            if let Some(p) = c.param_mut(n) {
                *p = b * xi.exp();
            }
        }
        c
    };
    let f = |x: &[f64]| {
        let v = loss(&make(x));
        if v.is_finite() {
            v
        } else {
            f64::MAX
        }
    };
    let mut x = vec![0.0; names.len()];
    let mut best = f(&x);
    // Pattern search: try each constant ×/÷ a factor, keep improvements, shrink the factor.
    for step in [0.7, 0.35, 0.15, 0.07, 0.03] {
        for _ in 0..6 {
            let mut improved = false;
            for i in 0..x.len() {
                for dir in [1.0, -1.0] {
                    let mut y = x.clone();
                    y[i] += dir * step;
                    let v = f(&y);
                    if v < best {
                        best = v;
                        x = y;
                        improved = true;
                        break;
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }
    // Nelder–Mead polish.
    for step in [0.2, 0.08] {
        let (xr, vr) = nelder_mead(&f, &x, step, iters);
        if vr <= best {
            x = xr;
            best = vr;
        }
    }
    (make(&x), best)
}

/// Nelder–Mead minimization of `f` from `x0` with an axis-aligned initial simplex.
pub fn nelder_mead<F: Fn(&[f64]) -> f64>(
    f: &F,
    x0: &[f64],
    step: f64,
    iters: usize,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    if n == 0 {
        return (Vec::new(), f(x0));
    }
    let mut pts: Vec<Vec<f64>> = (0..=n)
        .map(|i| {
            let mut p = x0.to_vec();
            if i > 0 {
                p[i - 1] += step;
            }
            p
        })
        .collect();
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    for _ in 0..iters {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        let centroid: Vec<f64> = (0..n)
            .map(|j| pts[..n].iter().map(|p| p[j]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|j| centroid[j] + t * (pts[n][j] - centroid[j]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
        } else {
            let xc = along(0.5);
            let fc = f(&xc);
            if fc < vals[n] {
                pts[n] = xc;
                vals[n] = fc;
            } else {
                for i in 1..=n {
                    let p: Vec<f64> = (0..n)
                        .map(|j| pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]))
                        .collect();
                    vals[i] = f(&p);
                    pts[i] = p;
                }
            }
        }
    }
    let i = (0..=n)
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    (pts[i].clone(), vals[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let f = |x: &[f64]| (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2);
        let (x, v) = nelder_mead(&f, &[0.0, 0.0], 0.5, 400);
        assert!(v < 1e-8, "{v}");
        assert!((x[0] - 1.0).abs() < 1e-3 && (x[1] + 2.0).abs() < 1e-3);
    }

    #[test]
    fn every_fitted_name_is_a_constant() {
        let c = Calibration::h100();
        for n in fitted::GEMM
            .iter()
            .chain(fitted::ATTENTION)
            .chain(fitted::CONV)
            .chain(fitted::OPS)
            .chain(fitted::NETWORK)
        {
            assert!(c.param(n).is_some(), "{n}");
        }
    }
}

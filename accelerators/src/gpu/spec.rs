//! A GPU described by its resources, and the presets with public datasheet numbers.
//!
//! Every number of a preset comes from the vendor's datasheet or whitepaper (cited on each
//! preset); the few that vendors do not publish (L2 bandwidth) are marked as estimates with
//! the microbenchmark they come from. Tensor-core peaks are *dense* (no 2:4 sparsity) with
//! FP32 accumulation, which is what PyTorch's matmuls use.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_workloads::DType;

/// Dense tensor-core peaks in TFLOP/s (TOP/s for int8), one per data type. `None` for a type
/// the tensor cores do not support (e.g. FP8 before Hopper/Ada); such ops run at the next wider
/// supported type's rate.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorPeaks {
    /// TF32 (FP32 inputs rounded to a 10-bit mantissa), used for fp32 when `allow_tf32` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub tf32: Option<f64>,
    /// bfloat16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub bf16: Option<f64>,
    /// IEEE half.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub fp16: Option<f64>,
    /// FP8 (E4M3/E5M2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub fp8: Option<f64>,
    /// INT8 (TOP/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub int8: Option<f64>,
}

/// The resources of one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSpec {
    /// Preset name (`h100_sxm`, …) or `custom`.
    pub name: String,
    /// Marketing name, for reports.
    pub label: String,
    /// Streaming multiprocessors.
    pub sms: u32,
    /// SM clock in MHz at which the datasheet peaks are quoted (boost clock).
    pub clock_mhz: f64,
    /// Dense tensor-core peaks per data type.
    pub tensor_tflops: TensorPeaks,
    /// CUDA-core (non-tensor) FP32 peak in TFLOP/s; fp32 matmuls without TF32 run here.
    pub cuda_tflops: f64,
    /// Device memory capacity in GB (10⁹ bytes).
    pub hbm_gb: f64,
    /// Device memory bandwidth in GB/s.
    pub hbm_gbps: f64,
    /// L2 cache in MB (10⁶ bytes).
    pub l2_mb: f64,
    /// L2 bandwidth in GB/s (estimate; vendors do not publish it).
    pub l2_gbps: f64,
    /// Shared memory per SM in KiB.
    pub smem_kib: f64,
    /// Host link (PCIe) bandwidth in GB/s, one direction.
    pub host_link_gbps: f64,
    /// GPU-to-GPU bandwidth (NVLink) in GB/s, one direction per GPU; 0 when the card has no
    /// NVLink (peers then talk over the host link).
    pub nvlink_gbps: f64,
    /// Host-side cost of launching one kernel from an eager framework, in µs.
    pub launch_us: f64,
    /// Board power in W (thermal design power).
    pub tdp_w: f64,
    /// Die area in mm².
    pub die_mm2: f64,
}

/// Names accepted by `accelerator.preset`.
pub const PRESETS: &[&str] = &[
    "h100_sxm", "a100_80gb", "h200", "rtx4090", "l4", "a10g", "a40", "l40s",
];

/// Host-side launch cost of a tiny kernel from eager PyTorch on the measured H100 machine
/// (`../shared/data/gpu/h100/info.json`, `eager_small_kernel_us`). It depends on the host CPU
/// and the framework, not the GPU, so every preset uses it.
pub(super) const EAGER_LAUNCH_US: f64 = super::calib::info::EAGER_SMALL_KERNEL_US;

impl GpuSpec {
    /// The preset called `name`, if any.
    pub fn preset(name: &str) -> Option<GpuSpec> {
        let tp = |tf32, bf16, fp8: Option<f64>, int8| TensorPeaks {
            tf32: Some(tf32),
            bf16: Some(bf16),
            fp16: Some(bf16),
            fp8,
            int8: Some(int8),
        };
        Some(match name {
            // NVIDIA H100 Tensor Core GPU datasheet (SXM5 80 GB, 2023) and the Hopper
            // architecture whitepaper (GH100: 132 SMs, 4096 dense FP16 FLOP/clk/SM at 1830 MHz,
            // 50 MB L2, 228 KB shared memory per SM): FP32 67 TF, TF32 494.7, BF16/FP16 989.4,
            // FP8/INT8 1978.9 (dense); HBM3 80 GB at 3.35 TB/s; NVLink 4 900 GB/s (both
            // directions); PCIe Gen5 x16 128 GB/s (both directions); 700 W; 814 mm².
            // L2 bandwidth: Chips and Cheese, "Nvidia's H100: Funny L2, and Tons of Bandwidth"
            // (2023), ~5.5 TB/s measured.
            "h100_sxm" => GpuSpec {
                name: name.into(),
                label: "NVIDIA H100 SXM5 80GB".into(),
                sms: 132,
                clock_mhz: 1830.0,
                tensor_tflops: tp(494.7, 989.4, Some(1978.9), 1978.9),
                cuda_tflops: 66.9,
                hbm_gb: 80.0,
                hbm_gbps: 3350.0,
                l2_mb: 50.0,
                l2_gbps: 5500.0,
                smem_kib: 228.0,
                host_link_gbps: 64.0,
                nvlink_gbps: 450.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 700.0,
                die_mm2: 814.0,
            },
            // NVIDIA A100 Tensor Core GPU datasheet (SXM4 80 GB, 2021) and the Ampere GA100
            // whitepaper (108 SMs at 1410 MHz, 40 MB L2, 164 KB shared memory per SM): FP32 19.5
            // TF, TF32 156, BF16/FP16 312, INT8 624 (dense), no FP8; HBM2e 80 GB at 2039 GB/s;
            // NVLink 3 600 GB/s (both directions); PCIe Gen4 64 GB/s (both directions); 400 W;
            // 826 mm². L2 bandwidth: the whitepaper's 2.3x V100 (~2.2 TB/s), ~5 TB/s.
            "a100_80gb" => GpuSpec {
                name: name.into(),
                label: "NVIDIA A100 SXM4 80GB".into(),
                sms: 108,
                clock_mhz: 1410.0,
                tensor_tflops: tp(156.0, 312.0, None, 624.0),
                cuda_tflops: 19.5,
                hbm_gb: 80.0,
                hbm_gbps: 2039.0,
                l2_mb: 40.0,
                l2_gbps: 5000.0,
                smem_kib: 164.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 300.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 400.0,
                die_mm2: 826.0,
            },
            // NVIDIA H200 Tensor Core GPU datasheet (SXM, 2024): the GH100 compute of the H100
            // SXM (same peaks) with 141 GB of HBM3e at 4.8 TB/s; NVLink 900 GB/s; PCIe Gen5
            // 128 GB/s; up to 700 W.
            "h200" => GpuSpec {
                name: name.into(),
                label: "NVIDIA H200 SXM 141GB".into(),
                hbm_gb: 141.0,
                hbm_gbps: 4800.0,
                ..GpuSpec::preset("h100_sxm")?
            },
            // NVIDIA Ada Lovelace architecture whitepaper (v2.1, RTX 4090: AD102 with 128 SMs at
            // 2520 MHz boost, 72 MB L2, up to 100 KB shared memory per SM): FP32 82.6 TF; dense
            // tensor peaks with FP32 accumulation TF32 82.6, FP16/BF16 165.2, FP8 330.3, INT8
            // 660.6; 24 GB GDDR6X at 1008 GB/s; PCIe Gen4 x16 (32 GB/s per direction); no NVLink;
            // 450 W; 608.5 mm². L2 bandwidth estimate ~5 TB/s (Chips and Cheese, Ada L2
            // measurements).
            "rtx4090" => GpuSpec {
                name: name.into(),
                label: "NVIDIA GeForce RTX 4090".into(),
                sms: 128,
                clock_mhz: 2520.0,
                tensor_tflops: tp(82.6, 165.2, Some(330.3), 660.6),
                cuda_tflops: 82.6,
                hbm_gb: 24.0,
                hbm_gbps: 1008.0,
                l2_mb: 72.0,
                l2_gbps: 5000.0,
                smem_kib: 100.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 0.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 450.0,
                die_mm2: 608.5,
            },
            // NVIDIA L4 Tensor Core GPU datasheet (2023; AD104 with 58 SMs at 2040 MHz, 48 MB L2,
            // 100 KB shared memory per SM): FP32 30.3 TF; dense TF32 60, FP16/BF16 121, FP8 242.5,
            // INT8 242.5; 24 GB GDDR6 at 300 GB/s; PCIe Gen4 x16 64 GB/s (both directions); no
            // NVLink; 72 W; 294.5 mm². L2 bandwidth estimate ~2 TB/s (scaled from AD102 by SM
            // count and clock).
            "l4" => GpuSpec {
                name: name.into(),
                label: "NVIDIA L4".into(),
                sms: 58,
                clock_mhz: 2040.0,
                tensor_tflops: tp(60.0, 121.0, Some(242.5), 242.5),
                cuda_tflops: 30.3,
                hbm_gb: 24.0,
                hbm_gbps: 300.0,
                l2_mb: 48.0,
                l2_gbps: 2000.0,
                smem_kib: 100.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 0.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 72.0,
                die_mm2: 294.5,
            },
            // NVIDIA L40S GPU datasheet (2023; AD102 with 142 SMs at 2520 MHz boost, 96 MB L2,
            // 100 KB shared memory per SM): FP32 91.6 TF; dense tensor peaks (the datasheet's
            // sparse figures halved) TF32 183, BF16/FP16 362.05, FP8 733, INT8 733; 48 GB GDDR6
            // at 864 GB/s; PCIe Gen4 x16 64 GB/s (both directions); no NVLink; 350 W; 608.5 mm²
            // (AD102, Ada whitepaper). L2 bandwidth estimate ~5 TB/s (AD102, as the RTX 4090).
            "l40s" => GpuSpec {
                name: name.into(),
                label: "NVIDIA L40S".into(),
                sms: 142,
                clock_mhz: 2520.0,
                tensor_tflops: tp(183.0, 362.05, Some(733.0), 733.0),
                cuda_tflops: 91.6,
                hbm_gb: 48.0,
                hbm_gbps: 864.0,
                l2_mb: 96.0,
                l2_gbps: 5000.0,
                smem_kib: 100.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 0.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 350.0,
                die_mm2: 608.5,
            },
            // NVIDIA A40 datasheet (2020; GA102 with 84 SMs at 1740 MHz boost, 6 MB L2, 100 KB
            // shared memory per SM, Ampere GA102 whitepaper): FP32 37.4 TF; dense tensor peaks
            // TF32 74.8, BF16/FP16 149.7, INT8 299.3, no FP8; 48 GB GDDR6 at 696 GB/s; PCIe Gen4
            // x16 64 GB/s (both directions); NVLink bridge to one peer 112.5 GB/s (both
            // directions); 300 W; 628.4 mm². L2 bandwidth estimate ~2.5 TB/s (not published;
            // scaled from the RTX 4090's by SM count and clock).
            "a40" => GpuSpec {
                name: name.into(),
                label: "NVIDIA A40".into(),
                sms: 84,
                clock_mhz: 1740.0,
                tensor_tflops: tp(74.8, 149.7, None, 299.3),
                cuda_tflops: 37.4,
                hbm_gb: 48.0,
                hbm_gbps: 696.0,
                l2_mb: 6.0,
                l2_gbps: 2500.0,
                smem_kib: 100.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 56.25,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 300.0,
                die_mm2: 628.4,
            },
            // NVIDIA A10G (the GA102 board of AWS EC2 G5 instances; NVIDIA publishes no A10G
            // datasheet). AWS G5 documentation: 24 GB GDDR6 at 600 GB/s; 80 SMs at 1710 MHz
            // boost and 300 W as `nvidia-smi` reports on G5. Dense tensor peaks at the
            // GeForce-class GA102 rate with FP32 accumulation (GA102 whitepaper: 512 FP16
            // FLOP/clk/SM): 80 × 512 × 1.71 GHz = 70.0 TF BF16/FP16, TF32 35.0, INT8 140.1, no
            // FP8 (the figures published A10-vs-A10G comparisons quote; the A10's datasheet
            // 125 TF is the full-rate professional part); FP32 31.2 TF; 6 MB L2; PCIe Gen4 x16
            // (32 GB/s per direction); no NVLink; 628.4 mm². L2 bandwidth estimate ~2 TB/s (as
            // the L4's).
            "a10g" => GpuSpec {
                name: name.into(),
                label: "NVIDIA A10G".into(),
                sms: 80,
                clock_mhz: 1710.0,
                tensor_tflops: tp(35.0, 70.0, None, 140.1),
                cuda_tflops: 31.2,
                hbm_gb: 24.0,
                hbm_gbps: 600.0,
                l2_mb: 6.0,
                l2_gbps: 2000.0,
                smem_kib: 100.0,
                host_link_gbps: 32.0,
                nvlink_gbps: 0.0,
                launch_us: EAGER_LAUNCH_US,
                tdp_w: 300.0,
                die_mm2: 628.4,
            },
            _ => return None,
        })
    }

    /// Dense matmul peak in FLOP/s for `dtype`, and whether it runs on tensor cores.
    ///
    /// fp32 runs on the CUDA cores unless `allow_tf32` (PyTorch's default for matmuls is off).
    /// A type the tensor cores lack falls back to the next wider one (fp8 → fp16, int8 → fp16).
    pub fn matmul_peak(&self, dtype: DType, allow_tf32: bool) -> (f64, bool) {
        let t = &self.tensor_tflops;
        let half = t.bf16.or(t.fp16);
        let tensor = match dtype {
            DType::Fp32 if allow_tf32 => t.tf32,
            DType::Fp32 => None,
            DType::Bf16 => t.bf16.or(t.fp16),
            DType::Fp16 => t.fp16.or(t.bf16),
            DType::Fp8 => t.fp8.or(half),
            DType::Int8 => t.int8.or(half),
        };
        match tensor {
            Some(tf) => (tf * 1e12, true),
            None => (self.cuda_tflops * 1e12, false),
        }
    }

    /// Device memory capacity in bytes.
    pub fn hbm_bytes(&self) -> f64 {
        self.hbm_gb * 1e9
    }

    /// L2 capacity in bytes.
    pub fn l2_bytes(&self) -> f64 {
        self.l2_mb * 1e6
    }
}

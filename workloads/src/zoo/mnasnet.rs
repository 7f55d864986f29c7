//! The MnasNet-style search space of Accel-NASBench, lowered to op graphs.
//!
//! Accel-NASBench ("Accel-NASBench: Sustainable Benchmarking for Accelerator-aware NAS",
//! A. Ahmad et al., 2024; data and space definition at github.com/afzalxo/Accel-NASBench,
//! Apache-2.0, search space in the paper's Appendix B) trains networks of the MnasNet search space (Tan et al., "MnasNet: Platform-Aware
//! Neural Architecture Search for Mobile", CVPR 2019) on ImageNet. Its skeleton is
//! EfficientNet-B0's (Tan & Le, ICML 2019, Table 1), as its `CustomSearchable` space definition
//! states:
//!
//! * stem: 3×3 convolution, stride 2, 32 channels (224×224 RGB input → 112×112);
//! * seven stages of MBConv blocks with input channels 32, 16, 24, 40, 80, 112, 192, output
//!   channels 16, 24, 40, 80, 112, 192, 320 and first-block strides 1, 2, 2, 2, 1, 2, 1 —
//!   **all seven are searchable**, the first (16-channel) one included: per stage an expansion
//!   ratio `e ∈ {1, 4, 6}`, a depthwise kernel `k ∈ {3, 5}`, a layer count `l ∈ {1, 2, 3, 4}`
//!   (the dataset holds 1–3, and 4 in stage 5) and squeeze-and-excitation on or off
//!   (`se ∈ {0, 1}`, squeeze width ⌊input channels / 4⌋ as torchvision);
//! * head: 1×1 convolution to 1280 channels, global average pooling, a 1000-way classifier.
//!
//! BatchNorm is folded and the activation is SiLU, as EfficientNet. With this lowering the
//! parameter count equals the benchmark's `params_M` for all 5,138 networks of
//! `accelnb_mnasnet.csv`. Its `macs_M` column counts, besides the conv and linear
//! multiply-accumulates, 4 per output element of every BatchNorm'd convolution and one per input
//! and output element of every average pooling (the tool's element-wise convention); the
//! multiply-accumulates alone ([`crate::Workload::total_macs`]) are 6–14 % below it, and
//! [`mnasnet_counted_ops`] reproduces the column exactly.
//!
//! An architecture is written as seven dash-joined stages `e<E>k<K>l<L>se<0|1>`, first stage
//! first; the zoo name prefixes it with `mnasnet:`. EfficientNet-B0 itself is
//! `mnasnet:e1k3l1se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1`.

use std::fmt;
use std::str::FromStr;

use crate::op::{EltFunc, OpKind};
use crate::zoo::cnn::{mbconv, same};
use crate::zoo::net::Net;
use crate::zoo::ZooModel;
use crate::{DType, Workload, WorkloadError};

/// Input channels of each stage.
pub const MNASNET_IN_CH: [u64; 7] = [32, 16, 24, 40, 80, 112, 192];
/// Output channels of each stage.
pub const MNASNET_OUT_CH: [u64; 7] = [16, 24, 40, 80, 112, 192, 320];
/// Stride of each stage's first block.
pub const MNASNET_STRIDES: [u64; 7] = [1, 2, 2, 2, 1, 2, 1];
/// Expansion ratios of the space.
pub const MNASNET_EXPANSIONS: [u64; 3] = [1, 4, 6];
/// Depthwise kernel sizes of the space.
pub const MNASNET_KERNELS: [u64; 2] = [3, 5];
/// Layer counts of the space.
pub const MNASNET_LAYERS: [u64; 4] = [1, 2, 3, 4];

/// One searchable stage: expansion ratio, depthwise kernel, layers, squeeze-and-excitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MnasStage {
    /// Expansion ratio of the inverted bottleneck (1, 4 or 6).
    pub e: u64,
    /// Depthwise kernel size (3 or 5).
    pub k: u64,
    /// Number of MBConv blocks (1–4).
    pub l: u64,
    /// Squeeze-and-excitation in every block of the stage.
    pub se: bool,
}

/// An architecture of the Accel-NASBench MnasNet space: seven stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MnasNetArch {
    /// The stages, first (16 output channels) first.
    pub stages: [MnasStage; 7],
}

impl MnasNetArch {
    /// EfficientNet-B0's choices (Tan & Le, Table 1), SE everywhere.
    pub fn efficientnet_b0() -> Self {
        let ek: [(u64, u64, u64); 7] = [
            (1, 3, 1),
            (6, 3, 2),
            (6, 5, 2),
            (6, 3, 3),
            (6, 5, 3),
            (6, 5, 4),
            (6, 3, 1),
        ];
        MnasNetArch {
            stages: ek.map(|(e, k, l)| MnasStage { e, k, l, se: true }),
        }
    }

    /// Checks every choice against the space.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        for (i, s) in self.stages.iter().enumerate() {
            let bad = |what: &str, v: u64, allowed: &[u64]| WorkloadError::InvalidParameter {
                key: "workload.model".into(),
                reason: format!("mnasnet stage {i}: {what} {v} is not one of {allowed:?}"),
            };
            if !MNASNET_EXPANSIONS.contains(&s.e) {
                return Err(bad("expansion e", s.e, &MNASNET_EXPANSIONS));
            }
            if !MNASNET_KERNELS.contains(&s.k) {
                return Err(bad("kernel k", s.k, &MNASNET_KERNELS));
            }
            if !MNASNET_LAYERS.contains(&s.l) {
                return Err(bad("layers l", s.l, &MNASNET_LAYERS));
            }
        }
        Ok(())
    }
}

impl fmt::Display for MnasNetArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write!(f, "e{}k{}l{}se{}", s.e, s.k, s.l, u8::from(s.se))?;
        }
        Ok(())
    }
}

/// Parses one `e<E>k<K>l<L>se<0|1>` stage.
fn parse_stage(i: usize, s: &str) -> Result<MnasStage, String> {
    let bad = || format!("stage {i} `{s}` is not `e<E>k<K>l<L>se<0|1>`");
    let rest = s.strip_prefix('e').ok_or_else(bad)?;
    let (e, rest) = rest.split_once('k').ok_or_else(bad)?;
    let (k, rest) = rest.split_once('l').ok_or_else(bad)?;
    let (l, se) = rest.split_once("se").ok_or_else(bad)?;
    let num = |t: &str| t.parse::<u64>().map_err(|_| bad());
    let se = match se {
        "0" => false,
        "1" => true,
        _ => return Err(bad()),
    };
    Ok(MnasStage {
        e: num(e)?,
        k: num(k)?,
        l: num(l)?,
        se,
    })
}

impl FromStr for MnasNetArch {
    type Err = WorkloadError;

    fn from_str(text: &str) -> Result<Self, WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidParameter {
            key: "workload.model".into(),
            reason: format!("mnasnet architecture `{text}`: {reason}"),
        };
        let parts: Vec<&str> = text.trim().split('-').collect();
        if parts.len() != 7 {
            return Err(bad(format!(
                "needs 7 dash-joined stages, got {}",
                parts.len()
            )));
        }
        let mut stages = [MnasStage {
            e: 1,
            k: 3,
            l: 1,
            se: false,
        }; 7];
        for (i, p) in parts.iter().enumerate() {
            stages[i] = parse_stage(i, p).map_err(bad)?;
        }
        let arch = MnasNetArch { stages };
        arch.validate()?;
        Ok(arch)
    }
}

pub(crate) fn mnasnet_model(
    arch: &MnasNetArch,
    batch: u64,
    dtype: DType,
) -> Result<ZooModel, WorkloadError> {
    arch.validate()?;
    let mut net = Net::new(format!("mnasnet:{arch}"), dtype);
    let x = net.image(batch, 3, 224, 224)?;
    let mut x = net.conv_bn_act("stem", &x, same(3, 32, 3, 2), EltFunc::Silu)?;
    for (si, st) in arch.stages.iter().enumerate() {
        for i in 0..st.l {
            let (in_ch, stride) = if i == 0 {
                (MNASNET_IN_CH[si], MNASNET_STRIDES[si])
            } else {
                (MNASNET_OUT_CH[si], 1)
            };
            x = mbconv(
                &mut net,
                &format!("stage{si}.{i}"),
                &x,
                in_ch,
                MNASNET_OUT_CH[si],
                st.k,
                stride,
                st.e,
                st.se,
            )?;
        }
    }
    let x = net.conv_bn_act("head", &x, same(320, 1280, 1, 1), EltFunc::Silu)?;
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("classifier", &x, 1000)?;
    Ok(net.finish())
}

/// A network of the Accel-NASBench MnasNet space for `batch` 224×224 RGB images (BN folded).
pub fn mnasnet(arch: &MnasNetArch, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    mnasnet_model(arch, batch, dtype).map(|m| m.workload)
}

/// Operations as Accel-NASBench's `macs_M` column counts them, for a workload built by
/// [`mnasnet`]: the multiply-accumulates of every conv and linear op, plus 4 per output element
/// of each BatchNorm'd convolution (all but the squeeze-and-excitation's 1×1 convs, which have
/// a bias and no BN) and 1 per input and output element of each average pooling.
pub fn mnasnet_counted_ops(w: &Workload) -> u64 {
    w.ops()
        .map(|op| {
            let elems = |s: &[u64]| s.iter().product::<u64>();
            let extra = match &op.kind {
                OpKind::Conv2d(_) if !op.name.contains(".se.") => 4 * elems(&op.output),
                _ if op.name.ends_with("avgpool") => {
                    op.inputs.iter().map(|s| elems(s)).sum::<u64>() + elems(&op.output)
                }
                _ => 0,
            };
            op.macs() + extra
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::model;

    #[test]
    fn efficientnet_b0_choices_rebuild_efficientnet_b0() {
        let a = MnasNetArch::efficientnet_b0();
        let s = a.to_string();
        assert_eq!(
            s,
            "e1k3l1se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1"
        );
        assert_eq!(s.parse::<MnasNetArch>().unwrap(), a);
        let m = model(&format!("mnasnet:{s}"), 1, DType::Int8).unwrap();
        let b0 = model("efficientnet_b0", 1, DType::Int8).unwrap();
        assert_eq!(m.workload.total_macs(), b0.workload.total_macs());
        assert_eq!(m.params(), b0.params());
    }

    #[test]
    fn se_off_removes_the_gates() {
        let mut a = MnasNetArch::efficientnet_b0();
        for s in &mut a.stages {
            s.se = false;
        }
        let w = mnasnet(&a, 1, DType::Int8).unwrap();
        assert!(w.ops().all(|op| !op.name.contains(".se.")));
        assert_eq!(w.ops().filter(|op| op.name.ends_with(".dw")).count(), 16);
    }

    #[test]
    fn bad_architectures_say_why() {
        for (text, why) in [
            ("e1k3l1se1", "needs 7"),
            (
                "e2k3l1se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
                "expansion e 2",
            ),
            (
                "e1k7l1se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
                "kernel k 7",
            ),
            (
                "e1k3l0se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
                "layers l 0",
            ),
            (
                "e1k3l1se2-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
                "stage 0",
            ),
            (
                "e1k3l1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
                "stage 0",
            ),
        ] {
            let e = text.parse::<MnasNetArch>().unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("workload.model"),
                "{text}: {e}"
            );
            let z = model(&format!("mnasnet:{text}"), 1, DType::Int8).unwrap_err();
            assert_eq!(z.to_string(), e);
        }
    }

    /// Every 10th row of Accel-NASBench (`tests/data/nas/accelnb_mnasnet.csv`): the arch, and
    /// the benchmark's `macs_M` and `params_M`.
    fn accelnb_sample() -> Vec<(MnasNetArch, f64, f64)> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/nas/accelnb_mnasnet.csv");
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
        let (macs, params) = (col("macs_M"), col("params_M"));
        lines
            .step_by(10)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let g =
                    |b: usize, k: &str| f[col(&format!("block{b}_{k}"))].parse::<u64>().unwrap();
                let mut stages = MnasNetArch::efficientnet_b0().stages;
                for (b, s) in stages.iter_mut().enumerate() {
                    *s = MnasStage {
                        e: g(b, "e"),
                        k: g(b, "k"),
                        l: g(b, "l"),
                        se: g(b, "se") == 1,
                    };
                }
                (
                    MnasNetArch { stages },
                    f[macs].parse().unwrap(),
                    f[params].parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn lowering_matches_accel_nasbench_macs_and_params() {
        let rows = accelnb_sample();
        assert_eq!(rows.len(), 514);
        let (mut worst, mut sum) = (0.0f64, 0.0);
        for (arch, macs_m, params_m) in &rows {
            let m = mnasnet_model(arch, 1, DType::Int8).unwrap();
            // Parameters: every trainable tensor, exactly (to the CSV's 6 decimals).
            assert_eq!(m.params(), (params_m * 1e6).round() as u64, "{arch}");
            // The benchmark's operation count, exactly.
            let counted = mnasnet_counted_ops(&m.workload) as f64;
            assert!(
                (counted - macs_m * 1e6).abs() < 1.0,
                "{arch}: {counted} vs {macs_m} M"
            );
            // Multiply-accumulates alone: below the count by its element-wise share.
            let rel = 1.0 - m.workload.total_macs() as f64 / (macs_m * 1e6);
            assert!((0.0..0.15).contains(&rel), "{arch}: {rel}");
            worst = worst.max(rel);
            sum += rel;
        }
        eprintln!(
            "MACs below macs_M: mean {:.2} %, worst {:.2} %",
            100.0 * sum / rows.len() as f64,
            100.0 * worst
        );
    }
}

//! External checks against hardware-aware NAS benchmarks.
//!
//! HW-NAS-Bench (Li et al., "HW-NAS-Bench: Hardware-Aware Neural Architecture Search
//! Benchmark", ICLR 2021) publishes, for every NAS-Bench-201 cell, the latency of its CIFAR-10
//! network on an Eyeriss-like accelerator (from the DNN-Chip Predictor's analytic model), on an
//! FPGA, and on two edge devices. archsim cannot match those absolute numbers (different
//! simulators, unpublished clock and buffer settings), but it should *rank* the cells the same
//! way: [`kendall_tau`] of archsim's latency on the `eyeriss` systolic preset against the
//! benchmark's column is the check (`cargo run --release --example hwnasbench_eyeriss`).
//!
//! ```
//! use archsim::nasbench::kendall_tau;
//! assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
//! assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
//! ```

use std::path::Path;

use archsim_accelerators::{pipeline, systolic::Systolic, systolic::SystolicConfig};
use archsim_workloads::{zoo, DType};

use crate::Error;

/// Kendall's τ-b of two equally long samples (ties in either sample count as neither concordant
/// nor discordant, with the τ-b normalization). `O(n²)`: fine for the 15,625 NB201 cells.
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (mut conc, mut disc, mut ties_a, mut ties_b) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in (i + 1)..n {
            let da = a[i] - a[j];
            let db = b[i] - b[j];
            if da == 0.0 && db == 0.0 {
                continue;
            }
            if da == 0.0 {
                ties_a += 1;
            } else if db == 0.0 {
                ties_b += 1;
            } else if (da > 0.0) == (db > 0.0) {
                conc += 1;
            } else {
                disc += 1;
            }
        }
    }
    let n0 = (conc + disc + ties_a) as f64;
    let n1 = (conc + disc + ties_b) as f64;
    if n0 == 0.0 || n1 == 0.0 {
        return 0.0;
    }
    (conc - disc) as f64 / (n0 * n1).sqrt()
}

/// One row of HW-NAS-Bench's NAS-Bench-201 latency table for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct HwNasBenchRow {
    /// NAS-Bench-201 index.
    pub index: u64,
    /// Cell string.
    pub arch: String,
    /// Latency on the device, in ms.
    pub latency_ms: f64,
}

/// Reads the rows of `device` (e.g. `eyeriss`, `fpga`) from a long-form HW-NAS-Bench CSV
/// (`index,arch,dataset,device,latency_ms,energy_mJ`, as `hwnasbench_nb201.csv`).
pub fn read_hwnasbench(path: &Path, device: &str) -> Result<Vec<HwNasBenchRow>, Error> {
    let text = crate::files::read_text(path, archsim_workloads::input::InputKind::Table)?;
    let bad = |line: usize, what: &str| Error::Io {
        path: path.display().to_string(),
        message: format!("line {line}: {what}"),
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 5 {
            return Err(bad(n + 1, "expected index,arch,dataset,device,latency_ms"));
        }
        if f[3] != device {
            continue;
        }
        rows.push(HwNasBenchRow {
            index: f[0].parse().map_err(|_| bad(n + 1, "bad index"))?,
            arch: f[1].to_string(),
            latency_ms: f[4].parse().map_err(|_| bad(n + 1, "bad latency_ms"))?,
        });
    }
    Ok(rows)
}

/// archsim's latency (ms) of the CIFAR-10 NAS-Bench-201 network of `arch` on the systolic
/// design `cfg`, at batch 1 and the preset's word size.
pub fn nb201_latency_ms(arch: &str, cfg: &SystolicConfig) -> Result<f64, Error> {
    let dtype = match cfg.word_bytes {
        1 => DType::Int8,
        2 => DType::Fp16,
        _ => DType::Fp32,
    };
    let w = zoo::nb201(arch, zoo::Nb201Dataset::Cifar10, 1, dtype)?;
    let acc = Systolic::new(cfg.clone())?;
    Ok(pipeline::evaluate(&w, &acc, "", 0)?.latency_s * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_accelerators::systolic::PoolMapping;

    #[test]
    fn tau_handles_ties_and_length() {
        assert_eq!(kendall_tau(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        let t = kendall_tau(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]);
        assert!((t - 4.0 / 6.0).abs() < 1e-12);
    }

    /// τ between the `eyeriss` preset's latency and HW-NAS-Bench's `device` column over the
    /// 101-cell sample in `tests/data/nas/`.
    fn sample_tau(device: &str) -> f64 {
        sample_tau_with(device, PoolMapping::Depthwise)
    }

    /// The same with pooling mapped as `pool` on the preset.
    fn sample_tau_with(device: &str, pool: PoolMapping) -> f64 {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/data/nas/hwnasbench_{device}_sample.csv"));
        let rows = read_hwnasbench(&p, device).unwrap();
        assert_eq!(rows.len(), 101);
        let mut cfg = SystolicConfig::preset("eyeriss").unwrap();
        assert_eq!(cfg.pool_mapping, PoolMapping::Depthwise);
        cfg.pool_mapping = pool;
        let ours: Vec<f64> = rows
            .iter()
            .map(|r| nb201_latency_ms(&r.arch, &cfg).unwrap())
            .collect();
        let theirs: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
        let tau = kendall_tau(&ours, &theirs);
        eprintln!("{device} sample tau ({}) = {tau:.4}", pool.name());
        tau
    }

    /// The sample (every 156th NB201 cell) of HW-NAS-Bench's Eyeriss latency against archsim's
    /// `eyeriss` preset, which runs pooling on the PE array as a depthwise convolution and folds
    /// node sums into partial sums, as the chip would. Over all 15,625 cells archsim measures
    /// τ = 0.64 (the sample: 0.70; see `results/nasaic/README.md`), below the 0.7 target
    /// because HW-NAS-Bench's Eyeriss model (the DNN-Chip Predictor) prices a 3×3 average pool
    /// as a dense channels→channels 3×3 convolution, exactly as much as a `nor_conv_3x3` edge.
    /// The floor guards the faithful preset's level (0.48 before pooling moved onto the array).
    #[test]
    fn eyeriss_sample_ranks_like_hwnasbench() {
        let tau = sample_tau("eyeriss");
        assert!(tau >= 0.6, "tau {tau}");
    }

    /// Under the reference's own pooling convention (`pool_mapping: dense`) the same preset
    /// ranks the cells like HW-NAS-Bench's Eyeriss column (τ = 0.96 over all 15,625 cells):
    /// the remaining disagreement of the faithful preset is the price of pooling.
    #[test]
    fn eyeriss_sample_with_dense_pooling_ranks_like_hwnasbench() {
        let tau = sample_tau_with("eyeriss", PoolMapping::Dense);
        assert!(tau >= 0.7, "tau {tau}");
    }

    /// The same preset against HW-NAS-Bench's FPGA latency: τ = 0.81 over all 15,625 cells.
    #[test]
    fn fpga_sample_ranks_like_hwnasbench() {
        let tau = sample_tau("fpga");
        assert!(tau >= 0.7, "tau {tau}");
    }
}

//! External checks against hardware-aware NAS benchmarks.
//!
//! HW-NAS-Bench (Li et al., "HW-NAS-Bench: Hardware-Aware Neural Architecture Search
//! Benchmark", ICLR 2021) publishes, for every NAS-Bench-201 cell, the latency of its CIFAR-10
//! network on an Eyeriss-like accelerator (from the DNN-Chip Predictor's analytic model), on an
//! FPGA, and on two edge devices. archsim cannot match those absolute numbers (different
//! simulators, unpublished clock and buffer settings), but it should *rank* the cells the same
//! way: [`kendall_tau`] of archsim's latency on the `eyeriss` systolic preset against the
//! benchmark's column is the check.
//!
//! As a study (`study: {kind: hwnasbench, data, device, preset, pool}`,
//! `configs/repro/hwnasbench_eyeriss.yaml` on the 101-cell sample) it writes `hwnasbench.csv`
//! (`arch,archsim_latency,hwnasbench_latency`, both in ms) and reports τ; over all 15,625 cells
//! it is `cargo run --release --example hwnasbench_eyeriss`, which also times the loop.
//!
//! ```
//! use archsim_studies::hwnasbench::kendall_tau;
//! assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
//! assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
//! ```

use std::fmt::Write as _;
use std::path::Path;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_accelerators::systolic::{Dataflow, PoolMapping};
use archsim_accelerators::{pipeline, systolic::Systolic, systolic::SystolicConfig};
use archsim_workloads::{zoo, DType};

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "hwnasbench",
    about: "HW-NAS-Bench (ICLR 2021): archsim's NB201 latency on a systolic preset ranked against the benchmark's (Kendall tau)",
    run: run_study,
    schema: crate::file_schema::<HwNasBenchFile>,
    section: None,
    replot: None,
};

/// `study:` of the HW-NAS-Bench check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwNasBenchStudy {
    /// `hwnasbench`.
    pub kind: String,
    /// The long-form HW-NAS-Bench CSV (`index,arch,dataset,device,latency_ms,energy_mJ`),
    /// relative to the config file.
    pub data: String,
    /// The benchmark's device column (`eyeriss`, `fpga`, ...).
    #[serde(default = "eyeriss")]
    pub device: String,
    /// The systolic preset archsim prices the cells on.
    #[serde(default = "eyeriss")]
    pub preset: String,
    /// The preset's dataflow replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow: Option<Dataflow>,
    /// Where pooling runs (`dense`: as the benchmark's reference model lowers it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolMapping>,
    /// DRAM bandwidth in words per cycle (of the preset's word size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1e-6, max = 1e6))]
    pub bw_words_per_cycle: Option<f64>,
}

fn eyeriss() -> String {
    "eyeriss".into()
}

/// The study file: its `study:` section alone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwNasBenchFile {
    /// The check.
    pub study: HwNasBenchStudy,
}

/// The systolic design of a check: `preset` with its dataflow, pooling and DRAM bandwidth (in
/// words per cycle) replaced where given.
pub fn design(
    preset: &str,
    dataflow: Option<Dataflow>,
    pool: Option<PoolMapping>,
    bw_words_per_cycle: Option<f64>,
) -> Result<SystolicConfig, String> {
    let mut cfg = SystolicConfig::preset(preset).ok_or(format!("unknown preset `{preset}`"))?;
    if let Some(d) = dataflow {
        cfg.dataflow = d;
    }
    if let Some(p) = pool {
        cfg.pool_mapping = p;
    }
    if let Some(b) = bw_words_per_cycle {
        cfg.dram_bw_bytes_per_cycle = Some(b * f64::from(cfg.word_bytes));
    }
    Ok(cfg)
}

/// archsim's latency (ms) of every row's cell on `cfg`, in row order (rayon over the cores).
pub fn latencies(rows: &[HwNasBenchRow], cfg: &SystolicConfig) -> Result<Vec<f64>, Error> {
    rows.par_iter()
        .map(|r| nb201_latency_ms(&r.arch, cfg))
        .collect()
}

/// `arch,archsim_latency,hwnasbench_latency` (ms) of every row.
pub fn table(rows: &[HwNasBenchRow], ours: &[f64]) -> String {
    let mut csv = String::from("arch,archsim_latency,hwnasbench_latency\n");
    for (r, l) in rows.iter().zip(ours) {
        let _ = writeln!(csv, "{},{l:.6},{:.6}", r.arch, r.latency_ms);
    }
    csv
}

/// `archsim run` on a `study: {kind: hwnasbench}` file: prices every cell of the table's
/// device, writes `hwnasbench.csv` and the config, and returns τ.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let st: HwNasBenchStudy = run.typed_section()?;
    let cfg = design(&st.preset, st.dataflow, st.pool, st.bw_words_per_cycle)
        .map_err(|m| run.key_error("study.preset", m))?;
    let data = run.base.join(&st.data);
    let rows = read_hwnasbench(&data, &st.device)?;
    if rows.is_empty() {
        return Err(run.key_error(
            "study.device",
            format!("no `{}` rows in {}", st.device, data.display()),
        ));
    }
    let ours = latencies(&rows, &cfg)?;
    let theirs: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
    let tau = kendall_tau(&ours, &theirs);
    crate::files::create_dir(&run.dir)?;
    let mut files = Vec::new();
    let p = run.dir.join("hwnasbench.csv");
    crate::files::write(&p, table(&rows, &ours))?;
    files.push(p);
    let p = run.dir.join("config.yaml");
    crate::files::write(&p, run.text)?;
    files.push(p);
    let json = serde_json::json!({
        "study": "hwnasbench",
        "cells": rows.len(),
        "device": st.device,
        "preset": st.preset,
        "dataflow": cfg.dataflow.name(),
        "pool": cfg.pool_mapping.name(),
        "kendall_tau": tau,
    });
    let text = format!(
        "{} NB201 cells on `{}` ({} {}x{}, pooling on {}) vs HW-NAS-Bench `{}`: Kendall tau = {tau:.4}\n",
        rows.len(),
        st.preset,
        cfg.dataflow.name(),
        cfg.rows,
        cfg.cols,
        cfg.pool_mapping.name(),
        st.device
    );
    Ok(StudyOutput { json, text, files })
}

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
            .join(format!("../tests/data/nas/hwnasbench_{device}_sample.csv"));
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

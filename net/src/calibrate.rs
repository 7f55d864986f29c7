//! Calibration of the collective model on measured NCCL all-reduce.
//!
//! The data: nccl-tests tables of fp32 all-reduce, 1 MiB to 1 GiB in 1 MiB steps, on 2 to 8
//! A100 of one NVSwitch node (NVLink3: 300 GB/s per GPU and direction), from the vTrain
//! artifact (see `net/tests/data/README.md`). What NCCL does there: a ring all-reduce over the
//! switch, with its tuner picking, for each size, the cheaper of the LL128 protocol (120 payload
//! bytes per 128-byte line, low per-step latency) and the Simple protocol (full lines, larger
//! launch and step costs). Bus bandwidth plateaus well below 300 GB/s (≈229 GB/s at 8 GPUs),
//! and small messages sit on a latency floor of tens of µs that grows with the GPU count.
//!
//! Six constants explain it (see [`NcclConstants`]): one bandwidth efficiency `η` shared by the
//! protocols (LL128 additionally loses 8 of 128 bytes), a pipeline fill `γ`, and per protocol a
//! launch latency and a per-step overhead. [`fit`] finds them by Nelder-Mead on the mean
//! absolute percentage error of the predicted time; [`cross_validate`] refits with one GPU count
//! held out at a time.

use std::path::Path;

use serde::Serialize;

use crate::collective::{ring_all_reduce_in_node, NetModel, Protocol};
use crate::error::NetError;
use crate::topology::{ClusterSpec, ScaleUpKind};

/// One measured all-reduce.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    /// GPUs.
    pub gpus: usize,
    /// Buffer, bytes.
    pub bytes: f64,
    /// Out-of-place time, seconds.
    pub time_s: f64,
}

/// The fitted constants of [`NetModel::nccl`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NcclConstants {
    /// Achieved fraction of the physical link bandwidth (`η`).
    pub bandwidth_efficiency: f64,
    /// Un-hidden pipeline fill, in shard-steps (`γ`).
    pub fill_steps: f64,
    /// LL128 launch latency, s.
    pub ll128_base_s: f64,
    /// LL128 per-step overhead beyond the link latency, s.
    pub ll128_step_s: f64,
    /// Simple launch latency, s.
    pub simple_base_s: f64,
    /// Simple per-step overhead beyond the link latency, s.
    pub simple_step_s: f64,
}

/// The constants shipped in [`NetModel::nccl`]: [`fit`] on every measured row (the test
/// `calibration` refits them and checks these are the optimum).
pub const NCCL_A100: NcclConstants = NcclConstants {
    bandwidth_efficiency: 0.8018,
    fill_steps: 0.3997,
    ll128_base_s: 41.18e-6,
    ll128_step_s: 1.288e-6,
    simple_base_s: 143.4e-6,
    simple_step_s: 0.6703e-6,
};

/// The node the data was measured on: `gpus` A100 on NVSwitch, 300 GB/s per direction and a
/// 1 µs hop.
pub fn a100_node(gpus: usize) -> ClusterSpec {
    ClusterSpec::node(
        ScaleUpKind::Nvswitch,
        gpus,
        A100_NVLINK_GB_S,
        A100_HOP_LATENCY_US,
    )
}

/// NVLink3 bandwidth per A100 and direction, GB/s.
pub const A100_NVLINK_GB_S: f64 = 300.0;
/// Latency of one GPU-to-GPU hop through the NVSwitch, µs.
pub const A100_HOP_LATENCY_US: f64 = 1.0;

impl NcclConstants {
    /// The model with these constants.
    pub fn model(&self) -> NetModel {
        NetModel {
            bandwidth_efficiency: self.bandwidth_efficiency,
            fill_steps: self.fill_steps,
            protocols: vec![
                Protocol {
                    name: "ll128".into(),
                    wire_efficiency: 120.0 / 128.0,
                    base_s: self.ll128_base_s,
                    step_s: self.ll128_step_s,
                    chunk_bytes: 480.0 * 1024.0,
                },
                Protocol {
                    name: "simple".into(),
                    wire_efficiency: 1.0,
                    base_s: self.simple_base_s,
                    step_s: self.simple_step_s,
                    chunk_bytes: 512.0 * 1024.0,
                },
            ],
        }
    }

    fn to_x(self) -> [f64; 6] {
        [
            self.bandwidth_efficiency,
            self.fill_steps,
            self.ll128_base_s / 1e-5,
            self.ll128_step_s / 1e-6,
            self.simple_base_s / 1e-5,
            self.simple_step_s / 1e-6,
        ]
    }

    fn from_x(x: &[f64; 6]) -> Self {
        NcclConstants {
            bandwidth_efficiency: x[0].abs().min(1.0),
            fill_steps: x[1].abs(),
            ll128_base_s: x[2].abs() * 1e-5,
            ll128_step_s: x[3].abs() * 1e-6,
            simple_base_s: x[4].abs() * 1e-5,
            simple_step_s: x[5].abs() * 1e-6,
        }
    }
}

/// Reads an nccl-tests table (`size(B),count,type,time(ns),busbw(GB/s),…`) of `gpus` GPUs.
pub fn read_nccl_tests(path: &Path, gpus: usize) -> Result<Vec<Measured>, NetError> {
    let text = std::fs::read_to_string(path).map_err(|e| NetError::Data {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_nccl_tests(&text, path, gpus)
}

/// Parses the text of an nccl-tests table read from `path` (named in errors, which never quote
/// the file's content) of `gpus` GPUs.
pub fn parse_nccl_tests(text: &str, path: &Path, gpus: usize) -> Result<Vec<Measured>, NetError> {
    let err = |reason: String| NetError::Data {
        path: path.display().to_string(),
        reason,
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let num = |k: usize| -> Result<f64, NetError> {
            f.get(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| err(format!("line {}: column {} is not a number", i + 1, k + 1)))
        };
        rows.push(Measured {
            gpus,
            bytes: num(0)?,
            time_s: num(3)? * 1e-9,
        });
    }
    Ok(rows)
}

/// Reads `allreduce_{2..8}gpu.csv` from `dir`.
pub fn read_a100_tables(dir: &Path) -> Result<Vec<Measured>, NetError> {
    let mut all = Vec::new();
    for p in 2..=8 {
        all.extend(read_nccl_tests(
            &dir.join(format!("allreduce_{p}gpu.csv")),
            p,
        )?);
    }
    Ok(all)
}

/// Predicted ring all-reduce time of `m` under `model` on [`a100_node`].
pub fn predict(model: &NetModel, m: &Measured) -> f64 {
    ring_all_reduce_in_node(model, &a100_node(m.gpus), m.gpus, m.bytes)
}

/// Mean absolute percentage error of the predicted times (in %).
pub fn mape(model: &NetModel, rows: &[Measured]) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    let specs: Vec<ClusterSpec> = (0..=8).map(a100_node).collect();
    let sum: f64 = rows
        .iter()
        .map(|m| {
            let spec = specs
                .get(m.gpus)
                .cloned()
                .unwrap_or_else(|| a100_node(m.gpus));
            let t = ring_all_reduce_in_node(model, &spec, m.gpus, m.bytes);
            (t / m.time_s - 1.0).abs()
        })
        .sum();
    100.0 * sum / rows.len() as f64
}

/// The starting point of every fit: NCCL-like guesses, not the answer.
pub const START: NcclConstants = NcclConstants {
    bandwidth_efficiency: 0.8,
    fill_steps: 0.5,
    ll128_base_s: 20e-6,
    ll128_step_s: 1e-6,
    simple_base_s: 50e-6,
    simple_step_s: 2e-6,
};

/// Fits the six constants on `rows` (Nelder-Mead on the MAPE, restarted until it stops
/// improving).
pub fn fit(rows: &[Measured]) -> NcclConstants {
    let f = |x: &[f64; 6]| mape(&NcclConstants::from_x(x).model(), rows);
    let mut x = START.to_x();
    let mut best = f(&x);
    for _ in 0..6 {
        let (nx, v) = nelder_mead(&f, x, 0.2, 3000);
        x = nx;
        let improved = best - v >= 1e-6;
        best = best.min(v);
        if !improved {
            break;
        }
    }
    NcclConstants::from_x(&x)
}

/// One held-out fold of [`cross_validate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fold {
    /// The GPU count held out.
    pub held_out_gpus: usize,
    /// MAPE (%) on the held-out rows of the model fitted on the others.
    pub held_out_mape: f64,
    /// MAPE (%) on the rows it was fitted on.
    pub train_mape: f64,
}

/// Leave-one-GPU-count-out cross-validation.
pub fn cross_validate(rows: &[Measured]) -> Vec<Fold> {
    let mut gpus: Vec<usize> = rows.iter().map(|m| m.gpus).collect();
    gpus.sort_unstable();
    gpus.dedup();
    gpus.into_iter()
        .map(|g| {
            let (test, train): (Vec<Measured>, Vec<Measured>) =
                rows.iter().partition(|m| m.gpus == g);
            let model = fit(&train).model();
            Fold {
                held_out_gpus: g,
                held_out_mape: mape(&model, &test),
                train_mape: mape(&model, &train),
            }
        })
        .collect()
}

#[allow(clippy::needless_range_loop)] // vector arithmetic on fixed-size points
fn nelder_mead(
    f: &impl Fn(&[f64; 6]) -> f64,
    x0: [f64; 6],
    step: f64,
    iters: usize,
) -> ([f64; 6], f64) {
    const N: usize = 6;
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((x0, f(&x0)));
    for i in 0..N {
        let mut x = x0;
        x[i] += if x[i].abs() > 1e-12 {
            step * x[i]
        } else {
            step
        };
        simplex.push((x, f(&x)));
    }
    for _ in 0..iters {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let spread = simplex[N].1 - simplex[0].1;
        if spread.abs() < 1e-10 {
            break;
        }
        let mut c = [0.0; N];
        for (x, _) in &simplex[..N] {
            for j in 0..N {
                c[j] += x[j] / N as f64;
            }
        }
        let worst = simplex[N];
        let along = |t: f64| {
            let mut x = [0.0; N];
            for j in 0..N {
                x[j] = c[j] + t * (worst.0[j] - c[j]);
            }
            x
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = f(&xe);
            simplex[N] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[N - 1].1 {
            simplex[N] = (xr, fr);
        } else {
            let xc = if fr < worst.1 {
                along(-0.5)
            } else {
                along(0.5)
            };
            let fc = f(&xc);
            if fc < worst.1.min(fr) {
                simplex[N] = (xc, fc);
            } else {
                let best = simplex[0].0;
                for s in simplex.iter_mut().skip(1) {
                    for j in 0..N {
                        s.0[j] = best[j] + 0.5 * (s.0[j] - best[j]);
                    }
                    s.1 = f(&s.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0]
}

//! Fits the GPU calibration constants on the H100 measurements and prints them with the
//! per-file errors and the worst rows: the source of [`Calibration::h100`].
//!
//! ```text
//! cargo run --release -p archsim-accelerators --example gpu_calibrate [iters] [start]
//! ```
//! `start` is `guess` (default: from `Calibration::initial_guess`) or `h100` (refine the preset).
//! Environment: `CV=1` also runs the 5-fold cross-validation of the GEMM constants;
//! `LIST=aligned|narrow|fp16|fp32` lists those GEMM rows with their kernels; `BREAKDOWN=1`
//! splits the `llm.csv` check rows (never fitted) by op class.

use std::path::PathBuf;

use archsim_accelerators::gpu::calib::{fitted, Calibration};
use archsim_accelerators::gpu::validation::{self as v, Sample};
use archsim_accelerators::gpu::{Gpu, GpuSpec, LaunchMode};

fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/gpu/h100")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn show(spec: &GpuSpec, cal: &Calibration, name: &str, rows: &[&Sample], worst: usize) {
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::Eager);
    let mut groups: Vec<String> = rows.iter().map(|s| s.group.clone()).collect();
    groups.sort();
    groups.dedup();
    println!(
        "{name}: MAPE {:.2}% over {} rows",
        100.0 * v::mape(spec, cal, rows),
        rows.len()
    );
    for g in groups {
        let sub: Vec<&Sample> = rows.iter().copied().filter(|s| s.group == g).collect();
        println!(
            "  {g:<10} {:6.2}% ({} rows)",
            100.0 * v::mape(spec, cal, &sub),
            sub.len()
        );
    }
    let mut err: Vec<(f64, &Sample)> = rows
        .iter()
        .map(|s| {
            (
                (gpu.isolated_latency(&s.op) - s.measured_s) / s.measured_s,
                *s,
            )
        })
        .collect();
    err.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = err.len();
    for (e, s) in err
        .iter()
        .take(worst)
        .chain(err.iter().skip(n.saturating_sub(worst)))
    {
        let (p, k) = v::explain(&gpu, s);
        println!(
            "  {:+6.1}% {:<34} meas {:9.1} pred {:9.1} us  {} {:?} split {} c {:.1} m {:.1}",
            100.0 * e,
            s.label,
            s.measured_s * 1e6,
            p * 1e6,
            k.class.name(),
            k.tile,
            k.split,
            k.compute_s * 1e6,
            k.memory_s * 1e6
        );
    }
}

fn dims(s: &Sample) -> (u64, u64, u64) {
    match &s.op.kind {
        archsim_workloads::OpKind::Gemm(g) => (g.m, g.n, g.k),
        _ => (0, 0, 0),
    }
}

fn is_narrow(s: &Sample) -> bool {
    let (_, n, k) = dims(s);
    let a = archsim_accelerators::gpu::kernels::alignment;
    a(n * 2).min(a(k * 2)) < 16
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iters: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1500);
    let start = match args.get(2).map(String::as_str) {
        Some("h100") => Calibration::h100(),
        _ => Calibration::initial_guess(),
    };
    let spec = GpuSpec::preset("h100_sxm").expect("preset");
    let gemm = v::parse_gemm(&data("gemm.csv")).expect("gemm.csv");
    let attn = v::parse_attn(&data("attn.csv")).expect("attn.csv");
    let conv = v::parse_conv(&data("conv.csv")).expect("conv.csv");
    let ops = v::parse_ops(&data("ops.csv")).expect("ops.csv");
    let bf16: Vec<&Sample> = gemm.iter().filter(|s| s.group == "bf16").collect();
    if std::env::var("CV").is_ok() {
        let t0 = std::time::Instant::now();
        let cv = v::cross_validate(&spec, &start, fitted::GEMM, &bf16, 5, iters);
        for f in &cv.folds {
            println!(
                "  fold: train {:.2}% test {:.2}% ({} rows)",
                100.0 * f.train_mape,
                100.0 * f.test_mape,
                f.test_rows
            );
        }
        println!(
            "bf16 5-fold CV: mean {:.2}% worst {:.2}% in {:.1?}",
            100.0 * cv.mean_mape,
            100.0 * cv.worst_mape,
            t0.elapsed()
        );
    }
    let t0 = std::time::Instant::now();
    let (cal, m) = v::fit(&spec, &start, fitted::GEMM, &bf16, iters);
    println!(
        "gemm bf16 fit: MAPE {:.2}% in {:.1?}",
        100.0 * m,
        t0.elapsed()
    );
    let attn_r: Vec<&Sample> = attn.iter().collect();
    let (cal, _) = v::fit(&spec, &cal, fitted::ATTENTION, &attn_r, iters / 4);
    let conv_r: Vec<&Sample> = conv.iter().collect();
    let (cal, _) = v::fit(&spec, &cal, fitted::CONV, &conv_r, iters / 4);
    let ops_r: Vec<&Sample> = ops.iter().collect();
    let (mut cal, _) = v::fit(&spec, &cal, fitted::OPS, &ops_r, iters / 2);
    // The in-network constants, on kernels.csv from neutral values, every isolated constant
    // fixed (as `network_constants_are_the_kernels_csv_fit` checks).
    let cases = v::parse_kernel_cases(&data("kernels.csv")).expect("kernels.csv");
    for n in fitted::NETWORK {
        *cal.param_mut(n).expect("a constant") =
            Calibration::initial_guess().param(n).expect("a constant");
    }
    let (cal, loss) = archsim_accelerators::gpu::calib::fit(&cal, fitted::NETWORK, iters, |c| {
        v::network_loss(&spec, c, &cases)
    });
    println!("kernels.csv loss {loss:.4}");
    println!("{cal:#?}");
    let all: Vec<&Sample> = gemm.iter().collect();
    let sub = |f: &dyn Fn(&Sample) -> bool| -> Vec<&Sample> {
        bf16.iter().copied().filter(|s| f(s)).collect()
    };
    for (name, rows) in [
        ("bf16 llm set", sub(&|s| s.label.starts_with("llm"))),
        ("bf16 rand set", sub(&|s| s.label.starts_with("rand"))),
        ("bf16 aligned", sub(&|s| !is_narrow(s))),
        ("bf16 narrow", sub(&|s| is_narrow(s))),
        ("bf16 m<=32", sub(&|s| dims(s).0 <= 32)),
        ("bf16 m>32", sub(&|s| dims(s).0 > 32)),
    ] {
        println!(
            "  {name:<14} {:6.2}% ({} rows)",
            100.0 * v::mape(&spec, &cal, &rows),
            rows.len()
        );
    }
    if let Ok(which) = std::env::var("LIST") {
        let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::Eager);
        let mut rows: Vec<&Sample> = if which == "fp32" || which == "fp16" {
            gemm.iter().filter(|s| s.group == which).collect()
        } else {
            bf16.iter()
                .copied()
                .filter(|s| is_narrow(s) == (which == "narrow"))
                .collect()
        };
        let a = archsim_accelerators::gpu::kernels::alignment;
        rows.sort_by_key(|s| {
            let (m, n, k) = dims(s);
            (a(n * 2).min(a(k * 2)), m)
        });
        for s in rows {
            let (m, n, k) = dims(s);
            let (p, e) = v::explain(&gpu, s);
            println!("    a_n {:2} a_k {:2} {:<28} meas {:8.1} pred {:8.1} {:+6.1}% {:?} s{} c {:.1} m {:.1}",
                a(n * 2), a(k * 2), s.label, s.measured_s * 1e6, p * 1e6,
                100.0 * (p - s.measured_s) / s.measured_s, e.tile, e.split, e.compute_s * 1e6, e.memory_s * 1e6);
            let _ = m;
        }
    }
    show(&spec, &cal, "gemm", &all, 15);
    show(&spec, &cal, "attn", &attn_r, 6);
    show(&spec, &cal, "conv", &conv_r, 30);
    show(&spec, &cal, "ops", &ops_r, 6);
    // Check only: llm.csv is never fitted.
    println!("llm.csv (check only):");
    for r in v::parse_llm(&data("llm.csv")).expect("llm.csv") {
        let launch = if r.mode == "eager" {
            LaunchMode::Eager
        } else {
            LaunchMode::CudaGraph
        };
        let gpu = Gpu::from_parts(spec.clone(), cal.clone(), launch);
        let p = v::predict_llm(&gpu, &r).expect("lowers");
        if std::env::var("BREAKDOWN").is_ok() {
            let w = v::llm_workload(&r).expect("lowers");
            let mut by: std::collections::BTreeMap<String, (usize, f64, f64)> = Default::default();
            for op in w.ops() {
                let e = by.entry(op.class().to_string()).or_default();
                e.0 += 1;
                e.1 += gpu.op_latency(op);
                e.2 += gpu.isolated_latency(op);
            }
            for (k, (n, t, i)) in by {
                println!(
                    "      {k:<12} {n:5} ops  stream {:8.3} ms  isolated {:8.3} ms",
                    t * 1e3,
                    i * 1e3
                );
            }
        }
        println!(
            "  {:<8} b{:<3} {:<8} prompt {:<5} ctx {:<5} {:<10} meas {:9.3} ms pred {:9.3} ms {:+6.1}%",
            r.phase, r.batch, r.model, r.prompt_len, r.context_len, r.mode,
            r.measured_s * 1e3, p * 1e3, 100.0 * (p - r.measured_s) / r.measured_s
        );
    }
}

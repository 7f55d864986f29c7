//! The training studies: the best layout of GPT-3 175B on 1,024 A100 and ZeRO stages 0–3.

use crate::common::*;

use archsim_studies::training_zero::stages;
use archsim_training::file::TrainingFile;

fn same_files(out: &std::path::Path, dir: &std::path::Path, files: &[&str]) {
    for f in files {
        let a = std::fs::read(out.join(f)).unwrap();
        let b = std::fs::read(dir.join(f)).unwrap();
        assert!(a == b, "{f} differs from {}", dir.join(f).display());
    }
}

/// Every valid layout ranked: the best fits and beats (or ties) Megatron-LM's, which is
/// among the valid layouts; the folder regenerates byte for byte.
#[test]
fn best_layout_ranks_the_whole_space_and_regenerates_its_results() {
    let cfg = root().join("configs/repro/training_best_layout.yaml");
    let out = tmp("training_best_layout");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["valid_layouts"], 3570);
    let fitting = j["fitting_layouts"].as_u64().unwrap();
    assert!(fitting > 100 && fitting < 3570, "{fitting}");
    let best = &j["best"];
    let r = &j["reference"];
    assert_eq!(
        (r["tp"].as_u64(), r["pp"].as_u64(), r["dp"].as_u64()),
        (Some(8), Some(8), Some(16))
    );
    assert!(best["tokens_per_s"].as_f64().unwrap() >= r["tokens_per_s"].as_f64().unwrap());
    assert!(best["memory_gb"].as_f64().unwrap() <= 80.0);
    let rank = j["reference_rank"].as_u64().unwrap();
    assert!(rank >= 1 && rank <= fitting);
    same_files(
        &out,
        &root().join("results/training_best_layout"),
        &[
            "README.md",
            "layouts.csv",
            "layouts.png",
            "layouts.svg",
            "config.yaml",
        ],
    );
}

/// The study's model states per device are the ZeRO paper's formulas exactly: 2Ψ + 2Ψ + KΨ
/// at stage 0, then KΨ/N_d, (2 + K)Ψ/N_d and (2 + 2 + K)Ψ/N_d sharded (Ψ = the model's
/// parameters on one data-parallel device, K = 12, N_d = 64); activations do not move.
#[test]
fn states_follow_the_zero_paper() {
    let text = std::fs::read_to_string(root().join("configs/repro/training_zero.yaml")).unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("study");
    let f = TrainingFile::from_value(doc).unwrap();
    let r = stages(&f).unwrap();
    // Ψ on one device (tp = pp = 1): every parameter (51,200 is a multiple of the vocabulary
    // padding, so the embedding is not padded).
    let psi = r[0].params as f64;
    let (k, nd) = (12.0, 64.0);
    let gb = |x: f64| x / 1e9;
    let states = |z: usize| {
        let m = &r[z].memory_gb;
        (m.parameters, m.gradients, m.optimizer)
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-9);
    let want = [
        (2.0 * psi, 2.0 * psi, k * psi),
        (2.0 * psi, 2.0 * psi, k * psi / nd),
        (2.0 * psi, 2.0 * psi / nd, k * psi / nd),
        (2.0 * psi / nd, 2.0 * psi / nd, k * psi / nd),
    ];
    for (z, w) in want.iter().enumerate() {
        let (p, g, o) = states(z);
        assert!(
            close(p, gb(w.0)) && close(g, gb(w.1)) && close(o, gb(w.2)),
            "stage {z}: {p} {g} {o} vs {w:?}"
        );
        assert_eq!(r[z].memory_gb.activations, r[0].memory_gb.activations);
    }
    // 7.5B parameters: 120 GB of states at stage 0 do not fit 80 GB; stage 1 does.
    assert!((psi / 1e9 - 7.5).abs() < 0.1, "{psi}");
    assert!(!r[0].fits && r[1].fits && r[2].fits && r[3].fits);
    // Stage 3 gathers weights every layer pass: slower than stage 2.
    assert!(r[3].iteration_s > r[2].iteration_s);
}

#[test]
fn zero_study_regenerates_its_results() {
    let cfg = root().join("configs/repro/training_zero.yaml");
    let out = tmp("training_zero");
    let o = archsim(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    same_files(
        &out,
        &root().join("results/training_zero"),
        &[
            "README.md",
            "zero_stages.csv",
            "memory.png",
            "memory.svg",
            "config.yaml",
        ],
    );
}

/// Megatron-LM Table 1: every row within 15% of the implied iteration, MAPE ≤ 10%; the folder
/// regenerates byte for byte.
#[test]
fn megatron_weak_scaling_meets_the_bars_and_regenerates_its_results() {
    let cfg = root().join("configs/repro/training_megatron.yaml");
    let out = tmp("training_megatron");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for r in rows {
        assert!(r["error"].as_f64().unwrap().abs() <= 0.15, "{r}");
    }
    assert!(j["mape_pct"].as_f64().unwrap() <= 10.0, "{j}");
    same_files(
        &out,
        &root().join("results/training_megatron"),
        &[
            "README.md",
            "weak_scaling.csv",
            "weak_scaling.png",
            "weak_scaling.svg",
            "config.yaml",
        ],
    );
}

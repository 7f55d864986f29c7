//! The a100_allreduce study.

use crate::common::*;

/// `archsim run configs/repro/a100_allreduce.yaml` regenerates `results/a100_allreduce/`
/// byte for byte, and the committed README meets the acceptance bars.
#[test]
fn a100_allreduce_regenerates_its_results_byte_for_byte() {
    let cfg = root().join("configs/repro/a100_allreduce.yaml");
    let dir = root().join("results/a100_allreduce");
    let out = tmp("a100_allreduce");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["mape_pct"].as_f64().unwrap() <= 10.0, "{j}");
    for g in j["per_gpus"].as_array().unwrap() {
        assert!(g["mape_pct"].as_f64().unwrap() <= 10.0, "{g}");
    }
    for f in j["folds"].as_array().unwrap() {
        assert!(f["held_out_mape"].as_f64().unwrap() <= 10.0, "{f}");
    }
    for f in [
        "README.md",
        "predicted_vs_measured.csv",
        "busbw.png",
        "busbw.svg",
        "config.yaml",
    ] {
        let a = std::fs::read(out.join(f)).unwrap();
        let b = std::fs::read(dir.join(f)).unwrap();
        assert!(a == b, "{f} differs from results/a100_allreduce/{f}");
    }
}

//! The serving seeds' studies: KV precision (COMET) and speculative decoding (Dovetail).

use crate::common::*;

fn run_json(cfg: &str, name: &str) -> (serde_json::Value, std::path::PathBuf) {
    let dir = tmp(name);
    let o = archsim(&[
        "run",
        root().join(cfg).to_str().unwrap(),
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (serde_json::from_slice(&o.stdout).unwrap(), dir)
}

fn same_bytes(dir: &std::path::Path, results: &str, files: &[&str], cfg: &str) {
    for f in files {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(root().join(results).join(f)).unwrap(),
            "{results}/{f} differs from a rerun (stale, or the study is not deterministic): archsim run {cfg} --out {results}"
        );
    }
}

/// The KV-precision study on its committed config (results/kv_precision/README.md): the
/// int4 cache holds four times the blocks of the 16-bit one at the same weights, throughput
/// grows with every narrower cache and with int8 weights, and the rerun writes the committed
/// results byte for byte.
#[test]
fn kv_precision_study_orders_the_variants_and_reruns_identically() {
    let cfg = "configs/repro/kv_precision.yaml";
    let (j, dir) = run_json(cfg, "kv_precision_study");
    let rows = j["rows"].as_array().unwrap();
    let blocks = |v: &str| {
        rows.iter().find(|r| r["variant"] == v).unwrap()["kv_blocks"]
            .as_u64()
            .unwrap()
    };
    let b16 = blocks("W16A16KV16");
    assert!(blocks("W16A16KV4") >= 4 * b16 && blocks("W16A16KV4") < 4 * (b16 + 1));
    let speedup = |v: &str| {
        j["speedups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == v)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert_eq!(speedup("W16A16KV16"), 1.0);
    assert!(speedup("W16A16KV8") > 1.0);
    assert!(speedup("W16A16KV4") > speedup("W16A16KV8"));
    assert!(speedup("W8A8KV4") > speedup("W8A8KV16").max(speedup("W16A16KV4")));
    assert!(speedup("W16A16KV16 read 1/8") > 1.0);
    same_bytes(
        &dir,
        "results/kv_precision",
        &["results.csv", "speedups.csv", "throughput_vs_rate.svg"],
        cfg,
    );
}

/// The Dovetail study on its committed config (results/dovetail/README.md): at α = 0 every
/// draft costs time (speedup below 1), the speedup grows with α for every k and placement, a
/// longer draft needs a higher α to pay, and the rerun writes the committed results byte for
/// byte.
#[test]
fn dovetail_study_finds_where_cpu_drafting_pays_and_reruns_identically() {
    let cfg = "configs/repro/dovetail.yaml";
    let (j, dir) = run_json(cfg, "dovetail_study");
    let rows = j["rows"].as_array().unwrap();
    for r in rows.iter().filter(|r| r["alpha"] == 0.0) {
        assert!(r["speedup"].as_f64().unwrap() < 1.0, "{r}");
    }
    for p in ["CPU", "GPU"] {
        for k in [1u64, 2, 4, 8] {
            let s: Vec<f64> = rows
                .iter()
                .filter(|r| r["placement"] == p && r["k"] == k)
                .map(|r| r["speedup"].as_f64().unwrap())
                .collect();
            assert!(s.windows(2).all(|w| w[1] > w[0]), "{p} k={k}: {s:?}");
        }
    }
    let pays = |p: &str, k: u64| {
        j["pays_from"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x[0] == p && x[1] == k)
            .unwrap()[2]
            .as_f64()
            .unwrap()
    };
    assert!(pays("CPU", 8) > pays("CPU", 1));
    assert!(pays("CPU", 4) >= pays("GPU", 4));
    same_bytes(
        &dir,
        "results/dovetail",
        &["results.csv", "pays_from.csv", "speedup_vs_acceptance.svg"],
        cfg,
    );
}

//! The HW-NAS-Bench ranking check.

use crate::common::*;

/// The sample config ranks the 101 cells like HW-NAS-Bench's Eyeriss column under the
/// reference's pooling (τ ≥ 0.7, as the module's unit test of the same design), writes one row
/// per cell, and reruns to the same bytes.
#[test]
fn hwnasbench_sample_ranks_like_the_benchmark_and_reruns_identically() {
    let cfg = root().join("configs/repro/hwnasbench_eyeriss.yaml");
    let run = |name: &str| {
        let out = tmp(name);
        let o = archsim(&[
            "run",
            cfg.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (o, out)
    };
    let (o, out) = run("hwnasbench");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["cells"], 101);
    let tau = j["kendall_tau"].as_f64().unwrap();
    assert!((0.7..=1.0).contains(&tau), "tau {tau}");
    let csv = std::fs::read_to_string(out.join("hwnasbench.csv")).unwrap();
    assert_eq!(csv.lines().count(), 102);
    let (again, out2) = run("hwnasbench_again");
    assert_eq!(again.stdout, o.stdout);
    assert_eq!(
        std::fs::read(out2.join("hwnasbench.csv")).unwrap(),
        csv.into_bytes()
    );
    // A device the table lacks is bad input, named by its key.
    let bad = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        tmp("hwnasbench_bad").to_str().unwrap(),
        "--set",
        "study.device=tpu",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("study.device"));
}

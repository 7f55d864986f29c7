//! The ds3 study.

use crate::common::*;

#[test]
fn ds3_latency_vs_rate_study_orders_the_schedulers() {
    // The committed results/soc/ come from the full study; this runs a smaller one (fewer jobs,
    // two rates, one seed) and checks the DS3 ordering at moderate load.
    let out = tmp("ds3_study");
    let cfg = root().join("configs/repro/ds3_latency_vs_rate.yaml");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--set",
        "workload.jobs.count=300",
        "--set",
        "study.rates_per_ms=[2, 8]",
        "--set",
        "study.seeds=[0]",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lat = |s: &str, rate: f64| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["scheduler"] == s && r["rate_per_ms"] == rate)
            .unwrap()["avg_job_latency_us"]
            .as_f64()
            .unwrap()
    };
    for good in ["heft", "etf"] {
        for bad in ["met", "random"] {
            assert!(lat(good, 8.0) < lat(bad, 8.0), "{good} vs {bad}");
        }
    }
    for f in [
        "results.csv",
        "summary.csv",
        "latency_vs_rate.png",
        "latency_vs_rate.svg",
    ] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 0, "{f}");
    }
}

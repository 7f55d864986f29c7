//! The disaggregation study.

use crate::common::*;

/// The disaggregation study on its committed config (results/disaggregation/README.md): under
/// the committed SLO the best split's goodput crosses co-location's once, disaggregation has the
/// higher goodput at every evaluated rate above the crossover and co-location at least as high
/// below it; a rerun through `archsim run` writes the committed results byte for byte.
#[test]
fn disaggregation_study_crosses_over_to_disaggregation_and_reruns_identically() {
    let cfg = root().join("configs/repro/disaggregation.yaml");
    let dir = tmp("disagg_study");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let crossovers = j["crossovers"].as_array().unwrap();
    assert_eq!(crossovers.len(), 1, "{crossovers:?}");
    assert_eq!(crossovers[0]["above"], "disaggregated");
    let at = crossovers[0]["rate_rps"].as_f64().unwrap();
    let rows = j["rows"].as_array().unwrap();
    let goodput = |prefix: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r["fleet"].as_str().unwrap().starts_with(prefix))
            .map(|r| {
                (
                    r["rate_rps"].as_f64().unwrap(),
                    r["goodput_rps"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (coloc, best) = (goodput("colocated"), goodput("best split"));
    assert_eq!(coloc.len(), best.len());
    assert!(coloc.iter().any(|c| c.0 < at) && coloc.iter().any(|c| c.0 > at));
    for (c, b) in coloc.iter().zip(&best) {
        assert_eq!(c.0, b.0);
        if c.0 > at {
            assert!(
                b.1 > c.1,
                "at {} req/s: best split {} <= co-located {}",
                c.0,
                b.1,
                c.1
            );
        } else {
            assert!(
                c.1 >= b.1,
                "at {} req/s: co-located {} < best split {}",
                c.0,
                c.1,
                b.1
            );
        }
    }
    // The disaggregated fleet's gain is real above the crossover: at 90% attainment it serves
    // a higher rate than co-location.
    let at90 = |n: &str| {
        j["rate_at_90pct_rps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == n)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!(at90("best split") > at90("colocated"));
    // A rerun writes the bytes of the committed run (results/ was written by an earlier run,
    // a release build): stale results and a nondeterministic rerun both fail here.
    for f in [
        "results.csv",
        "crossover.csv",
        "goodput_vs_rate.svg",
        "attainment_vs_rate.svg",
    ] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(root().join("results/disaggregation").join(f)).unwrap(),
            "results/disaggregation/{f} differs from a rerun (stale, or the study is not deterministic): archsim run configs/repro/disaggregation.yaml --out results/disaggregation"
        );
    }
}

//! The sn40l study.

use crate::common::*;

#[test]
fn sn40l_repro_config_runs_and_keeps_the_papers_orderings() {
    let study = archsim_studies::sn40l::load(&root().join("configs/repro/sn40l.yaml")).unwrap();
    let r = archsim_studies::sn40l::run(&study).unwrap();
    assert_eq!(r.fusion.len(), study.fusion.len());
    for f in &r.fusion {
        // Fusion beats one kernel per op, and hardware orchestration beats software.
        assert!(
            f.unfused_s > f.fused_so_s && f.fused_so_s >= f.fused_s,
            "{f:?}"
        );
        assert!(f.kernel_ratio > 1.0, "{f:?}");
    }
    let sw = |p: &str| r.switching.iter().find(|(n, _)| n == p).unwrap().1;
    assert!(sw("rdu_hbm") < sw("rdu_ddr") && sw("rdu_ddr") < sw("dgx_h100_host"));
    assert!(sw("dgx_h100_host") < sw("dgx_a100_host"));
    let rps = |p: &str| {
        let (_, res) = r.serving.iter().find(|(n, _)| n == p).unwrap();
        res.as_ref().unwrap().requests_per_s
    };
    assert!(rps("sn40l_node") > rps("dgx_h100") && rps("dgx_h100") > rps("dgx_a100"));
    let out = tmp("sn40l_repro");
    archsim_studies::sn40l::write(&study, &r, &out).unwrap();
    let head = |f: &str| {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(head("fusion.csv"), "workload,unfused_s,fused_s");
    assert_eq!(head("switching.csv"), "platform,switch_s");
    assert_eq!(head("coe_serving.csv"), "platform,requests_per_s");
    let md = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(md.contains("| paper |") && md.contains("3.7x"));
    assert!(md.contains("## Sensitivity") && md.contains("DGX pricing"));
    assert!(out.join("fusion.png").exists() && out.join("coe_serving.png").exists());
    // Bounds of issue 18: fusion within 30% of the paper's ranges, expert switch within 20%
    // of 15x (H100) and 31x (A100).
    for f in &r.fusion {
        let sp = f.unfused_s / f.fused_s;
        let (lo, hi) = match f.phase {
            archsim::workloads::llm::Phase::Prefill => (1.5, 3.0),
            archsim::workloads::llm::Phase::Decode => (1.0, 13.0),
        };
        assert!(sp >= lo * 0.7 && sp <= hi * 1.3, "{}: {sp}", f.name);
    }
    let (h, a) = (
        sw("dgx_h100_host") / sw("rdu_ddr"),
        sw("dgx_a100_host") / sw("rdu_ddr"),
    );
    assert!((h / 15.0 - 1.0).abs() <= 0.2, "{h}");
    assert!((a / 31.0 - 1.0).abs() <= 0.2, "{a}");
    // A rerun writes the same bytes, and the checked-in results are those bytes.
    let again = tmp("sn40l_repro_again");
    archsim_studies::sn40l::write(
        &study,
        &archsim_studies::sn40l::run(&study).unwrap(),
        &again,
    )
    .unwrap();
    for f in [
        "README.md",
        "fusion.csv",
        "switching.csv",
        "coe_serving.csv",
        "coe_scaling.csv",
        "fusion.svg",
        "coe_serving.svg",
    ] {
        let a = std::fs::read(out.join(f)).unwrap();
        assert_eq!(
            a,
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs on a rerun"
        );
        assert_eq!(
            a,
            std::fs::read(root().join("results/sn40l").join(f)).unwrap(),
            "results/sn40l/{f} is stale: archsim run configs/repro/sn40l.yaml --out results/sn40l"
        );
    }
}

#[test]
fn archsim_run_takes_the_sn40l_study_with_overrides() {
    let dir = tmp("sn40l_cli");
    let cfg = root().join("configs/repro/sn40l.yaml");
    let out = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |k: &str| j[k].as_array().map_or(0, Vec::len);
    assert!(
        n("fusion") >= 4 && n("switching") == 4 && n("coe_serving") == 3,
        "{j}"
    );
    for f in [
        "fusion.csv",
        "switching.csv",
        "coe_serving.csv",
        "README.md",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    // Overrides reach the study: a faster DDR path shortens the RDU's expert switch.
    let sw = |j: &serde_json::Value| {
        j["switching"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["platform"] == "rdu_ddr")
            .unwrap()["switch_s"]
            .as_f64()
            .unwrap()
    };
    let fast = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        dir.join("fast").to_str().unwrap(),
        "--set",
        "rdu.ddr_gbps=400",
    ]);
    assert!(
        fast.status.success(),
        "{}",
        String::from_utf8_lossy(&fast.stderr)
    );
    let jf: serde_json::Value = serde_json::from_slice(&fast.stdout).unwrap();
    assert!(sw(&jf) < sw(&j));
    // A bad value is a located config error, not a crash.
    let bad = archsim(&["run", cfg.to_str().unwrap(), "--set", "rdu.pcus=many"]);
    assert_eq!(bad.status.code(), Some(2));
}

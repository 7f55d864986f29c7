//! The neupims study.

use crate::common::*;

#[test]
fn neupims_repro_config_runs_with_per_op_engines() {
    let cfg = root().join("configs/repro/neupims.yaml");
    let mut tps = Vec::new();
    for mode in ["npu_only", "npu_pim_naive", "neupims"] {
        let out = tmp(&format!("neupims_{mode}"));
        let set = format!("accelerator.mode={mode}");
        let o = archsim(&[
            "run",
            cfg.to_str().unwrap(),
            "--json",
            "--set",
            "study=null",
            "--set",
            &set,
            "--set",
            "workload.llm.layers=2",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let engines: Vec<&str> = r["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["engine"].as_str().unwrap())
            .collect();
        assert!(engines.contains(&"npu"));
        assert_eq!(engines.contains(&"pim"), mode != "npu_only", "{mode}");
        assert!(r["energy_j"].as_f64().unwrap() > 0.0);
        tps.push(r["llm"]["decode_tokens_per_s"].as_f64().unwrap());
    }
    // PIM beats the NPU's bus in both PIM modes at this point (NeuPIMs vs naive:
    // results/neupims/README.md).
    assert!(tps[2] > tps[0] && tps[1] > tps[0], "{tps:?}");
    // A batch that does not fit the 32 GB of a device is out of memory, never priced.
    let out = tmp("neupims_oom");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--set",
        "study=null",
        "--set",
        "workload.llm.batch=4096",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("out of memory") && err.contains("accelerator.hbm_gb"),
        "{err}"
    );
}

/// `archsim run configs/repro/neupims.yaml` regenerates `results/neupims/` byte for byte
/// (tables, README, plot), and again on a second run; bad study sections are named.
#[test]
fn neupims_study_regenerates_its_results_byte_for_byte() {
    let cfg = root().join("configs/repro/neupims.yaml");
    let dir = root().join("results/neupims");
    for run in ["neupims_study_a", "neupims_study_b"] {
        let out = tmp(run);
        let o = archsim(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("over npu_pim_naive"), "{text}");
        for f in [
            "throughput.csv",
            "README.md",
            "config.yaml",
            "throughput.svg",
            "throughput.png",
        ] {
            let (a, b) = (
                std::fs::read(dir.join(f)).unwrap(),
                std::fs::read(out.join(f)).unwrap(),
            );
            assert!(a == b, "{f} differs from results/neupims/{f}");
        }
    }
    // The library entry point (`archsim.run` in Python) dispatches the same way.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let base = cfg.parent().unwrap();
    let set = [
        "study=null".to_string(),
        "workload.llm.layers=2".to_string(),
    ];
    let point = archsim::run_any(&archsim::Request::new(
        &text,
        "neupims.yaml",
        base,
        &set,
        None,
    ))
    .unwrap()
    .value();
    assert!(
        point["ops"].as_array().is_some_and(|o| !o.is_empty()),
        "{point}"
    );
    let out = tmp("neupims_study_bad");
    for (set, want) in [
        ("study.batches=[]", "study.batches: give at least 1 value"),
        (
            "study.models=[{model: gpt3_9b, tp: 1, pp: 1}]",
            "unknown model `gpt3_9b`",
        ),
        ("study.bogus=1", "study.bogus: unknown field"),
    ] {
        let o = archsim(&[
            "run",
            cfg.to_str().unwrap(),
            "--set",
            set,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{set}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{set}: {err}");
    }
}

/// `results/neupims/` (written by `archsim run configs/repro/neupims.yaml`): every row that
/// does not fit a device is marked infeasible and every row that fits is priced; naive NPU+PIM
/// beats NPU-only wherever all fit, and NeuPIMs beats NPU-only on average; the README's geometric means are the CSV's, and it claims
/// "within 20%" only where that holds; a point recomputed now (twice) gives the CSV's bytes.
#[test]
fn neupims_results_enforce_capacity_keep_orderings_and_rerun_identically() {
    use archsim::accelerators::npu_pim::{decode_tokens_per_s, NpuPimConfig, PimMode};
    let dir = root().join("results/neupims");
    let csv = std::fs::read_to_string(dir.join("throughput.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "model,tp,pp,batch,mode,tokens_per_s,memory_gb_per_device,capacity_gb"
    );
    type Modes = Vec<(String, Option<f64>)>;
    let mut points: std::collections::BTreeMap<(String, u64), Modes> = Default::default();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 8, "{l}");
        let (mem, cap): (f64, f64) = (f[6].parse().unwrap(), f[7].parse().unwrap());
        let tps = if f[5] == "infeasible" {
            assert!(mem > cap, "{l}: marked infeasible but fits");
            None
        } else {
            assert!(mem <= cap, "{l}: priced but does not fit");
            Some(f[5].parse::<f64>().unwrap())
        };
        points
            .entry((f[0].to_string(), f[3].parse().unwrap()))
            .or_default()
            .push((f[4].to_string(), tps));
    }
    assert_eq!(points.len(), 8);
    let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
    for (k, modes) in &points {
        let names: Vec<&str> = modes.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(
            names,
            ["gpu_only", "npu_only", "npu_pim_naive", "neupims"],
            "{k:?}"
        );
        if let [Some(g), Some(n), Some(v), Some(p)] =
            [modes[0].1, modes[1].1, modes[2].1, modes[3].1]
        {
            // PIM attention beats the NPU's bus wherever the FC layers do not interleave.
            assert!(v > n, "{k:?}: {modes:?}");
            for (i, x) in [g, n, v].into_iter().enumerate() {
                ratios[i].push(p / x);
            }
        }
    }
    // GPT-3 13B/30B/175B at batch 512 exceed 32 GB per device.
    assert!(points[&("gpt3_175b".to_string(), 512)][3].1.is_none());
    let md = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for (i, (mode, paper)) in [("gpu_only", 3.0), ("npu_only", 2.4), ("npu_pim_naive", 1.6)]
        .into_iter()
        .enumerate()
    {
        let g =
            (ratios[i].iter().map(|x: &f64| x.ln()).sum::<f64>() / ratios[i].len() as f64).exp();
        let ok = if (g / paper - 1.0).abs() <= 0.2 {
            "yes"
        } else {
            "no"
        };
        let row = format!(
            "| {mode} | {paper:.1}x | {g:.2}x | {} | {ok} |",
            ratios[i].len()
        );
        assert!(md.contains(&row), "README lacks `{row}`");
    }
    let npu_geomean =
        (ratios[1].iter().map(|x: &f64| x.ln()).sum::<f64>() / ratios[1].len() as f64).exp();
    assert!(npu_geomean > 1.0, "{npu_geomean}");
    assert!(md.contains("## Sensitivity") && md.contains("Why the figures stay outside"));
    // A point recomputed from the config gives the CSV's bytes, twice.
    let text = std::fs::read_to_string(root().join("configs/repro/neupims.yaml")).unwrap();
    let cfg = archsim::config::load_base(&text, "neupims.yaml", &[]).unwrap();
    let archsim::accelerators::AcceleratorConfig::NpuPim(base) = &cfg.accelerator else {
        panic!("kind")
    };
    let step = archsim::workloads::llm::LlmConfig {
        layers: Some(32),
        ..cfg.workload.llm.clone().unwrap()
    };
    for (mode, csv_mode) in [(PimMode::NpuOnly, 1), (PimMode::Neupims, 3)] {
        let c = NpuPimConfig {
            mode,
            ..(**base).clone()
        };
        let a = decode_tokens_per_s(&c, &step, cfg.workload.dtype()).unwrap();
        let b = decode_tokens_per_s(&c, &step, cfg.workload.dtype()).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
        let want = points[&("gpt3_7b".to_string(), 256)][csv_mode].1.unwrap();
        assert_eq!(format!("{a:.1}"), format!("{want:.1}"), "{mode:?}");
    }
}

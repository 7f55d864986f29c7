//! The hardware families and workload forms through the `archsim` binary: what each family
//! prices for each form, reproductions of published results (HEFT's makespan), determinism of
//! seeded runs, and their bad input. The CLI's own contract is `tests/cli.rs`.

mod common;
use common::*;
use std::path::PathBuf;

#[test]
fn llm_workloads_and_their_errors() {
    let dir = tmp("llm");
    let acc =
        "accelerator:\n  kind: systolic\n  rows: 32\n  cols: 32\n  dataflow: os\n  word_bytes: 2\n";
    let ok = format!("workload:\n  llm: {{model: gpt2, phase: decode, batch: 2, context_len: 64, layers: 2}}\n  dtype: fp16\n{acc}");
    let cfg = write_cfg(&dir, &ok);
    let o = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["workload"], "gpt2_decode");
    assert!(r["ops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["kind"] == "attention"));
    let cases = [
        (
            ok.replace("layers: 2", "layers: 2, tp: 5"),
            "c.yaml:2:79: workload.llm.tp: 5 devices cannot split gpt2: tp must divide its 12 attention heads",
        ),
        (
            ok.replace("gpt2", "gpt5"),
            "c.yaml:2:16: workload.llm.model: unknown model `gpt5`",
        ),
        (
            ok.replace("phase: decode", "phase: train"),
            "workload.llm.phase: unknown variant `train`",
        ),
        (
            format!("workload:\n  model: resnet18\n  seq_len: 12\n{acc}"),
            "workload.seq_len: `resnet18` is not a sequence model",
        ),
    ];
    for (text, want) in cases {
        let cfg = write_cfg(&dir, &text);
        let o = archsim(&["run", &cfg, "--out", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }
}

#[test]
fn gpu_prices_every_workload_form() {
    let dir = tmp("gpu");
    let acc = "accelerator:\n  kind: gpu\n  preset: h100_sxm\n";
    for (workload, name) in [
        (
            "gemm: {m: 2048, n: 4096, k: 4096}\n  dtype: bf16",
            "gemm_2048x4096x4096",
        ),
        ("model: resnet50\n  batch: 8\n  dtype: fp16", "resnet50"),
        (
            "model: bert_base\n  seq_len: 128\n  dtype: bf16",
            "bert_base",
        ),
        (
            "llm: {model: llama2_7b, phase: prefill, batch: 1, prompt_len: 512}\n  dtype: bf16",
            "llama2_7b_prefill",
        ),
    ] {
        let cfg = write_cfg(&dir, &format!("workload:\n  {workload}\n{acc}"));
        let o = archsim(&[
            "run",
            &cfg,
            "--json",
            "--out",
            dir.join("o").to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["workload"], name);
        assert!(r["accelerator"]
            .as_str()
            .unwrap()
            .starts_with("gpu h100_sxm"));
        let total = r["latency_s"].as_f64().unwrap();
        let sum: f64 = r["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["latency_s"].as_f64().unwrap())
            .sum();
        assert!(
            total > 0.0 && (sum - total).abs() <= 1e-6 * total + 1e-9,
            "{name}: {sum} vs {total}"
        );
        assert_eq!(r.get("llm").is_some(), name.starts_with("llama"), "{name}");
    }
}

#[test]
fn gpu_llm_report_and_bad_input() {
    let dir = tmp("gpu_llm");
    let cfg = root().join("configs/llama2_7b_h100.yaml");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let l = &r["llm"];
    for key in ["ttft_s", "tpot_s", "decode_tokens_per_s", "max_batch"] {
        assert!(l[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert_eq!(l["memory"]["fits"], true);
    // Time per output token is the decode step the report priced.
    let tpot = l["tpot_s"].as_f64().unwrap();
    assert!((tpot - r["latency_s"].as_f64().unwrap()).abs() / tpot < 1e-3);
    // The systolic model's report has no `llm` section (existing output unchanged).
    let o = archsim(&["run", "--json", "--out", dir.join("q").to_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r.get("llm").is_none());

    let base = "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 1, context_len: 129}\n  dtype: bf16\naccelerator:\n  kind: gpu\n  preset: h100_sxm\n";
    let cases = [
        (
            base.replace("h100_sxm", "h100"),
            "c.yaml:6:11: accelerator.preset: unknown preset `h100`",
        ),
        (
            format!("{base}  hbm_gbps: 0\n"),
            "accelerator.hbm_gbps: must be at least 0.001, got 0",
        ),
        (
            format!("{base}  launch: async\n"),
            "accelerator.launch: unknown variant `async`",
        ),
        (
            format!("{base}  tensor_tflops: {{bf16: -1}}\n"),
            "accelerator.tensor_tflops.bf16: must be at least 1e-6, got -1",
        ),
        (
            base.replace("llama2_7b", "llama2_70b"),
            "out of memory on gpu h100_sxm (cudagraph): llama2_70b weights",
        ),
    ];
    for (text, want) in cases {
        let cfg = write_cfg(&dir, &text);
        let o = archsim(&["run", &cfg, "--out", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(!err.contains("panicked"));
    }
    // Tensor parallelism makes 70B fit on 4 GPUs.
    let cfg = write_cfg(
        &dir,
        &base
            .replace("llama2_7b", "llama2_70b")
            .replace("context_len: 129", "context_len: 129, tp: 4"),
    );
    let o = archsim(&["run", &cfg, "--json", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["llm"]["tp"], 4);
    assert!(r["ops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["kind"] == "collective"));
}

#[test]
fn heft_topcuoglu_repro_has_makespan_80() {
    let out = tmp("heft_topcuoglu");
    let cfg = root().join("configs/repro/heft_topcuoglu.yaml");
    let o = archsim(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["makespan"], 80.0);
    for key in ["total_cycles", "latency_s", "energy_j", "area_mm2", "ops"] {
        assert!(report.get(key).is_some(), "report.json lacks {key}");
    }
    for f in ["gantt.png", "gantt.svg", "trace.json", "ops.csv"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 0, "{f}");
    }
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("trace.json")).unwrap()).unwrap();
    let tasks = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count();
    assert_eq!(tasks, 10);
}

#[test]
fn soc_runs_are_byte_identical_for_the_same_seed() {
    let cfg = root().join("configs/ds3_wifi.yaml");
    let run = |name: &str, seed: &str| {
        let out = tmp(name);
        let o = archsim(&[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            "workload.jobs.count=40",
            "--set",
            &format!("seed={seed}"),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("report.json")).unwrap()
    };
    let a = run("soc_det_a", "3");
    assert_eq!(a, run("soc_det_b", "3"));
    assert_ne!(a, run("soc_det_c", "4"));
    let r: serde_json::Value = serde_json::from_slice(&a).unwrap();
    for key in [
        "makespan",
        "avg_job_latency_us",
        "p95_job_latency_us",
        "p99_job_latency_us",
        "throughput_jobs_per_ms",
        "pe_utilization",
    ] {
        assert!(r.get(key).is_some(), "report.json lacks {key}");
    }
}

#[test]
fn bad_job_files_exit_2_naming_the_task() {
    let dir = tmp("bad_jobs");
    let job = "name: bad\ntypes:\n  a: {a15: 1}\n  b: {a15: 2}\ntasks:\n  - {name: first, type: a}\n  - {name: second, type: b}\nedges:\n  - {from: first, to: second, bytes: 1}\n";
    let cases = [
        (
            job.replace("edges:\n", "edges:\n  - {from: second, to: first}\n"),
            "task `first` is on a dependency cycle: first -> second -> first",
        ),
        (
            job.replace("b: {a15: 2}", "b: {a15: -2}"),
            "task `second`: type `b` has execution time -2 µs on `a15`",
        ),
        (
            job.replace("b: {a15: 2}", "b: {dsp: 2}"),
            "op `bad/second` cannot be mapped on soc 16 PEs",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let jf = dir.join(format!("job{i}.yaml"));
        std::fs::write(&jf, text).unwrap();
        let cfg = write_cfg(
            &dir,
            &format!(
                "workload:\n  jobs:\n    apps: [{{file: job{i}.yaml}}]\n    arrival: {{process: batch}}\n    count: 2\naccelerator:\n  kind: soc\n  preset: ds3\n"
            ),
        );
        let o = archsim(&["run", &cfg, "--out", dir.join("out").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "case {i}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "case {i}: {err}");
    }
}

#[test]
fn onnx_workloads_run_and_match_the_zoo() {
    let dir = tmp("onnx");
    let onnx = root().join("tests/data/onnx/resnet18.onnx");
    let acc = "accelerator:\n  kind: systolic\n  rows: 128\n  cols: 128\n  dataflow: os\n";
    let cfg = write_cfg(
        &dir,
        &format!("workload:\n  onnx: {}\n{acc}", onnx.display()),
    );
    let o = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["macs"], 1_814_073_344u64);
    let missing = write_cfg(&dir, &format!("workload:\n  onnx: nowhere.onnx\n{acc}"));
    let o = archsim(&["run", &missing, "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07not a model at all").unwrap();
    let cfg = write_cfg(
        &dir,
        &format!("workload:\n  onnx: {}\n{acc}", garbage.display()),
    );
    let o = archsim(&["run", &cfg, "--out", dir.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
}

#[test]
fn rdu_runs_llm_workloads_with_sections_as_engines() {
    let dir = tmp("rdu_run");
    let mut lat = Vec::new();
    for fused in ["true", "false"] {
        let cfg = write_cfg(
            &dir,
            &format!(
                "workload:\n  llm: {{model: llama2_7b, phase: decode, batch: 4, prompt_len: 512, layers: 2}}\n  dtype: bf16\naccelerator:\n  kind: rdu\n  fused: {fused}\n"
            ),
        );
        let out = dir.join(format!("out_{fused}"));
        let o = archsim(&["run", &cfg, "--json", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(r["ops"][0]["engine"]
            .as_str()
            .unwrap()
            .starts_with("section "));
        lat.push(r["latency_s"].as_f64().unwrap());
    }
    assert!(lat[0] < lat[1], "fused {} unfused {}", lat[0], lat[1]);
}

#[test]
fn rdu_runs_a_tensor_parallel_shard_with_p2p_collectives() {
    let dir = tmp("rdu_tp");
    let cfg = write_cfg(
        &dir,
        "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 1, prompt_len: 512, layers: 2, tp: 8}\n  dtype: bf16\naccelerator:\n  kind: rdu\n  orchestration: software\n",
    );
    let o = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ops = r["ops"].as_array().unwrap();
    assert!(ops.iter().any(|op| op["kind"] == "collective"
        && op["mapping"].as_str().unwrap().starts_with("p2p over 8")));
    assert!(r["latency_s"].as_f64().unwrap() > 0.0);
}

/// `kind: roofline` runs through `archsim run` like any family: an `llm:` step with its serving
/// metrics, a what-if through `--set`, and the other op-graph sources (zoo, GEMM, ONNX).
#[test]
fn roofline_prices_every_op_graph_source_and_answers_a_what_if() {
    let cfg = root().join("configs/roofline_llama2_7b.yaml");
    let dir = tmp("roofline_cli");
    let base = report_of(&archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        dir.join("base").to_str().unwrap(),
    ]));
    let fast = report_of(&archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--set",
        "accelerator.mem_bw_gb_s=6700",
        "--out",
        dir.join("fast").to_str().unwrap(),
    ]));
    let (t0, t1) = (
        base["latency_s"].as_f64().unwrap(),
        fast["latency_s"].as_f64().unwrap(),
    );
    // A memory-bound decode: twice the bandwidth, half the time.
    assert!((t0 / t1 - 2.0).abs() < 0.01, "{t0} / {t1}");
    let llm = &base["llm"];
    assert_eq!(llm["tpot_s"].as_f64().unwrap(), t0);
    assert!(llm["ttft_s"].as_f64().unwrap() > 0.0 && llm["max_batch"].as_u64().unwrap() > 16);
    let onnx = root().join("tests/data/onnx/tiny_cnn.onnx");
    for (name, workload) in [
        ("zoo", "model: resnet18\n  dtype: int8".to_string()),
        (
            "gemm",
            "gemm: {m: 4096, n: 4096, k: 4096}\n  dtype: bf16".to_string(),
        ),
        ("onnx", format!("onnx: {}\n  dtype: int8", onnx.display())),
    ] {
        let d = tmp(&format!("roofline_{name}"));
        let text = format!(
            "workload:\n  {workload}\naccelerator:\n  kind: roofline\n  peak_tflops: {{bf16: 989, int8: 1979}}\n  mem_bw_gb_s: 3350\n  mem_gb: 80\n  buffer_mib: 50\n"
        );
        let path = write_cfg(&d, &text);
        let r = report_of(&archsim(&[
            "run",
            &path,
            "--json",
            "--out",
            d.join("out").to_str().unwrap(),
        ]));
        assert!(r["latency_s"].as_f64().unwrap() > 0.0, "{name}");
        assert!(!r["ops"].as_array().unwrap().is_empty(), "{name}");
    }
}

#[test]
fn dse_suite_problems_are_beyond_enumeration_and_run() {
    let dir = root().join("configs/search/suite");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (_, _, search) = archsim::config::load_full(&text, "suite", &[]).unwrap();
        let search = search.expect("a search section");
        let space = archsim::gym::DesignSpace::from_map("search.space", &search.space).unwrap();
        assert!(
            space.size() >= 100_000_000,
            "{}: {} designs",
            f.display(),
            space.size()
        );
        let out = tmp("dse_suite");
        let o = archsim(&[
            "run",
            f.to_str().unwrap(),
            "--set",
            "search.budget=16",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["history"].as_array().unwrap().len(), 16);
    }
}

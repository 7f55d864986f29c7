//! The range check of config values (issue 26): extreme and meaningless numbers are refused at
//! load with exit 2, naming the key (list index included) and where it came from (file, line
//! and column, or the `--set` override), for every config form; inputs that used to hang or
//! abort end at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `archsim run CONFIG --set ...` into a scratch folder; the output and the wall time.
fn run(config: &str, set: &[&str], out: &Path) -> (Output, Duration) {
    let cfg = if Path::new(config).is_absolute() {
        PathBuf::from(config)
    } else {
        root().join(config)
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archsim"));
    cmd.arg("run").arg(&cfg).arg("--out").arg(out).arg("--json");
    for s in set {
        cmd.arg("--set").arg(s);
    }
    let t0 = Instant::now();
    let o = cmd.output().expect("archsim runs");
    (o, t0.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `config --set set`, expects exit 2 with one error line holding every one of `want`.
fn refused(config: &str, set: &[&str], want: &[&str]) -> Duration {
    let out = tmp("values-refused");
    let (o, took) = run(config, set, &out);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{config} {set:?}: {e}");
    for w in want {
        assert!(e.contains(w), "{config} {set:?}: {e:?} lacks {w:?}");
    }
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e:?}");
    took
}

#[test]
fn inputs_that_hung_end_in_under_a_second_with_exit_2() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.slo.tpot_p99_s=1e308",
            "serving.slo.tpot_p99_s: must be at most",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.slo.ttft_p90_s=1e308",
            "serving.slo.ttft_p90_s: must be at most",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.pools[0].cost_per_hour=1e308",
            "serving.pools[0].cost_per_hour: must be at most",
        ),
        (
            "configs/repro/accelerator_fleet.yaml",
            "study.gpus[0].cost_per_hour=1e308",
            "study.gpus[0].cost_per_hour: must be at most",
        ),
        (
            "configs/repro/disaggregation.yaml",
            "study.rates_rps=[56, 1e308]",
            "study.rates_rps[1]: must be at most 1000000, got 1e308",
        ),
        (
            "configs/repro/sn40l.yaml",
            "coe.dgx_a100.host_gbps=0",
            "coe.dgx_a100.host_gbps: must be at least 0.001, got 0",
        ),
        (
            "configs/repro/sn40l.yaml",
            "coe.dgx_h100.host_gbps=-1",
            "coe.dgx_h100.host_gbps: must be at least",
        ),
        (
            "configs/repro/sn40l.yaml",
            "coe.dgx_h100.gpus=0",
            "coe.dgx_h100.gpus: must be at least 1",
        ),
        (
            "configs/repro/sn40l.yaml",
            "coe.dgx_a100.host_memory_gb=0",
            "coe.dgx_a100.host_memory_gb: must be greater than 0",
        ),
        (
            "configs/repro/sn40l.yaml",
            "coe.dgx_h100.published_expert_s=-2",
            "coe.dgx_h100.published_expert_s: must be greater than 0",
        ),
        // Out-of-memory aborts: bounded from measured memory per request / evaluation.
        (
            "configs/repro/melange.yaml",
            "study.rates_rps=[1, 1e308]",
            "study.rates_rps[1]: must be at most",
        ),
        (
            "configs/repro/accelerator_fleet.yaml",
            "study.rate_rps=1e308",
            "study.rate_rps: must be at most",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.traffic.requests=1000000000000",
            "serving.traffic.requests: must be at most 10000000",
        ),
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "codesign.budget=100000000000",
            "codesign.budget: must be at most 1000000",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.capacity.rel_tol=1e-300",
            "serving.capacity.rel_tol: must be at least",
        ),
    ];
    for (config, set, want) in cases {
        let took = refused(config, &[set], &[&format!("--set {set}: "), want]);
        assert!(
            took < Duration::from_secs(1),
            "{config} --set {set} took {took:?}"
        );
    }
}

#[test]
fn numbers_out_of_range_are_refused_naming_the_key_and_index() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "configs/repro/disaggregation.yaml",
            "study.rates_rps=[2, -1]",
            "study.rates_rps[1]: must be at least 1e-6, got -1",
        ),
        (
            "configs/repro/disaggregation.yaml",
            "study.rates_rps=[]",
            "study.rates_rps: give at least 1 value",
        ),
        (
            "configs/quickstart.yaml",
            "accelerator.dram_bw_bytes_per_cycle=1e-300",
            "accelerator.dram_bw_bytes_per_cycle: must be at least 0.001, got 1e-300",
        ),
        (
            "configs/quickstart.yaml",
            "accelerator.freq_mhz=1e308",
            "accelerator.freq_mhz: must be at most 100000, got 1e308",
        ),
        (
            "configs/llama2_7b_h100.yaml",
            "accelerator.clock_mhz=1e308",
            "accelerator.clock_mhz: must be at most 100000",
        ),
        (
            "configs/repro/neupims.yaml",
            "accelerator.freq_mhz=0",
            "accelerator.freq_mhz: must be at least 1, got 0",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.traffic.rate=1e-300",
            "serving.traffic.rate: must be at least 1e-6",
        ),
        (
            "configs/ds3_wifi.yaml",
            "accelerator.pes=[{name: a, type: a7, active_w: 1e308}]",
            "accelerator.pes[0].active_w: must be at most 1000000",
        ),
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "codesign.tasks[0].weight=1e308",
            "codesign.tasks[0].weight: must be at most 1000000",
        ),
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "codesign.tasks[0].max_latency_ms=-1",
            "codesign.tasks[0].max_latency_ms: must be greater than 0, got -1",
        ),
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "codesign.specs.max_energy_mj=0",
            "codesign.specs.max_energy_mj: must be greater than 0",
        ),
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "codesign.budget=0",
            "codesign.budget: must be at least 1",
        ),
        (
            "configs/serving_llama7b_h100.yaml",
            "serving.pools[0].cost_per_hour=-4",
            "serving.pools[0].cost_per_hour: must be at least 0",
        ),
        (
            "configs/repro/melange.yaml",
            "study.gpus[1].cost_per_hour=0",
            "study.gpus[1].cost_per_hour: must be at least 1e-6, got 0",
        ),
        (
            "configs/repro/neupims.yaml",
            "accelerator.sram_mb=0",
            "accelerator.sram_mb: must be greater than 0",
        ),
        (
            "configs/repro/neupims.yaml",
            "accelerator.timing.t_rcd=0",
            "accelerator.timing.t_rcd: must be at least 1, got 0",
        ),
        (
            "configs/search/resnet18_bo.yaml",
            "search.constraints=[{metric: area_mm2, max: -1}]",
            "search.constraints[0].max: no design can meet `area_mm2 <= -1`",
        ),
        (
            "configs/search/resnet18_bo.yaml",
            "search.constraints=[{metric: latency_s, max: 0}]",
            "search.constraints[0].max: no design can meet `latency_s <= 0`",
        ),
        (
            "configs/search/resnet18_bo.yaml",
            "search.objectives=[{metric: latency_s, weight: 1e308}]",
            "search.objectives[0].weight: must be at most 1000000",
        ),
        (
            "configs/llama2_7b_h100.yaml",
            "workload.llm.prompt_len=0",
            "workload.llm.prompt_len: must be at least 1, got 0",
        ),
        (
            "configs/llama2_7b_h100.yaml",
            "workload.llm.batch=0",
            "workload.llm.batch: must be at least 1, got 0",
        ),
        (
            "configs/repro/ds3_latency_vs_rate.yaml",
            "study.rates_per_ms=[1, 0]",
            "study.rates_per_ms[1]: must be at least 1e-6, got 0",
        ),
        (
            "configs/repro/neupims.yaml",
            "study.batches=[64, 0]",
            "study.batches[1]: must be at least 1, got 0",
        ),
        (
            "configs/repro/sn40l.yaml",
            "fusion[1].batch=0",
            "fusion[1].batch: must be at least 1, got 0",
        ),
        (
            "configs/repro/accelerator_fleet.yaml",
            "study.max_count=4096",
            "study.max_count: up to 4096 replicas of each of 3 GPU types",
        ),
    ];
    for (config, set, want) in cases {
        refused(config, &[set], &[&format!("--set {set}: "), want]);
    }
}

/// A copy of a shipped config with `from` replaced by `to`, in a scratch folder (relative
/// paths in it still resolve: the copy sits beside a copy of what it names).
fn edited(config: &str, from: &str, to: &str) -> (PathBuf, String) {
    let text = std::fs::read_to_string(root().join(config)).unwrap();
    assert!(text.contains(from), "{config} holds {from:?}");
    let dir = tmp(&format!(
        "values-edited-{}",
        config.replace(['/', '.'], "_")
    ));
    let p = dir.join(Path::new(config).file_name().unwrap());
    let text = text.replacen(from, to, 1);
    std::fs::write(&p, &text).unwrap();
    (p, text)
}

#[test]
fn errors_in_the_file_name_the_key_at_its_line_and_column_in_every_form() {
    // (config, text to replace, its replacement, the value's text in the replacement, key)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // A study (the disaggregation study's rates, second element).
        (
            "configs/repro/disaggregation.yaml",
            "rates_rps: [",
            "rates_rps: [2, -1, ",
            "-1",
            "study.rates_rps[1]: must be at least",
        ),
        // The SN40L study: a key two levels down.
        (
            "configs/repro/sn40l.yaml",
            "host_gbps: ",
            "host_gbps: 0 #",
            "0 #",
            "coe.dgx_h100.host_gbps: must be at least 0.001, got 0",
        ),
        // Co-design: a range error and a rule across keys, both at their key.
        (
            "configs/codesign/mnasnet_imagenet.yaml",
            "budget: ",
            "budget: 0 #",
            "0 #",
            "codesign.budget: must be at least 1, got 0",
        ),
        // A serving config.
        (
            "configs/serving_llama7b_h100.yaml",
            "rate: 20.0",
            "rate: -20.0",
            "-20.0",
            "serving.traffic.rate: must be at least 1e-6, got -20",
        ),
        // A simulation: a value the LLM check used to report without a location.
        (
            "configs/llama2_7b_h100.yaml",
            "batch: 16",
            "batch: 0",
            "0",
            "workload.llm.batch: must be at least 1, got 0",
        ),
        // A number that is not finite: the YAML reader's rejection, now with its key.
        (
            "configs/serving_llama7b_h100.yaml",
            "rate: 20.0",
            "rate: .nan",
            ".nan",
            "serving.traffic.rate: non-finite number `.nan`: numbers must be finite",
        ),
        (
            "configs/quickstart.yaml",
            "rows: 128",
            "rows: -.inf",
            "-.inf",
            "accelerator.rows: non-finite number",
        ),
    ];
    for (config, from, to, value, want) in cases {
        let (p, text) = edited(config, from, to);
        let at = text.find(to).unwrap() + to.find(value).unwrap();
        let line = text[..at].matches('\n').count() + 1;
        let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
        let file = p.display().to_string();
        refused(&file, &[], &[&format!("{file}:{line}:{col}: {want}")]);
    }
}

#[test]
fn co_design_rules_across_keys_exit_2_at_the_key() {
    let n = std::fs::read_to_string(root().join("configs/codesign/mnasnet_imagenet.yaml"))
        .unwrap()
        .matches("dataset:")
        .count();
    assert!(n >= 1);
    let zero: Vec<String> = (0..n)
        .map(|i| format!("codesign.tasks[{i}].weight=0"))
        .collect();
    let zero: Vec<&str> = zero.iter().map(String::as_str).collect();
    refused(
        "configs/codesign/mnasnet_imagenet.yaml",
        &zero,
        &["codesign.tasks: every task's weight is 0"],
    );
}

#[test]
fn a_sweep_checks_every_value_it_sets_before_any_point_runs() {
    let dir = tmp("values-sweep");
    let cfg = dir.join("s.yaml");
    let out = dir.join("out");
    let base = "workload: {gemm: {m: 64, n: 64, k: 64}}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\nsweep:\n  grid:\n    accelerator.rows: [8, 16,\n      0]\n";
    for (text, want) in [
        (
            base.to_string(),
            ":6:7: sweep.grid.accelerator.rows[2]: must be at least 1, got 0",
        ),
        (
            base.replace(
                "      0]",
                "      32]\n  random:\n    accelerator.freq_mhz: {float: [100, 1e308]}",
            ),
            ":8:5: sweep.random.accelerator.freq_mhz: must be at most 100000, got 1e308",
        ),
    ] {
        std::fs::write(&cfg, &text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_archsim"))
            .args([
                "sweep",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains(want), "{e:?} lacks {want:?}");
        assert!(!out.join("journal.jsonl").exists(), "no point ran");
    }
}

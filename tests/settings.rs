//! Every setting either changes the result or is refused; results never hold NaN or infinity
//! silently; several objectives are never summed; plots say when there is nothing to plot.
//! (Issue 26: silently ignored settings, NaN outputs, multi-objective outputs, plots.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn archsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archsim"))
        .args(args)
        .output()
        .expect("archsim runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("settings_{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn config(name: &str) -> String {
    root().join("configs").join(name).display().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args` and checks it is refused as bad input (exit 2) with one error line holding
/// every piece of `want`; returns that line.
fn refused(args: &[&str], want: &[&str]) -> String {
    let o = archsim(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{args:?}: no error line in {err}"));
    for w in want {
        assert!(line.contains(w), "{args:?}: {line:?} lacks {w:?}");
    }
    line.to_string()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

const LLM_GPU: &str = "workload:\n  llm: {model: llama2_7b, phase: decode, BATCH prompt_len: 512, layers: 1}\n  dtype: bf16\nTOP\naccelerator: {kind: gpu, preset: h100_sxm}\n";

fn llm_cfg(dir: &Path, llm_batch: Option<u64>, top_batch: Option<u64>) -> String {
    let text = LLM_GPU
        .replace(
            "BATCH ",
            &llm_batch.map_or(String::new(), |b| format!("batch: {b}, ")),
        )
        .replace(
            "TOP\n",
            &top_batch.map_or(String::new(), |b| format!("  batch: {b}\n")),
        );
    write(dir, "llm.yaml", &text)
}

#[test]
fn workload_batch_is_the_llm_steps_batch_or_a_named_conflict() {
    let dir = tmp("batch");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let batch = |args: &[&str]| -> u64 {
        let mut a = vec!["run", "--json", "--out", out];
        a.extend_from_slice(args);
        json(&archsim(&a))["llm"]["batch"].as_u64().unwrap()
    };
    // The README's config: `--set workload.batch=64` runs batch 64 (it reported 16).
    assert_eq!(
        batch(&[&config("llama2_7b_h100.yaml"), "--set", "workload.batch=64"]),
        64
    );
    assert_eq!(batch(&[&config("llama2_7b_h100.yaml")]), 16);
    // The shared key alone gives the step its batch.
    assert_eq!(batch(&[&llm_cfg(&dir, None, Some(8))]), 8);
    // On the command line the last word wins, whichever key it names.
    let both = llm_cfg(&dir, Some(4), Some(4));
    assert_eq!(batch(&[&both, "--set", "workload.llm.batch=2"]), 2);
    assert_eq!(batch(&[&both, "--set", "workload.batch=3"]), 3);
    // Two different batches in the file: refused at the key, pointing at the step's.
    let conflict = llm_cfg(&dir, Some(16), Some(64));
    refused(
        &["run", &conflict, "--out", out],
        &[
            "llm.yaml:4:10: workload.batch:",
            "workload.llm.batch (16)",
            "64 would be ignored",
        ],
    );
    // The same batch twice is one batch.
    assert_eq!(batch(&[&llm_cfg(&dir, Some(16), Some(16))]), 16);
    // A batch that no form reads is refused: `tasks:` have their own.
    refused(
        &[
            "run",
            &config("hetero_two_tasks.yaml"),
            "--set",
            "workload.batch=4",
            "--out",
            out,
        ],
        &["workload.batch:", "workload.tasks.<i>.batch"],
    );
}

#[test]
fn llm_lengths_past_the_context_window_and_skew_of_dense_models_are_refused() {
    let dir = tmp("context");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let cfg = config("llama2_7b_h100.yaml");
    refused(
        &[
            "run",
            &cfg,
            "--set",
            "workload.llm.phase=prefill",
            "--set",
            "workload.llm.prompt_len=20000",
            "--set",
            "workload.llm.context_len=null",
            "--out",
            out,
        ],
        &[
            "workload.llm.prompt_len: 20000 prompt tokens exceed llama2_7b's context window of 4096 tokens",
        ],
    );
    refused(
        &[
            "run",
            &cfg,
            "--set",
            "workload.llm.context_len=5000",
            "--out",
            out,
        ],
        &[
            "workload.llm.context_len: 5000 tokens in the KV cache exceed",
            "4096",
        ],
    );
    // GPT-2's window is its 1,024 learned positions.
    let gpt2 = write(
        &dir,
        "gpt2.yaml",
        "workload:\n  llm: {model: gpt2, phase: prefill, prompt_len: 2000}\naccelerator: {kind: gpu, preset: h100_sxm}\n",
    );
    refused(
        &["run", &gpt2, "--out", out],
        &["gpt2.yaml:2:", "context window of 1024 tokens"],
    );
    // The window itself is fine.
    let o = archsim(&[
        "run",
        &config("roofline_llama2_7b.yaml"),
        "--json",
        "--out",
        out,
    ]);
    assert_eq!(json(&o)["llm"]["context_len"], 4096);
    // moe_skew on a dense model is refused; on Mixtral it skews the experts.
    refused(
        &[
            "run",
            &cfg,
            "--set",
            "workload.llm.moe_skew=1.5",
            "--out",
            out,
        ],
        &["workload.llm.moe_skew:", "`llama2_7b` is dense"],
    );
    let mixtral = |skew: &str| {
        let o = archsim(&[
            "run",
            &cfg,
            "--stop-after",
            "workload",
            "--set",
            "workload.llm.model=mixtral_8x7b",
            "--set",
            "workload.llm.layers=1",
            "--set",
            &format!("workload.llm.moe_skew={skew}"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    assert_ne!(mixtral("0"), mixtral("1.5"));
}

#[test]
fn accelerator_keys_that_would_be_ignored_are_refused() {
    let dir = tmp("accel");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    // An RDU node smaller than the tensor-parallel group.
    let rdu = write(
        &dir,
        "rdu.yaml",
        "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 1, prompt_len: 512, layers: 1, tp: 8}\naccelerator:\n  kind: rdu\n  sockets: 2\n",
    );
    refused(
        &["run", &rdu, "--out", out],
        &[
            "rdu.yaml:5:12: accelerator.sockets:",
            "over 8 sockets (workload.llm.tp)",
            "this node has 2",
        ],
    );
    for sockets in ["8", "16"] {
        let o = archsim(&[
            "run",
            &rdu,
            "--json",
            "--set",
            &format!("accelerator.sockets={sockets}"),
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // A hetero assignment entry without a task.
    refused(
        &[
            "run",
            &config("hetero_two_tasks.yaml"),
            "--set",
            "accelerator.assignment=[0, 1, 2]",
            "--out",
            out,
        ],
        &["accelerator.assignment:", "3 entries for 2 tasks"],
    );
    // The GPU preset of NPU+PIM's `gpu_only` mode, in another mode.
    let npu = write(
        &dir,
        "npu.yaml",
        "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 4, prompt_len: 128, layers: 1}\n  dtype: fp16\naccelerator:\n  kind: npu_pim\n  mode: neupims\n  gpu_preset: h100_sxm\n",
    );
    refused(
        &["run", &npu, "--out", out],
        &["npu.yaml:7:15: accelerator.gpu_preset:", "`mode: gpu_only`"],
    );
    let o = archsim(&[
        "run",
        &npu,
        "--json",
        "--set",
        "accelerator.mode=gpu_only",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn options_and_sections_that_would_be_ignored_are_refused() {
    let dir = tmp("forms");
    // `--stop-after` dumps a stage of one simulation; other forms have none.
    for (cfg, want) in [
        ("search/resnet18_bo.yaml", "a search config"),
        ("serving_llama7b_h100.yaml", "a serving config"),
        ("repro/nasaic.yaml", "a co-design config"),
        ("repro/neupims.yaml", "a study"),
        ("hetero_two_tasks.yaml", "several `tasks:`"),
    ] {
        refused(
            &["run", &config(cfg), "--stop-after", "mapping"],
            &["--stop-after mapping:", want],
        );
    }
    // A study's base point (`--set study=null`) is one simulation again.
    let o = archsim(&[
        "run",
        &config("repro/neupims.yaml"),
        "--set",
        "study=null",
        "--stop-after",
        "workload",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A study beside a search: the study would ignore the search.
    let study = std::fs::read_to_string(config("repro/neupims.yaml")).unwrap();
    let both = write(
        &dir,
        "both.yaml",
        &format!(
            "{study}search:\n  agent: {{kind: random}}\n  budget: 4\n  space: {{accelerator.arrays: {{int: [1, 8]}}}}\n  objectives: [{{metric: latency_s}}]\n"
        ),
    );
    let line = refused(&["run", &both], &["search:", "not both"]);
    assert!(line.starts_with(&format!("error: {both}:")), "{line}");
    // Co-design: every weight 0, or no evaluations.
    for (set, want) in [
        ("codesign.budget=0", "codesign.budget: must be at least 1"),
        (
            "codesign.tasks=[{dataset: cifar10, weight: 0}, {dataset: cifar100, weight: 0}]",
            "every task's weight is 0",
        ),
    ] {
        refused(
            &["run", &config("repro/nasaic.yaml"), "--set", set],
            &[want],
        );
    }
}

#[test]
fn objectives_on_absent_metrics_or_of_weight_zero_are_refused_before_the_search() {
    let dir = tmp("objectives");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let bo = config("search/resnet18_bo.yaml");
    refused(
        &[
            "run",
            &bo,
            "--set",
            "search.objectives=[{metric: tpot_s}]",
            "--out",
            out,
        ],
        &[
            "search.objectives[0].metric: `tpot_s` is absent",
            "this workload is not an `llm:` step",
        ],
    );
    // An LLM step on a chip that does not price serving metrics: absent too.
    let sys_llm = write(
        &dir,
        "sys.yaml",
        "workload:\n  llm: {model: gpt2, phase: prefill, prompt_len: 64, layers: 1}\naccelerator: {kind: systolic, rows: 32, cols: 32, dataflow: os}\nsearch:\n  agent: {kind: random}\n  budget: 4\n  space: {accelerator.rows: {pow2: [8, 64]}}\n  objectives: [{metric: latency_s}]\n  constraints: [{metric: ttft_s, max: 1}]\n",
    );
    refused(
        &["run", &sys_llm, "--out", out],
        &[
            "sys.yaml:9:",
            "search.constraints[0].metric: `ttft_s` is absent",
            "`systolic` does not price them",
        ],
    );
    // Weight 0 counts for nothing.
    refused(
        &[
            "run",
            &bo,
            "--set",
            "search.objectives=[{metric: latency_s, weight: 0}]",
            "--out",
            out,
        ],
        &["search.objectives[0].weight: 0 makes the objective count for nothing"],
    );
    // On an LLM step priced by the chip, they are objectives like any other.
    let o = archsim(&[
        "run",
        &config("roofline_llama2_7b.yaml"),
        "--json",
        "--out",
        out,
    ]);
    assert!(json(&o)["llm"]["tpot_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn metrics_a_workload_does_not_produce_are_absent_not_zero() {
    let dir = tmp("absent");
    // A CNN search: the history has no LLM metric, in JSON or CSV.
    let out = dir.join("search");
    let o = archsim(&[
        "run",
        &config("search/resnet18_bo.yaml"),
        "--json",
        "--set",
        "search.budget=8",
        "--out",
        out.to_str().unwrap(),
    ]);
    let r = json(&o);
    for h in r["history"].as_array().unwrap() {
        let m = h["metrics"].as_object().unwrap();
        assert!(m["latency_s"].as_f64().unwrap() > 0.0);
        for k in ["ttft_s", "tpot_s", "decode_tokens_per_s"] {
            assert!(!m.contains_key(k), "{k} in {m:?}");
        }
    }
    let mut csv = csv::Reader::from_path(out.join("history.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    let col = |k: &str| header.iter().position(|h| h == k).unwrap();
    for row in csv.records() {
        let row = row.unwrap();
        assert!(!row[col("latency_s")].is_empty());
        for k in ["ttft_s", "tpot_s", "decode_tokens_per_s"] {
            assert_eq!(&row[col(k)], "", "{k}");
        }
    }
    // A sweep of GEMMs: empty cells, not 0.
    let sweep = write(
        &dir,
        "sweep.yaml",
        "workload: {gemm: {m: 64, n: 64, k: 64}}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\nsweep:\n  grid:\n    accelerator.rows: [8, 16]\n",
    );
    let out = dir.join("sweep_out");
    let o = archsim(&["sweep", &sweep, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let tpot = header.iter().position(|h| *h == "tpot_s").unwrap();
    for l in lines {
        assert_eq!(l.split(',').nth(tpot), Some(""), "{l}");
    }
}

#[test]
fn a_sweep_whose_every_point_failed_exits_1_with_the_reasons_counted() {
    let dir = tmp("all_failed");
    // LLaMA-2-7B's 13.5 GB of weights in 1 or 2 GB of memory: every point is out of memory.
    let sweep = write(
        &dir,
        "oom.yaml",
        "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 1, prompt_len: 128}\naccelerator: {kind: roofline, peak_tflops: {bf16: 989}, mem_bw_gb_s: 3350, mem_gb: 1}\nsweep:\n  grid:\n    accelerator.mem_gb: [1, 2]\n    accelerator.mem_bw_gb_s: [1000, 2000, 3000]\n",
    );
    let out = dir.join("out");
    let o = archsim(&["sweep", &sweep, "--out", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: every point of the sweep failed; the reasons, by count:"),
        "{err}"
    );
    // The counts add up to the points; the table is still written for inspection.
    let counts: usize = err
        .lines()
        .filter_map(|l| l.trim_start().split_once(" × "))
        .map(|(n, _)| n.parse::<usize>().unwrap())
        .sum();
    assert_eq!(counts, 6, "{err}");
    assert!(out.join("results.csv").exists());
    assert!(String::from_utf8_lossy(&o.stdout).contains("6 points, 6 failed"));
    // One point that works: exit 0.
    let some = sweep.replace("oom.yaml", "some.yaml");
    std::fs::write(
        &some,
        std::fs::read_to_string(&sweep)
            .unwrap()
            .replace("mem_gb: [1, 2]", "mem_gb: [1, 80]"),
    )
    .unwrap();
    let o = archsim(&["sweep", &some, "--out", dir.join("some").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

const NINE: &str = "workload: {gemm: {m: 64, n: 64, k: 64}}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\nsearch:\n  agent: {kind: AGENT}\n  budget: 1000000\n  seed: 0\n  space:\n    accelerator.rows: {choice: [8, 16, 32]}\n    accelerator.dataflow: {choice: [os, ws, is]}\n  objectives: [{metric: latency_s}, {metric: area_mm2}]\n";

#[test]
fn a_budget_beyond_a_finite_space_stops_when_the_space_is_exhausted() {
    let dir = tmp("nine");
    for agent in ["random", "grid", "sa", "ga", "nsga2", "bo"] {
        let cfg = write(&dir, "nine.yaml", &NINE.replace("AGENT", agent));
        let out = dir.join(agent);
        let o = archsim(&["run", &cfg, "--json", "--out", out.to_str().unwrap()]);
        let err = stderr(&o);
        let r = json(&o);
        let n = r["history"].as_array().unwrap().len();
        // Nine designs: at most 9 distinct evaluations, and a history that stays small.
        let distinct: std::collections::BTreeSet<String> = r["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["index"].to_string())
            .collect();
        assert!(distinct.len() <= 9, "{agent}");
        assert!(n < 1000, "{agent}: {n} evaluations");
        let stopped = r["stopped"].as_str().unwrap();
        assert!(err.contains(&format!("search stopped before its budget: {stopped}")));
        if distinct.len() == 9 {
            assert!(
                stopped.starts_with(&format!(
                    "all 9 designs of search.space evaluated after {n} evaluations"
                )),
                "{stopped}"
            );
        }
        assert!(std::fs::metadata(out.join("report.json")).unwrap().len() < 1_000_000);
        assert!(
            std::fs::metadata(out.join("best_so_far.svg"))
                .unwrap()
                .len()
                < 1_000_000
        );
    }
}

#[test]
fn several_objectives_are_ranked_never_summed() {
    let dir = tmp("pareto");
    let out = dir.join("out");
    let o = archsim(&[
        "run",
        &config("search/gemm_nsga2.yaml"),
        "--json",
        "--set",
        "search.budget=48",
        "--out",
        out.to_str().unwrap(),
    ]);
    let r = json(&o);
    let front: std::collections::BTreeSet<u64> = r["pareto"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["eval"].as_u64().unwrap())
        .collect();
    // The history carries each design's Pareto rank: rank 1 is the front (repeats included).
    let mut ranks = Vec::new();
    for h in r["history"].as_array().unwrap() {
        let rank = h.get("pareto_rank").and_then(serde_json::Value::as_u64);
        assert_eq!(rank.is_some(), h["feasible"] == true, "{h}");
        if rank == Some(1) {
            let same = r["pareto"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["objectives"] == h["objectives"]);
            assert!(same, "{h}");
        }
        ranks.extend(rank);
    }
    assert!(ranks.iter().any(|&k| k > 1));
    assert!(front
        .iter()
        .all(|e| { r["history"][(*e - 1) as usize]["pareto_rank"].as_u64() == Some(1) }));
    // history.csv: each objective a column, the rank instead of a summed cost.
    let text = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert!(
        header.contains(&"pareto_rank") && !header.contains(&"cost"),
        "{header:?}"
    );
    assert!(header.contains(&"latency_s") && header.contains(&"area_mm2"));
    // best_so_far: one panel per objective, each in its own unit; no "cost" axis.
    let svg = std::fs::read_to_string(out.join("best_so_far.svg")).unwrap();
    assert!(svg.contains("latency_s (min)") && svg.contains("area_mm2 (min)"));
    assert!(!svg.contains("cost"), "a summed cost is drawn");
    // One objective keeps its cost column (one unit).
    let o = archsim(&[
        "run",
        &config("search/gemm_nsga2.yaml"),
        "--set",
        "search.budget=24",
        "--set",
        "search.objectives=[{metric: latency_s}]",
        "--out",
        dir.join("one").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("one/history.csv")).unwrap();
    assert!(text
        .lines()
        .next()
        .unwrap()
        .ends_with(",feasible,cost,reason"));
}

#[test]
fn a_search_without_a_feasible_design_draws_a_labelled_panel() {
    let dir = tmp("no_feasible");
    let cfg = write(
        &dir,
        "nine.yaml",
        &NINE
            .replace("AGENT", "random")
            .replace("budget: 1000000", "budget: 6")
            .replace(
                "objectives:",
                "constraints: [{metric: area_mm2, max: 0.001}]\n  objectives:",
            ),
    );
    let out = dir.join("out");
    let o = archsim(&["run", &cfg, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no feasible design found"));
    for f in ["best_so_far.svg", "pareto.svg"] {
        let svg = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(svg.contains("no feasible design"), "{f}");
        assert!(svg.contains("history.csv"), "{f}: points at the reasons");
    }
}

#[test]
fn a_heatmap_of_more_categories_than_fit_is_indexed_with_a_lookup_table() {
    let dir = tmp("heatmap");
    let sweep = write(
        &dir,
        "nb201.yaml",
        "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\nsweep:\n  grid:\n    workload.model: {nb201: {dataset: cifar10, cells: 60, seed: 0}}\n    accelerator.preset: [eyeriss, nvdla_small]\n",
    );
    let out = dir.join("out");
    let o = archsim(&["sweep", &sweep, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("heatmap_x.csv"), "{stdout}");
    let mut lookup = csv::Reader::from_path(out.join("heatmap_x.csv")).unwrap();
    assert_eq!(
        lookup.headers().unwrap().iter().collect::<Vec<_>>(),
        ["index", "workload.model"]
    );
    let names: Vec<String> = lookup
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    assert_eq!(names.len(), 60);
    assert!(names.iter().all(|n| n.starts_with("nb201:cifar10:|")));
    let svg = std::fs::read_to_string(out.join("heatmap.svg")).unwrap();
    assert!(
        !svg.contains("nb201:cifar10:|"),
        "long labels drawn on the axis"
    );
    assert!(svg.contains("index of 60 values, names in heatmap_x.csv"));
    // Few short categories keep their names and no table.
    let small = write(
        &dir,
        "small.yaml",
        "workload: {gemm: {m: 64, n: 64, k: 64}}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\nsweep:\n  grid:\n    accelerator.rows: [8, 16]\n    accelerator.dataflow: [os, ws]\n",
    );
    let out = dir.join("small_out");
    let o = archsim(&["sweep", &small, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("heatmap_x.csv").exists());
}

#[test]
fn codesign_plot_draws_each_tasks_spec_and_no_raw_extremes() {
    let dir = tmp("codesign");
    let oracle = root().join("tests/data/nas/nb201_sample.csv");
    let run = |name: &str, specs: [&str; 2]| -> String {
        let out = dir.join(name);
        let o = archsim(&[
            "run",
            &config("repro/nasaic.yaml"),
            "--set",
            &format!("codesign.oracle={}", oracle.display()),
            "--set",
            "codesign.budget=20",
            "--set",
            &format!("codesign.tasks[0].max_latency_ms={}", specs[0]),
            "--set",
            &format!("codesign.tasks[1].max_latency_ms={}", specs[1]),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out.join("pareto.svg")).unwrap()
    };
    let svg = run("two", ["0.4", "0.25"]);
    assert!(
        svg.contains("cifar10 latency spec 400.0 us"),
        "one line per task"
    );
    assert!(svg.contains("cifar100 latency spec 250.0 us"));
    let svg = run("same", ["0.4", "0.4"]);
    assert!(svg.contains("cifar10, cifar100 latency spec 400.0 us"));
    // Nothing meets the specs: no f64::MAX in the legend, and it says so.
    let svg = run("none", ["0.000001", "0.000001"]);
    assert!(svg.contains("Pareto front: no design meets the specs"));
    assert!(!svg.contains("179769313"), "f64::MAX printed");
}

/// Expert parallelism (`workload.llm.ep`): the example runs and shows what its all-to-alls
/// cost; an ep that cannot be is refused naming the key.
#[test]
fn expert_parallelism_runs_on_one_node_and_bad_degrees_name_the_key() {
    let dir = tmp("ep");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let cfg = config("mixtral_ep_h100.yaml");
    let r = json(&archsim(&["run", &cfg, "--json", "--out", out]));
    let l = &r["llm"];
    assert_eq!((l["tp"].as_u64(), l["ep"].as_u64()), (Some(1), Some(8)));
    let a = &l["all_to_all"];
    let exposed = a["tpot_s"].as_f64().unwrap();
    assert!(exposed > 0.0 && exposed < l["tpot_s"].as_f64().unwrap());
    // 8 tokens per device, 4096 wide, top-2, bf16, 7/8 of it off the device, twice per layer.
    assert_eq!(
        a["tpot_bytes"].as_f64(),
        Some(32.0 * 2.0 * 8.0 * 4096.0 * 2.0 * 2.0 * 7.0 / 8.0)
    );
    // ops.csv has each layer's dispatch and combine.
    let ops = std::fs::read_to_string(dir.join("out").join("ops.csv")).unwrap();
    assert!(
        ops.lines().any(|l| l.starts_with("layer0.moe_dispatch,")),
        "{}",
        &ops[..200]
    );
    assert!(ops
        .lines()
        .any(|l| l.starts_with("layer31.moe_combine_all_to_all,")));
    // ep = 1 is the model without expert parallelism: no ep or all_to_all in the report.
    let one = json(&archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        out,
        "--set",
        "workload.llm.ep=1",
        "--set",
        "workload.llm.tp=8",
    ]));
    assert!(one["llm"].get("ep").is_none() && one["llm"].get("all_to_all").is_none());

    refused(
        &["run", &cfg, "--out", out, "--set", "workload.llm.ep=3"],
        &["workload.llm.ep:", "must divide 8"],
    );
    refused(
        &[
            "run",
            &cfg,
            "--out",
            out,
            "--set",
            "workload.llm.model=llama2_7b",
        ],
        &["workload.llm.ep:", "`llama2_7b` is dense"],
    );
    refused(
        &["run", &cfg, "--out", out, "--set", "workload.llm.tp=2"],
        &[
            "mixtral_ep_h100.yaml:",
            "workload.llm.ep:",
            "2 × 8 = 16 devices exceed one node",
        ],
    );
    refused(
        &[
            "run",
            &config("roofline_llama2_7b.yaml"),
            "--out",
            out,
            "--set",
            "workload.llm.model=mixtral_8x7b",
            "--set",
            "workload.llm.ep=2",
        ],
        &["accelerator.link_gb_s:", "expert-parallel"],
    );
}

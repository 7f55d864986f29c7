//! End-to-end tests of the `archsim` binary: the command-line contract of DESIGN.md (commands,
//! outputs, `--set`, `--json`, errors and exit codes, sweeps, searches, plots). What each
//! hardware family prices is `tests/families.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

const GOOD: &str = "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\n  rows: 32\n  cols: 32\n  dataflow: ws\n";

#[test]
fn quickstart_writes_every_output() {
    let out = tmp("quickstart");
    let cfg = root().join("configs/quickstart.yaml");
    let o = archsim(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "config.yaml",
        "report.json",
        "ops.csv",
        "cycles_per_op.png",
        "cycles_per_op.svg",
        "workload.csv",
    ] {
        let meta = std::fs::metadata(out.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(meta.len() > 0, "{f} empty");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for key in ["total_cycles", "latency_s", "energy_j", "area_mm2", "ops"] {
        assert!(report.get(key).is_some(), "report.json lacks {key}");
    }
    let op = &report["ops"][0];
    for key in [
        "name",
        "kind",
        "cycles",
        "compute_cycles",
        "stall_cycles",
        "utilization",
        "macs",
        "latency_s",
    ] {
        assert!(op.get(key).is_some(), "ops[0] lacks {key}");
    }
    // The resolved config round-trips: running it again gives the same report.
    let out2 = tmp("quickstart_again");
    let o = archsim(&[
        "run",
        out.join("config.yaml").to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(out.join("report.json")).unwrap(),
        std::fs::read(out2.join("report.json")).unwrap()
    );
}

#[test]
fn embedded_quickstart_runs_without_a_file() {
    let out = tmp("embedded");
    let o = archsim(&["run", "--json", "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["workload"], "resnet18");
}

#[test]
fn json_prints_only_the_report_and_is_byte_identical_across_runs() {
    let dir = tmp("json");
    let cfg = write_cfg(&dir, GOOD);
    let a = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("a").to_str().unwrap(),
    ]);
    let b = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("b").to_str().unwrap(),
    ]);
    assert!(a.status.success());
    let parsed: serde_json::Value =
        serde_json::from_slice(&a.stdout).expect("stdout is exactly one JSON document");
    assert!(parsed["total_cycles"].as_u64().unwrap() > 0);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        std::fs::read(dir.join("a/report.json")).unwrap(),
        std::fs::read(dir.join("b/report.json")).unwrap()
    );
}

#[test]
fn set_overrides_any_key() {
    let dir = tmp("set");
    let cfg = write_cfg(&dir, GOOD);
    let r = |extra: &[&str]| {
        let mut args = vec!["run", cfg.as_str(), "--json", "--out"];
        let out = dir.join("o");
        let out = out.to_str().unwrap().to_string();
        args.push(&out);
        args.extend_from_slice(extra);
        let o = archsim(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let base = r(&[]);
    let big = r(&[
        "--set",
        "accelerator.rows=128",
        "--set",
        "accelerator.cols=128",
    ]);
    assert!(big["total_cycles"].as_u64() < base["total_cycles"].as_u64());
    let slow = r(&["--set", "accelerator.dram_bw_bytes_per_cycle=0.5"]);
    assert!(slow["stall_cycles"].as_u64().unwrap() > 0);
}

#[test]
fn dram_bandwidth_is_in_bytes_per_cycle_on_every_kind_and_the_old_key_names_the_new() {
    let dir = tmp("dram_bw_units");
    let search = "search:\n  agent: {kind: random}\n  budget: 4\n  space:\n    accelerator.dram_bw_words_per_cycle: {pow2: [4, 64]}\n  objectives: [{metric: latency_s}]\n";
    for (text, set, want) in [
        (
            GOOD.replace("dataflow: ws", "dataflow: ws\n  dram_bw_words_per_cycle: 16"),
            vec![],
            "c.yaml:8:3: accelerator.dram_bw_words_per_cycle: unknown field `dram_bw_words_per_cycle`: it is now `dram_bw_bytes_per_cycle`, the DRAM bandwidth in bytes per cycle: 16 words × word_bytes",
        ),
        (
            GOOD.to_string(),
            vec!["--set", "accelerator.dram_bw_words_per_cycle=4"],
            "--set accelerator.dram_bw_words_per_cycle=4: accelerator.dram_bw_words_per_cycle: unknown field `dram_bw_words_per_cycle`: it is now `dram_bw_bytes_per_cycle`",
        ),
        (
            format!("{GOOD}{search}"),
            vec![],
            "c.yaml:12:5: search.space.accelerator.dram_bw_words_per_cycle: ",
        ),
    ] {
        let cfg = write_cfg(&dir, &text);
        let mut args = vec!["run", &cfg, "--out", dir.to_str().unwrap()];
        args.extend(set);
        let o = archsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(err.contains("dram_bw_bytes_per_cycle"), "{err:?} names no new key");
    }
    // The same key and unit on a systolic array and on a heterogeneous chip: a bf16 array at
    // 32 bytes per cycle moves 16 words, as an int8 array at 16 bytes per cycle does.
    let run = |text: &str| -> serde_json::Value {
        let cfg = write_cfg(&dir, text);
        let o = archsim(&[
            "run",
            &cfg,
            "--json",
            "--out",
            dir.join("o").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let gemm = "workload:\n  gemm: {m: 256, n: 256, k: 256}\n  dtype: DT\naccelerator:\n  kind: systolic\n  rows: 16\n  cols: 16\n  dataflow: os\n  dram_bw_bytes_per_cycle: BW\n";
    let int8 = run(&gemm.replace("DT", "int8").replace("BW", "16"));
    let bf16 = run(&gemm.replace("DT", "bf16").replace("BW", "32"));
    assert!(int8["stall_cycles"].as_u64().unwrap() > 0);
    assert_eq!(int8["total_cycles"], bf16["total_cycles"]);
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_problem() {
    let dir = tmp("bad");
    let topo_bad = dir.join("bad.csv");
    std::fs::write(&topo_bad, "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nC1,8,8,3,3,x,4,1,\n").unwrap();
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            GOOD.replace("cols: 32", "cols: 32\n  colour: red"),
            vec![],
            "c.yaml:7:3: accelerator.colour: unknown field `colour`",
        ),
        (
            GOOD.replace("rows: 32", "rows: many"),
            vec![],
            "c.yaml:5:9: accelerator.rows: invalid type",
        ),
        (
            GOOD.replace("rows: 32", "rows: 0"),
            vec![],
            "c.yaml:5:9: accelerator.rows: must be at least 1",
        ),
        (
            GOOD.replace("dataflow: ws", "dataflow: rs"),
            vec![],
            "c.yaml:7:13: accelerator.dataflow: unknown variant `rs`",
        ),
        (
            GOOD.replace(
                "model: resnet18",
                &format!("scalesim_topology: {}", topo_bad.display()),
            ),
            vec![],
            "bad.csv:2: Channels is not a positive integer",
        ),
        (
            GOOD.replace("model: resnet18", "scalesim_topology: nowhere.csv"),
            vec![],
            "nowhere.csv: cannot read file",
        ),
        ("workload: {model: resnet18\n".into(), vec![], "c.yaml:"),
        (
            GOOD.into(),
            vec!["--set", "accelerator.word_bytes=3"],
            "--set accelerator.word_bytes=3: accelerator.word_bytes: must be 1, 2 or 4",
        ),
        (
            LLM.into(),
            vec!["--set", "workload.llm.tp=0"],
            "--set workload.llm.tp=0: workload.llm.tp: must be at least 1",
        ),
        (
            LLM.replace("batch: 2", "batch: 2, tp: 3"),
            vec![],
            "c.yaml:2:56: workload.llm.tp: 3 devices cannot split llama2_7b: tp must divide its 32 attention heads",
        ),
    ];
    for (text, extra, want) in cases {
        let cfg = write_cfg(&dir, &text);
        let mut args = vec!["run", cfg.as_str(), "--out", dir.to_str().unwrap()];
        args.extend(extra);
        let o = archsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"));
        assert!(o.stdout.is_empty());
    }
    let o = archsim(&["run", dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.yaml: cannot read config"));
    // An --out that cannot be made is bad input too, found before any work is done.
    let blocker = dir.join("a_file");
    std::fs::write(&blocker, "").unwrap();
    let nested = blocker.join("out");
    let cfg = write_cfg(&dir, GOOD);
    let o = archsim(&["run", cfg.as_str(), "--out", nested.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a_file/out: cannot create the output folder"),
        "{err}"
    );
}

const LLM: &str = "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 2, context_len: 512}\n  dtype: bf16\naccelerator:\n  kind: gpu\n  preset: h100_sxm\n";

#[test]
fn summaries_say_what_a_figure_covers() {
    let dir = tmp("summaries");
    // Tensor parallelism: energy, area and MACs are one device's.
    let cfg = write_cfg(&dir, &LLM.replace("batch: 2", "batch: 2, tp: 8"));
    let o = archsim(&["run", cfg.as_str(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let energy = text
        .lines()
        .find(|l| l.trim_start().starts_with("energy"))
        .unwrap();
    assert!(
        energy.contains("one of the 8 tensor-parallel devices"),
        "{energy}"
    );
    // Several networks at once: the chip's latency is the slowest task's.
    let cfg = root().join("configs/hetero_two_tasks.yaml");
    let o = archsim(&["run", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let ms = report["latency_s"].as_f64().unwrap() * 1e3;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("latency"))
        .unwrap();
    assert!(line.contains(&format!("{ms:.6} ms")), "{line} vs {ms}");
}

#[test]
fn list_and_schema() {
    let o = archsim(&["list"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("resnet18") && s.contains("mobilenet_v1") && s.contains("systolic"));
    let o = archsim(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = schema.to_string();
    assert!(text.contains("dram_bw_bytes_per_cycle") && text.contains("scalesim_topology"));
}

/// Every `.yaml` file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The schema `archsim schema` prints, compiled by a JSON-schema validator.
fn printed_schema() -> jsonschema::Validator {
    let o = archsim(&["schema"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    jsonschema::draft202012::new(&schema).expect("archsim schema is a valid draft 2020-12 schema")
}

#[test]
fn schema_validates_every_shipped_config_and_gym_preset() {
    let validator = printed_schema();
    let check = |name: &str, text: &str| {
        let doc: serde_json::Value =
            serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} does not match `archsim schema`: {errors:#?}"
        );
    };
    // Every config under configs/ (recursively) and every gym preset file.
    let files: Vec<PathBuf> = [root().join("configs"), root().join("gym/envs")]
        .iter()
        .flat_map(|d| yaml_files(d))
        .collect();
    assert!(files.len() >= 25, "{} files", files.len());
    // They cover every top-level section.
    let mut sections = std::collections::BTreeSet::new();
    for f in &files {
        let doc: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        sections.extend(doc.as_object().unwrap().keys().cloned());
    }
    for s in [
        "workload",
        "accelerator",
        "search",
        "sweep",
        "codesign",
        "study",
        "gym",
        "rdu",
        "cluster",
    ] {
        assert!(sections.contains(s), "no shipped config has `{s}:`");
    }
    for f in &files {
        check(
            &f.display().to_string(),
            &std::fs::read_to_string(f).unwrap(),
        );
    }
    // The presets as the gym and the Python package embed them.
    for (name, text) in archsim::gym::presets::ALL
        .iter()
        .chain(archsim::gym::presets::SOC)
    {
        check(name, text);
    }
    check("CoDesign", archsim::gym::presets::CODESIGN_NB201);
    check("embedded quickstart", archsim::QUICKSTART);
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    let validator = printed_schema();
    let doc = |text: &str| -> serde_json::Value { serde_saphyr::from_str(text).unwrap() };
    let jobs = "workload:\n  jobs: {apps: [{name: wifi_tx}], arrival: {process: poisson, rate_per_ms: 4}, count: 3}\n";
    // Each of these is bad input to `archsim run` too (checked below).
    for (why, text) in [
        ("rows below 1", GOOD.replace("rows: 32", "rows: 0")),
        ("a misspelt key", GOOD.replace("cols: 32", "colz: 32")),
        ("an unknown section", format!("{GOOD}serving: {{}}\n")),
        ("an unknown preset", GOOD.replace("rows: 32", "preset: tpu")),
        (
            "a SoC with neither `pes` nor a preset",
            format!("{jobs}accelerator:\n  kind: soc\n"),
        ),
        (
            "a search without objectives",
            format!("{GOOD}search:\n  agent: {{kind: random}}\n  budget: 4\n  space: {{accelerator.rows: {{pow2: [8, 64]}}}}\n"),
        ),
        (
            "an unknown agent",
            format!("{GOOD}search:\n  agent: {{kind: magic}}\n  budget: 4\n  space: {{accelerator.rows: {{pow2: [8, 64]}}}}\n  objectives: [{{metric: latency_s}}]\n"),
        ),
        (
            "a misspelt key in a sweep's base config",
            "workload: {model: resnet18}\naccelerator: {kind: systolic, rowz: 8}\nsweep:\n  grid: {accelerator.rows: [8, 16]}\n".to_string(),
        ),
    ] {
        assert!(!validator.is_valid(&doc(&text)), "the schema accepts {why}:\n{text}");
        let dir = tmp("schema_rejects");
        let cfg = write_cfg(&dir, &text);
        let cmd = if text.contains("sweep:") { "sweep" } else { "run" };
        let o = archsim(&[cmd, &cfg, "--out", dir.join("o").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "archsim {cmd} accepts {why}");
    }
    // What a preset gives may be left out beside it, and a sweep's base config may leave out
    // what its points set.
    for text in [
        GOOD.replace("  rows: 32\n  cols: 32\n  dataflow: ws\n", "  preset: eyeriss\n"),
        format!("{jobs}accelerator:\n  kind: soc\n  preset: ds3\n"),
        "workload: {model: resnet18}\naccelerator: {kind: systolic}\nsweep:\n  grid: {accelerator.preset: [eyeriss]}\n".to_string(),
    ] {
        assert!(validator.is_valid(&doc(&text)), "the schema rejects:\n{text}");
    }
}

#[test]
fn stop_after_dumps_a_stage() {
    let o = archsim(&["run", "--stop-after", "mapping"]);
    assert!(o.status.success());
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["ops"][0]["name"], "conv1");
    assert_eq!(m["ops"][0]["mapping"]["plan"]["folds"][0]["row_folds"], 98);
}

#[test]
fn every_config_in_configs_runs() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = tmp(&format!(
                "cfg_{}",
                path.file_stem().unwrap().to_string_lossy()
            ));
            let o = archsim(&[
                "run",
                path.to_str().unwrap(),
                "--json",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(
                o.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            if r.get("ttft_s").is_some() {
                // A serving config's report.
                assert!(r["requests"].as_u64().unwrap() > 0);
            } else if r["workload"] == "collective" {
                // A collective's report: one row per size.
                assert!(!r["sizes"].as_array().unwrap().is_empty());
            } else if let Some(t) = r.get("training") {
                // A training iteration: its time is the report's latency.
                assert!(t["iteration_s"].as_f64().unwrap() > 0.0);
                assert_eq!(r["latency_s"], t["iteration_s"]);
            } else {
                assert!(r["total_cycles"].as_u64().unwrap() > 0);
            }
            n += 1;
        }
    }
    assert!(n >= 3);
}

#[test]
fn search_configs_find_feasible_designs_and_write_their_outputs() {
    let out = tmp("search_bo");
    let cfg = root().join("configs/search/resnet18_bo.yaml");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--set",
        "search.budget=24",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["history"].as_array().unwrap().len(), 24);
    assert!(r["best"]["metrics"]["area_mm2"].as_f64().unwrap() <= 60.0);
    for f in [
        "report.json",
        "history.csv",
        "best_so_far.png",
        "config.yaml",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Same config and seed: same bytes.
    let out2 = tmp("search_bo_again");
    archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--set",
        "search.budget=24",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(out.join("report.json")).unwrap(),
        std::fs::read(out2.join("report.json")).unwrap()
    );

    let out = tmp("search_nsga2");
    let cfg = root().join("configs/search/gemm_nsga2.yaml");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--set",
        "search.budget=48",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!r["pareto"].as_array().unwrap().is_empty());
    assert!(out.join("pareto.svg").exists());
    // `archsim plot` redraws a search folder's plots, byte for byte.
    let before = std::fs::read(out.join("pareto.png")).unwrap();
    std::fs::remove_file(out.join("pareto.png")).unwrap();
    std::fs::remove_file(out.join("best_so_far.png")).unwrap();
    let o = archsim(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(out.join("pareto.png")).unwrap(), before);
    assert!(out.join("best_so_far.png").exists());
}

#[test]
fn bad_search_configs_exit_2() {
    let dir = tmp("bad_search");
    let base = std::fs::read_to_string(root().join("configs/search/resnet18_bo.yaml")).unwrap();
    for (from, to, want) in [
        (
            "agent: {kind: bo}",
            "agent: {kind: oracle}",
            "unknown variant `oracle`",
        ),
        (
            "budget: 64",
            "budget: 0",
            "search.budget: must be at least 1",
        ),
        (
            "{metric: latency_s}",
            "{metric: speed}",
            "unknown metric `speed`",
        ),
        ("{pow2: [8, 256]}", "{pow2: [8, 100]}", "pow2 bounds"),
        (
            "  batch: 8",
            "  batch: 8\n  budgte: 3",
            "search.budgte: unknown field",
        ),
    ] {
        let cfg = write_cfg(&dir, &base.replacen(from, to, 1));
        let o = archsim(&["run", &cfg, "--out", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }
}

/// Runs `archsim ARGS`, expecting bad input: exit 2, one line on stderr holding `want`,
/// nothing on stdout.
fn assert_bad_input(args: &[&str], want: &str) {
    let o = archsim(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{want}: {err}");
    assert!(err.contains(want), "{err:?} lacks {want:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn search_sections_are_checked_before_the_first_evaluation() {
    let dir = tmp("search_checked");
    let base = std::fs::read_to_string(root().join("configs/search/gemm_nsga2.yaml")).unwrap();
    for (from, to, want) in [
        (
            "accelerator.rows: {pow2",
            "accelerator.rowz: {pow2",
            "c.yaml:17:5: search.space.accelerator.rowz: unknown field `rowz`",
        ),
        (
            "{choice: [os, ws, is]}",
            "{choice: [os, ws, xs]}",
            "c.yaml:19:5: search.space.accelerator.dataflow: unknown variant `xs`",
        ),
        (
            "accelerator.cols: {pow2: [4, 256]}",
            "accelerator.cols: {choice: [4, four]}",
            "c.yaml:18:5: search.space.accelerator.cols: invalid type: string \"four\"",
        ),
        (
            "accelerator.rows: {pow2",
            "accelerator.rows[0]: {pow2",
            "c.yaml:17:5: search.space.accelerator.rows[0]: `accelerator.rows` is not a list",
        ),
        (
            "{metric: area_mm2}]",
            "{metric: area}]",
            "c.yaml:21:46: search.objectives[1].metric: unknown metric `area`",
        ),
        (
            "population: 24",
            "population: 100000000",
            "search.agent.population: must be at most 10000 (MAX_POPULATION)",
        ),
        (
            "budget: 240",
            "budget: 1000000000",
            "c.yaml:13:11: search.budget: must be at most 1000000, got 1000000000 (MAX_BUDGET: a \
             search keeps every evaluation in memory",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let cfg = write_cfg(&dir, &base.replacen(from, to, 1));
        let out = dir.join("out");
        assert_bad_input(&["run", &cfg, "--out", out.to_str().unwrap()], want);
        assert!(!out.join("report.json").exists(), "{want}: nothing was run");
    }
    // Overrides of the search section are checked the same way, and named.
    let cfg = root().join("configs/search/gemm_nsga2.yaml");
    assert_bad_input(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--set",
            "search.objectives=[{metric: speed}]",
            "--out",
            dir.to_str().unwrap(),
        ],
        "--set search.objectives=[{metric: speed}]: search.objectives[0].metric: unknown metric \
         `speed`",
    );
    assert_bad_input(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--set",
            "search.budget=1000000000",
            "--out",
            dir.to_str().unwrap(),
        ],
        "--set search.budget=1000000000: search.budget: must be at most 1000000, got 1000000000 \
         (MAX_BUDGET: ",
    );
}

#[test]
fn huge_sweep_grids_are_refused_before_any_point_is_built() {
    let dir = tmp("sweep_huge");
    let axis = (1..=1000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "workload: {{gemm: {{m: 8, n: 8, k: 8}}}}\naccelerator: {{kind: systolic, rows: 8, cols: 8, dataflow: os}}\nsweep:\n  grid:\n    workload.gemm.m: [{axis}]\n    workload.gemm.n: [{axis}]\n    workload.gemm.k: [{axis}]\n"
    );
    let cfg = write_cfg(&dir, &text);
    let started = std::time::Instant::now();
    assert_bad_input(
        &["sweep", &cfg, "--out", dir.join("out").to_str().unwrap()],
        "c.yaml:4:3: sweep.grid: the grid has 1000000000 points (1000 × 1000 × 1000), more than \
         the limit of 1000000 points (MAX_SWEEP_POINTS)",
    );
    assert!(started.elapsed().as_secs() < 30, "refused up front");
}

#[test]
fn a_search_prints_objectives_in_their_units_never_their_sum() {
    let dir = tmp("search_units");
    let cfg = root().join("configs/search/gemm_nsga2.yaml");
    let run = |extra: &[&str]| {
        let out = dir.join("out");
        let mut args = vec![
            "run",
            cfg.to_str().unwrap(),
            "--set",
            "search.budget=48",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = archsim(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // Two objectives: the Pareto front, each objective in its own unit, no summed cost.
    let text = run(&[]);
    assert!(!text.contains("cost"), "{text}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).unwrap()).unwrap();
    let front = report["pareto"].as_array().unwrap();
    assert!(front.len() >= 2);
    assert!(
        text.contains(&format!(
            "Pareto front (latency_s min, area_mm2 min): {} designs\n",
            front.len()
        )),
        "{text}"
    );
    let designs: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  evaluation "))
        .collect();
    assert_eq!(designs.len(), front.len(), "{text}");
    for l in &designs {
        let (_, metrics) = l.split_once(": ").unwrap();
        let (lat, area) = metrics.split_once(", ").unwrap();
        assert!(
            lat.starts_with("latency ")
                && ["s", "ms", "us", "ns"].contains(&lat.rsplit(' ').next().unwrap()),
            "{l}"
        );
        assert!(area.starts_with("area ") && area.ends_with(" mm2"), "{l}");
    }
    // The first design on the front has the lowest latency, shown in engineering units.
    let fastest = front
        .iter()
        .min_by(|a, b| {
            a["objectives"][0]
                .as_f64()
                .unwrap()
                .total_cmp(&b["objectives"][0].as_f64().unwrap())
        })
        .unwrap();
    assert!(designs[0].starts_with(&format!("  evaluation {}: ", fastest["eval"])));
    // One objective: the best design's value in its unit.
    let text = run(&["--set", "search.objectives=[{metric: latency_s}]"]);
    assert!(!text.contains("cost") && !text.contains("Pareto"), "{text}");
    let best = text.lines().find(|l| l.starts_with("best ")).unwrap();
    assert!(best.starts_with("best (evaluation "), "{best}");
    assert!(
        best.contains("): latency ") && best.ends_with('s'),
        "{best}"
    );
    assert!(text.contains("  within: area "), "{text}");
}

#[test]
fn config_paths_address_list_elements() {
    let dir = tmp("list_paths");
    let hetero = "workload:\n  tasks:\n    - {gemm: {m: 64, n: 64, k: 64}}\n    - {gemm: {m: 32, n: 32, k: 32}}\naccelerator:\n  kind: hetero\n  subs:\n    - {name: a, rows: 8, cols: 8, dataflow: os}\n    - {name: b, rows: 16, cols: 16, dataflow: ws}\n  assignment: [0, 1]\n";
    let cfg = write_cfg(&dir, hetero);
    let out = dir.join("out");
    let o = archsim(&[
        "run",
        &cfg,
        "--json",
        "--set",
        "accelerator.subs[0].dataflow=is",
        "--set",
        "accelerator.subs[1].rows=32",
        "--set",
        "workload.tasks[1].gemm.m=128",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resolved = std::fs::read_to_string(out.join("config.yaml")).unwrap();
    let resolved: serde_json::Value = serde_saphyr::from_str(&resolved).unwrap();
    assert_eq!(resolved["accelerator"]["subs"][0]["dataflow"], "is");
    assert_eq!(resolved["accelerator"]["subs"][1]["rows"], 32);
    assert_eq!(resolved["workload"]["tasks"][1]["gemm"]["m"], 128);
    for (set, want) in [
        (
            "accelerator.subs[2].rows=8",
            "--set accelerator.subs[2].rows=8: index 2 is out of range: `accelerator.subs` has 2 elements",
        ),
        (
            "accelerator.kind[0]=x",
            "--set accelerator.kind[0]=x: `accelerator.kind` is not a list",
        ),
        (
            "workload.tasks[one].model=resnet18",
            "bad config path `workload.tasks[one].model`: index `one` is not a list index",
        ),
    ] {
        assert_bad_input(
            &["run", &cfg, "--set", set, "--out", out.to_str().unwrap()],
            want,
        );
    }
    // A search varies a list element; a sweep grids one.
    let search = format!(
        "{hetero}search:\n  agent: {{kind: random}}\n  budget: 4\n  space:\n    accelerator.subs[1].rows: {{pow2: [8, 64]}}\n  objectives: [{{metric: latency_s}}]\n"
    );
    let cfg = write_cfg(&dir, &search);
    let o = archsim(&["run", &cfg, "--json", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["history"][0]["point"]["accelerator.subs[1].rows"].is_u64());
    assert!(r["best"]["metrics"]["latency_s"].as_f64().unwrap() > 0.0);
    let cfg = write_cfg(&dir, &search.replace("subs[1]", "subs[2]"));
    assert_bad_input(
        &["run", &cfg, "--out", out.to_str().unwrap()],
        "c.yaml:15:5: search.space.accelerator.subs[2].rows: index 2 is out of range",
    );
    let sweep = format!("{hetero}sweep:\n  grid:\n    accelerator.subs[0].dataflow: [os, ws]\n");
    let cfg = write_cfg(&dir, &sweep);
    let o = archsim(&["sweep", &cfg, "--out", dir.join("sweep").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(dir.join("sweep/results.csv")).unwrap();
    assert!(
        table.starts_with("index,accelerator.subs[0].dataflow,"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3);
    let journal = std::fs::read_to_string(dir.join("sweep/journal.jsonl")).unwrap();
    assert!(!journal.contains("\"error\""), "{journal}");
}

#[test]
fn plot_redraws_a_sweep_heatmap_and_a_runs_plots() {
    let cfg = root().join("configs/sweep/systolic_grid.yaml");
    let dir = tmp("plot_sweep");
    let o = archsim(&[
        "sweep",
        cfg.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pics = tmp("plot_sweep_pics");
    let o = archsim(&[
        "plot",
        dir.to_str().unwrap(),
        "--x",
        "accelerator.dataflow",
        "--y",
        "accelerator.rows",
        "--metric",
        "energy_j",
        "--out",
        pics.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(pics.join("heatmap_energy_j.svg")).unwrap();
    assert!(svg.contains("energy_j") && svg.contains("accelerator.dataflow"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("heatmap_energy_j.png"));
    // In the sweep's own folder, a heatmap of another metric goes beside the sweep's latency
    // heatmap instead of replacing it.
    let latency = std::fs::read(dir.join("heatmap.svg")).unwrap();
    let o = archsim(&["plot", dir.to_str().unwrap(), "--metric", "area_mm2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(dir.join("heatmap.svg")).unwrap(), latency);
    let area = std::fs::read_to_string(dir.join("heatmap_area_mm2.svg")).unwrap();
    assert!(area.contains("area_mm2"));
    assert!(dir.join("heatmap_area_mm2.png").exists());
    // Names that are not swept, or metrics no point has, are errors that list the choices.
    let o = archsim(&["plot", dir.to_str().unwrap(), "--x", "accelerator.nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("accelerator.rows"));
    let o = archsim(&["plot", dir.to_str().unwrap(), "--metric", "speed"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("latency_s"));
    // A run folder: the per-op plot again, from report.json alone.
    let run = tmp("plot_run");
    let o = archsim(&["run", "--out", run.to_str().unwrap()]);
    assert!(o.status.success());
    let again = tmp("plot_run_again");
    let o = archsim(&[
        "plot",
        run.join("report.json").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(again.join("cycles_per_op.svg")).unwrap(),
        std::fs::read(run.join("cycles_per_op.svg")).unwrap()
    );
    let o = archsim(&["plot", tmp("plot_nothing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn each_set_variant_gets_its_own_default_output_folder() {
    let cwd = tmp("set_variants");
    std::fs::create_dir_all(cwd.join("configs")).unwrap();
    std::fs::write(cwd.join("configs/q.yaml"), archsim::QUICKSTART).unwrap();
    let run = |set: &[&str]| -> String {
        let mut args = vec!["run", "configs/q.yaml"];
        for s in set {
            args.extend(["--set", s]);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_archsim"))
            .args(&args)
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let plain = run(&[]);
    let rows64 = run(&["accelerator.rows=64"]);
    let rows32 = run(&["accelerator.rows=32"]);
    let dirs: Vec<PathBuf> = std::fs::read_dir(cwd.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    assert!(cwd.join("out/q/report.json").exists());
    assert!(plain.contains("out/q/report.json"), "{plain}");
    // Each variant's folder is named after the config and its overrides, and printed.
    let folder = |stdout: &str| -> String {
        let line = stdout.lines().find(|l| l.contains("report.json")).unwrap();
        let p = Path::new(line.trim());
        p.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let (a, b) = (folder(&rows64), folder(&rows32));
    assert!(
        a.starts_with("q-") && b.starts_with("q-") && a != b,
        "{a} {b}"
    );
    let report = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(cwd.join("out").join(d).join("report.json")).unwrap())
            .unwrap()
    };
    assert_ne!(report(&a)["total_cycles"], report(&b)["total_cycles"]);
    // The same overrides find the same folder again.
    assert_eq!(folder(&run(&["accelerator.rows=64"])), a);
}

#[test]
fn sweeps_resume_after_kill_9_without_losing_or_repeating_points() {
    let cfg = root().join("configs/sweep/systolic_grid.yaml");
    let full = tmp("sweep_full");
    let o = archsim(&[
        "sweep",
        cfg.to_str().unwrap(),
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = std::fs::read_to_string(full.join("results.csv")).unwrap();
    assert_eq!(want.lines().count(), 1 + 96);
    // Counts are exact integers in the table and the journal (`8578006`, not `8578006.0`).
    {
        let mut r = csv::Reader::from_reader(want.as_bytes());
        let h = r.headers().unwrap().clone();
        let col = |n: &str| h.iter().position(|c| c == n).unwrap();
        let (cycles, bytes) = (col("total_cycles"), col("dram_bytes"));
        for row in r.records() {
            let row = row.unwrap();
            for i in [cycles, bytes] {
                assert!(
                    row[i].parse::<u64>().is_ok(),
                    "{} is not an integer",
                    &row[i]
                );
            }
        }
        let journal = std::fs::read_to_string(full.join("journal.jsonl")).unwrap();
        // The first line is the header that records the config; the entries follow.
        let header: serde_json::Value =
            serde_json::from_str(journal.lines().next().unwrap()).unwrap();
        assert_eq!(header["archsim_journal"], 1, "{header}");
        assert_eq!(header["points"], 96, "{header}");
        let first: serde_json::Value =
            serde_json::from_str(journal.lines().nth(1).unwrap()).unwrap();
        assert!(first["metrics"]["total_cycles"].is_u64(), "{first}");
    }
    // The same table as Parquet: the CSV's columns, one row per point.
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let f = std::fs::File::open(full.join("results.parquet")).unwrap();
        let meta = SerializedFileReader::new(f).unwrap().metadata().clone();
        assert_eq!(meta.file_metadata().num_rows(), 96);
        let names: Vec<&str> = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(names.join(","), want.lines().next().unwrap());
    }
    // Two parameters vary: a design-space heatmap of the first two comes with the table.
    assert!(full.join("heatmap.png").exists() && full.join("heatmap.svg").exists());

    // A torn journal: the header, the first 40 points and half a line, as a kill -9 mid-write
    // leaves it.
    let torn = tmp("sweep_torn");
    let journal = std::fs::read_to_string(full.join("journal.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    let mut partial = lines[..41].join("\n");
    partial.push('\n');
    partial.push_str(&lines[41][..lines[41].len() / 2]);
    std::fs::write(torn.join("journal.jsonl"), partial).unwrap();
    let o = archsim(&[
        "sweep",
        cfg.to_str().unwrap(),
        "--out",
        torn.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("40 already in the journal, 56 to run"));
    assert_eq!(
        std::fs::read_to_string(torn.join("results.csv")).unwrap(),
        want
    );
    assert_eq!(
        std::fs::read_to_string(torn.join("journal.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1 + 96
    );

    // A real kill -9 at an arbitrary moment, then the same command again.
    let killed = tmp("sweep_killed");
    let agents = root().join("configs/sweep/agents_gemm.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_archsim"))
        .args([
            "sweep",
            agents.to_str().unwrap(),
            "--out",
            killed.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    let o = archsim(&[
        "sweep",
        agents.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let clean = tmp("sweep_clean");
    let o2 = archsim(&[
        "sweep",
        agents.to_str().unwrap(),
        "--out",
        clean.to_str().unwrap(),
    ]);
    assert!(o2.status.success());
    assert_eq!(
        std::fs::read_to_string(killed.join("results.csv")).unwrap(),
        std::fs::read_to_string(clean.join("results.csv")).unwrap()
    );
    let n = std::fs::read_to_string(killed.join("journal.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(n, 1 + 35, "the header, then every point exactly once");
    assert!(String::from_utf8_lossy(&o2.stdout).contains("median evals to 1%"));
}

#[test]
fn running_a_sweep_file_points_at_archsim_sweep() {
    let cfg = root().join("configs/sweep/nb201_presets.yaml");
    let out = archsim(&["run", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("archsim sweep"), "{err}");
}

/// Found by a bad-input audit: huge sizes and clocks used to overflow 64-bit counters (a panic,
/// exit 101) or hang; every one must be a one-line error naming the key, exit code 2.
#[test]
fn an_out_path_that_is_a_file_is_bad_input() {
    let dir = tmp("out_is_file");
    let file = dir.join("taken");
    std::fs::write(&file, "x").unwrap();
    for cmd in [
        vec!["run"],
        vec!["sweep", "configs/sweep/systolic_grid.yaml"],
    ] {
        let mut args: Vec<&str> = cmd.clone();
        args.extend(["--out", file.to_str().unwrap()]);
        let o = Command::new(env!("CARGO_BIN_EXE_archsim"))
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "x",
        "nothing overwritten"
    );
}

#[test]
fn huge_values_are_errors_naming_the_key_never_panics() {
    let dir = tmp("huge");
    let gemm = "workload:\n  gemm: {m: 128, n: 256, k: 64}\naccelerator:\n  kind: systolic\n  rows: 16\n  cols: 16\n  dataflow: ws\n";
    let llm = |acc: &str| {
        format!("workload:\n  llm: {{model: llama2_7b, phase: decode, batch: 4, prompt_len: 512, layers: 2}}\n  dtype: bf16\naccelerator:\n{acc}")
    };
    let soc = "workload:\n  jobs:\n    apps: [{name: wifi_tx}]\n    arrival: {process: periodic, rate_per_ms: 2}\n    count: 5\naccelerator:\n  kind: soc\n  preset: ds3\n";
    let npu = "  kind: npu_pim\n  mode: neupims\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            GOOD.into(),
            "workload.batch=1000000000",
            "workload.batch: must be at most 16777216",
        ),
        (
            GOOD.into(),
            "workload.batch=4294967297",
            "workload.batch: must be at most 16777216",
        ),
        (
            gemm.into(),
            "workload.gemm.m=18446744073709551615",
            "workload.gemm.m: must be at most 16777216",
        ),
        (
            gemm.replace("m: 128, n: 256", "m: 16777216, n: 16777216"),
            "workload.gemm.k=16777216",
            "workload.gemm: batch x m x n x k",
        ),
        (
            GOOD.into(),
            "workload.batch=16777216",
            "workload: op `conv1` has",
        ),
        (
            llm("  kind: gpu\n  preset: h100_sxm\n"),
            "workload.llm.batch=4294967297",
            "workload.llm.batch: must be at most",
        ),
        (
            llm("  kind: gpu\n  preset: h100_sxm\n"),
            "workload.llm.context_len=18446744073709551615",
            "workload.llm.context_len: must be at most",
        ),
        (
            llm("  kind: gpu\n  preset: h100_sxm\n"),
            "workload.llm.batch=65536",
            "workload.llm.prompt_len: batch x tokens",
        ),
        (
            llm("  kind: gpu\n  preset: h100_sxm\n"),
            "workload.llm.layers=100000",
            "workload.llm.layers: `llama2_7b` has 32 layers",
        ),
        (
            llm("  kind: gpu\n  preset: h100_sxm\n"),
            "accelerator.clock_mhz=1e30",
            "accelerator.clock_mhz: must be at most",
        ),
        (
            llm("  kind: rdu\n"),
            "accelerator.freq_mhz=1e30",
            "accelerator.freq_mhz: must be at most",
        ),
        (
            llm("  kind: rdu\n"),
            "accelerator.program_load_us=1e30",
            "accelerator.program_load_us: must be at most",
        ),
        (
            llm("  kind: rdu\n"),
            "accelerator.min_tiles=18446744073709551615",
            "accelerator.min_tiles: must be at most",
        ),
        (
            llm(npu),
            "accelerator.timing.t_cl=18446744073709551615",
            "accelerator.timing.t_cl: must be at most 1000",
        ),
        (
            soc.into(),
            "workload.jobs.count=4294967297",
            "workload.jobs.count: must be at most 1000000",
        ),
        (
            soc.into(),
            "accelerator.freq_mhz=1e30",
            "accelerator.freq_mhz: must be at most",
        ),
        (
            soc.into(),
            "accelerator.interconnect.latency_us=1e30",
            "accelerator.interconnect.latency_us: must be at most",
        ),
    ];
    for (text, set, want) in cases {
        let cfg = write_cfg(&dir, &text);
        let out = archsim(&[
            "run",
            &cfg,
            "--json",
            "--set",
            set,
            "--out",
            dir.join("o").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--set {set}: {err}");
        assert!(err.contains(want), "--set {set}: {err:?} lacks {want:?}");
        assert_eq!(err.trim().lines().count(), 1, "--set {set}: {err:?}");
    }
}

/// YAML errors read as archsim's, not the parser's option hints; a sweep file's syntax error
/// is located like a run's.
#[test]
fn yaml_errors_are_located_and_worded_for_users() {
    let dir = tmp("yaml_words");
    let cases = [
        (
            GOOD.replace("rows: 32", "rows: .nan"),
            "run",
            "c.yaml:5:9: accelerator.rows: non-finite number `.nan`: numbers must be finite",
        ),
        (
            format!("{GOOD}accelerator: {{kind: gpu}}\n"),
            "run",
            "duplicate mapping key: accelerator",
        ),
        (
            "sweep: [1\n".to_string(),
            "sweep",
            "c.yaml:1:8: unclosed bracket",
        ),
    ];
    for (text, cmd, want) in cases {
        let cfg = write_cfg(&dir, &text);
        let out = archsim(&[cmd, &cfg, "--out", dir.join("o").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(
            !err.contains("policy") && !err.contains("Options"),
            "{err:?}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err:?}");
    }
}

/// The seam between the pipeline and the hardware families is one place: only the family
/// registry (`accelerators/src/lib.rs`, the `families!` macro that also generates the config
/// enum) names an accelerator kind. The exceptions are code that belongs to one family by
/// design: the SoC scheduling environment (its action is a SoC's PE choice) and the NeuPIMs
/// study (it varies an NPU+PIM device's modes). Test modules are not scanned. (Within the
/// accelerators crate, `tests/integration/seam.rs` also keeps family names out of its generic
/// modules.)
#[test]
fn accelerator_kinds_are_named_only_in_the_family_registry() {
    let allowed = [
        "accelerators/src/lib.rs",
        "gym/src/soc_env.rs",
        "src/neupims.rs",
    ];
    let kinds = archsim::accelerators::KINDS;
    let mut files = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = [
        "src",
        "sim/src",
        "workloads/src",
        "accelerators/src",
        "serving/src",
        "training/src",
        "net/src",
        "gym/src",
        "agents/src",
        "python/src",
        "examples",
        "benches",
    ]
    .iter()
    .map(|d| root().join(d))
    .collect();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("tests.rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 50, "scanned {} files", files.len());
    let mut hits = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in code.lines().enumerate() {
            let variant = line.find("AcceleratorConfig::").is_some_and(|at| {
                line[at + "AcceleratorConfig::".len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase)
            });
            let kind_arm = kinds.iter().any(|k| line.contains(&format!("\"{k}\" =>")));
            if variant || kind_arm {
                hits.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "accelerator kinds named outside the registry:\n{}",
        hits.join("\n")
    );
}

/// No silent rewrites: data wider than the array's word, and a decode context that cannot
/// follow its prompt, are errors naming both keys (exit 2); a word size left out follows the
/// dtype.
#[test]
fn conflicting_inputs_are_errors_naming_both_keys() {
    let d = tmp("conflicts");
    let cases = [
        (
            "workload:\n  model: resnet18\n  dtype: fp32\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os, word_bytes: 1}\n",
            ["accelerator.word_bytes", "workload.dtype"],
        ),
        (
            "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 1, prompt_len: 4096, context_len: 10, layers: 1}\naccelerator: {kind: gpu, preset: h100_sxm}\n",
            ["workload.llm.context_len", "workload.llm.prompt_len"],
        ),
    ];
    for (text, keys) in cases {
        let out = archsim(&[
            "run",
            &write_cfg(&d, text),
            "--out",
            d.join("o").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for k in keys {
            assert!(err.contains(k), "{k} not in: {err}");
        }
    }
    // Left out, the word follows the dtype: bf16 moves twice the bytes of int8.
    let bytes = |dtype: &str| {
        let text = format!(
            "workload:\n  model: resnet18\n  dtype: {dtype}\naccelerator: {{kind: systolic, rows: 32, cols: 32, dataflow: os}}\n"
        );
        let r = report_of(&archsim(&[
            "run",
            &write_cfg(&d, &text),
            "--json",
            "--out",
            d.join("b").to_str().unwrap(),
        ]));
        r["bytes"]["dram"].as_u64().unwrap()
    };
    assert!(bytes("bf16") > bytes("int8") * 3 / 2);
}

/// A design that does not fit says so in report.json, and a sweep marks it infeasible while
/// keeping its metrics; the serving metrics are named metrics.
#[test]
fn a_design_that_does_not_fit_is_reported_and_infeasible_in_sweeps() {
    let d = tmp("fits");
    let base = "workload:\n  llm: {model: llama2_7b, phase: decode, batch: 16, prompt_len: 2048, context_len: 4096}\n  dtype: bf16\naccelerator: {kind: gpu, preset: h100_sxm}\n";
    let big = base.replace("batch: 16", "batch: 128");
    let r = report_of(&archsim(&[
        "run",
        &write_cfg(&d, &big),
        "--json",
        "--out",
        d.join("r").to_str().unwrap(),
    ]));
    assert_eq!(r["fits"], false);
    assert!(r["why_not"][0]
        .as_str()
        .unwrap()
        .starts_with("memory: llama2_7b at batch 128"));
    let sweep = format!("{base}sweep:\n  grid:\n    workload.llm.batch: [16, 128]\n");
    let out = archsim(&[
        "sweep",
        &write_cfg(&d, &sweep),
        "--out",
        d.join("s").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let journal = std::fs::read_to_string(d.join("s/journal.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |b: u64| {
        rows.iter()
            .find(|e| e["point"]["workload.llm.batch"] == b)
            .unwrap()
    };
    assert!(row(16)["error"].is_null() && row(16)["metrics"]["tpot_s"].as_f64().unwrap() > 0.0);
    assert!(row(128)["error"]
        .as_str()
        .unwrap()
        .starts_with("infeasible: memory"));
    assert!(
        row(128)["metrics"]["tpot_s"].as_f64().unwrap() > 1.0,
        "swapping"
    );
}

#[test]
fn serving_runs_write_report_requests_and_plots_and_locate_errors() {
    let dir = tmp("serving");
    let text = std::fs::read_to_string(root().join("configs/serving_llama7b_h100.yaml")).unwrap();
    let cfg = write_cfg(&dir, &text);
    let run = |out: &str| {
        let o = archsim(&[
            "run",
            &cfg,
            "--json",
            "--set",
            "serving.traffic.requests=300",
            "--set",
            "serving.capacity.requests=300",
            "--out",
            dir.join(out).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let a = run("a");
    let r: serde_json::Value = serde_json::from_slice(&a).unwrap();
    for k in ["ttft_s", "tpot_s", "e2e_s"] {
        for s in ["mean", "p50", "p90", "p99"] {
            assert!(r[k][s].as_f64().unwrap() > 0.0, "{k}.{s}");
        }
    }
    for k in [
        "throughput_rps",
        "tokens_per_s",
        "slo_attainment",
        "cost_per_mtok",
    ] {
        assert!(r[k].as_f64().unwrap() > 0.0, "{k}");
    }
    assert!(r["capacity"]["rate_rps"].as_f64().unwrap() > 0.0);
    // Same config and seed: the same bytes.
    assert_eq!(a, run("b"));
    for f in [
        "report.json",
        "requests.csv",
        "config.yaml",
        "latency_cdf.png",
        "kv_occupancy.png",
        "latency_vs_rate.png",
        "cost_vs_slo.png",
    ] {
        assert!(dir.join("a").join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(dir.join("a/requests.csv")).unwrap();
    assert_eq!(csv.lines().count(), 301);
    assert_eq!(
        std::fs::read(dir.join("a/requests.csv")).unwrap(),
        std::fs::read(dir.join("b/requests.csv")).unwrap()
    );
    let bad = write_cfg(&dir, &text.replace("rate: 20.0", "rate: -2.0"));
    let o = archsim(&["run", &bad]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(":13:11: serving.traffic.rate: must be at least 1e-6, got -2"),
        "{e}"
    );
    let bad = write_cfg(
        &dir,
        &text.replace("rate: 20.0", "rate: 20.0\n    bursty: 1"),
    );
    let e = String::from_utf8_lossy(&archsim(&["run", &bad]).stderr).to_string();
    assert!(
        e.contains(":14:5: serving.traffic.bursty: unknown field `bursty`"),
        "{e}"
    );
    let bad = write_cfg(
        &dir,
        &text.replace("preset: h100_sxm", "preset: h100_sxm, mem_gb: 8"),
    );
    let e = String::from_utf8_lossy(&archsim(&["run", &bad]).stderr).to_string();
    assert!(
        e.contains("serving.pools[0].accelerator.mem_gb: unknown field"),
        "{e}"
    );
}

/// Issue 30: a serving run's iteration trace and per-iteration statistics, `archsim plot` on
/// its folder, and traffic combinations refused at their line.
#[test]
fn serving_trace_stats_replot_and_traffic_errors() {
    let dir = tmp("serving_vidur");
    let text = std::fs::read_to_string(root().join("configs/serving_llama7b_h100.yaml")).unwrap();
    let cfg = write_cfg(&dir, &text);
    let out = dir.join("run");
    let o = archsim(&[
        "run",
        &cfg,
        "--set",
        "serving.traffic.requests=200",
        "--set",
        "serving.capacity=null",
        "--set",
        "serving.trace=true",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(said.contains("busy ") && said.contains("load: "), "{said}");
    assert!(!said.contains("utilization"), "{said}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for k in ["batch_size", "batch_tokens", "tbt_s"] {
        assert!(r[k]["mean"].as_f64().unwrap() > 0.0, "{k}");
    }
    assert_eq!(r["replicas"].as_array().unwrap().len(), 4);
    let mfu = r["replicas"][0]["mfu"].as_f64().unwrap();
    assert!(mfu > 0.0 && mfu < 1.0, "{mfu}");
    assert!(r["load"]["offered_load"].as_f64().unwrap() > 0.0);
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("trace.json")).unwrap()).unwrap();
    let slices = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count() as u64;
    assert_eq!(slices, r["trace"]["slices"].as_u64().unwrap());
    assert_eq!(slices, r["pools"][0]["steps"].as_u64().unwrap());
    // `archsim plot` redraws the run's plots (it refused: "missing field `workload`").
    for f in ["latency_cdf.png", "kv_occupancy.svg"] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let o = archsim(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["latency_cdf.png", "kv_occupancy.svg"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Bad combinations are refused at their line.
    let bad = write_cfg(&dir, &text.replace("arrival: poisson", "arrival: static"));
    let o = archsim(&["run", &bad]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(":13:11: serving.traffic.rate: `arrival: static` puts every request at t = 0"),
        "{e}"
    );
    let bad = write_cfg(
        &dir,
        &text.replace("requests: 4000", "requests: 4000\n    duration_s: 60"),
    );
    let e = String::from_utf8_lossy(&archsim(&["run", &bad]).stderr).to_string();
    assert!(
        e.contains(":15:17: serving.traffic.duration_s: give `requests` or `duration_s`, not both"),
        "{e}"
    );
}

#[test]
fn sweeps_run_serving_configs() {
    let dir = tmp("serving_sweep");
    let text = std::fs::read_to_string(root().join("configs/serving_llama7b_h100.yaml"))
        .unwrap()
        .replace("requests: 4000", "requests: 200")
        .replace("  capacity: {requests: 2000, rel_tol: 0.02}\n", "");
    let text = format!(
        "{text}sweep:\n  grid:\n    serving.traffic.rate: [10, 40]\n    serving.router.kind: [round_robin, least_loaded]\n"
    );
    let cfg = write_cfg(&dir, &text);
    let out = dir.join("out");
    let o = archsim(&["sweep", &cfg, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let header = csv.lines().next().unwrap();
    for k in [
        "serving.traffic.rate",
        "ttft_p90_s",
        "cost_per_mtok",
        "slo_attainment",
    ] {
        assert!(header.contains(k), "{header}");
    }
    // `archsim run` on the sweep file points at `archsim sweep`.
    let o = archsim(&["run", &cfg]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run it with `archsim sweep FILE`"));
}

/// A serving config with a `search:` section: the agents size the fleet through the serving
/// evaluator, and the cheapest fleet they find meets the SLO and costs no more than a plain
/// hand-picked feasible fleet (Mélange's best single type at this load: two A100s).
#[test]
fn a_serving_search_chooses_the_kv_dtype_and_the_speculative_draft_length() {
    // The serving seeds' keys are search dimensions like any serving key: an int4 cache reads
    // less per decode, and at α = 0.8 a longer draft yields more tokens a round.
    let dir = tmp("serving_seeds_search");
    let cfg = write_cfg(
        &dir,
        r#"workload: {llm: {model: llama2_7b}, dtype: bf16}
serving:
  traffic: {rate: 4.0, requests: 200, seed: 0, prompt_tokens: {fixed: 256}, output_tokens: {fixed: 64}}
  pools: [{accelerator: {kind: roofline, peak_tflops: {bf16: 989}, mem_bw_gb_s: 3350, mem_gb: 80}, count: 1, cost_per_hour: 4}]
  scheduler: {max_batch: 64, max_batch_tokens: 512}
  slo: {ttft_p90_s: 2.0, tpot_p99_s: 0.2}
  speculative:
    draft: {model: gpt2, accelerator: {kind: roofline, peak_tflops: {bf16: 115}, mem_bw_gb_s: 307, mem_gb: 512}}
    tokens: 2
    acceptance: 0.8
search:
  agent: {kind: grid}
  budget: 6
  seed: 0
  space:
    serving.kv.dtype: {choice: [bf16, int4]}
    serving.speculative.tokens: {ordinal: [1, 2, 4]}
  objectives: [{metric: tpot_p50_s}]
"#,
    );
    let o = archsim(&[
        "run",
        &cfg,
        "--json",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let history = r["history"].as_array().unwrap();
    assert_eq!(history.len(), 6);
    let tpot = |dtype: &str, k: u64| {
        history
            .iter()
            .find(|h| {
                h["point"]["serving.kv.dtype"] == dtype
                    && h["point"]["serving.speculative.tokens"] == k
            })
            .unwrap_or_else(|| panic!("{dtype} k={k} in {history:?}"))["metrics"]["tpot_p50_s"]
            .as_f64()
            .unwrap()
    };
    for k in [1, 2, 4] {
        assert!(tpot("int4", k) < tpot("bf16", k), "k={k}");
    }
    assert!(tpot("bf16", 4) < tpot("bf16", 2) && tpot("bf16", 2) < tpot("bf16", 1));
    assert_eq!(r["best"]["point"]["serving.speculative.tokens"], 4);
    assert_eq!(r["best"]["point"]["serving.kv.dtype"], "int4");
}

#[test]
fn a_fleet_search_finds_a_fleet_within_the_slo_no_costlier_than_a_hand_picked_one() {
    let dir = tmp("serving_fleet");
    let text = std::fs::read_to_string(root().join("configs/search/serving_fleet.yaml")).unwrap();
    // Fast: one batch size (each device type is priced once) and fewer requests.
    let fast = text.replace("{ordinal: [64, 128, 256]}", "{ordinal: [256]}");
    let cfg = write_cfg(&dir, &fast);
    let sub = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let small = ["serving.traffic.requests=400", "search.budget=24"];
    let search = |out: &str| {
        let mut args = vec!["run", &cfg, "--json", "--out"];
        let o = dir.join(out);
        args.push(o.to_str().unwrap());
        for s in &small {
            args.extend(["--set", s]);
        }
        let o = archsim(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let a = search("a");
    let r: serde_json::Value = serde_json::from_slice(&a).unwrap();
    let best = &r["best"];
    assert_eq!(best["metrics"]["slo_met"], 1, "{best}");
    let best_cost = best["metrics"]["cost_per_hour"].as_f64().unwrap();
    // Infeasible fleets keep their metrics and say which bound they miss (the empty fleet,
    // which the search may also try, has no metrics: it says it has no replica).
    let history = r["history"].as_array().unwrap();
    assert_eq!(history.len(), 24);
    let no_replica = |h: &&serde_json::Value| {
        h["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("no replica"))
    };
    let missed = history
        .iter()
        .find(|h| h["feasible"] == false && !no_replica(h))
        .expect("some fleet misses the SLO");
    assert!(
        missed["reason"]
            .as_str()
            .unwrap()
            .starts_with("misses the SLO: "),
        "{missed}"
    );
    assert!(missed["metrics"]["ttft_p90_s"].as_f64().is_some());
    // The hand-picked fleet: the same config without the search, two A100s only.
    let plain = text.split("search:\n").next().unwrap();
    let plain_cfg = write_cfg(&sub("plain"), plain);
    let o = archsim(&[
        "run",
        &plain_cfg,
        "--json",
        "--set",
        small[0],
        "--set",
        "serving.pools[0].count=0",
        "--set",
        "serving.pools[1].count=2",
        "--set",
        "serving.pools[2].count=0",
        "--out",
        dir.join("plain_out").to_str().unwrap(),
    ]);
    // A count of 0 leaves a pool out in a search only; a plain run needs at least one.
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("serving.pools[0].count: must be at least 1")
    );
    let two_a100 = plain.replace(
        "    - {name: l4, accelerator: {kind: gpu, preset: l4}, count: 4, cost_per_hour: 0.70}\n",
        "",
    );
    let two_a100 = two_a100.replace(
        "    - {name: h100, accelerator: {kind: gpu, preset: h100_sxm}, count: 1, cost_per_hour: 7.52}\n",
        "",
    );
    let hand = write_cfg(&sub("hand"), &two_a100);
    let o = archsim(&[
        "run",
        &hand,
        "--json",
        "--set",
        small[0],
        "--set",
        "serving.pools[0].count=2",
        "--set",
        "serving.scheduler.max_batch=256",
        "--out",
        dir.join("hand_out").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h["slo_met"], true, "the hand-picked fleet is feasible");
    let hand_cost = h["cost_per_hour"].as_f64().unwrap();
    assert!(
        best_cost <= hand_cost,
        "search best ${best_cost}/h vs hand-picked ${hand_cost}/h"
    );
    // Written like any search; the same seed gives the same bytes.
    for f in [
        "report.json",
        "history.csv",
        "best_so_far.png",
        "config.yaml",
    ] {
        assert!(dir.join("a").join(f).exists(), "{f}");
    }
    let header = std::fs::read_to_string(dir.join("a/history.csv")).unwrap();
    assert!(header
        .lines()
        .next()
        .unwrap()
        .contains(",cost_per_hour,cost_per_mtok,slo_attainment,"));
    assert_eq!(a, search("b"));
    // A bad search names its key.
    for (from, to, want) in [
        (
            "objectives: [{metric: cost_per_hour}]",
            "objectives: [{metric: latency_s}]",
            "search.objectives[0].metric: unknown metric `latency_s`; metrics: cost_per_hour,",
        ),
        (
            "    serving.scheduler.max_batch: {ordinal: [64, 128, 256]}\n",
            "    serving.slo.ttft_p90_s: {ordinal: [1.0, 2.0]}\n",
            "search.space.serving.slo.ttft_p90_s: the SLO is the requirement every fleet must meet",
        ),
        (
            "serving.pools[2].count",
            "serving.pools[2].cuont",
            "search.space.serving.pools[2].cuont: unknown field `cuont`",
        ),
    ] {
        let bad = write_cfg(&sub("bad"), &text.replace(from, to));
        let o = archsim(&["run", &bad]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains(want), "{e:?} lacks {want:?}");
    }
}

/// A training config: `latency_s` is the iteration and the `training` section carries the
/// fixed keys; the same config gives the same bytes.
#[test]
fn training_config_reports_the_iteration() {
    let cfg = root().join("configs/training_gpt_a100.yaml");
    let (d1, d2, d3) = (
        tmp("training_run"),
        tmp("training_run2"),
        tmp("training_run3"),
    );
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        d1.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &r["training"];
    assert_eq!(r["latency_s"], t["iteration_s"]);
    for k in [
        "iteration_s",
        "tokens_per_s",
        "tflops_per_gpu",
        "mfu",
        "hfu",
    ] {
        assert!(t[k].as_f64().unwrap() > 0.0, "{k}");
    }
    assert!(t["memory_gb"]["total"].as_f64().unwrap() > 0.0);
    assert_eq!(t["fits"], true);
    assert_eq!(t["micro_batches"], 96);
    let again = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        d2.to_str().unwrap(),
    ]);
    assert!(d1.join("report.json").exists() && d1.join("config.yaml").exists());
    assert_eq!(o.stdout, again.stdout);
    // More pipeline stages and fewer replicas: a layout the same devices run.
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        d3.to_str().unwrap(),
        "--set",
        "parallel.pp=16",
        "--set",
        "parallel.dp=8",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Interleaved 1F1B with two chunks per device: a shorter bubble, a shorter iteration.
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        d3.to_str().unwrap(),
        "--set",
        "parallel.schedule=interleaved",
        "--set",
        "parallel.vpp=2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let il: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (&il["training"], t);
    assert!(a["iteration_s"].as_f64().unwrap() < b["iteration_s"].as_f64().unwrap());
    assert!(
        a["breakdown"]["bubble_s"].as_f64().unwrap() < b["breakdown"]["bubble_s"].as_f64().unwrap()
    );
}

/// A heterogeneous training config (`cluster.groups`): the stages on the groups, the
/// layers chosen by the devices' speed, the config written back as given; bad groups,
/// placements and partitions exit 2 naming the key.
#[test]
fn training_on_heterogeneous_groups() {
    let cfg = root().join("configs/training_hetero_h100_a100.yaml");
    let d = tmp("training_hetero");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &r["training"];
    assert_eq!(t["devices"], 32);
    assert_eq!(t["placement"]["rule"], "nic_aware");
    assert_eq!(
        t["placement"]["stage_groups"],
        serde_json::json!([[0], [1]])
    );
    let l = t["placement"]["layers_per_stage"].as_array().unwrap();
    assert!(l[0].as_u64().unwrap() > l[1].as_u64().unwrap(), "{l:?}");
    let written = std::fs::read_to_string(d.join("config.yaml")).unwrap();
    assert!(
        written.contains("groups:") && written.contains("h100_sxm"),
        "{written}"
    );
    // The written config runs to the same report.
    let again = archsim(&[
        "run",
        d.join("config.yaml").to_str().unwrap(),
        "--json",
        "--out",
        tmp("training_hetero2").to_str().unwrap(),
    ]);
    assert!(again.status.success());
    let r2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(r2["training"], r["training"]);
    for (set, want) in [
        (
            "parallel.layers_per_stage=[10,10]",
            "parallel.layers_per_stage",
        ),
        ("parallel.placement=[0,0]", "parallel.placement"),
        ("cluster.nodes=5", "cluster.nodes"),
        (
            "cluster.groups[1].accelerator.preset=nope",
            "cluster.groups[1].accelerator.preset",
        ),
        (
            "cluster.groups[0].nic_gb_s=-1",
            "cluster.groups[0].nic_gb_s",
        ),
    ] {
        let o = archsim(&[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            tmp("training_hetero_bad").to_str().unwrap(),
            "--set",
            set,
        ]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{set}: {e}");
        assert!(e.contains(want), "{set}: {e}");
    }
}

/// A layout search over a training config: every evaluation is a simulated iteration, the
/// layouts that do not multiply out (or do not fit) are infeasible rows with their reason, and
/// the best is a valid layout of the 1,024 devices; a misspelled key of the space exits 2.
#[test]
fn training_search_finds_a_layout_and_keeps_invalid_ones_as_infeasible_rows() {
    let cfg = root().join("configs/search/training_layout.yaml");
    let out = tmp("training_search");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--set",
        "search.budget=48",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = r["history"].as_array().unwrap();
    assert_eq!(h.len(), 48);
    let infeasible: Vec<&serde_json::Value> =
        h.iter().filter(|row| row["feasible"] == false).collect();
    assert!(!infeasible.is_empty());
    for row in &infeasible {
        let why = row["reason"].as_str().unwrap();
        assert!(
            why.contains("parallel.")
                || why.contains("workload.training.")
                || why.contains("does not fit"),
            "{why}"
        );
    }
    let best = &r["best"];
    let p = &best["point"];
    let n = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(n("parallel.tp") * n("parallel.pp") * n("parallel.dp"), 1024);
    assert!(best["metrics"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(best["metrics"]["memory_gb"].as_f64().unwrap() <= 80.0);
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("tokens_per_s"));

    let text = std::fs::read_to_string(&cfg).unwrap();
    let bad = write_cfg(
        &tmp("training_search_bad"),
        &text.replace("parallel.pp: {", "parallel.ppp: {"),
    );
    let o = archsim(&["run", &bad]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("search.space.parallel.ppp"), "{e}");
}

#[test]
fn bad_training_layouts_exit_2_naming_the_keys() {
    let cfg = root().join("configs/training_gpt_a100.yaml");
    for (sets, want) in [
        (
            vec!["parallel.tp=4"],
            "parallel.tp, parallel.pp, parallel.dp",
        ),
        (vec!["parallel.tp=64", "parallel.dp=2"], "parallel.tp"),
        (vec!["parallel.pp=128", "parallel.dp=1"], "parallel.pp"),
        (
            vec!["workload.training.micro_batch=5"],
            "workload.training.micro_batch",
        ),
        (vec!["parallel.schedule=interleaved"], "parallel.vpp"),
        (
            vec![
                "parallel.schedule=interleaved",
                "parallel.vpp=2",
                "workload.training.global_batch=1552",
            ],
            "workload.training.global_batch, workload.training.micro_batch, parallel.pp",
        ),
    ] {
        let dir = tmp("training_bad");
        let mut args = vec![
            "run",
            cfg.to_str().unwrap(),
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ];
        for s in &sets {
            args.push("--set");
            args.push(s);
        }
        let o = archsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{sets:?}: {err}");
        assert!(err.contains(want), "{sets:?}: {err}");
    }
}

/// `archsim run` on a collective config (archsim's nccl-tests): per size `time_s`,
/// `algbw_gb_s` and `busbw_gb_s` (busbw = algbw x 2(p-1)/p for all-reduce), the CSV table and
/// the bus-bandwidth plot; `--set` picks another op, sizes and algorithm.
#[test]
fn collective_run_reports_every_size() {
    let dir = tmp("collective_run");
    let cfg = root().join("configs/collective_allreduce_a100.yaml");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(printed, report);
    let sizes = report["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 11); // 1 MiB, 2 MiB, ..., 1 GiB
    let mut last = 0.0;
    for row in sizes {
        let (t, alg, bus) = (
            row["time_s"].as_f64().unwrap(),
            row["algbw_gb_s"].as_f64().unwrap(),
            row["busbw_gb_s"].as_f64().unwrap(),
        );
        let bytes = row["bytes"].as_f64().unwrap();
        assert!(t > last);
        last = t;
        assert!((alg - bytes / t / 1e9).abs() < 1e-9 * alg);
        assert!((bus - alg * 2.0 * 7.0 / 8.0).abs() < 1e-9 * bus);
        assert_eq!(row["count"].as_f64().unwrap(), bytes / 4.0);
    }
    // The 8-GPU plateau and the latency floor of the measured node.
    let top = sizes.last().unwrap()["busbw_gb_s"].as_f64().unwrap();
    assert!((top - 229.35).abs() / 229.35 < 0.05, "{top}");
    assert!(sizes[0]["time_s"].as_f64().unwrap() > 50e-6);
    let csv = std::fs::read_to_string(dir.join("collective.csv")).unwrap();
    assert_eq!(csv.lines().count(), 12);
    for f in ["busbw.png", "busbw.svg", "config.yaml"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("a2a").to_str().unwrap(),
        "--json",
        "--set",
        "workload.collective.op=all_to_all",
        "--set",
        "workload.collective.sizes=[4096, 65536]",
        "--set",
        "workload.collective.algorithm=direct",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["op"], "all_to_all");
    assert_eq!(r["sizes"][1]["algorithm"], "direct");
    let (alg, bus) = (
        r["sizes"][1]["algbw_gb_s"].as_f64().unwrap(),
        r["sizes"][1]["busbw_gb_s"].as_f64().unwrap(),
    );
    assert!((bus - alg * 7.0 / 8.0).abs() < 1e-9 * bus);
}

/// Bad cluster or collective input exits 2 with the file, line, column and key.
#[test]
fn collective_bad_input_names_the_key() {
    let base =
        std::fs::read_to_string(root().join("configs/collective_allreduce_a100.yaml")).unwrap();
    let multi = base.replace("  nodes: 1\n", "  nodes: 2\n")
        + "  scale_out:\n    kind: rail\n    nic_gb_s: 25\n    nics_per_node: 8\n";
    for (why, text, key) in [
        ("zero bandwidth", base.replace("gb_s: 300", "gb_s: 0"), "cluster.scale_up.gb_s"),
        ("negative NIC bandwidth", multi.replace("nic_gb_s: 25", "nic_gb_s: -25"), "cluster.scale_out.nic_gb_s"),
        ("no NIC", multi.replace("nics_per_node: 8", "nics_per_node: 0"), "cluster.scale_out.nics_per_node"),
        ("a group with no NIC", multi.replace("    nic_gb_s: 25\n    nics_per_node: 8\n", "    groups:\n      - {nodes: 1, nic_gb_s: 50, nics_per_node: 8}\n      - {nodes: 1, nic_gb_s: 25, nics_per_node: 0}\n"), "cluster.scale_out.groups[1]"),
        ("more ranks than devices", base.replace("    dtype: fp32\n", "    dtype: fp32\n    ranks: 16\n"), "workload.collective.ranks"),
        ("an unknown algorithm", base.replace("    dtype: fp32\n", "    dtype: fp32\n    algorithm: butterfly\n"), "workload.collective.algorithm"),
        ("nvls without the switch's reduction", base.replace("    dtype: fp32\n", "    dtype: fp32\n    algorithm: nvls\n"), "workload.collective.algorithm"),
        ("a misspelt key", base.replace("latency_us", "latncy_us"), "cluster.scale_up"),
        ("two nodes without a scale-out", base.replace("  nodes: 1\n", "  nodes: 2\n"), "cluster.scale_out"),
    ] {
        let dir = tmp("collective_bad");
        let cfg = write_cfg(&dir, &text);
        let o = archsim(&["run", &cfg, "--out", dir.join("o").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{why}: {err}");
        assert!(err.contains(key), "{why}: {err}");
        assert!(err.contains("c.yaml:"), "{why}: no file:line:col in {err}");
    }
}

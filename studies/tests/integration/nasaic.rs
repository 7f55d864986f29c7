//! The nasaic study.

use crate::common::*;

use std::path::Path;

use archsim_gym::codesign::{AccuracyOracle, CoDesignConfig, CsvOracle, FnOracle};
use archsim_studies::nasaic::{
    co_explore, co_explore_history, pareto_front, pareto_objectives, successive, successive_history,
};

fn sample() -> CsvOracle {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nas/nb201_sample.csv");
    CsvOracle::from_path(&p).unwrap()
}

fn cfg(max_latency_ms: f64) -> CoDesignConfig {
    serde_json::from_value(serde_json::json!({
        "oracle": "x", "budget": 60, "seed": 3,
        "tasks": [
            {"dataset": "cifar10", "max_latency_ms": max_latency_ms},
            {"dataset": "cifar100", "max_latency_ms": max_latency_ms},
        ],
        "hardware": {"rows": [8, 16, 32], "cols": [8, 16, 32], "sram_kib": [32, 128]},
        "specs": {"max_area_mm2": 4.0},
    }))
    .unwrap()
}

fn mnasnet_oracle() -> CsvOracle {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nas/accelnb_mnasnet.csv");
    CsvOracle::from_path(&p).unwrap()
}

#[test]
fn nasaic_codesign_config_runs_on_the_sample_oracle() {
    let cfg = root().join("configs/repro/nasaic.yaml");
    let out = tmp("nasaic");
    let oracle = root().join("tests/data/nas/nb201_sample.csv");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
        "--set",
        &format!("codesign.oracle={}", oracle.display()),
        "--set",
        "codesign.budget=40",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Successive search keeps the sample's most accurate CIFAR-10 network (93.71 %).
    assert_eq!(r["successive"]["eval"]["accuracy"][0], 93.71);
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(out.join("summary.md").exists());
    // Like every run: the config as run (re-runnable from the output folder) and the report.
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["successive"], r["successive"]);
    assert!(!rep["pareto"].as_array().unwrap().is_empty());
    // `archsim plot` redraws a co-design folder's Pareto plot from the files the run wrote.
    std::fs::remove_file(out.join("pareto.png")).unwrap();
    let p = archsim(&["plot", out.to_str().unwrap()]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    assert!(out.join("pareto.png").exists());
    let again = archsim(&[
        "run",
        out.join("config.yaml").to_str().unwrap(),
        "--json",
        "--out",
        tmp("nasaic_again").to_str().unwrap(),
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(again.stdout, o.stdout);
    // Text output is for people: every number rounded (`latency 0.2443 / 0.3660 ms`), never
    // a float's full expansion (`[0.24430300000000002, 0.366034]`); the JSON keeps them exact.
    let text = archsim(&[
        "run",
        out.join("config.yaml").to_str().unwrap(),
        "--out",
        tmp("nasaic_text").to_str().unwrap(),
    ]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(" ms  energy "), "{text}");
    assert_no_raw_floats(&text);
    for f in ["pareto.png", "pareto.svg"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 1000, "{f}");
    }
    // The plotted front is exactly the non-dominated set of the feasible evaluations.
    type Obj = (f64, f64, f64);
    let rows = |f: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    };
    let num = |s: &str| s.parse::<f64>().unwrap();
    let history = rows("history.csv");
    assert_eq!(history.len(), 80, "both searches, 40 evaluations each");
    let feasible: Vec<Obj> = history
        .iter()
        .filter(|r| r[2] == "true")
        .map(|r| (num(&r[3]), num(&r[4]), num(&r[5])))
        .collect();
    assert!(!feasible.is_empty());
    let dominated = |a: Obj| {
        feasible.iter().any(|&b| {
            b.0 >= a.0 && b.1 <= a.1 && b.2 <= a.2 && (b.0 > a.0 || b.1 < a.1 || b.2 < a.2)
        })
    };
    let mut expected: Vec<Obj> = feasible
        .iter()
        .copied()
        .filter(|&a| !dominated(a))
        .collect();
    let mut front: Vec<Obj> = rows("pareto.csv")
        .iter()
        .map(|r| (num(&r[2]), num(&r[3]), num(&r[4])))
        .collect();
    let key = |a: &Obj, b: &Obj| {
        a.1.total_cmp(&b.1)
            .then(a.0.total_cmp(&b.0))
            .then(a.2.total_cmp(&b.2))
    };
    expected.sort_by(key);
    expected.dedup();
    front.sort_by(key);
    assert_eq!(front, expected);
}

// The search and its Pareto front (moved with them from the gym).

#[test]
fn searches_are_deterministic_and_successive_uses_the_best_networks() {
    let o = sample();
    let c = cfg(1.0);
    let a = co_explore(&c, &o).unwrap();
    assert_eq!(a, co_explore(&c, &o).unwrap());
    let s = successive(&c, &o).unwrap();
    let best10 = (0..o.len())
        .map(|i| o.accuracy(i, "cifar10").unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(s.eval.accuracy[0], best10);
    // With no specs at all, co-exploration can never beat the best networks' accuracy.
    assert!(a.eval.weighted_accuracy <= s.eval.weighted_accuracy + 1e-9);
}

#[test]
fn tight_latency_is_met_by_co_exploration() {
    let o = sample();
    let c = cfg(0.25);
    let a = co_explore(&c, &o).unwrap();
    let s = successive(&c, &o).unwrap();
    eprintln!("co {:?}\nsucc {:?}", a.eval, s.eval);
    assert!(a.eval.violations.is_empty(), "{:?}", a.eval);
}

#[test]
fn accel_nasbench_is_an_imagenet_oracle() {
    let o = mnasnet_oracle();
    assert_eq!(o.len(), 5138);
    // Row 0 of the CSV.
    assert_eq!(
        o.arch(0),
        "e6k3l1se0-e4k5l2se0-e6k3l3se0-e6k5l3se0-e6k5l2se0-e1k3l2se0-e1k3l2se0"
    );
    assert_eq!(o.accuracy(0, "imagenet"), Ok(59.368));
    assert_eq!(o.accuracy(0, "imagenet_top5"), Ok(82.636));
    let c: CoDesignConfig = serde_json::from_value(serde_json::json!({
        "oracle": "x", "network": "mnasnet", "budget": 30, "seed": 2,
        "tasks": [{"dataset": "imagenet", "max_latency_ms": 20.0}],
        "hardware": {"rows": [16, 32], "cols": [16, 32], "sram_kib": [128, 512]},
    }))
    .unwrap();
    let best = co_explore(&c, &o).unwrap();
    assert_eq!(best, co_explore(&c, &o).unwrap());
    let i = best.point.nets[0];
    assert_eq!(best.eval.accuracy[0], o.accuracy(i, "imagenet").unwrap());
    assert!(best.eval.latency_ms[0] > 0.0 && best.eval.energy_mj > 0.0);
    // An NB201 dataset in the MnasNet space is refused, and the reverse.
    let mut bad = c.clone();
    bad.tasks[0].dataset = "cifar10".into();
    assert!(bad.validate().unwrap_err().contains("imagenet"));
    let mut bad = cfg(1.0);
    bad.tasks[0].dataset = "imagenet".into();
    assert!(bad.validate().unwrap_err().contains("tasks.0.dataset"));
}

#[test]
fn function_oracle_is_asked_once_per_network_and_errors_surface() {
    let o = sample();
    let archs: Vec<String> = (0..o.len()).map(|i| o.arch(i).to_string()).collect();
    let table = o.clone();
    let lookup = archs.clone();
    let f = FnOracle::new(
        archs,
        Box::new(move |arch: &str, ds: &str| {
            let i = lookup.iter().position(|a| a == arch).unwrap();
            table.accuracy(i, ds)
        }),
    );
    let c = cfg(1.0);
    // Same accuracies, same search, same result as the table.
    assert_eq!(co_explore(&c, &f).unwrap(), co_explore(&c, &o).unwrap());
    let calls = f.calls();
    assert!(calls > 0 && calls <= 2 * o.len());
    co_explore(&c, &f).unwrap();
    assert_eq!(f.calls(), calls, "answers are cached");
    let failing = FnOracle::new(
        vec![o.arch(0).to_string()],
        Box::new(|_: &str, _: &str| Err("training diverged".to_string())),
    );
    assert_eq!(co_explore(&c, &failing).unwrap_err(), "training diverged");
    let nan = FnOracle::new(
        vec![o.arch(0).to_string()],
        Box::new(|_: &str, _: &str| Ok(f64::NAN)),
    );
    assert!(co_explore(&c, &nan).unwrap_err().contains("NaN"));
    for bad in [-5.0, 100.5, 1e30] {
        let o = FnOracle::new(
            vec![o.arch(0).to_string()],
            Box::new(move |_: &str, _: &str| Ok(bad)),
        );
        assert!(
            co_explore(&c, &o).unwrap_err().contains("[0, 100]"),
            "{bad}"
        );
    }
}

#[test]
fn the_pareto_front_is_the_non_dominated_feasible_set() {
    let o = sample();
    let (best, hist) = co_explore_history(&cfg(0.5), &o).unwrap();
    assert_eq!(hist.len(), 60);
    assert!(hist.contains(&best));
    let front = pareto_front(&hist);
    assert!(!front.is_empty());
    let obj = |i: usize| pareto_objectives(&hist[i].eval);
    for i in 0..hist.len() {
        let feasible = hist[i].eval.violations.is_empty();
        let dominated = (0..hist.len()).any(|j| {
            let (a, b) = (obj(j), obj(i));
            hist[j].eval.violations.is_empty()
                && a.0 >= b.0
                && a.1 <= b.1
                && a.2 <= b.2
                && (a.0 > b.0 || a.1 < b.1 || a.2 < b.2)
        });
        let duplicate_of_earlier =
            (0..i).any(|j| hist[j].eval.violations.is_empty() && obj(j) == obj(i));
        assert_eq!(
            front.contains(&i),
            feasible && !dominated && !duplicate_of_earlier,
            "point {i}"
        );
    }
    // The most accurate feasible point is on the front.
    assert!(front
        .iter()
        .any(|&i| hist[i].eval.weighted_accuracy == best.eval.weighted_accuracy));
    let (_, sh) = successive_history(&cfg(0.5), &o).unwrap();
    assert!(sh.iter().all(|r| r.point.nets == sh[0].point.nets));
}

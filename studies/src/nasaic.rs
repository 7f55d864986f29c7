//! NASAIC (Yang et al., DAC 2020): co-exploration of networks and a heterogeneous accelerator
//! against the successive flow (the most accurate networks first, then the hardware), on the
//! co-design problem of [`archsim_gym::codesign`]. A config with a `codesign:` section runs it.
//!
//! [`co_explore`] searches networks and hardware at once and [`successive`] fixes the most
//! accurate networks first, with the same seeded (ChaCha8) evolutionary search and the same
//! budget; [`co_explore_history`] and [`successive_history`] also return every evaluated point,
//! and [`pareto_front`] picks the non-dominated ones (accuracy, latency, energy).
//!
//! Writes `comparison.csv` (one row per method: spec violations, per-task accuracy and latency,
//! energy, area, networks and sub-accelerators) and `summary.md` into the output folder, and
//! the accuracy/latency/energy trade-off of every design both searches evaluated:
//! `history.csv` (one row per evaluation), `pareto.csv` (the non-dominated designs that meet
//! the specs, see [`pareto_front`]) and `pareto.png`/`.svg` (accuracy against the largest task
//! latency and against energy).

use std::fmt::Write as _;
use std::path::Path;

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use archsim_gym::codesign::{
    AccuracyOracle, CoDesignConfig, CoEval, CoPoint, CoResult, CsvOracle, NetSpace,
};
use archsim_io::located::{located_key, located_key_error, ConfigError};

use crate::{Error, Host, Study, StudyOutput, StudyRun};

/// The registry entry: picked by a config's `codesign:` section.
pub const STUDY: Study = Study {
    kind: "nasaic",
    about: "NASAIC (DAC 2020): a co-design config, co-exploration of networks and a heterogeneous accelerator vs the successive flow",
    run: run_study,
    schema: crate::file_schema::<CoDesignFile>,
    section: Some("codesign"),
    replot: Some(replot),
};

/// A co-design file (`archsim run` compares co-exploration with successive search; the gym
/// poses it as `archsim/CoDesign-v0` and `codesign`).
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema only
pub struct CoDesignFile {
    /// The problem.
    codesign: CoDesignConfig,
    /// The environment's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "archsim_gym::codesign_env::CoDesignGymSection")]
    gym: Option<archsim_gym::codesign_env::CoDesignGymSection>,
}

/// `archsim run` on a `codesign:` config: both searches, the comparison written into the
/// output folder; the result is `{co_exploration, successive}`.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let cc = parse(run.host, &run.doc, run.text, run.file, run.set)?;
    let [co, succ] = compare(&cc, run.base, &run.dir)?;
    let mut text = String::new();
    for (m, r) in [("co-exploration", &co), ("successive", &succ)] {
        let _ = writeln!(
            text,
            "{m:<15} acc {:.2}%  latency {} ms  energy {:.4} mJ  area {:.3} mm2  violations: {}",
            r.eval.weighted_accuracy,
            r.eval
                .latency_ms
                .iter()
                .map(|l| format!("{l:.4}"))
                .collect::<Vec<_>>()
                .join(" / "),
            r.eval.energy_mj,
            r.eval.area_mm2,
            if r.eval.violations.is_empty() {
                "none".into()
            } else {
                r.eval.violations.join("; ")
            }
        );
    }
    Ok(StudyOutput {
        json: serde_json::json!({"co_exploration": co, "successive": succ}),
        text,
        files: Vec::new(),
    })
}

fn cfg_error(file: &str, key: &str, message: String) -> Error {
    Error::Config(ConfigError::new(file, message).with_key(key))
}

/// Parses the `codesign:` section of `value` (the whole config file as a value, `text` its
/// source), after applying `--set a.b.c=VALUE` overrides (the value is read as YAML). Every
/// error names its key, at its line and column in `text` or by the override that set it.
pub fn parse(
    host: &dyn Host,
    value: &serde_json::Value,
    text: &str,
    file: &str,
    set: &[String],
) -> Result<CoDesignConfig, Error> {
    let mut value = value.clone();
    archsim_io::located::apply_overrides(&mut value, file, set)?;
    host.check_values(&value, text, file, set)?;
    let section = value
        .get("codesign")
        .cloned()
        .ok_or_else(|| cfg_error(file, "codesign", "missing".into()))?;
    let cfg: CoDesignConfig = archsim_accelerators::config::typed(section, &["codesign"])
        .map_err(|e| located_key(text, file, set, e))?;
    cfg.check()
        .map_err(|(key, m)| located_key_error(text, file, set, &key, m))?;
    Ok(cfg)
}

/// Runs both searches and writes the comparison into `dir`; returns `[co-exploration,
/// successive]`.
pub fn compare(
    cfg: &CoDesignConfig,
    base_dir: &Path,
    dir: &Path,
) -> Result<[CoResult; 2], Error> {
    let oracle_path = base_dir.join(&cfg.oracle);
    let oracle = CsvOracle::from_path(&oracle_path).map_err(Error::File)?;
    let model = |m: String| Error::Io {
        path: "codesign".into(),
        message: m,
    };
    let (co, co_hist) = co_explore_history(cfg, &oracle).map_err(model)?;
    let (succ, succ_hist) = successive_history(cfg, &oracle).map_err(model)?;
    // A metric that is not a number would be written as `null` or `inf`: the run failed.
    archsim_io::finite::check(&(&co, &succ, &co_hist, &succ_hist), "the co-design run")?;
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    crate::files::create_dir(dir)?;
    let n = cfg.tasks.len();
    let mut csv = String::from("method,violations,weighted_accuracy");
    for t in &cfg.tasks {
        write!(csv, ",{0}_accuracy,{0}_latency_ms", t.dataset).ok();
    }
    csv.push_str(",energy_mj,area_mm2");
    for t in &cfg.tasks {
        write!(csv, ",{0}_arch,{0}_sub", t.dataset).ok();
    }
    csv.push('\n');
    let h = &cfg.hardware;
    for (name, r) in [("co-exploration", &co), ("successive", &succ)] {
        write!(
            csv,
            "{name},{},{:.4}",
            r.eval.violations.len(),
            r.eval.weighted_accuracy
        )
        .ok();
        for t in 0..n {
            write!(
                csv,
                ",{:.4},{:.6}",
                r.eval.accuracy[t], r.eval.latency_ms[t]
            )
            .ok();
        }
        write!(csv, ",{:.6},{:.4}", r.eval.energy_mj, r.eval.area_mm2).ok();
        for t in 0..n {
            let [d, ro, c, s] = r.point.hw[t];
            write!(
                csv,
                ",{},{} {}x{} sram {} KiB",
                r.archs[t],
                h.dataflows[d].name(),
                h.rows[ro],
                h.cols[c],
                h.sram_kib[s]
            )
            .ok();
        }
        csv.push('\n');
    }
    let p = dir.join("comparison.csv");
    crate::files::write(&p, csv)?;
    let mut md = String::from("# NASAIC: co-exploration vs successive search\n\n");
    writeln!(
        md,
        "Budget {} evaluations per method, seed {}, oracle `{}` ({} networks).\n",
        cfg.budget,
        cfg.seed,
        cfg.oracle.display(),
        oracle_len(&oracle)
    )
    .ok();
    md.push_str("| method | spec violations | weighted acc. % | energy mJ | area mm² |\n|---|---|---|---|---|\n");
    for (name, r) in [("co-exploration", &co), ("successive", &succ)] {
        writeln!(
            md,
            "| {name} | {} | {:.2} | {:.4} | {:.3} |",
            if r.eval.violations.is_empty() {
                "none".to_string()
            } else {
                r.eval.violations.join("; ")
            },
            r.eval.weighted_accuracy,
            r.eval.energy_mj,
            r.eval.area_mm2
        )
        .ok();
    }
    writeln!(
        md,
        "\nAccuracy cost of co-exploration: {:.2} points (weighted).",
        succ.eval.weighted_accuracy - co.eval.weighted_accuracy
    )
    .ok();
    let p = dir.join("summary.md");
    crate::files::write(&p, md)?;
    let front = write_pareto(cfg, &co, &succ, &co_hist, &succ_hist, dir)?;
    // The run's config and report, as every `archsim run` writes them.
    let p = dir.join("config.yaml");
    // The oracle path relative to the output folder, so the written config runs from there.
    let mut resolved = cfg.clone();
    resolved.oracle = relative_to(&oracle_path, dir);
    let yaml = serde_saphyr::to_string(&serde_json::json!({ "codesign": resolved }))
        .map_err(|e| io(&p, std::io::Error::other(e.to_string())))?;
    crate::files::write(&p, yaml)?;
    let report = serde_json::json!({
        "co_exploration": co,
        "successive": succ,
        "evaluations": co_hist.len() + succ_hist.len(),
        "pareto": front,
    });
    let p = dir.join("report.json");
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    crate::files::write(&p, text + "\n")?;
    Ok([co, succ])
}

/// Writes `history.csv`, `pareto.csv` and `pareto.png`/`.svg`; returns the front.
fn write_pareto(
    cfg: &CoDesignConfig,
    co: &CoResult,
    succ: &CoResult,
    co_hist: &[CoResult],
    succ_hist: &[CoResult],
    dir: &Path,
) -> Result<Vec<CoResult>, Error> {
    let all: Vec<CoResult> = co_hist.iter().chain(succ_hist).cloned().collect();
    let method = |i: usize| {
        if i < co_hist.len() {
            ("co-exploration", i)
        } else {
            ("successive", i - co_hist.len())
        }
    };
    let mut h = String::from(
        "method,evaluation,feasible,weighted_accuracy,max_latency_ms,energy_mj,area_mm2\n",
    );
    for (i, r) in all.iter().enumerate() {
        let (m, k) = method(i);
        let (a, l, e) = pareto_objectives(&r.eval);
        writeln!(
            h,
            "{m},{k},{},{a:.6},{l:.6},{e:.6},{:.6}",
            r.eval.violations.is_empty(),
            r.eval.area_mm2
        )
        .ok();
    }
    let p = dir.join("history.csv");
    crate::files::write(&p, h)?;
    let front = pareto_front(&all);
    let hw = &cfg.hardware;
    let mut csv = String::from(
        "method,evaluation,weighted_accuracy,max_latency_ms,energy_mj,area_mm2,networks,subs\n",
    );
    for &i in &front {
        let (m, k) = method(i);
        let r = &all[i];
        let (a, l, e) = pareto_objectives(&r.eval);
        let subs: Vec<String> = r
            .point
            .hw
            .iter()
            .map(|&[d, ro, c, s]| {
                format!(
                    "{} {}x{} sram {} KiB",
                    hw.dataflows[d].name(),
                    hw.rows[ro],
                    hw.cols[c],
                    hw.sram_kib[s]
                )
            })
            .collect();
        writeln!(
            csv,
            "{m},{k},{a:.6},{l:.6},{e:.6},{:.6},{},{}",
            r.eval.area_mm2,
            r.archs.join(" "),
            subs.join(" / ")
        )
        .ok();
    }
    let p = dir.join("pareto.csv");
    crate::files::write(&p, csv)?;
    // Distinct feasible designs (by their objectives) as the grey cloud.
    let feasible: Vec<(f64, f64, f64)> = all
        .iter()
        .filter(|r| r.eval.violations.is_empty())
        .map(|r| pareto_objectives(&r.eval))
        .collect();
    let front_pts: Vec<(f64, f64, f64)> = front
        .iter()
        .map(|&i| pareto_objectives(&all[i].eval))
        .collect();
    draw_pareto(cfg, all.len(), feasible, &front_pts, co, succ, dir)?;
    Ok(front.iter().map(|&i| all[i].clone()).collect())
}

/// Draws `pareto.{png,svg}`: the feasible designs (`feasible`, one triple per evaluation that
/// met the specs, of `evaluations` in all) as a cloud, the front, and both searches' answers.
fn draw_pareto(
    cfg: &CoDesignConfig,
    evaluations: usize,
    mut feasible: Vec<(f64, f64, f64)>,
    front: &[(f64, f64, f64)],
    co: &CoResult,
    succ: &CoResult,
    dir: &Path,
) -> Result<(), Error> {
    let meeting = feasible.len();
    feasible.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.total_cmp(&b.2))
    });
    feasible.dedup();
    let mark = |name: &str, r: &CoResult| {
        let tag = if r.eval.violations.is_empty() {
            String::new()
        } else {
            format!(" ({} spec violations)", r.eval.violations.len())
        };
        (format!(" {name}{tag}"), pareto_objectives(&r.eval))
    };
    let marks = [mark("co-exploration", co), mark("successive", succ)];
    let title = format!(
        "Co-design: {evaluations} evaluations, {meeting} meeting the specs, {} on the Pareto front",
        front.len()
    );
    // One line per distinct latency spec, naming the tasks it bounds.
    let mut latency_specs: Vec<(String, f64)> = Vec::new();
    for t in &cfg.tasks {
        let Some(ms) = t.max_latency_ms else { continue };
        match latency_specs.iter_mut().find(|(_, v)| *v == ms) {
            Some((names, _)) => {
                names.push_str(", ");
                names.push_str(&t.dataset);
            }
            None => latency_specs.push((t.dataset.clone(), ms)),
        }
    }
    for (names, _) in &mut latency_specs {
        *names = format!("{names} latency");
    }
    let plot = crate::plot::CoParetoPlot {
        title: &title,
        feasible: &feasible,
        front,
        marks: &marks,
        latency_specs: &latency_specs,
        max_energy_mj: cfg.specs.max_energy_mj,
    };
    crate::plot::codesign_pareto(&plot, dir, "pareto").map_err(Error::File)
}

/// Redraws the Pareto plot of a finished co-design run from the files it wrote in `dir`
/// (`config.yaml`, `report.json`, `history.csv`); returns the files written.
pub fn replot(host: &dyn Host, dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let read = |name: &str| {
        let p = dir.join(name);
        let kind = if name.ends_with(".json") {
            archsim_workloads::input::InputKind::Json
        } else {
            archsim_workloads::input::InputKind::Config
        };
        crate::files::read_text(&p, kind)
    };
    let cfg_file = dir.join("config.yaml").display().to_string();
    let text = read("config.yaml")?;
    let value: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|e| cfg_error(&cfg_file, "codesign", e.to_string()))?;
    let cfg = parse(host, &value, &text, &cfg_file, &[])?;
    let report_file = dir.join("report.json").display().to_string();
    let report: serde_json::Value = serde_json::from_str(&read("report.json")?)
        .map_err(|e| cfg_error(&report_file, "report", e.to_string()))?;
    let result = |key: &str| -> Result<CoResult, Error> {
        serde_json::from_value(report.get(key).cloned().unwrap_or_default())
            .map_err(|e| cfg_error(&report_file, key, e.to_string()))
    };
    let (co, succ) = (result("co_exploration")?, result("successive")?);
    let front: Vec<CoResult> =
        serde_json::from_value(report.get("pareto").cloned().unwrap_or_default())
            .map_err(|e| cfg_error(&report_file, "pareto", e.to_string()))?;
    let front: Vec<(f64, f64, f64)> = front.iter().map(|r| pareto_objectives(&r.eval)).collect();
    // history.csv: method,evaluation,feasible,weighted_accuracy,max_latency_ms,energy_mj,area_mm2
    let history_file = dir.join("history.csv").display().to_string();
    let mut evaluations = 0;
    let mut feasible = Vec::new();
    for (n, line) in read("history.csv")?.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(a), Some(l), Some(e)) = (num(3), num(4), num(5)) else {
            return Err(cfg_error(
                &history_file,
                &format!("line {}", n + 1),
                "expected method,evaluation,feasible,weighted_accuracy,max_latency_ms,energy_mj,area_mm2".into(),
            ));
        };
        evaluations += 1;
        if f.get(2) == Some(&"true") {
            feasible.push((a, l, e));
        }
    }
    draw_pareto(&cfg, evaluations, feasible, &front, &co, &succ, dir)?;
    Ok(vec![dir.join("pareto.png"), dir.join("pareto.svg")])
}

/// `path` as seen from the folder `from` (both made absolute); `path` itself when they share no
/// root.
fn relative_to(path: &Path, from: &Path) -> std::path::PathBuf {
    let (Ok(p), Ok(f)) = (std::fs::canonicalize(path), std::fs::canonicalize(from)) else {
        return path.to_path_buf();
    };
    let common = p
        .components()
        .zip(f.components())
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return p;
    }
    let mut rel = std::path::PathBuf::new();
    for _ in f.components().skip(common) {
        rel.push("..");
    }
    rel.extend(p.components().skip(common));
    rel
}

fn oracle_len(o: &CsvOracle) -> usize {
    o.len()
}

fn better(a: &CoEval, b: &CoEval) -> bool {
    match (a.violations.is_empty(), b.violations.is_empty()) {
        (true, false) => true,
        (false, true) => false,
        (true, true) => {
            a.weighted_accuracy > b.weighted_accuracy
                || (a.weighted_accuracy == b.weighted_accuracy && a.energy_mj < b.energy_mj)
        }
        (false, false) => a.excess < b.excess,
    }
}

/// Seeded evolutionary search: each step either mutates the best point so far (one to three
/// networks or hardware choices; networks only when `fixed_nets` is `None`) or, one time in five, draws
/// a fresh random point. Returns the best point found in `cfg.budget` evaluations, and every
/// evaluation in order when `history` is given.
fn search(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
    fixed_nets: Option<Vec<usize>>,
    mut history: Option<&mut Vec<CoResult>>,
) -> Result<CoResult, String> {
    cfg.validate()?;
    if o.is_empty() {
        return Err("the accuracy oracle has no networks".into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.tasks.len();
    let index_of: HashMap<&str, usize> = (0..o.len()).map(|i| (o.arch(i), i)).collect();
    let draw = |rng: &mut ChaCha8Rng| CoPoint {
        nets: fixed_nets
            .clone()
            .unwrap_or_else(|| (0..n).map(|_| rng.random_range(0..o.len())).collect()),
        hw: (0..n).map(|_| cfg.random_hw(rng)).collect(),
    };
    let first = draw(&mut rng);
    let mut best = cfg.evaluate(o, &first)?;
    if let Some(h) = history.as_deref_mut() {
        h.push(best.clone());
    }
    for _ in 1..cfg.budget.max(1) {
        // A caller that can be interrupted (Ctrl-C from Python) is asked between evaluations.
        if archsim_sim::cancel::requested() {
            return Err(archsim_sim::cancel::MESSAGE.into());
        }
        let p = if rng.random_range(0..5) == 0 {
            draw(&mut rng)
        } else {
            let mut p = best.point.clone();
            // One to three genes at once, so a network and the hardware that fits it can
            // change together.
            for _ in 0..rng.random_range(1..=3) {
                let t = rng.random_range(0..n);
                let gene = rng.random_range(0..if fixed_nets.is_some() { 4 } else { 6 });
                match gene {
                    0..=3 => {
                        let fresh = cfg.random_hw(&mut rng);
                        p.hw[t][gene] = fresh[gene];
                    }
                    _ => p.nets[t] = mutate_net(cfg.network, o, &index_of, p.nets[t], &mut rng),
                }
            }
            p
        };
        let r = cfg.evaluate(o, &p)?;
        if let Some(h) = history.as_deref_mut() {
            h.push(r.clone());
        }
        if better(&r.eval, &best.eval) {
            best = r;
        }
    }
    Ok(best)
}


/// A neighbour of network `i`: half the time one choice changed (when the result is in the
/// oracle), else a uniformly random network.
fn mutate_net(
    space: NetSpace,
    o: &dyn AccuracyOracle,
    index_of: &HashMap<&str, usize>,
    i: usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    if rng.random_range(0..2) == 0 {
        if let Some(j) = space
            .neighbour(o.arch(i), rng)
            .and_then(|a| index_of.get(a.as_str()).copied())
        {
            return j;
        }
    }
    rng.random_range(0..o.len())
}

/// Co-exploration: networks and hardware in one space.
pub fn co_explore(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    search(cfg, o, None, None)
}

/// [`co_explore`], also returning every evaluated point in order.
pub fn co_explore_history(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
) -> Result<(CoResult, Vec<CoResult>), String> {
    let mut h = Vec::with_capacity(cfg.budget);
    let best = search(cfg, o, None, Some(&mut h))?;
    Ok((best, h))
}

/// [`successive`], also returning every evaluated point in order.
pub fn successive_history(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
) -> Result<(CoResult, Vec<CoResult>), String> {
    let mut h = Vec::with_capacity(cfg.budget);
    let best = search(cfg, o, Some(most_accurate(cfg, o)?), Some(&mut h))?;
    Ok((best, h))
}

/// The objectives of the Pareto front: weighted accuracy (maximized), the largest task latency
/// in ms and the energy in mJ (both minimized).
pub fn pareto_objectives(e: &CoEval) -> (f64, f64, f64) {
    let lat = e.latency_ms.iter().copied().fold(0.0, f64::max);
    (e.weighted_accuracy, lat, e.energy_mj)
}

/// Indices of the non-dominated points among `results` that meet every spec, on
/// [`pareto_objectives`]: a point is dropped when another is at least as good in all three and
/// better in one. Of identical objective vectors the first is kept. Sorted by latency.
pub fn pareto_front(results: &[CoResult]) -> Vec<usize> {
    let obj: Vec<(usize, (f64, f64, f64))> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.eval.violations.is_empty())
        .map(|(i, r)| (i, pareto_objectives(&r.eval)))
        .collect();
    let dominates = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        a.0 >= b.0 && a.1 <= b.1 && a.2 <= b.2 && (a.0 > b.0 || a.1 < b.1 || a.2 < b.2)
    };
    let mut front: Vec<usize> = obj
        .iter()
        .enumerate()
        .filter(|&(k, &(_, a))| {
            !obj.iter()
                .enumerate()
                .any(|(j, &(_, b))| dominates(b, a) || (b == a && j < k))
        })
        .map(|(_, &(i, _))| i)
        .collect();
    front.sort_by(|&a, &b| {
        let (x, y) = (
            pareto_objectives(&results[a].eval),
            pareto_objectives(&results[b].eval),
        );
        x.1.total_cmp(&y.1)
            .then(y.0.total_cmp(&x.0))
            .then(a.cmp(&b))
    });
    front
}

/// The successive flow: the most accurate network of each task first (ties: lowest index),
/// then the best hardware for them. With a function oracle ([`FnOracle`]) this asks for the accuracy of every network.
pub fn successive(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    search(cfg, o, Some(most_accurate(cfg, o)?), None)
}

/// The most accurate network of each task (ties: lowest index).
fn most_accurate(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<Vec<usize>, String> {
    let mut nets = Vec::new();
    for t in &cfg.tasks {
        let mut best: Option<(usize, f64)> = None;
        for i in 0..o.len() {
            let a = o.accuracy(i, &t.dataset)?;
            if best.is_none_or(|(_, b)| a > b) {
                best = Some((i, a));
            }
        }
        nets.push(best.map_or(0, |(i, _)| i));
    }
    Ok(nets)
}

//! `archsim run` of a config with a `codesign:` section: NASAIC's comparison of
//! co-exploration against successive search (see [`archsim_gym::codesign`]).
//!
//! Writes `comparison.csv` (one row per method: spec violations, per-task accuracy and latency,
//! energy, area, networks and sub-accelerators) and `summary.md` into the output folder, and
//! the accuracy/latency/energy trade-off of every design both searches evaluated:
//! `history.csv` (one row per evaluation), `pareto.csv` (the non-dominated designs that meet
//! the specs, see [`pareto_front`]) and `pareto.png`/`.svg` (accuracy against the largest task
//! latency and against energy).

use std::fmt::Write as _;
use std::path::Path;

use archsim_gym::codesign::{
    co_explore_history, pareto_front, pareto_objectives, successive_history, CoDesignConfig,
    CoResult, CsvOracle,
};

use crate::{ConfigError, Error};

fn cfg_error(file: &str, key: &str, message: String) -> Error {
    Error::Config(ConfigError {
        file: file.to_string(),
        location: None,
        key: Some(key.to_string()),
        from_override: None,
        message,
    })
}

/// Parses the `codesign:` section of `value` (the whole config file as a value), after
/// applying `--set a.b.c=VALUE` overrides (the value is read as YAML).
pub fn parse(
    value: &serde_json::Value,
    file: &str,
    set: &[String],
) -> Result<CoDesignConfig, Error> {
    let mut value = value.clone();
    crate::config::apply_overrides(&mut value, file, set)?;
    let section = value
        .get("codesign")
        .cloned()
        .ok_or_else(|| cfg_error(file, "codesign", "missing".into()))?;
    let cfg: CoDesignConfig = serde_path_to_error::deserialize(section).map_err(|e| {
        cfg_error(
            file,
            &format!("codesign.{}", e.path()),
            e.inner().to_string(),
        )
    })?;
    cfg.validate().map_err(|m| cfg_error(file, "codesign", m))?;
    Ok(cfg)
}

/// Runs both searches and writes the comparison into `dir`; returns `[co-exploration,
/// successive]`.
pub fn run(cfg: &CoDesignConfig, base_dir: &Path, dir: &Path) -> Result<[CoResult; 2], Error> {
    let oracle_path = base_dir.join(&cfg.oracle);
    let oracle = CsvOracle::from_path(&oracle_path).map_err(Error::File)?;
    let model = |m: String| Error::Io {
        path: "codesign".into(),
        message: m,
    };
    let (co, co_hist) = co_explore_history(cfg, &oracle).map_err(model)?;
    let (succ, succ_hist) = successive_history(cfg, &oracle).map_err(model)?;
    // A metric that is not a number would be written as `null` or `inf`: the run failed.
    crate::finite::check(&(&co, &succ, &co_hist, &succ_hist), "the co-design run")?;
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
pub fn replot(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
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
    let value: serde_json::Value = serde_saphyr::from_str(&read("config.yaml")?)
        .map_err(|e| cfg_error(&cfg_file, "codesign", e.to_string()))?;
    let cfg = parse(&value, &cfg_file, &[])?;
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
    use archsim_gym::codesign::AccuracyOracle;
    o.len()
}

//! `archsim run` on a config with a `search:` section: an optimizer walks the design space,
//! evaluations run in parallel batches (rayon), and the run writes `report.json` (best point,
//! history, Pareto set), `history.csv` and plots.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use archsim_agents::{run_search, Point, SearchConfig, SearchResult};
use archsim_gym::{DesignSpace, Problem, METRICS};

use crate::{Config, Error};

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::Config(crate::ConfigError {
        file: "search".into(),
        location: None,
        key: None,
        from_override: None,
        message: e.to_string(),
    })
}

/// The problem a search config describes: the base config varied by `search.space`.
pub fn problem(cfg: &Config, search: &SearchConfig, base_dir: &Path) -> Result<Problem, Error> {
    let space = DesignSpace::from_map("search.space", &search.space).map_err(bad)?;
    let base = serde_json::to_value(cfg).map_err(bad)?;
    Problem::new(base, space, base_dir).map_err(bad)
}

/// Evaluates a batch in parallel; results come back in the batch's order.
pub fn evaluate_parallel(problem: &Problem, points: &[Point]) -> Vec<Result<Vec<f64>, String>> {
    points
        .par_iter()
        .map(|p| {
            problem
                .evaluate(p)
                .map_err(|e| e.to_string())
                .and_then(|e| e.metrics)
        })
        .collect()
}

/// Runs the search with a progress bar on stderr.
pub fn run(cfg: &Config, search: &SearchConfig, base_dir: &Path) -> Result<SearchResult, Error> {
    let problem = problem(cfg, search, base_dir)?;
    let bar = indicatif::ProgressBar::new(search.budget as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} evaluations, {elapsed} elapsed",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!(
        "search {}",
        search
            .agent
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("?")
    ));
    let mut progress = |done: usize, _budget: usize| bar.set_position(done as u64);
    let r = run_search(&problem, search, &evaluate_parallel, &mut progress).map_err(bad);
    bar.finish_and_clear();
    r
}

/// Writes `config.yaml`, `report.json`, `history.csv`, `best_so_far.{png,svg}` and, with two
/// objectives, `pareto.{png,svg}`.
pub fn write(
    cfg: &Config,
    search: &SearchConfig,
    result: &SearchResult,
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut files = Vec::new();
    let mut resolved = serde_json::to_value(cfg).map_err(bad)?;
    if let Value::Object(m) = &mut resolved {
        m.insert("search".into(), serde_json::to_value(search).map_err(bad)?);
    }
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        serde_saphyr::to_string(&resolved).map_err(|e| io(&p, e))?,
    )
    .map_err(|e| io(&p, e))?;
    files.push(p);
    let p = dir.join("report.json");
    let mut json = serde_json::to_string_pretty(result).map_err(bad)?;
    json.push('\n');
    std::fs::write(&p, json).map_err(|e| io(&p, e))?;
    files.push(p);
    let p = dir.join("history.csv");
    write_history(search, result, &p)?;
    files.push(p);
    best_so_far_plot(result, dir).map_err(|e| io(dir, e))?;
    files.push(dir.join("best_so_far.png"));
    files.push(dir.join("best_so_far.svg"));
    if search.objectives.len() == 2 {
        pareto_plot(search, result, dir).map_err(|e| io(dir, e))?;
        files.push(dir.join("pareto.png"));
        files.push(dir.join("pareto.svg"));
    }
    Ok(files)
}

fn write_history(search: &SearchConfig, r: &SearchResult, path: &Path) -> Result<(), Error> {
    let mut w = csv::Writer::from_path(path).map_err(|e| io(path, e))?;
    let params: Vec<&String> = search.space.keys().collect();
    let mut header = vec!["eval".to_string()];
    header.extend(params.iter().map(|p| p.to_string()));
    header.extend(METRICS.iter().map(|m| m.to_string()));
    header.extend(["feasible", "cost", "reason"].map(String::from));
    w.write_record(&header).map_err(|e| io(path, e))?;
    for h in &r.history {
        let mut row = vec![h.eval.to_string()];
        row.extend(
            params
                .iter()
                .map(|p| h.point.get(*p).map_or_else(String::new, value_str)),
        );
        row.extend(
            METRICS
                .iter()
                .map(|m| h.metrics.get(*m).map_or_else(String::new, value_str)),
        );
        row.push(h.feasible.to_string());
        row.push(h.cost.map_or_else(String::new, |c| c.to_string()));
        row.push(h.reason.clone().unwrap_or_default());
        w.write_record(&row).map_err(|e| io(path, e))?;
    }
    w.flush().map_err(|e| io(path, e))
}

fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn best_so_far_plot(r: &SearchResult, dir: &Path) -> Result<(), String> {
    let mut best = f64::INFINITY;
    let pts: Vec<(f64, f64)> = r
        .history
        .iter()
        .filter_map(|h| {
            if let Some(c) = h.cost {
                best = best.min(c);
            }
            best.is_finite().then_some((h.eval as f64, best))
        })
        .collect();
    let title = format!("{} search (seed {}): best cost so far", r.agent, r.seed);
    crate::plot::lines(
        &[(r.agent.clone(), pts)],
        &title,
        "evaluations",
        "cost (weighted objectives)",
        dir,
        "best_so_far",
    )
}

fn pareto_plot(search: &SearchConfig, r: &SearchResult, dir: &Path) -> Result<(), String> {
    let all: Vec<(f64, f64)> = r
        .history
        .iter()
        .filter(|h| h.feasible && h.objectives.len() == 2)
        .map(|h| (h.objectives[0], h.objectives[1]))
        .collect();
    let mut front: Vec<(f64, f64)> = r
        .pareto
        .iter()
        .flatten()
        .map(|h| (h.objectives[0], h.objectives[1]))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    let title = format!(
        "{} search: {} feasible designs, {} on the Pareto front",
        r.agent,
        all.len(),
        front.len()
    );
    crate::plot::pareto(
        &all,
        &front,
        &title,
        &search.objectives[0].metric,
        &search.objectives[1].metric,
        dir,
        "pareto",
    )
}

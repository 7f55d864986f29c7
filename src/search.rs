//! `archsim run` on a config with a `search:` section: an optimizer walks the design space,
//! evaluations run in parallel batches (rayon), and the run writes `report.json` (best point,
//! history, Pareto set), `history.csv` and plots.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use archsim_agents::{run_search, HistoryRow, Point, SearchConfig, SearchResult};
use archsim_gym::{DesignSpace, EvaluatorKind, Problem};

use archsim_workloads::input::InputKind;

use crate::{Config, Error};

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::Config(crate::ConfigError::new("search", e.to_string()))
}

/// The problem a search config describes: the base config varied by `search.space`.
pub fn problem(cfg: &Config, search: &SearchConfig, base_dir: &Path) -> Result<Problem, Error> {
    problem_of(serde_json::to_value(cfg).map_err(bad)?, search, base_dir)
}

/// The problem of a search over any base config (a simulation config, or a serving config
/// whose fleet the search sizes), as `serde_json::to_value` of the loaded config gives it.
pub fn problem_of(base: Value, search: &SearchConfig, base_dir: &Path) -> Result<Problem, Error> {
    let space = DesignSpace::from_map("search.space", &search.space).map_err(bad)?;
    Problem::new(base, space, base_dir).map_err(bad)
}

/// The problem and `search:` section of a search config given as text, in any form: a
/// simulation config, a training config whose layout the search picks, or a serving config
/// whose fleet the search sizes (the form
/// `archsim run` picks, [`crate::serve::is_serving`]). `None` when the config has no
/// `search:` section. Errors are located in the text, or name the `--set` override.
pub fn load_problem(
    text: &str,
    file: &str,
    overrides: &[String],
    base_dir: &Path,
) -> Result<Option<(Problem, SearchConfig)>, Error> {
    let doc = serde_saphyr::from_str::<Value>(text).ok();
    let serving = doc.as_ref().is_some_and(crate::serve::is_serving);
    let training = doc.as_ref().is_some_and(|v| {
        !serving && crate::training::is_training(v) && crate::training::has_search(v)
    });
    if training {
        let (doc, search) = crate::training::load_search(text, file, overrides)?;
        return Ok(Some((problem_of(doc, &search, base_dir)?, search)));
    }
    if serving {
        let (f, search) = crate::serve::load_search(text, file, overrides)?;
        let Some(search) = search else {
            return Ok(None);
        };
        let doc = serde_json::to_value(&f).map_err(bad)?;
        return Ok(Some((problem_of(doc, &search, base_dir)?, search)));
    }
    let (cfg, _, search) = crate::config::load_full(text, file, overrides)?;
    match search {
        Some(search) => Ok(Some((problem(&cfg, &search, base_dir)?, search))),
        None => Ok(None),
    }
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

/// Most points one [`evaluate_batch`] call takes (the results are held in memory).
pub const MAX_BATCH: usize = 1_000_000;

/// The columns of a batch evaluation, one entry per point in the batch's order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchColumns {
    /// Every metric of the problem ([`archsim_gym::METRICS`] for a simulation,
    /// [`archsim_gym::SERVING_METRICS`] for a serving config), by name (NaN where the point was
    /// not evaluated, and for a metric the config does not produce, e.g. `tpot_s` of a CNN).
    pub metrics: Vec<(&'static str, Vec<f64>)>,
    /// Evaluated, fitting the device, and within every constraint of `search.constraints`.
    pub feasible: Vec<bool>,
    /// Why not feasible (empty when feasible).
    pub reason: Vec<String>,
}

/// One point of a batch: the value of each dimension of `search.space`, or its index into the
/// dimension's domain (as a gym action).
#[derive(Debug, Clone, PartialEq)]
pub enum BatchPoint {
    /// Values in the order of the space's dimensions.
    Values(Vec<Value>),
    /// Indices into the domains, in the order of the space's dimensions.
    Indices(Vec<i64>),
}

/// Evaluates `points` of the search problem in parallel (rayon) and returns the columns: every
/// metric, feasibility (constraints and the config's own requirements, a serving SLO,
/// included) and the reason. A point that cannot be
/// evaluated — an impossible design, a value outside its domain — is an infeasible row with its
/// reason; only the problem itself (the config) is an error.
pub fn evaluate_batch(
    problem: &Problem,
    search: &SearchConfig,
    points: &[BatchPoint],
) -> Result<BatchColumns, Error> {
    // (metrics when evaluated, why not feasible)
    let one = |p: &BatchPoint| -> (Option<Vec<f64>>, Option<String>) {
        let eval = match p {
            BatchPoint::Values(v) => {
                let n = problem.space().nvec().len();
                if v.len() != n {
                    let why = format!(
                        "a point needs {n} values, one per search.space dimension; got {}",
                        v.len()
                    );
                    return (None, Some(why));
                }
                problem.evaluate_values(v)
            }
            // By index: the evaluator's setters by domain index, where it has them.
            BatchPoint::Indices(i) => match problem.evaluate(i) {
                Ok(e) => e,
                Err(e) => return (None, Some(e.to_string())),
            },
        };
        let m = match eval.metrics {
            Ok(m) => m,
            Err(e) => return (None, Some(e)),
        };
        // A design outside the constraints keeps its metrics and is marked infeasible.
        let names = problem.metric_names();
        let broken: Vec<String> = problem
            .infeasible(&m)
            .into_iter()
            .chain(search.constraints.iter().filter_map(|c| {
                let k = names.iter().position(|n| *n == c.metric)?;
                (c.violation(m[k]) > 0.0).then(|| format!("violates {} ({})", c.describe(), m[k]))
            }))
            .collect();
        let why = (!broken.is_empty()).then(|| broken.join("; "));
        (Some(m), why)
    };
    // In chunks, so that a caller that can be interrupted (Ctrl-C from Python) is asked
    // between them; the rows come out in the points' order either way.
    let mut results: Vec<(Option<Vec<f64>>, Option<String>)> = Vec::with_capacity(points.len());
    for chunk in points.chunks(BATCH_CHUNK) {
        if archsim_sim::cancel::requested() {
            return Err(Error::Cancelled);
        }
        results.extend(chunk.par_iter().map(one).collect::<Vec<_>>());
    }
    let mut cols = BatchColumns {
        metrics: problem
            .metric_names()
            .iter()
            .map(|&n| (n, Vec::with_capacity(points.len())))
            .collect(),
        feasible: Vec::with_capacity(points.len()),
        reason: Vec::with_capacity(points.len()),
    };
    for (m, why) in results {
        for (k, col) in cols.metrics.iter_mut().enumerate() {
            col.1.push(m.as_ref().map_or(f64::NAN, |m| m[k]));
        }
        cols.feasible.push(why.is_none());
        cols.reason.push(why.unwrap_or_default());
    }
    Ok(cols)
}

/// Points of a batch evaluated between two checks for an interruption.
const BATCH_CHUNK: usize = 4096;

/// The points of a batch as a caller gives them (Python's `archsim.evaluate_batch`), checked
/// against the problem's space: `mappings` a JSON list of objects (`search.space` path → value,
/// every dimension once, each value in its domain), or `indices` one row per point (one index
/// per dimension, each in its domain's range) — exactly one of the two. A point that breaks
/// this, or more than [`MAX_BATCH`] points, is an error of `file` at the key `points` naming
/// the point; a design that cannot be evaluated is no error here (it is an infeasible row).
pub fn batch_points(
    problem: &Problem,
    file: &str,
    mappings: Option<&str>,
    indices: Option<Vec<Vec<i64>>>,
) -> Result<Vec<BatchPoint>, Error> {
    let bad =
        |message: String| Error::Config(crate::ConfigError::new(file, message).with_key("points"));
    let params = &problem.space().params;
    let paths = || {
        params
            .iter()
            .map(|p| p.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let points: Vec<BatchPoint> = match (mappings, indices) {
        (Some(j), None) => {
            let list: Vec<serde_json::Map<String, Value>> = serde_json::from_str(j)
                .map_err(|e| bad(format!("points must be a list of mappings: {e}")))?;
            list.into_iter()
                .enumerate()
                .map(|(n, mut m)| {
                    if let Some(k) = m.keys().find(|k| !params.iter().any(|p| p.path == **k)) {
                        return Err(bad(format!(
                            "point {n}: `{k}` is not a dimension of search.space (known: {})",
                            paths()
                        )));
                    }
                    let values = params
                        .iter()
                        .map(|p| {
                            let v = m.remove(&p.path).ok_or_else(|| {
                                bad(format!("point {n} has no value for `{}`", p.path))
                            })?;
                            if p.domain.contains(&v) {
                                Ok(v)
                            } else {
                                Err(bad(format!(
                                    "point {n}: `{}` = {v} is outside its domain ({})",
                                    p.path,
                                    p.domain.describe()
                                )))
                            }
                        })
                        .collect::<Result<Vec<Value>, _>>()?;
                    Ok(BatchPoint::Values(values))
                })
                .collect::<Result<_, _>>()?
        }
        (None, Some(rows)) => {
            for (n, row) in rows.iter().enumerate() {
                if row.len() != params.len() {
                    return Err(bad(format!(
                        "point {n} has {} indices; the space has {} dimensions ({})",
                        row.len(),
                        params.len(),
                        paths()
                    )));
                }
                for (p, &i) in params.iter().zip(row) {
                    if u64::try_from(i).map_or(true, |i| i >= p.domain.len()) {
                        return Err(bad(format!(
                            "point {n}: index {i} of `{}` is outside 0..{}",
                            p.path,
                            p.domain.len() - 1
                        )));
                    }
                }
            }
            rows.into_iter().map(BatchPoint::Indices).collect()
        }
        _ => return Err(bad("give points as mappings or as index rows".into())),
    };
    if points.len() > MAX_BATCH {
        return Err(bad(format!(
            "{} points is more than the limit of {MAX_BATCH} (MAX_BATCH); split the batch",
            points.len()
        )));
    }
    Ok(points)
}

/// A batch evaluation of a search config: the space's dimensions (paths and sizes) and the
/// columns of its points ([`evaluate_batch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRun {
    /// The `search.space` paths, in the order of a point's values.
    pub paths: Vec<String>,
    /// The number of values of each dimension.
    pub sizes: Vec<u64>,
    /// One row per point.
    pub columns: BatchColumns,
}

/// Evaluates a batch of points of the search config `text` (a simulation config, or a serving
/// config whose fleet the space sizes: [`load_problem`]), the points given as
/// [`batch_points`] takes them. A config without a `search:` section is an error naming it.
pub fn evaluate_batch_config(
    text: &str,
    file: &str,
    overrides: &[String],
    base_dir: &Path,
    mappings: Option<&str>,
    indices: Option<Vec<Vec<i64>>>,
) -> Result<BatchRun, Error> {
    let (problem, search) = load_problem(text, file, overrides, base_dir)?.ok_or_else(|| {
        Error::Config(
            crate::ConfigError::new(
                file,
                "missing: evaluate_batch needs a `search:` section (its space names the \
                      points' dimensions, its constraints decide feasibility)",
            )
            .with_key("search"),
        )
    })?;
    let points = batch_points(&problem, file, mappings, indices)?;
    let columns = evaluate_batch(&problem, &search, &points)?;
    Ok(BatchRun {
        paths: problem
            .space()
            .params
            .iter()
            .map(|p| p.path.clone())
            .collect(),
        sizes: problem.space().nvec(),
        columns,
    })
}

/// Runs the search of the config `text` (a simulation config with a `search:` section) without
/// a progress bar, evaluations in parallel batches, as Python's `archsim.search` does. A config
/// without a `search:` section is an error naming the key.
pub fn run_text(
    text: &str,
    file: &str,
    overrides: &[String],
    base_dir: &Path,
) -> Result<SearchResult, Error> {
    let (cfg, _, search) = crate::config::load_full(text, file, overrides)?;
    let search = search.ok_or_else(|| {
        Error::Config(
            crate::ConfigError::new(file, "missing: a search config needs a `search:` section")
                .with_key("search"),
        )
    })?;
    let problem = problem(&cfg, &search, base_dir)?;
    let mut quiet = |_: usize, _: usize| {};
    run_search(&problem, &search, &evaluate_parallel, &mut quiet)
        .map_err(|e| Error::Config(crate::ConfigError::new(file, e.to_string())))
}

/// Runs the search with a progress bar on stderr.
pub fn run(cfg: &Config, search: &SearchConfig, base_dir: &Path) -> Result<SearchResult, Error> {
    run_value(serde_json::to_value(cfg).map_err(bad)?, search, base_dir)
}

/// [`run`] on any base config ([`problem_of`]): a simulation config, or a serving config
/// whose fleet the search sizes.
pub fn run_value(
    base: Value,
    search: &SearchConfig,
    base_dir: &Path,
) -> Result<SearchResult, Error> {
    let problem = problem_of(base, search, base_dir)?;
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
    if let Ok(Some(why)) = r.as_ref().map(|r| r.stopped.as_ref()) {
        eprintln!("search stopped before its budget: {why}");
    }
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
    write_value(
        &serde_json::to_value(cfg).map_err(bad)?,
        search,
        result,
        dir,
    )
}

/// [`write`] for any base config (a serving config's search too): `history.csv` has a column
/// per metric of the base's evaluator ([`EvaluatorKind::metrics`]).
pub fn write_value(
    base: &Value,
    search: &SearchConfig,
    result: &SearchResult,
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    crate::files::create_dir(dir)?;
    let mut files = Vec::new();
    let mut resolved = base.clone();
    if let Value::Object(m) = &mut resolved {
        m.insert("search".into(), serde_json::to_value(search).map_err(bad)?);
    }
    let p = dir.join("config.yaml");
    crate::files::write(
        &p,
        serde_saphyr::to_string(&resolved).map_err(|e| io(&p, e))?,
    )?;
    files.push(p);
    let p = dir.join("report.json");
    let mut json = serde_json::to_string_pretty(result).map_err(bad)?;
    json.push('\n');
    crate::files::write(&p, json)?;
    files.push(p);
    let p = dir.join("history.csv");
    write_history(EvaluatorKind::of(base).metrics(), search, result, &p)?;
    files.push(p);
    best_so_far_plot(search, result, dir).map_err(Error::File)?;
    files.push(dir.join("best_so_far.png"));
    files.push(dir.join("best_so_far.svg"));
    if search.objectives.len() == 2 {
        pareto_plot(search, result, dir).map_err(Error::File)?;
        files.push(dir.join("pareto.png"));
        files.push(dir.join("pareto.svg"));
    }
    Ok(files)
}

/// Redraws the plots of a finished search from the files it wrote in `dir` (`config.yaml`
/// with its `search:` section, `report.json`); returns the files written.
pub fn replot(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read = |name: &str| {
        let p = dir.join(name);
        let kind = if name.ends_with(".json") {
            InputKind::Json
        } else {
            InputKind::Config
        };
        crate::files::read_text(&p, kind)
    };
    let located = |file: &Path, key: &str, message: String| {
        Error::Config(crate::ConfigError::new(file.display().to_string(), message).with_key(key))
    };
    let cfg_path = dir.join("config.yaml");
    let value: Value = serde_saphyr::from_str(&read("config.yaml")?)
        .map_err(|e| located(&cfg_path, "search", e.to_string()))?;
    let search: SearchConfig =
        serde_json::from_value(value.get("search").cloned().unwrap_or_default())
            .map_err(|e| located(&cfg_path, "search", e.to_string()))?;
    let report_path = dir.join("report.json");
    let result: SearchResult = serde_json::from_str(&read("report.json")?)
        .map_err(|e| located(&report_path, "report", format!("not a search report: {e}")))?;
    let mut files = Vec::new();
    best_so_far_plot(&search, &result, dir).map_err(Error::File)?;
    files.push(dir.join("best_so_far.png"));
    files.push(dir.join("best_so_far.svg"));
    if search.objectives.len() == 2 {
        pareto_plot(&search, &result, dir).map_err(Error::File)?;
        files.push(dir.join("pareto.png"));
        files.push(dir.join("pareto.svg"));
    }
    Ok(files)
}

pub use crate::plot::eng;

/// A metric for people: its name and its value in its own unit, e.g. `latency 4.829 ms`,
/// `area 7.298 mm2`, `utilization 87.5 %`.
pub fn metric_text(metric: &str, value: f64) -> String {
    let four = |v: f64| {
        if v == 0.0 || !v.is_finite() {
            return v.to_string();
        }
        let d = (3 - v.abs().log10().floor() as i32).clamp(0, 3) as usize;
        format!("{v:.d$}")
    };
    match metric {
        "latency_s" => format!("latency {}", eng(value, "s")),
        "energy_j" => format!("energy {}", eng(value, "J")),
        "area_mm2" => format!("area {} mm2", four(value)),
        "power_w" => format!("power {}", eng(value, "W")),
        "utilization" => format!("utilization {:.1} %", value * 100.0),
        "total_cycles" => format!("{value} cycles"),
        "edp_js" => format!("EDP {}", eng(value, "J*s")),
        "dram_bytes" => format!("DRAM traffic {}", eng(value, "B")),
        "ttft_s" => format!("TTFT {}", eng(value, "s")),
        "tpot_s" => format!("TPOT {}", eng(value, "s")),
        "decode_tokens_per_s" => format!("decode {} tokens/s", four(value)),
        "cost_per_hour" => format!("cost ${}/h", four(value)),
        "cost_per_mtok" => format!("${} per M output tokens", four(value)),
        "slo_attainment" => format!("SLO attainment {:.1} %", value * 100.0),
        "slo_met" => (if value >= 0.5 {
            "meets the SLO"
        } else {
            "misses the SLO"
        })
        .into(),
        "goodput_rps" => format!("goodput {} req/s", four(value)),
        "throughput_rps" => format!("throughput {} req/s", four(value)),
        "tokens_per_s" => format!("{} output tokens/s", four(value)),
        "preemptions" => format!("{value} preemptions"),
        "replicas" => format!("{value} replicas"),
        "devices" => format!("{value} devices"),
        m if m.ends_with("_s")
            && (m.starts_with("ttft_") || m.starts_with("tpot_") || m.starts_with("e2e_")) =>
        {
            let (what, q) = m.trim_end_matches("_s").split_once('_').unwrap_or((m, ""));
            format!("{} {q} {}", what.to_uppercase(), eng(value, "s"))
        }
        other => format!("{other} {value}"),
    }
}

fn point_text(point: &serde_json::Map<String, Value>) -> String {
    point
        .iter()
        .map(|(k, v)| format!("{k}: {}", value_str(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `archsim run` prints of a finished search: the counts, then the best design with its
/// objective in its unit (one objective), or the Pareto front with each objective of each
/// design in its own unit (several objectives; their weighted sum, the `cost` of report.json,
/// adds unlike units and is not shown).
pub fn summary(search: &SearchConfig, r: &SearchResult) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let feasible = r.history.iter().filter(|h| h.feasible).count();
    let _ = writeln!(
        out,
        "{} search, seed {}: {} evaluations, {} feasible",
        r.agent,
        r.seed,
        r.history.len(),
        feasible
    );
    let metrics = |h: &HistoryRow, names: &mut dyn Iterator<Item = &String>| -> String {
        names
            .filter_map(|m| Some(metric_text(m, h.metrics.get(m)?.as_f64()?)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &r.pareto {
        None => match &r.best {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "best (evaluation {}): {}",
                    b.eval,
                    metrics(b, &mut search.objectives.iter().map(|o| &o.metric))
                );
                for (k, v) in &b.point {
                    let _ = writeln!(out, "  {k:<36} {}", value_str(v));
                }
                if !search.constraints.is_empty() {
                    let within = search
                        .constraints
                        .iter()
                        .filter_map(|c| {
                            let v = b.metrics.get(&c.metric)?.as_f64()?;
                            Some(format!("{} ({})", metric_text(&c.metric, v), c.describe()))
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    let _ = writeln!(out, "  within: {within}");
                }
            }
            None => out.push_str("no feasible design found\n"),
        },
        Some(front) if front.is_empty() => out.push_str("no feasible design found\n"),
        Some(front) => {
            let goals: Vec<String> = search
                .objectives
                .iter()
                .map(|o| {
                    let g = if o.goal == archsim_gym::Goal::Max {
                        "max"
                    } else {
                        "min"
                    };
                    format!("{} {g}", o.metric)
                })
                .collect();
            let mut rows: Vec<&HistoryRow> = front.iter().collect();
            let first = |h: &HistoryRow| {
                let v = h.objectives.first().copied().unwrap_or(f64::NAN);
                if search.objectives[0].goal == archsim_gym::Goal::Max {
                    -v
                } else {
                    v
                }
            };
            rows.sort_by(|a, b| first(a).total_cmp(&first(b)).then(a.eval.cmp(&b.eval)));
            let _ = writeln!(
                out,
                "Pareto front ({}): {} design{}",
                goals.join(", "),
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            );
            for h in rows {
                let _ = writeln!(
                    out,
                    "  evaluation {}: {}",
                    h.eval,
                    metrics(h, &mut search.objectives.iter().map(|o| &o.metric))
                );
                let _ = writeln!(out, "    {}", point_text(&h.point));
            }
        }
    }
    out
}

fn write_history(
    names: &[&str],
    search: &SearchConfig,
    r: &SearchResult,
    path: &Path,
) -> Result<(), Error> {
    let mut w = crate::files::csv_writer(path)?;
    let params: Vec<&String> = search.space.keys().collect();
    let mut header = vec!["eval".to_string()];
    header.extend(params.iter().map(|p| p.to_string()));
    header.extend(names.iter().map(|m| m.to_string()));
    // With several objectives, each is a column of its own (the metrics) and the design's
    // Pareto rank stands where one objective's cost would: a weighted sum of unlike units
    // means nothing to read.
    let multi = search.objectives.len() > 1;
    let rank_or_cost = if multi { "pareto_rank" } else { "cost" };
    header.extend(["feasible", rank_or_cost, "reason"].map(String::from));
    w.write_record(&header).map_err(|e| io(path, e))?;
    for h in &r.history {
        let mut row = vec![h.eval.to_string()];
        row.extend(
            params
                .iter()
                .map(|p| h.point.get(*p).map_or_else(String::new, value_str)),
        );
        row.extend(
            names
                .iter()
                .map(|m| h.metrics.get(*m).map_or_else(String::new, value_str)),
        );
        row.push(h.feasible.to_string());
        row.push(if multi {
            h.pareto_rank.map_or_else(String::new, |k| k.to_string())
        } else {
            h.cost.map_or_else(String::new, |c| c.to_string())
        });
        row.push(h.reason.clone().unwrap_or_default());
        w.write_record(&row).map_err(|e| io(path, e))?;
    }
    crate::files::commit_csv(w)
}

fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value axis of a metric, with its unit in parentheses where its name gives one
/// (`latency_s` → `latency (s)`, `area_mm2` → `area (mm2)`), so plot ticks carry the unit.
fn metric_axis(metric: &str) -> String {
    for (suffix, unit) in [
        ("_mm2", "mm2"),
        ("_bytes", "B"),
        ("_per_s", "1/s"),
        ("_rps", "req/s"),
        ("_js", "J*s"),
        ("_s", "s"),
        ("_j", "J"),
        ("_w", "W"),
    ] {
        if let Some(stem) = metric.strip_suffix(suffix) {
            return format!("{} ({unit})", stem.replace('_', " "));
        }
    }
    metric.replace('_', " ")
}

/// `best_so_far.{png,svg}`: per objective, its best value among the feasible evaluations so
/// far (in its own unit; with several objectives one panel each, never their sum), or a
/// "no feasible design" panel.
fn best_so_far_plot(search: &SearchConfig, r: &SearchResult, dir: &Path) -> Result<(), String> {
    let last = r.history.last().map_or(0.0, |h| h.eval as f64);
    let panels: Vec<crate::plot::BestPanel> = search
        .objectives
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let max = o.goal == archsim_gym::Goal::Max;
            let mut best: Option<f64> = None;
            let mut steps: Vec<(f64, f64)> = Vec::new();
            for h in r.history.iter().filter(|h| h.feasible) {
                let Some(&v) = h.objectives.get(k) else {
                    continue;
                };
                let better = best.is_none_or(|b| if max { v > b } else { v < b });
                if better {
                    best = Some(v);
                    steps.push((h.eval as f64, v));
                }
            }
            if let Some(b) = best {
                if steps.last().is_some_and(|s| s.0 < last) {
                    steps.push((last, b));
                }
            }
            crate::plot::BestPanel {
                title: format!("{} ({})", o.metric, if max { "max" } else { "min" }),
                y_desc: metric_axis(&o.metric),
                steps,
            }
        })
        .collect();
    let title = if panels.len() > 1 {
        format!(
            "{} search (seed {}): best of each objective so far (each may be another design)",
            r.agent, r.seed
        )
    } else {
        format!("{} search (seed {}): best so far", r.agent, r.seed)
    };
    let empty = format!(
        "no feasible design\n{} evaluation{}, none feasible: the reasons are in history.csv",
        r.history.len(),
        if r.history.len() == 1 { "" } else { "s" }
    );
    crate::plot::best_so_far(&panels, &title, &empty, dir, "best_so_far")
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

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_gym::{METRICS, SERVING_METRICS};

    #[test]
    fn engineering_notation_has_four_digits_and_a_prefix() {
        for (v, unit, want) in [
            (0.004829424, "s", "4.829 ms"),
            (1.234e-3, "s", "1.234 ms"),
            (12.5e-6, "s", "12.50 us"),
            (0.9999999, "s", "1.000 s"),
            (999.97e-6, "J", "1.000 mJ"),
            (3.0, "W", "3.000 W"),
            (1.5e7, "B", "15.00 MB"),
            (0.0, "s", "0 s"),
            (-2.5e-9, "J", "-2.500 nJ"),
            (2e-20, "s", "0.000 fs"),
        ] {
            assert_eq!(eng(v, unit), want, "{v}");
        }
        assert_eq!(metric_text("area_mm2", 7.297973919999999), "area 7.298 mm2");
        assert_eq!(metric_text("area_mm2", 1234.5), "area 1234 mm2");
        assert_eq!(metric_text("utilization", 0.875), "utilization 87.5 %");
        assert_eq!(metric_text("latency_s", 0.004829424), "latency 4.829 ms");
        assert_eq!(metric_text("tpot_s", 0.0123), "TPOT 12.30 ms");
        assert_eq!(
            metric_text("decode_tokens_per_s", 1234.0),
            "decode 1234 tokens/s"
        );
        // Every metric a search can name has its unit.
        for m in METRICS.iter().chain(SERVING_METRICS) {
            assert_ne!(metric_text(m, 1.0), format!("{m} 1"), "{m} has no unit");
        }
    }

    const BO: &str = include_str!("../configs/search/resnet18_bo.yaml");

    fn bo_problem() -> Problem {
        load_problem(BO, "bo.yaml", &[], Path::new("."))
            .unwrap()
            .unwrap()
            .0
    }

    fn batch_err(mappings: Option<&str>, indices: Option<Vec<Vec<i64>>>) -> String {
        batch_points(&bo_problem(), "bo.yaml", mappings, indices)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn batch_points_read_mappings_and_index_rows() {
        let p = bo_problem();
        let pts = batch_points(
            &p,
            "bo.yaml",
            Some(
                r#"[{"accelerator.rows": 16, "accelerator.cols": 8, "accelerator.dataflow": "ws",
                     "accelerator.sram_kib.ifmap": 64, "accelerator.sram_kib.filter": 128}]"#,
            ),
            None,
        )
        .unwrap();
        // In the space's order, whatever the mapping's.
        assert_eq!(
            pts,
            vec![BatchPoint::Values(vec![
                16.into(),
                8.into(),
                "ws".into(),
                64.into(),
                128.into()
            ])]
        );
        let rows = vec![vec![0, 1, 2, 3, 4], vec![5, 5, 0, 0, 0]];
        let pts = batch_points(&p, "bo.yaml", None, Some(rows.clone())).unwrap();
        assert_eq!(
            pts,
            rows.into_iter()
                .map(BatchPoint::Indices)
                .collect::<Vec<_>>()
        );
        assert!(batch_points(&p, "bo.yaml", Some("[]"), None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_batches_name_the_point_and_the_key() {
        let full = |rows: &str| {
            format!(
                r#"[{{"accelerator.rows": {rows}, "accelerator.cols": 8, "accelerator.dataflow": "ws",
                     "accelerator.sram_kib.ifmap": 64, "accelerator.sram_kib.filter": 128}}]"#
            )
        };
        for (mappings, indices, want) in [
            (
                None,
                Some(vec![vec![1_000_000; 5]]),
                "bo.yaml: points: point 0: index 1000000 of `accelerator.rows` is outside 0..5",
            ),
            (
                None,
                Some(vec![vec![0; 5], vec![-1, 0, 0, 0, 0]]),
                "point 1: index -1 of `accelerator.rows` is outside 0..5",
            ),
            (
                None,
                Some(vec![vec![0; 5], vec![0, 0]]),
                "point 1 has 2 indices; the space has 5 dimensions (accelerator.rows, \
                 accelerator.cols, accelerator.dataflow, accelerator.sram_kib.ifmap, \
                 accelerator.sram_kib.filter)",
            ),
            (
                Some(full("48")),
                None,
                "point 0: `accelerator.rows` = 48 is outside its domain (pow2 [8, 256])",
            ),
            (
                Some(r#"[{"accelerator.rowz": 8}]"#.to_string()),
                None,
                "point 0: `accelerator.rowz` is not a dimension of search.space (known: \
                 accelerator.rows, ",
            ),
            (
                Some(r#"[{"accelerator.rows": 8}]"#.to_string()),
                None,
                "point 0 has no value for `accelerator.cols`",
            ),
            (
                Some("{}".to_string()),
                None,
                "points must be a list of mappings",
            ),
            (None, None, "give points as mappings or as index rows"),
            (
                Some("[]".to_string()),
                Some(Vec::new()),
                "give points as mappings or as index rows",
            ),
        ] {
            let err = batch_err(mappings.as_deref(), indices);
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(err.starts_with("bo.yaml: points: "), "{err}");
        }
        // The valid point of the same shape reads.
        assert_eq!(
            batch_points(&bo_problem(), "bo.yaml", Some(&full("16")), None)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_batch_run_gives_one_row_per_point_in_order() {
        let none = evaluate_batch_config(
            "workload: {model: resnet18}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\n",
            "plain.yaml",
            &[],
            Path::new("."),
            Some("[]"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            none.contains("missing: evaluate_batch needs a `search:` section"),
            "{none}"
        );
        let rows = vec![
            vec![0, 0, 0, 0, 0],
            vec![5, 5, 2, 4, 4],
            vec![0, 0, 0, 0, 0],
        ];
        let r =
            evaluate_batch_config(BO, "bo.yaml", &[], Path::new("."), None, Some(rows)).unwrap();
        assert_eq!(r.paths.len(), 5);
        assert_eq!(r.sizes, vec![6, 6, 3, 5, 5]);
        let lat = &r.columns.metrics[0];
        assert_eq!(lat.0, "latency_s");
        assert_eq!(lat.1.len(), 3);
        assert!(lat.1.iter().all(|v| v.is_finite() && *v > 0.0));
        // The same design twice, the same row.
        assert_eq!(lat.1[0], lat.1[2]);
        assert_ne!(lat.1[0], lat.1[1]);
        // Feasible exactly where the area is within the budget; otherwise the reason says so
        // and the metrics are kept.
        let area = &r
            .columns
            .metrics
            .iter()
            .find(|m| m.0 == "area_mm2")
            .unwrap()
            .1;
        for (i, &a) in area.iter().enumerate() {
            assert_eq!(r.columns.feasible[i], a <= 60.0, "row {i}");
            if r.columns.feasible[i] {
                assert_eq!(r.columns.reason[i], "");
            } else {
                assert!(r.columns.reason[i].contains("violates area_mm2 <= 60"));
            }
        }
        assert!(area[1] > area[0]);
    }
}

//! `archsim sweep CONFIG --out DIR`: run a config at many points — a grid and/or random samples
//! over any config paths — in parallel, journaling every finished point so a killed sweep
//! resumes where it stopped.
//!
//! ```yaml
//! sweep:
//!   grid:                                  # path -> list of values (cartesian product)
//!     accelerator.dataflow: [os, ws, is]
//!     accelerator.rows: [32, 64, 128]
//!   random:                                # path -> domain (as in a design space)
//!     accelerator.sram_kib.ifmap: {pow2: [64, 1024]}
//!   samples: 4                             # random draws per grid point (default 1)
//!   seed: 0
//! ```
//!
//! The rest of the file is the base config; it may itself hold a `search:` section, in which
//! case every point is a whole search (e.g. a grid over `search.agent.kind` and `search.seed`
//! compares optimizers) and the sweep prints a ranking.
//!
//! Each finished point is one line of `DIR/journal.jsonl`, written and flushed as it finishes;
//! on start the journal is read back (a torn last line from a `kill -9` is dropped) and the
//! points already there are skipped. `DIR/results.csv` is rewritten at the end from the journal,
//! in point order, so a resumed sweep gives the same table as an uninterrupted one.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_gym::{DesignSpace, METRICS};

use crate::{config, ConfigError, Error};

fn one() -> usize {
    1
}

/// The `sweep:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Config path → list of values; every combination is a point.
    #[serde(default)]
    pub grid: Map<String, Value>,
    /// Config path → domain; sampled `samples` times per grid point.
    #[serde(default)]
    pub random: Map<String, Value>,
    /// Random draws per grid point (default 1).
    #[serde(default = "one")]
    pub samples: usize,
    /// Seed of the random draws.
    #[serde(default)]
    pub seed: u64,
}

/// One line of the journal: a point and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Index of the point in the sweep's deterministic order.
    pub index: usize,
    /// The point: config path → value.
    pub point: Map<String, Value>,
    /// Metrics of a simulation, or of the best design of a search (empty on failure).
    pub metrics: Map<String, Value>,
    /// Search only: best cost and the evaluation that found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_cost: Option<f64>,
    /// Search only: evaluation number of the best design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_eval: Option<usize>,
    /// Search only: the best cost after each evaluation (for evaluations-to-target figures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<f64>,
    /// Why the point failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn bad(file: &str, key: &str, message: impl Into<String>) -> Error {
    Error::Config(ConfigError {
        file: file.into(),
        location: None,
        key: Some(key.into()),
        from_override: None,
        message: message.into(),
    })
}

/// Reads the `sweep:` section of a config text.
pub fn parse(text: &str, file: &str) -> Result<SweepConfig, Error> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| {
        bad(
            file,
            "",
            e.to_string().lines().next().unwrap_or("").to_string(),
        )
    })?;
    let s = v.get("sweep").cloned().ok_or_else(|| {
        bad(
            file,
            "sweep",
            "missing: `archsim sweep` needs a `sweep:` section",
        )
    })?;
    let cfg: SweepConfig = archsim_accelerators::config::typed(s, &["sweep"])
        .map_err(|(p, m)| bad(file, &p.join("."), m))?;
    if cfg.grid.is_empty() && cfg.random.is_empty() {
        return Err(bad(file, "sweep", "give `grid:` and/or `random:`"));
    }
    for (k, v) in &cfg.grid {
        if v.as_array().is_none_or(|a| a.is_empty()) {
            return Err(bad(
                file,
                &format!("sweep.grid.{k}"),
                "must be a non-empty list of values",
            ));
        }
    }
    if cfg.samples == 0 {
        return Err(bad(file, "sweep.samples", "must be at least 1"));
    }
    Ok(cfg)
}

/// Every point of the sweep, in a deterministic order.
pub fn points(cfg: &SweepConfig, file: &str) -> Result<Vec<Map<String, Value>>, Error> {
    let mut out: Vec<Map<String, Value>> = vec![Map::new()];
    for (k, v) in &cfg.grid {
        let vals = v.as_array().cloned().unwrap_or_default();
        out = out
            .into_iter()
            .flat_map(|p| {
                vals.iter().map(move |x| {
                    let mut q = p.clone();
                    q.insert(k.clone(), x.clone());
                    q
                })
            })
            .collect();
    }
    if !cfg.random.is_empty() {
        let space = DesignSpace::from_map("sweep.random", &cfg.random)
            .map_err(|e| bad(file, "sweep.random", e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..cfg.samples)
                    .map(|_| {
                        let mut q = p.clone();
                        for prm in &space.params {
                            q.insert(
                                prm.path.clone(),
                                prm.domain.value(rng.random_range(0..prm.domain.len())),
                            );
                        }
                        q
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    Ok(out)
}

fn overrides(point: &Map<String, Value>) -> Vec<String> {
    point.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Runs one point: a simulation, or a whole search when the config has a `search:` section.
pub fn run_point(
    text: &str,
    file: &str,
    base_dir: &Path,
    index: usize,
    point: &Map<String, Value>,
) -> JournalEntry {
    let mut e = JournalEntry {
        index,
        point: point.clone(),
        metrics: Map::new(),
        best_cost: None,
        best_eval: None,
        trace: Vec::new(),
        error: None,
    };
    let mut run = || -> Result<(), Error> {
        let (cfg, _study, search) = config::load_full(text, file, &overrides(point))?;
        match search {
            Some(s) => {
                let problem = crate::search::problem(&cfg, &s, base_dir)?;
                let mut quiet = |_: usize, _: usize| {};
                let r = archsim_agents::run_search(
                    &problem,
                    &s,
                    &crate::search::evaluate_parallel,
                    &mut quiet,
                )
                .map_err(|x| bad(file, "search", x.to_string()))?;
                let mut best = f64::INFINITY;
                e.trace = r
                    .history
                    .iter()
                    .map(|h| {
                        best = best.min(h.cost.unwrap_or(f64::INFINITY));
                        best
                    })
                    .collect();
                if let Some(b) = r.best {
                    e.best_cost = b.cost;
                    e.best_eval = Some(b.eval);
                    e.metrics = b.metrics;
                }
            }
            None => {
                let report = crate::simulate(&cfg, base_dir)?;
                let m = archsim_gym::objective::metrics(&report);
                e.metrics = METRICS
                    .iter()
                    .zip(m)
                    .map(|(k, v)| ((*k).to_string(), Value::from(v)))
                    .collect();
            }
        }
        Ok(())
    };
    if let Err(err) = run() {
        e.error = Some(err.to_string());
    }
    e
}

/// Reads a journal back; a torn last line is dropped (and cut from the file).
pub fn read_journal(path: &Path) -> Result<BTreeMap<usize, JournalEntry>, Error> {
    let mut done = BTreeMap::new();
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(done);
    };
    let mut good_len = 0u64;
    let mut torn = false;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        match serde_json::from_str::<JournalEntry>(&line) {
            Ok(e) if !torn => {
                good_len += line.len() as u64 + 1;
                done.insert(e.index, e);
            }
            _ => torn = true,
        }
    }
    if torn {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        f.set_len(good_len).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(done)
}

/// Runs (or resumes) a sweep; returns every entry in point order.
pub fn run(
    text: &str,
    file: &str,
    base_dir: &Path,
    dir: &Path,
) -> Result<(Vec<JournalEntry>, Vec<PathBuf>), Error> {
    let cfg = parse(text, file)?;
    let pts = points(&cfg, file)?;
    // Fail early on a typo in a path: the first point must at least load.
    if let Some(p) = pts.first() {
        config::load_full(text, file, &overrides(p))?;
    }
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let jpath = dir.join("journal.jsonl");
    let mut done = read_journal(&jpath)?;
    let todo: Vec<(usize, &Map<String, Value>)> = pts
        .iter()
        .enumerate()
        .filter(|(i, _)| !done.contains_key(i))
        .collect();
    eprintln!(
        "sweep: {} points, {} already in the journal, {} to run",
        pts.len(),
        done.len(),
        todo.len()
    );
    let journal = Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(|e| io(&jpath, e))?,
    );
    let bar = indicatif::ProgressBar::new(pts.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sweep [{bar:40}] {pos}/{len} points, {elapsed} elapsed, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done.len() as u64);
    let fresh: Vec<Result<JournalEntry, Error>> = todo
        .par_iter()
        .map(|(i, p)| {
            let e = run_point(text, file, base_dir, *i, p);
            let mut line = serde_json::to_string(&e).map_err(|x| Error::Io {
                path: jpath.display().to_string(),
                message: x.to_string(),
            })?;
            line.push('\n');
            let mut f = journal.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(line.as_bytes())
                .and_then(|_| f.flush())
                .map_err(|x| io(&jpath, x))?;
            bar.inc(1);
            Ok(e)
        })
        .collect();
    bar.finish_and_clear();
    for e in fresh {
        let e = e?;
        done.insert(e.index, e);
    }
    let entries: Vec<JournalEntry> = done.into_values().filter(|e| e.index < pts.len()).collect();
    let csv_path = dir.join("results.csv");
    write_csv(&entries, &csv_path)?;
    let mut files = vec![jpath, csv_path];
    files.extend(heatmap(&entries, dir)?);
    Ok((entries, files))
}

/// Draws `heatmap.{png,svg}`: the first two swept parameters that take several values, against
/// `latency_s` (mean over the other parameters). Nothing when fewer than two parameters vary
/// or no point has a latency.
pub fn heatmap(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let Some(first) = entries.first() else {
        return Ok(Vec::new());
    };
    let varying: Vec<&String> = first
        .point
        .keys()
        .filter(|k| {
            let mut vals: Vec<String> = entries
                .iter()
                .filter_map(|e| e.point.get(*k).map(cell))
                .collect();
            vals.sort();
            vals.dedup();
            vals.len() > 1
        })
        .collect();
    let [x, y, ..] = varying.as_slice() else {
        return Ok(Vec::new());
    };
    let cells: Vec<crate::plot::HeatCell> = entries
        .iter()
        .filter_map(|e| {
            let v = e.metrics.get("latency_s")?.as_f64()?;
            Some((e.point.get(*x).map(cell)?, e.point.get(*y).map(cell)?, v))
        })
        .collect();
    if cells.is_empty() {
        return Ok(Vec::new());
    }
    crate::plot::heatmap(&cells, "latency_s (mean)", x, y, dir, "heatmap").map_err(|m| {
        Error::Io {
            path: dir.join("heatmap.png").display().to_string(),
            message: m,
        }
    })?;
    Ok(vec![dir.join("heatmap.png"), dir.join("heatmap.svg")])
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The table of a sweep: one row per point.
pub fn write_csv(entries: &[JournalEntry], path: &Path) -> Result<(), Error> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| io(&e))?;
    let keys: Vec<String> = entries
        .first()
        .map(|e| e.point.keys().cloned().collect())
        .unwrap_or_default();
    let search = entries
        .iter()
        .any(|e| e.best_eval.is_some() || !e.trace.is_empty());
    let mut header = vec!["index".to_string()];
    header.extend(keys.iter().cloned());
    if search {
        header.extend(["best_cost", "best_eval"].map(String::from));
    }
    header.extend(METRICS.iter().map(|m| m.to_string()));
    header.push("error".into());
    w.write_record(&header).map_err(|e| io(&e))?;
    for e in entries {
        let mut row = vec![e.index.to_string()];
        row.extend(
            keys.iter()
                .map(|k| e.point.get(k).map_or_else(String::new, cell)),
        );
        if search {
            row.push(e.best_cost.map_or_else(String::new, |c| c.to_string()));
            row.push(e.best_eval.map_or_else(String::new, |c| c.to_string()));
        }
        row.extend(
            METRICS
                .iter()
                .map(|m| e.metrics.get(*m).map_or_else(String::new, cell)),
        );
        row.push(e.error.clone().unwrap_or_default());
        w.write_record(&row).map_err(|e| io(&e))?;
    }
    w.flush().map_err(|e| io(&e))
}

/// The label of a point without its seed: the configuration a seed repeats.
fn config_label(e: &JournalEntry) -> String {
    e.point
        .iter()
        .filter(|(k, _)| k.as_str() != "search.seed")
        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), cell(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// For a sweep of searches: `convergence.{png,svg}`, the best cost so far against evaluations per
/// configuration, median and spread over the seeds.
pub fn convergence_plot(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut groups: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for e in entries.iter().filter(|e| !e.trace.is_empty()) {
        groups
            .entry(config_label(e))
            .or_default()
            .push(e.trace.clone());
    }
    let runs: Vec<crate::plot::Runs> = groups.into_iter().collect();
    crate::plot::convergence(
        &runs,
        "best cost so far over evaluations, across seeds",
        dir,
        "convergence",
    )
    .map_err(|m| Error::Io {
        path: dir.display().to_string(),
        message: m,
    })?;
    Ok(vec![
        dir.join("convergence.png"),
        dir.join("convergence.svg"),
    ])
}

/// For a sweep of searches: per configuration (every swept path but `search.seed`), the median
/// best cost and the median evaluations needed to come within 1% of the best cost any run found.
pub fn ranking(entries: &[JournalEntry]) -> Vec<(String, usize, f64, f64)> {
    let best = entries
        .iter()
        .filter_map(|e| e.best_cost)
        .fold(f64::INFINITY, f64::min);
    let mut groups: BTreeMap<String, Vec<&JournalEntry>> = BTreeMap::new();
    for e in entries {
        let label = e
            .point
            .iter()
            .filter(|(k, _)| k.as_str() != "search.seed")
            .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), cell(v)))
            .collect::<Vec<_>>()
            .join(" ");
        groups.entry(label).or_default().push(e);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    };
    let mut rows: Vec<(String, usize, f64, f64)> = groups
        .into_iter()
        .map(|(label, es)| {
            let costs: Vec<f64> = es
                .iter()
                .map(|e| e.best_cost.unwrap_or(f64::INFINITY))
                .collect();
            let evals: Vec<f64> = es
                .iter()
                .map(|e| {
                    e.trace
                        .iter()
                        .position(|&c| c <= best * 1.01 + f64::MIN_POSITIVE)
                        .map_or(f64::INFINITY, |i| (i + 1) as f64)
                })
                .collect();
            (label, es.len(), median(costs), median(evals))
        })
        .collect();
    rows.sort_by(|a, b| {
        a.3.total_cmp(&b.3)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.cmp(&b.0))
    });
    rows
}

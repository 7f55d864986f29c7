//! Running a sweep: one point (a simulation, a serving run or a whole search), and every point
//! of a sweep in parallel into a locked folder, journaled as each finishes, then the tables.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde_json::Map;
use serde_json::Value;

use super::plan::{is_serving_text, overrides, plan};
use super::{bad, heatmap, journal_header, write_csv, write_parquet, Journal, JournalEntry};
use crate::{config, Error};

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
        if is_serving_text(text) {
            // A serving config: each point is one serving run.
            let o = overrides(point);
            let f = crate::serving::load(text, file, &o)?;
            let served = crate::serving::run(&f, base_dir)
                .map_err(|x| crate::serving::config_error(text, file, &o, x))?;
            crate::finite::check(&served.report, "the serving run")?;
            e.metrics = crate::serving::metrics(&served);
            return Ok(());
        }
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
                // A value that is not a number fails the point with its name (`simulate`).
                let report = crate::simulate(&cfg, base_dir)?;
                let m = archsim_gym::objective::metrics(&report);
                e.metrics = archsim_gym::metric_map(&m);
                // A design that does not fit keeps its metrics and is marked infeasible.
                if !report.fits {
                    e.error = Some(format!("infeasible: {}", report.why_not.join("; ")));
                }
            }
        }
        Ok(())
    };
    if let Err(err) = run() {
        e.error = Some(err.to_string());
    }
    e
}

/// Runs (or resumes) a sweep into `dir`, as `archsim sweep CONFIG --out DIR`: prepares and
/// locks the folder ([`crate::files::OutDir`]), then [`run_in`] without `--fresh`.
pub fn run(
    text: &str,
    file: &str,
    base_dir: &Path,
    dir: &Path,
) -> Result<(Vec<JournalEntry>, Vec<PathBuf>), Error> {
    run_with(text, file, base_dir, dir, false)
}

/// [`run`], with `fresh` as `archsim sweep --fresh` (an existing journal is moved aside and the
/// sweep starts over).
pub fn run_with(
    text: &str,
    file: &str,
    base_dir: &Path,
    dir: &Path,
    fresh: bool,
) -> Result<(Vec<JournalEntry>, Vec<PathBuf>), Error> {
    let pts = plan(text, file)?;
    let out = crate::files::OutDir::prepare(dir)?;
    let done = run_in(text, file, base_dir, &pts, &out, fresh)?;
    out.commit()?;
    Ok(done)
}

/// Runs (or resumes) the sweep of `text`, whose points are `pts` ([`plan`]), in the prepared
/// and locked folder `out`: the journal is opened ([`Journal::open`]: a journal of another
/// config is refused unless `fresh`), the points not in it run in parallel and are journaled
/// as they finish, and the tables are written (staged in `out` until [`crate::files::OutDir::commit`]).
/// Returns every entry in point order and the files written.
pub fn run_in(
    text: &str,
    file: &str,
    base_dir: &Path,
    pts: &[Map<String, Value>],
    out: &crate::files::OutDir,
    fresh: bool,
) -> Result<(Vec<JournalEntry>, Vec<PathBuf>), Error> {
    let header = journal_header(text, file, pts.len())?;
    let (journal, mut done) = Journal::open(out, &header, fresh)?;
    let jpath = journal.path().to_path_buf();
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
    let journal = Mutex::new(journal);
    let bar = indicatif::ProgressBar::new(pts.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sweep [{bar:40}] {pos}/{len} points, {elapsed} elapsed, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done.len() as u64);
    // In chunks, so that a caller that can be interrupted (Ctrl-C from Python) is asked
    // between them; every finished point is journaled, so an interrupted sweep resumes.
    let mut fresh: Vec<Result<JournalEntry, Error>> = Vec::with_capacity(todo.len());
    for chunk in todo.chunks(rayon::current_num_threads().max(1) * 4) {
        if archsim_sim::cancel::requested() {
            bar.finish_and_clear();
            return Err(Error::Cancelled);
        }
        fresh.extend(
            chunk
                .par_iter()
                .map(|(i, p)| {
                    let e = run_point(text, file, base_dir, *i, p);
                    journal
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .append(&e)?;
                    bar.inc(1);
                    Ok(e)
                })
                .collect::<Vec<_>>(),
        );
    }
    bar.finish_and_clear();
    for e in fresh {
        let e = e?;
        done.insert(e.index, e);
    }
    let entries: Vec<JournalEntry> = done.into_values().filter(|e| e.index < pts.len()).collect();
    let mut files = vec![jpath];
    files.extend(finish(&entries, out.path())?);
    Ok((entries, files))
}

/// Writes the tables of a finished sweep into `dir` from its entries (in point order):
/// `results.csv`, `results.parquet` and, when two parameters vary, the heatmap. Each file is
/// written atomically ([`crate::files`]).
pub fn finish(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    crate::files::create_dir(dir)?;
    let csv_path = dir.join("results.csv");
    write_csv(entries, &csv_path)?;
    let pq_path = dir.join("results.parquet");
    write_parquet(entries, &pq_path)?;
    let mut files = vec![csv_path, pq_path];
    files.extend(heatmap(entries, dir)?);
    Ok(files)
}

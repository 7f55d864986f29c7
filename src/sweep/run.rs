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
            let f = crate::serve::load(text, file, &o)?;
            let served = crate::serve::run(&f, base_dir)
                .map_err(|x| crate::serve::config_error(text, file, &o, x))?;
            crate::finite::check(&served.report, "the serving run")?;
            e.metrics = crate::serve::metrics(&served);
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

/// Writes the tables of a finished sweep into the folder `out` ([`finish`]), holding it as
/// `archsim sweep` does: prepared and locked, the files staged and committed together. Returns
/// the paths written.
pub fn finish_into(entries: &[JournalEntry], out: &Path) -> Result<Vec<PathBuf>, Error> {
    let held = crate::files::OutDir::prepare(out)?;
    let files = finish(entries, out)?;
    held.commit()?;
    Ok(files)
}

/// A sweep's output folder held by this process (locked) with its journal open, for a sweep
/// whose points another scheduler evaluates (the Python package's Ray sweep): the journal is
/// checked against the config as `archsim sweep` checks it (a journal of another config is
/// refused unless `fresh`), entries are appended as they come back, and the tables are
/// written into the folder. Dropping the session releases the folder.
#[derive(Debug)]
pub struct Session {
    dir: crate::files::OutDir,
    journal: Journal,
    done: Vec<JournalEntry>,
}

impl Session {
    /// Opens the sweep of `text` (its points as [`plan`] gives them) in the folder `out`.
    pub fn open(text: &str, file: &str, out: &Path, fresh: bool) -> Result<Session, Error> {
        let pts = plan(text, file)?;
        let header = journal_header(text, file, pts.len())?;
        let dir = crate::files::OutDir::prepare(out)?;
        let (journal, done) = Journal::open(&dir, &header, fresh)?;
        Ok(Session {
            dir,
            journal,
            done: done.into_values().filter(|e| e.index < pts.len()).collect(),
        })
    }

    /// The entries already in the journal when the session opened, in point order (those of
    /// points the sweep still has).
    pub fn entries(&self) -> &[JournalEntry] {
        &self.done
    }

    /// The journal's path.
    pub fn journal_path(&self) -> &Path {
        self.journal.path()
    }

    /// Appends one entry to the journal, flushed.
    pub fn append(&mut self, e: &JournalEntry) -> Result<(), Error> {
        self.journal.append(e)
    }

    /// Writes `results.csv`, `results.parquet` (and the heatmap) into the folder from
    /// `entries` (in point order) and commits them; returns the paths written.
    pub fn finish(&self, entries: &[JournalEntry]) -> Result<Vec<PathBuf>, Error> {
        let files = finish(entries, self.dir.path())?;
        self.dir.commit()?;
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEMM_SWEEP: &str = "workload: {gemm: {m: 64, n: 64, k: 64}}\naccelerator: {kind: systolic, rows: 8, cols: 8, dataflow: os}\nsweep:\n  grid:\n    accelerator.dataflow: [os, ws, is]\n    accelerator.rows: [8, 16]\n";

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "archsim-sweep-session-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_session_journals_and_locks_as_the_cli_does() {
        let (cli, out) = (scratch("cli"), scratch("session"));
        let (cli_entries, _) = run(GEMM_SWEEP, "s.yaml", Path::new("."), &cli).unwrap();
        let pts = plan(GEMM_SWEEP, "s.yaml").unwrap();
        let mut session = Session::open(GEMM_SWEEP, "s.yaml", &out, false).unwrap();
        // The folder is locked while the session holds it.
        let busy = Session::open(GEMM_SWEEP, "s.yaml", &out, false).unwrap_err();
        assert!(
            busy.to_string().contains("in use by another archsim"),
            "{busy}"
        );
        assert!(session.entries().is_empty());
        assert_eq!(session.journal_path(), out.join("journal.jsonl"));
        // Points evaluated elsewhere, journaled out of order, tabulated in order.
        let entries: Vec<JournalEntry> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| run_point(GEMM_SWEEP, "s.yaml", Path::new("."), i, p))
            .collect();
        for e in entries.iter().rev() {
            session.append(e).unwrap();
        }
        let files = session.finish(&entries).unwrap();
        assert!(files.contains(&out.join("results.csv")));
        drop(session);
        assert!(!out.join(".archsim.lock").exists());
        assert_eq!(entries, cli_entries);
        let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
        assert_eq!(read(&out, "results.csv"), read(&cli, "results.csv"));
        assert_eq!(read(&out, "results.parquet"), read(&cli, "results.parquet"));
        let header = |d: &Path| {
            String::from_utf8(read(d, "journal.jsonl"))
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(header(&out), header(&cli));
        // Reopened: every entry is there, in point order.
        let again = Session::open(GEMM_SWEEP, "s.yaml", &out, false).unwrap();
        assert_eq!(again.entries(), &entries[..]);
        drop(again);
        // Another config is refused unless fresh, which starts over.
        let other = GEMM_SWEEP.replace("[8, 16]", "[8, 32]");
        let err = Session::open(&other, "s.yaml", &out, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("sweep.grid.accelerator.rows changed"),
            "{err}"
        );
        let fresh = Session::open(&other, "s.yaml", &out, true).unwrap();
        assert!(fresh.entries().is_empty());
        drop(fresh);
        // The tables alone, into a folder of their own.
        let tables = scratch("tables");
        let files = finish_into(&entries, &tables).unwrap();
        assert_eq!(read(&tables, "results.csv"), read(&cli, "results.csv"));
        assert!(files.contains(&tables.join("results.parquet")));
        for d in [cli, out, tables] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

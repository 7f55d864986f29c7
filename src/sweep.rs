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
//! A grid entry may also be a generator instead of a list: `workload.model: {nb201: {dataset:
//! cifar10, cells: 5000, seed: 0}}` stands for the list of `nb201:<dataset>:<arch>` model names
//! of `cells` distinct NAS-Bench-201 cells drawn with `seed` (all 15,625 when `cells` is
//! absent), in the order of [`Nb201Cell::nth`](archsim_workloads::zoo::Nb201Cell::nth).
//!
//! The rest of the file is the base config; it may itself hold a `search:` section, in which
//! case every point is a whole search (e.g. a grid over `search.agent.kind` and `search.seed`
//! compares optimizers) and the sweep prints a ranking.
//!
//! Each finished point is one line of `DIR/journal.jsonl`, written and flushed as it finishes;
//! on start the journal is read back (a torn last line from a `kill -9` is dropped) and the
//! points already there are skipped. `DIR/results.csv` and `DIR/results.parquet` (the same
//! table, typed columns) are rewritten at the end from the journal, in point order, so a resumed
//! sweep gives the same table as an uninterrupted one.
//!
//! The stages are public so that another scheduler (the Python package's Ray sweep) spreads the
//! same points: [`plan`] gives the points, [`run_point`] evaluates one, [`finish`] writes the
//! tables.

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
use archsim_workloads::zoo::{Nb201Cell, Nb201Dataset, NB201_PREFIX};

use crate::{config, ConfigError, Error};

fn one() -> usize {
    1
}

/// The most points one sweep may have (grid points × `samples` when there is a `random:`
/// part). A sweep lists its points before running them and keeps every result until it writes
/// the tables — measured at about 4.5 KB of memory a point (200,000 GEMM points: 0.9 GB peak)
/// — so the count is computed from the section, never by building the points, and bounded
/// first: a million points is about 4.5 GB and, at a few thousand points a second, minutes.
pub const MAX_SWEEP_POINTS: usize = 1_000_000;

/// The `sweep:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Config path → list of values; every combination is a point.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, GridEntry>")]
    pub grid: Map<String, Value>,
    /// Config path → domain; sampled `samples` times per grid point.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, archsim_gym::space::DomainSpec>")]
    pub random: Map<String, Value>,
    /// Random draws per grid point (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub samples: usize,
    /// Seed of the random draws.
    #[serde(default)]
    pub seed: u64,
}

/// A search's best-so-far trace as the journal holds it: `null` (how JSON writes an infinite
/// cost, before any feasible design) reads back as infinity.
fn trace_from_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|c| c.unwrap_or(f64::INFINITY)).collect())
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
    /// Search only: the best cost after each evaluation (for evaluations-to-target figures);
    /// infinite (`null` in the journal) until the first feasible design.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "trace_from_json"
    )]
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

/// Reads the `sweep:` section of a config text; its errors name the key, located in the file.
pub fn parse(text: &str, file: &str) -> Result<SweepConfig, Error> {
    parse_unlocated(text, file).map_err(|e| match e {
        Error::Config(mut c) if c.location.is_none() => {
            if let Some(k) = &c.key {
                c.location = config::locate_dotted(text, k);
            }
            Error::Config(c)
        }
        other => other,
    })
}

/// The YAML document of a sweep file, or its syntax error at its line and column.
fn yaml_value(text: &str, file: &str) -> Result<Value, Error> {
    serde_saphyr::from_str(text).map_err(|e| {
        Error::Config(ConfigError {
            file: file.into(),
            location: e.location().map(|l| (l.line(), l.column())),
            key: None,
            from_override: None,
            message: crate::config::yaml_message(&e.to_string()),
        })
    })
}

fn parse_unlocated(text: &str, file: &str) -> Result<SweepConfig, Error> {
    let v = yaml_value(text, file)?;
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
    for (part, map) in [("grid", &cfg.grid), ("random", &cfg.random)] {
        for k in map.keys() {
            archsim_gym::path::parse(k).map_err(|m| bad(file, &format!("sweep.{part}.{k}"), m))?;
        }
    }
    if cfg.samples == 0 {
        return Err(bad(file, "sweep.samples", "must be at least 1"));
    }
    count(&cfg, file)?;
    for (k, v) in &cfg.grid {
        grid_values(file, k, v)?;
    }
    Ok(cfg)
}

/// The number of points of a sweep, from the lengths of its grid lists (and generators) and
/// its `samples`, without building them; more than [`MAX_SWEEP_POINTS`] is an error naming
/// `sweep.grid` (or `sweep.samples`) and the limit.
pub fn count(cfg: &SweepConfig, file: &str) -> Result<usize, Error> {
    let too_many = |key: &str, what: String| {
        bad(
            file,
            key,
            format!("{what}, more than the limit of {MAX_SWEEP_POINTS} points (MAX_SWEEP_POINTS)"),
        )
    };
    let mut lens = Vec::with_capacity(cfg.grid.len());
    for (k, v) in &cfg.grid {
        lens.push(grid_len(file, k, v)?);
    }
    let factors = || {
        lens.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" × ")
    };
    let grid = lens
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_SWEEP_POINTS)
        .ok_or_else(|| {
            let n = lens.iter().fold(1u128, |a, &n| a.saturating_mul(n as u128));
            let n = if n == u128::MAX {
                "more than 10^38".to_string()
            } else {
                n.to_string()
            };
            too_many(
                "sweep.grid",
                format!("the grid has {n} points ({})", factors()),
            )
        })?;
    if cfg.random.is_empty() {
        return Ok(grid);
    }
    grid.checked_mul(cfg.samples)
        .filter(|&n| n <= MAX_SWEEP_POINTS)
        .ok_or_else(|| {
            let n = (grid as u128) * (cfg.samples as u128);
            too_many(
                "sweep.samples",
                format!(
                    "{grid} grid point{} × {} samples is {n} points",
                    if grid == 1 { "" } else { "s" },
                    cfg.samples
                ),
            )
        })
}

/// The number of values of one grid entry, without generating them.
fn grid_len(file: &str, key: &str, v: &Value) -> Result<usize, Error> {
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a.len()),
        Value::Object(m) if m.len() == 1 && m.contains_key("nb201") => Ok(m["nb201"]
            .get("cells")
            .and_then(Value::as_u64)
            .map_or(Nb201Cell::COUNT, |n| n as usize)
            .min(Nb201Cell::COUNT)),
        // Malformed entries are reported by `grid_values`, which names what is wrong.
        _ => grid_values(file, key, v).map(|vals| vals.len()),
    }
}

/// A `sweep.grid` entry as a config writes it (the schema of what [`grid_values`] reads): a
/// non-empty list of values, or a generator that stands for one.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // read by `grid_values` from the generic value; this type is its schema
enum GridEntry {
    /// The values, in order.
    Values(#[schemars(length(min = 1))] Vec<Value>),
    /// `{nb201: {dataset, cells, seed}}`: NAS-Bench-201 cells as `nb201:` model names.
    Generator(Nb201Generator),
}

/// `{nb201: {...}}` in a grid entry.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema only, as `GridEntry`
struct Nb201Generator {
    nb201: Nb201Cells,
}

/// The `nb201:` generator of a grid entry.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Nb201Cells {
    /// `cifar10` (default), `cifar100` or `imagenet16-120`.
    #[serde(default)]
    dataset: Option<String>,
    /// How many distinct cells; all of them when absent.
    #[serde(default)]
    cells: Option<usize>,
    /// Seed of the draw.
    #[serde(default)]
    seed: u64,
}

/// The values of one grid entry: its list, or what its generator stands for.
fn grid_values(file: &str, key: &str, v: &Value) -> Result<Vec<Value>, Error> {
    let path = format!("sweep.grid.{key}");
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a.clone()),
        Value::Object(m) if m.len() == 1 && m.contains_key("nb201") => {
            let g: Nb201Cells = archsim_accelerators::config::typed(
                m["nb201"].clone(),
                &["sweep", "grid", key, "nb201"],
            )
            .map_err(|(p, msg)| bad(file, &p.join("."), msg))?;
            let ds: Nb201Dataset = g.dataset.as_deref().unwrap_or("cifar10").parse().map_err(
                |e: archsim_workloads::WorkloadError| {
                    bad(file, &format!("{path}.nb201.dataset"), e.to_string())
                },
            )?;
            let n = g.cells.unwrap_or(Nb201Cell::COUNT);
            if n == 0 || n > Nb201Cell::COUNT {
                return Err(bad(
                    file,
                    &format!("{path}.nb201.cells"),
                    format!(
                        "must be 1..={} (the number of cells), not {n}",
                        Nb201Cell::COUNT
                    ),
                ));
            }
            let mut ids: Vec<usize> = (0..Nb201Cell::COUNT).collect();
            if n < Nb201Cell::COUNT {
                // A partial Fisher-Yates shuffle: n distinct cells, then in enumeration order.
                let mut rng = ChaCha8Rng::seed_from_u64(g.seed);
                for i in 0..n {
                    let j = rng.random_range(i..ids.len());
                    ids.swap(i, j);
                }
                ids.truncate(n);
                ids.sort_unstable();
            }
            Ok(ids
                .into_iter()
                .map(|i| {
                    let cell = Nb201Cell::nth(i).expect("index below COUNT");
                    Value::from(format!("{NB201_PREFIX}{}:{cell}", ds.name()))
                })
                .collect())
        }
        _ => Err(bad(
            file,
            &path,
            "must be a non-empty list of values, or a generator `{nb201: {dataset, cells, seed}}`",
        )),
    }
}

/// Every point of the sweep, in a deterministic order (at most [`MAX_SWEEP_POINTS`], checked
/// before any is built).
pub fn points(cfg: &SweepConfig, file: &str) -> Result<Vec<Map<String, Value>>, Error> {
    count(cfg, file)?;
    let mut out: Vec<Map<String, Value>> = vec![Map::new()];
    for (k, v) in &cfg.grid {
        let vals = grid_values(file, k, v)?;
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

/// True when the sweep's base is a serving config (`serving:` section).
fn is_serving_text(text: &str) -> bool {
    serde_saphyr::from_str::<Value>(text).is_ok_and(|v| crate::serve::is_serving(&v))
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

/// The format version of a journal, the `archsim_journal` of its header line.
pub const JOURNAL_VERSION: u64 = 1;

/// The first line of a journal: which sweep it records. A `.jsonl` file whose first line is not
/// a header is not an archsim journal, and archsim never modifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// The format version ([`JOURNAL_VERSION`]).
    pub archsim_journal: u64,
    /// The archsim that started the journal.
    pub archsim_version: String,
    /// FNV-1a hash of the sweep definition and the base config together: a journal resumes only
    /// with the config it was started with.
    pub config_hash: String,
    /// Hash of the base config (the file without its `sweep:` section).
    pub base_hash: String,
    /// Hash of each top-level section of the base config, to say which one changed.
    pub base_keys: BTreeMap<String, String>,
    /// The `sweep:` section (key order normalized).
    pub sweep: Value,
    /// The number of points.
    pub points: usize,
}

/// A JSON value with the keys of every object sorted, so that hashes do not depend on the
/// order a file writes its keys in.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn hash_of(v: &Value) -> String {
    archsim_sim::fnv1a_hex(v.to_string().as_bytes())
}

/// The header of the journal of the sweep config `text` with `points` points.
pub fn journal_header(text: &str, file: &str, points: usize) -> Result<JournalHeader, Error> {
    let doc = yaml_value(text, file)?;
    let doc = canonical(&doc);
    let mut base = doc.as_object().cloned().unwrap_or_default();
    let sweep = base.remove("sweep").unwrap_or(Value::Null);
    let base_keys = base.iter().map(|(k, v)| (k.clone(), hash_of(v))).collect();
    let base = Value::Object(base);
    Ok(JournalHeader {
        archsim_journal: JOURNAL_VERSION,
        archsim_version: env!("CARGO_PKG_VERSION").into(),
        config_hash: hash_of(&serde_json::json!({"sweep": sweep, "base": base})),
        base_hash: hash_of(&base),
        base_keys,
        sweep,
        points,
    })
}

/// What differs between the config a journal was started with (`old`) and this one (`new`),
/// in words: the sweep axes and settings, and the base config's top-level sections.
pub fn config_changes(old: &JournalHeader, new: &JournalHeader) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Map::new();
    let section = |h: &JournalHeader, part: &str| -> Map<String, Value> {
        h.sweep
            .get(part)
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    for part in ["grid", "random"] {
        let (a, b) = (section(old, part), section(new, part));
        for (k, v) in &b {
            match a.get(k) {
                None => out.push(format!("sweep.{part}.{k} added")),
                Some(w) if w != v => out.push(format!("sweep.{part}.{k} changed")),
                Some(_) => {}
            }
        }
        for k in a.keys().filter(|k| !b.contains_key(*k)) {
            out.push(format!("sweep.{part}.{k} removed"));
        }
    }
    if let (Some(a), Some(b)) = (old.sweep.as_object(), new.sweep.as_object()) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys.into_iter().filter(|k| *k != "grid" && *k != "random") {
            if a.get(k) != b.get(k) {
                out.push(format!("sweep.{k} changed"));
            }
        }
    }
    let mut keys: Vec<&String> = old.base_keys.keys().chain(new.base_keys.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        match (old.base_keys.get(k), new.base_keys.get(k)) {
            (None, Some(_)) => out.push(format!("{k} added")),
            (Some(_), None) => out.push(format!("{k} removed")),
            (Some(a), Some(b)) if a != b => out.push(format!("{k} changed")),
            _ => {}
        }
    }
    if out.is_empty() && old.config_hash != new.config_hash {
        out.push("the config changed".into());
    }
    out
}

/// A journal read back: its header, its entries by point index, and where its last complete
/// line ends (a torn last line, from a writer killed mid-line, is not among the entries).
#[derive(Debug, Clone)]
pub struct JournalRead {
    /// The header line.
    pub header: JournalHeader,
    /// The entries, by point index.
    pub entries: BTreeMap<usize, JournalEntry>,
    /// Bytes up to the end of the last complete entry.
    pub good_len: u64,
    /// True when the file ends with a torn line (skipped).
    pub torn: bool,
}

fn journal_io(path: &Path, message: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads a journal without modifying it: the header first (a file without one is refused,
/// naming it, and left untouched), then one entry per line; a torn last line is skipped. A
/// missing file is `None`. Errors never quote the file's content.
pub fn scan_journal(path: &Path) -> Result<Option<JournalRead>, Error> {
    use archsim_workloads::input::{self, InputKind};
    let (f, _) = match input::open(path, InputKind::Journal) {
        Ok(x) => x,
        Err(e) if e.not_found => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    let mut read_line = |buf: &mut Vec<u8>| -> Result<usize, Error> {
        buf.clear();
        r.read_until(b'\n', buf)
            .map_err(|e| crate::files::io_error(path, &e))
    };
    let foreign = |why: &str| {
        journal_io(
            path,
            format!("not an archsim sweep journal ({why}); archsim never modifies such a file"),
        )
    };
    let n = read_line(&mut buf)?;
    if n == 0 {
        return Err(foreign("it is empty"));
    }
    let first: Option<Value> = buf
        .strip_suffix(b"\n")
        .and_then(|l| serde_json::from_slice(l).ok());
    let header = match first {
        Some(v) if v.get("archsim_journal").is_some() => {
            let version = v.get("archsim_journal").and_then(Value::as_u64);
            if version != Some(JOURNAL_VERSION) {
                return Err(journal_io(
                    path,
                    format!(
                        "a journal of format {} (this archsim reads format {JOURNAL_VERSION}); \
                         it is left untouched",
                        version.map_or_else(|| "?".into(), |v| v.to_string())
                    ),
                ));
            }
            serde_json::from_value::<JournalHeader>(v)
                .map_err(|_| foreign("its header line is malformed"))?
        }
        Some(v) if JournalEntry::deserialize(&v).is_ok() => {
            return Err(journal_io(
                path,
                "a journal of an older archsim, without the header line that records its \
                 config; it is left untouched — rerun with --fresh to keep it aside as \
                 journal.jsonl.N and start over",
            ))
        }
        _ => return Err(foreign("its first line is not a journal header")),
    };
    let mut good_len = n as u64;
    let mut entries = BTreeMap::new();
    let mut line_no = 1usize;
    let mut torn = false;
    loop {
        let n = read_line(&mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let entry = buf
            .strip_suffix(b"\n")
            .and_then(|l| serde_json::from_slice::<JournalEntry>(l).ok());
        match entry {
            Some(e) => {
                good_len += n as u64;
                entries.insert(e.index, e);
            }
            None => {
                // Only the last line may be torn (a writer killed mid-line); anything else is
                // damage archsim did not do.
                if read_line(&mut buf)? == 0 {
                    torn = true;
                    break;
                }
                return Err(journal_io(
                    path,
                    format!(
                        "line {line_no} is not a journal entry; the journal is left untouched \
                         (rerun with --fresh to keep it aside and start over)"
                    ),
                ));
            }
        }
    }
    Ok(Some(JournalRead {
        header,
        entries,
        good_len,
        torn,
    }))
}

/// The entries of a journal, by point index, read without modifying the file (a torn last
/// line is skipped). A missing file has no entries; a file without a journal header is
/// refused, naming it.
pub fn read_journal(path: &Path) -> Result<BTreeMap<usize, JournalEntry>, Error> {
    Ok(scan_journal(path)?.map(|j| j.entries).unwrap_or_default())
}

/// A sweep's journal open for appending, in a locked output folder.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// Opens `path` for writing without following a link (`O_NOFOLLOW`).
fn open_nofollow(path: &Path, append: bool) -> Result<std::fs::File, Error> {
    let mut o = std::fs::OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path).map_err(|e| crate::files::io_error(path, &e))
}

/// The first free `journal.jsonl.N` beside `path`.
fn aside_name(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "journal.jsonl".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    (1..)
        .map(|n| path.with_file_name(format!("{name}.{n}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| path.with_file_name(format!("{name}.old")))
}

/// Puts the complete file `tmp` in place as `dest`, which must not exist (a hard link, which
/// never replaces; a plain rename where the file system has no hard links — the folder is
/// locked, so nothing else creates `dest` meanwhile).
fn place_new(tmp: &Path, dest: &Path) -> Result<(), Error> {
    let placed = match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(crate::files::io_error(dest, &e))
        }
        Err(_) if std::fs::symlink_metadata(dest).is_err() => {
            std::fs::rename(tmp, dest).map_err(|e| crate::files::io_error(dest, &e))
        }
        Err(e) => Err(crate::files::io_error(dest, &e)),
    };
    let _ = std::fs::remove_file(tmp);
    placed
}

impl Journal {
    /// Opens (or starts) the journal `DIR/journal.jsonl` of the sweep with `header`, in the
    /// locked folder `out`; returns it with the entries already there.
    ///
    /// A journal of another config is refused with what changed, unless `fresh`, which moves
    /// it aside (`journal.jsonl.N`, never deleted) and starts a new one. A file without a
    /// journal header is refused and left untouched (with `fresh`, moved aside). A link or
    /// any non-regular file named `journal.jsonl` is always refused. Only archsim's own
    /// journal has a torn last line cut.
    pub fn open(
        out: &crate::files::OutDir,
        header: &JournalHeader,
        fresh: bool,
    ) -> Result<(Journal, BTreeMap<usize, JournalEntry>), Error> {
        let path = out.path().join("journal.jsonl");
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(journal_io(
                    &path,
                    "is a symbolic link; archsim never reads or writes a journal through a \
                     link (remove it, or give another --out folder)",
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(journal_io(
                    &path,
                    "exists and is not a regular file; archsim leaves it alone",
                ))
            }
            Ok(_) if fresh => {
                let aside = aside_name(&path);
                std::fs::rename(&path, &aside).map_err(|e| crate::files::io_error(&path, &e))?;
                eprintln!(
                    "sweep: --fresh: the previous journal is kept as {}",
                    aside.display()
                );
            }
            Ok(_) => {
                let read = scan_journal(&path)
                    .map_err(|e| match e {
                        Error::Io { path, message } if message.starts_with("not an archsim") => {
                            Error::Io {
                                path,
                                message: format!(
                                    "{message}: give the sweep another --out folder, or move \
                                     the file away"
                                ),
                            }
                        }
                        other => other,
                    })?
                    .ok_or_else(|| journal_io(&path, "disappeared while the folder was locked"))?;
                if read.header.config_hash != header.config_hash {
                    let changes = config_changes(&read.header, header);
                    return Err(Error::Config(ConfigError {
                        file: path.display().to_string(),
                        location: None,
                        key: None,
                        from_override: None,
                        message: format!(
                            "the journal records another config ({}); a sweep resumes only with \
                             the config it started with — rerun with --fresh to keep this \
                             journal aside and start over, or give another --out folder",
                            changes.join(", ")
                        ),
                    }));
                }
                let file = open_nofollow(&path, true)?;
                if read.torn {
                    file.set_len(read.good_len)
                        .map_err(|e| crate::files::io_error(&path, &e))?;
                }
                return Ok((Journal { path, file }, read.entries));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::files::io_error(&path, &e)),
        }
        // A new journal: its header written completely under a temporary name, then put in
        // place, so a journal.jsonl always starts with a whole header.
        let mut line =
            serde_json::to_string(header).map_err(|e| journal_io(&path, e.to_string()))?;
        line.push('\n');
        let tmp = path.with_file_name(format!(".journal.jsonl.{}.new", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.sync_all()
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(crate::files::io_error(&path, &e));
        }
        place_new(&tmp, &path)?;
        let file = open_nofollow(&path, true)?;
        Ok((Journal { path, file }, BTreeMap::new()))
    }

    /// Appends one entry as one line, flushed before returning.
    pub fn append(&mut self, e: &JournalEntry) -> Result<(), Error> {
        let mut line =
            serde_json::to_string(e).map_err(|x| journal_io(&self.path, x.to_string()))?;
        line.push('\n');
        self.append_line(&line)
    }

    /// Appends one line (a serialized [`JournalEntry`] with its newline), flushed.
    pub fn append_line(&mut self, line: &str) -> Result<(), Error> {
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|x| crate::files::io_error(&self.path, &x))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The points of a sweep config, in order, after checking that the first one loads (so a typo
/// in a path fails before any work is spread).
pub fn plan(text: &str, file: &str) -> Result<Vec<Map<String, Value>>, Error> {
    let cfg = parse(text, file)?;
    check_ranges(text, file, &cfg)?;
    let pts = points(&cfg, file)?;
    if let Some(p) = pts.first() {
        if is_serving_text(text) {
            crate::serve::load(text, file, &overrides(p))?;
        } else {
            config::load_full(text, file, &overrides(p))?;
        }
    }
    Ok(pts)
}

/// Every value a sweep sets within the range of its key ([`config::check_values`]), before any
/// point runs: each grid value, and each random domain's extremes (every value of a choice), set
/// alone on the base config. An error names the value in the sweep (`sweep.grid.<path>[i]`).
fn check_ranges(text: &str, file: &str, cfg: &SweepConfig) -> Result<(), Error> {
    let Ok(base) = serde_saphyr::from_str::<Value>(text) else {
        return Ok(());
    };
    config::check_values(&base, text, file, &[])?;
    let mut sets: Vec<(String, String, Value)> = Vec::new();
    for (k, v) in &cfg.grid {
        for (i, x) in grid_values(file, k, v)?.into_iter().enumerate() {
            // A grid given as a list names its element; a generated one (`{nb201: ...}`) its key.
            let at = if v.is_array() {
                format!("sweep.grid.{k}.{i}")
            } else {
                format!("sweep.grid.{k}")
            };
            sets.push((k.clone(), at, x));
        }
    }
    if !cfg.random.is_empty() {
        let space = DesignSpace::from_map("sweep.random", &cfg.random)
            .map_err(|e| bad(file, "sweep.random", e.to_string()))?;
        for p in &space.params {
            let n = p.domain.len();
            let ends: Vec<u64> = if p.domain.is_categorical() || n <= 2 {
                (0..n.min(1 << 16)).collect()
            } else {
                vec![0, n - 1]
            };
            for i in ends {
                let at = format!("sweep.random.{}", p.path);
                sets.push((p.path.clone(), at, p.domain.value(i)));
            }
        }
    }
    for (path, at, x) in sets {
        let Ok(segs) = archsim_gym::path::parse(&path) else {
            continue;
        };
        let mut doc = base.clone();
        if archsim_gym::path::set(&mut doc, &segs, x).is_err() {
            continue;
        }
        if let Err(e) = config::check_values(&doc, text, file, &[]) {
            return Err(Error::Config(config::located_key_error(
                text,
                file,
                &[],
                &at,
                match e.key {
                    Some(k) if k != path => format!("{}: {}", config::display_key(&k), e.message),
                    _ => e.message,
                },
            )));
        }
    }
    Ok(())
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

/// Draws `heatmap.{png,svg}`: the first two swept parameters that take several values, against
/// `latency_s` (mean over the other parameters). Nothing when fewer than two parameters vary
/// or no point has a latency.
pub fn heatmap(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    match heatmap_of(entries, dir, None, None, "latency_s") {
        Err(Error::Config(_)) => Ok(Vec::new()),
        r => r,
    }
}

/// Draws the heatmap of `metric` (mean over the other parameters) against the swept
/// parameters `x` and `y` (default: the first two that take several values) into
/// [`heatmap_stem`]`.{png,svg}`, so that heatmaps of different metrics sit side by side. A name
/// that is not swept, or a metric no point has, is an error that lists the choices.
pub fn heatmap_of(
    entries: &[JournalEntry],
    dir: &Path,
    x: Option<&str>,
    y: Option<&str>,
    metric: &str,
) -> Result<Vec<PathBuf>, Error> {
    let bad = |message: String| {
        Error::Config(ConfigError {
            file: dir.display().to_string(),
            location: None,
            key: None,
            from_override: None,
            message,
        })
    };
    let Some(first) = entries.first() else {
        return Err(bad("the sweep has no finished points".into()));
    };
    let varying: Vec<&str> = first
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
        .map(String::as_str)
        .collect();
    let pick = |want: Option<&str>, skip: Option<&str>| -> Result<String, Error> {
        match want {
            Some(w) if varying.contains(&w) => Ok(w.to_string()),
            Some(w) => Err(bad(format!(
                "`{w}` is not a swept parameter that varies (these are: {})",
                varying.join(", ")
            ))),
            None => varying
                .iter()
                .copied()
                .find(|k| Some(*k) != skip)
                .map(str::to_string)
                .ok_or_else(|| bad("a heatmap needs two swept parameters that vary".into())),
        }
    };
    let xk = pick(x, y)?;
    let yk = pick(y, Some(&xk))?;
    if xk == yk {
        return Err(bad(format!("x and y are both `{xk}`")));
    }
    let cells: Vec<crate::plot::HeatCell> = entries
        .iter()
        .filter_map(|e| {
            let v = e.metrics.get(metric)?.as_f64()?;
            Some((e.point.get(&xk).map(cell)?, e.point.get(&yk).map(cell)?, v))
        })
        .collect();
    if cells.is_empty() {
        let mut names: Vec<&String> = entries.iter().flat_map(|e| e.metrics.keys()).collect();
        names.sort();
        names.dedup();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        return Err(bad(format!(
            "no point has the metric `{metric}` (these do: {})",
            names.join(", ")
        )));
    }
    let title = format!("{metric} (mean)");
    let stem = heatmap_stem(metric);
    let file = |ext: &str| dir.join(format!("{stem}.{ext}"));
    let tables = crate::plot::heatmap(&cells, &title, &xk, &yk, dir, &stem).map_err(Error::File)?;
    Ok([file("png"), file("svg")]
        .into_iter()
        .chain(tables)
        .collect())
}

/// The file stem of a sweep's heatmap of `metric`: `heatmap` for `latency_s` (the one a sweep
/// draws itself), `heatmap_<metric>` for any other, so `archsim plot --metric energy_j` adds
/// `heatmap_energy_j.png` beside `heatmap.png` instead of replacing it.
pub fn heatmap_stem(metric: &str) -> String {
    if metric == "latency_s" {
        "heatmap".to_string()
    } else {
        let safe: String = metric
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("heatmap_{safe}")
    }
}

/// A swept value as an axis label: a string as itself, a mapping by its `kind` and its other
/// keys (`ga population=20`, not `{"kind":"ga","population":20}`), a list comma-separated.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(m) => {
            let kind = m.get("kind").map(cell);
            let rest = m
                .iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k}={}", cell(v)));
            kind.into_iter().chain(rest).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

/// The table of a sweep: its column names and one row of JSON values (null = empty) per entry.
/// `results.csv` and `results.parquet` are both written from it.
pub fn table(entries: &[JournalEntry]) -> (Vec<String>, Vec<Vec<Value>>) {
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
    // A serving sweep tabulates the serving metrics (in the order `serving::metrics` gives).
    let serving: Vec<String> = entries
        .iter()
        .find(|e| e.metrics.contains_key("ttft_p90_s"))
        .map(|e| e.metrics.keys().cloned().collect())
        .unwrap_or_default();
    let metrics: Vec<&str> = if serving.is_empty() {
        METRICS.to_vec()
    } else {
        serving.iter().map(String::as_str).collect()
    };
    header.extend(metrics.iter().map(|m| m.to_string()));
    header.push("error".into());
    let rows = entries
        .iter()
        .map(|e| {
            let mut row = vec![Value::from(e.index)];
            row.extend(
                keys.iter()
                    .map(|k| e.point.get(k).cloned().unwrap_or(Value::Null)),
            );
            if search {
                row.push(e.best_cost.map_or(Value::Null, Value::from));
                row.push(e.best_eval.map_or(Value::Null, Value::from));
            }
            row.extend(
                metrics
                    .iter()
                    .map(|m| e.metrics.get(*m).cloned().unwrap_or(Value::Null)),
            );
            row.push(e.error.clone().map_or(Value::Null, Value::from));
            row
        })
        .collect();
    (header, rows)
}

/// The table of a sweep as CSV: one row per point; an empty cell for a missing value.
pub fn write_csv(entries: &[JournalEntry], path: &Path) -> Result<(), Error> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut w = crate::files::csv_writer(path)?;
    let (header, rows) = table(entries);
    w.write_record(&header).map_err(|e| io(&e))?;
    for row in rows {
        let cells = row.iter().map(|v| match v {
            Value::Null => String::new(),
            other => cell(other),
        });
        w.write_record(cells).map_err(|e| io(&e))?;
    }
    crate::files::commit_csv(w)
}

/// The physical type of a Parquet column, chosen from its values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ColumnKind {
    Int,
    Float,
    Bool,
    Str,
}

fn column_kind(values: &[&Value], name: &str) -> ColumnKind {
    let present: Vec<&Value> = values.iter().copied().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        // Keep the column's natural type when every value is missing (e.g. all points failed).
        return match name {
            "index" | "best_eval" => ColumnKind::Int,
            n if archsim_gym::objective::INTEGER_METRICS.contains(&n) => ColumnKind::Int,
            "error" => ColumnKind::Str,
            n if n == "best_cost" || METRICS.contains(&n) => ColumnKind::Float,
            _ => ColumnKind::Str,
        };
    }
    if present.iter().all(|v| v.is_i64()) {
        ColumnKind::Int
    } else if present.iter().all(|v| v.is_number()) {
        ColumnKind::Float
    } else if present.iter().all(|v| v.is_boolean()) {
        ColumnKind::Bool
    } else {
        ColumnKind::Str
    }
}

/// The table of a sweep as Parquet: the columns of `results.csv`, each typed from its values
/// (64-bit integers, doubles, booleans, or UTF-8 strings written as the CSV writes them), every
/// column optional (null where the CSV cell is empty), one row group, uncompressed pages with
/// dictionary encoding.
pub fn write_parquet(entries: &[JournalEntry], path: &Path) -> Result<(), Error> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use std::sync::Arc;

    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let (header, rows) = table(entries);
    let columns: Vec<(String, ColumnKind, Vec<&Value>)> = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let vals: Vec<&Value> = rows.iter().map(|r| &r[c]).collect();
            (name.clone(), column_kind(&vals, name), vals)
        })
        .collect();
    let fields = columns
        .iter()
        .map(|(name, kind, _)| {
            let (physical, logical) = match kind {
                ColumnKind::Int => (Physical::INT64, None),
                ColumnKind::Float => (Physical::DOUBLE, None),
                ColumnKind::Bool => (Physical::BOOLEAN, None),
                ColumnKind::Str => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(&e))?;
    let schema = Type::group_type_builder("sweep")
        .with_fields(fields)
        .build()
        .map_err(|e| io(&e))?;
    let mut file = crate::files::AtomicFile::create(path)?;
    let props = WriterProperties::builder()
        .set_created_by(format!("archsim {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut w = SerializedFileWriter::new(&mut file, Arc::new(schema), Arc::new(props))
        .map_err(|e| io(&e))?;
    let mut group = w.next_row_group().map_err(|e| io(&e))?;
    for (_, kind, vals) in &columns {
        let mut col = group
            .next_column()
            .map_err(|e| io(&e))?
            .ok_or_else(|| io(&"parquet writer has fewer columns than the schema"))?;
        let defs: Vec<i16> = vals.iter().map(|v| i16::from(!v.is_null())).collect();
        let present = vals.iter().filter(|v| !v.is_null());
        let written = match kind {
            ColumnKind::Int => {
                let xs: Vec<i64> = present.filter_map(|v| v.as_i64()).collect();
                col.typed::<Int64Type>().write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Float => {
                let xs: Vec<f64> = present.filter_map(|v| v.as_f64()).collect();
                col.typed::<DoubleType>()
                    .write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Bool => {
                let xs: Vec<bool> = present.filter_map(|v| v.as_bool()).collect();
                col.typed::<BoolType>().write_batch(&xs, Some(&defs), None)
            }
            ColumnKind::Str => {
                let xs: Vec<ByteArray> =
                    present.map(|v| ByteArray::from(cell(v).as_str())).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&xs, Some(&defs), None)
            }
        };
        written.map_err(|e| io(&e))?;
        col.close().map_err(|e| io(&e))?;
    }
    group.close().map_err(|e| io(&e))?;
    w.close().map_err(|e| io(&e))?;
    file.commit()
}

/// The failure reasons of a sweep's points, by count (most frequent first, then by reason),
/// one line each: `  12 × accelerator.rows: must be at least 1`. The `--set PATH=VALUE` that a
/// point's error starts with is dropped, so points failing the same way count together; past
/// `top` reasons, one line counts the rest.
pub fn failure_summary(entries: &[JournalEntry], top: usize) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in entries {
        if let Some(err) = &e.error {
            let reason = err
                .strip_prefix("--set ")
                .and_then(|r| r.split_once(": ").map(|(_, rest)| rest))
                .unwrap_or(err);
            *counts.entry(reason.to_string()).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = rows
        .iter()
        .take(top)
        .map(|(r, n)| format!("  {n} × {r}"))
        .collect();
    if rows.len() > top {
        let rest: usize = rows[top..].iter().map(|r| r.1).sum();
        out.push(format!(
            "  {rest} × {} other reasons (the `error` column of results.csv)",
            rows.len() - top
        ));
    }
    out.join("\n")
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
    .map_err(Error::File)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, removed when the test is done
    /// (passing or not).
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("archsim-sweep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    const NB201_SWEEP: &str = "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\nsweep:\n  grid:\n    workload.model: {nb201: {dataset: cifar100, cells: 40, seed: 3}}\n    accelerator.preset: [eyeriss, nvdla_small]\n";

    #[test]
    fn nb201_generator_draws_distinct_cells_reproducibly() {
        let cfg = parse(NB201_SWEEP, "s.yaml").unwrap();
        let pts = points(&cfg, "s.yaml").unwrap();
        assert_eq!(pts.len(), 80);
        let models: Vec<&str> = pts
            .iter()
            .step_by(2)
            .map(|p| p["workload.model"].as_str().unwrap())
            .collect();
        let ordinals: Vec<usize> = models
            .iter()
            .map(|m| {
                archsim_workloads::zoo::check_name(m).unwrap();
                let arch = m.strip_prefix("nb201:cifar100:").unwrap();
                Nb201Cell::parse(arch).unwrap().ordinal()
            })
            .collect();
        // Distinct and in enumeration order.
        assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "{ordinals:?}");
        // Each cell is paired with both presets.
        assert_eq!(pts[0]["workload.model"], pts[1]["workload.model"]);
        assert_eq!(pts[0]["accelerator.preset"], "eyeriss");
        assert_eq!(pts[1]["accelerator.preset"], "nvdla_small");
        // The same seed gives the same cells; another seed other cells.
        assert_eq!(points(&cfg, "s.yaml").unwrap(), pts);
        let other = parse(&NB201_SWEEP.replace("seed: 3", "seed: 4"), "s.yaml").unwrap();
        assert_ne!(points(&other, "s.yaml").unwrap(), pts);
        // Without `cells`, every cell once; the dataset defaults to CIFAR-10.
        let all = parse(
            &NB201_SWEEP.replace("{dataset: cifar100, cells: 40, seed: 3}", "{}"),
            "s.yaml",
        )
        .unwrap();
        let all = points(&all, "s.yaml").unwrap();
        assert_eq!(all.len(), 2 * Nb201Cell::COUNT);
        assert!(all[0]["workload.model"]
            .as_str()
            .unwrap()
            .starts_with("nb201:cifar10:|none~0|"));
        // The points load as configs.
        assert_eq!(plan(NB201_SWEEP, "s.yaml").unwrap(), pts);
    }

    #[test]
    fn the_bench_config_has_ten_thousand_points() {
        let text = include_str!("../configs/sweep/nb201_presets.yaml");
        let pts = plan(text, "nb201_presets.yaml").unwrap();
        assert_eq!(pts.len(), 10_000);
        let cells: std::collections::BTreeSet<&str> = pts
            .iter()
            .map(|p| p["workload.model"].as_str().unwrap())
            .collect();
        assert_eq!(cells.len(), 5_000);
    }

    #[test]
    fn nb201_sweep_points_simulate() {
        let text = NB201_SWEEP.replace("cells: 40", "cells: 2");
        let pts = plan(&text, "s.yaml").unwrap();
        for (i, p) in pts.iter().enumerate() {
            let e = run_point(&text, "s.yaml", Path::new("."), i, p);
            assert_eq!(e.error, None);
            assert!(e.metrics["latency_s"].as_f64().unwrap() > 0.0);
        }
    }

    #[test]
    fn huge_sweeps_are_refused_before_any_point_is_built() {
        let axis = (0..1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "workload: {{gemm: {{m: 8, n: 8, k: 8}}}}\naccelerator: {{kind: systolic, rows: 8, cols: 8, dataflow: os}}\nsweep:\n  grid:\n    workload.gemm.m: [{axis}]\n    workload.gemm.n: [{axis}]\n    workload.gemm.k: [{axis}]\n"
        );
        let err = plan(&text, "s.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "s.yaml:4:3: sweep.grid: the grid has 1000000000 points (1000 × 1000 × 1000), more \
             than the limit of 1000000 points (MAX_SWEEP_POINTS)"
        );
        // So many axes that the product overflows any integer.
        let many: String = (0..14)
            .map(|i| format!("    workload.x{i}: [{axis}]\n"))
            .collect();
        let text2 = text.replace("    workload.gemm.m", &format!("{many}    workload.gemm.m"));
        let err = plan(&text2, "s.yaml").unwrap_err().to_string();
        assert!(err.contains("the grid has more than 10^38 points"), "{err}");
        // A small grid times many random samples.
        let text3 = format!(
            "{}  random: {{accelerator.rows: {{pow2: [8, 64]}}}}\n  samples: 20000\n",
            text.replace(&format!("    workload.gemm.k: [{axis}]\n"), "")
                .replace(&format!("[{axis}]"), "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")
        );
        let err = plan(&text3, "s.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "s.yaml:8:12: sweep.samples: 100 grid points × 20000 samples is 2000000 points, \
             more than the limit of 1000000 points (MAX_SWEEP_POINTS)"
        );
        let fits = parse(&text3.replace("20000", "1000"), "s.yaml").unwrap();
        assert_eq!(count(&fits, "s.yaml").unwrap(), 100_000);
        // A bad path in a grid is named and located.
        let err = parse(
            &text.replace("workload.gemm.m:", "workload.gemm[m]:"),
            "s.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("s.yaml:5:5: sweep.grid.workload.gemm[m]: bad config path"),
            "{err}"
        );
    }

    #[test]
    fn bad_generators_name_their_key() {
        for (from, to, want) in [
            (
                "cells: 40",
                "cells: 0",
                "sweep.grid.workload.model.nb201.cells: must be 1..=15625",
            ),
            ("cells: 40", "cells: 15626", "not 15626"),
            (
                "dataset: cifar100",
                "dataset: mnist",
                "sweep.grid.workload.model.nb201.dataset",
            ),
            (
                "seed: 3",
                "sed: 3",
                "sweep.grid.workload.model.nb201.sed: unknown field",
            ),
            (
                "{nb201: {",
                "{nb202: {",
                "sweep.grid.workload.model: must be a non-empty list",
            ),
            (
                "[eyeriss, nvdla_small]",
                "[]",
                "sweep.grid.accelerator.preset: must be",
            ),
        ] {
            let text = NB201_SWEEP.replace(from, to);
            let err = parse(&text, "s.yaml").unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
    }

    fn entry(index: usize, point: Value, metrics: Value, error: Option<&str>) -> JournalEntry {
        JournalEntry {
            index,
            point: point.as_object().unwrap().clone(),
            metrics: metrics.as_object().unwrap().clone(),
            best_cost: None,
            best_eval: None,
            trace: Vec::new(),
            error: error.map(String::from),
        }
    }

    /// Every Parquet cell printed as the CSV prints it (floats compared by value).
    fn assert_parquet_equals_csv(dir: &Path) {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::Field;
        let mut csv = csv::Reader::from_path(dir.join("results.csv")).unwrap();
        let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
        let csv_rows: Vec<Vec<String>> = csv
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let reader =
            SerializedFileReader::new(std::fs::File::open(dir.join("results.parquet")).unwrap())
                .unwrap();
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(names, header);
        let rows: Vec<parquet::record::Row> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), csv_rows.len());
        for (row, want) in rows.iter().zip(&csv_rows) {
            let got: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            assert_eq!(got.len(), want.len());
            for (f, w) in got.iter().zip(want) {
                match f {
                    Field::Null => assert_eq!(w, ""),
                    Field::Long(x) => assert_eq!(&x.to_string(), w),
                    Field::Double(x) => assert_eq!(*x, w.parse::<f64>().unwrap(), "{w}"),
                    Field::Bool(x) => assert_eq!(&x.to_string(), w),
                    Field::Str(x) => assert_eq!(x, w),
                    other => panic!("unexpected parquet field {other:?}"),
                }
            }
        }
    }

    #[test]
    fn parquet_table_equals_the_csv() {
        use serde_json::json;
        let dir = scratch("parquet");
        let entries = vec![
            entry(
                0,
                json!({"a.rows": 16, "a.df": "os", "a.f": 0.5, "a.on": true, "a.obj": {"k": 1}}),
                json!({"latency_s": 1.25e-5, "energy_j": 3.0, "area_mm2": 0.1}),
                None,
            ),
            entry(
                1,
                json!({"a.rows": 32, "a.df": "ws", "a.f": 2, "a.on": false, "a.obj": [1, 2]}),
                json!({}),
                Some("accelerator.rows: infeasible, \"quoted\", comma"),
            ),
        ];
        let files = finish(&entries, &dir).unwrap();
        assert!(files.contains(&dir.join("results.parquet")));
        assert_parquet_equals_csv(&dir);
        // Column types follow the values.
        let (header, rows) = table(&entries);
        let col = |n: &str| -> Vec<&Value> {
            let c = header.iter().position(|h| h == n).unwrap();
            rows.iter().map(|r| &r[c]).collect()
        };
        assert_eq!(column_kind(&col("a.rows"), "a.rows"), ColumnKind::Int);
        assert_eq!(column_kind(&col("a.f"), "a.f"), ColumnKind::Float);
        assert_eq!(column_kind(&col("a.on"), "a.on"), ColumnKind::Bool);
        assert_eq!(column_kind(&col("a.df"), "a.df"), ColumnKind::Str);
        assert_eq!(column_kind(&col("a.obj"), "a.obj"), ColumnKind::Str);
        assert_eq!(column_kind(&col("power_w"), "power_w"), ColumnKind::Float);

        // A search sweep adds best_cost and best_eval; an empty sweep is a header-only table.
        let mut s = entries.clone();
        s[0].best_cost = Some(0.25);
        s[0].best_eval = Some(7);
        s[0].trace = vec![1.0, 0.25];
        let d2 = scratch("parquet_search");
        finish(&s, &d2).unwrap();
        assert_parquet_equals_csv(&d2);
        let d3 = scratch("parquet_empty");
        finish(&[], &d3).unwrap();
        assert_parquet_equals_csv(&d3);
    }

    #[test]
    fn swept_mappings_are_labelled_by_kind_and_keys() {
        assert_eq!(cell(&serde_json::json!({"kind": "random"})), "random");
        assert_eq!(
            cell(&serde_json::json!({"kind": "ga", "population": 20})),
            "ga population=20"
        );
        assert_eq!(cell(&serde_json::json!([1, "os"])), "1, os");
        assert_eq!(cell(&serde_json::json!(64)), "64");
    }
}

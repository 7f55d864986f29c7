//! Python bindings of archsim: the private native module `archsim._archsim`.
//!
//! Only registration, type conversion and exception mapping live here: what a call does is a
//! Rust crate's function (the vector environment is `archsim::gym::VecEnv`, a batch evaluation
//! `archsim::search::evaluate_batch_config`, a sweep driven from Python
//! `archsim::sweep::Session`), tested there. The public API is re-exported by
//! `archsim/__init__.py` and the Gymnasium/PettingZoo classes in `archsim/envs/`. Bad input
//! raises `archsim.ConfigError` (a `ValueError`); a malformed action raises `archsim.ActionError`
//! (a `ValueError`); a failure of the model raises `archsim.SimulationError` (a `RuntimeError`);
//! a Rust panic is caught and raised as `SimulationError`, so it never takes the interpreter down.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use archsim::gym::codesign::FnOracle;
use archsim::gym::codesign_env::{oracle_archs, BoxedOracle, CoDesignEnv, CoStep};
use archsim::gym::training_env::TrainingEnv;
use archsim::gym::{presets, DseEnv, Env, GymError, Step, VecEnv, METRICS, TRAINING_METRICS};

/// Rust's allocations in the extension go through mimalloc: a batch evaluation or a vectorized
/// step builds and drops many small configs and reports, and glibc's malloc and free were a
/// third of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    _archsim,
    ConfigError,
    PyValueError,
    "Invalid config, workload or design point."
);
pyo3::create_exception!(
    _archsim,
    ActionError,
    PyValueError,
    "An action that does not fit the action space."
);
pyo3::create_exception!(
    _archsim,
    SimulationError,
    PyRuntimeError,
    "The simulation failed."
);

/// Runs `f` without the GIL and interruptible by Ctrl-C: the long loops inside (the serving
/// engine's events, a search's batches, a sweep's or a batch evaluation's chunks, a co-design
/// search's evaluations) ask through `archsim::sim::cancel` whether Python has a signal
/// pending, at most every 20 ms; when it has, the loop stops and the call raises what the
/// signal's handler raised (`KeyboardInterrupt` for Ctrl-C).
fn interruptible<T: Send, E: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> PyResult<Result<T, E>> {
    let caught: Arc<Mutex<Option<PyErr>>> = Arc::default();
    let slot = Arc::clone(&caught);
    let r = py.detach(move || {
        let hook: std::rc::Rc<dyn Fn() -> bool> = std::rc::Rc::new(move || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(e);
                    }
                    true
                }
            })
        });
        archsim::sim::cancel::scoped(hook, f)
    });
    if let Some(e) = caught.lock().ok().and_then(|mut s| s.take()) {
        return Err(e);
    }
    Ok(r)
}

/// The most steps one `time_steps` call times (a billion steps is ~15 minutes at the fastest
/// step rates measured): a benchmark, not a run.
const MAX_TIME_STEPS: usize = 1_000_000_000;

/// A bad-input error of the config `file`, at `key`.
fn config_error(file: &str, key: &str, message: String) -> archsim::Error {
    archsim::Error::Config(archsim::ConfigError::new(file, message).with_key(key))
}

/// Runs `f`, turning a panic into `SimulationError`.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(SimulationError::new_err(
            "internal error: the simulator panicked; please report this input",
        ))
    })
}

/// Mean seconds of one Rust step over `n` steps cycling through `actions` (`step` runs one,
/// resetting the episode when it ends): the baseline for the binding's overhead.
fn time_steps(
    actions: &[Vec<i64>],
    n: usize,
    mut step: impl FnMut(&[i64]) -> Result<(), GymError>,
) -> PyResult<f64> {
    if actions.is_empty() || n == 0 {
        return Err(PyValueError::new_err("need at least one action and n > 0"));
    }
    if n > MAX_TIME_STEPS {
        return Err(PyValueError::new_err(format!(
            "n = {n} steps is more than the limit of {MAX_TIME_STEPS}"
        )));
    }
    guarded(|| {
        let t0 = std::time::Instant::now();
        for k in 0..n {
            // The GIL is held: Ctrl-C is checked every 4096 steps.
            if k % 4096 == 4095 {
                Python::attach(|py| py.check_signals())?;
            }
            step(&actions[k % actions.len()]).map_err(gym_err)?;
        }
        Ok(t0.elapsed().as_secs_f64() / n as f64)
    })
}

fn gym_err(e: GymError) -> PyErr {
    match e {
        GymError::InvalidAction { .. } => ActionError::new_err(e.to_string()),
        GymError::Evaluation { .. } => SimulationError::new_err(e.to_string()),
        _ => ConfigError::new_err(e.to_string()),
    }
}

/// Simulates a config given as YAML (or JSON) text and returns the report as a JSON string.
///
/// `source` names the config in error messages; relative paths in the config are resolved
/// against `base_dir`; `overrides` are `path=value` strings, as `archsim run --set`.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new()))]
fn simulate_text(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
) -> PyResult<String> {
    guarded(|| {
        let run = || -> Result<String, archsim::Error> {
            let doc = serde_saphyr::from_str::<Value>(text).ok();
            let section_study = |d: &Value| {
                archsim::studies::STUDIES.iter().find_map(|st| {
                    st.section
                        .filter(|k| d.get(*k).is_some_and(|v| !v.is_null()))
                })
            };
            let form = doc.as_ref().and_then(|d| {
                section_study(d).or_else(|| archsim::kind_of(d).map(archsim::ConfigKind::section))
            });
            if let Some(form) = form {
                let entry = if form == "sweep" {
                    "archsim.sweep(config)"
                } else {
                    "archsim.run(config)"
                };
                return Err(config_error(
                    source,
                    form,
                    format!("this is a {form} config, not one simulation: run it with {entry}"),
                ));
            }
            if doc.as_ref().is_some_and(archsim::training::is_training) {
                let (_, r) = archsim::training::run_text(text, source, &overrides)?;
                return Ok(archsim::training::report_json(&r));
            }
            let cfg = archsim::config::load_str(text, source, &overrides)?;
            let report = archsim::simulate(&cfg, Path::new(base_dir))
                .map_err(|e| archsim::locate_error(text, source, &overrides, e))?;
            Ok(archsim::output::report_json(&report))
        };
        interruptible(py, run)?.map_err(run_err)
    })
}

/// Runs a serving config (`workload: {llm: ...}` + `serving:`) and returns
/// `{"report": <report.json>, "requests": {column: [values]}}` as a JSON string.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new()))]
fn serve_text(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
) -> PyResult<String> {
    guarded(|| {
        let run = || -> Result<String, archsim::Error> {
            let f = archsim::serve::load(text, source, &overrides)?;
            let served = archsim::serve::run(&f, Path::new(base_dir))
                .map_err(|e| archsim::serve::config_error(text, source, &overrides, e))?;
            let j = serde_json::json!({"report": served.report, "requests": served.requests});
            Ok(serde_json::to_string(&j).unwrap_or_default())
        };
        interruptible(py, run)?.map_err(run_err)
    })
}

/// Runs a search (a config with a `search:` section) and returns the result as a JSON string:
/// `{agent, seed, best, history, pareto}`. Evaluations run in parallel batches.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new()))]
fn search_text(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
) -> PyResult<String> {
    let run = || {
        archsim::search::run_text(text, source, &overrides, Path::new(base_dir))
            .map(|r| serde_json::to_string(&r).expect("results serialize"))
    };
    guarded(|| interruptible(py, run)?.map_err(run_err))
}

/// Runs any config as `archsim run --json` does (a simulation, a search, a co-design run or a
/// study, by its sections) and returns what that prints, as a JSON string. Files are written
/// into `out` when given.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new(), out=None))]
fn run_text(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
    out: Option<String>,
) -> PyResult<String> {
    let run = || {
        archsim::run_any(&archsim::Request::new(
            text,
            source,
            Path::new(base_dir),
            &overrides,
            out.as_deref().map(Path::new),
        ))
        .map(|o| o.value().to_string())
    };
    guarded(|| interruptible(py, run)?.map_err(run_err))
}

/// Evaluates a batch of points of a search config's problem in parallel, without the GIL.
/// `points_json` is a JSON list of objects (search.space path -> value); `indices` a list of
/// index rows (one index per dimension, as gym actions). Returns `(paths, values per dimension,
/// metric names, metric columns, feasible, reason)`.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new(), points_json=None, indices=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn evaluate_batch_text<'py>(
    py: Python<'py>,
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
    points_json: Option<String>,
    indices: Option<PyReadonlyArray2<'py, i64>>,
) -> PyResult<BatchOut<'py>> {
    let indices: Option<Vec<Vec<i64>>> = indices.map(|a| {
        a.as_array()
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    });
    let run = || {
        archsim::search::evaluate_batch_config(
            text,
            source,
            &overrides,
            Path::new(base_dir),
            points_json.as_deref(),
            indices,
        )
    };
    let archsim::search::BatchRun {
        paths,
        sizes,
        columns: cols,
    } = guarded(|| interruptible(py, run)?.map_err(run_err))?;
    let (names, columns): (Vec<String>, Vec<_>) = cols
        .metrics
        .into_iter()
        .map(|(n, c)| (n.to_string(), c.into_pyarray(py)))
        .unzip();
    let (reason, distinct) = interned(cols.reason);
    Ok((
        paths,
        sizes,
        names,
        columns,
        cols.feasible.into_pyarray(py),
        reason.into_pyarray(py),
        distinct,
    ))
}

/// What `evaluate_batch_text` returns: the dimensions' paths and sizes, the metric names and
/// their columns, feasibility, and the reasons as indices into the distinct reasons.
type BatchOut<'py> = (
    Vec<String>,
    Vec<u64>,
    Vec<String>,
    Vec<Bound<'py, PyArray1<f64>>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<u32>>,
    Vec<String>,
);

fn run_err(e: archsim::Error) -> PyErr {
    if e.is_bad_input() {
        ConfigError::new_err(e.to_string())
    } else {
        SimulationError::new_err(e.to_string())
    }
}

/// The points of a sweep config (its `sweep:` section) as a JSON list of objects (config path
/// → value), in the order `archsim sweep` runs and numbers them.
#[pyfunction]
#[pyo3(signature = (text, source="<config>"))]
fn sweep_points(text: &str, source: &str) -> PyResult<String> {
    guarded(|| {
        let pts = archsim::sweep::plan(text, source).map_err(run_err)?;
        Ok(serde_json::to_string(&pts).expect("points serialize"))
    })
}

/// Evaluates point `index` of a sweep (`point` a JSON object, as `sweep_points` gives it) and
/// returns its journal entry as one line of JSON, exactly as `archsim sweep` journals it. A point
/// that fails is an entry with an `error`, not an exception.
#[pyfunction]
#[pyo3(signature = (text, source, base_dir, index, point))]
fn sweep_point(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    index: usize,
    point: &str,
) -> PyResult<String> {
    let point: serde_json::Map<String, Value> = serde_json::from_str(point).map_err(|e| {
        ConfigError::new_err(format!(
            "sweep point {index}: not a JSON object of path -> value: {e}"
        ))
    })?;
    guarded(|| {
        // A point's failure is part of its entry.
        let Ok(e) = interruptible(py, || {
            Ok::<_, std::convert::Infallible>(archsim::sweep::run_point(
                text,
                source,
                Path::new(base_dir),
                index,
                &point,
            ))
        })?;
        Ok(serde_json::to_string(&e).expect("entries serialize"))
    })
}

/// The entries of a sweep journal (`journal.jsonl`), one JSON line each, in point order. The
/// file is only read: a torn last line (a killed writer) is skipped, a file without archsim's
/// journal header is refused (and left untouched). No file: no entries.
#[pyfunction]
fn sweep_read_journal(path: &str) -> PyResult<Vec<String>> {
    guarded(|| {
        let done = archsim::sweep::read_journal(Path::new(path)).map_err(run_err)?;
        Ok(done
            .values()
            .map(|e| serde_json::to_string(e).expect("entries serialize"))
            .collect())
    })
}

/// Writes the tables of a finished sweep into `out` (`results.csv`, `results.parquet` and the
/// heatmap when two parameters vary) from its journal entries (JSON lines, in point order), as
/// `archsim sweep` does at its end; returns the paths written.
#[pyfunction]
fn sweep_finish(entries: Vec<String>, out: &str) -> PyResult<Vec<String>> {
    let entries = entries_of(&entries)?;
    guarded(|| {
        let files = archsim::sweep::finish_into(&entries, Path::new(out)).map_err(run_err)?;
        Ok(files.iter().map(|p| p.display().to_string()).collect())
    })
}

/// The text of a config file, checked as every input is (a regular file of at most 16 MiB,
/// never a FIFO or a device); `ConfigError` naming the file otherwise.
#[pyfunction]
fn read_config(path: &str) -> PyResult<String> {
    guarded(|| archsim::config::read_file(Path::new(path)).map_err(run_err))
}

/// A sweep's output folder held by this process with its journal open
/// ([`archsim::sweep::Session`]), for a sweep whose points another scheduler evaluates
/// (`archsim.ray.sweep`). `close()` releases the folder.
#[pyclass(module = "archsim._archsim")]
struct SweepSession {
    held: Mutex<Option<archsim::sweep::Session>>,
    done: Vec<String>,
    journal: String,
}

/// Journal entries given as JSON lines, in order.
fn entries_of(lines: &[String]) -> PyResult<Vec<archsim::sweep::JournalEntry>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<archsim::sweep::JournalEntry>(line)
                .map_err(|e| ConfigError::new_err(format!("sweep entry {i}: {e}")))
        })
        .collect()
}

#[pymethods]
impl SweepSession {
    #[new]
    #[pyo3(signature = (text, source, out, fresh=false))]
    fn new(text: &str, source: &str, out: &str, fresh: bool) -> PyResult<Self> {
        guarded(|| {
            let session = archsim::sweep::Session::open(text, source, Path::new(out), fresh)
                .map_err(run_err)?;
            Ok(SweepSession {
                journal: session.journal_path().display().to_string(),
                done: session
                    .entries()
                    .iter()
                    .map(|e| serde_json::to_string(e).expect("entries serialize"))
                    .collect(),
                held: Mutex::new(Some(session)),
            })
        })
    }

    /// The entries already in the journal when the session opened, in point order.
    fn entries(&self) -> Vec<String> {
        self.done.clone()
    }

    /// The journal's path.
    fn journal_path(&self) -> String {
        self.journal.clone()
    }

    /// Appends one entry (a JSON line as `sweep_point` returns it) to the journal, flushed.
    fn append(&self, line: &str) -> PyResult<()> {
        let e: archsim::sweep::JournalEntry = serde_json::from_str(line)
            .map_err(|e| ConfigError::new_err(format!("not a sweep journal entry: {e}")))?;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let session = held
            .as_mut()
            .ok_or_else(|| SimulationError::new_err("the sweep session is closed"))?;
        session.append(&e).map_err(run_err)
    }

    /// Writes `results.csv`, `results.parquet` (and the heatmap) into the folder from the
    /// entries (JSON lines, in point order); returns the paths written.
    fn finish(&self, entries: Vec<String>) -> PyResult<Vec<String>> {
        let entries = entries_of(&entries)?;
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let session = held
            .as_ref()
            .ok_or_else(|| SimulationError::new_err("the sweep session is closed"))?;
        guarded(|| {
            let files = session.finish(&entries).map_err(run_err)?;
            Ok(files.iter().map(|p| p.display().to_string()).collect())
        })
    }

    /// Closes the journal and releases the folder's lock (idempotent).
    fn close(&self) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Runs (or resumes) a whole sweep in this process, exactly as `archsim sweep CONFIG --out OUT`
/// (points in parallel on every core; `fresh` as `--fresh`); returns `{"entries": [...],
/// "files": [...]}` as JSON.
#[pyfunction]
#[pyo3(signature = (text, source, base_dir, out, fresh=false))]
fn sweep_text(
    py: Python<'_>,
    text: &str,
    source: &str,
    base_dir: &str,
    out: &str,
    fresh: bool,
) -> PyResult<String> {
    guarded(|| {
        let (entries, files) = interruptible(py, || {
            archsim::sweep::run_with(text, source, Path::new(base_dir), Path::new(out), fresh)
        })?
        .map_err(run_err)?;
        let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        Ok(serde_json::json!({"entries": entries, "files": files}).to_string())
    })
}

/// The zoo's fixed model names.
#[pyfunction]
fn models() -> Vec<String> {
    archsim::workloads::zoo::all_models()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Names of the environment presets (`SystolicResNet18`, …).
#[pyfunction]
fn env_presets() -> Vec<&'static str> {
    presets::ALL.iter().map(|(n, _)| *n).collect()
}

/// Names of the metrics in an observation, in order.
#[pyfunction]
fn metric_names() -> Vec<&'static str> {
    METRICS.to_vec()
}

fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(f)) => f.into_pyobject(py)?.into_any(),
            _ => n.to_string().into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

type StepTuple<'py> = (Vec<f64>, f64, bool, bool, Bound<'py, PyDict>);

fn step_tuple<'py>(py: Python<'py>, s: Step) -> PyResult<StepTuple<'py>> {
    step_tuple_named(py, s, METRICS)
}

/// [`step_tuple`] of an environment whose metrics are `names`.
fn step_tuple_named<'py>(py: Python<'py>, s: Step, names: &[&str]) -> PyResult<StepTuple<'py>> {
    let info = PyDict::new(py);
    info.set_item("feasible", s.info.feasible)?;
    info.set_item("reason", s.info.reason)?;
    let m = PyDict::new(py);
    for (name, v) in names.iter().zip(&s.info.metrics) {
        m.set_item(*name, *v)?;
    }
    info.set_item("metrics", m)?;
    let p = PyDict::new(py);
    for (path, v) in &s.info.point {
        p.set_item(path, to_py(py, v)?)?;
    }
    info.set_item("point", p)?;
    info.set_item("step", s.info.step)?;
    Ok((s.obs, s.reward, s.terminated, s.truncated, info))
}

/// What one vectorized step returns: per environment, the observation (float32, one row per
/// environment), reward, terminated, truncated, feasible, reason (an index into the list of
/// distinct reasons that follows; "" when feasible) and the raw metrics (one row per environment).
type VecStep<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<u32>>,
    Vec<String>,
    Bound<'py, PyArray2<f64>>,
);

/// Strings as indices into their distinct values (in order of first appearance): N reasons
/// cross into Python as a handful of str objects.
fn interned(strings: impl IntoIterator<Item = String>) -> (Vec<u32>, Vec<String>) {
    let mut distinct: Vec<String> = Vec::new();
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let idx = strings
        .into_iter()
        .map(|s| {
            *seen.entry(s).or_insert_with_key(|k| {
                distinct.push(k.clone());
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    (idx, distinct)
}

/// A row-major matrix of `rows` rows as a 2-D numpy array.
fn matrix<'py, T: numpy::Element>(
    py: Python<'py>,
    flat: Vec<T>,
    rows: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let cols = flat.len().checked_div(rows).unwrap_or(0);
    flat.into_pyarray(py).reshape([rows, cols])
}

/// N copies of one environment stepped together ([`archsim::gym::VecEnv`]): one call from
/// Python steps all of them in parallel with the GIL released. The vector environment of
/// `gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`.
#[pyclass(module = "archsim._archsim")]
struct DseVecCore {
    venv: VecEnv,
}

#[pymethods]
impl DseVecCore {
    /// `num_envs` copies of the environment of a single core, remembering up to `cache_size`
    /// evaluated designs.
    #[new]
    #[pyo3(signature = (core, num_envs, cache_size=VecEnv::DEFAULT_CACHE))]
    fn new(core: &DseEnvCore, num_envs: usize, cache_size: usize) -> PyResult<Self> {
        Ok(DseVecCore {
            venv: VecEnv::new(&core.env, num_envs, cache_size).map_err(gym_err)?,
        })
    }

    /// Designs whose evaluation is kept.
    fn cache_len(&self) -> usize {
        self.venv.cache_len()
    }

    /// Starts every episode (`seeds[i]` for environment i); returns the observations.
    fn reset(&mut self, seeds: Vec<Option<u64>>) -> PyResult<Vec<Vec<f64>>> {
        self.venv.reset(&seeds).map_err(gym_err)
    }

    /// Steps every environment whose `reset_mask` is false with its action (row i of the
    /// `(num_envs, dims)` int64 array) and resets the others (their episode ended on the
    /// previous step: gymnasium's next-step autoreset, reward 0), all in parallel.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        actions: PyReadonlyArray2<'py, i64>,
        reset_mask: PyReadonlyArray1<'py, bool>,
    ) -> PyResult<VecStep<'py>> {
        let rows: Vec<Vec<i64>> = actions
            .as_array()
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect();
        let reset: Vec<bool> = reset_mask.as_array().to_vec();
        let venv = &mut self.venv;
        let steps = guarded(|| py.detach(|| venv.step(&rows, &reset)).map_err(gym_err))?;
        let n = steps.len();
        let m = METRICS.len();
        let mut obs = Vec::with_capacity(n * m);
        let mut metrics = Vec::with_capacity(n * m);
        let (mut rew, mut term, mut trunc, mut feasible) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut reasons = Vec::with_capacity(n);
        for s in steps {
            obs.extend(s.obs.iter().map(|&x| x as f32));
            rew.push(s.reward);
            term.push(s.terminated);
            trunc.push(s.truncated);
            feasible.push(s.info.feasible);
            reasons.push(s.info.reason.unwrap_or_default());
            metrics.extend_from_slice(&s.info.metrics);
        }
        let (reason, distinct) = interned(reasons);
        Ok((
            matrix(py, obs, n)?,
            rew.into_pyarray(py),
            term.into_pyarray(py),
            trunc.into_pyarray(py),
            feasible.into_pyarray(py),
            reason.into_pyarray(py),
            distinct,
            matrix(py, metrics, n)?,
        ))
    }

    /// Mean seconds of one vectorized step over `n` calls (environment i stepping
    /// `actions[i % len(actions)]`, autoreset as in `step`): the Rust side's cost, for
    /// benchmarks.
    fn time_steps(&mut self, py: Python<'_>, actions: Vec<Vec<i64>>, n: usize) -> PyResult<f64> {
        if actions.is_empty() {
            return Err(PyValueError::new_err("give at least one action"));
        }
        if n > MAX_TIME_STEPS {
            return Err(PyValueError::new_err(format!(
                "n = {n} steps is more than the limit of {MAX_TIME_STEPS}"
            )));
        }
        let k = self.venv.len();
        let rows: Vec<Vec<i64>> = (0..k).map(|i| actions[i % actions.len()].clone()).collect();
        let venv = &mut self.venv;
        let t0 = std::time::Instant::now();
        let mut done = vec![false; k];
        for i in 0..n {
            // Between steps the GIL is held: Ctrl-C is checked every 64 steps.
            if i % 64 == 63 {
                py.check_signals()?;
            }
            let steps = guarded(|| py.detach(|| venv.step(&rows, &done)).map_err(gym_err))?;
            done = steps.iter().map(|s| s.terminated || s.truncated).collect();
        }
        Ok(t0.elapsed().as_secs_f64() / n.max(1) as f64)
    }
}

/// The serving evaluator behind `archsim/Serving-v0`: the same [`archsim::gym::evaluator::Serving`]
/// as a fleet search (`search:` on a serving config) and `evaluate_batch` on one, built once per
/// environment so its pools are priced once.
#[pyclass(module = "archsim._archsim")]
struct ServingEvaluatorCore {
    eval: archsim::gym::evaluator::Serving,
}

#[pymethods]
impl ServingEvaluatorCore {
    /// The evaluator of a serving config given as JSON text (it must be valid: a bad key is a
    /// `ConfigError` naming it).
    #[new]
    #[pyo3(signature = (config_json, base_dir="."))]
    fn new(config_json: &str, base_dir: &str) -> PyResult<Self> {
        let base: Value = serde_json::from_str(config_json)
            .map_err(|e| ConfigError::new_err(format!("serving config: {e}")))?;
        guarded(|| {
            Ok(ServingEvaluatorCore {
                eval: archsim::gym::evaluator::Serving::new(&base, Path::new(base_dir))
                    .map_err(gym_err)?,
            })
        })
    }

    /// The names of the metrics `evaluate` returns (`SERVING_METRICS`), in order.
    #[getter]
    fn metrics(&self) -> Vec<&'static str> {
        use archsim::gym::Evaluator;
        self.eval.metrics().to_vec()
    }

    /// Evaluates one fleet (a whole serving config as JSON text; a pool with `count: 0` is left
    /// out) without the GIL. Returns `(metrics or None, reason or None)`: no metrics when the
    /// fleet cannot be evaluated (the reason says why), metrics and a reason when it misses the
    /// SLO (the reason names the bound).
    fn evaluate(
        &self,
        py: Python<'_>,
        config_json: &str,
    ) -> PyResult<(Option<Vec<f64>>, Option<String>)> {
        use archsim::gym::Evaluator;
        let v: Value = serde_json::from_str(config_json)
            .map_err(|e| ConfigError::new_err(format!("serving config: {e}")))?;
        guarded(|| {
            Ok(py.detach(|| match self.eval.evaluate(v) {
                Ok(m) => {
                    let why = self.eval.infeasible(&m);
                    (Some(m), why)
                }
                Err(e) => (None, Some(e)),
            }))
        })
    }
}

/// The Rust environment behind `archsim.envs` (one design evaluated per step).
#[pyclass(module = "archsim._archsim")]
struct DseEnvCore {
    env: DseEnv,
}

#[pymethods]
impl DseEnvCore {
    /// An environment from YAML/JSON text with a `gym:` section.
    #[new]
    #[pyo3(signature = (text, base_dir="."))]
    fn new(text: &str, base_dir: &str) -> PyResult<Self> {
        guarded(|| {
            Ok(DseEnvCore {
                env: DseEnv::from_yaml(text, Path::new(base_dir)).map_err(gym_err)?,
            })
        })
    }

    /// A registered environment by preset name.
    #[staticmethod]
    fn preset(name: &str) -> PyResult<Self> {
        let (_, yaml) = presets::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| {
                ConfigError::new_err(format!(
                    "unknown preset `{name}`; presets: {}",
                    env_presets().join(", ")
                ))
            })?;
        DseEnvCore::new(yaml, ".")
    }

    /// Values per parameter.
    fn nvec(&self) -> Vec<u64> {
        self.env.space().nvec()
    }

    /// Parameter paths, in action order.
    fn param_paths(&self) -> Vec<String> {
        self.env
            .space()
            .params
            .iter()
            .map(|p| p.path.clone())
            .collect()
    }

    /// Steps per episode.
    fn episode_len(&self) -> u64 {
        self.env.episode_len()
    }

    /// `(agent, parameter indices)` pairs of the multi-agent form.
    fn agents(&self) -> Vec<(String, Vec<usize>)> {
        self.env.agents().to_vec()
    }

    /// Starts an episode; returns the first observation.
    #[pyo3(signature = (seed=None))]
    fn reset(&mut self, seed: Option<u64>) -> Vec<f64> {
        self.env.reset(seed)
    }

    /// One step: `(obs, reward, terminated, truncated, info)`.
    fn step<'py>(&mut self, py: Python<'py>, action: Vec<i64>) -> PyResult<StepTuple<'py>> {
        guarded(|| {
            let s = self.env.step(&action).map_err(gym_err)?;
            step_tuple(py, s)
        })
    }

    /// One multi-agent step from `[(agent, indices), …]`.
    fn step_agents<'py>(
        &mut self,
        py: Python<'py>,
        actions: Vec<(String, Vec<i64>)>,
    ) -> PyResult<StepTuple<'py>> {
        guarded(|| {
            let s = self.env.step_agents(&actions).map_err(gym_err)?;
            step_tuple(py, s)
        })
    }

    /// Mean seconds of one Rust step over `n` steps cycling through `actions` (episodes reset
    /// when they end) — the baseline for measuring the binding's overhead in the same run.
    fn time_steps(&mut self, actions: Vec<Vec<i64>>, n: usize) -> PyResult<f64> {
        let env = &mut self.env;
        time_steps(&actions, n, |a| {
            let s = env.step(a)?;
            if s.terminated || s.truncated {
                env.reset(None);
            }
            Ok(())
        })
    }

    /// Per parameter, which values can lead to a feasible design.
    fn action_mask(&self) -> PyResult<Vec<Vec<bool>>> {
        guarded(|| Ok(self.env.action_mask()))
    }
}

/// The Rust environment behind `archsim/Training-v0` ([`TrainingEnv`]: the layout of a
/// training job per step).
#[pyclass(module = "archsim._archsim")]
struct TrainingEnvCore {
    env: TrainingEnv,
}

#[pymethods]
impl TrainingEnvCore {
    /// An environment from a training config as YAML/JSON text (the built-in GPT-3 175B on
    /// 1,024 A100 when `None`).
    #[new]
    #[pyo3(signature = (text=None, episode_len=None))]
    fn new(py: Python<'_>, text: Option<&str>, episode_len: Option<u64>) -> PyResult<Self> {
        let text = text.unwrap_or(presets::TRAINING_GPT3).to_string();
        guarded(|| {
            let env = py
                .detach(|| TrainingEnv::from_yaml(&text, episode_len))
                .map_err(gym_err)?;
            Ok(TrainingEnvCore { env })
        })
    }

    /// Choices per action dimension.
    fn nvec(&self) -> Vec<i64> {
        self.env.nvec()
    }

    /// The action's dimensions (config paths), in order.
    fn dims(&self) -> Vec<&'static str> {
        self.env.dims().to_vec()
    }

    /// The config value of each index, per dimension, as JSON text.
    fn choices(&self) -> String {
        serde_json::to_string(&self.env.choices()).unwrap_or_default()
    }

    /// The observation's names.
    fn obs_names(&self) -> Vec<&'static str> {
        self.env.obs_names().to_vec()
    }

    /// Tokens per second that earn a reward of 1.
    fn reward_scale(&self) -> f64 {
        self.env.reward_scale()
    }

    /// Starts an episode; returns the first observation.
    #[pyo3(signature = (seed=None))]
    fn reset(&mut self, seed: Option<u64>) -> Vec<f64> {
        self.env.reset(seed)
    }

    /// One step: `(obs, reward, terminated, truncated, info)`.
    fn step<'py>(&mut self, py: Python<'py>, action: Vec<i64>) -> PyResult<StepTuple<'py>> {
        guarded(|| {
            let env = &mut self.env;
            let s = py.detach(|| env.step(&action)).map_err(gym_err)?;
            step_tuple_named(py, s, TRAINING_METRICS)
        })
    }
}

/// Names and YAML texts of the co-design environment presets.
#[pyfunction]
fn codesign_presets() -> Vec<(&'static str, &'static str)> {
    vec![("CoDesign", presets::CODESIGN_NB201)]
}

type CoStepTuple<'py> = (Vec<f64>, f64, bool, bool, Bound<'py, PyDict>);

/// The Rust co-design environment behind `archsim.envs.codesign`.
#[pyclass(module = "archsim._archsim")]
struct CoDesignEnvCore {
    env: CoDesignEnv,
    /// The exception raised by the Python accuracy function during the current step.
    py_error: Arc<Mutex<Option<PyErr>>>,
}

impl CoDesignEnvCore {
    fn step_result<'py>(
        &self,
        py: Python<'py>,
        r: Result<CoStep, GymError>,
    ) -> PyResult<CoStepTuple<'py>> {
        let raised = self.py_error.lock().ok().and_then(|mut e| e.take());
        let s = match (r, raised) {
            (Err(_), Some(e)) => return Err(e),
            (r, _) => r.map_err(gym_err)?,
        };
        let info = PyDict::new(py);
        info.set_item("feasible", s.feasible)?;
        info.set_item("reason", s.reason)?;
        let m = PyDict::new(py);
        for (name, v) in self.env.obs_names().iter().zip(&s.obs) {
            m.set_item(name, *v)?;
        }
        info.set_item("metrics", m)?;
        let point = PyDict::new(py);
        point.set_item("networks", &s.result.archs)?;
        point.set_item("network_indices", &s.result.point.nets)?;
        let h = &self.env.config().hardware;
        let subs = PyList::empty(py);
        for [d, r, c, k] in &s.result.point.hw {
            let sub = PyDict::new(py);
            sub.set_item("dataflow", h.dataflows[*d].name())?;
            sub.set_item("rows", h.rows[*r])?;
            sub.set_item("cols", h.cols[*c])?;
            sub.set_item("sram_kib", h.sram_kib[*k])?;
            subs.append(sub)?;
        }
        point.set_item("subs", subs)?;
        info.set_item("point", point)?;
        info.set_item("violations", &s.result.eval.violations)?;
        info.set_item("step", s.step)?;
        Ok((s.obs, s.reward, s.terminated, s.truncated, info))
    }
}

#[pymethods]
impl CoDesignEnvCore {
    /// An environment from YAML/JSON text with a `codesign:` section. With `accuracy_fn`
    /// (a callable `(arch, dataset) -> accuracy %`), accuracies come from it, over `archs`
    /// (default: the networks of the config's CSV oracle).
    #[new]
    #[pyo3(signature = (text, base_dir=".", accuracy_fn=None, archs=None))]
    fn new(
        py: Python<'_>,
        text: &str,
        base_dir: &str,
        accuracy_fn: Option<Py<PyAny>>,
        archs: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let py_error: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let oracle: Option<BoxedOracle> = match accuracy_fn {
            None => {
                if archs.is_some() {
                    return Err(PyValueError::new_err("archs= needs accuracy_fn="));
                }
                None
            }
            Some(f) => {
                if !f.bind(py).is_callable() {
                    return Err(pyo3::exceptions::PyTypeError::new_err(
                        "accuracy_fn must be callable as accuracy_fn(arch, dataset) -> float",
                    ));
                }
                let archs = match archs {
                    Some(a) if a.is_empty() => {
                        return Err(PyValueError::new_err("archs must not be empty"))
                    }
                    Some(a) => a,
                    None => oracle_archs(text, Path::new(base_dir)).map_err(gym_err)?,
                };
                let slot = py_error.clone();
                let call = move |arch: &str, ds: &str| -> Result<f64, String> {
                    Python::attach(|py| {
                        let r = f
                            .bind(py)
                            .call1((arch, ds))
                            .and_then(|v| v.extract::<f64>());
                        r.map_err(|e| {
                            let msg = format!("accuracy_fn({arch:?}, {ds:?}) raised {e}");
                            if let Ok(mut s) = slot.lock() {
                                *s = Some(e);
                            }
                            msg
                        })
                    })
                };
                Some(Box::new(FnOracle::new(archs, Box::new(call))))
            }
        };
        guarded(|| {
            Ok(CoDesignEnvCore {
                env: CoDesignEnv::from_yaml(text, Path::new(base_dir), oracle).map_err(gym_err)?,
                py_error,
            })
        })
    }

    /// Values per action entry (single-agent layout).
    fn nvec(&self) -> Vec<u64> {
        self.env.nvec()
    }

    /// Names of the observation entries.
    fn obs_names(&self) -> Vec<String> {
        self.env.obs_names()
    }

    /// Steps per episode.
    fn episode_len(&self) -> u64 {
        self.env.episode_len()
    }

    /// `(agent, action entries)` pairs of the multi-agent form.
    fn agents(&self) -> Vec<(String, Vec<usize>)> {
        self.env.agents()
    }

    /// Architecture string of network `index` of the oracle.
    fn arch(&self, index: usize) -> PyResult<String> {
        let o = self.env.oracle();
        if index >= o.len() {
            return Err(PyValueError::new_err(format!(
                "network index {index} is outside 0..{}",
                o.len()
            )));
        }
        Ok(o.arch(index).to_string())
    }

    /// Starts an episode; returns the first observation.
    #[pyo3(signature = (seed=None))]
    fn reset(&mut self, seed: Option<u64>) -> Vec<f64> {
        self.env.reset(seed)
    }

    /// One step: `(obs, reward, terminated, truncated, info)`.
    fn step<'py>(&mut self, py: Python<'py>, action: Vec<i64>) -> PyResult<CoStepTuple<'py>> {
        guarded(|| {
            let r = self.env.step(&action);
            self.step_result(py, r)
        })
    }

    /// One multi-agent step from `[(agent, indices), …]`.
    fn step_agents<'py>(
        &mut self,
        py: Python<'py>,
        actions: Vec<(String, Vec<i64>)>,
    ) -> PyResult<CoStepTuple<'py>> {
        guarded(|| {
            let r = self.env.step_agents(&actions);
            self.step_result(py, r)
        })
    }

    /// Mean seconds of one Rust step over `n` steps cycling through `actions`.
    fn time_steps(&mut self, actions: Vec<Vec<i64>>, n: usize) -> PyResult<f64> {
        let env = &mut self.env;
        time_steps(&actions, n, |a| {
            if env.step(a)?.truncated {
                env.reset(None);
            }
            Ok(())
        })
    }
}

/// The native module.
#[pymodule]
fn _archsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    archsim::heap::retain_freed_memory();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("ActionError", m.py().get_type::<ActionError>())?;
    m.add("SimulationError", m.py().get_type::<SimulationError>())?;
    m.add_function(wrap_pyfunction!(simulate_text, m)?)?;
    m.add_function(wrap_pyfunction!(search_text, m)?)?;
    m.add_function(wrap_pyfunction!(serve_text, m)?)?;
    m.add_function(wrap_pyfunction!(run_text, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_batch_text, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_points, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_point, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_read_journal, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_finish, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_text, m)?)?;
    m.add_function(wrap_pyfunction!(read_config, m)?)?;
    m.add_class::<SweepSession>()?;
    m.add_function(wrap_pyfunction!(env_presets, m)?)?;
    m.add_function(wrap_pyfunction!(metric_names, m)?)?;
    m.add_function(wrap_pyfunction!(codesign_presets, m)?)?;
    m.add_class::<DseEnvCore>()?;
    m.add_class::<ServingEvaluatorCore>()?;
    m.add_class::<DseVecCore>()?;
    m.add_class::<CoDesignEnvCore>()?;
    m.add_class::<TrainingEnvCore>()?;
    Ok(())
}

//! Python bindings of archsim: the private native module `archsim._archsim`.
//!
//! Only type conversion and exception mapping live here; the public API is re-exported by
//! `archsim/__init__.py`. Bad input raises `archsim.ConfigError` (a `ValueError`); a failure of
//! the model raises `archsim.SimulationError` (a `RuntimeError`); a Rust panic is caught and
//! raised as `SimulationError`, so it never takes the interpreter down.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _archsim,
    ConfigError,
    PyValueError,
    "Invalid config, workload or design point."
);
pyo3::create_exception!(
    _archsim,
    SimulationError,
    PyRuntimeError,
    "The simulation failed."
);

/// Simulates a config given as YAML (or JSON) text and returns the report as a JSON string.
///
/// `source` names the config in error messages; relative paths in the config are resolved
/// against `base_dir`; `overrides` are `path=value` strings, as `archsim run --set`.
#[pyfunction]
#[pyo3(signature = (text, source="<config>", base_dir=".", overrides=Vec::new()))]
fn simulate_text(
    text: &str,
    source: &str,
    base_dir: &str,
    overrides: Vec<String>,
) -> PyResult<String> {
    let run = || -> Result<String, archsim::Error> {
        let cfg = archsim::config::load_str(text, source, &overrides)?;
        let report = archsim::simulate(&cfg, Path::new(base_dir))?;
        Ok(archsim::output::report_json(&report))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(json)) => Ok(json),
        Ok(Err(e)) if e.is_bad_input() => Err(ConfigError::new_err(e.to_string())),
        Ok(Err(e)) => Err(SimulationError::new_err(e.to_string())),
        Err(_) => Err(SimulationError::new_err(
            "internal error: the simulator panicked; please report this config",
        )),
    }
}

/// The zoo's model names.
#[pyfunction]
fn models() -> Vec<String> {
    archsim::workloads::zoo::MODELS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The native module.
#[pymodule]
fn _archsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("SimulationError", m.py().get_type::<SimulationError>())?;
    m.add_function(wrap_pyfunction!(simulate_text, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    Ok(())
}

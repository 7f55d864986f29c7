//! What one design point costs: the evaluator behind a [`Problem`](crate::Problem).
//!
//! A problem varies a base config by a design space. Its [`Evaluator`] turns one varied config
//! into a metric vector, names those metrics, and says when a design misses a requirement
//! that the config itself states. Three are built in, chosen by the sections of the base config
//! ([`EvaluatorKind::of`]):
//!
//! * [`Simulation`] — `workload` + `accelerator`: one run of the pipeline, the metrics
//!   [`METRICS`] (the observation of every design-space environment, unchanged);
//! * [`Serving`] — `workload: {llm: ...}` + `serving:`: one serving simulation of the
//!   configured traffic on the fleet, the metrics [`SERVING_METRICS`]; a fleet that misses
//!   `serving.slo` is infeasible, with the bound it misses as the reason;
//! * [`CoDesign`] — `cell:` + `workload` + `accelerator`: a NAS-Bench-201 cell (its six edge
//!   ops, `cell.ops[0]` … `cell.ops[5]`) and the chip that runs it: one run of the pipeline on
//!   the cell's network plus the cell's accuracy from the table `cell.oracle`, the metrics
//!   [`CODESIGN_METRICS`] ([`METRICS`] then `accuracy`);
//! * [`Training`] — `workload: {training: ...}`: one simulated training iteration of the
//!   design's layout on its cluster, the metrics [`TRAINING_METRICS`]; an invalid layout or
//!   one that does not fit in memory is infeasible with its reason.
//!
//! Another evaluator plugs in through [`Problem::with_evaluator`](crate::Problem::with_evaluator).
//!
//! ```
//! use archsim_gym::{DesignSpace, Problem};
//! use serde_json::json;
//!
//! let base = json!({
//!     "workload": {"llm": {"model": "llama2_7b"}},
//!     "serving": {
//!         "traffic": {"rate": 4.0, "requests": 100, "seed": 0,
//!                     "prompt_tokens": {"fixed": 256}, "output_tokens": {"fixed": 32}},
//!         "pools": [{"accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0},
//!                                    "mem_bw_gb_s": 3350.0, "mem_gb": 80.0},
//!                    "count": 1, "cost_per_hour": 4.0}],
//!         "scheduler": {"max_batch": 32, "max_batch_tokens": 2048},
//!         "slo": {"ttft_p90_s": 1.0, "tpot_p99_s": 0.1}}
//! });
//! let space = json!({"serving.pools[0].count": {"int": [1, 4]}});
//! let space = DesignSpace::from_map("search.space", space.as_object().unwrap()).unwrap();
//! let p = Problem::new(base, space, std::path::Path::new(".")).unwrap();
//! assert_eq!(p.evaluator().kind(), "serving");
//! let m = p.evaluate(&[1]).unwrap().metrics.unwrap(); // two replicas
//! let cost = p.metric_names().iter().position(|n| *n == "cost_per_hour").unwrap();
//! assert_eq!(m[cost], 8.0);
//! assert!(p.infeasible(&m).is_none()); // the SLO holds
//! ```

mod cache;
mod codesign;
mod patch;
mod serving;
mod simulation;
mod training;

pub use codesign::{CoDesign, CODESIGN_METRICS};
pub use serving::{serving_metrics, Serving, SERVING_METRICS};
pub use simulation::Simulation;
pub use training::{simulate_training, training_metrics, Training, TRAINING_METRICS};

use serde_json::Value;

use archsim_accelerators::config::{typed, KeyError, SimConfig};
use archsim_accelerators::AcceleratorConfig;
use archsim_serving::ServingFile;

use crate::objective::{report_metrics, LLM_STEP_METRICS, METRICS};

/// Evaluates one design point: a whole config (the base with the point's values set) in, a
/// metric vector out. `Sync`, so optimizers evaluate batches in parallel.
pub trait Evaluator: Send + Sync + std::fmt::Debug {
    /// `simulation`, `serving`, `codesign`, or the name of a plugged-in evaluator.
    fn kind(&self) -> &'static str;
    /// The names of the metrics [`Evaluator::evaluate`] returns, in order.
    fn metrics(&self) -> &'static [&'static str];
    /// The metric vector of one design, or why it cannot be evaluated (an invalid config, a
    /// model that does not fit the device): an infeasible point with its reason.
    fn evaluate(&self, config: Value) -> Result<Vec<f64>, String>;
    /// A shortcut for a point given as its values in the order of the design space the
    /// evaluator was built for: exactly what [`Evaluator::evaluate`] gives on the whole config,
    /// or `None` where the whole config must be built (the default).
    fn shortcut(&self, _values: &[Value]) -> Option<Result<Vec<f64>, String>> {
        None
    }
    /// [`Evaluator::shortcut`] for a point given as one index per dimension of that space
    /// (each in its domain's range): exactly what the whole config of the point's values
    /// gives, or `None` (the default) where the values must be decoded.
    fn shortcut_indices(&self, _point: &[i64]) -> Option<Result<Vec<f64>, String>> {
        None
    }
    /// Why an evaluated design misses a requirement the config states (an SLO), if it does:
    /// such a design keeps its metrics and is infeasible with this reason.
    fn infeasible(&self, _metrics: &[f64]) -> Option<String> {
        None
    }
}

/// Which built-in evaluator a base config takes, by its sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluatorKind {
    /// `workload` + `accelerator`: a simulation.
    Simulation,
    /// `workload: {llm: ...}` + `serving:`: a serving run.
    Serving,
    /// `cell:` + `workload` + `accelerator`: a network × hardware co-design point.
    CoDesign,
    /// `workload: {training: ...}` + `accelerator` + `cluster` + `parallel`: one training
    /// iteration.
    Training,
}

impl EvaluatorKind {
    /// A config with a `serving:` section is a serving config, one with a `cell:` section a
    /// co-design config, one with `workload.training` a training config; any other a
    /// simulation.
    pub fn of(config: &Value) -> EvaluatorKind {
        let has = |k: &str| config.get(k).is_some_and(|v| !v.is_null());
        if has("serving") {
            EvaluatorKind::Serving
        } else if has("cell") {
            EvaluatorKind::CoDesign
        } else if archsim_training::file::is_training(config) {
            EvaluatorKind::Training
        } else {
            EvaluatorKind::Simulation
        }
    }

    /// The metrics of this kind's evaluator.
    pub fn metrics(self) -> &'static [&'static str] {
        match self {
            EvaluatorKind::Simulation => METRICS,
            EvaluatorKind::Serving => SERVING_METRICS,
            EvaluatorKind::CoDesign => CODESIGN_METRICS,
            EvaluatorKind::Training => TRAINING_METRICS,
        }
    }

    /// The metrics of this kind's evaluator that the runs of `config` (a valid config of this
    /// kind) do not produce, and why: the [`LLM_STEP_METRICS`] of a simulation whose workload
    /// is not an `llm:` step, or whose accelerator family does not price them. Empty when
    /// every metric is produced (or the config does not read).
    pub fn absent_metrics(self, config: &Value) -> (Vec<&'static str>, String) {
        if matches!(self, EvaluatorKind::Serving | EvaluatorKind::Training) {
            return (Vec::new(), String::new());
        }
        let Ok(cfg) = SimConfig::from_value(config.clone()) else {
            return (Vec::new(), String::new());
        };
        let source = format!(
            "{} come from an `llm:` workload on an accelerator kind that prices them ({})",
            LLM_STEP_METRICS.join(", "),
            AcceleratorConfig::llm_metric_kinds().join(", ")
        );
        if cfg.workload.llm.is_none() {
            (
                LLM_STEP_METRICS.to_vec(),
                format!("{source}; this workload is not an `llm:` step"),
            )
        } else if !cfg.accelerator.llm_metrics() {
            (
                LLM_STEP_METRICS.to_vec(),
                format!("{source}; `{}` does not price them", cfg.accelerator.kind()),
            )
        } else {
            (Vec::new(), String::new())
        }
    }

    /// Reads `config` as this kind's typed config (a schema check: unknown keys, wrong types).
    pub fn check(self, config: Value) -> Result<(), KeyError> {
        match self {
            EvaluatorKind::Simulation | EvaluatorKind::CoDesign => {
                SimConfig::from_value(config).map(|_| ())
            }
            EvaluatorKind::Serving => typed::<ServingFile>(config, &[]).map(|_| ()),
            EvaluatorKind::Training => archsim_training::file::TrainingFile::from_value(config)
                .map(|_| ())
                .map_err(|(p, m)| KeyError::new(p, m)),
        }
    }
}

/// The metrics of a run, or why it cannot count: the model's error, or what does not fit.
fn fitting_metrics(
    r: Result<archsim_sim::Report, archsim_accelerators::AccelError>,
) -> Result<Vec<f64>, String> {
    let r = r.map_err(|e| e.to_string())?;
    if !r.fits {
        return Err(format!("infeasible: {}", r.why_not.join("; ")));
    }
    report_metrics(&r)
}

//! The training evaluator: one simulated iteration of a training config per design point (a
//! layout, a micro-batch, a recompute policy, a ZeRO stage, a cluster...).

use serde_json::Value;

use archsim_training::file::TrainingFile;
use archsim_training::TrainingReport;

use super::Evaluator;
use crate::GymError;

/// The metrics of a training design point ([`Training`]), in order: the iteration, its
/// throughput and utilization, the most loaded device's memory, the exposed-time breakdown,
/// and the job's shape.
pub const TRAINING_METRICS: &[&str] = &[
    "iteration_s",
    "tokens_per_s",
    "tflops_per_gpu",
    "mfu",
    "hfu",
    "memory_gb",
    "compute_s",
    "recompute_s",
    "tp_comm_s",
    "pp_comm_s",
    "dp_comm_s",
    "bubble_s",
    "optimizer_s",
    "micro_batches",
    "devices",
];

/// The metric vector of a training report, in [`TRAINING_METRICS`] order.
pub fn training_metrics(r: &TrainingReport) -> Vec<f64> {
    let b = &r.breakdown;
    vec![
        r.iteration_s,
        r.tokens_per_s,
        r.tflops_per_gpu,
        r.mfu,
        r.hfu,
        r.memory_gb.total,
        b.compute_s,
        b.recompute_s,
        b.tp_comm_s,
        b.pp_comm_s,
        b.dp_comm_s,
        b.bubble_s,
        b.optimizer_s,
        r.micro_batches as f64,
        r.devices as f64,
    ]
}

/// The training evaluator: `archsim run`'s simulation of one iteration of the design's
/// config. A layout the config rules out (degrees that do not multiply out to the devices, a
/// `tp` that does not divide the heads, a micro-batch that does not divide the per-replica
/// batch...) is infeasible with the keys it names; one whose most loaded device does not fit
/// in its memory is infeasible with the bytes it needs. Metrics: [`TRAINING_METRICS`].
#[derive(Debug, Clone, Default)]
pub struct Training;

impl Training {
    /// The evaluator of the training config `base`, which must read as one (its layout may
    /// still be invalid: the search moves it).
    pub fn new(base: &Value) -> Result<Self, GymError> {
        TrainingFile::from_value(base.clone()).map_err(|(p, m)| GymError::InvalidConfig {
            key: p.join("."),
            reason: m,
        })?;
        Ok(Training)
    }
}

/// The report of one training config, or why it cannot count (the keys it names and why;
/// `does not fit: ...` with the bytes when the memory does not fit).
pub fn simulate_training(config: Value) -> Result<TrainingReport, String> {
    let f = TrainingFile::from_value(config).map_err(|(p, m)| format!("{}: {m}", p.join(".")))?;
    let s = f
        .simulate()
        .map_err(|(k, m)| if k.is_empty() { m } else { format!("{k}: {m}") })?;
    Ok(s.report)
}

impl Evaluator for Training {
    fn kind(&self) -> &'static str {
        "training"
    }

    fn metrics(&self) -> &'static [&'static str] {
        TRAINING_METRICS
    }

    fn evaluate(&self, config: Value) -> Result<Vec<f64>, String> {
        let r = simulate_training(config)?;
        if !r.fits {
            return Err(format!(
                "does not fit: {}",
                r.why_not.as_deref().unwrap_or("out of memory")
            ));
        }
        Ok(training_metrics(&r))
    }
}

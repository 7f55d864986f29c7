//! A training config file (`workload.training`, `accelerator`, `cluster`, `parallel`,
//! `checkpoint`) and its simulation: what `archsim run` does with one, and what a search or
//! an environment does with each point it varies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_accelerators::AcceleratorConfig;
use archsim_net::config::ClusterConfig;
use archsim_net::{NetError, NetModel};
use archsim_workloads::DType;

use crate::config::{CheckpointConfig, ParallelConfig, TrainingConfig};
use crate::error::TrainingError;
use crate::model::{device_caps, prepare_with, Calibration, TrainingReport};

/// A training config file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingFile {
    /// What is trained.
    pub workload: TrainingWorkload,
    /// Every device (any `accelerator.kind` that prices a training step, with its keys).
    #[schemars(with = "AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// The machines.
    pub cluster: ClusterConfig,
    /// The parallel layout (default: everything 1).
    #[serde(default)]
    pub parallel: ParallelConfig,
    /// Checkpointing: `{interval_iters, storage_gb_s}` (its cost is reported, amortized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointConfig>,
    /// Seed (nothing here is random; kept for the report's provenance).
    #[serde(default)]
    pub seed: u64,
}

/// `workload:` of a training config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingWorkload {
    /// The job.
    pub training: TrainingConfig,
    /// Element type of weights, activations and gradients (default fp16; fp32 master
    /// weights are the optimizer's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
}

/// True when a parsed config document is a training run (`workload.training`, no study).
pub fn is_training(doc: &Value) -> bool {
    doc.get("workload")
        .and_then(|w| w.get("training"))
        .is_some()
        && doc.get("study").is_none_or(Value::is_null)
}

/// A network error as (key path under `cluster`, message).
pub fn net_key(e: &NetError) -> (String, String) {
    let s = e.to_string();
    match s.split_once(": ") {
        Some((k, m)) if !k.contains(' ') => (format!("cluster.{k}"), m.to_string()),
        _ => (String::new(), s),
    }
}

/// A training error as (the config keys it names, message); the key is empty when the error
/// names none.
pub fn error_key(e: &TrainingError) -> (String, String) {
    match e {
        TrainingError::Invalid { key, reason } => (key.clone(), reason.clone()),
        TrainingError::Net(n) => net_key(n),
        other => (String::new(), other.to_string()),
    }
}

/// One simulated iteration of a training file and the device's description.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The iteration.
    pub report: TrainingReport,
    /// The accelerator family's name.
    pub accelerator: String,
}

impl TrainingFile {
    /// Reads a whole config document (no `search:` or `sweep:` section) as a training file;
    /// errors are (key path, message).
    pub fn from_value(v: Value) -> Result<TrainingFile, (Vec<String>, String)> {
        archsim_accelerators::config::typed(v, &[]).map_err(|e| (e.path, e.message))
    }

    /// Simulates one iteration (the vTrain-fitted A100 calibration, NCCL's collectives);
    /// errors are (the keys they name, message).
    pub fn simulate(&self) -> Result<Simulated, (String, String)> {
        let acc = AcceleratorConfig::from_map(self.accelerator.clone())
            .map_err(|e| (e.key(), e.message))?;
        let spec = self.cluster.spec().map_err(|e| net_key(&e))?;
        let dtype = self.workload.dtype.unwrap_or(DType::Fp16);
        let family = acc
            .family()
            .map_err(|e| ("accelerator".to_string(), e.to_string()))?;
        let caps = device_caps(&acc, dtype).map_err(|e| error_key(&e))?;
        let job = prepare_with(
            &self.workload.training,
            &self.parallel,
            dtype,
            family.as_ref(),
            caps,
            &spec,
            &NetModel::nccl(),
            self.cluster.host.as_ref(),
            self.checkpoint.as_ref(),
        )
        .map_err(|e| error_key(&e))?;
        let report = job
            .evaluate(&Calibration::A100_VTRAIN)
            .map_err(|e| error_key(&e))?;
        Ok(Simulated {
            report,
            accelerator: family.name(),
        })
    }
}

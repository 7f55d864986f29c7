//! Typed errors of the training model.

use thiserror::Error;

/// What can go wrong when a training job is described, lowered or simulated.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainingError {
    /// A config value is out of range or inconsistent; `key` is its config path.
    #[error("{key}: {reason}")]
    Invalid {
        /// The config key (e.g. `parallel.tp`).
        key: String,
        /// Why.
        reason: String,
    },
    /// The model's graph could not be built.
    #[error("lowering {what}: {source}")]
    Workload {
        /// Which graph.
        what: String,
        /// The workload error.
        #[source]
        source: archsim_workloads::WorkloadError,
    },
    /// The accelerator could not price a graph.
    #[error("pricing {what}: {source}")]
    Accelerator {
        /// Which graph.
        what: String,
        /// The accelerator error.
        #[source]
        source: archsim_accelerators::AccelError,
    },
    /// The network could not price a collective.
    #[error("network: {0}")]
    Net(#[from] archsim_net::NetError),
    /// A measurement file could not be read.
    #[error("{path}: {reason}")]
    Data {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> TrainingError {
    TrainingError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

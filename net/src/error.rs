//! The crate's typed errors.

use thiserror::Error;

/// Everything that can go wrong when building a network or pricing a collective.
///
/// Messages are lowercase and name the offending key (the config path the CLI maps it to).
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum NetError {
    /// A bandwidth that is zero, negative or not finite.
    #[error("{key}: bandwidth must be a positive number of GB/s, got {value}")]
    Bandwidth {
        /// The key that holds the bandwidth (e.g. `cluster.scale_up.gb_s`).
        key: String,
        /// The value given.
        value: f64,
    },
    /// A latency that is negative or not finite.
    #[error("{key}: latency must be a non-negative number of µs, got {value}")]
    Latency {
        /// The key that holds the latency.
        key: String,
        /// The value given.
        value: f64,
    },
    /// A count (nodes, devices, NICs, torus dimensions) that is zero or inconsistent.
    #[error("{key}: {reason}")]
    Count {
        /// The key that holds the count.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A node group with no NIC.
    #[error("{key}: a node group needs at least one nic (nics_per_node >= 1)")]
    NoNic {
        /// The key of the group.
        key: String,
    },
    /// The parallel degrees (or a collective's ranks) do not match the topology's devices.
    #[error("{key}: {want} devices asked for, but the cluster has {have}")]
    DeviceCount {
        /// The key of the degree.
        key: String,
        /// Devices the request needs.
        want: usize,
        /// Devices the topology has.
        have: usize,
    },
    /// An algorithm name no collective knows.
    #[error("{key}: unknown algorithm `{name}` (expected one of: {expected})")]
    UnknownAlgorithm {
        /// The key that names it.
        key: String,
        /// The name given.
        name: String,
        /// The names accepted.
        expected: String,
    },
    /// An algorithm that exists but cannot run this collective on this topology.
    #[error("{key}: algorithm `{algorithm}` cannot run {op} here: {reason}")]
    Unsupported {
        /// The key that names the algorithm.
        key: String,
        /// The algorithm.
        algorithm: String,
        /// The collective.
        op: String,
        /// Why not.
        reason: String,
    },
    /// A flow between devices that are not connected, or that names a missing link.
    #[error("flow {flow}: {reason}")]
    Flow {
        /// Index of the flow.
        flow: usize,
        /// What is wrong.
        reason: String,
    },
    /// Measured data that could not be read.
    #[error("{path}: {reason}")]
    Data {
        /// File that failed.
        path: String,
        /// Why.
        reason: String,
    },
}

pub(crate) fn check_bw(key: &str, gb_s: f64) -> Result<f64, NetError> {
    if gb_s.is_finite() && gb_s > 0.0 {
        Ok(gb_s)
    } else {
        Err(NetError::Bandwidth {
            key: key.to_string(),
            value: gb_s,
        })
    }
}

pub(crate) fn check_lat(key: &str, us: f64) -> Result<f64, NetError> {
    if us.is_finite() && us >= 0.0 {
        Ok(us)
    } else {
        Err(NetError::Latency {
            key: key.to_string(),
            value: us,
        })
    }
}

pub(crate) fn check_count(key: &str, n: usize) -> Result<usize, NetError> {
    if n == 0 {
        Err(NetError::Count {
            key: key.to_string(),
            reason: "must be at least 1".into(),
        })
    } else {
        Ok(n)
    }
}

//! The `collective:` workload form: a collective operation and its sizes on a `cluster:`, as
//! `archsim run` reads it (archsim's nccl-tests). The types are the config file's sections; the
//! command line prices every size with [`crate::price_on`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_workloads::DType;

use crate::config::ClusterConfig;
use crate::Op;

/// A collective config file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectiveFile {
    /// The collective and its sizes.
    pub workload: CollectiveWorkload,
    /// The machines.
    pub cluster: ClusterConfig,
    /// Seed (nothing here is random; kept for the report's provenance).
    #[serde(default)]
    pub seed: u64,
}

/// `workload:` of a collective config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectiveWorkload {
    /// The collective.
    pub collective: CollectiveSpec,
    /// Element type (default fp32); `collective.dtype` wins when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
}

/// `workload.collective`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectiveSpec {
    /// `all_reduce`, `reduce_scatter`, `all_gather`, `all_to_all` (`all_to_allv`),
    /// `broadcast`, `reduce` or `send_recv`.
    pub op: Op,
    /// Buffer sizes in bytes (nccl-tests' size): a list, or `{from, to, factor}`.
    pub sizes: Sizes,
    /// Element type (default fp32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// `auto` (default: the NCCL-like choice), `ring`, `tree`, `halving_doubling`, `direct`,
    /// `hierarchical` or `nvls`.
    #[serde(default = "auto")]
    pub algorithm: String,
    /// Devices taking part (default: every device of the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<usize>,
}

fn auto() -> String {
    "auto".into()
}

/// Sizes: an explicit list, or a geometric range as nccl-tests' `-b FROM -e TO -f FACTOR`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Sizes {
    /// Sizes in bytes.
    List(Vec<u64>),
    /// `from`, `from·factor`, … up to `to` (inclusive).
    Range {
        /// First size, bytes.
        from: u64,
        /// Last size, bytes.
        to: u64,
        /// Growth factor (default 2).
        #[serde(default = "two")]
        factor: u64,
    },
}

fn two() -> u64 {
    2
}

impl Sizes {
    /// The sizes, or the key and reason they are bad.
    pub fn expand(&self) -> Result<Vec<u64>, (String, String)> {
        let key = "workload.collective.sizes".to_string();
        let v = match *self {
            Sizes::List(ref v) => v.clone(),
            Sizes::Range { from, to, factor } => {
                if factor < 2 {
                    return Err((format!("{key}.factor"), "must be at least 2".into()));
                }
                if from == 0 || from > to {
                    return Err((key, format!("need 0 < from <= to, got {from}..{to}")));
                }
                let mut v = Vec::new();
                let mut s = from;
                while s <= to {
                    v.push(s);
                    s = match s.checked_mul(factor) {
                        Some(n) => n,
                        None => break,
                    };
                }
                v
            }
        };
        if v.is_empty() {
            return Err((key, "no size given".into()));
        }
        if let Some(i) = v.iter().position(|&s| s == 0) {
            return Err((format!("{key}.{i}"), "a size must be positive".into()));
        }
        Ok(v)
    }
}

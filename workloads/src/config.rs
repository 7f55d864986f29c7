//! The `workload:` section of a config.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::framework::Framework;
use crate::jobs::{JobSet, JobsConfig};
use crate::llm::LlmConfig;
use crate::{scalesim, single_gemm, zoo, DType, Workload, WorkloadError};

/// Dimensions of a single GEMM `[m×k]·[k×n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GemmDims {
    /// Rows of the left operand and of the result.
    pub m: u64,
    /// Columns of the right operand and of the result.
    pub n: u64,
    /// Reduction length.
    pub k: u64,
}

fn one() -> u64 {
    1
}

/// The `workload:` section: exactly one of `model`, `scalesim_topology`, `gemm`, `llm` or `jobs`, plus
/// the shared keys `batch` and `dtype` (an `llm:` section has its own `batch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// A zoo model name (`resnet18`, `efficientnet_b0`, `nb201:<arch>`, …; see `zoo::MODELS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Path of a SCALE-Sim topology CSV (conv or GEMM format), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalesim_topology: Option<PathBuf>,
    /// A single GEMM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm: Option<GemmDims>,
    /// Path of an ONNX model, relative to the config file (`batch` overrides its batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
    /// Import ONNX ops archsim does not know as zero-cost placeholders (one warning per op
    /// type) instead of failing (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unsupported_ops: bool,
    /// An LLM inference step: `{model, phase, batch, prompt_len, context_len, layers, tp, moe_skew}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmConfig>,
    /// A stream of job DAGs for a heterogeneous SoC (`accelerator.kind: soc`):
    /// `{apps: [{name | file, weight}], arrival: {process, rate_per_ms}, count}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobsConfig>,
    /// Several networks run concurrently on a heterogeneous chip (`accelerator.kind: hetero`),
    /// each a workload section of its own (`model`, `gemm`, …, with its own `batch` and
    /// `dtype`): `tasks: [{model: "nb201:cifar10:<arch>"}, {model: "nb201:cifar100:<arch>"}]`.
    /// Task `i` runs on sub-accelerator `accelerator.assignment[i]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<WorkloadConfig>>,
    /// Tokens per sequence for a zoo sequence model given by `model` (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<u64>,
    /// Batch size (default 1).
    #[serde(default = "one")]
    pub batch: u64,
    /// Element type (default `bf16` for an `llm:` workload, as LLMs are served; `int8`
    /// otherwise, SCALE-Sim's one-byte word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// How a framework turns the ops into kernels: `pytorch` (default; plain eager PyTorch,
    /// the program the GPU model is validated on) or `fused` (an inference engine: conv + BN +
    /// activation fused, one-kernel RMSNorm, in-place KV writes, native grouped-query reads).
    /// See `doc/gpu.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
}

/// A co-design config's `cell:` section: the NAS-Bench-201 cell whose network is the workload
/// (the loader builds `workload.model` from it), and where its accuracy comes from.
///
/// `ops` are the ops of the cell's six edges in the benchmark's order: node 1 from node 0,
/// node 2 from nodes 0 and 1, node 3 from nodes 0, 1 and 2, so `[a, b, c, d, e, f]` is the cell
/// `|a~0|+|b~0|c~1|+|d~0|e~1|f~2|`. A search varies them as `cell.ops[0]` … `cell.ops[5]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellConfig {
    /// The dataset the network is built for and its accuracy read on: `cifar10`, `cifar100` or
    /// `imagenet16-120`.
    pub dataset: String,
    /// The accuracy table (`nb201.csv` format: `arch` and `<dataset>_test_acc` columns),
    /// relative to the config file.
    pub oracle: PathBuf,
    /// The op of each of the six edges: `none`, `skip_connect`, `nor_conv_1x1`,
    /// `nor_conv_3x3`, `avg_pool_3x3`.
    pub ops: Vec<String>,
}

impl CellConfig {
    /// The cell's arch string (`|a~0|+|b~0|c~1|+|d~0|e~1|f~2|`), or why the section is invalid
    /// (the error names the key: `cell.ops`, `cell.ops.<i>`).
    pub fn arch(&self) -> Result<String, WorkloadError> {
        let bad = |key: String, reason: String| WorkloadError::InvalidParameter { key, reason };
        if self.ops.len() != 6 {
            return Err(bad(
                "cell.ops".into(),
                format!(
                    "a NAS-Bench-201 cell has 6 edges; got {} ops",
                    self.ops.len()
                ),
            ));
        }
        let known: Vec<&str> = zoo::Nb201Op::ALL.iter().map(|o| o.name()).collect();
        for (i, op) in self.ops.iter().enumerate() {
            if !known.contains(&op.as_str()) {
                return Err(bad(
                    format!("cell.ops.{i}"),
                    format!("unknown op `{op}`; known: {}", known.join(", ")),
                ));
            }
        }
        let o = &self.ops;
        Ok(format!(
            "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|",
            o[0], o[1], o[2], o[3], o[4], o[5]
        ))
    }

    /// The zoo name of the cell's network: `nb201:<dataset>:<arch>`.
    pub fn model(&self) -> Result<String, WorkloadError> {
        let ds: zoo::Nb201Dataset =
            self.dataset
                .parse()
                .map_err(|_| WorkloadError::InvalidParameter {
                    key: "cell.dataset".into(),
                    reason: format!(
                        "unknown dataset `{}`; known: cifar10, cifar100, imagenet16-120",
                        self.dataset
                    ),
                })?;
        Ok(format!(
            "{}{}:{}",
            zoo::NB201_PREFIX,
            ds.name(),
            self.arch()?
        ))
    }
}

impl WorkloadConfig {
    /// A zoo model at batch 1 (int8 unless `dtype` is set).
    pub fn model(name: &str) -> Self {
        WorkloadConfig {
            model: Some(name.into()),
            scalesim_topology: None,
            gemm: None,
            onnx: None,
            allow_unsupported_ops: false,
            llm: None,
            jobs: None,
            tasks: None,
            seq_len: None,
            batch: 1,
            dtype: None,
            framework: None,
        }
    }

    /// The element type: `dtype` when given, else `bf16` for `llm:` and `int8` otherwise.
    pub fn dtype(&self) -> DType {
        self.dtype.unwrap_or(if self.llm.is_some() {
            DType::Bf16
        } else {
            DType::Int8
        })
    }

    /// The framework (`pytorch` unless given).
    pub fn framework(&self) -> Framework {
        self.framework.unwrap_or_default()
    }

    /// Hands `framework` down to the `llm:` step, and each task's to its own (the loader calls it, so
    /// that `llm` always carries the program it lowers to).
    pub fn fill_framework(&mut self) {
        let fw = self.framework();
        if let Some(l) = &mut self.llm {
            l.framework = fw;
        }
        for t in self.tasks.iter_mut().flatten() {
            t.fill_framework();
        }
    }

    /// The `llm:` step with the workload's framework filled in (what the lowering and the
    /// serving metrics use).
    pub fn llm_step(&self) -> Option<LlmConfig> {
        self.llm.as_ref().map(|l| LlmConfig {
            framework: self.framework(),
            ..l.clone()
        })
    }

    /// Checks that exactly one source is given and the shared keys are in range.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |key: &str, reason: String| WorkloadError::InvalidParameter {
            key: key.into(),
            reason,
        };
        let given = [
            self.model.is_some(),
            self.scalesim_topology.is_some(),
            self.gemm.is_some(),
            self.onnx.is_some(),
            self.llm.is_some(),
            self.jobs.is_some(),
            self.tasks.is_some(),
        ];
        const SOURCES: &str =
            "`model`, `scalesim_topology`, `gemm`, `onnx`, `llm`, `jobs` or `tasks`";
        match given.iter().filter(|&&g| g).count() {
            1 => {}
            0 => return Err(bad("workload", format!("give one of {SOURCES}"))),
            _ => return Err(bad("workload", format!("give only one of {SOURCES}"))),
        }
        if self.batch == 0 {
            return Err(bad("workload.batch", "must be at least 1".into()));
        }
        // The batch every form shares, except those it would not reach.
        if self.batch != 1 && self.tasks.is_some() {
            return Err(bad(
                "workload.batch",
                "each task of a `tasks:` workload has its own batch (workload.tasks.<i>.batch); \
                 this one would be ignored"
                    .into(),
            ));
        }
        if self.batch != 1 && self.jobs.is_some() {
            return Err(bad(
                "workload.batch",
                "a `jobs:` stream has no batch (its applications' tasks are what runs); this \
                 would be ignored"
                    .into(),
            ));
        }
        let too_big = format!("must be at most {}", crate::MAX_SIZE);
        if self.batch > crate::MAX_SIZE {
            return Err(bad("workload.batch", too_big));
        }
        if self.seq_len.is_some_and(|s| s > crate::MAX_SIZE) {
            return Err(bad("workload.seq_len", too_big));
        }
        if let Some(m) = &self.model {
            zoo::check_name(m).map_err(|e| WorkloadError::InvalidParameter {
                key: "workload.model".into(),
                reason: match e {
                    WorkloadError::InvalidParameter { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
            if self.seq_len.is_some() && crate::llm::spec(m).is_none() {
                return Err(bad(
                    "workload.seq_len",
                    format!("`{m}` is not a sequence model"),
                ));
            }
        } else if self.seq_len.is_some() {
            return Err(bad(
                "workload.seq_len",
                "only applies to a zoo sequence model given by `model`".into(),
            ));
        }
        if self.allow_unsupported_ops && self.onnx.is_none() {
            return Err(bad(
                "workload.allow_unsupported_ops",
                "only applies to an `onnx:` workload".into(),
            ));
        }
        if self.seq_len == Some(0) {
            return Err(bad("workload.seq_len", "must be at least 1".into()));
        }
        if let Some(g) = &self.gemm {
            for (k, v) in [("m", g.m), ("n", g.n), ("k", g.k)] {
                if v == 0 {
                    return Err(bad(
                        &format!("workload.gemm.{k}"),
                        "must be positive".into(),
                    ));
                }
                if v > crate::MAX_SIZE {
                    return Err(bad(&format!("workload.gemm.{k}"), too_big));
                }
            }
            let macs = [self.batch, g.m, g.n, g.k]
                .iter()
                .fold(1u128, |a, &d| a * u128::from(d));
            if macs > u128::from(crate::MAX_OP_MACS) {
                return Err(bad(
                    "workload.gemm",
                    format!(
                        "batch x m x n x k = {macs} MACs, more than the {} one op may have",
                        crate::MAX_OP_MACS
                    ),
                ));
            }
        }
        if let Some(j) = &self.jobs {
            j.validate()?;
        }
        if let Some(tasks) = &self.tasks {
            if tasks.is_empty() {
                return Err(bad("workload.tasks", "give at least one task".into()));
            }
            for (i, t) in tasks.iter().enumerate() {
                if t.tasks.is_some() || t.jobs.is_some() {
                    return Err(bad(
                        &format!("workload.tasks.{i}"),
                        "a task is one network: `tasks` and `jobs` do not nest".into(),
                    ));
                }
                t.validate().map_err(|e| match e {
                    WorkloadError::InvalidParameter { key, reason } => {
                        WorkloadError::InvalidParameter {
                            key: key.replacen("workload", &format!("workload.tasks.{i}"), 1),
                            reason,
                        }
                    }
                    other => other,
                })?;
            }
        }
        if let Some(l) = &self.llm {
            l.check_sizes()?;
            l.check_parallelism()?;
            if crate::llm::spec(&l.model).is_none() {
                return Err(bad(
                    "workload.llm.model",
                    format!(
                        "unknown model `{}`; known: {}",
                        l.model,
                        crate::llm::MODELS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Builds the workload; relative paths are resolved against `base_dir`.
    ///
    /// A `jobs:` workload is not an op graph: build it with [`WorkloadConfig::build_jobs`].
    pub fn build(&self, base_dir: &Path) -> Result<Workload, WorkloadError> {
        self.build_with_warnings(base_dir).map(|(w, _)| w)
    }

    /// Like [`WorkloadConfig::build`], also returning the importer's warnings (ONNX ops
    /// imported as placeholders).
    pub fn build_with_warnings(
        &self,
        base_dir: &Path,
    ) -> Result<(Workload, Vec<String>), WorkloadError> {
        if let Some(p) = &self.onnx {
            self.validate()?;
            let opts = crate::onnx::OnnxOptions {
                batch: Some(self.batch),
                dtype: self.dtype(),
                allow_unsupported: self.allow_unsupported_ops,
            };
            let mut imp = crate::onnx::read_onnx(&base_dir.join(p), &opts)?;
            imp.workload.check_size()?;
            imp.workload.framework = self.framework();
            return Ok((imp.workload, imp.warnings));
        }
        let w = self.build_graph(base_dir)?;
        w.check_size()?;
        Ok((w, Vec::new()))
    }

    fn build_graph(&self, base_dir: &Path) -> Result<Workload, WorkloadError> {
        self.validate()?;
        if self.jobs.is_some() {
            return Err(WorkloadError::InvalidParameter {
                key: "workload.jobs".into(),
                reason: "a job stream is not an op graph; it runs on `accelerator.kind: soc`"
                    .into(),
            });
        }
        if self.tasks.is_some() {
            return Err(WorkloadError::InvalidParameter {
                key: "workload.tasks".into(),
                reason: "several tasks run together on `accelerator.kind: hetero`; build them \
                         with `build_tasks`"
                    .into(),
            });
        }
        let mut w = if let Some(m) = &self.model {
            zoo::build_program(m, self.batch, self.dtype(), self.seq_len, self.framework())?
        } else if let Some(p) = &self.scalesim_topology {
            scalesim::read_topology(&base_dir.join(p), self.batch, self.dtype())?
        } else if let Some(l) = self.llm_step() {
            crate::llm::lower(&l, self.dtype())?
        } else {
            let g = self
                .gemm
                .expect("validate checked that one source is given");
            let mut w = single_gemm(self.batch * g.m, g.n, g.k, self.dtype())?;
            w.batch = self.batch;
            w
        };
        w.framework = self.framework();
        Ok(w)
    }

    /// The workload's form: an op graph, several concurrent networks or a job stream.
    pub fn form(&self) -> Form {
        if self.is_jobs() {
            Form::Jobs
        } else if self.is_tasks() {
            Form::Tasks
        } else {
            Form::Graph
        }
    }

    /// True when the workload is several concurrent networks (`tasks:`).
    pub fn is_tasks(&self) -> bool {
        self.tasks.is_some()
    }

    /// Builds every task of a `tasks:` workload, in order (a single-network workload is one
    /// task).
    pub fn build_tasks(&self, base_dir: &Path) -> Result<Vec<Workload>, WorkloadError> {
        self.validate()?;
        match &self.tasks {
            Some(ts) => ts.iter().map(|t| t.build(base_dir)).collect(),
            None => Ok(vec![self.build(base_dir)?]),
        }
    }

    /// True when the workload is a stream of SoC jobs (`jobs:`).
    pub fn is_jobs(&self) -> bool {
        self.jobs.is_some()
    }

    /// Builds a `jobs:` workload: loads the applications and draws the arrivals with `seed`.
    pub fn build_jobs(&self, base_dir: &Path, seed: u64) -> Result<JobSet, WorkloadError> {
        self.validate()?;
        match &self.jobs {
            Some(j) => j.build(base_dir, seed),
            None => Err(WorkloadError::InvalidParameter {
                key: "workload".into(),
                reason: "`accelerator.kind: soc` runs a `jobs:` workload".into(),
            }),
        }
    }
}

/// The forms a workload takes; a hardware family states which it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// One op graph (a zoo model, an ONNX file, a SCALE-Sim topology, a GEMM, an `llm:` step).
    Graph,
    /// Several networks run concurrently (`workload: {tasks: [...]}`).
    Tasks,
    /// A stream of job DAGs (`workload: {jobs: ...}`).
    Jobs,
}

impl Form {
    /// The form in words, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Form::Graph => "single op-graph",
            Form::Tasks => "`tasks:`",
            Form::Jobs => "`jobs:`",
        }
    }

    /// The `workload` key that selects the form (`workload` itself for an op graph).
    pub fn key(self) -> &'static str {
        match self {
            Form::Graph => "workload",
            Form::Tasks => "workload.tasks",
            Form::Jobs => "workload.jobs",
        }
    }
}

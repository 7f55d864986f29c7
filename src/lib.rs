//! # archsim — a cycle-approximate simulator of AI hardware
//!
//! This root crate ties the stages together for the `archsim` binary and the Python package:
//!
//! ```text
//! config.yaml ──► Workload ──► Mapping ──► Schedule ──► Report ──► report.json / ops.csv / plots
//!  (config)      (workloads)  (accelerators)  (sim)       (sim)      (output, plot)
//! ```
//!
//! ```
//! let cfg = archsim::config::load_str(archsim::QUICKSTART, "quickstart.yaml", &[]).unwrap();
//! let report = archsim::simulate(&cfg, std::path::Path::new(".")).unwrap();
//! assert_eq!(report.workload, "resnet18");
//! assert!(report.total_cycles > 0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod codesign;
pub mod config;
pub mod nasbench;
pub mod output;
pub mod plot;
pub mod search;
pub mod sn40l;
pub mod study;
pub mod sweep;

use std::path::Path;

use thiserror::Error;

pub use archsim_accelerators as accelerators;
pub use archsim_agents as agents;
pub use archsim_gym as gym;
pub use archsim_sim as sim;
pub use archsim_sim::Report;
pub use archsim_workloads as workloads;
pub use config::{Config, ConfigError};

/// The embedded default config: ResNet-18 on a 128×128 output-stationary array.
pub const QUICKSTART: &str = include_str!("../configs/quickstart.yaml");

/// Any error of a run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file is malformed or has a bad value (bad input).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The workload cannot be built (bad input).
    #[error(transparent)]
    Workload(#[from] archsim_workloads::WorkloadError),
    /// The design point is infeasible or the model failed.
    #[error(transparent)]
    Accelerator(#[from] archsim_accelerators::AccelError),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// True when the error comes from the user's input (config, workload, design point),
    /// as opposed to the environment (I/O).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Error::Io { .. })
    }
}

/// FNV-1a hash of the config's canonical JSON: the `config_hash` of the report's provenance.
pub fn config_hash(cfg: &Config) -> String {
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    archsim_sim::fnv1a_hex(&json)
}

/// Runs the whole pipeline for `cfg`; relative paths in it are resolved against `base_dir`.
///
/// A `jobs:` workload on `accelerator.kind: soc` runs the SoC scheduling simulation; its report
/// carries the job statistics (`makespan`, latency percentiles, PE utilization, …). A `tasks:`
/// workload on `accelerator.kind: hetero` runs its networks concurrently; the report carries
/// per-task latency in `tasks`.
pub fn simulate(cfg: &Config, base_dir: &Path) -> Result<Report, Error> {
    if cfg.workload.is_jobs() {
        return simulate_jobs(cfg, base_dir);
    }
    if cfg.workload.is_tasks() {
        let tasks = cfg.workload.build_tasks(base_dir)?;
        return match &cfg.accelerator {
            archsim_accelerators::AcceleratorConfig::Hetero(h) => {
                let chip = archsim_accelerators::hetero::Hetero::new(h.clone())?;
                Ok(chip.simulate(&tasks, &config_hash(cfg), cfg.seed)?)
            }
            _ => Err(Error::Accelerator(
                archsim_accelerators::AccelError::InvalidConfig {
                    key: "kind".into(),
                    reason: "a `tasks:` workload runs on `kind: hetero`".into(),
                },
            )),
        };
    }
    evaluate(cfg, &cfg.workload.build(base_dir)?)
}

/// Runs a `jobs:` workload on its SoC.
pub fn simulate_jobs(cfg: &Config, base_dir: &Path) -> Result<Report, Error> {
    let set = cfg.workload.build_jobs(base_dir, cfg.seed)?;
    match &cfg.accelerator {
        archsim_accelerators::AcceleratorConfig::Soc(soc) => Ok(
            archsim_accelerators::soc::simulate(soc, &set, &config_hash(cfg), cfg.seed)?,
        ),
        _ => Err(Error::Accelerator(
            archsim_accelerators::AccelError::InvalidConfig {
                key: "kind".into(),
                reason: "a `jobs:` workload runs on `kind: soc`".into(),
            },
        )),
    }
}

/// Runs the mapping, schedule and report stages of `cfg` on an already built workload.
///
/// On a GPU the report also carries the serving metrics of an `llm:` workload (TTFT, TPOT,
/// memory, largest batch, KV-cache swapping) in its `llm` field; a model whose weights do not
/// fit in device memory is an out-of-memory error.
pub fn evaluate(cfg: &Config, w: &archsim_workloads::Workload) -> Result<Report, Error> {
    if let archsim_accelerators::AcceleratorConfig::Gpu(g) = &cfg.accelerator {
        let gpu = archsim_accelerators::gpu::Gpu::new(g)?;
        let llm = match &cfg.workload.llm {
            Some(l) => Some(archsim_accelerators::gpu::llm::metrics(
                &gpu,
                l,
                cfg.workload.dtype(),
            )?),
            None => None,
        };
        let mut report = gpu.evaluate(w, &config_hash(cfg), cfg.seed)?;
        report.llm = llm;
        return Ok(report);
    }
    if let archsim_accelerators::AcceleratorConfig::Rdu(c) = &cfg.accelerator {
        return Ok(archsim_accelerators::rdu::evaluate(
            c,
            w,
            &config_hash(cfg),
            cfg.seed,
        )?);
    }
    if let archsim_accelerators::AcceleratorConfig::NpuPim(c) = &cfg.accelerator {
        return Ok(archsim_accelerators::npu_pim::evaluate(
            c,
            cfg.workload.llm.as_ref(),
            cfg.workload.dtype(),
            w,
            &config_hash(cfg),
            cfg.seed,
        )?);
    }
    let acc = cfg.accelerator.build()?;
    Ok(archsim_accelerators::pipeline::evaluate(
        w,
        acc.as_ref(),
        &config_hash(cfg),
        cfg.seed,
    )?)
}

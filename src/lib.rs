//! # archsim — a cycle-approximate simulator of AI hardware
//!
//! This root crate ties the stages together for the `archsim` binary and the Python package:
//!
//! ```text
//! config.yaml ──► Workload ──► Mapping ──► Schedule ──► Report ──► report.json / ops.csv / plots
//!  (config)      (workloads)  (accelerators)  (sim)       (sim)      (output, plot)
//! ```
//!
//! Every config, whatever its kind (a simulation, a search, a serving, training or collective
//! run, a study of `archsim-studies`), runs through one dispatcher, [`run_any`], which returns
//! a typed [`Outcome`] (what ran, the files written, what `archsim run` prints); the binary
//! (`src/main.rs`) only parses arguments, calls [`run_command`] and prints, and Python's
//! `archsim.run` calls [`run_any`]. The root crate names no study and no accelerator family:
//! studies come from the registry of `archsim-studies` (lent the config loader and the
//! simulator through [`Runner`]), families from the registry of `archsim-accelerators`; the
//! run's error, located config errors, files and plots are `archsim-io`, re-exported here.
//!
//! ```
//! let set: Vec<String> = vec![];
//! let req = archsim::Request::new(archsim::QUICKSTART, "quickstart.yaml", ".".as_ref(), &set, None);
//! let outcome = archsim::run_any(&req).unwrap();
//! assert!(matches!(outcome.ran, archsim::Ran::Simulation(_)));
//! assert_eq!(outcome.value()["workload"], "resnet18");
//!
//! let cfg = archsim::config::load_str(archsim::QUICKSTART, "quickstart.yaml", &[]).unwrap();
//! let report = archsim::simulate(&cfg, std::path::Path::new(".")).unwrap();
//! assert_eq!(report.workload, "resnet18");
//! assert!(report.total_cycles > 0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod collective;
pub mod config;
pub mod output;
pub mod run;
pub mod schema;
pub mod search;
pub mod serve;
pub mod sweep;
pub mod training;

use std::path::Path;

pub use archsim_accelerators as accelerators;
pub use archsim_agents as agents;
pub use archsim_gym as gym;
pub use archsim_io::{files, finite, heap, plot, Error};
pub use archsim_serving as serving;
pub use archsim_sim as sim;
pub use archsim_sim::Report;
pub use archsim_studies as studies;
pub use archsim_workloads as workloads;
pub use config::{Config, ConfigError};
pub use run::{
    check_out, kind_of, run_any, run_command, ConfigKind, Outcome, Printed, Ran, Request, Stage,
};

/// The embedded default config: ResNet-18 on a 128×128 output-stationary array.
pub const QUICKSTART: &str = include_str!("../configs/quickstart.yaml");

/// An error about a key of the config (a workload's or an accelerator's check that runs after
/// the config loaded, when the workload is built or the model runs) as a [`ConfigError`] at the
/// key's line and column in `text`, or named by the `--set` override that gave the value; any
/// other error unchanged.
pub fn locate_error(text: &str, file: &str, overrides: &[String], e: Error) -> Error {
    let (key, reason) = match &e {
        Error::Workload(archsim_workloads::WorkloadError::InvalidParameter { key, reason }) => {
            (key.clone(), reason.clone())
        }
        Error::Accelerator(archsim_accelerators::AccelError::InvalidConfig { key, reason }) => {
            (format!("accelerator.{key}"), reason.clone())
        }
        _ => return e,
    };
    Error::Config(config::located_key_error(
        text, file, overrides, &key, reason,
    ))
}

/// FNV-1a hash of the config's canonical JSON: the `config_hash` of the report's provenance.
pub fn config_hash(cfg: &Config) -> String {
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    archsim_sim::fnv1a_hex(&json)
}

/// Runs the whole pipeline for `cfg`; relative paths in it are resolved against `base_dir`.
///
/// The config builds its family (`accelerator.kind`, through the registry in
/// `archsim_accelerators`) and the workload in its form: an op graph, several networks run
/// concurrently (`tasks:`, whose report carries per-task latency in `tasks`), or a stream of
/// job DAGs (`jobs:`, whose report carries the job statistics). Which families run which form
/// is checked when the config loads.
///
/// A report with a value that is not a finite number (a metric the model cannot compute for
/// this design) is an error naming it ([`Error::Failed`], [`finite::check`]), never a report
/// whose JSON would read `null` there.
pub fn simulate(cfg: &Config, base_dir: &Path) -> Result<Report, Error> {
    use archsim_workloads::Form;
    let family = cfg.accelerator.family()?;
    let hash = config_hash(cfg);
    let ctx = cfg.context(&hash);
    let report = match cfg.workload.form() {
        Form::Graph => family.run_graph(&cfg.workload.build(base_dir)?, &ctx)?,
        Form::Tasks => family.run_tasks(&cfg.workload.build_tasks(base_dir)?, &ctx)?,
        Form::Jobs => family.run_jobs(&cfg.workload.build_jobs(base_dir, cfg.seed)?, &ctx)?,
    };
    finite::check(&report, "the simulation")?;
    Ok(report)
}

/// Runs the mapping, schedule and report stages of `cfg` on an already built op graph.
///
/// A family that prices serving (one whose registry entry fills `llm`) also fills the
/// report's `llm` section for an `llm:` workload (TTFT, TPOT, memory, largest batch, KV-cache
/// swapping); a model whose weights do not fit in device memory is an out-of-memory error.
/// A value that is not a finite number fails the run, as in [`simulate`].
pub fn evaluate(cfg: &Config, w: &archsim_workloads::Workload) -> Result<Report, Error> {
    let hash = config_hash(cfg);
    let report = cfg
        .accelerator
        .family()?
        .run_graph(w, &cfg.context(&hash))?;
    finite::check(&report, "the simulation")?;
    Ok(report)
}

/// The root crate's side of [`archsim_studies::Host`]: the config loader (whose range check
/// knows every config file's schema) and the simulation pipeline, lent to the studies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Runner;

impl archsim_studies::Host for Runner {
    fn check_values(
        &self,
        doc: &serde_json::Value,
        text: &str,
        file: &str,
        set: &[String],
    ) -> Result<(), ConfigError> {
        config::check_values(doc, text, file, set)
    }

    fn load_base(&self, text: &str, file: &str, set: &[String]) -> Result<Config, ConfigError> {
        config::load_base(text, file, set)
    }

    fn load_str(&self, text: &str, file: &str, set: &[String]) -> Result<Config, ConfigError> {
        config::load_str(text, file, set)
    }

    fn simulate(&self, cfg: &Config, base: &Path) -> Result<Report, Error> {
        simulate(cfg, base)
    }

    fn load_collective(
        &self,
        text: &str,
        file: &str,
        set: &[String],
    ) -> Result<archsim_studies::Collective, ConfigError> {
        let l = collective::load(text, file, set)?;
        Ok(archsim_studies::Collective {
            file: l.file,
            spec: l.spec,
            algorithm: l.algorithm,
        })
    }
}

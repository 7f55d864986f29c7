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
pub mod collective;
pub mod config;
pub mod nasbench;
pub mod output;
pub mod schema;
pub mod search;
pub mod serving;
pub mod sweep;
pub mod training;
pub mod validate;

use std::path::Path;

pub use archsim_accelerators as accelerators;
pub use archsim_agents as agents;
pub use archsim_gym as gym;
pub use archsim_io::{files, finite, plot, Error};
pub use archsim_studies as studies;
pub use archsim_serving as serving_sim;
pub use archsim_sim as sim;
pub use archsim_sim::Report;
pub use archsim_workloads as workloads;
pub use config::{Config, ConfigError};

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

/// The form of a config document as `archsim run` dispatches it: `"codesign"`, `"study"`,
/// `"search"`, `"sweep"` (run by `archsim sweep`), or `None` for a plain simulation.
pub fn config_form(doc: &serde_json::Value) -> Option<&'static str> {
    ["codesign", "study", "search", "sweep"]
        .into_iter()
        .find(|k| doc.get(k).is_some_and(|v| !v.is_null()))
}

/// Runs any config as `archsim run --json` does and returns what that prints: a simulation's
/// report, a serving run's report, a search's result (`{agent, seed, best, history,
/// pareto}`), a co-design run's `{co_exploration, successive}`, a study's tables. The run's files are written into `dir`
/// when given (a co-design run or a study, which always write files, use a scratch folder
/// otherwise and remove it); `dir` is prepared and locked first ([`files::OutDir`]).
/// `overrides` are `path=value` strings, as `--set`.
pub fn run_any(
    text: &str,
    file: &str,
    base_dir: &Path,
    overrides: &[String],
    dir: Option<&Path>,
) -> Result<serde_json::Value, Error> {
    // The output folder is created, checked writable and locked before any work; its files
    // are renamed into place together once the run has succeeded. A key's error found after
    // the config loaded is located like the loader's.
    let held = dir.map(files::OutDir::prepare).transpose()?;
    let result = run_any_in(text, file, base_dir, overrides, dir)
        .map_err(|e| locate_error(text, file, overrides, e))?;
    if let Some(h) = &held {
        h.commit()?;
    }
    Ok(result)
}

fn run_any_in(
    text: &str,
    file: &str,
    base_dir: &Path,
    overrides: &[String],
    dir: Option<&Path>,
) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    let io = |p: &Path, e: &dyn std::fmt::Display| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let doc: Option<Value> = serde_saphyr::from_str(text).ok();
    // The form as the overrides leave it (`--set study=null` runs a study file's base point).
    let form = doc.as_ref().and_then(|d| {
        if overrides.is_empty() {
            return config_form(d);
        }
        let mut d = d.clone();
        config::apply_overrides(&mut d, file, overrides).ok()?;
        config_form(&d)
    });
    if let (Some(form @ ("codesign" | "study")), Some(doc)) = (form, &doc) {
        let study = match form {
            "study" => archsim_studies::find(doc, text, file, overrides)?,
            _ => None,
        };
        static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let scratch = dir.is_none().then(|| {
            std::env::temp_dir().join(format!(
                "archsim-run-{}-{}",
                std::process::id(),
                SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
        });
        if let Some(s) = &scratch {
            // A fresh folder of this process (never one planted under the same name).
            std::fs::create_dir(s).map_err(|e| files::io_error(s, &e))?;
        }
        let out = dir.map_or_else(|| scratch.clone().unwrap_or_default(), Path::to_path_buf);
        let result = if form == "codesign" {
            codesign::parse(doc, text, file, overrides)
                .and_then(|cc| codesign::run(&cc, base_dir, &out))
                .map(|[co, succ]| serde_json::json!({"co_exploration": co, "successive": succ}))
        } else {
            match study {
                Some(study) => (study.run)(&archsim_studies::StudyRun {
                    doc: doc.clone(),
                    text,
                    file,
                    base: base_dir,
                    set: overrides,
                    dir: out.clone(),
                    host: &Runner,
                })
                .map(|o| o.json),
                None => Ok(Value::Null),
            }
        };
        if let Some(s) = scratch {
            let _ = std::fs::remove_dir_all(s);
        }
        return result;
    }
    // A serving config (`serving:` section): its report.
    if doc.as_ref().is_some_and(serving::is_serving) && form != Some("sweep") {
        let (f, search) = serving::load_search(text, file, overrides)?;
        if let Some(search) = search {
            let doc = serde_json::to_value(&f).map_err(|e| io(Path::new(file), &e))?;
            let result = search::run_value(doc.clone(), &search, base_dir)?;
            if let Some(d) = dir {
                search::write_value(&doc, &search, &result, d)?;
            }
            return serde_json::to_value(&result).map_err(|e| io(Path::new(file), &e));
        }
        let served = serving::run(&f, base_dir)
            .map_err(|e| serving::config_error(text, file, overrides, e))?;
        finite::check(&served.report, "the serving run")?;
        if let Some(d) = dir {
            serving::write(&f, &served, d)?;
        }
        return serde_json::to_value(&served.report).map_err(|e| io(Path::new(file), &e));
    }
    // A training config (`workload: {training: ...}` + `cluster:` + `parallel:`).
    if doc.as_ref().is_some_and(training::is_training) && form != Some("sweep") {
        let (report, _) = training::run_file(text, file, overrides, dir)?;
        return serde_json::to_value(&report).map_err(|e| io(Path::new(file), &e));
    }
    // A collective config (`workload: {collective: ...}` + `cluster:`): archsim's nccl-tests.
    if doc.as_ref().is_some_and(collective::is_collective) && form != Some("sweep") {
        let (report, _) = collective::run_file(text, file, overrides, dir)?;
        return serde_json::to_value(&report).map_err(|e| io(Path::new(file), &e));
    }
    if form == Some("sweep") {
        return Err(Error::Config(ConfigError {
            file: file.into(),
            location: None,
            key: Some("sweep".into()),
            from_override: None,
            message:
                "a sweep runs many points: use `archsim sweep FILE` or `archsim.sweep(config)`"
                    .into(),
        }));
    }
    let (cfg, _, search) = config::load_full(text, file, overrides)?;
    if let Some(search) = search {
        let result = search::run(&cfg, &search, base_dir)?;
        if let Some(d) = dir {
            search::write(&cfg, &search, &result, d)?;
        }
        return serde_json::to_value(&result).map_err(|e| io(Path::new(file), &e));
    }
    let report = simulate(&cfg, base_dir)?;
    if let Some(d) = dir {
        output::write_run(&cfg, &report, d)?;
    }
    serde_json::to_value(&report).map_err(|e| io(Path::new(file), &e))
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
/// A family that prices serving (the GPU, NPU+PIM and roofline families) also fills the
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

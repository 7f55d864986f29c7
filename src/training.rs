//! `archsim run` on a training config: a `training:` workload, the `accelerator:` of every
//! device, a `cluster:` and a `parallel:` section, simulated as one iteration by
//! `archsim_training` (keys in DESIGN.md, "Training").
//!
//! Output folder: `config.yaml` and `report.json` (`latency_s` = the iteration, and the
//! `training` section: `iteration_s`, `tokens_per_s`, `tflops_per_gpu`, `mfu`, `hfu`, the
//! exposed-time `breakdown`, `memory_gb` by kind with `total`, `fits`, `why_not`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use archsim_accelerators::AcceleratorConfig;
use archsim_net::{NetError, NetModel};
use archsim_training::{device_caps, prepare_with, Calibration, TrainingError, TrainingReport};
use archsim_workloads::DType;

use crate::collective::located;
use crate::{ConfigError, Error};

pub use archsim_training::file::{is_training, TrainingFile, TrainingWorkload};

/// `report.json` of a training run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRunReport {
    /// One iteration, seconds.
    pub latency_s: f64,
    /// The iteration in detail.
    pub training: TrainingReport,
    /// Device description.
    pub accelerator: String,
    /// Provenance: FNV-1a of the canonical config.
    pub config_hash: String,
    /// archsim version.
    pub archsim_version: String,
}

fn net_error(e: &NetError) -> (String, String) {
    archsim_training::file::net_key(e)
}

fn training_error(e: &TrainingError) -> (String, String) {
    archsim_training::file::error_key(e)
}

/// The error at `key` (several keys "a, b": located at the first, all named).
fn at(text: &str, file: &str, overrides: &[String], key: String, message: String) -> ConfigError {
    let first = key.split(", ").next().unwrap_or("").to_string();
    let mut e = located(text, file, overrides, first, message);
    if !key.is_empty() {
        e.key = Some(key);
    }
    e
}

/// True when a training config document has a `search:` section: a layout search.
pub fn has_search(doc: &Value) -> bool {
    doc.get("search").is_some_and(|v| !v.is_null())
}

/// Reads a training config with a `search:` section (`--set` overrides applied): the
/// training config the search varies, as a document, and the search. The base layout need
/// not be valid (the search sets it); the search's space must address the file's keys.
pub fn load_search(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(Value, archsim_agents::SearchConfig), Error> {
    let mut value: Value =
        serde_saphyr::from_str(text).map_err(|e| crate::config::yaml_error(text, file, &e))?;
    crate::config::apply_overrides(&mut value, file, overrides)?;
    crate::config::check_values(&value, text, file, overrides)?;
    let located_at = |path: Vec<String>, m: String| {
        let mut e = located(text, file, overrides, path.join("."), m.clone());
        if m.starts_with("unknown field") && e.from_override.is_none() {
            e.location = crate::config::locate_field(text, &path);
        }
        Error::Config(e)
    };
    let search = value
        .as_object_mut()
        .and_then(|m| m.remove("search"))
        .unwrap_or(Value::Null);
    let f: TrainingFile =
        archsim_accelerators::config::typed(value, &[]).map_err(|(path, m)| located_at(path, m))?;
    let search: archsim_agents::SearchConfig =
        archsim_accelerators::config::typed(search, &["search"])
            .map_err(|(path, m)| located_at(path, m))?;
    let base = serde_json::to_value(&f).map_err(|e| io(Path::new(file), e))?;
    search.validate(&base).map_err(|e| {
        let (key, message) = e.key_and_reason();
        Error::Config(located(text, file, overrides, key, message))
    })?;
    Ok((base, search))
}

/// Parses, checks and runs a training config (`--set` overrides applied).
pub fn run_text(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(TrainingFile, TrainingRunReport), Error> {
    let mut value: Value =
        serde_saphyr::from_str(text).map_err(|e| crate::config::yaml_error(text, file, &e))?;
    crate::config::apply_overrides(&mut value, file, overrides)?;
    crate::config::check_values(&value, text, file, overrides)?;
    let f: TrainingFile =
        archsim_accelerators::config::typed(value, &[]).map_err(|(path, m)| {
            let mut e = located(text, file, overrides, path.join("."), m.clone());
            if m.starts_with("unknown field") && e.from_override.is_none() {
                e.location = crate::config::locate_field(text, &path);
            }
            e
        })?;
    let cfg_err = |key: String, msg: String| Error::Config(at(text, file, overrides, key, msg));
    let acc = AcceleratorConfig::from_map(f.accelerator.clone())
        .map_err(|(path, m)| cfg_err(path.join("."), m))?;
    let spec = f.cluster.spec().map_err(|e| {
        let (k, m) = net_error(&e);
        cfg_err(k, m)
    })?;
    let dtype = f.workload.dtype.unwrap_or(DType::Fp16);
    let family = acc.family()?;
    let caps = device_caps(&acc, dtype).map_err(|e| {
        let (k, m) = training_error(&e);
        cfg_err(k, m)
    })?;
    let job = prepare_with(
        &f.workload.training,
        &f.parallel,
        dtype,
        family.as_ref(),
        caps,
        &spec,
        &NetModel::nccl(),
        f.cluster.host.as_ref(),
        f.checkpoint.as_ref(),
    )
    .map_err(|e| {
        let (k, m) = training_error(&e);
        cfg_err(k, m)
    })?;
    let training = job.evaluate(&Calibration::A100_VTRAIN).map_err(|e| {
        let (k, m) = training_error(&e);
        cfg_err(k, m)
    })?;
    let json = serde_json::to_vec(&f).unwrap_or_default();
    let report = TrainingRunReport {
        latency_s: training.iteration_s,
        training,
        accelerator: family.name(),
        config_hash: archsim_sim::fnv1a_hex(&json),
        archsim_version: env!("CARGO_PKG_VERSION").into(),
    };
    Ok((f, report))
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The report as pretty JSON.
pub fn report_json(r: &TrainingRunReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

/// A summary for the terminal.
pub fn summary(r: &TrainingRunReport) -> String {
    let t = &r.training;
    let b = &t.breakdown;
    let m = &t.memory_gb;
    let mut o = format!(
        "{} devices ({}), {} micro-batches per pipeline\n\
         iteration {:.4} s, {:.0} tokens/s, {:.1} TFLOP/s per device, MFU {:.1}%, HFU {:.1}%\n\
         exposed: compute {:.4} s, recompute {:.4}, TP {:.4}, PP {:.4}, DP {:.4}, bubble {:.4}, optimizer {:.4}\n\
         memory per device: {:.1} GB (parameters {:.1}, gradients {:.1}, optimizer {:.1}, activations {:.1}, temporary {:.1})\n",
        t.devices, r.accelerator, t.micro_batches,
        t.iteration_s, t.tokens_per_s, t.tflops_per_gpu, t.mfu * 100.0, t.hfu * 100.0,
        b.compute_s, b.recompute_s, b.tp_comm_s, b.pp_comm_s, b.dp_comm_s, b.bubble_s, b.optimizer_s,
        m.total, m.parameters, m.gradients, m.optimizer, m.activations, m.temporary
    );
    if b.offload_s > 0.0 {
        o.push_str(&format!("exposed offload {:.4} s\n", b.offload_s));
    }
    if let Some(x) = &t.offload {
        o.push_str(&format!(
            "offload per device: PCIe down {:.1} GB, up {:.1} GB, NVMe {:.1} GB, host CPU {:.3} s; per node: host memory {:.1} GB, NVMe {:.1} GB\n",
            x.pcie_down_gb, x.pcie_up_gb, x.nvme_traffic_gb, x.cpu_s, x.host_memory_gb, x.nvme_gb
        ));
    }
    if let Some(c) = &t.checkpoint {
        o.push_str(&format!(
            "checkpoint {:.1} GB saved in {:.2} s every {} iterations: {:.4} s per iteration ({:.2}%)\n",
            c.size_gb, c.save_s, c.interval_iters, c.amortized_s, c.overhead * 100.0
        ));
    }
    if let Some(w) = &t.why_not {
        o.push_str(&format!("does not fit: {w}\n"));
    }
    o
}

/// Writes `config.yaml` and `report.json` into `dir`.
pub fn write(f: &TrainingFile, r: &TrainingRunReport, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    crate::files::create_dir(dir)?;
    let p = dir.join("config.yaml");
    let yaml = serde_saphyr::to_string(f).map_err(|e| io(&p, e))?;
    crate::files::write(&p, yaml)?;
    let q = dir.join("report.json");
    crate::files::write(&q, report_json(r))?;
    Ok(vec![p, q])
}

/// Runs a training config end to end (what `archsim run` does), writing into `dir` if given.
pub fn run_file(
    text: &str,
    file: &str,
    overrides: &[String],
    dir: Option<&Path>,
) -> Result<(TrainingRunReport, Vec<PathBuf>), Error> {
    let (f, r) = run_text(text, file, overrides)?;
    let files = match dir {
        Some(d) => write(&f, &r, d)?,
        None => Vec::new(),
    };
    Ok((r, files))
}

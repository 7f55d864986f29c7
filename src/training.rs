//! `archsim run` on a training config: a `training:` workload, the `accelerator:` of every
//! device, a `cluster:` and a `parallel:` section, simulated as one iteration by
//! `archsim_training` (keys in DESIGN.md, "Training").
//!
//! Output folder: `config.yaml` and `report.json` (`latency_s` = the iteration, and the
//! `training` section: `iteration_s`, `tokens_per_s`, `tflops_per_gpu`, `mfu`, `hfu`, the
//! exposed-time `breakdown`, `memory_gb` by kind with `total`, `fits`, `why_not`).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_accelerators::AcceleratorConfig;
use archsim_net::config::ClusterConfig;
use archsim_net::{NetError, NetModel};
use archsim_training::{
    device_caps, prepare_hetero, prepare_with, split_groups, BetweenGroups, Calibration,
    CheckpointConfig, ClusterGroup, GroupDevice, ParallelConfig, TrainingConfig, TrainingError,
    TrainingReport,
};
use archsim_workloads::DType;

use crate::config::{located, typed_at};
use crate::{ConfigError, Error};

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
    #[schemars(with = "TrainingCluster")]
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
    /// `cluster:` as written when it has `groups` (a heterogeneous cluster): `cluster` then
    /// holds their NICs as `scale_out.groups`, this the devices too.
    #[serde(skip)]
    #[schemars(skip)]
    pub cluster_doc: Option<Value>,
}

/// `cluster:` of a training config as written (a schema only: the loader takes `groups` and
/// `between_groups` out before it reads the rest as the network's [`ClusterConfig`]).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct TrainingCluster {
    #[serde(flatten)]
    network: ClusterConfig,
    /// Node groups with their own device and NICs (a heterogeneous cluster).
    #[serde(default)]
    groups: Vec<ClusterGroup>,
    /// The link pipeline sends take between groups (default: the slower group's NICs).
    #[serde(default)]
    between_groups: Option<BetweenGroups>,
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
    let s = e.to_string();
    match s.split_once(": ") {
        Some((k, m)) if !k.contains(' ') => (format!("cluster.{k}"), m.to_string()),
        _ => (String::new(), s),
    }
}

fn training_error(e: &TrainingError) -> (String, String) {
    match e {
        TrainingError::Invalid { key, reason } => (key.clone(), reason.clone()),
        TrainingError::Net(n) => net_error(n),
        other => (String::new(), other.to_string()),
    }
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
    let mut value = crate::config::document(text, file, overrides)?;
    let search = value
        .as_object_mut()
        .and_then(|m| m.remove("search"))
        .unwrap_or(Value::Null);
    let f: TrainingFile = typed_at(value, &[], text, file, overrides)?;
    let search: archsim_agents::SearchConfig =
        typed_at(search, &["search"], text, file, overrides)?;
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
    let mut value = crate::config::document(text, file, overrides)?;
    let cfg_err = |key: String, msg: String| Error::Config(at(text, file, overrides, key, msg));
    let hetero = split_groups(&mut value).map_err(|(k, m)| cfg_err(k, m))?;
    let mut f: TrainingFile = typed_at(value, &[], text, file, overrides)?;
    if let Some((doc, groups, between)) = hetero {
        f.cluster_doc = Some(doc);
        return run_hetero(f, &groups, between.as_ref(), &cfg_err);
    }
    let acc = AcceleratorConfig::from_map(f.accelerator.clone())
        .map_err(|e| cfg_err(e.key(), e.message))?;
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

/// A training job on a heterogeneous cluster (`cluster.groups`).
fn run_hetero(
    f: TrainingFile,
    groups: &[ClusterGroup],
    between: Option<&BetweenGroups>,
    cfg_err: &dyn Fn(String, String) -> Error,
) -> Result<(TrainingFile, TrainingRunReport), Error> {
    let spec = f.cluster.spec().map_err(|e| {
        // The groups' NICs were written as `cluster.groups`.
        let (k, m) = net_error(&e);
        let k = k.replacen("cluster.cluster.", "cluster.", 1);
        let k = if groups.len() == 1 && !k.starts_with("cluster.scale_out.groups") {
            k.replacen("cluster.scale_out.", "cluster.groups[0].", 1)
        } else {
            k.replacen("cluster.scale_out.groups", "cluster.groups", 1)
        };
        cfg_err(k, m)
    })?;
    if f.checkpoint.is_some() {
        return Err(cfg_err(
            "checkpoint".into(),
            "checkpoint cost on a heterogeneous cluster (cluster.groups) is not modelled".into(),
        ));
    }
    let dtype = f.workload.dtype.unwrap_or(DType::Fp16);
    let mut families = Vec::with_capacity(groups.len());
    let mut caps = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        let key = format!("cluster.groups.{i}.accelerator");
        // The error's path starts at `accelerator`.
        let acc = AcceleratorConfig::from_map(g.accelerator.clone())
            .map_err(|e| cfg_err(format!("cluster.groups.{i}.{}", e.key()), e.message))?;
        families.push(acc.family()?);
        caps.push(device_caps(&acc, dtype).map_err(|e| {
            let (k, m) = training_error(&e);
            cfg_err(k.replacen("accelerator", &key, 1), m)
        })?);
    }
    let devices: Vec<GroupDevice<'_>> = families
        .iter()
        .zip(&caps)
        .map(|(fam, &c)| GroupDevice {
            family: fam.as_ref(),
            caps: c,
        })
        .collect();
    let link = between.map(|b| b.node_group());
    let cal = Calibration::A100_VTRAIN;
    let job = prepare_hetero(
        &f.workload.training,
        &f.parallel,
        dtype,
        &devices,
        &spec,
        link.as_ref(),
        &NetModel::nccl(),
        &cal,
    )
    .and_then(|j| j.evaluate(&cal))
    .map_err(|e| {
        let (k, m) = training_error(&e);
        cfg_err(k, m)
    })?;
    let names: Vec<String> = families.iter().map(|x| x.name()).collect();
    let json = serde_json::to_vec(&file_value(&f)).unwrap_or_default();
    let report = TrainingRunReport {
        latency_s: job.iteration_s,
        training: job,
        accelerator: names.join(" + "),
        config_hash: archsim_sim::fnv1a_hex(&json),
        archsim_version: env!("CARGO_PKG_VERSION").into(),
    };
    Ok((f, report))
}

/// The config as written out: `cluster` as given when it has groups.
fn file_value(f: &TrainingFile) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    if let (Some(doc), Some(o)) = (&f.cluster_doc, v.as_object_mut()) {
        o.insert("cluster".into(), doc.clone());
    }
    v
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
    let yaml = if f.cluster_doc.is_some() {
        serde_saphyr::to_string(&file_value(f))
    } else {
        serde_saphyr::to_string(f)
    }
    .map_err(|e| io(&p, e))?;
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

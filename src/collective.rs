//! `archsim run` on a collective config — archsim's nccl-tests: `workload: {collective: {op,
//! sizes, dtype}}` on a `cluster:` (the form's types are [`archsim_net::workload`]), priced by
//! `archsim_net` for every size.
//!
//! Output folder: `config.yaml`, `report.json` (per size `time_s`, `algbw_gb_s`,
//! `busbw_gb_s`), `collective.csv`, and `busbw.png`/`busbw.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use archsim_net::{price_on, Algorithm, ClusterSpec, NetError, NetModel, Op};
use archsim_workloads::DType;

pub use archsim_net::workload::{CollectiveFile, CollectiveSpec, CollectiveWorkload, Sizes};

use crate::config::{located, typed_at};
use crate::{ConfigError, Error};

/// True when a parsed config document is a collective run (`workload.collective`, no study).
pub fn is_collective(doc: &Value) -> bool {
    doc.get("workload")
        .and_then(|w| w.get("collective"))
        .is_some()
        && doc.get("study").is_none_or(Value::is_null)
}

/// A checked collective config: the file, its cluster, sizes, algorithm and ranks.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file as read.
    pub file: CollectiveFile,
    /// The cluster.
    pub spec: ClusterSpec,
    /// Sizes in bytes.
    pub sizes: Vec<u64>,
    /// The algorithm (`None`: the NCCL-like choice).
    pub algorithm: Option<Algorithm>,
    /// Ranks.
    pub ranks: usize,
    /// Element type.
    pub dtype: DType,
}

/// The config key a network error names, and its message without the key.
fn net_key(e: &NetError) -> (String, String) {
    let s = e.to_string();
    let key = match e {
        NetError::Bandwidth { key, .. }
        | NetError::Latency { key, .. }
        | NetError::Count { key, .. }
        | NetError::NoNic { key }
        | NetError::DeviceCount { key, .. }
        | NetError::UnknownAlgorithm { key, .. }
        | NetError::Unsupported { key, .. } => key.clone(),
        _ => String::new(),
    };
    let msg = s
        .strip_prefix(&format!("{key}: "))
        .map_or(s.clone(), str::to_string);
    // `groups[1]` is `groups.1` in a dotted config key.
    (key.replace('[', ".").replace(']', ""), msg)
}

/// Parses and checks a collective config (`--set` overrides applied).
pub fn load(text: &str, file: &str, overrides: &[String]) -> Result<Loaded, ConfigError> {
    let mut value = crate::config::document(text, file, overrides)?;
    if let Some(m) = value.as_object_mut() {
        m.remove("study");
    }
    let f: CollectiveFile = typed_at(value, &[], text, file, overrides)?;
    let at = |key: String, msg: String| located(text, file, overrides, key, msg);
    let spec = f.cluster.spec().map_err(|e| {
        let (k, m) = net_key(&e);
        at(k, m)
    })?;
    let c = &f.workload.collective;
    let sizes = c.sizes.expand().map_err(|(k, m)| at(k, m))?;
    let algorithm =
        Algorithm::parse("workload.collective.algorithm", &c.algorithm).map_err(|e| {
            let (k, m) = net_key(&e);
            at(k, m)
        })?;
    let ranks = c.ranks.unwrap_or(spec.devices());
    if ranks < 1 || ranks > spec.devices() {
        return Err(at(
            "workload.collective.ranks".into(),
            format!(
                "{ranks} devices asked for, but the cluster has {} ({} nodes x {} devices_per_node)",
                spec.devices(),
                spec.nodes,
                spec.devices_per_node
            ),
        ));
    }
    let dtype = c.dtype.or(f.workload.dtype).unwrap_or(DType::Fp32);
    // An algorithm named for a topology it cannot run on is bad input, found before running.
    if let Some(a) = algorithm {
        price_on(
            &spec,
            &NetModel::nccl(),
            c.op,
            sizes[0] as f64,
            ranks,
            Some(a),
        )
        .map_err(|e| {
            let (_, m) = net_key(&e);
            at("workload.collective.algorithm".into(), m)
        })?;
    }
    Ok(Loaded {
        file: f,
        spec,
        sizes,
        algorithm,
        ranks,
        dtype,
    })
}

/// One row of a collective run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeRow {
    /// Buffer, bytes.
    pub bytes: u64,
    /// Elements of the dtype.
    pub count: u64,
    /// Algorithm used.
    pub algorithm: String,
    /// Protocol used.
    pub protocol: String,
    /// Time, seconds.
    pub time_s: f64,
    /// Algorithm bandwidth, GB/s.
    pub algbw_gb_s: f64,
    /// nccl-tests bus bandwidth, GB/s.
    pub busbw_gb_s: f64,
}

/// The report of a collective run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectiveReport {
    /// `collective`.
    pub workload: String,
    /// The operation.
    pub op: Op,
    /// Devices taking part.
    pub ranks: usize,
    /// Nodes of the cluster.
    pub nodes: usize,
    /// Devices per node.
    pub devices_per_node: usize,
    /// Element type.
    pub dtype: DType,
    /// The algorithm asked for (`auto`: the NCCL-like choice).
    pub algorithm: String,
    /// Time of the largest size, seconds.
    pub latency_s: f64,
    /// Highest bus bandwidth over the sizes, GB/s.
    pub peak_busbw_gb_s: f64,
    /// One row per size.
    pub sizes: Vec<SizeRow>,
    /// FNV-1a hash of the config's canonical JSON.
    pub config_hash: String,
    /// archsim version.
    pub archsim_version: String,
}

/// Prices every size.
pub fn run(l: &Loaded) -> Result<CollectiveReport, NetError> {
    let model = NetModel::nccl();
    let op = l.file.workload.collective.op;
    let mut rows = Vec::with_capacity(l.sizes.len());
    for &s in &l.sizes {
        let c = price_on(&l.spec, &model, op, s as f64, l.ranks, l.algorithm)?;
        rows.push(SizeRow {
            bytes: s,
            count: s / l.dtype.bytes(),
            algorithm: c.algorithm.name().into(),
            protocol: c.protocol,
            time_s: c.time_s,
            algbw_gb_s: c.algbw_gb_s,
            busbw_gb_s: c.busbw_gb_s,
        });
    }
    let json = serde_json::to_vec(&l.file).unwrap_or_default();
    Ok(CollectiveReport {
        workload: "collective".into(),
        op,
        ranks: l.ranks,
        nodes: l.spec.nodes,
        devices_per_node: l.spec.devices_per_node,
        dtype: l.dtype,
        algorithm: l.file.workload.collective.algorithm.clone(),
        latency_s: rows.last().map_or(0.0, |r| r.time_s),
        peak_busbw_gb_s: rows.iter().map(|r| r.busbw_gb_s).fold(0.0, f64::max),
        sizes: rows,
        config_hash: archsim_sim::fnv1a_hex(&json),
        archsim_version: env!("CARGO_PKG_VERSION").into(),
    })
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The report as pretty JSON.
pub fn report_json(r: &CollectiveReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

/// Writes `config.yaml`, `report.json`, `collective.csv` and `busbw.{png,svg}` into `dir`.
pub fn write(l: &Loaded, r: &CollectiveReport, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    crate::files::create_dir(dir)?;
    let mut out = Vec::new();
    let p = dir.join("config.yaml");
    let yaml = serde_saphyr::to_string(&l.file).map_err(|e| io(&p, e))?;
    crate::files::write(&p, yaml)?;
    out.push(p);
    let p = dir.join("report.json");
    crate::files::write(&p, report_json(r))?;
    out.push(p);
    let p = dir.join("collective.csv");
    let mut csv =
        String::from("bytes,count,type,algorithm,protocol,time_s,algbw_gb_s,busbw_gb_s\n");
    for s in &r.sizes {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.9e},{:.3},{:.3}",
            s.bytes,
            s.count,
            r.dtype.name(),
            s.algorithm,
            s.protocol,
            s.time_s,
            s.algbw_gb_s,
            s.busbw_gb_s
        );
    }
    crate::files::write(&p, csv)?;
    out.push(p);
    let curve = (
        format!("{} x {}", r.op.name(), r.ranks),
        r.sizes
            .iter()
            .map(|s| (s.bytes as f64, s.busbw_gb_s))
            .collect(),
    );
    let title = format!(
        "{} on {} devices ({} node(s) x {}): bus bandwidth",
        r.op.name(),
        r.ranks,
        r.nodes,
        r.devices_per_node
    );
    crate::plot::bus_bandwidth(&[curve], &[], &title, dir, "busbw").map_err(|e| io(dir, e))?;
    out.push(dir.join("busbw.png"));
    out.push(dir.join("busbw.svg"));
    Ok(out)
}

/// A table for the terminal.
pub fn summary(r: &CollectiveReport) -> String {
    let mut o = format!(
        "{} on {} devices ({} node(s) x {}), {}\n{:>12} {:>12} {:>10} {:>8} {:>12} {:>10} {:>10}\n",
        r.op.name(),
        r.ranks,
        r.nodes,
        r.devices_per_node,
        r.dtype.name(),
        "size",
        "count",
        "algorithm",
        "proto",
        "time (us)",
        "algbw",
        "busbw"
    );
    for s in &r.sizes {
        let _ = writeln!(
            o,
            "{:>12} {:>12} {:>10} {:>8} {:>12.2} {:>10.2} {:>10.2}",
            s.bytes,
            s.count,
            s.algorithm,
            s.protocol,
            s.time_s * 1e6,
            s.algbw_gb_s,
            s.busbw_gb_s
        );
    }
    o
}

/// Runs a collective config end to end (what `archsim run` does), writing into `dir` if given.
pub fn run_file(
    text: &str,
    file: &str,
    overrides: &[String],
    dir: Option<&Path>,
) -> Result<(CollectiveReport, Vec<PathBuf>), Error> {
    let l = load(text, file, overrides)?;
    run_loaded(text, file, overrides, &l, dir)
}

/// [`run_file`] on a config already loaded by [`load`] (the CLI locks the output folder in
/// between, once the config is known to be good).
pub fn run_loaded(
    text: &str,
    file: &str,
    overrides: &[String],
    l: &Loaded,
    dir: Option<&Path>,
) -> Result<(CollectiveReport, Vec<PathBuf>), Error> {
    let r = run(l).map_err(|e| {
        let (k, m) = net_key(&e);
        Error::Config(located(text, file, overrides, k, m))
    })?;
    let files = match dir {
        Some(d) => write(l, &r, d)?,
        None => Vec::new(),
    };
    Ok((r, files))
}

//! Writing a run's output folder: `config.yaml`, `report.json`, `ops.csv` and the plots.

use std::path::{Path, PathBuf};

use crate::{Config, Error, Report};

fn io(path: &Path, e: csv::Error) -> Error {
    crate::files::csv_error(path, &e)
}

/// The output folder of `archsim run NAME.yaml` without `--out`: `out/NAME`, or with `--set`
/// overrides `out/NAME-HASH`, where HASH is 8 hex digits of the FNV-1a hash of the overrides in
/// order — so runs of one config with different overrides keep their own folders, and the same
/// overrides find the same folder again.
///
/// ```
/// use std::path::Path;
/// use archsim::output::default_dir;
/// assert_eq!(default_dir("quickstart", &[]), Path::new("out/quickstart"));
/// let a = default_dir("quickstart", &["accelerator.rows=64".into()]);
/// let b = default_dir("quickstart", &["accelerator.rows=32".into()]);
/// assert!(a.to_str().unwrap().starts_with("out/quickstart-") && a != b);
/// ```
pub fn default_dir(name: &str, overrides: &[String]) -> PathBuf {
    let out = PathBuf::from("out");
    if overrides.is_empty() {
        return out.join(name);
    }
    let hash = archsim_sim::fnv1a_hex(overrides.join("\n").as_bytes());
    out.join(format!("{name}-{}", &hash[..hash.len().min(8)]))
}

/// The report as pretty JSON, newline-terminated (byte-identical for the same config and seed).
pub fn report_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}

/// Writes every output of a run into `dir` (created if needed); returns the files written.
pub fn write_run(cfg: &Config, report: &Report, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    crate::files::create_dir(dir)?;
    let mut written = Vec::new();
    let cfg_path = dir.join("config.yaml");
    let yaml = serde_saphyr::to_string(cfg).map_err(|e| Error::Io {
        path: cfg_path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::files::write(&cfg_path, yaml)?;
    written.push(cfg_path);

    let json_path = dir.join("report.json");
    crate::files::write(&json_path, report_json(report))?;
    written.push(json_path);

    let csv_path = dir.join("ops.csv");
    write_ops_csv(report, &csv_path)?;
    written.push(csv_path);

    if let Some(jobs) = &report.jobs {
        let first_jobs = jobs.gantt_jobs;
        crate::plot::gantt(report, dir, "gantt", first_jobs).map_err(Error::File)?;
        written.push(dir.join("gantt.png"));
        written.push(dir.join("gantt.svg"));
        let trace = dir.join("trace.json");
        crate::files::write(&trace, trace_json(report))?;
        written.push(trace);
        return Ok(written);
    }
    crate::plot::per_op_cycles(report, dir, "cycles_per_op").map_err(Error::File)?;
    written.push(dir.join("cycles_per_op.png"));
    written.push(dir.join("cycles_per_op.svg"));
    Ok(written)
}

/// The schedule as a Chrome trace (the JSON "Trace Event Format" that Perfetto and
/// `chrome://tracing` open): one track per PE, one complete (`"ph": "X"`) event per task, times
/// in µs.
pub fn trace_json(report: &Report) -> String {
    use serde_json::{json, Value};
    let us_per_cycle = report
        .jobs
        .as_ref()
        .filter(|j| j.makespan_cycles > 0)
        .map_or(1.0, |j| j.makespan / j.makespan_cycles as f64);
    let pes: Vec<String> = report.jobs.as_ref().map_or_else(Vec::new, |j| {
        j.pe_utilization.iter().map(|p| p.name.clone()).collect()
    });
    let mut events: Vec<Value> = vec![json!({
        "name": "process_name", "ph": "M", "pid": 0, "tid": 0,
        "args": {"name": report.accelerator},
    })];
    for (i, p) in pes.iter().enumerate() {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 0, "tid": i,
            "args": {"name": p},
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": 0, "tid": i,
            "args": {"sort_index": i},
        }));
    }
    for o in &report.ops {
        let tid = pes.iter().position(|p| *p == o.engine).unwrap_or(0);
        let job = o.job();
        events.push(json!({
            "name": o.name,
            "cat": o.mapping,
            "ph": "X",
            "ts": o.start_cycle as f64 * us_per_cycle,
            "dur": o.cycles as f64 * us_per_cycle,
            "pid": 0,
            "tid": tid,
            "args": {"job": job, "type": o.kind, "pe": o.engine},
        }));
    }
    let mut s = serde_json::to_string(&json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"workload": report.workload, "scheduler": report.jobs.as_ref().map(|j| j.scheduler.clone())},
    }))
    .expect("a trace always serializes");
    s.push('\n');
    s
}

/// One row per op: timing, utilization, MACs, bytes per level and energy.
pub fn write_ops_csv(report: &Report, path: &Path) -> Result<(), Error> {
    let mut levels: Vec<&String> = report.bytes.keys().collect();
    levels.sort();
    let mut w = crate::files::csv_writer(path)?;
    let mut header: Vec<String> = [
        "name",
        "kind",
        "engine",
        "mapping",
        "start_cycle",
        "end_cycle",
        "cycles",
        "compute_cycles",
        "stall_cycles",
        "utilization",
        "macs",
        "energy_j",
        "latency_s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(levels.iter().map(|l| format!("bytes_{l}")));
    w.write_record(&header).map_err(|e| io(path, e))?;
    for o in &report.ops {
        let mut row = vec![
            o.name.clone(),
            o.kind.clone(),
            o.engine.clone(),
            o.mapping.clone(),
            o.start_cycle.to_string(),
            o.end_cycle.to_string(),
            o.cycles.to_string(),
            o.compute_cycles.to_string(),
            o.stall_cycles.to_string(),
            o.utilization.to_string(),
            o.macs.to_string(),
            o.energy_j.to_string(),
            o.latency_s.to_string(),
        ];
        row.extend(
            levels
                .iter()
                .map(|l| o.bytes.get(*l).copied().unwrap_or(0).to_string()),
        );
        w.write_record(&row).map_err(|e| io(path, e))?;
    }
    crate::files::commit_csv(w)
}

/// One row per op of the workload: kind, shapes, MACs, FLOPs, parameters and bytes.
pub fn write_workload_csv(w: &archsim_workloads::Workload, path: &Path) -> Result<(), Error> {
    let shape = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join("x");
    let mut out = crate::files::csv_writer(path)?;
    out.write_record([
        "name",
        "kind",
        "dtype",
        "inputs",
        "output",
        "macs",
        "flops",
        "params",
        "bytes_read",
        "bytes_written",
        "gemm_like",
    ])
    .map_err(|e| io(path, e))?;
    for op in w.ops() {
        let inputs = op
            .inputs
            .iter()
            .map(|s| shape(s))
            .collect::<Vec<_>>()
            .join(" ");
        out.write_record([
            op.name.clone(),
            op.class().to_string(),
            op.dtype.to_string(),
            inputs,
            shape(&op.output),
            op.macs().to_string(),
            op.flops().to_string(),
            op.weight_elems().to_string(),
            op.bytes_read().to_string(),
            op.bytes_written().to_string(),
            op.is_gemm_like().to_string(),
        ])
        .map_err(|e| io(path, e))?;
    }
    crate::files::commit_csv(out)
}

//! Studies: sweeps that `archsim run` performs when a config has a `study:` section.
//!
//! `kind: latency_vs_rate` reproduces the figure of DS3 (Arda et al., IEEE Trans. Computers
//! 69(8), 2020, doi:10.1109/TC.2020.2986963, Fig. 12): the average job latency of every
//! scheduler as the job injection rate grows, on a `jobs:` workload and a `kind: soc`
//! accelerator. The rest of the config is the base point; the study sets
//! `accelerator.scheduler`, `workload.jobs.arrival.rate_per_ms` and `seed`.
//!
//! ```yaml
//! study:
//!   kind: latency_vs_rate
//!   schedulers: [met, etf, heft, random]
//!   rates_per_ms: [1, 2, 4, 8]
//!   seeds: [0, 1]            # optional (default: the config's seed); the plot shows the mean
//! ```
//!
//! It writes `results.csv` (one row per scheduler, rate and seed), `summary.csv` (the mean per
//! scheduler and rate), and `latency_vs_rate.png`/`.svg` plus `p95_latency_vs_rate.png`/`.svg`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_accelerators::soc::Policy;
use archsim_workloads::jobs::Process;

use crate::{Config, ConfigError, Error, Host, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "latency_vs_rate",
    about:
        "DS3 (IEEE TC 2020, Fig. 12): job latency of each scheduler versus the injection rate",
    run: run_study,
    schema: crate::file_schema::<Ds3File>,
    section: None,
    replot: None,
};

/// The kinds of study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StudyKind {
    /// Job latency of each scheduler versus the injection rate.
    LatencyVsRate,
}

/// The `study:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// What to sweep.
    pub kind: StudyKind,
    /// Schedulers to compare.
    #[schemars(length(min = 1))]
    pub schedulers: Vec<Policy>,
    /// Injection rates in jobs per ms.
    #[schemars(length(min = 1), inner(range(min = 1e-6, max = 1e6)))]
    pub rates_per_ms: Vec<f64>,
    /// Seeds to average over (default: the config's `seed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
}

impl StudyConfig {
    /// Checks the study against its base config; errors carry the key path.
    pub fn validate(&self, cfg: &Config) -> Result<(), (Vec<String>, String)> {
        let key = |k: &str| vec!["study".to_string(), k.to_string()];
        if self.schedulers.is_empty() {
            return Err((key("schedulers"), "give at least one scheduler".into()));
        }
        if self.rates_per_ms.is_empty() {
            return Err((key("rates_per_ms"), "give at least one rate".into()));
        }
        if let Some(i) = self
            .rates_per_ms
            .iter()
            .position(|r| !r.is_finite() || *r <= 0.0)
        {
            return Err((
                vec!["study".into(), "rates_per_ms".into(), i.to_string()],
                "rates must be positive".into(),
            ));
        }
        // A job stream (which the config loader runs only on a family that runs jobs) with
        // an arrival rate to vary.
        match &cfg.workload.jobs {
            Some(j) if j.arrival.process != Process::Batch => Ok(()),
            _ => Err((
                key("kind"),
                "`latency_vs_rate` needs `workload.jobs` with a `poisson` or `periodic` arrival"
                    .into(),
            )),
        }
    }
}

/// One simulation of a study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyRow {
    /// Scheduler name.
    pub scheduler: String,
    /// Injection rate, jobs/ms.
    pub rate_per_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Mean job latency, µs.
    pub avg_job_latency_us: f64,
    /// 95th-percentile job latency, µs.
    pub p95_job_latency_us: f64,
    /// 99th-percentile job latency, µs.
    pub p99_job_latency_us: f64,
    /// Completed jobs per ms of makespan.
    pub throughput_jobs_per_ms: f64,
    /// Energy per job, µJ.
    pub energy_per_job_uj: f64,
    /// Makespan, µs.
    pub makespan_us: f64,
}

/// The base config with `accelerator.scheduler`, `workload.jobs.arrival.rate_per_ms` and
/// `seed` set: the same config paths a `--set` or a sweep would set.
fn point(cfg: &Config, sched: Policy, rate: f64, seed: u64) -> Result<Config, Error> {
    let mut v = serde_json::to_value(cfg).map_err(|e| Error::Io {
        path: "study".into(),
        message: format!("the base config does not serialize: {e}"),
    })?;
    v["accelerator"]["scheduler"] = serde_json::json!(sched);
    v["workload"]["jobs"]["arrival"]["rate_per_ms"] = serde_json::json!(rate);
    v["seed"] = serde_json::json!(seed);
    Config::from_value(v).map_err(|e| {
        let key = e.key();
        Error::Config(ConfigError::new("study", e.message).with_key(key))
    })
}

/// Runs every (scheduler, rate, seed) point of the study, in that nesting order.
pub fn run(
    host: &dyn Host,
    cfg: &Config,
    study: &StudyConfig,
    base_dir: &Path,
) -> Result<Vec<StudyRow>, Error> {
    let seeds = if study.seeds.is_empty() {
        vec![cfg.seed]
    } else {
        study.seeds.clone()
    };
    let mut rows = Vec::new();
    for &sched in &study.schedulers {
        for &rate in &study.rates_per_ms {
            for &seed in &seeds {
                let c = point(cfg, sched, rate, seed)?;
                let r = host.simulate(&c, base_dir)?;
                let Some(s) = r.jobs else { continue };
                rows.push(StudyRow {
                    scheduler: sched.name().to_string(),
                    rate_per_ms: rate,
                    seed,
                    avg_job_latency_us: s.avg_job_latency_us,
                    p95_job_latency_us: s.p95_job_latency_us,
                    p99_job_latency_us: s.p99_job_latency_us,
                    throughput_jobs_per_ms: s.throughput_jobs_per_ms,
                    energy_per_job_uj: s.energy_per_job_uj,
                    makespan_us: s.makespan,
                });
            }
        }
    }
    Ok(rows)
}

/// The mean over seeds of each (scheduler, rate), in the study's order.
pub fn summarize(study: &StudyConfig, rows: &[StudyRow]) -> Vec<StudyRow> {
    let mut out = Vec::new();
    for s in &study.schedulers {
        for &rate in &study.rates_per_ms {
            let pts: Vec<&StudyRow> = rows
                .iter()
                .filter(|r| r.scheduler == s.name() && r.rate_per_ms == rate)
                .collect();
            if pts.is_empty() {
                continue;
            }
            let n = pts.len() as f64;
            let mean = |f: fn(&StudyRow) -> f64| pts.iter().map(|r| f(r)).sum::<f64>() / n;
            out.push(StudyRow {
                scheduler: s.name().to_string(),
                rate_per_ms: rate,
                seed: pts.len() as u64,
                avg_job_latency_us: mean(|r| r.avg_job_latency_us),
                p95_job_latency_us: mean(|r| r.p95_job_latency_us),
                p99_job_latency_us: mean(|r| r.p99_job_latency_us),
                throughput_jobs_per_ms: mean(|r| r.throughput_jobs_per_ms),
                energy_per_job_uj: mean(|r| r.energy_per_job_uj),
                makespan_us: mean(|r| r.makespan_us),
            });
        }
    }
    out
}

fn write_csv(rows: &[StudyRow], path: &Path, seed_col: &str) -> Result<(), Error> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut w = crate::files::csv_writer(path)?;
    w.write_record([
        "scheduler",
        "rate_per_ms",
        seed_col,
        "avg_job_latency_us",
        "p95_job_latency_us",
        "p99_job_latency_us",
        "throughput_jobs_per_ms",
        "energy_per_job_uj",
        "makespan_us",
    ])
    .map_err(|e| io(&e))?;
    for r in rows {
        w.write_record([
            r.scheduler.clone(),
            r.rate_per_ms.to_string(),
            r.seed.to_string(),
            format!("{:.3}", r.avg_job_latency_us),
            format!("{:.3}", r.p95_job_latency_us),
            format!("{:.3}", r.p99_job_latency_us),
            format!("{:.4}", r.throughput_jobs_per_ms),
            format!("{:.3}", r.energy_per_job_uj),
            format!("{:.3}", r.makespan_us),
        ])
        .map_err(|e| io(&e))?;
    }
    crate::files::commit_csv(w)
}

/// Writes the study's CSVs and plots (and the config) into `dir`; returns the files.
pub fn write(
    cfg: &Config,
    study: &StudyConfig,
    rows: &[StudyRow],
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let io = |p: &Path, e: &dyn std::fmt::Display| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    crate::files::create_dir(dir)?;
    let mut files = Vec::new();
    let cfg_path = dir.join("config.yaml");
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(flatten)]
        cfg: &'a Config,
        study: &'a StudyConfig,
    }
    let yaml = serde_saphyr::to_string(&Full { cfg, study }).map_err(|e| io(&cfg_path, &e))?;
    crate::files::write(&cfg_path, yaml)?;
    files.push(cfg_path);
    let all = dir.join("results.csv");
    write_csv(rows, &all, "seed")?;
    files.push(all);
    let summary = summarize(study, rows);
    let sum = dir.join("summary.csv");
    write_csv(&summary, &sum, "seeds")?;
    files.push(sum);
    let workload = match &cfg.workload.jobs {
        Some(j) => j
            .apps
            .iter()
            .map(|a| {
                format!(
                    "{} {:.0}%",
                    a.name.clone().unwrap_or_else(|| a
                        .file
                        .as_ref()
                        .map_or_else(String::new, |f| f.display().to_string())),
                    100.0 * a.weight / j.apps.iter().map(|x| x.weight).sum::<f64>()
                )
            })
            .collect::<Vec<_>>()
            .join(" + "),
        None => String::new(),
    };
    for (stem, what, f) in [
        (
            "latency_vs_rate",
            "average job latency (µs)",
            (|r: &StudyRow| r.avg_job_latency_us) as fn(&StudyRow) -> f64,
        ),
        (
            "p95_latency_vs_rate",
            "p95 job latency (µs)",
            |r: &StudyRow| r.p95_job_latency_us,
        ),
    ] {
        let curves: Vec<crate::plot::Curve> = study
            .schedulers
            .iter()
            .map(|s| {
                (
                    s.name().to_string(),
                    summary
                        .iter()
                        .filter(|r| r.scheduler == s.name())
                        .map(|r| (r.rate_per_ms, f(r)))
                        .collect(),
                )
            })
            .collect();
        crate::plot::lines(
            &curves,
            &format!("{workload}: {what} vs injection rate"),
            "job injection rate (jobs/ms)",
            what,
            dir,
            stem,
        )
        .map_err(Error::File)?;
        files.push(dir.join(format!("{stem}.png")));
        files.push(dir.join(format!("{stem}.svg")));
    }
    Ok(files)
}

/// `archsim run` on a config with `study: {kind: latency_vs_rate, ...}`: runs the study, writes
/// its folder and prints the summary table (or, with `--json`, the summary as JSON).
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    use std::fmt::Write as _;
    let cfg = inv.host.load_base(inv.text, inv.file, inv.set)?;
    let study: StudyConfig = inv.typed_section()?;
    study.validate(&cfg).map_err(|(p, m)| {
        Error::Config(archsim_io::located::located_error(
            inv.text, inv.file, inv.set, &p, m,
        ))
    })?;
    eprintln!(
        "study {:?}: {} schedulers x {} rates x {} seeds",
        study.kind,
        study.schedulers.len(),
        study.rates_per_ms.len(),
        study.seeds.len().max(1)
    );
    let rows = run(inv.host, &cfg, &study, inv.base)?;
    let files = write(&cfg, &study, &rows, &inv.dir)?;
    let summary = summarize(&study, &rows);
    let mut text = format!(
        "{:<12} {:>10} {:>14} {:>14} {:>14}\n",
        "scheduler", "jobs/ms", "avg lat (us)", "p95 lat (us)", "p99 lat (us)"
    );
    for r in &summary {
        writeln!(
            text,
            "{:<12} {:>10} {:>14.1} {:>14.1} {:>14.1}",
            r.scheduler,
            r.rate_per_ms,
            r.avg_job_latency_us,
            r.p95_job_latency_us,
            r.p99_job_latency_us
        )
        .ok();
    }
    Ok(StudyOutput {
        json: serde_json::to_value(&summary).expect("rows serialize"),
        text,
        files,
    })
}

/// A DS3 study file: the base design point (a `jobs:` workload on a `kind: soc` chip) and its
/// `study:` section.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema only: the study reads the design point through its host
pub struct Ds3File {
    /// The base point's job stream.
    workload: archsim_workloads::WorkloadConfig,
    /// The base point's SoC.
    accelerator: archsim_accelerators::AcceleratorConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    seed: u64,
    /// `{kind: latency_vs_rate, schedulers, rates_per_ms, seeds}`.
    study: StudyConfig,
}

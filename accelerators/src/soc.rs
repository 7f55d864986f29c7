//! Heterogeneous SoC: processing elements, an interconnect, and online schedulers for
//! continuously arriving job DAGs.
//!
//! The model follows DS3 (Arda et al., "DS3: A System-Level Domain-Specific System-on-Chip
//! Simulation Framework", IEEE Trans. Computers 69(8), 2020, doi:10.1109/TC.2020.2986963) and
//! the environment of DeepSoCS (Sung et al., "DeepSoCS: A Neural Scheduler for Heterogeneous
//! System-on-Chip (SoC) Resource Scheduling", Electronics 9(6) 936, 2020,
//! doi:10.3390/electronics9060936). Fidelity: event-driven, at task granularity.
//!
//! ```text
//!  JobSet (workloads::jobs)          Soc (this module)
//!  apps: DAGs + per-PE-type times    PEs (type, power) · interconnect (bus | mesh)
//!  jobs: (app, arrival)                    │
//!            └──────── Soc::bind ──────────┘  exec[task][pe] in cycles, upward ranks
//!                         │
//!                   SocSim (engine)   archsim-sim EventQueue: arrivals, task ends, data arrivals
//!                    ▲        │ ready tasks, new jobs
//!          assign(task, pe)   ▼
//!                   Scheduler: met · eft · etf · heft · round_robin · random · (gym policy)
//!                         │
//!                     SocRun ──► Report (+ JobStats: makespan, latency p50/p95/p99, PE usage)
//! ```
//!
//! How a run unfolds:
//!
//! * A job arrives; its source tasks become *ready*. The scheduler is called whenever jobs
//!   arrived or tasks are ready, after every event of the current cycle has been processed.
//! * The scheduler *assigns* tasks to PEs. Each PE keeps a queue ordered by the start time the
//!   scheduler planned (then by assignment order) and runs it in that order, one task at a time,
//!   each as soon as its inputs have arrived. HEFT assigns a whole job at arrival (its plan can
//!   insert tasks into idle slots); the others assign ready tasks only, as in DS3.
//! * When a producer ends, its output crosses the interconnect to the consumer's PE:
//!   `latency + bytes / bandwidth` (0 on the same PE; per-hop latency on a mesh; one transfer at
//!   a time on a bus with `contention: true`).
//! * A task's run time is its profiled time times a noise factor `max(0.1, 1 + σz)`, drawn per
//!   task from the seed before the run, so every scheduler faces the same noise; schedulers see
//!   only the profiled estimate (DeepSoCS's setting).
//!
//! Energy: each PE draws `active_w` while busy and `idle_w` otherwise, up to the makespan, plus
//! `energy_pj_per_byte` for bytes crossing the interconnect.
//!
//! ```
//! use archsim_accelerators::soc::{self, Soc, SocConfig, Policy};
//! use archsim_workloads::jobs::{Arrival, AppRef, JobsConfig, Process};
//!
//! let jobs = JobsConfig {
//!     apps: vec![AppRef::named("topcuoglu", 1.0)],
//!     arrival: Arrival { process: Process::Batch, rate_per_ms: None },
//!     count: 1,
//! }
//! .build(std::path::Path::new("."), 0)
//! .unwrap();
//! let mut cfg = SocConfig::preset("ds3").unwrap();
//! cfg.pes.clear();
//! for p in ["p1", "p2", "p3"] {
//!     cfg.pes.push(soc::PeConfig {
//!         name: p.into(), kind: p.into(), count: 1, active_w: 1.0, idle_w: 0.0,
//!         area_mm2: 0.0, exec_us: Default::default(),
//!     });
//! }
//! cfg.interconnect.links.clear();
//! cfg.interconnect.bandwidth_bytes_per_us = 1.0; // edge weight = transfer time in µs
//! cfg.scheduler = Policy::Heft;
//! let report = soc::simulate(&cfg, &jobs, "doc", 0).unwrap();
//! assert_eq!(report.jobs.unwrap().makespan, 80.0); // Topcuoglu et al., TPDS 2002, Fig. 3
//! ```

mod config;
mod engine;
mod report;
mod sched;

use std::sync::Arc;

// The config (with the types of its keys) and what the SoC gym environment and benches
// drive: the engine, a scheduler by policy; the schedulers themselves are the family's own.
pub use config::{InterconnectConfig, LinkConfig, NetKind, PeConfig, Policy, SocConfig};
pub use engine::{run, SocRun, SocSim, TaskRecord};
pub use sched::{scheduler, Scheduler};

use config::PRESETS;
use report::to_report;

use archsim_sim::Report;
use archsim_workloads::jobs::JobSet;

use crate::AccelError;

/// One PE instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Pe {
    /// Instance name (`a15_2`).
    pub name: String,
    /// PE type (`a15`).
    pub kind: String,
    /// Power while busy, W.
    pub active_w: f64,
    /// Power while idle, W.
    pub idle_w: f64,
    /// Area, mm².
    pub area_mm2: f64,
    config: usize,
}

/// A SoC built from its config: PE instances and the transfer-time table.
#[derive(Debug, Clone)]
pub struct Soc {
    config: SocConfig,
    pes: Vec<Pe>,
    /// Fixed latency of a transfer between two PEs, cycles (row-major, P×P).
    lat: Vec<f64>,
    /// Cycles per byte between two PEs (row-major, P×P).
    cpb: Vec<f64>,
    mean_lat: f64,
    mean_cpb: f64,
}

impl Soc {
    /// Builds the SoC, validating the config.
    pub fn new(config: SocConfig) -> Result<Soc, AccelError> {
        config.validate()?;
        let mut pes = Vec::new();
        for (ci, p) in config.pes.iter().enumerate() {
            for i in 0..p.count {
                pes.push(Pe {
                    name: if p.count == 1 {
                        p.name.clone()
                    } else {
                        format!("{}_{i}", p.name)
                    },
                    kind: p.kind.clone(),
                    active_w: p.active_w,
                    idle_w: p.idle_w,
                    area_mm2: p.area_mm2,
                    config: ci,
                });
            }
        }
        let n = pes.len();
        let net = &config.interconnect;
        let f = config.freq_mhz;
        let cols =
            net.mesh_cols
                .unwrap_or_else(|| (n as f64).sqrt().ceil().max(1.0) as u64) as usize;
        let mut lat = vec![0.0; n * n];
        let mut cpb = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let bw = net
                    .links
                    .iter()
                    .find(|l| {
                        (l.between[0] == pes[a].kind && l.between[1] == pes[b].kind)
                            || (l.between[1] == pes[a].kind && l.between[0] == pes[b].kind)
                    })
                    .map_or(net.bandwidth_bytes_per_us, |l| l.bandwidth_bytes_per_us);
                let hops = match net.kind {
                    NetKind::Bus => 0,
                    NetKind::Mesh => (a % cols).abs_diff(b % cols) + (a / cols).abs_diff(b / cols),
                };
                lat[a * n + b] = (net.latency_us + hops as f64 * net.hop_latency_us) * f;
                cpb[a * n + b] = f / bw;
            }
        }
        let pairs = (n * n - n).max(1) as f64;
        let mean_lat = lat.iter().sum::<f64>() / pairs;
        let mean_cpb = cpb.iter().sum::<f64>() / pairs;
        Ok(Soc {
            config,
            pes,
            lat,
            cpb,
            mean_lat,
            mean_cpb,
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &SocConfig {
        &self.config
    }

    /// PE instances.
    pub fn pes(&self) -> &[Pe] {
        &self.pes
    }

    /// Cycles to move `bytes` from PE `a` to PE `b` on an idle interconnect (0 when `a == b`).
    pub(crate) fn transfer_cycles(&self, a: usize, b: usize, bytes: u64) -> u64 {
        if a == b {
            return 0;
        }
        let i = a * self.pes.len() + b;
        (self.lat[i] + bytes as f64 * self.cpb[i]).round() as u64
    }

    /// Cycles the bus is held by a transfer of `bytes` from `a` to `b` (latency excluded).
    fn occupancy_cycles(&self, a: usize, b: usize, bytes: u64) -> u64 {
        (bytes as f64 * self.cpb[a * self.pes.len() + b]).round() as u64
    }

    /// Mean transfer time of `bytes` over pairs of distinct PEs, in cycles (HEFT's c̄).
    pub(crate) fn mean_transfer_cycles(&self, bytes: u64) -> f64 {
        if self.pes.len() < 2 {
            return 0.0;
        }
        self.mean_lat + bytes as f64 * self.mean_cpb
    }

    /// µs → cycles at the SoC clock.
    pub fn cycles(&self, us: f64) -> u64 {
        (us * self.config.freq_mhz).round() as u64
    }

    /// Short description: `soc 16 PEs (4 a7, 4 a15, …)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .config
            .pes
            .iter()
            .map(|p| format!("{} {}", p.count, p.kind))
            .collect();
        format!("soc {} PEs ({})", self.pes.len(), parts.join(", "))
    }

    /// Binds a job set to this SoC: execution times per (task, PE) in cycles and HEFT's upward
    /// ranks. Fails, naming the task, when no PE can run some task.
    pub fn bind(&self, set: &JobSet) -> Result<BoundJobs, AccelError> {
        let mut apps = Vec::with_capacity(set.apps.len());
        for g in &set.apps {
            let mut exec = Vec::with_capacity(g.tasks.len());
            for (i, t) in g.tasks.iter().enumerate() {
                let row: Vec<Option<u64>> = self
                    .pes
                    .iter()
                    .map(|pe| {
                        self.config.pes[pe.config]
                            .exec_us
                            .get(&t.kind)
                            .copied()
                            .or_else(|| g.exec_us(i, &pe.kind))
                            .map(|us| self.cycles(us))
                    })
                    .collect();
                if row.iter().all(Option::is_none) {
                    let mut types: Vec<&str> = self.pes.iter().map(|p| p.kind.as_str()).collect();
                    types.dedup();
                    let has: Vec<&String> = g
                        .profiles
                        .get(&t.kind)
                        .map(|m| m.keys().collect())
                        .unwrap_or_default();
                    return Err(AccelError::Mapping {
                        op: format!("{}/{}", g.name, t.name),
                        accelerator: self.describe(),
                        reason: format!(
                            "no PE supports task type `{}` (it has times for: {}; the SoC's PE types: {})",
                            t.kind,
                            has.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                            types.join(", ")
                        ),
                    });
                }
                exec.push(row);
            }
            // Upward rank (Topcuoglu et al. 2002, eq. 7), over mean costs, in reverse topological
            // order (tasks are topologically sorted).
            let n = g.tasks.len();
            let mut rank = vec![0.0f64; n];
            for i in (0..n).rev() {
                let times: Vec<f64> = exec[i].iter().flatten().map(|&c| c as f64).collect();
                let w = times.iter().sum::<f64>() / times.len() as f64;
                let tail = g
                    .succs(i)
                    .iter()
                    .map(|&(s, bytes)| self.mean_transfer_cycles(bytes) + rank[s])
                    .fold(0.0f64, f64::max);
                rank[i] = w + tail;
            }
            apps.push(AppModel { exec, rank });
        }
        Ok(BoundJobs {
            set: set.clone(),
            apps,
        })
    }
}

/// One application bound to a SoC.
#[derive(Debug, Clone)]
pub struct AppModel {
    /// Execution time estimate of each task on each PE, cycles (`None`: cannot run there).
    pub exec: Vec<Vec<Option<u64>>>,
    /// HEFT upward rank of each task, cycles.
    pub rank: Vec<f64>,
}

/// A job set bound to a SoC ([`Soc::bind`]).
#[derive(Debug, Clone)]
pub struct BoundJobs {
    /// The applications and arrivals.
    pub set: JobSet,
    /// Per application, its bound model.
    pub apps: Vec<AppModel>,
}

/// Runs `set` on the SoC `cfg` with the configured scheduler and returns the report.
pub fn simulate(
    cfg: &SocConfig,
    set: &JobSet,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    simulate_on(Arc::new(Soc::new(cfg.clone())?), set, config_hash, seed)
}

/// [`simulate`] on an already built SoC.
pub(crate) fn simulate_on(
    soc: Arc<Soc>,
    set: &JobSet,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    let cfg = soc.config();
    let work = Arc::new(soc.bind(set)?);
    let mut s = scheduler(cfg.scheduler, seed);
    let run = engine::run(soc.clone(), work.clone(), s.as_mut(), seed)?;
    Ok(to_report(&soc, &work, &run, s.name(), config_hash, seed))
}


impl crate::family::FamilyConfig for SocConfig {
    const FORMS: &'static [crate::family::Form] = &[crate::family::Form::Jobs];
    fn presets() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }
    fn from_map(
        acc: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, crate::config::KeyError> {
        // `preset: NAME` starts from a built-in SoC; the keys given beside it replace the
        // preset's.
        let merged = crate::config::merge_preset(acc, true, |name| {
            SocConfig::preset_map(name).map_err(|e| match e {
                AccelError::InvalidConfig { reason, .. } => reason,
                other => other.to_string(),
            })
        })?;
        crate::config::typed(serde_json::Value::Object(merged), &["accelerator"])
    }
    fn validate(&self) -> Result<(), AccelError> {
        SocConfig::validate(self)
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        Ok(Box::new(SocFamily {
            soc: Arc::new(Soc::new(self.clone())?),
        }))
    }
}

/// A heterogeneous SoC runs job streams on its own event-driven engine ([`simulate`]).
struct SocFamily {
    soc: Arc<Soc>,
}

impl crate::family::Family for SocFamily {
    fn name(&self) -> String {
        self.soc.describe()
    }
    fn area_mm2(&self) -> f64 {
        self.soc.pes().iter().map(|p| p.area_mm2).sum()
    }
    fn run_graph(
        &self,
        _w: &archsim_workloads::Workload,
        _ctx: &crate::family::Context<'_>,
    ) -> Result<Report, AccelError> {
        Err(AccelError::InvalidConfig {
            key: "kind".into(),
            reason: "`soc` runs a `jobs:` workload, not an op graph".into(),
        })
    }
    fn run_jobs(
        &self,
        jobs: &JobSet,
        ctx: &crate::family::Context<'_>,
    ) -> Result<Report, AccelError> {
        simulate_on(self.soc.clone(), jobs, ctx.config_hash, ctx.seed)
    }
}

#[cfg(test)]
mod tests;

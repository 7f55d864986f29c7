//! A scheduling environment on a heterogeneous SoC: each step assigns the next ready task to a
//! PE, as in DeepSoCS (Sung et al., Electronics 9(6) 936, 2020, doi:10.3390/electronics9060936)
//! and Decima (Mao et al., SIGCOMM 2019, doi:10.1145/3341302.3342080) for its reward.
//!
//! The environment wraps [`SocSim`]: between decisions the engine runs arrivals, task ends and
//! transfers; a decision point is a ready task that no PE has yet. Ready tasks are offered in the
//! order they became ready (the head of the ready list).
//!
//! # Observation (fixed size, `f64`)
//!
//! `[global (4) | ready tasks (max_ready × 2) | PEs (num_pes × 8)]`, every entry scale-free:
//!
//! * global: ready tasks / `max_ready` (≤ 1), jobs in system / 10, the head task's upward rank
//!   and its job's age, both over the largest upward rank of the workload;
//! * ready tasks (head first, zero-padded): best execution time and upward rank, over the largest
//!   upward rank;
//! * per PE, for the head task ([`PE_FEATURES`] names them): `feasible`, `ln(exec / best exec)`,
//!   `(finish − best finish) / best exec` (capped at 10), `is earliest finish`, `is fastest`,
//!   `ln(1 + backlog / best exec)`, `queue length / 4`, `(inputs ready − now) / best exec`
//!   (capped at 10). Infeasible PEs have all zeros.
//!
//! # Action, mask, reward
//!
//! The action is a PE index; [`SocEnv::action_mask`] marks the PEs that can run the head task
//! (any other action is an error). The reward of a step is `−∫ (jobs in system) dt` over the
//! simulated time it advances, in job·ms, so an episode's return is minus the sum of its job
//! latencies in ms: maximizing it minimizes the average job latency. An episode terminates when
//! every job has ended; it is never truncated.
//!
//! ```
//! use archsim_gym::{presets, Env, SocEnv};
//!
//! let mut env = SocEnv::from_yaml(presets::SOC_WIFI, std::path::Path::new(".")).unwrap();
//! let obs = env.reset(Some(0));
//! assert_eq!(obs.len(), env.obs_len());
//! let mut ret = 0.0;
//! loop {
//!     let mask = env.action_mask();
//!     let pe = mask.iter().position(|&ok| ok).unwrap(); // first feasible PE
//!     let s = env.step(&pe).unwrap();
//!     ret += s.reward;
//!     if s.terminated { break; }
//! }
//! // The return is minus the total job latency (ms).
//! let avg_ms = env.avg_job_latency_us().unwrap() / 1000.0;
//! assert!((ret + avg_ms * env.jobs() as f64).abs() < 1e-6);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use archsim_accelerators::config::{typed, SimConfig};
use archsim_accelerators::soc::{self, BoundJobs, Policy, Soc, SocSim};
use archsim_accelerators::AcceleratorConfig;
use archsim_workloads::jobs::JobsConfig;

use crate::env::{Env, Step, StepInfo};
use crate::GymError;

/// Global features at the start of the observation.
pub const GLOBAL_FEATURES: usize = 4;
/// Features per ready task.
pub const READY_FEATURES: usize = 2;
/// Names of the per-PE features.
pub const PE_FEATURES: [&str; 8] = [
    "feasible",
    "log_exec_ratio",
    "finish_gap",
    "is_earliest_finish",
    "is_fastest",
    "log_backlog",
    "queue_len",
    "input_wait",
];

fn default_max_ready() -> usize {
    8
}

/// The `gym:` section of a SoC scheduling environment ([`SocEnv`]).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocGymSection {
    /// Ready tasks the observation shows (default 8).
    #[serde(default = "default_max_ready")]
    max_ready: usize,
}

/// The SoC scheduling environment.
pub struct SocEnv {
    soc: Arc<Soc>,
    jobs: JobsConfig,
    base_dir: PathBuf,
    max_ready: usize,
    seed: u64,
    episode: u64,
    sim: Option<SocSim>,
    rank_scale: f64,
    steps: u64,
    last_area: f64,
}

impl SocEnv {
    /// Builds the environment from a config value: `workload: {jobs: …}`, `accelerator: {kind:
    /// soc, …}`, `seed`, and an optional `gym: {max_ready}` section.
    pub fn from_value(config: &Value, base_dir: &Path) -> Result<SocEnv, GymError> {
        let bad = |key: &str, reason: String| GymError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let Some(obj) = config.as_object() else {
            return Err(bad("", "the config must be a mapping".into()));
        };
        let mut base = obj.clone();
        let gym = match base.remove("gym") {
            Some(g) => typed::<SocGymSection>(g, &["gym"]).map_err(|e| bad(&e.key(), e.message))?,
            None => SocGymSection {
                max_ready: default_max_ready(),
            },
        };
        if gym.max_ready == 0 {
            return Err(bad("gym.max_ready", "must be at least 1".into()));
        }
        let cfg =
            SimConfig::from_value(Value::Object(base)).map_err(|e| bad(&e.key(), e.message))?;
        let AcceleratorConfig::Soc(soc_cfg) = &cfg.accelerator else {
            return Err(bad(
                "accelerator.kind",
                "the SoC environment needs `kind: soc`".into(),
            ));
        };
        let Some(jobs) = cfg.workload.jobs.clone() else {
            return Err(bad(
                "workload.jobs",
                "the SoC environment needs a job stream".into(),
            ));
        };
        let soc =
            Arc::new(Soc::new(soc_cfg.clone()).map_err(|e| bad("accelerator", e.to_string()))?);
        let mut env = SocEnv {
            soc,
            jobs,
            base_dir: base_dir.to_path_buf(),
            max_ready: gym.max_ready,
            seed: cfg.seed,
            episode: 0,
            sim: None,
            rank_scale: 1.0,
            steps: 0,
            last_area: 0.0,
        };
        // Bind once now, so that a bad job file or an unsupported task fails here.
        let work = env.bind(cfg.seed)?;
        env.rank_scale = rank_scale(&work);
        Ok(env)
    }

    /// Builds the environment from YAML (or JSON) text.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<SocEnv, GymError> {
        let v: Value = serde_saphyr::from_str(text).map_err(|e| GymError::InvalidConfig {
            key: String::new(),
            reason: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("malformed YAML")
                .to_string(),
        })?;
        SocEnv::from_value(&v, base_dir)
    }

    fn bind(&self, seed: u64) -> Result<BoundJobs, GymError> {
        let set = self
            .jobs
            .build(&self.base_dir, seed)
            .map_err(|e| GymError::InvalidConfig {
                key: "workload.jobs".into(),
                reason: e.to_string(),
            })?;
        self.soc.bind(&set).map_err(|e| GymError::InvalidConfig {
            key: "workload.jobs".into(),
            reason: e.to_string(),
        })
    }

    /// The seed of episode `k` after `reset(Some(seed))`: arrivals and noise both derive from it.
    pub fn episode_seed(seed: u64, k: u64) -> u64 {
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(k)
    }

    /// PEs (the action space is `0..num_pes`).
    pub fn num_pes(&self) -> usize {
        self.soc.pes().len()
    }

    /// The SoC.
    pub fn soc(&self) -> &Soc {
        &self.soc
    }

    /// Observation length.
    pub fn obs_len(&self) -> usize {
        GLOBAL_FEATURES + self.max_ready * READY_FEATURES + self.num_pes() * PE_FEATURES.len()
    }

    /// Where the per-PE block starts in the observation; PE `i`'s features are
    /// `obs[offset + i * PE_FEATURES.len()..][..PE_FEATURES.len()]`.
    pub fn pe_features_offset(&self) -> usize {
        GLOBAL_FEATURES + self.max_ready * READY_FEATURES
    }

    /// Jobs per episode.
    pub fn jobs(&self) -> u64 {
        self.jobs.count
    }

    /// PEs that can run the task to assign (all false when the episode is over).
    pub fn action_mask(&self) -> Vec<bool> {
        let n = self.num_pes();
        match self
            .sim
            .as_ref()
            .and_then(|s| s.ready().first().map(|&t| (s, t)))
        {
            Some((s, t)) => (0..n).map(|pe| s.exec(t, pe).is_some()).collect(),
            None => vec![false; n],
        }
    }

    /// Average job latency of the finished episode, µs (`None` before the end).
    pub fn avg_job_latency_us(&self) -> Option<f64> {
        let s = self.sim.as_ref()?;
        s.is_done()
            .then(|| s.latency_area() / s.jobs_total().max(1) as f64 / self.soc.config().freq_mhz)
    }

    /// Average job latency of a built-in scheduler on the episode that `reset(Some(seed))`
    /// followed by `k` more resets would play (same arrivals, same noise), µs.
    pub fn scheduler_latency_us(&self, kind: Policy, seed: u64, k: u64) -> Result<f64, GymError> {
        let es = SocEnv::episode_seed(seed, k);
        let work = Arc::new(self.bind(es)?);
        let mut s = soc::scheduler(kind, es);
        let run = soc::run(self.soc.clone(), work, s.as_mut(), es).map_err(|e| {
            GymError::InvalidConfig {
                key: "accelerator".into(),
                reason: e.to_string(),
            }
        })?;
        let sum: u64 = run.jobs.iter().map(|&(_, a, e)| e - a).sum();
        Ok(sum as f64 / run.jobs.len().max(1) as f64 / self.soc.config().freq_mhz)
    }

    fn observe(&self) -> Vec<f64> {
        let mut obs = vec![0.0; self.obs_len()];
        let Some(sim) = &self.sim else { return obs };
        let Some(&head) = sim.ready().first() else {
            return obs;
        };
        let now = sim.now();
        let scale = self.rank_scale;
        let best_exec = |t: usize| {
            (0..sim.num_pes())
                .filter_map(|pe| sim.exec(t, pe))
                .min()
                .unwrap_or(0)
        };
        obs[0] = (sim.ready().len().min(self.max_ready)) as f64 / self.max_ready as f64;
        obs[1] = sim.jobs_in_system() as f64 / 10.0;
        obs[2] = sim.rank(head) / scale;
        let (job, _, _) = sim.task_origin(head);
        obs[3] = (now - sim.job_arrival(job)) as f64 / scale;
        for (i, &t) in sim.ready().iter().take(self.max_ready).enumerate() {
            obs[GLOBAL_FEATURES + i * READY_FEATURES] = best_exec(t) as f64 / scale;
            obs[GLOBAL_FEATURES + i * READY_FEATURES + 1] = sim.rank(t) / scale;
        }
        let unit = best_exec(head).max(1) as f64;
        let efts: Vec<Option<(u64, u64)>> =
            (0..sim.num_pes()).map(|pe| sim.eft(head, pe)).collect();
        let best_end = efts.iter().flatten().map(|e| e.1).min().unwrap_or(0);
        let best_w = best_exec(head);
        let first_eft = efts.iter().position(|e| e.is_some_and(|e| e.1 == best_end));
        let first_met = (0..sim.num_pes()).find(|&pe| sim.exec(head, pe) == Some(best_w));
        let off = self.pe_features_offset();
        for (pe, eft) in efts.iter().enumerate() {
            let Some((_, end)) = *eft else { continue };
            let w = sim.exec(head, pe).unwrap_or(0);
            let f = &mut obs[off + pe * PE_FEATURES.len()..][..PE_FEATURES.len()];
            f[0] = 1.0;
            f[1] = ((w.max(1)) as f64 / unit).ln();
            f[2] = ((end - best_end) as f64 / unit).min(10.0);
            f[3] = f64::from(first_eft == Some(pe));
            f[4] = f64::from(first_met == Some(pe));
            f[5] = ((sim.pe_available(pe) - now) as f64 / unit).ln_1p();
            f[6] = sim.queue_len(pe) as f64 / 4.0;
            f[7] = ((sim.data_ready(head, pe) - now) as f64 / unit).min(10.0);
        }
        obs
    }

    /// Runs the engine to the next decision; returns the reward accrued (job·ms, negative).
    fn run_to_decision(&mut self) -> (f64, bool) {
        let Some(sim) = &mut self.sim else {
            return (0.0, true);
        };
        // `advance` also stops at arrivals; only a ready task is a decision.
        let mut more = true;
        while more && sim.ready().is_empty() {
            more = sim.advance();
        }
        let area = sim.latency_area();
        let r = -(area - self.last_area) / self.soc.config().freq_mhz / 1000.0;
        self.last_area = area;
        (r, !more)
    }
}

/// The largest upward rank of the workload, cycles (at least 1).
fn rank_scale(work: &BoundJobs) -> f64 {
    work.apps
        .iter()
        .flat_map(|a| a.rank.iter().copied())
        .fold(1.0, f64::max)
}

impl Env for SocEnv {
    type Action = usize;

    /// Starts an episode. `Some(seed)` restarts the episode sequence from `seed`; `None` plays
    /// the next episode of the current sequence (new arrivals, new noise).
    fn reset(&mut self, seed: Option<u64>) -> Vec<f64> {
        match seed {
            Some(s) => {
                self.seed = s;
                self.episode = 0;
            }
            None => self.episode += 1,
        }
        let es = SocEnv::episode_seed(self.seed, self.episode);
        self.sim = self
            .bind(es)
            .ok()
            .map(|w| SocSim::new(self.soc.clone(), Arc::new(w), es));
        self.steps = 0;
        self.last_area = 0.0;
        self.run_to_decision();
        self.observe()
    }

    fn step(&mut self, action: &usize) -> Result<Step, GymError> {
        let invalid = |reason: String| GymError::InvalidAction { reason };
        let Some(sim) = &mut self.sim else {
            return Err(invalid("call reset first".into()));
        };
        let Some(&head) = sim.ready().first() else {
            return Err(invalid("the episode is over; call reset".into()));
        };
        let pe = *action;
        if pe >= sim.num_pes() {
            return Err(invalid(format!(
                "PE {pe} out of range (0..{})",
                sim.num_pes()
            )));
        }
        if sim.exec(head, pe).is_none() {
            return Err(invalid(format!(
                "PE {pe} (`{}`) cannot run the task; see action_mask",
                self.soc.pes()[pe].name
            )));
        }
        let (_, app, local) = sim.task_origin(head);
        let task = sim.work().set.apps[app].tasks[local].name.clone();
        sim.assign(head, pe, None)
            .map_err(|e| invalid(e.to_string()))?;
        self.steps += 1;
        let (reward, done) = self.run_to_decision();
        let obs = self.observe();
        let sim = self.sim.as_ref().expect("reset built the simulation");
        Ok(Step {
            obs,
            reward,
            terminated: done,
            truncated: false,
            info: StepInfo {
                feasible: true,
                reason: None,
                metrics: vec![
                    sim.now() as f64 / self.soc.config().freq_mhz,
                    sim.jobs_done() as f64,
                    sim.jobs_in_system() as f64,
                ],
                point: vec![
                    ("task".into(), Value::String(task)),
                    ("pe".into(), Value::String(self.soc.pes()[pe].name.clone())),
                ],
                step: self.steps,
            },
        })
    }
}

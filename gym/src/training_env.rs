//! `archsim/Training-v0`: pick the parallel layout of a training job.
//!
//! The config is a training config (`workload.training`, `accelerator`, `cluster`,
//! `parallel`, as for `archsim run`) and an optional `gym:` section. One step simulates one
//! iteration of the job under the layout the action picks.
//!
//! * **Action** (`MultiDiscrete`, [`TrainingEnv::nvec`]): one index per dimension,
//!   [`TrainingEnv::dims`] — `parallel.tp` and `parallel.pp` among the divisors of the
//!   devices, `workload.training.micro_batch` among the divisors of the global batch,
//!   `workload.training.recompute` (`none`, `selective`, `full`) and `parallel.vpp` (1, or
//!   interleaved 1F1B over 2, 3 or 4 chunks per device); `parallel.dp` is what is left of
//!   the devices. Everything else is the config's.
//! * **Observation**: the metrics [`TRAINING_METRICS`] of the step's layout (zeros when it
//!   could not be simulated).
//! * **Reward**: the layout's tokens per second divided by `gym.reward_scale` (default: the
//!   tokens per second of the config's own layout when that one is valid and fits, so 1.0 is
//!   as good as the config, above 1 better; otherwise 1 token/s).
//! * **Infeasible** layouts — `tp · pp` not dividing the devices, a `tp` that does not divide
//!   the heads, a micro-batch that does not divide the per-replica batch, more virtual stages
//!   than layers, a most loaded device that does not fit in its memory — take
//!   `gym.infeasible_reward` (default −1) with `info.feasible == false` and the reason (the
//!   keys it names, or the bytes it needs) in `info.reason`.
//! * **Episode**: `gym.episode_len` steps (default 16), then `truncated`; never
//!   `terminated`. Nothing is random: `reset`'s seed only restarts the episode.
//!
//! ```
//! use archsim_gym::training_env::TrainingEnv;
//! use archsim_gym::Env;
//! let mut env = TrainingEnv::from_yaml(archsim_gym::presets::TRAINING_GPT3, None).unwrap();
//! env.reset(Some(0));
//! // Megatron-LM's layout: tp 8, pp 8 (dp 16), micro-batch 1, full recompute, no interleaving.
//! let a = env.action_of(8, 8, 1, "full", 1).unwrap();
//! let step = env.step(&a).unwrap();
//! assert!(step.info.feasible);
//! assert!((step.reward - 1.0).abs() < 1e-12); // the config's own layout
//! // tp 3 does not divide 1,024 devices... it is not offered; tp 64 does not divide 96 heads:
//! let bad = env.action_of(64, 1, 1, "full", 1).unwrap();
//! let step = env.step(&bad).unwrap();
//! assert!(!step.info.feasible && step.info.reason.unwrap().contains("parallel.tp"));
//! ```

use serde::Deserialize;
use serde_json::{Map, Value};

use archsim_training::file::TrainingFile;
use archsim_training::space::{recompute_name, Layout};
use archsim_training::Recompute;

use crate::env::{Env, Step, StepInfo};
use crate::evaluator::{training_metrics, TRAINING_METRICS};
use crate::GymError;

/// The `gym:` section of `archsim/Training-v0`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingGym {
    /// Steps per episode (default 16).
    #[serde(default = "sixteen")]
    pub episode_len: u64,
    /// Reward of an infeasible layout (default −1).
    #[serde(default = "minus_one")]
    pub infeasible_reward: f64,
    /// Tokens per second that earn a reward of 1 (default: the config's own layout's).
    #[serde(default)]
    pub reward_scale: Option<f64>,
}

impl Default for TrainingGym {
    fn default() -> Self {
        TrainingGym {
            episode_len: 16,
            infeasible_reward: -1.0,
            reward_scale: None,
        }
    }
}

fn sixteen() -> u64 {
    16
}
fn minus_one() -> f64 {
    -1.0
}

const RECOMPUTE: [Recompute; 3] = [Recompute::None, Recompute::Selective, Recompute::Full];
const VPP: [usize; 4] = [1, 2, 3, 4];

/// The layout-picking environment (see the module docs).
#[derive(Debug, Clone)]
pub struct TrainingEnv {
    file: TrainingFile,
    gym: TrainingGym,
    devices: usize,
    tps: Vec<usize>,
    pps: Vec<usize>,
    micro_batches: Vec<u64>,
    scale: f64,
    steps: u64,
}

fn divisors(n: u64) -> Vec<u64> {
    (1..=n).filter(|d| n % d == 0).collect()
}

fn bad(key: &str, reason: String) -> GymError {
    GymError::InvalidConfig {
        key: key.into(),
        reason,
    }
}

impl TrainingEnv {
    /// The environment of a training config given as a document (with an optional `gym:`
    /// section); `episode_len` overrides `gym.episode_len`.
    pub fn new(config: &Value, episode_len: Option<u64>) -> Result<TrainingEnv, GymError> {
        let mut doc = config.clone();
        let gym_v = doc
            .as_object_mut()
            .and_then(|m| m.remove("gym"))
            .filter(|v| !v.is_null());
        let mut gym: TrainingGym = match gym_v {
            Some(v) => archsim_accelerators::config::typed(v, &["gym"])
                .map_err(|e: archsim_accelerators::config::KeyError| bad(&e.key(), e.message))?,
            None => TrainingGym::default(),
        };
        if let Some(n) = episode_len {
            gym.episode_len = n;
        }
        if gym.episode_len == 0 {
            return Err(bad("gym.episode_len", "must be at least 1".into()));
        }
        if !gym.infeasible_reward.is_finite() {
            return Err(bad(
                "gym.infeasible_reward",
                "must be a finite number".into(),
            ));
        }
        if gym
            .reward_scale
            .is_some_and(|s| !(s.is_finite() && s > 0.0))
        {
            return Err(bad(
                "gym.reward_scale",
                "must be a positive number of tokens per second".into(),
            ));
        }
        let file = TrainingFile::from_value(doc).map_err(|(p, m)| bad(&p.join("."), m))?;
        let spec = file.cluster.spec().map_err(|e| {
            let (k, m) = archsim_training::file::net_key(&e);
            bad(&k, m)
        })?;
        let devices = spec.devices();
        let t = &file.workload.training;
        if t.global_batch == 0 {
            return Err(bad(
                "workload.training.global_batch",
                "must be positive".into(),
            ));
        }
        let tps: Vec<usize> = divisors(devices as u64)
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let micro_batches = divisors(t.global_batch);
        let scale = match gym.reward_scale {
            Some(s) => s,
            None => match file.simulate() {
                Ok(s) if s.report.fits => s.report.tokens_per_s,
                _ => 1.0,
            },
        };
        Ok(TrainingEnv {
            pps: tps.clone(),
            tps,
            micro_batches,
            devices,
            file,
            gym,
            scale,
            steps: 0,
        })
    }

    /// The environment of a training config given as YAML (or JSON) text.
    pub fn from_yaml(text: &str, episode_len: Option<u64>) -> Result<TrainingEnv, GymError> {
        let v: Value = serde_saphyr::from_str(text).map_err(|e| bad("", e.to_string()))?;
        TrainingEnv::new(&v, episode_len)
    }

    /// The action's dimensions, in order.
    pub fn dims(&self) -> [&'static str; 5] {
        [
            "parallel.tp",
            "parallel.pp",
            "workload.training.micro_batch",
            "workload.training.recompute",
            "parallel.vpp",
        ]
    }

    /// Choices per dimension (a `MultiDiscrete` space).
    pub fn nvec(&self) -> Vec<i64> {
        vec![
            self.tps.len() as i64,
            self.pps.len() as i64,
            self.micro_batches.len() as i64,
            RECOMPUTE.len() as i64,
            VPP.len() as i64,
        ]
    }

    /// The values each dimension's indices stand for, as config values.
    pub fn choices(&self) -> Vec<Vec<Value>> {
        vec![
            self.tps.iter().map(|&x| Value::from(x)).collect(),
            self.pps.iter().map(|&x| Value::from(x)).collect(),
            self.micro_batches.iter().map(|&x| Value::from(x)).collect(),
            RECOMPUTE
                .iter()
                .map(|&r| Value::from(recompute_name(r)))
                .collect(),
            VPP.iter().map(|&x| Value::from(x)).collect(),
        ]
    }

    /// The observation's names ([`TRAINING_METRICS`]).
    pub fn obs_names(&self) -> &'static [&'static str] {
        TRAINING_METRICS
    }

    /// Tokens per second that earn a reward of 1.
    pub fn reward_scale(&self) -> f64 {
        self.scale
    }

    /// The action that picks these values (`None` when one is not offered).
    pub fn action_of(
        &self,
        tp: usize,
        pp: usize,
        micro_batch: u64,
        recompute: &str,
        vpp: usize,
    ) -> Option<Vec<i64>> {
        Some(vec![
            self.tps.iter().position(|&x| x == tp)? as i64,
            self.pps.iter().position(|&x| x == pp)? as i64,
            self.micro_batches.iter().position(|&x| x == micro_batch)? as i64,
            RECOMPUTE
                .iter()
                .position(|&r| recompute_name(r) == recompute)? as i64,
            VPP.iter().position(|&x| x == vpp)? as i64,
        ])
    }

    fn decode(&self, action: &[i64]) -> Result<Layout, GymError> {
        let n = self.nvec();
        if action.len() != n.len() {
            return Err(GymError::InvalidAction {
                reason: format!(
                    "expected {} indices ({}), got {}",
                    n.len(),
                    self.dims().join(", "),
                    action.len()
                ),
            });
        }
        for (i, (&a, &k)) in action.iter().zip(&n).enumerate() {
            if a < 0 || a >= k {
                return Err(GymError::InvalidAction {
                    reason: format!("{}: index {a} is outside 0..{k}", self.dims()[i]),
                });
            }
        }
        let (tp, pp) = (self.tps[action[0] as usize], self.pps[action[1] as usize]);
        Ok(Layout {
            tp,
            pp,
            dp: self.devices / (tp * pp).max(1),
            vpp: VPP[action[4] as usize],
            micro_batch: self.micro_batches[action[2] as usize],
            recompute: RECOMPUTE[action[3] as usize],
        })
    }

    /// The layout's metrics, or why it is infeasible.
    fn evaluate(&self, l: &Layout) -> Result<Vec<f64>, String> {
        if self.devices % (l.tp * l.pp) != 0 {
            return Err(format!(
                "parallel.tp, parallel.pp: tp·pp = {}·{} = {} does not divide the {} devices",
                l.tp,
                l.pp,
                l.tp * l.pp,
                self.devices
            ));
        }
        let mut f = self.file.clone();
        let (t, p) = l.apply(&f.workload.training, &f.parallel);
        f.workload.training = t;
        f.parallel = p;
        let s = f
            .simulate()
            .map_err(|(k, m)| if k.is_empty() { m } else { format!("{k}: {m}") })?;
        if !s.report.fits {
            return Err(format!(
                "does not fit: {}",
                s.report.why_not.as_deref().unwrap_or("out of memory")
            ));
        }
        Ok(training_metrics(&s.report))
    }
}

impl Env for TrainingEnv {
    type Action = [i64];

    fn reset(&mut self, _seed: Option<u64>) -> Vec<f64> {
        self.steps = 0;
        vec![0.0; TRAINING_METRICS.len()]
    }

    fn step(&mut self, action: &[i64]) -> Result<Step, GymError> {
        let l = self.decode(action)?;
        self.steps += 1;
        let point: Vec<(String, Value)> = self
            .dims()
            .iter()
            .zip(self.choices())
            .zip(action)
            .map(|((d, c), &a)| (d.to_string(), c[a as usize].clone()))
            .collect();
        let (obs, reward, feasible, reason) = match self.evaluate(&l) {
            Ok(m) => {
                let tps = m[1];
                (m, tps / self.scale, true, None)
            }
            Err(why) => (
                vec![0.0; TRAINING_METRICS.len()],
                self.gym.infeasible_reward,
                false,
                Some(why),
            ),
        };
        Ok(Step {
            obs: obs.clone(),
            reward,
            terminated: false,
            truncated: self.steps >= self.gym.episode_len,
            info: StepInfo {
                feasible,
                reason,
                metrics: obs,
                point,
                step: self.steps,
            },
        })
    }
}

/// The config of a layout as a document: the base with the layout's keys set.
pub fn layout_point(l: &Layout) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("parallel.tp".into(), l.tp.into());
    m.insert("parallel.pp".into(), l.pp.into());
    m.insert("parallel.dp".into(), l.dp.into());
    m.insert("parallel.vpp".into(), l.vpp.into());
    m.insert("workload.training.micro_batch".into(), l.micro_batch.into());
    m.insert(
        "workload.training.recompute".into(),
        recompute_name(l.recompute).into(),
    );
    m
}

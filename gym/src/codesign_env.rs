//! The co-design problem ([`crate::codesign`]) as an environment, single- or multi-agent.
//!
//! One step evaluates one joint design: a network per task and the choices of each task's
//! sub-accelerator, all tasks running at once on the heterogeneous chip. In the multi-agent
//! form the design is split among a `network` agent (one network index per task) and one
//! hardware agent per sub-accelerator, `hw0`, `hw1`, … (dataflow, rows, cols, SRAM indices into
//! the [`HwSpace`](crate::codesign::HwSpace) lists), and every agent receives the same team
//! reward: the chip either meets the specs with some accuracy or it does not, whichever agent
//! is to blame.
//!
//! * **Action** (single agent): `[net_0, …, net_{n-1}, df_0, rows_0, cols_0, sram_0, df_1, …]`.
//! * **Observation**: [`CoDesignEnv::obs_names`] — weighted accuracy, accuracy per task,
//!   latency per task (ms), energy (mJ), area (mm²) and the spec excess.
//! * **Reward**: the weighted accuracy as a fraction (0–1) when every spec is met; otherwise
//!   minus the sum of relative spec excesses (e.g. −0.25 for a latency 25 % over its spec), so
//!   any feasible design outranks every infeasible one and the penalty grows with the miss.
//!   An infeasible step has `info.feasible == false` and names the violated specs in `reason`.
//! * **Episode**: `gym.episode_len` steps (default 32), then `truncated`; never `terminated`.
//! * An oracle failure (for a Python callback: its exception) is an error of the step.
//!
//! The config is a `codesign:` section (as for `archsim run`; `budget` and `seed` are unused)
//! and an optional `gym: {episode_len}`. `oracle: builtin:nb201_sample` names the 101-cell
//! NAS-Bench-201 sample of `tests/data/nas/` compiled into the crate.
//!
//! ```
//! use archsim_gym::codesign_env::CoDesignEnv;
//! let mut env = CoDesignEnv::from_yaml(archsim_gym::presets::CODESIGN_NB201, ".".as_ref(), None).unwrap();
//! env.reset(Some(0));
//! let step = env.step(&vec![0; env.nvec().len()]).unwrap();
//! assert_eq!(step.obs.len(), env.obs_names().len());
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codesign::{AccuracyOracle, CoDesignConfig, CoPoint, CoResult, CsvOracle};
use crate::GymError;

/// The built-in NAS-Bench-201 sample oracle (101 cells, every 156th of the benchmark).
pub const BUILTIN_NB201_SAMPLE: &str = "builtin:nb201_sample";
const NB201_SAMPLE_CSV: &str = include_str!("../../tests/data/nas/nb201_sample.csv");

/// An accuracy oracle an environment can own.
pub type BoxedOracle = Box<dyn AccuracyOracle + Send + Sync>;

/// Loads the CSV oracle named by a `codesign.oracle` value (relative to `base_dir`), or the
/// built-in sample.
pub fn load_oracle(path: &Path, base_dir: &Path) -> Result<CsvOracle, String> {
    if path.as_os_str() == BUILTIN_NB201_SAMPLE {
        return CsvOracle::parse(NB201_SAMPLE_CSV);
    }
    CsvOracle::from_path(&base_dir.join(path))
}

/// The architectures of the CSV oracle that the co-design config `text` names in
/// `codesign.oracle` (relative to `base_dir`): the networks an outside accuracy function is
/// asked about when the caller names none. Errors are keyed `codesign.oracle` (a malformed
/// document as [`CoDesignEnv::from_yaml`] reports it).
pub fn oracle_archs(text: &str, base_dir: &Path) -> Result<Vec<String>, GymError> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| {
        bad(
            "",
            e.to_string()
                .lines()
                .next()
                .unwrap_or("malformed YAML")
                .to_string(),
        )
    })?;
    let path = v
        .get("codesign")
        .and_then(|c| c.get("oracle"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(
                "codesign.oracle",
                "missing; with accuracy_fn= and no archs= the networks come from this CSV",
            )
        })?;
    let o = load_oracle(Path::new(path), base_dir).map_err(|m| bad("codesign.oracle", m))?;
    Ok((0..o.len()).map(|i| o.arch(i).to_string()).collect())
}

/// The `gym:` section of a co-design environment ([`CoDesignEnv`]).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoDesignGymSection {
    /// Steps per episode (default 32).
    #[serde(default = "default_episode_len")]
    #[schemars(range(min = 1))]
    episode_len: u64,
}

fn default_episode_len() -> u64 {
    32
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoStep {
    /// Observation ([`CoDesignEnv::obs_names`] order).
    pub obs: Vec<f64>,
    /// Team reward.
    pub reward: f64,
    /// Always false (there is no goal state).
    pub terminated: bool,
    /// The episode ran out of steps.
    pub truncated: bool,
    /// Every spec is met.
    pub feasible: bool,
    /// The violated specs, when infeasible.
    pub reason: Option<String>,
    /// The evaluated design with its networks and metrics.
    pub result: CoResult,
    /// Steps taken in this episode, this one included.
    pub step: u64,
}

/// Network/hardware co-design as an environment.
pub struct CoDesignEnv {
    cfg: CoDesignConfig,
    oracle: BoxedOracle,
    episode_len: u64,
    steps: u64,
}

impl std::fmt::Debug for CoDesignEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoDesignEnv")
            .field("tasks", &self.cfg.tasks.len())
            .field("networks", &self.oracle.len())
            .field("episode_len", &self.episode_len)
            .finish()
    }
}

fn bad(key: &str, reason: impl Into<String>) -> GymError {
    GymError::InvalidConfig {
        key: key.into(),
        reason: reason.into(),
    }
}

impl CoDesignEnv {
    /// An environment over `cfg` with `oracle`; `episode_len` ≥ 1.
    pub fn new(
        cfg: CoDesignConfig,
        oracle: BoxedOracle,
        episode_len: u64,
    ) -> Result<Self, GymError> {
        cfg.check().map_err(|(k, m)| bad(&k, m))?;
        if oracle.is_empty() {
            return Err(bad("codesign.oracle", "the oracle has no networks"));
        }
        if episode_len == 0 {
            return Err(bad("gym.episode_len", "must be at least 1"));
        }
        Ok(CoDesignEnv {
            cfg,
            oracle,
            episode_len,
            steps: 0,
        })
    }

    /// Builds an environment from a config value with a `codesign:` section and an optional
    /// `gym: {episode_len}`. The oracle is `oracle` when given (e.g. a function oracle), else
    /// the CSV that `codesign.oracle` names (relative to `base_dir`).
    pub fn from_value(
        config: &Value,
        base_dir: &Path,
        oracle: Option<BoxedOracle>,
    ) -> Result<Self, GymError> {
        let obj = config
            .as_object()
            .ok_or_else(|| bad("", "the config must be a mapping with a `codesign` section"))?;
        if let Some(k) = obj.keys().find(|k| *k != "codesign" && *k != "gym") {
            return Err(bad(k, "unknown key; expected `codesign` and `gym`"));
        }
        let section = obj
            .get("codesign")
            .cloned()
            .ok_or_else(|| bad("codesign", "missing"))?;
        let cfg: CoDesignConfig = serde_path_to_error::deserialize(section)
            .map_err(|e| bad(&format!("codesign.{}", e.path()), e.inner().to_string()))?;
        let env: CoDesignGymSection = match obj.get("gym") {
            None => CoDesignGymSection {
                episode_len: default_episode_len(),
            },
            Some(g) => serde_path_to_error::deserialize(g.clone())
                .map_err(|e| bad(&format!("gym.{}", e.path()), e.inner().to_string()))?,
        };
        let oracle = match oracle {
            Some(o) => o,
            None => {
                Box::new(load_oracle(&cfg.oracle, base_dir).map_err(|m| bad("codesign.oracle", m))?)
            }
        };
        CoDesignEnv::new(cfg, oracle, env.episode_len)
    }

    /// Builds an environment from YAML (or JSON) text.
    pub fn from_yaml(
        text: &str,
        base_dir: &Path,
        oracle: Option<BoxedOracle>,
    ) -> Result<Self, GymError> {
        let v: Value = serde_saphyr::from_str(text).map_err(|e| {
            bad(
                "",
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("malformed YAML")
                    .to_string(),
            )
        })?;
        CoDesignEnv::from_value(&v, base_dir, oracle)
    }

    /// The problem.
    pub fn config(&self) -> &CoDesignConfig {
        &self.cfg
    }

    /// The accuracy oracle.
    pub fn oracle(&self) -> &dyn AccuracyOracle {
        self.oracle.as_ref()
    }

    /// Steps per episode.
    pub fn episode_len(&self) -> u64 {
        self.episode_len
    }

    /// Values per action entry (single-agent layout).
    pub fn nvec(&self) -> Vec<u64> {
        let n = self.cfg.tasks.len();
        let h = &self.cfg.hardware;
        let mut v = vec![self.oracle.len() as u64; n];
        for _ in 0..n {
            v.extend(
                [
                    h.dataflows.len(),
                    h.rows.len(),
                    h.cols.len(),
                    h.sram_kib.len(),
                ]
                .map(|x| x as u64),
            );
        }
        v
    }

    /// Agent names and the action entries each owns: `network` (one per task), then `hw<t>`.
    pub fn agents(&self) -> Vec<(String, Vec<usize>)> {
        let n = self.cfg.tasks.len();
        let mut a = vec![("network".to_string(), (0..n).collect())];
        for t in 0..n {
            a.push((format!("hw{t}"), (n + 4 * t..n + 4 * t + 4).collect()));
        }
        a
    }

    /// Names of the observation entries.
    pub fn obs_names(&self) -> Vec<String> {
        let mut v = vec!["weighted_accuracy".to_string()];
        for t in &self.cfg.tasks {
            v.push(format!("accuracy.{}", t.dataset));
        }
        for t in 0..self.cfg.tasks.len() {
            v.push(format!("latency_ms.{t}"));
        }
        v.extend(["energy_mj", "area_mm2", "spec_excess"].map(String::from));
        v
    }

    /// Decodes a single-agent action into a design point.
    pub fn decode(&self, action: &[i64]) -> Result<CoPoint, GymError> {
        let nvec = self.nvec();
        if action.len() != nvec.len() {
            return Err(GymError::InvalidAction {
                reason: format!("expected {} indices, got {}", nvec.len(), action.len()),
            });
        }
        if let Some((k, (&a, &m))) = action
            .iter()
            .zip(&nvec)
            .enumerate()
            .find(|(_, (&a, &m))| a < 0 || a as u64 >= m)
        {
            return Err(GymError::InvalidAction {
                reason: format!("index {a} of entry {k} is outside 0..{m}"),
            });
        }
        let n = self.cfg.tasks.len();
        let u = |i: usize| action[i] as usize;
        Ok(CoPoint {
            nets: (0..n).map(u).collect(),
            hw: (0..n)
                .map(|t| {
                    let b = n + 4 * t;
                    [u(b), u(b + 1), u(b + 2), u(b + 3)]
                })
                .collect(),
        })
    }

    /// Starts an episode; returns the first observation (zeros). Evaluation is deterministic,
    /// so the seed randomizes nothing here; agents seed their own sampling.
    pub fn reset(&mut self, _seed: Option<u64>) -> Vec<f64> {
        self.steps = 0;
        vec![0.0; self.obs_names().len()]
    }

    /// One single-agent step.
    pub fn step(&mut self, action: &[i64]) -> Result<CoStep, GymError> {
        let p = self.decode(action)?;
        let r = self
            .cfg
            .evaluate(self.oracle.as_ref(), &p)
            .map_err(|reason| GymError::Evaluation { reason })?;
        self.steps += 1;
        let e = &r.eval;
        let mut obs = vec![e.weighted_accuracy];
        obs.extend(&e.accuracy);
        obs.extend(&e.latency_ms);
        obs.extend([e.energy_mj, e.area_mm2, e.excess]);
        let feasible = e.violations.is_empty();
        Ok(CoStep {
            obs,
            reward: if feasible {
                e.weighted_accuracy / 100.0
            } else {
                -e.excess
            },
            terminated: false,
            truncated: self.steps >= self.episode_len,
            feasible,
            reason: (!feasible).then(|| e.violations.join("; ")),
            result: r,
            step: self.steps,
        })
    }

    /// One multi-agent step: every agent of [`CoDesignEnv::agents`] gives its indices.
    pub fn step_agents(&mut self, actions: &[(String, Vec<i64>)]) -> Result<CoStep, GymError> {
        let full = crate::env::join_agent_actions(&self.agents(), actions, self.nvec().len())?;
        self.step(&full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::CODESIGN_NB201;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn env() -> CoDesignEnv {
        CoDesignEnv::from_yaml(CODESIGN_NB201, Path::new("."), None).unwrap()
    }

    #[test]
    fn oracle_archs_are_the_networks_of_the_configs_table() {
        let archs = oracle_archs(CODESIGN_NB201, Path::new(".")).unwrap();
        let e = env();
        assert_eq!(archs.len(), e.oracle().len());
        assert!(archs
            .iter()
            .enumerate()
            .all(|(i, a)| a.as_str() == e.oracle().arch(i)));
        // The same table from its file, relative to the base folder.
        let file = CODESIGN_NB201.replace("builtin:nb201_sample", "nas/nb201_sample.csv");
        assert_eq!(
            oracle_archs(&file, Path::new("../tests/data")).unwrap(),
            archs
        );
        let missing = CODESIGN_NB201.replace("oracle: builtin:nb201_sample", "");
        let err = oracle_archs(&missing, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("codesign.oracle: missing;"), "{err}");
        let err = oracle_archs(&file, Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().starts_with("codesign.oracle: "), "{err}");
    }

    #[test]
    fn the_preset_splits_the_design_among_a_network_and_two_hardware_agents() {
        let e = env();
        assert_eq!(e.oracle().len(), 101);
        assert_eq!(e.nvec(), vec![101, 101, 3, 4, 4, 4, 3, 4, 4, 4]);
        let agents = e.agents();
        assert_eq!(
            agents.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["network", "hw0", "hw1"]
        );
        let mut owned: Vec<usize> = agents.iter().flat_map(|(_, i)| i.clone()).collect();
        owned.sort_unstable();
        assert_eq!(owned, (0..10).collect::<Vec<_>>());
        assert_eq!(e.obs_names().len(), 1 + 2 + 2 + 3);
    }

    #[test]
    fn seeded_rollouts_repeat_and_infeasible_points_say_why() {
        let roll = |seed: u64| {
            let mut e = env();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            e.reset(Some(seed));
            let nvec = e.nvec();
            (0..e.episode_len())
                .map(|_| {
                    let a: Vec<i64> = nvec
                        .iter()
                        .map(|&m| rng.random_range(0..m) as i64)
                        .collect();
                    e.step(&a).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = roll(7);
        assert_eq!(a, roll(7));
        assert_ne!(a, roll(8));
        assert!(a.last().unwrap().truncated && !a[0].truncated);
        assert!(a.iter().any(|s| s.feasible) && a.iter().any(|s| !s.feasible));
        for s in &a {
            if s.feasible {
                assert!(s.reason.is_none() && (0.0..=1.0).contains(&s.reward));
            } else {
                let why = s.reason.as_deref().unwrap();
                assert!(why.contains("latency") || why.contains("energy") || why.contains("area"));
                assert!(s.reward < 0.0);
                assert!((s.reward + s.obs[7]).abs() < 1e-12, "reward = -excess");
            }
        }
    }

    #[test]
    fn multi_agent_step_equals_the_joint_single_agent_step() {
        let mut e = env();
        let joint = [5i64, 9, 1, 2, 3, 1, 0, 1, 2, 3];
        let s = e.step(&joint).unwrap();
        let mut e2 = env();
        let m = e2
            .step_agents(&[
                ("hw1".into(), vec![0, 1, 2, 3]),
                ("network".into(), vec![5, 9]),
                ("hw0".into(), vec![1, 2, 3, 1]),
            ])
            .unwrap();
        assert_eq!(s, m);
        for (bad_actions, why) in [
            (
                vec![("network".to_string(), vec![5, 9])],
                "no action for agent `hw0`",
            ),
            (
                vec![
                    ("network".into(), vec![5]),
                    ("hw0".into(), vec![0; 4]),
                    ("hw1".into(), vec![0; 4]),
                ],
                "owns 2 entries",
            ),
        ] {
            let err = e.step_agents(&bad_actions).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        let err = e
            .step(&[101, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside 0..101"), "{err}");
        assert!(e.step(&[0; 3]).is_err());
    }

    #[test]
    fn bad_configs_name_the_key() {
        for (text, key) in [
            ("codesign: {oracle: x}", "codesign"),
            ("codesign: {oracle: builtin:nb201_sample, tasks: [], hardware: {rows: [8], cols: [8], sram_kib: [8]}}", "codesign"),
            ("{codesign: {oracle: nope.csv, tasks: [{dataset: cifar10}], hardware: {rows: [8], cols: [8], sram_kib: [8]}}}", "codesign.oracle"),
            ("{codesign: {oracle: builtin:nb201_sample, tasks: [{dataset: cifar10}], hardware: {rows: [8], cols: [8], sram_kib: [8]}}, gym: {episode_len: 0}}", "gym.episode_len"),
            ("{codesign: {oracle: builtin:nb201_sample, tasks: [{dataset: cifar10}], hardware: {rows: [8], cols: [8], sram_kib: [8]}}, extra: 1}", "extra"),
        ] {
            let e = CoDesignEnv::from_yaml(text, Path::new("."), None).unwrap_err();
            match e {
                GymError::InvalidConfig { key: k, .. } => assert!(k.starts_with(key), "{text}: {k}"),
                other => panic!("{other}"),
            }
        }
    }
}

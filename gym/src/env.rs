//! Environments: one step evaluates one design point.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_accelerators::config::{typed, SimConfig};

use crate::evaluator::{CoDesign, Evaluator, EvaluatorKind, Serving, Simulation, Training};
use crate::objective::{Constraint, Objective, Reward, Scorer, METRICS};
use crate::space::DesignSpace;
use crate::GymError;

/// The environment interface: Gymnasium's `reset`/`step`, in Rust.
pub trait Env {
    /// What an agent sends.
    type Action: ?Sized;
    /// Starts an episode; returns the first observation.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f64>;
    /// Applies one action. Malformed actions are errors; infeasible designs are steps with
    /// `info.feasible == false` and a penalty.
    fn step(&mut self, action: &Self::Action) -> Result<Step, GymError>;
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Observation: the metric vector of the design (zeros when it could not be evaluated).
    pub obs: Vec<f64>,
    /// Scalar reward.
    pub reward: f64,
    /// The episode reached its goal (every target met).
    pub terminated: bool,
    /// The episode ran out of steps.
    pub truncated: bool,
    /// Details.
    pub info: StepInfo,
}

/// Details of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepInfo {
    /// The design could be evaluated and meets every constraint.
    pub feasible: bool,
    /// Why not, when it is infeasible.
    pub reason: Option<String>,
    /// The raw metric vector ([`METRICS`] order; zeros when not evaluated, and for a metric
    /// the workload does not produce, e.g. the LLM serving metrics of a CNN).
    pub metrics: Vec<f64>,
    /// The design: one `(path, value)` per parameter.
    pub point: Vec<(String, Value)>,
    /// Steps taken in this episode, this one included.
    pub step: u64,
}

fn default_episode_len() -> u64 {
    32
}
fn default_infeasible() -> f64 {
    -100.0
}

/// The `gym:` section of a design-space environment ([`DseEnv`]).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GymSection {
    /// The design space: config path → domain.
    #[schemars(with = "std::collections::BTreeMap<String, crate::space::DomainSpec>")]
    space: Map<String, Value>,
    /// Objectives on the metrics.
    objectives: Vec<Objective>,
    /// Constraints on the metrics.
    #[serde(default)]
    constraints: Vec<Constraint>,
    /// How the objectives become one reward (default: a weighted sum).
    #[serde(default)]
    reward: Reward,
    /// Steps per episode (default 32).
    #[serde(default = "default_episode_len")]
    #[schemars(range(min = 1))]
    episode_len: u64,
    /// Reward of a design that cannot be evaluated or does not fit (default -100).
    #[serde(default = "default_infeasible")]
    infeasible_reward: f64,
    /// Multi-agent play: agent name → the space paths it sets.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, Vec<String>>>")]
    agents: Option<Map<String, Value>>,
}

/// The evaluation of one design point.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Metric vector, or why the point could not be evaluated.
    pub metrics: Result<Vec<f64>, String>,
}

/// A design problem: a base config and a design space that varies it. Evaluating a point
/// builds the varied config and hands it to the problem's [`Evaluator`]: the simulation
/// pipeline for a simulation config ([`Simulation`]: [`METRICS`]), a serving run for a
/// serving config ([`Serving`]: [`SERVING_METRICS`](crate::SERVING_METRICS)), or any evaluator
/// plugged in with [`Problem::with_evaluator`]. `Problem` is `Sync`, so optimizers evaluate
/// batches in parallel.
#[derive(Debug, Clone)]
pub struct Problem {
    base: Value,
    space: DesignSpace,
    evaluator: Arc<dyn Evaluator>,
}

impl Problem {
    /// A problem over `space` varying `base` (which must be valid): a serving config (with a
    /// `serving:` section) is evaluated by [`Serving`], any other by [`Simulation`].
    pub fn new(base: Value, space: DesignSpace, base_dir: &Path) -> Result<Problem, GymError> {
        let evaluator: Arc<dyn Evaluator> = match EvaluatorKind::of(&base) {
            EvaluatorKind::Serving => Arc::new(Serving::new(&base, base_dir)?),
            EvaluatorKind::CoDesign => Arc::new(CoDesign::new(&base, base_dir)?),
            EvaluatorKind::Training => Arc::new(Training::new(&base)?),
            EvaluatorKind::Simulation => Arc::new(Simulation::new(&base, base_dir, &space)?),
        };
        Ok(Problem::with_evaluator(base, space, evaluator))
    }

    /// A problem whose points `evaluator` evaluates (the config it receives is `base` with
    /// the point's values set).
    pub fn with_evaluator(
        base: Value,
        space: DesignSpace,
        evaluator: Arc<dyn Evaluator>,
    ) -> Problem {
        Problem {
            base,
            space,
            evaluator,
        }
    }

    /// The design space.
    pub fn space(&self) -> &DesignSpace {
        &self.space
    }

    /// The base config.
    pub fn base(&self) -> &Value {
        &self.base
    }

    /// What evaluates a point.
    pub fn evaluator(&self) -> &dyn Evaluator {
        &*self.evaluator
    }

    /// The names of the metrics an evaluation returns, in order.
    pub fn metric_names(&self) -> &'static [&'static str] {
        self.evaluator.metrics()
    }

    /// Why an evaluated design misses a requirement its config states (a serving SLO), if it
    /// does.
    pub fn infeasible(&self, metrics: &[f64]) -> Option<String> {
        self.evaluator.infeasible(metrics)
    }

    /// Evaluates the design whose parameter values are `values`. A metric that could not be
    /// computed (not a finite number; an absent metric, NaN, aside) makes the design
    /// infeasible with the metric named ([`crate::objective::check_finite`]).
    pub fn evaluate_values(&self, values: &[Value]) -> Evaluation {
        if let Some(m) = self.evaluator.shortcut(values) {
            return self.checked(m);
        }
        self.evaluate_full(values)
    }

    /// `metrics`, unless one of them is not a finite number (an absent one aside).
    fn checked(&self, metrics: Result<Vec<f64>, String>) -> Evaluation {
        Evaluation {
            metrics: metrics.and_then(|m| {
                crate::objective::check_finite(self.metric_names(), &m)?;
                Ok(m)
            }),
        }
    }

    /// Evaluates a point by building its whole config (the path every point can take).
    fn evaluate_full(&self, values: &[Value]) -> Evaluation {
        let run = || -> Result<Vec<f64>, String> {
            let v = self
                .space
                .apply(&self.base, values)
                .map_err(|e| e.to_string())?;
            self.evaluator.evaluate(v)
        };
        self.checked(run())
    }

    /// Evaluates the design given as one index per parameter.
    pub fn evaluate(&self, point: &[i64]) -> Result<Evaluation, GymError> {
        self.space.check(point)?;
        if let Some(m) = self.evaluator.shortcut_indices(point) {
            return Ok(self.checked(m));
        }
        Ok(self.evaluate_values(&self.space.decode(point)?))
    }

    /// Chip area of a design without simulating it, or why the design is invalid.
    pub fn static_area(&self, values: &[Value]) -> Result<f64, String> {
        let v = self
            .space
            .apply(&self.base, values)
            .map_err(|e| e.to_string())?;
        let cfg = SimConfig::from_value(v).map_err(|e| e.to_string())?;
        Ok(cfg
            .accelerator
            .family()
            .map_err(|e| e.to_string())?
            .area_mm2())
    }
}

/// Accelerator design-space exploration: one step evaluates one design on the workload.
#[derive(Debug, Clone)]
pub struct DseEnv {
    problem: Problem,
    scorer: Scorer,
    episode_len: u64,
    infeasible_reward: f64,
    steps: u64,
    agents: Vec<(String, Vec<usize>)>,
}

impl DseEnv {
    /// Builds an environment from a config value: a simulation config plus a `gym:` section.
    /// Relative paths are resolved against `base_dir`.
    pub fn from_value(config: &Value, base_dir: &Path) -> Result<DseEnv, GymError> {
        let bad = |key: &str, reason: String| GymError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let Some(obj) = config.as_object() else {
            return Err(bad(
                "",
                "the config must be a mapping with `workload`, `accelerator` and `gym`".into(),
            ));
        };
        let mut base = obj.clone();
        let gym = base.remove("gym").ok_or_else(|| {
            bad(
                "gym",
                "missing: an environment needs a `gym:` section".into(),
            )
        })?;
        if EvaluatorKind::of(&Value::Object(base.clone())) == EvaluatorKind::CoDesign {
            return Err(bad(
                "cell",
                "a design-space environment observes the simulation metrics; search a `cell:` co-design config with a `search:` section (archsim run, archsim.evaluate_batch) or use archsim/CoDesign-v0".into(),
            ));
        }
        if EvaluatorKind::of(&Value::Object(base.clone())) == EvaluatorKind::Serving {
            return Err(bad(
                "serving",
                "a design-space environment evaluates a chip; size a serving fleet with a `search:` section (archsim run) or archsim/Serving-v0".into(),
            ));
        }
        if EvaluatorKind::of(&Value::Object(base.clone())) == EvaluatorKind::Training {
            return Err(bad(
                "workload.training",
                "a design-space environment evaluates a chip; search a training layout with a `search:` section (archsim run) or archsim/Training-v0".into(),
            ));
        }
        let raw: GymSection = typed(gym, &["gym"]).map_err(|e| bad(&e.key(), e.message))?;
        let space = DesignSpace::from_map("gym.space", &raw.space)?;
        let (absent, why) = EvaluatorKind::Simulation.absent_metrics(&Value::Object(base.clone()));
        crate::objective::check_present("gym", &raw.objectives, &raw.constraints, &absent, &why)?;
        let scorer = Scorer::new("gym", raw.objectives, raw.constraints, raw.reward)?;
        if raw.episode_len == 0 {
            return Err(bad("gym.episode_len", "must be at least 1".into()));
        }
        if !raw.infeasible_reward.is_finite() {
            return Err(bad(
                "gym.infeasible_reward",
                "must be a finite number".into(),
            ));
        }
        let agents = match raw.agents {
            None => Vec::new(),
            Some(map) => resolve_agents(&space, &map)?,
        };
        // The base design must itself be a valid config (the space then varies it).
        let problem = Problem::new(Value::Object(base), space, base_dir)?;
        // Every path of the space addresses a key of the config, with values of its type.
        problem.space().check_schema("gym.space", problem.base())?;
        Ok(DseEnv {
            problem,
            scorer,
            episode_len: raw.episode_len,
            infeasible_reward: raw.infeasible_reward,
            steps: 0,
            agents,
        })
    }

    /// Builds an environment from YAML (or JSON) text.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<DseEnv, GymError> {
        let v: Value = serde_saphyr::from_str(text).map_err(|e| GymError::InvalidConfig {
            key: String::new(),
            reason: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("malformed YAML")
                .to_string(),
        })?;
        DseEnv::from_value(&v, base_dir)
    }

    /// The design space.
    pub fn space(&self) -> &DesignSpace {
        self.problem.space()
    }

    /// The design problem.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Steps per episode.
    pub fn episode_len(&self) -> u64 {
        self.episode_len
    }

    /// Agent names and the parameter indices each owns (empty for a single-agent env).
    pub fn agents(&self) -> &[(String, Vec<usize>)] {
        &self.agents
    }

    /// Per parameter, which of its values can lead to a feasible design: the value is tried
    /// with every other parameter at its first value (domains are expected to list cheaper
    /// values first) and checked for a valid config and the area constraints, which need no
    /// simulation.
    pub fn action_mask(&self) -> Vec<Vec<bool>> {
        let space = self.problem.space();
        let first: Vec<Value> = space.params.iter().map(|p| p.domain.value(0)).collect();
        let area = METRICS
            .iter()
            .position(|m| *m == "area_mm2")
            .expect("area is a metric");
        space
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| {
                (0..p.domain.len())
                    .map(|i| {
                        let mut vals = first.clone();
                        vals[k] = p.domain.value(i);
                        self.problem.static_area(&vals).is_ok_and(|a| {
                            self.scorer
                                .constraints()
                                .iter()
                                .filter(|(m, _)| *m == area)
                                .all(|(_, c)| c.violation(a) == 0.0)
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn finish_step(&mut self, values: Vec<Value>) -> Step {
        let eval = self.problem.evaluate_values(&values);
        let point: Vec<(String, Value)> = self
            .problem
            .space()
            .params
            .iter()
            .map(|p| p.path.clone())
            .zip(values)
            .collect();
        self.score_step(eval, point)
    }

    /// One step whose design was already evaluated (`eval` is what [`Problem::evaluate`]
    /// gives for `action`): the vector environment evaluates each distinct design of a batch
    /// once and steps every copy with its result. The step is the one [`Env::step`] takes,
    /// except that `info.point` is left empty (the vector environment does not return it).
    pub fn step_evaluated(&mut self, action: &[i64], eval: Evaluation) -> Result<Step, GymError> {
        self.problem.space().check(action)?;
        Ok(self.score_step(eval, Vec::new()))
    }

    fn score_step(&mut self, eval: Evaluation, point: Vec<(String, Value)>) -> Step {
        self.steps += 1;
        let truncated = self.steps >= self.episode_len;
        let n = METRICS.len();
        // An observation is a fixed-length vector: a metric the workload does not produce
        // (absent, NaN) observes as 0 — no objective can name it (`check_present`).
        let eval_metrics = eval.metrics.map(|mut m| {
            for v in &mut m {
                if v.is_nan() {
                    *v = 0.0;
                }
            }
            m
        });
        let (obs, reward, terminated, feasible, reason, m) = match eval_metrics {
            Err(reason) => (
                vec![0.0; n],
                self.infeasible_reward,
                false,
                false,
                Some(reason),
                vec![0.0; n],
            ),
            Ok(m) => {
                let s = self.scorer.score(&m);
                if !s.feasible && self.scorer.constraints_are_hard() {
                    (
                        m.clone(),
                        self.infeasible_reward,
                        false,
                        false,
                        Some(s.violations.join("; ")),
                        m,
                    )
                } else {
                    let reason = (!s.feasible).then(|| s.violations.join("; "));
                    (m.clone(), s.reward, s.target_met, s.feasible, reason, m)
                }
            }
        };
        Step {
            obs,
            reward,
            terminated,
            truncated,
            info: StepInfo {
                feasible,
                reason,
                metrics: m,
                point,
                step: self.steps,
            },
        }
    }

    /// One step of the multi-agent form: every agent gives the indices of its parameters.
    pub fn step_agents(&mut self, actions: &[(String, Vec<i64>)]) -> Result<Step, GymError> {
        if self.agents.is_empty() {
            return Err(GymError::InvalidAction {
                reason: "this environment has no `agents` section".into(),
            });
        }
        let full = join_agent_actions(&self.agents, actions, self.problem.space().params.len())?;
        self.step(&full)
    }
}

/// The joint action of a multi-agent step: agent `name` owns the entries `idx` of a
/// `len`-long action and gives one index per entry. Every agent must act, and only known ones.
pub(crate) fn join_agent_actions(
    agents: &[(String, Vec<usize>)],
    actions: &[(String, Vec<i64>)],
    len: usize,
) -> Result<Vec<i64>, GymError> {
    let mut full = vec![0i64; len];
    for (name, idx) in agents {
        let (_, a) =
            actions
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| GymError::InvalidAction {
                    reason: format!("no action for agent `{name}`"),
                })?;
        if a.len() != idx.len() {
            return Err(GymError::InvalidAction {
                reason: format!(
                    "agent `{name}` owns {} entries, got {} indices",
                    idx.len(),
                    a.len()
                ),
            });
        }
        for (&k, &v) in idx.iter().zip(a) {
            full[k] = v;
        }
    }
    if let Some((n, _)) = actions
        .iter()
        .find(|(n, _)| !agents.iter().any(|(m, _)| m == n))
    {
        return Err(GymError::InvalidAction {
            reason: format!("unknown agent `{n}`"),
        });
    }
    Ok(full)
}

impl Env for DseEnv {
    type Action = [i64];

    fn reset(&mut self, _seed: Option<u64>) -> Vec<f64> {
        // Design evaluation is deterministic: the seed has nothing to randomize here; agents
        // seed their own sampling.
        self.steps = 0;
        self.scorer.reset();
        vec![0.0; METRICS.len()]
    }

    fn step(&mut self, action: &[i64]) -> Result<Step, GymError> {
        let values = self.problem.space().decode(action)?;
        Ok(self.finish_step(values))
    }
}

fn resolve_agents(
    space: &DesignSpace,
    map: &Map<String, Value>,
) -> Result<Vec<(String, Vec<usize>)>, GymError> {
    let mut owner: Vec<Option<String>> = vec![None; space.params.len()];
    let mut out = Vec::new();
    for (name, v) in map {
        let key = format!("gym.agents.{name}");
        let paths: Vec<String> =
            serde_json::from_value(v.clone()).map_err(|_| GymError::InvalidConfig {
                key: key.clone(),
                reason: "must be a list of parameter paths".into(),
            })?;
        if paths.is_empty() {
            return Err(GymError::InvalidConfig {
                key,
                reason: "an agent must own at least one parameter".into(),
            });
        }
        let mut idx = Vec::new();
        for p in paths {
            let k = space
                .params
                .iter()
                .position(|q| q.path == p)
                .ok_or_else(|| GymError::InvalidConfig {
                    key: key.clone(),
                    reason: format!("`{p}` is not a parameter of gym.space"),
                })?;
            if let Some(other) = &owner[k] {
                return Err(GymError::InvalidConfig {
                    key: key.clone(),
                    reason: format!("`{p}` is already owned by `{other}`"),
                });
            }
            owner[k] = Some(name.clone());
            idx.push(k);
        }
        out.push((name.clone(), idx));
    }
    if let Some(k) = owner.iter().position(Option::is_none) {
        return Err(GymError::InvalidConfig {
            key: "gym.agents".into(),
            reason: format!("`{}` is owned by no agent", space.params[k].path),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every point of a space (every `stride`-th), by its full config and by the fast paths
    /// (the point's values, its indices): the same metrics and the same reasons, bit for bit.
    /// Returns the numbers of feasible and infeasible points and of points the typed patch
    /// took.
    fn fast_paths_are_the_full_path(p: &Problem, stride: u64) -> (usize, usize, usize) {
        let nvec = p.space.nvec();
        let total: u64 = nvec.iter().product();
        let (mut ok, mut bad, mut short, mut typed) = (0, 0, 0, 0);
        for n in (0..total).step_by(stride as usize) {
            let mut rest = n;
            let point: Vec<i64> = nvec
                .iter()
                .map(|&k| {
                    let i = rest % k;
                    rest /= k;
                    i as i64
                })
                .collect();
            let values = p.space.decode(&point).unwrap();
            short += usize::from(p.evaluator.shortcut(&values).is_some());
            typed += usize::from(p.evaluator.shortcut_indices(&point).is_some());
            let by_values = p.evaluate_values(&values).metrics;
            let by_index = p.evaluate(&point).unwrap().metrics;
            let full = p.evaluate_full(&values).metrics;
            for fast in [&by_values, &by_index] {
                match (fast, &full) {
                    (Ok(a), Ok(b)) => assert_eq!(
                        a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        "{values:?}"
                    ),
                    _ => assert_eq!(fast, &full, "{values:?}"),
                }
            }
            if full.is_ok() {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        assert!(
            short >= ok,
            "the shortcut takes every feasible point: {short} of {ok}"
        );
        (ok, bad, typed)
    }

    fn problem(config: Value, space: Value) -> Problem {
        let space = DesignSpace::from_map("space", space.as_object().unwrap()).unwrap();
        Problem::new(config, space, Path::new(".")).unwrap()
    }

    fn fast_path_is_the_full_path(config: Value, space: Value) {
        let (ok, bad, _) = fast_paths_are_the_full_path(&problem(config, space), 1);
        assert!(
            ok > 0 && bad > 0,
            "both feasible and infeasible points: {ok} / {bad}"
        );
    }

    /// A config of `configs/` with its `search:` section as a problem over its space.
    fn config_problem(file: &str) -> Problem {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut v: Value = serde_saphyr::from_str(&text).unwrap();
        let search = v.as_object_mut().unwrap().remove("search").unwrap();
        let space =
            DesignSpace::from_map("search.space", search["space"].as_object().unwrap()).unwrap();
        Problem::new(v, space, &dir).unwrap()
    }

    /// The typed patch (values decoded once into setters on the accelerator config) takes
    /// every feasible point of the shipped systolic spaces and gives what the whole config
    /// gives, bit for bit, infeasible points and their reasons included.
    #[test]
    fn typed_patch_is_the_full_config_on_the_shipped_spaces() {
        let env = DseEnv::from_yaml(crate::presets::SYSTOLIC_GEMM, Path::new(".")).unwrap();
        let (ok, _, typed) = fast_paths_are_the_full_path(env.problem(), 1);
        assert_eq!((ok, typed), (735, 735));
        let (ok, _, typed) =
            fast_paths_are_the_full_path(&config_problem("search/gemm_nsga2.yaml"), 1);
        assert_eq!((ok, typed), (735, 735));
        // Keys below `sram_kib`, which the base leaves out (each point creates it).
        let p = config_problem("search/resnet18_bo.yaml");
        let (ok, _, typed) = fast_paths_are_the_full_path(&p, 37);
        assert!(ok > 50 && typed == ok, "{ok} feasible, {typed} typed");
    }

    /// The typed patch over a preset, nested keys with and without their mapping in the base,
    /// word sizes reconciled with the workload's dtype (given or derived), unlimited
    /// bandwidth, a large float domain decoded point by point, and values the config rejects.
    #[test]
    fn typed_patch_is_the_full_config_over_presets_nested_keys_and_bad_values() {
        let gemm = json!({"gemm": {"m": 64, "n": 256, "k": 96}, "dtype": "bf16"});
        let p = problem(
            json!({"workload": gemm, "accelerator": {"kind": "systolic", "preset": "eyeriss"}}),
            json!({"accelerator.rows": {"choice": [0, 4, 12]},
                   "accelerator.sram_kib.ifmap": {"choice": [0, 16, 64]},
                   "accelerator.word_bytes": {"choice": [1, 2, 4]},
                   "accelerator.dram_bw_bytes_per_cycle": {"choice": [null, 4, 0.5, -1]},
                   "accelerator.dataflow": {"choice": ["os", "ws", "is"]}}),
        );
        let (ok, bad, typed) = fast_paths_are_the_full_path(&p, 1);
        assert!(
            ok > 0 && bad > 0 && typed == ok,
            "{ok} / {bad}, {typed} typed"
        );
        let p = problem(
            json!({"workload": gemm,
                   "accelerator": {"kind": "systolic", "rows": 8, "cols": 8, "dataflow": "ws",
                                   "sram_kib": {"filter": 8}}}),
            json!({"accelerator.sram_kib.ofmap": {"choice": [0, 1, 8]},
                   "accelerator.sram_kib.filter": {"pow2": [1, 64]},
                   "accelerator.freq_mhz": {"float": [0, 2000], "bins": 5001},
                   "accelerator.os_drain": {"choice": ["overlapped", "separate"]}}),
        );
        let (ok, bad, typed) = fast_paths_are_the_full_path(&p, 97);
        assert!(
            ok > 0 && bad > 0 && typed == ok,
            "{ok} / {bad}, {typed} typed"
        );
        // A whole mapping as a value, and values of the wrong type (the mapping says why).
        let p = problem(
            json!({"workload": {"gemm": {"m": 64, "n": 256, "k": 96}},
                   "accelerator": {"kind": "systolic", "rows": 8, "cols": 8, "dataflow": "os"}}),
            json!({"accelerator.sram_kib": {"choice": [{"ifmap": 4}, {"filter": 0}, {"bogus": 1}, 3]},
                   "accelerator.cols": {"choice": [16, 2.5, "wide", -3]},
                   "accelerator.sum_as_psum": {"choice": [true, 1]}}),
        );
        fast_paths_are_the_full_path(&p, 1);
    }

    /// A step from an evaluation made elsewhere (the vector environment's) is the step the
    /// environment takes itself, less `info.point`; a bad action is still refused.
    #[test]
    fn step_evaluated_is_step() {
        let mut a = DseEnv::from_yaml(crate::presets::SYSTOLIC_GEMM, Path::new(".")).unwrap();
        let mut b = a.clone();
        let nvec = a.space().nvec();
        for k in 0..200i64 {
            let act: Vec<i64> = nvec
                .iter()
                .enumerate()
                .map(|(i, &n)| (k * 5 + i as i64 * 3 + k / 7) % n as i64)
                .collect();
            let mut x = a.step(&act).unwrap();
            let eval = b.problem().evaluate(&act).unwrap();
            let y = b.step_evaluated(&act, eval).unwrap();
            assert!(y.info.point.is_empty());
            x.info.point.clear();
            assert_eq!(x, y);
            if x.terminated || x.truncated {
                a.reset(None);
                b.reset(None);
            }
        }
        let eval = b.problem().evaluate(&vec![0; nvec.len()]).unwrap();
        assert!(b.step_evaluated(&[99, 0, 0, 0], eval).is_err());
    }

    #[test]
    fn accelerator_only_fast_path_matches_the_full_config_one_gemm() {
        fast_path_is_the_full_path(
            json!({"workload": {"gemm": {"m": 128, "n": 3072, "k": 768}},
                   "accelerator": {"kind": "systolic", "rows": 32, "cols": 32, "dataflow": "os"}}),
            json!({"accelerator.rows": {"choice": [0, 4, 64, 256]},
                   "accelerator.cols": {"pow2": [4, 256]},
                   "accelerator.dataflow": {"choice": ["os", "ws", "is"]},
                   "accelerator.dram_bw_bytes_per_cycle": {"pow2": [4, 64]}}),
        );
    }

    #[test]
    fn accelerator_only_fast_path_matches_the_full_config_hetero() {
        fast_path_is_the_full_path(
            json!({"workload": {"tasks": [{"gemm": {"m": 64, "n": 64, "k": 64}},
                                          {"gemm": {"m": 32, "n": 512, "k": 32}}]},
                   "accelerator": {"kind": "hetero", "assignment": [0, 1],
                                   "subs": [{"name": "a", "rows": 8, "cols": 8, "dataflow": "os"},
                                            {"name": "b", "rows": 16, "cols": 16, "dataflow": "ws"}]}}),
            json!({"accelerator.subs[1].rows": {"choice": [0, 4, 64]},
                   "accelerator.subs[0].dataflow": {"choice": ["os", "ws", "is"]},
                   "accelerator.assignment": {"choice": [[0, 1], [1, 1], [0, 2]]}}),
        );
    }
}

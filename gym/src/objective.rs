//! Metrics, objectives, constraints and reward scalarizations.
//!
//! Environments always return the raw metric vector ([`METRICS`]); the reward is one of:
//!
//! * `target` — ArchGym's target-spec distance: `−Σ overshoot_i / target_i` over the
//!   objectives (an objective that meets its target contributes 0); the episode terminates
//!   when every target is met;
//! * `weighted` — `−Σ w_i · m_i / scale_i` (`+` for objectives to maximize);
//! * `penalty` — the weighted sum minus `penalty · Σ relative violation` of the constraints
//!   (the other kinds treat a violated constraint as an infeasible point);
//! * `hypervolume` — the growth of the hypervolume dominated by the episode's Pareto front,
//!   relative to a reference point (objectives to maximize are negated).

use serde::{Deserialize, Serialize};

use archsim_sim::Report;

use crate::GymError;

/// Names of the metrics every environment reports, in observation order.
pub const METRICS: &[&str] = &[
    "latency_s",
    "energy_j",
    "area_mm2",
    "power_w",
    "utilization",
    "total_cycles",
    "edp_js",
    "dram_bytes",
    "ttft_s",
    "tpot_s",
    "decode_tokens_per_s",
];

/// The serving metrics of an `llm:` step, which only a report with an `llm` section has (an
/// `llm:` workload on a family that prices them): for any other run they are absent — NaN
/// in a metric vector, left out of a metric map ([`metric_map_named`]), an empty CSV cell —
/// and an objective or constraint on them is refused ([`check_present`]).
pub const LLM_STEP_METRICS: &[&str] = &["ttft_s", "tpot_s", "decode_tokens_per_s"];

/// The metric vector of a report, in [`METRICS`] order. The serving metrics of an `llm:` step
/// ([`LLM_STEP_METRICS`]) are NaN — absent — for a report without an `llm` section.
pub fn metrics(r: &Report) -> Vec<f64> {
    let mut m = totals_metrics(&archsim_accelerators::pipeline::Totals::of(r));
    if let Some(l) = &r.llm {
        m[8..].copy_from_slice(&[l.ttft_s, l.tpot_s, l.decode_tokens_per_s]);
    }
    m
}

/// [`metrics`], or which metric of the report could not be computed (a value that is not a
/// finite number, an absent metric aside): such a design is infeasible with that reason.
pub fn report_metrics(r: &Report) -> Result<Vec<f64>, String> {
    if let Some(l) = &r.llm {
        for (name, v) in LLM_STEP_METRICS
            .iter()
            .zip([l.ttft_s, l.tpot_s, l.decode_tokens_per_s])
        {
            if !v.is_finite() {
                return Err(not_computed(name, v));
            }
        }
    }
    let m = metrics(r);
    check_finite(METRICS, &m)?;
    Ok(m)
}

/// Why a metric that came out as `v` (NaN or infinite) does not count.
fn not_computed(name: &str, v: f64) -> String {
    format!("infeasible: {name} could not be computed (the model gives {v} for this design)")
}

/// Checks a metric vector of the metrics `names`: every value is a finite number, except an
/// absent [`LLM_STEP_METRICS`] one (NaN). The error names the first metric that is not.
pub fn check_finite(names: &[&str], m: &[f64]) -> Result<(), String> {
    for (name, &v) in names.iter().zip(m) {
        let absent = v.is_nan() && LLM_STEP_METRICS.contains(name);
        if !v.is_finite() && !absent {
            return Err(not_computed(name, v));
        }
    }
    Ok(())
}

/// Refuses objectives and constraints (of the config section `key`: `search`, `gym`) on a
/// metric in `absent` — metrics the config's runs do not produce, whose value would be a
/// constant — before anything is evaluated; `why` says why they are absent.
pub fn check_present(
    key: &str,
    objectives: &[Objective],
    constraints: &[Constraint],
    absent: &[&str],
    why: &str,
) -> Result<(), GymError> {
    let named = objectives
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("{key}.objectives.{i}.metric"), &o.metric))
        .chain(
            constraints
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{key}.constraints.{i}.metric"), &c.metric)),
        );
    for (k, metric) in named {
        if absent.contains(&metric.as_str()) {
            return Err(GymError::InvalidConfig {
                key: k,
                reason: format!("`{metric}` is absent from this config's results: {why}"),
            });
        }
    }
    Ok(())
}

/// The metric vector of a run's totals ([`metrics`] of its report, for a report without an
/// `llm` section: the [`LLM_STEP_METRICS`] are NaN, absent).
pub fn totals_metrics(t: &archsim_accelerators::pipeline::Totals) -> Vec<f64> {
    let power = if t.latency_s > 0.0 {
        t.energy_j / t.latency_s
    } else {
        0.0
    };
    vec![
        t.latency_s,
        t.energy_j,
        t.area_mm2,
        power,
        t.utilization,
        t.total_cycles as f64,
        t.energy_j * t.latency_s,
        t.dram_bytes as f64,
        f64::NAN,
        f64::NAN,
        f64::NAN,
    ]
}

/// The metrics that count whole things (cycles, bytes): exact integers in JSON and CSV.
pub const INTEGER_METRICS: &[&str] = &[
    "total_cycles",
    "dram_bytes",
    "slo_met",
    "preemptions",
    "replicas",
    "devices",
];

/// A metric as a JSON value: an integer for [`INTEGER_METRICS`] (`8578006`, not `8578006.0`),
/// the float otherwise.
pub fn metric_value(name: &str, v: f64) -> serde_json::Value {
    if INTEGER_METRICS.contains(&name) && v.is_finite() && v >= 0.0 && v.fract() == 0.0 {
        // Below 2^53 a float holds the integer exactly; cycles and bytes stay far below it.
        if v < 9_007_199_254_740_992.0 {
            return serde_json::Value::from(v as u64);
        }
    }
    serde_json::Value::from(v)
}

/// A metric vector ([`metrics`]) as a JSON object by name, in [`METRICS`] order, integers
/// where the metric counts whole things ([`metric_value`]).
pub fn metric_map(m: &[f64]) -> serde_json::Map<String, serde_json::Value> {
    metric_map_named(METRICS, m)
}

/// A metric vector as a JSON object by name, for the metrics `names` (a problem's
/// [`metric_names`](crate::Problem::metric_names)), integers where the metric counts whole
/// things. An absent metric (NaN, see [`LLM_STEP_METRICS`]) is left out.
pub fn metric_map_named(names: &[&str], m: &[f64]) -> serde_json::Map<String, serde_json::Value> {
    names
        .iter()
        .zip(m)
        .filter(|(_, v)| !v.is_nan())
        .map(|(k, v)| ((*k).to_string(), metric_value(k, *v)))
        .collect()
}

/// Index of a metric name in [`METRICS`].
pub fn metric_index(key: &str, name: &str) -> Result<usize, GymError> {
    metric_index_in(METRICS, key, name)
}

/// Index of a metric name in `names`.
pub fn metric_index_in(names: &[&str], key: &str, name: &str) -> Result<usize, GymError> {
    names
        .iter()
        .position(|m| *m == name)
        .ok_or_else(|| GymError::InvalidConfig {
            key: key.into(),
            reason: format!("unknown metric `{name}`; metrics: {}", names.join(", ")),
        })
}

/// Whether a metric is minimized or maximized.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Smaller is better.
    #[default]
    Min,
    /// Larger is better.
    Max,
}

fn one() -> f64 {
    1.0
}

/// One objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Metric name.
    pub metric: String,
    /// `min` (default) or `max`.
    #[serde(default)]
    pub goal: Goal,
    /// Target value (for the `target` reward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Weight in the weighted sum (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Scale dividing the metric in the weighted sum (default 1).
    #[serde(default = "one")]
    pub scale: f64,
}

/// A bound on a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// Metric name.
    pub metric: String,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

impl Constraint {
    /// Relative violation (0 when satisfied) of the metric value `m`.
    pub fn violation(&self, m: f64) -> f64 {
        let over = self.max.map_or(0.0, |hi| {
            if m > hi {
                (m - hi) / hi.abs().max(f64::MIN_POSITIVE)
            } else {
                0.0
            }
        });
        let under = self.min.map_or(0.0, |lo| {
            if m < lo {
                (lo - m) / lo.abs().max(f64::MIN_POSITIVE)
            } else {
                0.0
            }
        });
        over + under
    }

    /// `area_mm2 <= 50`-style description.
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("{lo} <= {} <= {hi}", self.metric),
            (None, Some(hi)) => format!("{} <= {hi}", self.metric),
            (Some(lo), None) => format!("{} >= {lo}", self.metric),
            (None, None) => format!("{} (unbounded)", self.metric),
        }
    }
}

fn default_penalty() -> f64 {
    10.0
}

/// The reward scalarization, chosen with `reward: {kind: …}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reward {
    /// Target-spec distance (every objective needs a `target`).
    Target,
    /// Weighted sum of the objectives (the default).
    #[default]
    Weighted,
    /// Weighted sum minus a penalty per unit of relative constraint violation.
    Penalty {
        /// Penalty per unit of relative violation (default 10).
        #[serde(default = "default_penalty")]
        penalty: f64,
    },
    /// Hypervolume improvement of the episode's Pareto front.
    Hypervolume {
        /// Reference point, one value per objective (worse than any design of interest).
        reference: Vec<f64>,
    },
}

/// Objectives, constraints and reward, resolved to metric indices.
#[derive(Debug, Clone)]
pub struct Scorer {
    objectives: Vec<(usize, Objective)>,
    constraints: Vec<(usize, Constraint)>,
    reward: Reward,
    front: Vec<Vec<f64>>,
}

/// What the scorer says of one evaluated design.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The reward.
    pub reward: f64,
    /// Every constraint holds.
    pub feasible: bool,
    /// Every target is met (`target` reward only).
    pub target_met: bool,
    /// Which constraints failed, in words.
    pub violations: Vec<String>,
}

impl Scorer {
    /// Resolves metric names in [`METRICS`]; `key` is the config section for errors.
    pub fn new(
        key: &str,
        objectives: Vec<Objective>,
        constraints: Vec<Constraint>,
        reward: Reward,
    ) -> Result<Scorer, GymError> {
        Scorer::with_metrics(METRICS, key, objectives, constraints, reward)
    }

    /// Resolves metric names in `names` (a problem's metrics, e.g.
    /// [`SERVING_METRICS`](crate::SERVING_METRICS)); `key` is the config section for errors.
    pub fn with_metrics(
        names: &[&str],
        key: &str,
        objectives: Vec<Objective>,
        constraints: Vec<Constraint>,
        reward: Reward,
    ) -> Result<Scorer, GymError> {
        if objectives.is_empty() {
            return Err(GymError::InvalidConfig {
                key: format!("{key}.objectives"),
                reason: "give at least one objective".into(),
            });
        }
        let objectives = objectives
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let bad = |field: &str, reason: &str| GymError::InvalidConfig {
                    key: format!("{key}.objectives.{i}.{field}"),
                    reason: reason.into(),
                };
                if !(o.weight.is_finite() && o.weight >= 0.0) {
                    return Err(bad("weight", "must be a finite number, at least 0"));
                }
                if o.weight == 0.0 {
                    return Err(bad(
                        "weight",
                        "0 makes the objective count for nothing: remove it, or give a \
                         positive weight (a metric that must only stay within bounds is a \
                         constraint)",
                    ));
                }
                if !(o.scale.is_finite() && o.scale > 0.0) {
                    return Err(bad("scale", "must be a finite number above 0"));
                }
                Ok((
                    metric_index_in(names, &format!("{key}.objectives.{i}.metric"), &o.metric)?,
                    o,
                ))
            })
            .collect::<Result<Vec<_>, GymError>>()?;
        let constraints = constraints
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if c.min.is_none() && c.max.is_none() {
                    return Err(GymError::InvalidConfig {
                        key: format!("{key}.constraints.{i}"),
                        reason: "give `max` or `min`".into(),
                    });
                }
                for (field, bound) in [("min", c.min), ("max", c.max)] {
                    if bound.is_some_and(|b| !b.is_finite()) {
                        return Err(GymError::InvalidConfig {
                            key: format!("{key}.constraints.{i}.{field}"),
                            reason: "must be a finite number".into(),
                        });
                    }
                }
                if let (Some(lo), Some(hi)) = (c.min, c.max) {
                    if lo > hi {
                        return Err(GymError::InvalidConfig {
                            key: format!("{key}.constraints.{i}"),
                            reason: format!(
                                "`min` ({lo}) is above `max` ({hi}): no design can meet it"
                            ),
                        });
                    }
                }
                Ok((
                    metric_index_in(names, &format!("{key}.constraints.{i}.metric"), &c.metric)?,
                    c,
                ))
            })
            .collect::<Result<Vec<_>, GymError>>()?;
        match &reward {
            Reward::Target => {
                if let Some((i, _)) = objectives
                    .iter()
                    .enumerate()
                    .find(|(_, (_, o))| !o.target.is_some_and(|t| t.is_finite() && t != 0.0))
                {
                    return Err(GymError::InvalidConfig {
                        key: format!("{key}.objectives.{i}.target"),
                        reason: "the `target` reward needs a finite, non-zero target for every objective".into(),
                    });
                }
            }
            Reward::Hypervolume { reference } if reference.len() != objectives.len() => {
                return Err(GymError::InvalidConfig {
                    key: format!("{key}.reward.reference"),
                    reason: format!(
                        "needs one value per objective ({}), got {}",
                        objectives.len(),
                        reference.len()
                    ),
                });
            }
            _ => {}
        }
        Ok(Scorer {
            objectives,
            constraints,
            reward,
            front: Vec::new(),
        })
    }

    /// Forgets the episode's Pareto front.
    pub fn reset(&mut self) {
        self.front.clear();
    }

    /// Objective values of a metric vector, oriented so that smaller is better.
    pub fn oriented(&self, m: &[f64]) -> Vec<f64> {
        self.objectives
            .iter()
            .map(|(i, o)| if o.goal == Goal::Max { -m[*i] } else { m[*i] })
            .collect()
    }

    fn weighted(&self, m: &[f64]) -> f64 {
        -self
            .objectives
            .iter()
            .map(|(i, o)| o.weight * m[*i] / o.scale * if o.goal == Goal::Max { -1.0 } else { 1.0 })
            .sum::<f64>()
    }

    /// Scores a feasible evaluation's metrics.
    pub fn score(&mut self, m: &[f64]) -> Score {
        let mut violation = 0.0;
        let mut violations = Vec::new();
        for (i, c) in &self.constraints {
            let v = c.violation(m[*i]);
            if v > 0.0 {
                violation += v;
                violations.push(format!("{} violated ({})", c.describe(), m[*i]));
            }
        }
        let feasible = violations.is_empty();
        let (reward, target_met) = match &self.reward {
            Reward::Target => {
                let d: f64 = self
                    .objectives
                    .iter()
                    .map(|(i, o)| {
                        let t = o.target.unwrap_or(1.0);
                        let gap = if o.goal == Goal::Max {
                            t - m[*i]
                        } else {
                            m[*i] - t
                        };
                        gap.max(0.0) / t.abs()
                    })
                    .sum();
                (-d, d == 0.0 && feasible)
            }
            Reward::Weighted => (self.weighted(m), false),
            Reward::Penalty { penalty } => (self.weighted(m) - penalty * violation, false),
            Reward::Hypervolume { reference } => {
                if !feasible {
                    (0.0, false)
                } else {
                    let r: Vec<f64> = self
                        .objectives
                        .iter()
                        .zip(reference)
                        .map(|((_, o), &x)| if o.goal == Goal::Max { -x } else { x })
                        .collect();
                    let before = hypervolume(&self.front, &r);
                    let p = self.oriented(m);
                    if !self.front.iter().any(|q| dominates(q, &p) || q == &p) {
                        self.front.retain(|q| !dominates(&p, q));
                        self.front.push(p);
                    }
                    (hypervolume(&self.front, &r) - before, false)
                }
            }
        };
        Score {
            reward,
            feasible,
            target_met,
            violations,
        }
    }

    /// True if the reward treats a violated constraint as an infeasible point.
    pub fn constraints_are_hard(&self) -> bool {
        !matches!(self.reward, Reward::Penalty { .. })
    }

    /// Objectives, resolved.
    pub fn objectives(&self) -> impl Iterator<Item = &Objective> {
        self.objectives.iter().map(|(_, o)| o)
    }

    /// Constraints, with their metric index.
    pub fn constraints(&self) -> &[(usize, Constraint)] {
        &self.constraints
    }
}

/// True if `a` is no worse than `b` everywhere and better somewhere (minimization).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Hypervolume dominated by `points` and bounded by `reference` (minimization), exact, by
/// slicing along the first objective (fine for the small fronts of an episode).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let pts: Vec<&Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    if pts.is_empty() {
        return 0.0;
    }
    if reference.len() == 1 {
        return pts.iter().map(|p| reference[0] - p[0]).fold(0.0, f64::max);
    }
    let mut xs: Vec<f64> = pts.iter().map(|p| p[0]).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut total = 0.0;
    for (k, &x) in xs.iter().enumerate() {
        let next = xs.get(k + 1).copied().unwrap_or(reference[0]);
        let slice: Vec<Vec<f64>> = pts
            .iter()
            .filter(|p| p[0] <= x)
            .map(|p| p[1..].to_vec())
            .collect();
        total += (next - x) * hypervolume(&slice, &reference[1..]);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_metrics_are_exact_integers_in_json() {
        let mut m = vec![0.0; METRICS.len()];
        m[metric_index("", "total_cycles").unwrap()] = 8_578_006.0;
        m[metric_index("", "latency_s").unwrap()] = 0.24430300000000002;
        m[metric_index("", "dram_bytes").unwrap()] = 25_756_072.0;
        let j = serde_json::Value::Object(metric_map(&m)).to_string();
        assert!(j.contains("\"total_cycles\":8578006,"), "{j}");
        assert!(j.contains("\"dram_bytes\":25756072,"), "{j}");
        // Floats keep every digit (exact in JSON): text output rounds them, not the data.
        assert!(j.contains("\"latency_s\":0.24430300000000002"), "{j}");
        assert_eq!(metric_value("total_cycles", 1.5), serde_json::json!(1.5));
    }

    fn obj(metric: &str, target: Option<f64>) -> Objective {
        Objective {
            metric: metric.into(),
            goal: Goal::Min,
            target,
            weight: 1.0,
            scale: 1.0,
        }
    }

    #[test]
    fn hypervolume_of_known_fronts() {
        assert_eq!(hypervolume(&[vec![1.0, 1.0]], &[2.0, 2.0]), 1.0);
        // Two points: union of [1,3]x[2,3] and [2,3]x[1,3] = 2 + 2 − 1.
        assert_eq!(
            hypervolume(&[vec![1.0, 2.0], vec![2.0, 1.0]], &[3.0, 3.0]),
            3.0
        );
        assert_eq!(hypervolume(&[vec![1.0, 1.0, 1.0]], &[2.0, 3.0, 4.0]), 6.0);
        assert_eq!(hypervolume(&[vec![5.0, 5.0]], &[3.0, 3.0]), 0.0);
    }

    #[test]
    fn target_reward_measures_overshoot_and_terminates_when_met() {
        let mut s = Scorer::new(
            "gym",
            vec![obj("latency_s", Some(2.0)), obj("energy_j", Some(4.0))],
            vec![],
            Reward::Target,
        )
        .unwrap();
        let m = |lat: f64, e: f64| vec![lat, e, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let sc = s.score(&m(3.0, 2.0));
        assert_eq!((sc.reward, sc.target_met), (-0.5, false));
        assert!(s.score(&m(2.0, 4.0)).target_met);
        assert!(Scorer::new("gym", vec![obj("latency_s", None)], vec![], Reward::Target).is_err());
    }

    #[test]
    fn hypervolume_reward_is_the_front_growth() {
        let mut s = Scorer::new(
            "gym",
            vec![obj("latency_s", None), obj("energy_j", None)],
            vec![],
            Reward::Hypervolume {
                reference: vec![3.0, 3.0],
            },
        )
        .unwrap();
        let m = |lat: f64, e: f64| vec![lat, e, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(s.score(&m(1.0, 2.0)).reward, 2.0);
        assert_eq!(s.score(&m(2.0, 1.0)).reward, 1.0);
        assert_eq!(s.score(&m(2.5, 2.5)).reward, 0.0, "dominated");
    }

    #[test]
    fn constraints_and_penalties() {
        let c = Constraint {
            metric: "area_mm2".into(),
            max: Some(10.0),
            min: None,
        };
        let mut s = Scorer::new(
            "gym",
            vec![obj("latency_s", None)],
            vec![c],
            Reward::Penalty { penalty: 10.0 },
        )
        .unwrap();
        let sc = s.score(&[1.0, 0.0, 15.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(!sc.feasible);
        assert_eq!(sc.reward, -1.0 - 10.0 * 0.5);
        assert!(sc.violations[0].contains("area_mm2 <= 10 violated"));
        assert!(
            Scorer::new("gym", vec![obj("speed", None)], vec![], Reward::Weighted)
                .unwrap_err()
                .to_string()
                .contains("unknown metric `speed`")
        );
    }

    #[test]
    fn weights_scales_and_bounds_must_make_sense() {
        let err = |o: Objective, c: Vec<Constraint>| {
            Scorer::new("search", vec![o], c, Reward::Weighted)
                .unwrap_err()
                .to_string()
        };
        let o = obj("latency_s", None);
        assert_eq!(
            err(
                Objective {
                    scale: 0.0,
                    ..o.clone()
                },
                vec![]
            ),
            "search.objectives.0.scale: must be a finite number above 0"
        );
        assert_eq!(
            err(
                Objective {
                    weight: -1.0,
                    ..o.clone()
                },
                vec![]
            ),
            "search.objectives.0.weight: must be a finite number, at least 0"
        );
        let c = |min, max| Constraint {
            metric: "area_mm2".into(),
            min,
            max,
        };
        assert!(err(o.clone(), vec![c(Some(5.0), Some(1.0))])
            .starts_with("search.constraints.0: `min` (5) is above `max` (1)"));
        assert_eq!(
            err(o, vec![c(None, Some(f64::INFINITY))]),
            "search.constraints.0.max: must be a finite number"
        );
    }
}

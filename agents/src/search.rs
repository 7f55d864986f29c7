//! A search: an agent, a budget and a problem, evaluated in parallel batches.
//!
//! ```yaml
//! search:
//!   agent: {kind: bo}
//!   budget: 200
//!   seed: 0
//!   batch: 8                      # points evaluated in parallel per ask
//!   space: {accelerator.rows: {pow2: [8, 256]}, …}
//!   objectives: [{metric: latency_s}]
//!   constraints: [{metric: area_mm2, max: 50}]
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_gym::objective::{dominates, Goal, Scorer};
use archsim_gym::{Constraint, DesignSpace, EvaluatorKind, GymError, Objective, Problem, Reward};

use crate::{build_agent, AgentConfig, AgentError, Observation, Point};

fn batch() -> usize {
    8
}

/// The most evaluations one search may run (`search.budget`). A search keeps every evaluation
/// in memory (its history: the point, the metrics, the objectives — measured at about 3.3 KB
/// of memory an evaluation, 50,000 GEMM evaluations: 165 MB peak) and writes them all to
/// `report.json` (about 750 bytes each) and `history.csv`, so the budget is bounded before
/// anything is allocated: a million evaluations is about 3.3 GB of memory and a 750 MB report,
/// and far more than any optimizer here needs.
pub const MAX_BUDGET: usize = 1_000_000;

/// The `search:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// The optimizer and its hyperparameters.
    #[schemars(with = "crate::AgentConfig")]
    pub agent: Value,
    /// Evaluations.
    #[schemars(range(min = 1, max = MAX_BUDGET), extend("x-bound" = "MAX_BUDGET: a search keeps every evaluation in memory, about 3.3 KB each"))]
    pub budget: usize,
    /// Seed of the agent.
    #[serde(default)]
    pub seed: u64,
    /// Points per ask, evaluated in parallel (default 8).
    #[serde(default = "batch")]
    #[schemars(range(min = 1, max = MAX_BUDGET))]
    pub batch: usize,
    /// The design space (config path → domain).
    #[schemars(with = "std::collections::BTreeMap<String, archsim_gym::space::DomainSpec>")]
    pub space: Map<String, Value>,
    /// Objectives (the first, or their weighted sum, is what single-objective agents minimize).
    pub objectives: Vec<Objective>,
    /// Constraints.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// One evaluation of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Evaluation number, from 1.
    pub eval: usize,
    /// The design: config path → value.
    pub point: Map<String, Value>,
    /// The design as indices.
    pub index: Point,
    /// Metrics by name (empty when not evaluated).
    pub metrics: Map<String, Value>,
    /// Objective values (as the metrics, not oriented).
    pub objectives: Vec<f64>,
    /// Evaluated and within every constraint.
    pub feasible: bool,
    /// Why not feasible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Scalarized cost (weighted sum of oriented objectives divided by their scales: what a
    /// single-objective agent minimizes; `null` when infeasible). With several objectives it
    /// mixes their units unless the scales make them unitless: people read the objectives
    /// and `pareto_rank` instead.
    pub cost: Option<f64>,
    /// With several objectives: the design's Pareto rank among the feasible evaluations (1 =
    /// on the front, 2 = on the front once rank 1 is removed, …); absent when infeasible or
    /// with one objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto_rank: Option<usize>,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Agent kind.
    pub agent: String,
    /// Seed.
    pub seed: u64,
    /// The feasible evaluation of lowest cost.
    pub best: Option<HistoryRow>,
    /// Every evaluation in order.
    pub history: Vec<HistoryRow>,
    /// Non-dominated feasible evaluations (when there are several objectives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto: Option<Vec<HistoryRow>>,
    /// Why the search stopped before its budget, when it did: every design of a finite space
    /// was evaluated, or the agent kept proposing designs it had seen ([`run_search`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Errors of a search config.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum SearchError {
    /// The environment side (space, objectives, constraints, base config) is invalid.
    #[error(transparent)]
    Gym(#[from] GymError),
    /// The agent's hyperparameters are invalid.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The caller asked the search to stop ([`archsim_sim::cancel`]).
    #[error("interrupted")]
    Cancelled,
}

impl SearchError {
    /// The dotted config key the error is about (`search.budget`, `search.space.<path>`,
    /// `search.agent.population`, …) and what is wrong with it.
    pub fn key_and_reason(&self) -> (String, String) {
        match self {
            SearchError::Gym(GymError::InvalidConfig { key, reason }) => {
                (key.clone(), reason.clone())
            }
            SearchError::Agent(AgentError::InvalidParameter { key, reason }) => {
                (format!("search.agent.{key}"), reason.clone())
            }
            other => ("search".into(), other.to_string()),
        }
    }
}

impl SearchConfig {
    /// Checks the whole `search:` section before the first evaluation, against `base`, the
    /// simulation config it varies (valid, as `serde_json::to_value` of the loaded config
    /// gives it): the budget (1 to [`MAX_BUDGET`]) and the batch; the space — well-formed
    /// domains, and every path a key of `base`'s schema with values of its type
    /// ([`DesignSpace::check_schema`]); objectives and constraints naming known metrics
    /// ([`METRICS`](archsim_gym::METRICS) for a simulation, [`SERVING_METRICS`](archsim_gym::SERVING_METRICS) for a
    /// serving config) with sane weights, scales and bounds; the agent and its
    /// hyperparameters.
    /// Returns the space.
    pub fn validate(&self, base: &Value) -> Result<DesignSpace, SearchError> {
        let invalid = |key: &str, reason: String| -> SearchError {
            GymError::InvalidConfig {
                key: key.into(),
                reason,
            }
            .into()
        };
        if self.budget == 0 {
            return Err(invalid("search.budget", "must be at least 1".into()));
        }
        if self.budget > MAX_BUDGET {
            return Err(invalid(
                "search.budget",
                format!(
                    "{} evaluations is more than the limit of {MAX_BUDGET} (MAX_BUDGET)",
                    self.budget
                ),
            ));
        }
        if self.batch == 0 {
            return Err(invalid("search.batch", "must be at least 1".into()));
        }
        let space = DesignSpace::from_map("search.space", &self.space)?;
        space.check_schema("search.space", base)?;
        let kind = EvaluatorKind::of(base);
        Scorer::with_metrics(
            kind.metrics(),
            "search",
            self.objectives.clone(),
            self.constraints.clone(),
            Reward::Weighted,
        )?;
        let (absent, why) = kind.absent_metrics(base);
        archsim_gym::objective::check_present(
            "search",
            &self.objectives,
            &self.constraints,
            &absent,
            &why,
        )?;
        let agent = self.agent_config()?;
        let categorical: Vec<bool> = space
            .params
            .iter()
            .map(|p| p.domain.is_categorical())
            .collect();
        build_agent(&agent, &space.nvec(), &categorical, self.seed)?;
        Ok(space)
    }

    /// The agent config, parsed.
    pub fn agent_config(&self) -> Result<AgentConfig, SearchError> {
        let mut v = self.agent.clone();
        // MARL groups may be given as config paths.
        if let Some(groups) = v.get_mut("groups").and_then(Value::as_array_mut) {
            let paths: Vec<&String> = self.space.keys().collect();
            for g in groups.iter_mut() {
                if let Some(items) = g.as_array_mut() {
                    for item in items.iter_mut() {
                        if let Some(p) = item.as_str() {
                            let k = paths.iter().position(|q| *q == p).ok_or_else(|| {
                                AgentError::InvalidParameter {
                                    key: "groups".into(),
                                    reason: format!("`{p}` is not a parameter of search.space"),
                                }
                            })?;
                            *item = Value::from(k);
                        }
                    }
                }
            }
        }
        serde_json::from_value(v.clone()).map_err(|e| {
            let reason = e.to_string();
            // Name the hyperparameter when serde's message does (an unknown one); else the one
            // whose removal makes the section read (serde loses the field of a bad value in a
            // `kind`-tagged section); else `kind`.
            let named = reason
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string);
            let culprit = || {
                let m = v.as_object()?;
                m.keys()
                    .filter(|k| k.as_str() != "kind")
                    .find(|k| {
                        let mut w = m.clone();
                        w.remove(k.as_str());
                        serde_json::from_value::<AgentConfig>(Value::Object(w)).is_ok()
                    })
                    .cloned()
            };
            let key = named.or_else(culprit).unwrap_or_else(|| "kind".to_string());
            SearchError::Agent(AgentError::InvalidParameter { key, reason })
        })
    }
}

/// Evaluates a batch of points: one metric vector (or the reason it failed) per point.
pub type BatchEvaluator = dyn Fn(&Problem, &[Point]) -> Vec<Result<Vec<f64>, String>>;

/// Runs a search on `problem` (whose space is the search's). `evaluate_batch` evaluates points
/// (in parallel where the caller can); `progress(done, budget)` is called after every batch.
pub fn run_search(
    problem: &Problem,
    cfg: &SearchConfig,
    evaluate_batch: &BatchEvaluator,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SearchResult, SearchError> {
    cfg.validate(problem.base())?;
    let names = problem.metric_names();
    let scorer_template = Scorer::with_metrics(
        names,
        "search",
        cfg.objectives.clone(),
        cfg.constraints.clone(),
        Reward::Weighted,
    )?;
    let agent_cfg = cfg.agent_config()?;
    let space = problem.space();
    let nvec = space.nvec();
    let categorical: Vec<bool> = space
        .params
        .iter()
        .map(|p| p.domain.is_categorical())
        .collect();
    let mut agent = build_agent(&agent_cfg, &nvec, &categorical, cfg.seed)?;
    let obj_idx: Vec<usize> = cfg
        .objectives
        .iter()
        .map(|o| names.iter().position(|m| *m == o.metric).unwrap_or(0))
        .collect();
    let used: Vec<usize> = obj_idx
        .iter()
        .copied()
        .chain(
            cfg.constraints
                .iter()
                .filter_map(|c| names.iter().position(|m| *m == c.metric)),
        )
        .collect();
    // A finite space of `designs` designs needs at most that many distinct evaluations: a
    // budget beyond it stops once every design is evaluated, or once the agent has proposed
    // no new design for `STALL_PER_DESIGN` × `designs` evaluations in a row (it keeps
    // returning to designs it has seen), so the history stays proportional to the space.
    let designs = nvec
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n as usize))
        .unwrap_or(usize::MAX);
    let bounded = cfg.budget > designs;
    let stall_limit = designs.saturating_mul(STALL_PER_DESIGN);
    let mut since_new = 0usize;
    let mut stopped = None;
    let mut cache: HashMap<Point, Result<Vec<f64>, String>> = HashMap::new();
    let mut history: Vec<HistoryRow> = Vec::with_capacity(cfg.budget.min(designs));
    while history.len() < cfg.budget {
        // A caller that can be interrupted (Ctrl-C from Python) is asked between batches.
        if archsim_sim::cancel::requested() {
            return Err(SearchError::Cancelled);
        }
        if bounded && cache.len() >= designs {
            stopped = Some(format!(
                "all {designs} designs of search.space evaluated after {} evaluations \
                 (search.budget {} is more than the space holds)",
                history.len(),
                cfg.budget
            ));
            break;
        }
        if bounded && since_new >= stall_limit {
            stopped = Some(format!(
                "{} of the {designs} designs of search.space evaluated; the agent proposed no \
                 new design in the last {since_new} evaluations (search.budget {} is more than \
                 the space holds)",
                cache.len(),
                cfg.budget
            ));
            break;
        }
        let n = cfg.batch.min(cfg.budget - history.len());
        let mut pts = agent.ask(n);
        pts.truncate(n);
        // Clamp anything out of range an agent might produce (it never should).
        for p in &mut pts {
            for (v, &m) in p.iter_mut().zip(&nvec) {
                *v = (*v).clamp(0, m as i64 - 1);
            }
        }
        let todo: Vec<Point> = {
            let mut t: Vec<Point> = pts
                .iter()
                .filter(|p| !cache.contains_key(*p))
                .cloned()
                .collect();
            t.sort();
            t.dedup();
            t
        };
        since_new = if todo.is_empty() {
            since_new + pts.len()
        } else {
            0
        };
        for (p, r) in todo.iter().zip(evaluate_batch(problem, &todo)) {
            cache.insert(p.clone(), r);
        }
        let mut obs = Vec::with_capacity(pts.len());
        for p in pts {
            let r = cache
                .get(&p)
                .cloned()
                .unwrap_or_else(|| Err("not evaluated".into()));
            let values = space.decode(&p).unwrap_or_default();
            let point: Map<String, Value> = space
                .params
                .iter()
                .map(|q| q.path.clone())
                .zip(values)
                .collect();
            let mut scorer = scorer_template.clone();
            // An objective or constraint on a metric this design does not produce (absent,
            // NaN: a space that changes the workload's form or the accelerator's kind) makes
            // it infeasible; `validate` refused such metrics for the base config.
            // A metric that is not a number (an absent one aside) could not be computed:
            // the design is infeasible with its name, whatever evaluated it.
            let r = r.and_then(|m| {
                archsim_gym::objective::check_finite(names, &m)?;
                Ok(m)
            });
            let r = r.and_then(|m| match used.iter().find(|&&i| m[i].is_nan()) {
                Some(&i) => Err(format!(
                    "infeasible: this design does not produce {}, which an objective or \
                     constraint names",
                    names[i]
                )),
                None => Ok(m),
            });
            let (row, o) = match r {
                Ok(m) => {
                    let mut s = scorer.score(&m);
                    // A requirement of the config itself (a serving SLO) comes first.
                    if let Some(why) = problem.infeasible(&m) {
                        s.feasible = false;
                        s.violations.insert(0, why);
                    }
                    let objectives: Vec<f64> = obj_idx.iter().map(|&i| m[i]).collect();
                    let oriented = scorer.oriented(&m);
                    let cost = -s.reward;
                    // Finite metrics can still weigh (weight / scale) into a cost that is not
                    // a number: the agent cannot rank it.
                    if s.feasible && !cost.is_finite() {
                        s.feasible = false;
                        s.violations.push(format!(
                            "the cost (the objectives times weight / scale) is {cost}, not a \
                             finite number"
                        ));
                    }
                    let metrics: Map<String, Value> = archsim_gym::metric_map_named(names, &m);
                    let reason = (!s.feasible).then(|| s.violations.join("; "));
                    let row = HistoryRow {
                        eval: history.len() + 1,
                        point,
                        index: p.clone(),
                        metrics,
                        objectives,
                        feasible: s.feasible,
                        reason,
                        cost: s.feasible.then_some(cost),
                        pareto_rank: None,
                    };
                    let o = Observation {
                        point: p,
                        objectives: oriented,
                        cost: if s.feasible { cost } else { f64::INFINITY },
                        feasible: s.feasible,
                    };
                    (row, o)
                }
                Err(reason) => (
                    HistoryRow {
                        eval: history.len() + 1,
                        point,
                        index: p.clone(),
                        metrics: Map::new(),
                        objectives: Vec::new(),
                        feasible: false,
                        reason: Some(reason),
                        cost: None,
                        pareto_rank: None,
                    },
                    Observation {
                        point: p,
                        objectives: Vec::new(),
                        cost: f64::INFINITY,
                        feasible: false,
                    },
                ),
            };
            history.push(row);
            obs.push(o);
        }
        agent.tell(&obs);
        progress(history.len(), cfg.budget);
    }
    let best = history
        .iter()
        .filter(|r| r.feasible)
        .min_by(|a, b| {
            a.cost
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.cost.unwrap_or(f64::INFINITY))
                .then(a.eval.cmp(&b.eval))
        })
        .cloned();
    if cfg.objectives.len() > 1 {
        let ranks = pareto_ranks(&history, &cfg.objectives);
        for (row, rank) in history.iter_mut().zip(ranks) {
            row.pareto_rank = rank;
        }
    }
    let best = best.map(|b| history[b.eval - 1].clone());
    let pareto = (cfg.objectives.len() > 1).then(|| pareto_front(&history, &cfg.objectives));
    Ok(SearchResult {
        agent: agent_cfg.kind().to_string(),
        seed: cfg.seed,
        best,
        history,
        pareto,
        stopped,
    })
}

/// How many evaluations in a row without a new design end a search whose budget exceeds its
/// space, per design of the space (see [`run_search`]).
pub const STALL_PER_DESIGN: usize = 10;

/// Orders two oriented objective vectors lexicographically.
fn lex(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The Pareto rank of every row of `history` (minimizing each objective oriented by its goal):
/// 1 for the non-dominated feasible rows, 2 for those non-dominated once rank 1 is set aside,
/// and so on; `None` for an infeasible row. Equal objective vectors share their rank. Two
/// objectives are ranked in O(n log n) (a sweep along the first); more, front by front.
pub fn pareto_ranks(history: &[HistoryRow], objectives: &[Objective]) -> Vec<Option<usize>> {
    let orient = |r: &HistoryRow| -> Vec<f64> {
        r.objectives
            .iter()
            .zip(objectives)
            .map(|(v, o)| if o.goal == Goal::Max { -v } else { *v })
            .collect()
    };
    let ranked = |r: &HistoryRow| r.feasible && r.objectives.len() == objectives.len();
    // The distinct oriented vectors of the feasible rows, in lexicographic order.
    let mut distinct: Vec<Vec<f64>> = history.iter().filter(|r| ranked(r)).map(orient).collect();
    distinct.sort_by(|a, b| lex(a, b));
    distinct.dedup();
    let rank: Vec<usize> = if objectives.len() == 2 {
        // In (x, y) order only an earlier point can dominate a later one, and it does when
        // its y is at most the later one's; the lowest y of each front so far rises with the
        // front's rank, so a point joins the first front whose lowest y is above its own.
        let mut lowest: Vec<f64> = Vec::new();
        distinct
            .iter()
            .map(|p| {
                let k = lowest.partition_point(|&y| y <= p[1]);
                if k == lowest.len() {
                    lowest.push(p[1]);
                } else {
                    lowest[k] = p[1];
                }
                k + 1
            })
            .collect()
    } else {
        let mut rank = vec![0usize; distinct.len()];
        let mut left: Vec<usize> = (0..distinct.len()).collect();
        let mut r = 0;
        while !left.is_empty() {
            r += 1;
            let front: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| !left.iter().any(|&j| dominates(&distinct[j], &distinct[i])))
                .collect();
            for &i in &front {
                rank[i] = r;
            }
            left.retain(|i| rank[*i] == 0);
        }
        rank
    };
    history
        .iter()
        .map(|r| {
            if !ranked(r) {
                return None;
            }
            let p = orient(r);
            let i = distinct.binary_search_by(|q| lex(q, &p)).ok()?;
            Some(rank[i])
        })
        .collect()
}

/// Non-dominated feasible rows (first occurrence of each design), by eval order.
pub fn pareto_front(history: &[HistoryRow], objectives: &[Objective]) -> Vec<HistoryRow> {
    let orient = |r: &HistoryRow| -> Vec<f64> {
        r.objectives
            .iter()
            .zip(objectives)
            .map(|(v, o)| if o.goal == Goal::Max { -v } else { *v })
            .collect()
    };
    let feasible: Vec<&HistoryRow> = history.iter().filter(|r| r.feasible).collect();
    let mut out: Vec<HistoryRow> = Vec::new();
    for r in &feasible {
        let p = orient(r);
        if feasible.iter().any(|q| dominates(&orient(q), &p)) {
            continue;
        }
        if out.iter().any(|q| q.index == r.index || orient(q) == p) {
            continue;
        }
        out.push((*r).clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;
    use std::rc::Rc;

    use serde_json::json;

    use super::*;

    fn base() -> Value {
        json!({
            "workload": {"gemm": {"m": 64, "n": 64, "k": 64}},
            "accelerator": {"kind": "systolic", "rows": 8, "cols": 8, "dataflow": "os"}
        })
    }

    fn search(patch: Value) -> SearchConfig {
        let mut v = json!({
            "agent": {"kind": "random"},
            "budget": 8,
            "space": {
                "accelerator.rows": {"pow2": [4, 64]},
                "accelerator.dataflow": {"choice": ["os", "ws", "is"]}
            },
            "objectives": [{"metric": "latency_s"}]
        });
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn error(patch: Value) -> String {
        let (key, reason) = search(patch)
            .validate(&base())
            .unwrap_err()
            .key_and_reason();
        format!("{key}: {reason}")
    }

    #[test]
    fn a_valid_search_validates() {
        let s = search(json!({})).validate(&base()).unwrap();
        assert_eq!(s.nvec(), vec![5, 3]);
    }

    #[test]
    fn every_part_of_the_section_is_checked_up_front() {
        for (patch, want) in [
            (
                json!({"budget": 1_000_000_000}),
                "search.budget: 1000000000 evaluations is more than the limit of 1000000 (MAX_BUDGET)",
            ),
            (json!({"budget": 0}), "search.budget: must be at least 1"),
            (json!({"batch": 0}), "search.batch: must be at least 1"),
            (
                json!({"space": {"accelerator.rowz": {"pow2": [4, 64]}}}),
                "search.space.accelerator.rowz: unknown field `rowz`",
            ),
            (
                json!({"space": {"accelerator.dataflow": {"choice": ["os", "rs"]}}}),
                "search.space.accelerator.dataflow: unknown variant `rs`",
            ),
            (
                json!({"space": {"accelerator.rows": {"pow2": [4, 60]}}}),
                "search.space.accelerator.rows: pow2 bounds",
            ),
            (
                json!({"objectives": [{"metric": "speed"}]}),
                "search.objectives.0.metric: unknown metric `speed`",
            ),
            (
                json!({"constraints": [{"metric": "area", "max": 5}]}),
                "search.constraints.0.metric: unknown metric `area`",
            ),
            (
                json!({"agent": {"kind": "nsga2", "population": 1_000_000_000}}),
                "search.agent.population: must be at most 10000 (MAX_POPULATION)",
            ),
            (
                json!({"agent": {"kind": "bo", "candidates": 1_000_000_000_000_u64}}),
                "search.agent.candidates: must be at most 1048576 (MAX_CANDIDATES)",
            ),
            (
                json!({"agent": {"kind": "bo", "exhaustive": 1_000_000_000_000_u64}}),
                "search.agent.exhaustive: must be at most 1048576 (MAX_CANDIDATES)",
            ),
            (
                json!({"agent": {"kind": "ga", "populaton": 8}}),
                "search.agent.populaton: unknown field `populaton`",
            ),
            (
                json!({"agent": {"kind": "oracle"}}),
                "search.agent.kind: unknown variant `oracle`",
            ),
            (
                json!({"agent": {"kind": "sa", "t0": -1.0}}),
                "search.agent.t0: must be positive",
            ),
        ] {
            let e = error(patch);
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }
    }

    fn problem() -> Problem {
        let c = search(json!({}));
        Problem::new(
            base(),
            DesignSpace::from_map("search.space", &c.space).unwrap(),
            Path::new("."),
        )
        .unwrap()
    }

    fn evaluate(p: &Problem, pts: &[Point]) -> Vec<Result<Vec<f64>, String>> {
        pts.iter()
            .map(|x| {
                p.evaluate(x)
                    .map_err(|e| e.to_string())
                    .and_then(|e| e.metrics)
            })
            .collect()
    }

    #[test]
    fn a_budget_beyond_a_finite_space_stops_when_it_is_exhausted() {
        // 5 rows × 3 dataflows = 15 designs.
        for agent in ["random", "grid", "sa", "ga", "bo"] {
            let c = search(json!({"budget": 100_000, "agent": {"kind": agent}}));
            let r = run_search(&problem(), &c, &evaluate, &mut |_, _| {}).unwrap();
            let distinct: std::collections::BTreeSet<&Point> =
                r.history.iter().map(|h| &h.index).collect();
            assert!(distinct.len() <= 15, "{agent}");
            // Exhausted, or stalled after 10 × 15 evaluations without a new design.
            assert!(
                r.history.len() <= 16 * (150 + 8),
                "{agent}: {}",
                r.history.len()
            );
            let why = r.stopped.unwrap();
            if distinct.len() == 15 {
                assert!(why.starts_with("all 15 designs"), "{why}");
            } else {
                assert!(why.contains("proposed no new design"), "{why}");
            }
        }
        // Within the space's size, the budget is the budget.
        let c = search(json!({"budget": 12}));
        let r = run_search(&problem(), &c, &evaluate, &mut |_, _| {}).unwrap();
        assert_eq!((r.history.len(), r.stopped), (12, None));
    }

    #[test]
    fn a_metric_that_is_not_a_number_makes_the_design_infeasible() {
        let c = search(json!({"budget": 8}));
        let p = problem();
        let latency = p
            .metric_names()
            .iter()
            .position(|m| *m == "latency_s")
            .unwrap();
        let nan = move |p: &Problem, pts: &[Point]| -> Vec<Result<Vec<f64>, String>> {
            evaluate(p, pts)
                .into_iter()
                .map(|r| {
                    r.map(|mut m| {
                        m[latency] = f64::INFINITY;
                        m
                    })
                })
                .collect()
        };
        let r = run_search(&p, &c, &nan, &mut |_, _| {}).unwrap();
        assert!(r.best.is_none());
        for h in &r.history {
            assert!(!h.feasible && h.cost.is_none());
            let why = h.reason.as_deref().unwrap();
            assert!(why.contains("latency_s could not be computed"), "{why}");
        }
    }

    /// The Pareto ranks against a brute-force peeling of the fronts, for two and three
    /// objectives (goals mixed), repeats and infeasible rows included.
    #[test]
    fn pareto_ranks_peel_the_fronts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for k in [2usize, 3] {
            let objectives: Vec<Objective> = (0..k)
                .map(|i| {
                    serde_json::from_value(json!({
                        "metric": "latency_s",
                        "goal": if i == 1 { "max" } else { "min" }
                    }))
                    .unwrap()
                })
                .collect();
            let rows: Vec<HistoryRow> = (0..300)
                .map(|i| HistoryRow {
                    eval: i + 1,
                    point: Map::new(),
                    index: vec![i as i64],
                    metrics: Map::new(),
                    objectives: (0..k)
                        .map(|_| f64::from(rng.random_range(0..12u8)))
                        .collect(),
                    feasible: rng.random_range(0..10) > 0,
                    reason: None,
                    cost: None,
                    pareto_rank: None,
                })
                .collect();
            let ranks = pareto_ranks(&rows, &objectives);
            // Brute force: peel non-dominated feasible rows front by front.
            let orient = |r: &HistoryRow| -> Vec<f64> {
                r.objectives
                    .iter()
                    .zip(&objectives)
                    .map(|(v, o)| if o.goal == Goal::Max { -v } else { *v })
                    .collect()
            };
            let mut want = vec![None; rows.len()];
            let mut left: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].feasible).collect();
            let mut r = 0;
            while !left.is_empty() {
                r += 1;
                let front: Vec<usize> = left
                    .iter()
                    .copied()
                    .filter(|&i| {
                        !left
                            .iter()
                            .any(|&j| dominates(&orient(&rows[j]), &orient(&rows[i])))
                    })
                    .collect();
                for &i in &front {
                    want[i] = Some(r);
                }
                left.retain(|i| want[*i].is_none());
            }
            assert_eq!(ranks, want, "{k} objectives");
            assert!(r > 2);
        }
    }

    #[test]
    fn a_bad_search_fails_before_the_first_evaluation() {
        let problem = Problem::new(
            base(),
            DesignSpace::from_map(
                "search.space",
                json!({"accelerator.rowz": {"pow2": [4, 64]}})
                    .as_object()
                    .unwrap(),
            )
            .unwrap(),
            Path::new("."),
        )
        .unwrap();
        let calls = Rc::new(Cell::new(0));
        for patch in [
            json!({"space": {"accelerator.rowz": {"pow2": [4, 64]}}}),
            json!({"space": {"accelerator.rowz": {"pow2": [4, 64]}}, "budget": 1_000_000_000}),
        ] {
            let c = search(patch);
            let seen = calls.clone();
            let counting = move |_: &Problem, pts: &[Point]| {
                seen.set(seen.get() + 1);
                pts.iter().map(|_| Err("not run".to_string())).collect()
            };
            let r = run_search(&problem, &c, &counting, &mut |_, _| {});
            assert!(r.is_err());
        }
        assert_eq!(calls.get(), 0, "no point was evaluated");
    }
}

//! # archsim-agents — optimizers behind one ask/tell interface
//!
//! The last stage before the user: agents propose design points, a [`Problem`] evaluates them
//! (in parallel batches), and the agents learn from the results. The caller owns the loop, so
//! the same agent runs from `archsim run` (a `search:` section), from a sweep, and from Python.
//!
//! ```text
//!          ┌──────────── ask(n) ────────────┐
//!   Agent ─┤                                 ├─► Problem::evaluate (rayon) ─► metrics ─► Observation
//!          └──────────── tell(obs) ◄────────┘
//! ```
//!
//! Agents: [`random`](random::RandomSearch), [`grid`](grid::GridSearch), simulated annealing
//! ([`sa`]), genetic algorithm and NSGA-II ([`ga`]), ant colony ([`aco`]), Bayesian
//! optimization with a Gaussian process ([`bo`]), REINFORCE policy gradient and its
//! multi-agent form ([`rl`]). Every agent takes a seed; the same seed gives the same run.
//! [`reinforce`] is a policy-gradient scheduler trained through the SoC environment of the gym
//! (`archsim_gym::SocEnv`).
//!
//! ```
//! use archsim_agents::{build_agent, AgentConfig, Observation};
//!
//! // Minimize (x − 3)² + (y − 5)² over a 10×10 grid of indices.
//! let nvec = vec![10, 10];
//! let mut agent = build_agent(&AgentConfig::Ga(Default::default()), &nvec, &[false, false], 1).unwrap();
//! let mut best = f64::INFINITY;
//! for _ in 0..20 {
//!     let points = agent.ask(8);
//!     let obs: Vec<Observation> = points
//!         .into_iter()
//!         .map(|p| {
//!             let c = ((p[0] - 3).pow(2) + (p[1] - 5).pow(2)) as f64;
//!             best = best.min(c);
//!             Observation::single(p, c)
//!         })
//!         .collect();
//!     agent.tell(&obs);
//! }
//! assert_eq!(best, 0.0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod aco;
pub mod bo;
pub mod ga;
pub mod grid;
pub mod random;
pub mod reinforce;
pub mod rl;
pub mod sa;
pub mod search;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use archsim_gym as gym;
pub use archsim_gym::Problem;
pub use search::{run_search, HistoryRow, SearchConfig, SearchResult};

/// A design point as one index per parameter.
pub type Point = Vec<i64>;

/// What an agent learns from one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The point evaluated.
    pub point: Point,
    /// Objective values, oriented so that smaller is better (empty if not evaluated).
    pub objectives: Vec<f64>,
    /// The scalarized objectives (weighted sum), `+inf` for an infeasible point.
    pub cost: f64,
    /// The point could be evaluated and meets every constraint.
    pub feasible: bool,
}

impl Observation {
    /// A feasible single-objective observation.
    pub fn single(point: Point, cost: f64) -> Observation {
        Observation {
            point,
            objectives: vec![cost],
            cost,
            feasible: true,
        }
    }
}

/// An optimizer with an ask/tell interface over a space of `nvec[i]` values per parameter.
pub trait Agent: Send {
    /// Proposes `n` points to evaluate next.
    fn ask(&mut self, n: usize) -> Vec<Point>;
    /// Learns from evaluations (of the points asked, in any order).
    fn tell(&mut self, obs: &[Observation]);
}

/// The `search.agent` section: which optimizer, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentConfig {
    /// Uniform random sampling.
    Random,
    /// Full-factorial grid, walked in a seeded permutation.
    Grid,
    /// Simulated annealing.
    Sa(sa::SaConfig),
    /// Genetic algorithm (single objective).
    Ga(ga::GaConfig),
    /// NSGA-II (several objectives).
    Nsga2(ga::GaConfig),
    /// Ant colony optimization.
    Aco(aco::AcoConfig),
    /// Bayesian optimization (trust region, local Gaussian process with a mixed
    /// ordered/categorical kernel, expected improvement, kriging-believer batches).
    Bo(bo::BoConfig),
    /// REINFORCE policy gradient, one categorical head per parameter.
    Rl(rl::RlConfig),
    /// Multi-agent REINFORCE: each agent owns some parameters, all share the reward.
    Marl(rl::MarlConfig),
}

impl AgentConfig {
    /// The `kind` name.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentConfig::Random => "random",
            AgentConfig::Grid => "grid",
            AgentConfig::Sa(_) => "sa",
            AgentConfig::Ga(_) => "ga",
            AgentConfig::Nsga2(_) => "nsga2",
            AgentConfig::Aco(_) => "aco",
            AgentConfig::Bo(_) => "bo",
            AgentConfig::Rl(_) => "rl",
            AgentConfig::Marl(_) => "marl",
        }
    }
}

/// Errors of agent construction.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentError {
    /// A hyperparameter is out of range (names the key under `search.agent`).
    #[error("search.agent.{key}: {reason}")]
    InvalidParameter {
        /// Key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Builds an agent for a space of `nvec` values per parameter (`categorical[i]` marks unordered
/// parameters), seeded.
pub fn build_agent(
    cfg: &AgentConfig,
    nvec: &[u64],
    categorical: &[bool],
    seed: u64,
) -> Result<Box<dyn Agent>, AgentError> {
    let nvec = nvec.to_vec();
    Ok(match cfg {
        AgentConfig::Random => Box::new(random::RandomSearch::new(nvec, seed)),
        AgentConfig::Grid => Box::new(grid::GridSearch::new(nvec, seed)),
        AgentConfig::Sa(c) => Box::new(sa::Annealing::new(
            c.clone(),
            nvec,
            categorical.to_vec(),
            seed,
        )?),
        AgentConfig::Ga(c) => Box::new(ga::Genetic::with_categories(
            c.clone(),
            nvec,
            categorical.to_vec(),
            false,
            seed,
        )?),
        AgentConfig::Nsga2(c) => Box::new(ga::Genetic::with_categories(
            c.clone(),
            nvec,
            categorical.to_vec(),
            true,
            seed,
        )?),
        AgentConfig::Aco(c) => Box::new(aco::AntColony::new(c.clone(), nvec, seed)?),
        AgentConfig::Bo(c) => Box::new(bo::Bayesian::new(
            c.clone(),
            nvec,
            categorical.to_vec(),
            seed,
        )?),
        AgentConfig::Rl(c) => Box::new(rl::PolicyGradient::new(c.clone(), nvec, seed)?),
        AgentConfig::Marl(c) => Box::new(rl::MultiAgent::new(c.clone(), nvec, seed)?),
    })
}

/// A seeded RNG (ChaCha8, never OS-seeded).
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A uniformly random point.
pub(crate) fn random_point(rng: &mut ChaCha8Rng, nvec: &[u64]) -> Point {
    nvec.iter()
        .map(|&n| rng.random_range(0..n) as i64)
        .collect()
}

pub(crate) fn check(key: &str, ok: bool, reason: &str) -> Result<(), AgentError> {
    if ok {
        Ok(())
    } else {
        Err(AgentError::InvalidParameter {
            key: key.into(),
            reason: reason.into(),
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Known-optimum problems for agent tests.
    use super::*;

    /// Separable quadratic bowl with its minimum 0 at `target`.
    pub(crate) fn bowl(p: &[i64], target: &[i64]) -> f64 {
        p.iter()
            .zip(target)
            .map(|(a, b)| ((a - b) * (a - b)) as f64)
            .sum()
    }

    /// Runs `agent` for `budget` evaluations in batches of `batch`; returns the best cost.
    pub(crate) fn run(
        agent: &mut dyn Agent,
        budget: usize,
        batch: usize,
        f: impl Fn(&[i64]) -> f64,
    ) -> f64 {
        let mut best = f64::INFINITY;
        let mut used = 0;
        while used < budget {
            let pts = agent.ask(batch.min(budget - used));
            used += pts.len();
            let obs: Vec<Observation> = pts
                .into_iter()
                .map(|p| {
                    let c = f(&p);
                    best = best.min(c);
                    Observation::single(p, c)
                })
                .collect();
            agent.tell(&obs);
        }
        best
    }

    /// How many of `seeds` find the optimum 0 of a 4-D bowl over 8 values per axis.
    pub(crate) fn successes(cfg: &AgentConfig, budget: usize, seeds: u64) -> u64 {
        let nvec = vec![8, 8, 8, 8];
        let target = [5, 2, 7, 3];
        (0..seeds)
            .filter(|&s| {
                let mut a = build_agent(cfg, &nvec, &[false; 4], s).unwrap();
                run(a.as_mut(), budget, 8, |p| bowl(p, &target)) == 0.0
            })
            .count() as u64
    }
}

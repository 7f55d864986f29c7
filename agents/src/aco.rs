//! Ant colony optimization over a discrete space (Dorigo & Stützle, "Ant Colony Optimization",
//! MIT Press 2004; the MAX–MIN variant of Stützle & Hoos, FGCS 2000,
//! doi:10.1016/S0167-739X(00)00043-1).
//!
//! Each parameter value carries a pheromone level; an ant picks each parameter's value with
//! probability proportional to `pheromone^alpha`. After every batch the pheromone evaporates by
//! `rho` and the batch's best ant and the best-so-far ant deposit on their values; levels are
//! kept between `tau_min` and `tau_max` so the colony keeps exploring.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{check, rng, Agent, AgentError, Observation, Point};

fn alpha() -> f64 {
    1.0
}
fn rho() -> f64 {
    0.2
}
fn deposit() -> f64 {
    1.0
}

/// Hyperparameters of the ant colony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcoConfig {
    /// Exponent on pheromone (default 1).
    #[serde(default = "alpha")]
    pub alpha: f64,
    /// Evaporation per batch (default 0.2).
    #[serde(default = "rho")]
    pub rho: f64,
    /// Pheromone deposited by a best ant (default 1).
    #[serde(default = "deposit")]
    pub deposit: f64,
}

impl Default for AcoConfig {
    fn default() -> Self {
        AcoConfig {
            alpha: alpha(),
            rho: rho(),
            deposit: deposit(),
        }
    }
}

/// The colony.
#[derive(Debug, Clone)]
pub struct AntColony {
    cfg: AcoConfig,
    tau: Vec<Vec<f64>>,
    rng: ChaCha8Rng,
    best: Option<(Point, f64)>,
}

const TAU_MIN: f64 = 0.05;
const TAU_MAX: f64 = 5.0;

impl AntColony {
    /// A seeded colony.
    pub fn new(cfg: AcoConfig, nvec: Vec<u64>, seed: u64) -> Result<Self, AgentError> {
        check(
            "alpha",
            cfg.alpha > 0.0 && cfg.alpha.is_finite(),
            "must be positive",
        )?;
        check("rho", cfg.rho > 0.0 && cfg.rho < 1.0, "must be in (0, 1)")?;
        check(
            "deposit",
            cfg.deposit > 0.0 && cfg.deposit.is_finite(),
            "must be positive",
        )?;
        let tau = nvec.iter().map(|&n| vec![1.0; n as usize]).collect();
        Ok(AntColony {
            cfg,
            tau,
            rng: rng(seed),
            best: None,
        })
    }
}

impl Agent for AntColony {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        (0..n)
            .map(|_| {
                self.tau
                    .iter()
                    .map(|t| {
                        let w: Vec<f64> = t.iter().map(|x| x.powf(self.cfg.alpha)).collect();
                        let total: f64 = w.iter().sum();
                        let mut u = self.rng.random::<f64>() * total;
                        for (i, x) in w.iter().enumerate() {
                            if u < *x {
                                return i as i64;
                            }
                            u -= x;
                        }
                        (w.len() - 1) as i64
                    })
                    .collect()
            })
            .collect()
    }

    fn tell(&mut self, obs: &[Observation]) {
        let batch_best = obs
            .iter()
            .filter(|o| o.cost.is_finite())
            .min_by(|a, b| a.cost.total_cmp(&b.cost));
        if let Some(b) = batch_best {
            if self.best.as_ref().is_none_or(|(_, c)| b.cost < *c) {
                self.best = Some((b.point.clone(), b.cost));
            }
        }
        for t in &mut self.tau {
            for x in t.iter_mut() {
                *x *= 1.0 - self.cfg.rho;
            }
        }
        let deposit = |p: &Point, amount: f64, tau: &mut Vec<Vec<f64>>| {
            for (d, &v) in p.iter().enumerate() {
                tau[d][v as usize] += amount;
            }
        };
        if let Some(b) = batch_best {
            deposit(&b.point, self.cfg.deposit * 0.5, &mut self.tau);
        }
        if let Some((p, _)) = &self.best {
            deposit(p, self.cfg.deposit, &mut self.tau);
        }
        for t in &mut self.tau {
            for x in t.iter_mut() {
                *x = x.clamp(TAU_MIN, TAU_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::successes;
    use crate::AgentConfig;

    #[test]
    fn finds_the_bowl_minimum_for_most_seeds() {
        let s = successes(&AgentConfig::Aco(Default::default()), 400, 10);
        assert!(s >= 8, "{s}/10");
    }
}

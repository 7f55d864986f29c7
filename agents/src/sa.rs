//! Simulated annealing over a discrete space (Kirkpatrick, Gelatt & Vecchi, Science 1983,
//! doi:10.1126/science.220.4598.671).
//!
//! A neighbor changes one parameter: an ordered one moves by ±1..±`step` indices, a categorical
//! one takes any other value. A worse neighbor is accepted with probability
//! `exp(−Δ / (T·|c|))` (Δ relative to the current cost `c`, so `t0` needs no scale), and `T`
//! decays geometrically per evaluation. A batch of `n` asks is `n` neighbors of the current
//! state; the best accepted one becomes the new state.
//!
//! argmin's `SimulatedAnnealing` owns its iteration loop; archsim's agents must let the caller
//! own it (ask/tell, parallel batches), so the Metropolis rule is written here directly.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{check, random_point, rng, Agent, AgentError, Observation, Point};

fn t0() -> f64 {
    0.2
}
fn cooling() -> f64 {
    0.97
}
fn step() -> i64 {
    2
}

/// Hyperparameters of simulated annealing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaConfig {
    /// Initial temperature, relative to the current cost (default 0.2).
    #[serde(default = "t0")]
    pub t0: f64,
    /// Geometric cooling per evaluation (default 0.97).
    #[serde(default = "cooling")]
    pub cooling: f64,
    /// Largest move of an ordered parameter, in indices (default 2).
    #[serde(default = "step")]
    pub step: i64,
}

impl Default for SaConfig {
    fn default() -> Self {
        SaConfig {
            t0: t0(),
            cooling: cooling(),
            step: step(),
        }
    }
}

/// The annealer.
#[derive(Debug, Clone)]
pub struct Annealing {
    cfg: SaConfig,
    nvec: Vec<u64>,
    categorical: Vec<bool>,
    rng: ChaCha8Rng,
    state: Option<(Point, f64)>,
    best: Option<(Point, f64)>,
    temperature: f64,
}

impl Annealing {
    /// A seeded annealer.
    pub fn new(
        cfg: SaConfig,
        nvec: Vec<u64>,
        categorical: Vec<bool>,
        seed: u64,
    ) -> Result<Self, AgentError> {
        check("t0", cfg.t0 > 0.0 && cfg.t0.is_finite(), "must be positive")?;
        check(
            "cooling",
            cfg.cooling > 0.0 && cfg.cooling < 1.0,
            "must be in (0, 1)",
        )?;
        check("step", cfg.step >= 1, "must be at least 1")?;
        Ok(Annealing {
            temperature: cfg.t0,
            cfg,
            nvec,
            categorical,
            rng: rng(seed),
            state: None,
            best: None,
        })
    }

    fn neighbor(&mut self, p: &Point) -> Point {
        let mut q = p.clone();
        let movable: Vec<usize> = (0..q.len()).filter(|&d| self.nvec[d] > 1).collect();
        if movable.is_empty() {
            return q;
        }
        let d = movable[self.rng.random_range(0..movable.len())];
        let n = self.nvec[d] as i64;
        if self.categorical.get(d).copied().unwrap_or(false) {
            let shift = self.rng.random_range(1..n);
            q[d] = (q[d] + shift) % n;
        } else {
            let mut delta = 0;
            while delta == 0 {
                delta = self.rng.random_range(-self.cfg.step..=self.cfg.step);
            }
            q[d] = (q[d] + delta).clamp(0, n - 1);
            if q[d] == p[d] {
                q[d] = (p[d] - delta.signum()).clamp(0, n - 1);
            }
        }
        q
    }
}

impl Agent for Annealing {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        match self.state.clone() {
            None => (0..n)
                .map(|_| random_point(&mut self.rng, &self.nvec))
                .collect(),
            Some((p, _)) => (0..n).map(|_| self.neighbor(&p)).collect(),
        }
    }

    fn tell(&mut self, obs: &[Observation]) {
        for o in obs {
            if self.best.as_ref().is_none_or(|(_, c)| o.cost < *c) {
                self.best = Some((o.point.clone(), o.cost));
            }
            let accept = match &self.state {
                None => true,
                Some((_, c)) if o.cost <= *c => true,
                Some((_, c)) if !o.cost.is_finite() || !c.is_finite() => !c.is_finite(),
                Some((_, c)) => {
                    let delta = (o.cost - c) / c.abs().max(f64::MIN_POSITIVE);
                    self.rng.random::<f64>() < (-delta / self.temperature).exp()
                }
            };
            if accept {
                self.state = Some((o.point.clone(), o.cost));
            }
            self.temperature *= self.cfg.cooling;
        }
        // Restart from the best point when the walk has drifted far from it.
        if let (Some((_, c)), Some((bp, bc))) = (&self.state, &self.best) {
            if *c > 2.0 * bc.abs() + f64::MIN_POSITIVE && self.rng.random::<f64>() < 0.1 {
                self.state = Some((bp.clone(), *bc));
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
        let s = successes(&AgentConfig::Sa(Default::default()), 400, 10);
        assert!(s >= 8, "{s}/10");
    }
}

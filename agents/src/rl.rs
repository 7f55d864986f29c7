//! Policy-gradient agents: REINFORCE (Williams, Machine Learning 1992,
//! doi:10.1007/BF00992696) with one categorical head per parameter, and its multi-agent form
//! where each agent owns some parameters and all learn from the shared (team) reward, as in
//! multi-agent RL for design-space exploration (Krishnan et al., "Multi-Agent Reinforcement
//! Learning for Microprocessor Design Space Exploration", arXiv:2211.16385).
//!
//! The policy is a table of logits (the design episode has no state beyond the choice itself).
//! After each batch, advantages are the batch's costs standardized (lower cost, higher
//! advantage; infeasible points get the worst advantage) and every head moves by
//! `lr · advantage · (onehot − softmax)`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{check, rng, Agent, AgentError, Observation, Point};

fn lr() -> f64 {
    1.0
}

/// Hyperparameters of REINFORCE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RlConfig {
    /// Learning rate on the logits (default 1.0).
    #[serde(default = "lr")]
    pub lr: f64,
}

impl Default for RlConfig {
    fn default() -> Self {
        RlConfig { lr: lr() }
    }
}

/// Hyperparameters of multi-agent REINFORCE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarlConfig {
    /// Learning rate (default 1.0).
    #[serde(default = "lr")]
    pub lr: f64,
    /// Parameter indices owned by each agent (default: one agent per parameter). The search
    /// config may give them as groups of config paths instead (`groups:`), resolved before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<usize>>,
}

impl Default for MarlConfig {
    fn default() -> Self {
        MarlConfig {
            lr: lr(),
            groups: Vec::new(),
        }
    }
}

/// Categorical heads for some parameters.
#[derive(Debug, Clone)]
struct Policy {
    dims: Vec<usize>,
    logits: Vec<Vec<f64>>,
}

impl Policy {
    fn sample(&self, rng: &mut ChaCha8Rng, p: &mut Point) {
        for (k, &d) in self.dims.iter().enumerate() {
            let probs = softmax(&self.logits[k]);
            let mut u = rng.random::<f64>();
            let mut pick = probs.len() - 1;
            for (i, q) in probs.iter().enumerate() {
                if u < *q {
                    pick = i;
                    break;
                }
                u -= q;
            }
            p[d] = pick as i64;
        }
    }

    fn update(&mut self, lr: f64, obs: &[Observation], adv: &[f64]) {
        for (k, &d) in self.dims.iter().enumerate() {
            let probs = softmax(&self.logits[k]);
            let mut grad = vec![0.0; probs.len()];
            for (o, a) in obs.iter().zip(adv) {
                let v = o.point[d] as usize;
                for (i, g) in grad.iter_mut().enumerate() {
                    *g += a * (f64::from(u8::from(i == v)) - probs[i]);
                }
            }
            for (l, g) in self.logits[k].iter_mut().zip(grad) {
                *l += lr * g / obs.len() as f64;
            }
        }
    }
}

fn softmax(l: &[f64]) -> Vec<f64> {
    let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = l.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Standardized advantages of a batch (lower cost is better; infeasible is worst).
fn advantages(obs: &[Observation]) -> Vec<f64> {
    let finite: Vec<f64> = obs
        .iter()
        .map(|o| o.cost)
        .filter(|c| c.is_finite())
        .collect();
    if finite.is_empty() {
        return vec![0.0; obs.len()];
    }
    let worst = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best = finite.iter().copied().fold(f64::INFINITY, f64::min);
    // Positive costs spanning decades compare better on a log scale; a maximized objective
    // is a negative cost (`-accuracy`), compared as it is (a logarithm of the clamped value
    // would make every design of the batch equal, and the policy would never move).
    let positive = best > 0.0;
    let x: Vec<f64> = obs
        .iter()
        .map(|o| match (o.cost.is_finite(), positive) {
            (true, true) => -o.cost.ln(),
            (false, true) => -(worst * 2.0 + 1.0).ln(),
            (true, false) => -o.cost,
            (false, false) => -(worst + (worst - best) + 1.0),
        })
        .collect();
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
    let sd = var.sqrt().max(1e-12);
    x.iter().map(|v| (v - mean) / sd).collect()
}

/// REINFORCE over every parameter (one agent).
#[derive(Debug, Clone)]
pub struct PolicyGradient {
    inner: MultiAgent,
}

impl PolicyGradient {
    /// A seeded REINFORCE agent.
    pub fn new(cfg: RlConfig, nvec: Vec<u64>, seed: u64) -> Result<Self, AgentError> {
        let all: Vec<usize> = (0..nvec.len()).collect();
        Ok(PolicyGradient {
            inner: MultiAgent::new(
                MarlConfig {
                    lr: cfg.lr,
                    groups: vec![all],
                },
                nvec,
                seed,
            )?,
        })
    }
}

impl Agent for PolicyGradient {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        self.inner.ask(n)
    }
    fn tell(&mut self, obs: &[Observation]) {
        self.inner.tell(obs)
    }
}

/// Several REINFORCE agents, each owning some parameters, sharing one reward.
#[derive(Debug, Clone)]
pub struct MultiAgent {
    lr: f64,
    nvec: Vec<u64>,
    agents: Vec<Policy>,
    rng: ChaCha8Rng,
}

impl MultiAgent {
    /// Seeded agents over `cfg.groups` (default: one per parameter).
    pub fn new(cfg: MarlConfig, nvec: Vec<u64>, seed: u64) -> Result<Self, AgentError> {
        check("lr", cfg.lr > 0.0 && cfg.lr.is_finite(), "must be positive")?;
        let groups = if cfg.groups.is_empty() {
            (0..nvec.len()).map(|d| vec![d]).collect()
        } else {
            cfg.groups
        };
        let mut owned = vec![false; nvec.len()];
        for g in &groups {
            for &d in g {
                check(
                    "groups",
                    d < nvec.len() && !owned[d],
                    "every parameter must be owned by exactly one agent",
                )?;
                owned[d] = true;
            }
        }
        check(
            "groups",
            owned.iter().all(|&o| o),
            "every parameter must be owned by exactly one agent",
        )?;
        let agents = groups
            .into_iter()
            .map(|dims| Policy {
                logits: dims.iter().map(|&d| vec![0.0; nvec[d] as usize]).collect(),
                dims,
            })
            .collect();
        Ok(MultiAgent {
            lr: cfg.lr,
            nvec,
            agents,
            rng: rng(seed),
        })
    }
}

impl Agent for MultiAgent {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        (0..n)
            .map(|_| {
                let mut p = vec![0i64; self.nvec.len()];
                for a in &self.agents {
                    a.sample(&mut self.rng, &mut p);
                }
                p
            })
            .collect()
    }

    fn tell(&mut self, obs: &[Observation]) {
        if obs.len() < 2 {
            return;
        }
        let adv = advantages(obs);
        for a in &mut self.agents {
            a.update(self.lr, obs, &adv);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::successes;
    use crate::{rl::MarlConfig, AgentConfig};

    /// A maximized objective arrives as a negative cost: the batch must still rank its
    /// designs (lower cost, higher advantage; infeasible last), as it does for positive costs.
    #[test]
    fn advantages_rank_negative_costs_too() {
        use crate::Observation;
        for costs in [
            [-92.0, -88.0, f64::INFINITY, -90.0],
            [1e-4, 5e-4, f64::INFINITY, 2e-4],
        ] {
            let obs: Vec<Observation> = costs
                .iter()
                .map(|&c| Observation::single(vec![0], c))
                .collect();
            let a = super::advantages(&obs);
            assert!(
                a[0] > a[3] && a[3] > a[1] && a[1] > a[2],
                "{costs:?}: {a:?}"
            );
        }
    }

    #[test]
    fn reinforce_finds_the_bowl_minimum_for_most_seeds() {
        let s = successes(&AgentConfig::Rl(Default::default()), 400, 10);
        assert!(s >= 8, "{s}/10");
    }

    #[test]
    fn marl_finds_the_bowl_minimum_for_most_seeds() {
        let cfg = AgentConfig::Marl(MarlConfig {
            lr: 1.0,
            groups: vec![vec![0, 1], vec![2, 3]],
        });
        let s = successes(&cfg, 400, 10);
        assert!(s >= 8, "{s}/10");
    }
}

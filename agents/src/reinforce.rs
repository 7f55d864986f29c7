//! REINFORCE with a linear softmax policy: a learned scheduler for the SoC environment.
//!
//! Williams, "Simple statistical gradient-following algorithms for connectionist reinforcement
//! learning", Machine Learning 8, 1992, doi:10.1007/BF00992696, with the variance reduction of
//! Decima (Mao et al., SIGCOMM 2019, doi:10.1145/3341302.3342080): every batch plays several
//! episodes on the *same* job sequence and noise, and the baseline of step `t` is the mean
//! return-to-go at step `t` across them (each step assigns one task, so step `t` lines up).
//!
//! The policy scores each feasible PE with one weight vector over that PE's features (the
//! per-PE block of [`SocEnv`]'s observation): `π(pe) ∝ exp(w · φ(pe))` over the action mask.
//! Sharing the weights across PEs makes the policy independent of the PE count and lets it
//! express list-scheduling rules (`w` on "earliest finish" alone is EFT).
//!
//! ```
//! use archsim_agents::reinforce::{Reinforce, ReinforceConfig};
//! use archsim_gym::{presets, SocEnv};
//!
//! let text = presets::SOC_WIFI.replace("count: 60", "count: 4");
//! let mut env = SocEnv::from_yaml(&text, std::path::Path::new(".")).unwrap();
//! let mut agent = Reinforce::new(ReinforceConfig { batches: 2, episodes_per_batch: 2, ..Default::default() });
//! let log = agent.train(&mut env).unwrap();
//! assert_eq!(log.len(), 2);
//! assert!(agent.evaluate(&mut env, &[100], true).unwrap() > 0.0);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use archsim_gym::soc_env::PE_FEATURES;
use archsim_gym::{Env, GymError, SocEnv};

/// Hyper-parameters of [`Reinforce`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReinforceConfig {
    /// Learning rate of the (Adam) updates.
    pub lr: f64,
    /// Episodes per batch, all on the same job sequence.
    pub episodes_per_batch: usize,
    /// Training batches.
    pub batches: usize,
    /// Seed of the agent's sampling and of the training job sequences.
    pub seed: u64,
    /// Entropy bonus weight.
    pub entropy: f64,
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig {
            lr: 0.05,
            episodes_per_batch: 4,
            batches: 40,
            seed: 0,
            entropy: 0.01,
        }
    }
}

/// One line of the training log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLog {
    /// Batch index.
    pub batch: usize,
    /// Mean over the batch's episodes of the average job latency, µs.
    pub avg_job_latency_us: f64,
}

/// The REINFORCE agent.
#[derive(Debug, Clone)]
pub struct Reinforce {
    /// Policy weights, one per per-PE feature.
    pub weights: Vec<f64>,
    cfg: ReinforceConfig,
    rng: ChaCha8Rng,
    adam_m: Vec<f64>,
    adam_v: Vec<f64>,
    adam_t: i32,
}

struct Trace {
    grads: Vec<Vec<f64>>,
    rewards: Vec<f64>,
    entropy_grad: Vec<f64>,
    latency_us: f64,
}

impl Reinforce {
    /// A fresh agent: zero weights (the uniform policy over feasible PEs).
    pub fn new(cfg: ReinforceConfig) -> Reinforce {
        let d = PE_FEATURES.len();
        Reinforce {
            weights: vec![0.0; d],
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            adam_m: vec![0.0; d],
            adam_v: vec![0.0; d],
            adam_t: 0,
        }
    }

    fn features<'a>(env: &SocEnv, obs: &'a [f64]) -> Vec<&'a [f64]> {
        let off = env.pe_features_offset();
        let d = PE_FEATURES.len();
        (0..env.num_pes())
            .map(|pe| &obs[off + pe * d..off + (pe + 1) * d])
            .collect()
    }

    fn probs(&self, feats: &[&[f64]], mask: &[bool]) -> Vec<f64> {
        let scores: Vec<f64> = feats
            .iter()
            .zip(mask)
            .map(|(f, &ok)| {
                if ok {
                    f.iter().zip(&self.weights).map(|(a, b)| a * b).sum()
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scores.iter().map(|&s| (s - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|x| x / z).collect()
    }

    /// Chooses a PE for the current observation: sampled, or the most probable when `greedy`
    /// (ties to the lowest index). Also returns ∇ log π(action) and ∇ entropy.
    fn act(&mut self, env: &SocEnv, obs: &[f64], greedy: bool) -> (usize, Vec<f64>, Vec<f64>) {
        let mask = env.action_mask();
        let feats = Reinforce::features(env, obs);
        let p = self.probs(&feats, &mask);
        let a = if greedy {
            let mut best = 0;
            for i in 0..p.len() {
                if p[i] > p[best] {
                    best = i;
                }
            }
            best
        } else {
            let u: f64 = self.rng.random();
            let mut acc = 0.0;
            let mut pick = p.iter().rposition(|&x| x > 0.0).unwrap_or(0);
            for (i, &x) in p.iter().enumerate() {
                acc += x;
                if u < acc && x > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        let d = self.weights.len();
        let mut mean = vec![0.0; d];
        for (f, &pi) in feats.iter().zip(&p) {
            for k in 0..d {
                mean[k] += pi * f[k];
            }
        }
        let grad: Vec<f64> = (0..d).map(|k| feats[a][k] - mean[k]).collect();
        // ∇_w H(π) = −Σ_i π_i log π_i (φ_i − φ̄).
        let mut gent = vec![0.0; d];
        for (f, &pi) in feats.iter().zip(&p) {
            if pi > 0.0 {
                for k in 0..d {
                    gent[k] -= pi * pi.ln() * (f[k] - mean[k]);
                }
            }
        }
        (a, grad, gent)
    }

    fn play(&mut self, env: &mut SocEnv, seed: u64, greedy: bool) -> Result<Trace, GymError> {
        let mut obs = env.reset(Some(seed));
        let mut grads = Vec::new();
        let mut rewards = Vec::new();
        let mut gent_sum = vec![0.0; self.weights.len()];
        loop {
            if env.action_mask().iter().all(|&m| !m) {
                break;
            }
            let (a, g, ge) = self.act(env, &obs, greedy);
            for (s, x) in gent_sum.iter_mut().zip(&ge) {
                *s += x;
            }
            let s = env.step(&a)?;
            grads.push(g);
            rewards.push(s.reward);
            obs = s.obs;
            if s.terminated {
                break;
            }
        }
        let latency_us = env.avg_job_latency_us().unwrap_or(f64::NAN);
        Ok(Trace {
            grads,
            rewards,
            entropy_grad: gent_sum,
            latency_us,
        })
    }

    /// Trains for `batches` batches; returns the log.
    pub fn train(&mut self, env: &mut SocEnv) -> Result<Vec<BatchLog>, GymError> {
        let mut log = Vec::with_capacity(self.cfg.batches);
        for b in 0..self.cfg.batches {
            let seed = self.cfg.seed.wrapping_mul(1_000_003).wrapping_add(b as u64);
            let mut traces = Vec::with_capacity(self.cfg.episodes_per_batch);
            let mut ent = vec![0.0; self.weights.len()];
            for _ in 0..self.cfg.episodes_per_batch {
                let t = self.play(env, seed, false)?;
                for (e, x) in ent.iter_mut().zip(&t.entropy_grad) {
                    *e += x;
                }
                traces.push(t);
            }
            // Returns-to-go and the time-based baseline across the batch.
            let rtg: Vec<Vec<f64>> = traces
                .iter()
                .map(|t| {
                    let mut g = vec![0.0; t.rewards.len()];
                    let mut acc = 0.0;
                    for i in (0..t.rewards.len()).rev() {
                        acc += t.rewards[i];
                        g[i] = acc;
                    }
                    g
                })
                .collect();
            let steps = rtg.iter().map(Vec::len).max().unwrap_or(0);
            let mut base = vec![0.0; steps];
            let mut cnt = vec![0usize; steps];
            for g in &rtg {
                for (i, &x) in g.iter().enumerate() {
                    base[i] += x;
                    cnt[i] += 1;
                }
            }
            for (b, c) in base.iter_mut().zip(&cnt) {
                *b /= (*c).max(1) as f64;
            }
            let mut adv: Vec<Vec<f64>> = rtg
                .iter()
                .map(|g| g.iter().enumerate().map(|(i, &x)| x - base[i]).collect())
                .collect();
            let all: Vec<f64> = adv.iter().flatten().copied().collect();
            let n = all.len().max(1) as f64;
            let sd = (all.iter().map(|x| x * x).sum::<f64>() / n)
                .sqrt()
                .max(1e-9);
            for a in &mut adv {
                for x in a.iter_mut() {
                    *x /= sd;
                }
            }
            let d = self.weights.len();
            let mut grad = vec![0.0; d];
            for (t, a) in traces.iter().zip(&adv) {
                for (g, &x) in t.grads.iter().zip(a) {
                    for k in 0..d {
                        grad[k] += x * g[k] / n;
                    }
                }
            }
            for k in 0..d {
                grad[k] += self.cfg.entropy * ent[k] / n;
            }
            self.adam_ascend(&grad);
            let mean = traces.iter().map(|t| t.latency_us).sum::<f64>() / traces.len() as f64;
            log.push(BatchLog {
                batch: b,
                avg_job_latency_us: mean,
            });
        }
        Ok(log)
    }

    fn adam_ascend(&mut self, grad: &[f64]) {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        self.adam_t += 1;
        let (c1, c2) = (1.0 - b1.powi(self.adam_t), 1.0 - b2.powi(self.adam_t));
        for (((w, m), v), &g) in self
            .weights
            .iter_mut()
            .zip(&mut self.adam_m)
            .zip(&mut self.adam_v)
            .zip(grad)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w += self.cfg.lr * (*m / c1) / ((*v / c2).sqrt() + eps);
        }
    }

    /// Mean over `seeds` of the average job latency (µs) of the policy, greedy or sampled; each
    /// seed plays the episode that [`SocEnv::scheduler_latency_us`]`(kind, seed, 0)` plays.
    pub fn evaluate(
        &mut self,
        env: &mut SocEnv,
        seeds: &[u64],
        greedy: bool,
    ) -> Result<f64, GymError> {
        let mut sum = 0.0;
        for &s in seeds {
            sum += self.play(env, s, greedy)?.latency_us;
        }
        Ok(sum / seeds.len().max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_accelerators::soc::Policy;
    use archsim_gym::presets;

    fn env() -> SocEnv {
        let text = presets::SOC_WIFI.replace("count: 60", "count: 30");
        SocEnv::from_yaml(&text, std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn training_is_seeded() {
        let cfg = ReinforceConfig {
            batches: 3,
            episodes_per_batch: 2,
            ..Default::default()
        };
        let (mut a, mut b) = (Reinforce::new(cfg.clone()), Reinforce::new(cfg));
        let mut e = env();
        assert_eq!(a.train(&mut e).unwrap(), b.train(&mut e).unwrap());
        assert_eq!(a.weights, b.weights);
    }

    /// DeepSoCS's claim on the WiFi mix under 30 % execution-time noise: the learned scheduler
    /// has a lower average job latency than HEFT on held-out job sequences.
    #[test]
    fn learned_scheduler_beats_heft_under_noise() {
        let mut e = env();
        let mut agent = Reinforce::new(ReinforceConfig {
            batches: 20,
            ..Default::default()
        });
        let log = agent.train(&mut e).unwrap();
        let held_out: Vec<u64> = (1000..1010).collect();
        let learned = agent.evaluate(&mut e, &held_out, true).unwrap();
        let mut heft = 0.0;
        let mut random = 0.0;
        for &s in &held_out {
            heft += e.scheduler_latency_us(Policy::Heft, s, 0).unwrap();
            random += e.scheduler_latency_us(Policy::Random, s, 0).unwrap();
        }
        let (heft, random) = (heft / 10.0, random / 10.0);
        assert!(
            learned < heft,
            "learned {learned:.1} µs vs HEFT {heft:.1} µs"
        );
        assert!(learned < random / 10.0);
        assert!(log.last().unwrap().avg_job_latency_us < log[0].avg_job_latency_us);
    }
}

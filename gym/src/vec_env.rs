//! N copies of one design-space environment stepped together: the vector environment behind
//! `gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`.
//!
//! One call steps every copy in parallel (rayon). Evaluating a design is a pure function of its
//! indices, so each call evaluates every distinct design of the batch once and keeps the result
//! for later calls, up to `cache_size` designs (the cache is emptied when full). The copies still
//! score, count and end their episodes one by one: a [`VecEnv`] step gives exactly what stepping
//! each copy alone gives, cache or not (only `info.point` is left empty). `cache_size = 0`
//! evaluates every environment's design afresh (what a benchmark of the simulation itself uses).
//!
//! ```
//! use archsim_gym::{presets, DseEnv, VecEnv};
//!
//! let env = DseEnv::from_yaml(presets::SYSTOLIC_GEMM, std::path::Path::new(".")).unwrap();
//! let mut venv = VecEnv::new(&env, 4, VecEnv::DEFAULT_CACHE).unwrap();
//! venv.reset(&[Some(0); 4]).unwrap();
//! let dims = env.space().nvec().len();
//! let steps = venv.step(&vec![vec![1; dims]; 4], &[false; 4]).unwrap();
//! assert_eq!(steps.len(), 4);
//! assert_eq!(venv.cache_len(), 1); // four copies, one design
//! ```

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::env::{DseEnv, Env, Evaluation, Step, StepInfo};
use crate::{GymError, METRICS};

/// Evaluations of designs by their indices, at most `cap` of them.
#[derive(Debug, Clone, Default)]
struct EvalCache {
    cap: usize,
    map: HashMap<Vec<i64>, Evaluation>,
}

/// N copies of one [`DseEnv`] stepped together in parallel, sharing a cache of evaluated
/// designs (see the module docs).
#[derive(Debug, Clone)]
pub struct VecEnv {
    envs: Vec<DseEnv>,
    cache: EvalCache,
}

impl VecEnv {
    /// The default number of designs a vector environment remembers (about 20 MB at most).
    pub const DEFAULT_CACHE: usize = 1 << 16;
    /// Most copies one vector environment holds.
    pub const MAX_ENVS: usize = 65_536;
    /// Most designs the cache may be asked to hold.
    pub const MAX_CACHE: usize = 1 << 24;

    /// `num_envs` copies of `env` (each starting where `env` stands), remembering up to
    /// `cache_size` evaluated designs. Either count out of range is an error naming it.
    pub fn new(env: &DseEnv, num_envs: usize, cache_size: usize) -> Result<VecEnv, GymError> {
        if num_envs == 0 || num_envs > Self::MAX_ENVS {
            return Err(GymError::InvalidConfig {
                key: "num_envs".into(),
                reason: format!("must be between 1 and {}, not {num_envs}", Self::MAX_ENVS),
            });
        }
        if cache_size > Self::MAX_CACHE {
            return Err(GymError::InvalidConfig {
                key: "cache_size".into(),
                reason: format!(
                    "must be at most {} designs, not {cache_size}",
                    Self::MAX_CACHE
                ),
            });
        }
        Ok(VecEnv {
            envs: vec![env.clone(); num_envs],
            cache: EvalCache {
                cap: cache_size,
                map: HashMap::new(),
            },
        })
    }

    /// The number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false: a vector environment has at least one copy.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The copies, in order.
    pub fn envs(&self) -> &[DseEnv] {
        &self.envs
    }

    /// Designs whose evaluation is kept.
    pub fn cache_len(&self) -> usize {
        self.cache.map.len()
    }

    /// Starts every episode (`seeds[i]` for copy i); returns the first observations. One seed
    /// (or `None`) per copy, else an error.
    pub fn reset(&mut self, seeds: &[Option<u64>]) -> Result<Vec<Vec<f64>>, GymError> {
        if seeds.len() != self.envs.len() {
            return Err(GymError::InvalidAction {
                reason: format!(
                    "one seed (or None) per environment ({}), got {}",
                    self.envs.len(),
                    seeds.len()
                ),
            });
        }
        Ok(self
            .envs
            .iter_mut()
            .zip(seeds)
            .map(|(e, &s)| e.reset(s))
            .collect())
    }

    /// One step of every copy in parallel: `actions[i]` for copy i, or a reset where
    /// `reset[i]` (gymnasium's next-step autoreset, for a copy whose episode ended on the
    /// previous step: reward 0, feasible, zero metrics, step 0). With a cache, each distinct
    /// design not yet known is evaluated once (in parallel) before the copies step. A
    /// malformed action is an error and no copy steps.
    pub fn step(&mut self, actions: &[Vec<i64>], reset: &[bool]) -> Result<Vec<Step>, GymError> {
        let n = self.envs.len();
        if actions.len() != n || reset.len() != n {
            return Err(GymError::InvalidAction {
                reason: format!("one action and one reset flag per environment ({n})"),
            });
        }
        // Every action is checked before any copy steps, so an error leaves them unchanged.
        let space = self.envs[0].problem().space();
        for (a, &r) in actions.iter().zip(reset) {
            if !r {
                space.check(a)?;
            }
        }
        let cache = &mut self.cache;
        let problem = self.envs[0].problem();
        let fresh: HashMap<&[i64], Evaluation> = if cache.cap == 0 {
            HashMap::new()
        } else {
            let mut todo: Vec<&[i64]> = Vec::new();
            let mut seen = HashSet::new();
            for (row, &r) in actions.iter().zip(reset) {
                if !r && !cache.map.contains_key(row) && seen.insert(row.as_slice()) {
                    todo.push(row);
                }
            }
            let evals = todo
                .par_iter()
                .map(|row| problem.evaluate(row))
                .collect::<Result<Vec<_>, _>>()?;
            todo.into_iter().zip(evals).collect()
        };
        let steps = {
            let known = &cache.map;
            let fresh = &fresh;
            self.envs
                .par_iter_mut()
                .zip(actions.par_iter())
                .zip(reset.par_iter())
                .map(|((e, a), &reset)| {
                    if reset {
                        let obs = e.reset(None);
                        return Ok(Step {
                            obs,
                            reward: 0.0,
                            terminated: false,
                            truncated: false,
                            info: StepInfo {
                                feasible: true,
                                reason: None,
                                metrics: vec![0.0; METRICS.len()],
                                point: Vec::new(),
                                step: 0,
                            },
                        });
                    }
                    let eval = match known.get(a).or_else(|| fresh.get(a.as_slice())) {
                        Some(ev) => ev.clone(),
                        None => e.problem().evaluate(a)?,
                    };
                    e.step_evaluated(a, eval)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        if cache.cap > 0 {
            if cache.map.len() + fresh.len() > cache.cap {
                cache.map.clear();
            }
            for (k, v) in fresh {
                if cache.map.len() < cache.cap {
                    cache.map.insert(k.to_vec(), v);
                }
            }
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;
    use rand::{Rng, SeedableRng};
    use std::path::Path;

    fn gemm() -> DseEnv {
        DseEnv::from_yaml(presets::SYSTOLIC_GEMM, Path::new(".")).unwrap()
    }

    /// `n` random designs of the environment's space.
    fn pool(env: &DseEnv, n: usize, seed: u64) -> Vec<Vec<i64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let nvec = env.space().nvec();
        (0..n)
            .map(|_| {
                nvec.iter()
                    .map(|&k| rng.random_range(0..k as i64))
                    .collect()
            })
            .collect()
    }

    /// Steps `venv` as gymnasium's next-step autoreset does: a copy whose episode ended on the
    /// previous step is reset.
    fn rollout(venv: &mut VecEnv, designs: &[Vec<i64>], steps: usize, seed: u64) -> Vec<Step> {
        let n = venv.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut done = vec![false; n];
        let mut out = Vec::new();
        venv.reset(&vec![Some(1); n]).unwrap();
        for _ in 0..steps {
            let actions: Vec<Vec<i64>> = (0..n)
                .map(|_| designs[rng.random_range(0..designs.len())].clone())
                .collect();
            let s = venv.step(&actions, &done).unwrap();
            done = s.iter().map(|s| s.terminated || s.truncated).collect();
            out.extend(s);
        }
        out
    }

    #[test]
    fn the_cache_changes_nothing_but_the_work() {
        let env = gemm();
        let designs = pool(&env, 20, 7); // few designs: many repeats
        let mut cached = VecEnv::new(&env, 16, VecEnv::DEFAULT_CACHE).unwrap();
        let mut fresh = VecEnv::new(&env, 16, 0).unwrap();
        let mut tiny = VecEnv::new(&env, 16, 5).unwrap();
        // Episodes of 64 steps: 80 steps cross an autoreset.
        let a = rollout(&mut cached, &designs, 80, 3);
        let b = rollout(&mut fresh, &designs, 80, 3);
        let c = rollout(&mut tiny, &designs, 80, 3);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(a.iter().any(|s| s.truncated), "no episode ended");
        assert!(cached.cache_len() > 0 && cached.cache_len() <= designs.len());
        assert_eq!(fresh.cache_len(), 0);
        assert!(tiny.cache_len() <= 5);
    }

    #[test]
    fn a_vector_step_is_each_copy_stepped_alone() {
        let env = gemm();
        let designs = pool(&env, 6, 11);
        let mut venv = VecEnv::new(&env, designs.len(), VecEnv::DEFAULT_CACHE).unwrap();
        let mut alone: Vec<DseEnv> = vec![env.clone(); designs.len()];
        venv.reset(&vec![None; designs.len()]).unwrap();
        for e in &mut alone {
            e.reset(None);
        }
        for t in 0..3 {
            let actions: Vec<Vec<i64>> = (0..designs.len())
                .map(|i| designs[(i + t) % designs.len()].clone())
                .collect();
            let got = venv.step(&actions, &vec![false; designs.len()]).unwrap();
            for ((e, a), g) in alone.iter_mut().zip(&actions).zip(&got) {
                let mut want = e.step(a).unwrap();
                // The vector environment does not return the decoded point.
                want.info.point.clear();
                assert_eq!(&want, g);
            }
        }
    }

    #[test]
    fn a_reset_flag_resets_that_copy_only() {
        let env = gemm();
        let a = pool(&env, 1, 2).remove(0);
        let mut venv = VecEnv::new(&env, 2, 0).unwrap();
        venv.reset(&[None, None]).unwrap();
        venv.step(&[a.clone(), a.clone()], &[false, false]).unwrap();
        // The reset copy's action is ignored, even a malformed one.
        let s = venv.step(&[vec![-1], a.clone()], &[true, false]).unwrap();
        assert_eq!(s[0].reward, 0.0);
        assert!(s[0].info.feasible);
        assert_eq!(s[0].info.step, 0);
        assert_eq!(s[0].info.metrics, vec![0.0; METRICS.len()]);
        assert_eq!(s[1].info.step, 2);
        let s = venv.step(&[a.clone(), a], &[false, false]).unwrap();
        assert_eq!((s[0].info.step, s[1].info.step), (1, 3));
    }

    #[test]
    fn malformed_batches_are_refused_and_change_nothing() {
        let env = gemm();
        let a = pool(&env, 1, 5).remove(0);
        let mut venv = VecEnv::new(&env, 2, VecEnv::DEFAULT_CACHE).unwrap();
        venv.reset(&[None, None]).unwrap();
        let err = venv.step(std::slice::from_ref(&a), &[false, false]);
        assert!(
            matches!(err, Err(GymError::InvalidAction { ref reason }) if reason.contains("per environment (2)")),
            "{err:?}"
        );
        // One action out of its range: no copy steps, nothing is cached.
        let mut out_of_range = a.clone();
        out_of_range[0] = 1_000_000;
        let err = venv.step(&[a.clone(), out_of_range], &[false, false]);
        assert!(
            matches!(err, Err(GymError::InvalidAction { .. })),
            "{err:?}"
        );
        assert_eq!(venv.cache_len(), 0);
        let s = venv.step(&[a.clone(), a], &[false, false]).unwrap();
        assert_eq!((s[0].info.step, s[1].info.step), (1, 1));
        assert!(venv.reset(&[None]).is_err());
    }

    #[test]
    fn sizes_out_of_range_name_their_key() {
        let env = gemm();
        for (n, cache, want) in [
            (0, 0, "num_envs: must be between 1 and 65536, not 0"),
            (
                65_537,
                0,
                "num_envs: must be between 1 and 65536, not 65537",
            ),
            (
                1,
                (1 << 24) + 1,
                "cache_size: must be at most 16777216 designs, not 16777217",
            ),
        ] {
            let err = VecEnv::new(&env, n, cache).unwrap_err();
            assert!(matches!(err, GymError::InvalidConfig { .. }));
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(VecEnv::new(&env, 3, 0).unwrap().len(), 3);
    }
}

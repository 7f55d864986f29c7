//! Uniform random search.

use rand_chacha::ChaCha8Rng;

use crate::{random_point, rng, Agent, Observation, Point};

/// Samples every parameter uniformly and independently.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    nvec: Vec<u64>,
    rng: ChaCha8Rng,
}

impl RandomSearch {
    /// A random search seeded with `seed`.
    pub fn new(nvec: Vec<u64>, seed: u64) -> Self {
        RandomSearch {
            nvec,
            rng: rng(seed),
        }
    }
}

impl Agent for RandomSearch {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        (0..n)
            .map(|_| random_point(&mut self.rng, &self.nvec))
            .collect()
    }

    fn tell(&mut self, _obs: &[Observation]) {}
}

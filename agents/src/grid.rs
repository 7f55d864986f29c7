//! Full-factorial grid search.
//!
//! The grid's `N` points (mixed-radix indices) are visited in the order `(offset + k·stride)
//! mod N` with a stride coprime to `N`: every point exactly once in `N` evaluations, and a
//! spread-out subset when the budget is smaller. `offset` and `stride` come from the seed.

use rand::Rng;

use crate::{rng, Agent, Observation, Point};

/// Enumerates the grid.
#[derive(Debug, Clone)]
pub struct GridSearch {
    nvec: Vec<u64>,
    size: u128,
    offset: u128,
    stride: u128,
    k: u128,
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl GridSearch {
    /// A grid walk seeded with `seed`.
    pub fn new(nvec: Vec<u64>, seed: u64) -> Self {
        let size = nvec
            .iter()
            .fold(1u128, |a, &n| a.saturating_mul(u128::from(n)))
            .max(1);
        let mut r = rng(seed);
        let offset = u128::from(r.random::<u64>()) % size;
        // A stride near size / golden ratio, nudged until coprime with the size.
        let mut stride = ((size as f64 / 1.618_033_988_75) as u128).max(1);
        while gcd(stride, size) != 1 {
            stride += 1;
        }
        GridSearch {
            nvec,
            size,
            offset,
            stride,
            k: 0,
        }
    }

    fn point(&self, mut idx: u128) -> Point {
        let mut p = vec![0i64; self.nvec.len()];
        for (d, &n) in self.nvec.iter().enumerate().rev() {
            p[d] = (idx % u128::from(n)) as i64;
            idx /= u128::from(n);
        }
        p
    }
}

impl Agent for GridSearch {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        (0..n)
            .map(|_| {
                let idx = (self.offset + (self.k % self.size) * self.stride) % self.size;
                self.k += 1;
                self.point(idx)
            })
            .collect()
    }

    fn tell(&mut self, _obs: &[Observation]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_point_once() {
        let mut g = GridSearch::new(vec![3, 4, 5], 9);
        let mut pts = g.ask(60);
        pts.sort();
        pts.dedup();
        assert_eq!(pts.len(), 60);
    }
}

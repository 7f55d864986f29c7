//! Genetic algorithm and NSGA-II (Deb, Pratap, Agarwal & Meyarivan, IEEE TEVC 2002,
//! doi:10.1109/4235.996017).
//!
//! A (μ+λ) generational scheme: parents are picked by binary tournament, children by crossover
//! and per-gene mutation, and the best `population` of parents and children survive. The
//! single-objective GA ranks by cost; NSGA-II ranks by non-dominated front, then crowding
//! distance, over the oriented objectives (infeasible points rank last).
//!
//! Genes are positions in their domains. With `operators: sbx` (the default) an ordered gene
//! (int, pow2, ordinal, float bins) recombines by simulated binary crossover and mutates by
//! polynomial mutation on its position (Deb & Agrawal, Complex Systems 9, 1995; Deb & Goyal,
//! 1996), rounded to the nearest position: children land near their parents, as the
//! neighbourhood of an ordered value means something. A categorical gene (`choice`) has no
//! neighbourhood: it takes either parent's value and mutates to a uniformly drawn one.
//! `operators: uniform` treats every gene as categorical.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{check, random_point, rng, Agent, AgentError, Observation, Point};

fn population() -> usize {
    16
}

/// The largest `population`. NSGA-II sorts parents and children into fronts by comparing every
/// pair (time and, in the worst case, memory quadratic in the population), so a population is
/// bounded; published NSGA-II runs use 100 to 1,000.
pub const MAX_POPULATION: usize = 10_000;
fn crossover() -> f64 {
    0.9
}

fn eta_c() -> f64 {
    15.0
}
fn eta_m() -> f64 {
    20.0
}

/// How the GA recombines and mutates genes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Operators {
    /// Simulated binary crossover and polynomial mutation on ordered genes' positions; uniform
    /// crossover and reset mutation on categorical ones.
    #[default]
    Sbx,
    /// Uniform crossover and reset mutation on every gene.
    Uniform,
}

/// Hyperparameters of the GA and NSGA-II.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GaConfig {
    /// Survivors per generation (default 16).
    #[serde(default = "population")]
    pub population: usize,
    /// Probability of crossover (default 0.9).
    #[serde(default = "crossover")]
    pub crossover: f64,
    /// Probability of mutating each gene (default 1 / parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<f64>,
    /// Gene operators (default `sbx`).
    #[serde(default)]
    pub operators: Operators,
    /// Distribution index of simulated binary crossover (default 15; larger keeps children
    /// nearer their parents).
    #[serde(default = "eta_c")]
    pub eta_c: f64,
    /// Distribution index of polynomial mutation (default 20).
    #[serde(default = "eta_m")]
    pub eta_m: f64,
}

impl Default for GaConfig {
    fn default() -> Self {
        GaConfig {
            population: population(),
            crossover: crossover(),
            mutation: None,
            operators: Operators::default(),
            eta_c: eta_c(),
            eta_m: eta_m(),
        }
    }
}

/// The GA (or NSGA-II when `multi`).
#[derive(Debug, Clone)]
pub struct Genetic {
    cfg: GaConfig,
    nvec: Vec<u64>,
    /// Genes recombined as categories (no order between their values).
    categorical: Vec<bool>,
    multi: bool,
    rng: ChaCha8Rng,
    pop: Vec<Observation>,
    /// Rank and crowding of each member of `pop` (NSGA-II), or cost rank (GA).
    fitness: Vec<(usize, f64)>,
}

impl Genetic {
    /// A seeded GA (`multi = false`) or NSGA-II (`multi = true`).
    pub fn new(cfg: GaConfig, nvec: Vec<u64>, multi: bool, seed: u64) -> Result<Self, AgentError> {
        let categorical = vec![false; nvec.len()];
        Self::with_categories(cfg, nvec, categorical, multi, seed)
    }

    /// Like [`Genetic::new`], with `categorical[i]` marking genes whose values have no order.
    pub fn with_categories(
        cfg: GaConfig,
        nvec: Vec<u64>,
        categorical: Vec<bool>,
        multi: bool,
        seed: u64,
    ) -> Result<Self, AgentError> {
        for (k, v) in [("eta_c", cfg.eta_c), ("eta_m", cfg.eta_m)] {
            check(
                k,
                v.is_finite() && (0.0..=1000.0).contains(&v),
                "must be in [0, 1000]",
            )?;
        }
        let categorical = match cfg.operators {
            Operators::Sbx => categorical,
            Operators::Uniform => vec![true; nvec.len()],
        };
        check("population", cfg.population >= 2, "must be at least 2")?;
        check(
            "population",
            cfg.population <= MAX_POPULATION,
            &format!("must be at most {MAX_POPULATION} (MAX_POPULATION)"),
        )?;
        check(
            "crossover",
            (0.0..=1.0).contains(&cfg.crossover),
            "must be in [0, 1]",
        )?;
        check(
            "mutation",
            cfg.mutation.is_none_or(|m| (0.0..=1.0).contains(&m)),
            "must be in [0, 1]",
        )?;
        Ok(Genetic {
            cfg,
            nvec,
            categorical,
            multi,
            rng: rng(seed),
            pop: Vec::new(),
            fitness: Vec::new(),
        })
    }

    fn better(&self, a: usize, b: usize) -> bool {
        let (ra, ca) = self.fitness[a];
        let (rb, cb) = self.fitness[b];
        ra < rb || (ra == rb && ca > cb)
    }

    fn tournament(&mut self) -> usize {
        let a = self.rng.random_range(0..self.pop.len());
        let b = self.rng.random_range(0..self.pop.len());
        if self.better(a, b) {
            a
        } else {
            b
        }
    }

    fn child(&mut self) -> Point {
        let pa = self.tournament();
        let pb = self.tournament();
        let (a, b) = (self.pop[pa].point.clone(), self.pop[pb].point.clone());
        let mut c = if self.rng.random::<f64>() < self.cfg.crossover {
            (0..a.len())
                .map(|d| {
                    let top = self.nvec[d].saturating_sub(1) as f64;
                    if self.categorical[d] || top < 1.0 || a[d] == b[d] {
                        if self.rng.random::<bool>() {
                            a[d]
                        } else {
                            b[d]
                        }
                    } else if self.rng.random::<bool>() {
                        // Half the ordered genes recombine (the usual per-variable SBX rate).
                        let u = self.rng.random::<f64>();
                        let first = self.rng.random::<bool>();
                        let x = sbx(a[d] as f64, b[d] as f64, top, self.cfg.eta_c, u, first);
                        x.round().clamp(0.0, top) as i64
                    } else if self.rng.random::<bool>() {
                        a[d]
                    } else {
                        b[d]
                    }
                })
                .collect()
        } else {
            a
        };
        let pm = self
            .cfg
            .mutation
            .unwrap_or(1.0 / self.nvec.len().max(1) as f64);
        for (d, g) in c.iter_mut().enumerate() {
            if self.rng.random::<f64>() >= pm {
                continue;
            }
            let top = self.nvec[d].saturating_sub(1) as f64;
            if self.categorical[d] || top < 1.0 {
                *g = self.rng.random_range(0..self.nvec[d]) as i64;
            } else {
                let u = self.rng.random::<f64>();
                let y = polynomial_mutation(*g as f64, top, self.cfg.eta_m, u);
                let mut m = y.round().clamp(0.0, top) as i64;
                // A mutation that rounds back to the same position moves one step its way.
                if m == *g {
                    m = if y >= *g as f64 { *g + 1 } else { *g - 1 };
                    if m < 0 || m as f64 > top {
                        m = 2 * *g - m;
                    }
                }
                *g = m.clamp(0, top as i64);
            }
        }
        c
    }
}

/// One child of simulated binary crossover (bounded form) of parents `x1`, `x2` in `[0, top]`:
/// `u` uniform in [0, 1), `first` picks which of the two children.
fn sbx(x1: f64, x2: f64, top: f64, eta: f64, u: f64, first: bool) -> f64 {
    let (y1, y2) = if x1 < x2 { (x1, x2) } else { (x2, x1) };
    let span = y2 - y1;
    if span < 1e-12 {
        return x1;
    }
    let betaq = |beta: f64| {
        let alpha = 2.0 - beta.powf(-(eta + 1.0));
        if u <= 1.0 / alpha {
            (u * alpha).powf(1.0 / (eta + 1.0))
        } else {
            (1.0 / (2.0 - u * alpha)).powf(1.0 / (eta + 1.0))
        }
    };
    if first {
        0.5 * ((y1 + y2) - betaq(1.0 + 2.0 * y1 / span) * span)
    } else {
        0.5 * ((y1 + y2) + betaq(1.0 + 2.0 * (top - y2) / span) * span)
    }
}

/// Polynomial mutation (bounded form) of `y` in `[0, top]`, `u` uniform in [0, 1).
fn polynomial_mutation(y: f64, top: f64, eta: f64, u: f64) -> f64 {
    let (d1, d2) = (y / top, (top - y) / top);
    let p = 1.0 / (eta + 1.0);
    let dq = if u < 0.5 {
        let v = 2.0 * u + (1.0 - 2.0 * u) * (1.0 - d1).powf(eta + 1.0);
        v.powf(p) - 1.0
    } else {
        let v = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * (1.0 - d2).powf(eta + 1.0);
        1.0 - v.powf(p)
    };
    y + dq * top
}

impl Genetic {}

/// Non-dominated fronts of `objs` (indices, best front first); infeasible points form the last
/// front, ordered by nothing.
pub fn fronts(objs: &[Vec<f64>], feasible: &[bool]) -> Vec<Vec<usize>> {
    let n = objs.len();
    let idx: Vec<usize> = (0..n).filter(|&i| feasible[i]).collect();
    let mut dominated_by: Vec<usize> = vec![0; n];
    let mut dominates: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &i in &idx {
        for &j in &idx {
            if i != j && archsim_gym::objective::dominates(&objs[i], &objs[j]) {
                dominates[i].push(j);
                dominated_by[j] += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut current: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| dominated_by[i] == 0)
        .collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominates[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        out.push(std::mem::replace(&mut current, next));
    }
    let infeasible: Vec<usize> = (0..n).filter(|&i| !feasible[i]).collect();
    if !infeasible.is_empty() {
        out.push(infeasible);
    }
    out
}

/// Crowding distance of each member of one front.
#[allow(clippy::needless_range_loop)] // `k` indexes the objective inside each point, not `objs`
pub fn crowding(objs: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let mut dist = vec![0.0; front.len()];
    let m = front.first().map_or(0, |&i| objs[i].len());
    for k in 0..m {
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|&a, &b| {
            objs[front[a]][k]
                .total_cmp(&objs[front[b]][k])
                .then(a.cmp(&b))
        });
        let (lo, hi) = (
            objs[front[order[0]]][k],
            objs[front[*order.last().expect("non-empty")]][k],
        );
        dist[order[0]] = f64::INFINITY;
        dist[*order.last().expect("non-empty")] = f64::INFINITY;
        let span = hi - lo;
        if span > 0.0 {
            for w in 1..order.len().saturating_sub(1) {
                dist[order[w]] +=
                    (objs[front[order[w + 1]]][k] - objs[front[order[w - 1]]][k]) / span;
            }
        }
    }
    dist
}

impl Agent for Genetic {
    fn ask(&mut self, n: usize) -> Vec<Point> {
        if self.pop.len() < 2 {
            return (0..n)
                .map(|_| random_point(&mut self.rng, &self.nvec))
                .collect();
        }
        (0..n).map(|_| self.child()).collect()
    }

    fn tell(&mut self, obs: &[Observation]) {
        self.pop.extend(obs.iter().cloned());
        // Drop duplicate points, keeping the first evaluation.
        let mut seen = std::collections::BTreeSet::new();
        self.pop.retain(|o| seen.insert(o.point.clone()));
        let n = self.pop.len();
        let mut fitness = vec![(usize::MAX, 0.0); n];
        if self.multi {
            let objs: Vec<Vec<f64>> = self.pop.iter().map(|o| o.objectives.clone()).collect();
            let feas: Vec<bool> = self.pop.iter().map(|o| o.feasible).collect();
            for (r, f) in fronts(&objs, &feas).iter().enumerate() {
                let cd = if feas[f[0]] {
                    crowding(&objs, f)
                } else {
                    vec![0.0; f.len()]
                };
                for (k, &i) in f.iter().enumerate() {
                    fitness[i] = (r, cd[k]);
                }
            }
        } else {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| {
                self.pop[a]
                    .cost
                    .total_cmp(&self.pop[b].cost)
                    .then(a.cmp(&b))
            });
            for (r, &i) in order.iter().enumerate() {
                fitness[i] = (r, 0.0);
            }
        }
        let mut keep: Vec<usize> = (0..n).collect();
        keep.sort_by(|&a, &b| {
            fitness[a]
                .0
                .cmp(&fitness[b].0)
                .then(fitness[b].1.total_cmp(&fitness[a].1))
                .then(a.cmp(&b))
        });
        keep.truncate(self.cfg.population);
        keep.sort_unstable();
        self.pop = keep.iter().map(|&i| self.pop[i].clone()).collect();
        self.fitness = keep.iter().map(|&i| fitness[i]).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::successes;
    use crate::AgentConfig;

    #[test]
    fn ga_finds_the_bowl_minimum_for_most_seeds() {
        let s = successes(&AgentConfig::Ga(Default::default()), 400, 10);
        assert!(s >= 8, "{s}/10");
    }

    #[test]
    fn nsga2_recovers_a_known_pareto_front() {
        // Two objectives over x in 0..16, y in 0..16: f1 = x, f2 = (15 − x) + y.
        // The Pareto front is y = 0 for every x: 16 points.
        let mut a = Genetic::new(
            GaConfig {
                population: 24,
                ..Default::default()
            },
            vec![16, 16],
            true,
            3,
        )
        .unwrap();
        let mut all = Vec::new();
        for _ in 0..40 {
            let obs: Vec<Observation> = a
                .ask(8)
                .into_iter()
                .map(|p| {
                    let o = vec![p[0] as f64, (15 - p[0] + p[1]) as f64];
                    Observation {
                        point: p,
                        cost: o[0] + o[1],
                        objectives: o,
                        feasible: true,
                    }
                })
                .collect();
            all.extend(obs.iter().cloned());
            a.tell(&obs);
        }
        let objs: Vec<Vec<f64>> = all.iter().map(|o| o.objectives.clone()).collect();
        let front = &fronts(&objs, &vec![true; objs.len()])[0];
        let mut xs: Vec<i64> = front
            .iter()
            .filter(|&&i| all[i].point[1] == 0)
            .map(|&i| all[i].point[0])
            .collect();
        xs.sort_unstable();
        xs.dedup();
        assert!(xs.len() >= 14, "found {} of the 16 front points", xs.len());
        assert!(
            front.iter().all(|&i| all[i].point[1] == 0),
            "every non-dominated point has y = 0"
        );
    }

    #[test]
    fn sbx_children_stay_in_bounds_and_near_their_parents() {
        let mut r = crate::rng(1);
        let mut near = 0;
        for _ in 0..2000 {
            let u = r.random::<f64>();
            let c = sbx(10.0, 14.0, 31.0, 15.0, u, r.random::<bool>());
            assert!((0.0..=31.0).contains(&c), "{c}");
            near += usize::from((8.0..=16.0).contains(&c));
            let m = polynomial_mutation(0.0, 31.0, 20.0, u);
            assert!((0.0..=31.0).contains(&m), "{m}");
        }
        assert!(
            near > 1800,
            "{near} of 2000 children within two steps of the parents"
        );
    }

    #[test]
    fn categorical_genes_keep_a_parents_value_or_a_uniform_draw() {
        let mut g = Genetic::with_categories(
            GaConfig {
                mutation: Some(0.0),
                ..Default::default()
            },
            vec![8, 8],
            vec![true, false],
            false,
            0,
        )
        .unwrap();
        let obs = |p: Point, c: f64| Observation {
            point: p,
            cost: c,
            objectives: vec![c],
            feasible: true,
        };
        g.tell(&[obs(vec![1, 2], 1.0), obs(vec![6, 5], 2.0)]);
        for p in g.ask(200) {
            assert!(p[0] == 1 || p[0] == 6, "categorical gene {p:?}");
            assert!((0..8).contains(&p[1]));
        }
    }

    #[test]
    fn fronts_and_crowding() {
        let objs = vec![
            vec![1.0, 3.0],
            vec![2.0, 2.0],
            vec![3.0, 1.0],
            vec![3.0, 3.0],
        ];
        let f = fronts(&objs, &[true; 4]);
        assert_eq!(f, vec![vec![0, 1, 2], vec![3]]);
        let c = crowding(&objs, &f[0]);
        assert!(c[0].is_infinite() && c[2].is_infinite() && (c[1] - 2.0).abs() < 1e-12);
    }
}

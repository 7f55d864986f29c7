//! The list schedulers, each a small type behind [`Scheduler`].
//!
//! * MET, EFT, ETF: the dynamic list schedulers of DS3 (Arda et al. 2020, §5.1), deciding for
//!   ready tasks only, from the estimated state of every PE.
//! * HEFT: Topcuoglu, Hariri and Wu, "Performance-Effective and Low-Complexity Task Scheduling
//!   for Heterogeneous Computing", IEEE TPDS 13(3), 2002, doi:10.1109/71.993206 — tasks by
//!   decreasing upward rank over mean costs, each to the PE that finishes it earliest, inserted
//!   into an idle slot when one fits. Online, it plans each job when it arrives, around the work
//!   already planned.
//! * Round-robin and random: baselines.
//!
//! Ties go to the lower-index task, then the lower-index PE.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Policy, SocSim};
use crate::AccelError;

/// A scheduling policy, called at every scheduling point of a [`SocSim`] (jobs arrived or
/// tasks ready). It assigns tasks with [`SocSim::assign`]; ready tasks it leaves alone are
/// offered again at the next point.
pub trait Scheduler {
    /// Config name (`heft`, …).
    fn name(&self) -> &'static str;
    /// Makes the decisions of the current scheduling point.
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError>;
}

/// The scheduler named by `kind`; `seed` feeds the random one.
pub fn scheduler(kind: Policy, seed: u64) -> Box<dyn Scheduler + Send> {
    match kind {
        Policy::Met => Box::new(Met),
        Policy::Eft => Box::new(Eft),
        Policy::Etf => Box::new(Etf),
        Policy::Heft => Box::new(Heft),
        Policy::RoundRobin => Box::new(RoundRobin::default()),
        Policy::Random => Box::new(RandomSched::new(seed)),
    }
}

/// Minimum execution time: the PE where the task runs fastest (the least loaded one among
/// equals).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Met;

impl Scheduler for Met {
    fn name(&self) -> &'static str {
        "met"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        for t in sim.ready().to_vec() {
            let mut best: Option<(u64, u64, usize)> = None;
            for pe in 0..sim.num_pes() {
                if let Some(w) = sim.exec(t, pe) {
                    let cand = (w, sim.pe_available(pe), pe);
                    if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                        best = Some(cand);
                    }
                }
            }
            if let Some((_, _, pe)) = best {
                sim.assign(t, pe, None)?;
            }
        }
        Ok(())
    }
}

/// The PE with the earliest estimated finish, `(start, end, pe)`.
fn best_eft(sim: &SocSim, t: usize) -> Option<(u64, u64, usize)> {
    let mut best: Option<(u64, u64, usize)> = None;
    for pe in 0..sim.num_pes() {
        if let Some((s, e)) = sim.eft(t, pe) {
            if best.is_none_or(|b| e < b.1) {
                best = Some((s, e, pe));
            }
        }
    }
    best
}

/// Earliest finish time: ready tasks in order, each to the PE that would finish it first.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Eft;

impl Scheduler for Eft {
    fn name(&self) -> &'static str {
        "eft"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        for t in sim.ready().to_vec() {
            if let Some((s, _, pe)) = best_eft(sim, t) {
                sim.assign(t, pe, Some(s))?;
            }
        }
        Ok(())
    }
}

/// Earliest task first: the (ready task, PE) pair with the earliest finish, repeatedly.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Etf;

impl Scheduler for Etf {
    fn name(&self) -> &'static str {
        "etf"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        loop {
            let mut best: Option<(u64, u64, usize, usize)> = None;
            for &t in sim.ready() {
                if let Some((s, e, pe)) = best_eft(sim, t) {
                    if best.is_none_or(|b| e < b.1) {
                        best = Some((s, e, pe, t));
                    }
                }
            }
            match best {
                Some((s, _, pe, t)) => sim.assign(t, pe, Some(s))?,
                None => return Ok(()),
            }
        }
    }
}

/// HEFT with insertion, planning each job at its arrival.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Heft;

/// Earliest start ≥ `ready` of a slot of length `w` in sorted busy `intervals`.
fn insertion_start(intervals: &[(u64, u64)], ready: u64, w: u64) -> u64 {
    let mut cand = ready;
    for &(s, e) in intervals {
        if cand + w <= s {
            return cand;
        }
        cand = cand.max(e);
    }
    cand
}

impl Heft {
    fn plan_job(sim: &mut SocSim, job: usize) -> Result<(), AccelError> {
        let range = sim.job_tasks(job);
        let first = range.start;
        let mut order: Vec<usize> = range.clone().collect();
        order.sort_by(|&a, &b| sim.rank(b).total_cmp(&sim.rank(a)).then(a.cmp(&b)));
        let mut timelines: Vec<Vec<(u64, u64)>> =
            (0..sim.num_pes()).map(|pe| sim.pe_timeline(pe)).collect();
        let mut planned: Vec<Option<(usize, u64)>> = vec![None; range.len()];
        let now = sim.now();
        for t in order {
            let preds: Vec<(usize, u64)> = sim.preds(t).collect();
            let mut best: Option<(u64, u64, usize)> = None;
            for (pe, tl) in timelines.iter().enumerate() {
                let Some(w) = sim.exec(t, pe) else { continue };
                let mut ready = now;
                for &(p, bytes) in &preds {
                    let (ppe, pend) = planned[p - first]
                        .expect("upward ranks order every producer before its consumers");
                    ready = ready.max(pend + sim.soc().transfer_cycles(ppe, pe, bytes));
                }
                let s = insertion_start(tl, ready, w);
                if best.is_none_or(|b| s + w < b.1) {
                    best = Some((s, s + w, pe));
                }
            }
            let Some((s, e, pe)) = best else {
                continue;
            };
            planned[t - first] = Some((pe, e));
            let tl = &mut timelines[pe];
            let at = tl.partition_point(|&(a, _)| a <= s);
            tl.insert(at, (s, e));
            sim.assign(t, pe, Some(s))?;
        }
        Ok(())
    }
}

impl Scheduler for Heft {
    fn name(&self) -> &'static str {
        "heft"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        for j in sim.arrived().to_vec() {
            Heft::plan_job(sim, j)?;
        }
        // Nothing is left ready unless a job arrived unplanned; place such tasks by EFT.
        Eft.schedule(sim)
    }
}

/// Each ready task to the next PE, cyclically, that can run it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RoundRobin {
    next: usize,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        let n = sim.num_pes();
        for t in sim.ready().to_vec() {
            if let Some(pe) = (0..n)
                .map(|k| (self.next + k) % n)
                .find(|&pe| sim.exec(t, pe).is_some())
            {
                self.next = (pe + 1) % n;
                sim.assign(t, pe, None)?;
            }
        }
        Ok(())
    }
}

/// Each ready task to a uniformly drawn PE that can run it.
#[derive(Debug, Clone)]
pub(super) struct RandomSched {
    rng: ChaCha8Rng,
}

impl RandomSched {
    /// A random scheduler drawing from `seed`.
    pub(super) fn new(seed: u64) -> RandomSched {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        RandomSched { rng }
    }
}

impl Scheduler for RandomSched {
    fn name(&self) -> &'static str {
        "random"
    }
    fn schedule(&mut self, sim: &mut SocSim) -> Result<(), AccelError> {
        for t in sim.ready().to_vec() {
            let ok: Vec<usize> = (0..sim.num_pes())
                .filter(|&pe| sim.exec(t, pe).is_some())
                .collect();
            if !ok.is_empty() {
                let pe = ok[self.rng.random_range(0..ok.len())];
                sim.assign(t, pe, None)?;
            }
        }
        Ok(())
    }
}

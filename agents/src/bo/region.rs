//! TuRBO's trust region: its half-width, success and failure counters and restarts, and the
//! index box plus Hamming radius it spans around a centre.

use super::BoConfig;
use crate::Point;

/// What a batch did to the trust region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Kept,
    Expanded,
    Shrunk,
    Restarted,
}

/// The trust region's size and counters (TuRBO's schedule).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TrustRegion {
    /// Half-width, in normalized position units.
    pub(super) length: f64,
    pub(super) successes: usize,
    pub(super) failures: usize,
    /// Index into the observations where the current region began (its random start).
    pub(super) start: usize,
    pub(super) restarts: usize,
}

impl TrustRegion {
    pub(super) fn new(length: f64) -> TrustRegion {
        TrustRegion {
            length,
            successes: 0,
            failures: 0,
            start: 0,
            restarts: 0,
        }
    }

    /// Records one batch; doubles, halves or restarts the region.
    pub(super) fn record(
        &mut self,
        improved: bool,
        fail_tol: usize,
        cfg: &BoConfig,
        seen: usize,
    ) -> Step {
        if improved {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        if self.successes >= cfg.success_tolerance {
            self.successes = 0;
            self.length = (2.0 * self.length).min(cfg.length_max);
            return Step::Expanded;
        }
        if self.failures >= fail_tol {
            self.failures = 0;
            self.length /= 2.0;
            if self.length < cfg.length_min {
                self.restart(cfg, seen);
                return Step::Restarted;
            }
            return Step::Shrunk;
        }
        Step::Kept
    }

    pub(super) fn restart(&mut self, cfg: &BoConfig, seen: usize) {
        self.length = cfg.length_init;
        self.successes = 0;
        self.failures = 0;
        self.start = seen;
        self.restarts += 1;
    }
}

/// The region around a centre: an index range per ordered parameter, a Hamming radius over the
/// categorical ones.
pub(super) struct Region {
    pub(super) center: Point,
    pub(super) lo: Vec<i64>,
    pub(super) hi: Vec<i64>,
    pub(super) radius: usize,
}

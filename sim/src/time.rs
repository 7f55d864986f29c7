//! Simulated time: an integer count of clock cycles.

use serde::{Deserialize, Serialize};

/// A point in simulated time, or a duration, in clock cycles of the accelerator's clock.
///
/// Integer time keeps runs bit-reproducible: no two machines disagree on the order of events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cycle(pub u64);

impl Cycle {
    /// Time zero.
    pub const ZERO: Cycle = Cycle(0);

    /// The raw count.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Seconds at a clock of `freq_mhz`.
    pub fn seconds(self, freq_mhz: f64) -> f64 {
        self.0 as f64 / (freq_mhz * 1e6)
    }
}

impl std::ops::Add<u64> for Cycle {
    type Output = Cycle;
    fn add(self, rhs: u64) -> Cycle {
        Cycle(self.0.saturating_add(rhs))
    }
}

impl std::ops::Sub for Cycle {
    type Output = u64;
    fn sub(self, rhs: Cycle) -> u64 {
        self.0.saturating_sub(rhs.0)
    }
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cycles", self.0)
    }
}

//! Errors of the simulation phase.

use thiserror::Error;

/// Why a schedule could not be produced. Every variant is fatal for the run at hand.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// Some tasks never became ready: the dependency graph has a cycle, or names a missing task.
    #[error("deadlock: {count} task(s) never became ready, first `{first}`")]
    Deadlock {
        /// How many tasks were left unscheduled.
        count: usize,
        /// Name of the first of them.
        first: String,
    },
    /// A task refers to an engine or memory that the resource set does not have.
    #[error("task `{task}` refers to unknown {what} #{index}")]
    UnknownResource {
        /// Task name.
        task: String,
        /// `engine` or `memory`.
        what: &'static str,
        /// The index used.
        index: usize,
    },
    /// A dependency names a task index out of range.
    #[error("task `{task}` depends on task #{pred}, which does not exist")]
    UnknownDependency {
        /// Task name.
        task: String,
        /// The bad index.
        pred: usize,
    },
    /// Live data exceeded a memory's capacity.
    #[error("memory `{memory}` overflows: {needed} bytes live at cycle {at}, capacity {capacity}")]
    CapacityExceeded {
        /// Memory name.
        memory: String,
        /// Bytes that had to be resident.
        needed: u64,
        /// Its capacity in bytes.
        capacity: u64,
        /// The cycle at which it overflowed.
        at: u64,
    },
}

//! Hardware resources the scheduler allocates: compute engines and memories.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A compute engine: runs one task at a time (a systolic array, a vector unit, a PIM bank group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// Path-like name used in reports and errors, e.g. `array` or `vector` (a static name
    /// is not copied: a model lists its resources for every run).
    pub name: Cow<'static, str>,
}

/// A memory level with a capacity and a bandwidth shared by all tasks that move data through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Name, e.g. `dram`.
    pub name: Cow<'static, str>,
    /// Capacity in bytes (`None` = unbounded).
    pub capacity_bytes: Option<u64>,
    /// Bandwidth in bytes per cycle (`None` = unlimited).
    pub bandwidth_bytes_per_cycle: Option<f64>,
}

/// The resources of one accelerator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Compute engines, addressed by index in [`crate::Task::engine`].
    pub engines: Vec<Engine>,
    /// Memories, addressed by index in [`crate::Task::traffic`].
    pub memories: Vec<Memory>,
}

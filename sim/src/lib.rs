//! # archsim-sim — time, resources, scheduling and the report
//!
//! The third stage of archsim's data flow: a mapped workload (one [`Task`] per op, each with
//! its engine, its solo duration and its memory traffic) becomes a timed [`Schedule`], from
//! which accelerator models build the [`Report`].
//!
//! ```text
//! config.yaml ──► Workload ──► Mapping ──► Schedule ──► Report
//!                                          ^^^^^^^^^^^^^^^^^^^
//!                       Task{engine, cycles, traffic, preds}
//!                                 │
//!                     list_schedule(tasks, resources)
//!                                 │   EventQueue ordered by (cycle, insertion)
//!                                 ▼
//!                     Slot{start, end, contention} per task
//! ```
//!
//! Guarantees:
//!
//! * time is an integer count of cycles ([`Cycle`]);
//! * the [`EventQueue`] pops events by cycle, and events of the same cycle first-in first-out,
//!   so a run never depends on hashing or addresses and replays bit-for-bit;
//! * a task never starts before all its predecessors have ended, and an engine runs one task
//!   at a time; memory bandwidth is shared between concurrent tasks (see [`schedule`]).
//!
//! ```
//! use archsim_sim::{list_schedule, Cycle, Engine, Resources, Task};
//!
//! let res = Resources { engines: vec![Engine { name: "array".into() }], memories: vec![] };
//! let t = |name: &str, cycles, preds| Task {
//!     name: name.into(), engine: 0, cycles, traffic: vec![], output_bytes: 0,
//!     output_memory: None, preds, priority: 0,
//! };
//! let s = list_schedule(&[t("conv", 100, vec![]), t("fc", 20, vec![0])], &res, &[]).unwrap();
//! assert_eq!(s.makespan, Cycle(120));
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod cancel;
mod error;
mod queue;
mod report;
mod resource;
pub mod schedule;
mod time;

pub use error::SimError;
pub use queue::EventQueue;
pub use report::{
    fnv1a_hex, AppStats, JobStats, KernelRow, KvSwap, LlmAllToAll, LlmMemory, LlmReport, LlmStep,
    OpReport, PeUsage, Provenance, Report, TaskReport,
};
pub use resource::{Engine, Memory, Resources};
pub use schedule::{list_schedule, Schedule, Slot, Task};
pub use time::Cycle;

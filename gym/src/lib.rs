//! # archsim-gym — design spaces and environments (not yet implemented)
//!
//! This crate's job, once its issue lands: declare a design space once (config paths mapped to
//! typed domains plus constraints on metrics), expose it as gym environments with
//! `reset(seed)` / `step(action)` returning the raw metric vector and a pluggable reward
//! scalarization, and split it among named agents for multi-agent play. Infeasible design points
//! become results with a reason and a penalty, never panics.
//!
//! ```text
//! action ──► config delta ──► Workload ──► Mapping ──► Schedule ──► Report ──► reward
//! ```
//!
//! Today it only re-exports the accelerator models it will drive, so that the dependency
//! direction of the workspace (`accelerators → gym → agents`) is fixed from the start.
#![warn(missing_docs, unreachable_pub)]

pub use archsim_accelerators as accelerators;

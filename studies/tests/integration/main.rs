//! The studies' regression tests: each study run as `archsim run` runs it (through the root
//! crate's `archsim::run_command`, the same function the binary calls), its published
//! orderings and its committed `results/` folder checked. One file per study.

mod common;

mod a100_allreduce;
mod disaggregation;
mod ds3;
mod holmes;
mod hwnasbench;
mod melange;
mod nasaic;
mod neupims;
mod seeds;
mod sn40l;
mod training;

//! Integration tests of the accelerator models: one binary, one module per behaviour.

mod invariants;
mod scalesim_golden;
mod stalls;

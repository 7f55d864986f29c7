//! Integration tests of the accelerator models: one binary, one module per behaviour.

mod gpu_validation;
mod invariants;
mod scalesim_golden;
mod seam;
mod stalls;

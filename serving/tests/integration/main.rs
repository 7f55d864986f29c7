//! Integration tests of archsim-serving: one binary, a module per behaviour.

mod common;
mod conservation;
mod errors;
mod expert;
mod kv;
mod prefix;
mod queueing;
mod speculative;
mod step_error;
mod ttft;

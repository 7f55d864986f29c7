//! Integration tests of archsim-workloads (one binary, one module per area).

mod onnx;

//! # archsim-workloads — what runs on the hardware
//!
//! The first stage of archsim's data flow. A [`Workload`] is a DAG of [`Op`]s on petgraph;
//! each op knows its kind, shapes and dtype and derives its MACs, FLOPs and bytes.
//!
//! ```text
//! config.yaml ──► Workload ──► Mapping ──► Schedule ──► Report
//!                 ^^^^^^^^
//!                 zoo builders · SCALE-Sim CSV import · single GEMMs
//! ```
//!
//! Workloads come from six places today:
//!
//! * [`zoo::build`] — published networks (ResNet, MobileNet, VGG, EfficientNet, ViT,
//!   NAS-Bench-201 cells, BERT, GPT-2, LLaMA-2, Mixtral) at any batch and dtype;
//! * [`llm::lower`] — one prefill or decode step of an LLM (KV cache, GQA, MoE, tensor parallelism);
//! * [`onnx::read_onnx`] — ONNX models, with archsim's own shape inference (batch override);
//! * [`scalesim::read_topology`] — SCALE-Sim topology CSVs (conv and GEMM formats), unchanged;
//! * [`WorkloadBuilder`] — any graph, op by op, with shapes inferred as ops are added;
//! * [`jobs`] — streams of job DAGs (DS3 applications) for heterogeneous-SoC scheduling, a
//!   workload of their own that only `accelerator.kind: soc` runs.
//!
//! ```
//! use archsim_workloads::{zoo, DType};
//!
//! let w = zoo::build("resnet18", 1, DType::Int8).unwrap();
//! assert_eq!(w.total_macs(), 1_814_073_344);      // torchvision's 1.81 GMACs
//! let conv1 = w.ops().next().unwrap();
//! let g = conv1.gemm_view().unwrap();              // im2col view of the first conv
//! assert_eq!((g.m, g.n, g.k), (112 * 112, 64, 7 * 7 * 3));
//! ```
#![warn(missing_docs, unreachable_pub)]

mod config;
mod dtype;
mod error;
pub mod framework;
mod graph;
pub mod input;
pub mod jobs;
pub mod llm;
mod llm_info;
pub mod onnx;
mod op;
pub mod scalesim;
pub mod zoo;

pub use config::{CellConfig, Form, GemmDims, WorkloadConfig};
pub use dtype::DType;
pub use error::WorkloadError;
pub use framework::Framework;
pub use graph::{broadcast, Edge, Tensor, Workload, WorkloadBuilder};
pub use op::{
    numel, window_out, Attention, CollectiveFunc, Conv2d, EltFunc, Gemm, GemmView, NormFunc, Op,
    OpKind, Pool, PoolFunc, ReduceFunc, Shape,
};
pub use petgraph::stable_graph::NodeIndex;
pub use petgraph::Direction;

/// The largest batch, sequence length, GEMM dimension or token count a workload config may ask
/// for (2^24 = 16,777,216): far beyond any real network, and small enough that the products the
/// models form (tokens × hidden × layers, rows × columns × folds) fit 64-bit counters.
pub const MAX_SIZE: u64 = 1 << 24;

/// The most MACs one op may have (2^50, about 10^15; a LLaMA-2-70B FFN GEMM over 256k tokens
/// has 2^46).
pub const MAX_OP_MACS: u64 = 1 << 50;

/// The most elements one tensor may have (2^42).
pub const MAX_TENSOR_ELEMS: u64 = 1 << 42;

/// A single GEMM `[m×k]·[k×n]` with a weight operand, as a one-op workload.
pub fn single_gemm(m: u64, n: u64, k: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    for (key, v) in [("m", m), ("n", n), ("k", k)] {
        if v == 0 {
            return Err(WorkloadError::InvalidParameter {
                key: format!("workload.gemm.{key}"),
                reason: "must be positive".into(),
            });
        }
    }
    let mut b = WorkloadBuilder::new(format!("gemm_{m}x{n}x{k}"), dtype);
    let x = b.input(vec![m, k]);
    b.add_op(
        "gemm",
        OpKind::Gemm(Gemm {
            batch: 1,
            m,
            n,
            k,
            weight_operand: true,
        }),
        &[&x],
        vec![m, n],
    );
    Ok(b.finish())
}

//! # archsim-net — links, topologies, collectives and contention
//!
//! Where it sits: below the accelerator models and above `sim`. A family that needs to move
//! bytes between devices (tensor-parallel all-reduces, expert-parallel all-to-alls, pipeline
//! sends) asks this crate what that costs on a given cluster, instead of writing its own ring
//! formula; the CLI's `collective:` workload (archsim's nccl-tests) calls it directly.
//!
//! ```text
//! cluster: ──► ClusterSpec ──build()──► Topology (devices, switches, NICs, one-way links)
//!                   │                        │
//!         price_on(op, bytes, ranks)    collective_flows(...) + your own flows
//!                   │                        │
//!                   ▼                        ▼
//!         CollectiveCost {time_s,      flow::simulate: max-min fair sharing,
//!          algbw_gb_s, busbw_gb_s}     rates recomputed at each arrival/completion
//! ```
//!
//! Three layers, each usable alone:
//!
//! 1. [`topology`]: builders for an NVSwitch node (with or without NVLS in-switch reduction),
//!    NVLink rings and meshes, PCIe trees, 2D/3D tori, and scale-out networks (rail-optimized
//!    or fat tree with oversubscription, several NICs per node, node groups with different
//!    NICs side by side). Bad numbers are typed [`NetError`]s naming the config key.
//! 2. [`collective`]: all-reduce, reduce-scatter, all-gather, all-to-all(v), broadcast, reduce
//!    and send/recv, by ring, double binary tree, recursive halving-doubling, direct (one-shot),
//!    hierarchical or NVLS, as chunked pipelined α-β models; [`NetModel`] holds the protocol
//!    constants, [`NetModel::nccl`] those fitted on measured NCCL (see [`calibrate`]). The
//!    algorithm is chosen NCCL-style (cheapest of what NCCL would consider) unless named.
//! 3. [`flow`]: a flow-level simulator. Transfers that share a link share its bandwidth
//!    max-min fairly; a device memory can be a link too ([`Topology::add_memory`]), so a GEMM's
//!    operand traffic and a fused reduce-scatter (T3) slow each other.
//!
//! ```
//! use archsim_net::{flow, price_on, Algorithm, ClusterSpec, NetModel, Op, ScaleUpKind};
//!
//! // Eight GPUs on one NVSwitch, 300 GB/s per direction, 1 µs per hop.
//! let node = ClusterSpec::node(ScaleUpKind::Nvswitch, 8, 300.0, 1.0);
//!
//! // The textbook ring: 2(p−1)·(S/p)/B + 2(p−1)·α.
//! let s = 1u64 << 30;
//! let ring = price_on(&node, &NetModel::ideal(), Op::AllReduce, s as f64, 8, Some(Algorithm::Ring))
//!     .unwrap();
//! let by_hand = 14.0 * (s as f64 / 8.0) / 300e9 + 14.0 * 1e-6;
//! assert!((ring.time_s - by_hand).abs() < 1e-12);
//!
//! // What NCCL achieves (calibrated): the bus bandwidth plateaus below the 300 GB/s wire.
//! let nccl = price_on(&node, &NetModel::nccl(), Op::AllReduce, s as f64, 8, None).unwrap();
//! assert!(nccl.busbw_gb_s > 200.0 && nccl.busbw_gb_s < 300.0);
//!
//! // Two equal transfers on one link take twice as long as one.
//! let topo = node.build().unwrap();
//! let one = flow::device_flow(&topo, 0, 1, 1e9, 0.0).unwrap();
//! let alone = flow::simulate(&topo, &[one.clone()]).unwrap().makespan_s;
//! let two = flow::device_flow(&topo, 0, 2, 1e9, 0.0).unwrap(); // shares GPU 0's uplink
//! let shared = flow::simulate(&topo, &[one, two]).unwrap().makespan_s;
//! let lat = 1e-6; // two half-hops of 0.5 µs
//! assert!(((shared - lat) - 2.0 * (alone - lat)).abs() < 1e-12);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod calibrate;
pub mod collective;
pub mod config;
mod error;
pub mod flow;
pub mod topology;
pub mod workload;

pub use collective::{choose, price_on, Algorithm, CollectiveCost, NetModel, Op, Protocol};
pub use error::NetError;
pub use flow::{Flow, FlowReport, FlowTiming};
pub use topology::{
    ClusterSpec, Fabric, Link, NodeGroup, ScaleOut, ScaleOutKind, ScaleUp, ScaleUpKind, Topology,
    Vertex,
};

//! # archsim-training — one training iteration on a cluster
//!
//! Where it sits: beside `serving`, above the accelerator families and the network. A
//! `training:` workload (a transformer, a batch, recompute, an optimizer), a `parallel:`
//! layout and a `cluster:` become one simulated iteration and its [`TrainingReport`].
//!
//! ```text
//! training: + parallel: ──► validate (keys named) ──► lower: one layer's forward / backward,
//!                                                     attention core, embedding, LM head,
//!                                                     optimizer step as op graphs
//!                                                        │ Family::run_graph (any family),
//!                                                        │ each distinct graph once
//! cluster: ──► archsim-net: TP / PP / DP collectives ────┤ priced on the groups' links
//!                                                        ▼
//!                     event DAG on sim's queue: stage × micro-batch × forward / recompute /
//!                     backward, sends, gradient reduction, optimizer (GPipe, 1F1B or
//!                     interleaved 1F1B over vpp chunks per device); each task's kernels
//!                     as an eager host issues them (host time shows where it exceeds
//!                     the device's, pipeline exchanges synchronize)
//!                                                        ▼
//!              TrainingReport {iteration_s, tokens_per_s, tflops_per_gpu, mfu, hfu,
//!                              breakdown, memory_gb (ZeRO, Korthikanti activations), fits}
//! ```
//!
//! Offload (`parallel.offload`, ZeRO-Offload / ZeRO-Infinity) adds per device a PCIe link
//! each way, the host's CPU and its NVMe as resources of the same DAG: gradients go down as
//! layers finish their last backward, the host's optimizer steps layer by layer once they
//! are all there (NVMe reads and writes of the states pipelined around it), updated weights
//! go back up; offloaded weights are fetched per layer pass with one layer of prefetch. What
//! the device waits for them is `breakdown.offload_s`. A `checkpoint` policy adds the save's
//! cost amortized over its interval ([`CheckpointReport`]).
//!
//! Heterogeneous clusters ([`hetero`], Holmes): node groups with their own device and NICs
//! (`cluster.groups`); the stages placed NIC-aware (data-parallel groups inside one NIC kind,
//! the pipeline across the slow boundary), flat, or as given, with a given or chosen uneven
//! layer partition (`parallel.layers_per_stage`); each stage priced on its own device and
//! network, the same DAG.
//!
//! Only one pipeline is simulated: tensor- and data-parallel replicas run the same tasks at
//! the same times, so a 1,024-GPU job costs what its 8 stages cost. The pipeline bubble is
//! what the simulated streams wait, not a closed form.
//!
//! Search ([`space`]): every layout of a job that divides, scored on one shared
//! [`lower::Pricer`] ([`prepare_priced`]) in the event mode or the [`analytic`] mode (the
//! pipeline's closed form on the same task times; `--test space` bounds the difference).
//! [`file::TrainingFile`] is the config file `archsim run`, the gym's training evaluator and
//! `archsim/Training-v0` read.
//!
//! Validation (`cargo test -p archsim-training --test training`): on vTrain's 1,440 measured
//! single-node A100 iterations, 5-fold held-out MAPE 8.1% and Kendall τ 0.87–0.89 within each
//! model shape; Megatron-LM 2021 Table 1 (32–3,072 A100, nothing fitted on it) 3.5% MAPE,
//! worst row 7.5B (TP 4) +9.7%.
//!
//! ```
//! use archsim_accelerators::AcceleratorConfig;
//! use archsim_net::{calibrate::a100_node, NetModel};
//! use archsim_training::{device_caps, prepare, Calibration, ParallelConfig, TrainingConfig};
//! use archsim_workloads::DType;
//!
//! // A 24-layer GPT of hidden 1024 on four A100 of one NVSwitch node: TP 2 × PP 2.
//! let train: TrainingConfig = serde_json::from_str(r#"{
//!     "model": {"layers": 24, "hidden": 1024, "heads": 16, "vocab": 50257},
//!     "seq_len": 1024, "global_batch": 16, "micro_batch": 2, "recompute": "full"}"#).unwrap();
//! let parallel = ParallelConfig { tp: 2, pp: 2, ..ParallelConfig::default() };
//! let acc: AcceleratorConfig = serde_json::from_str(
//!     r#"{"kind": "gpu", "preset": "a100_80gb", "launch": "eager"}"#).unwrap();
//! let family = acc.family().unwrap();
//! let caps = device_caps(&acc, DType::Fp16).unwrap();
//! let job = prepare(&train, &parallel, DType::Fp16, family.as_ref(), caps,
//!                   &a100_node(4), &NetModel::nccl()).unwrap();
//! let r = job.evaluate(&Calibration::NONE).unwrap();
//!
//! // 8 micro-batches per pipeline; the parts of the iteration add up to it.
//! assert_eq!(r.micro_batches, 8);
//! let b = r.breakdown;
//! assert!((b.total_s() - r.iteration_s).abs() < 1e-9 * r.iteration_s.max(1.0));
//! // Two stages under 1F1B wait for each other: there is a bubble, and the model fits.
//! assert!(b.bubble_s > 0.0 && r.fits && r.mfu > 0.0 && r.mfu < 1.0);
//!
//! // A layout that does not multiply out to the devices is an error naming the keys.
//! let bad = ParallelConfig { tp: 2, pp: 4, ..ParallelConfig::default() };
//! let e = prepare(&train, &bad, DType::Fp16, family.as_ref(), caps,
//!                 &a100_node(4), &NetModel::nccl()).unwrap_err();
//! assert!(e.to_string().contains("parallel.tp"));
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod analytic;
pub mod calibrate;
pub mod comm;
pub mod config;
mod error;
pub mod file;
pub mod hetero;
pub mod lower;
pub mod memory;
mod model;
mod sim;
pub mod space;

pub use config::{
    check_checkpoint, check_offload, validate, CheckpointConfig, HostConfig, ModelRef, ModelShape,
    OffloadConfig, Optimizer, ParallelConfig, Place, Placement, PlacementRule, Recompute, Schedule,
    TrainingConfig,
};
pub use error::TrainingError;
pub use hetero::{
    prepare_hetero, split_groups, BetweenGroups, ClusterGroup, GroupDevice, HeteroPrepared,
    PlacementReport,
};
pub use memory::{MemoryBytes, MemoryGb};
pub use model::{
    device_caps, partition, prepare, prepare_priced, prepare_with, Breakdown, Calibration,
    CheckpointReport, DeviceCaps, OffloadReport, Prepared, TrainingReport,
};

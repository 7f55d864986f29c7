//! Assembling one iteration: parameters per stage, the priced pieces, collectives, the DAG and
//! the report.

use archsim_accelerators::family::Family;
use archsim_accelerators::AcceleratorConfig;
use archsim_net::{ClusterSpec, NetModel, Op};
use archsim_workloads::llm::TransformerSpec;
use archsim_workloads::DType;
use serde::Serialize;

use crate::comm::collective_s;
use crate::config::{
    check_checkpoint, check_offload, validate, CheckpointConfig, HostConfig, ParallelConfig, Place,
    Recompute, Schedule, TrainingConfig,
};
use crate::error::{invalid, TrainingError};
use crate::lower::{padded_vocab, Issue, Piece, Priced, Pricer, Shard};
use crate::memory::{in_flight, layer_activation_bytes, zero_states, MemoryBytes, MemoryGb};
use crate::sim::{build, run, Dag, Kind, OffloadTimes, Order, StageTimes};

/// The fitted constants of the iteration model (see `crate::calibrate`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    /// Multiplier on the family's GEMM time for training shapes (≥ 1 when the framework's
    /// GEMMs run slower than the inference kernels the family was calibrated on).
    pub gemm_scale: f64,
    /// Host time an eager framework spends issuing one kernel (PyTorch dispatch, autograd,
    /// the launch itself), seconds; the host runs ahead of the device, so device work
    /// longer than it hides it.
    pub kernel_host_s: f64,
    /// Host time per layer and pass (forward, recompute, backward) outside the kernels'
    /// issue (activation-checkpoint bookkeeping, Python between modules), seconds; like the
    /// per-kernel time it only shows where it exceeds the device work it issues.
    pub layer_overhead_s: f64,
}

impl Calibration {
    /// Fitted on vTrain's 1,440 measured iterations of one A100 node (Megatron GPT, eager
    /// PyTorch) with the `a100_80gb` preset's device times (`launch: cudagraph`); refit by
    /// `cargo test -p archsim-training --test training vtrain`. The host's issue cost only
    /// shows where it exceeds the device work (see [`crate::lower::Issue`]); the fit puts it
    /// all in the per-layer term (every layer issues the same kernels, so the data cannot
    /// tell a per-kernel cost from a per-layer one) and finds the training GEMMs 9.7% slower
    /// than the inference-calibrated preset.
    pub const A100_VTRAIN: Calibration = Calibration {
        gemm_scale: 1.0967,
        kernel_host_s: 0.0,
        layer_overhead_s: 1186.9e-6,
    };

    /// No correction: the family's kernel times as they are, back to back.
    pub const NONE: Calibration = Calibration {
        gemm_scale: 1.0,
        kernel_host_s: 0.0,
        layer_overhead_s: 0.0,
    };
}

/// What the iteration model needs of a device besides pricing ops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeviceCaps {
    /// Dense peak of the training dtype, FLOP/s (for MFU).
    pub peak_flops: f64,
    /// Memory capacity, bytes.
    pub mem_bytes: f64,
}

/// Peak and capacity of an `accelerator:` config (GPU presets and rooflines).
pub fn device_caps(acc: &AcceleratorConfig, dtype: DType) -> Result<DeviceCaps, TrainingError> {
    let missing = |what: &str| invalid("accelerator", format!("the device has no {what} peak"));
    if let Some(sheet) = acc.datasheet(dtype) {
        let sheet = sheet.map_err(|source| TrainingError::Accelerator {
            what: "accelerator".into(),
            source,
        })?;
        return Ok(DeviceCaps {
            peak_flops: sheet.peak_flops.ok_or_else(|| missing(dtype.name()))?,
            mem_bytes: sheet.mem_bytes,
        });
    }
    Err(invalid(
        "accelerator.kind",
        format!(
            "training reports MFU and memory against the device's peak and capacity, known for gpu and roofline, not `{}`",
            acc.kind()
        ),
    ))
}

/// Time of one iteration by where it went, seconds, on the pipeline stage that ends last
/// (the parts add up to `iteration_s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Breakdown {
    /// Forward and backward kernels.
    pub compute_s: f64,
    /// Recomputed forward kernels.
    pub recompute_s: f64,
    /// Tensor-parallel collectives (serial with the layer's kernels).
    pub tp_comm_s: f64,
    /// Pipeline sends not hidden (extra waiting they cause beyond the bubble).
    pub pp_comm_s: f64,
    /// Data-parallel gradient reduction (and ZeRO gathers) not hidden.
    pub dp_comm_s: f64,
    /// Pipeline bubble: the stage's stream idle waiting for other stages.
    pub bubble_s: f64,
    /// Optimizer step.
    pub optimizer_s: f64,
    /// Offload (present when something is offloaded): the device waiting for parameter
    /// fetches, and the gradients' trip to the host, the host's optimizer step and the
    /// parameters' return after the last backward, where not hidden.
    #[serde(skip_serializing_if = "is_zero")]
    pub offload_s: f64,
}

impl Breakdown {
    /// The parts together: the iteration's time.
    pub fn total_s(&self) -> f64 {
        self.compute_s
            + self.recompute_s
            + self.tp_comm_s
            + self.pp_comm_s
            + self.dp_comm_s
            + self.bubble_s
            + self.optimizer_s
            + self.offload_s
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// What offload moves and holds, for the device whose step ends last (per iteration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OffloadReport {
    /// Device → host over PCIe, GB (the tasks' time × the link's bandwidth).
    pub pcie_down_gb: f64,
    /// Host → device over PCIe, GB.
    pub pcie_up_gb: f64,
    /// Read from and written to NVMe, GB.
    pub nvme_traffic_gb: f64,
    /// Host CPU busy with the device's optimizer step and gradient accumulation, seconds.
    pub cpu_s: f64,
    /// Host memory of a node (its devices' offloaded states), GB.
    pub host_memory_gb: f64,
    /// NVMe of a node, GB.
    pub nvme_gb: f64,
}

/// The cost of saving a checkpoint (model and optimizer states).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CheckpointReport {
    /// Bytes saved, GB: 16-bit weights once (data-parallel rank 0 of every stage and tensor
    /// rank) and optimizer states once (sharded over data-parallel ranks under ZeRO ≥ 1).
    pub size_gb: f64,
    /// Save time: the node writing the most bytes at the storage bandwidth, seconds.
    pub save_s: f64,
    /// Iterations between checkpoints.
    pub interval_iters: u64,
    /// `save_s / interval_iters`, seconds per iteration.
    pub amortized_s: f64,
    /// `amortized_s / iteration_s`.
    pub overhead: f64,
}

/// The `training` section of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingReport {
    /// One iteration, seconds.
    pub iteration_s: f64,
    /// Tokens trained per second (whole job).
    pub tokens_per_s: f64,
    /// Model FLOPs (no recompute) per second per device, TFLOP/s.
    pub tflops_per_gpu: f64,
    /// Model FLOPs utilization.
    pub mfu: f64,
    /// Hardware FLOPs utilization (recomputed FLOPs counted).
    pub hfu: f64,
    /// Where the time went.
    pub breakdown: Breakdown,
    /// Memory of the most loaded device, GB, by kind.
    pub memory_gb: MemoryGb,
    /// The most loaded device fits in its memory.
    pub fits: bool,
    /// Why not, with the bytes needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// Devices.
    pub devices: usize,
    /// Micro-batches per pipeline per iteration.
    pub micro_batches: u64,
    /// Parameters of the model.
    pub params: u64,
    /// Model FLOPs per iteration.
    pub model_flops: f64,
    /// Tasks in the simulated event DAG.
    pub tasks: usize,
    /// Offload traffic and host memory (when something is offloaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload: Option<OffloadReport>,
    /// Checkpoint cost (when `checkpoint:` is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointReport>,
    /// Stages on the node groups of a heterogeneous cluster (when `cluster.groups` is
    /// given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::hetero::PlacementReport>,
}

/// Everything priced for one job: independent of the [`Calibration`], so a calibration
/// loop evaluates it many times without pricing again.
#[derive(Debug, Clone)]
pub struct Prepared {
    spec: TransformerSpec,
    parallel: ParallelConfig,
    micro_batches: u64,
    tokens: f64,
    devices: usize,
    caps: DeviceCaps,
    recompute: Recompute,
    layer_f: Priced,
    layer_b: Priced,
    core: Priced,
    embed_f: Priced,
    embed_b: Priced,
    head_f: Priced,
    head_b: Priced,
    optimizers: Vec<Priced>,
    stages: Vec<StageCosts>,
    virt: Vec<u64>,
    tp_layer_f: f64,
    tp_layer_b: f64,
    tp_embed: f64,
    tp_head: f64,
    send_s: f64,
    memory: MemoryBytes,
    /// Memory of each pipeline stage's devices (`memory` is the largest).
    stage_memory: Vec<MemoryBytes>,
    /// Offload: per-device times (per stage) and the host's bandwidths, bytes/s (PCIe per
    /// device; CPU and NVMe as one device's share of its node's).
    offload: Vec<Option<OffloadTimes>>,
    bw: (f64, f64, f64),
    host_bytes: f64,
    nvme_bytes: f64,
    host_cap: (f64, f64),
    checkpoint: Option<(CheckpointConfig, f64, f64)>,
}

#[derive(Debug, Clone)]
struct StageCosts {
    layers: u64,
    optimizer: usize,
    dp_s: f64,
    dp_layer_s: f64,
    zero3_gather_s: f64,
}

/// Layers of each stage: `layers / pp`, the remainder on the first stages.
pub fn partition(layers: u64, pp: usize) -> Vec<u64> {
    let pp64 = pp as u64;
    (0..pp64)
        .map(|i| layers / pp64 + u64::from(i < layers % pp64))
        .collect()
}

/// Parameters of one layer, of the embedding (token + positions) and of the LM head (0 when
/// tied), of the final norm.
fn param_parts(s: &TransformerSpec) -> (u64, u64, u64, u64) {
    let embed = (s.vocab + s.positions + s.token_types) * s.hidden;
    let head = if s.tied_head { 0 } else { s.vocab * s.hidden };
    let norm = 2 * s.hidden;
    let layer = (s.params() - embed - head - norm) / s.layers;
    (layer, embed, head, norm)
}

/// Prices everything about a job (graphs on `family`, collectives on `cluster`).
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    train: &TrainingConfig,
    parallel: &ParallelConfig,
    dtype: DType,
    family: &dyn Family,
    caps: DeviceCaps,
    cluster: &ClusterSpec,
    net: &NetModel,
) -> Result<Prepared, TrainingError> {
    prepare_with(
        train, parallel, dtype, family, caps, cluster, net, None, None,
    )
}

/// [`prepare`] with the node's host (`cluster.host`, needed by `parallel.offload`) and a
/// checkpoint policy.
#[allow(clippy::too_many_arguments)]
pub fn prepare_with(
    train: &TrainingConfig,
    parallel: &ParallelConfig,
    dtype: DType,
    family: &dyn Family,
    caps: DeviceCaps,
    cluster: &ClusterSpec,
    net: &NetModel,
    host: Option<&HostConfig>,
    checkpoint: Option<&CheckpointConfig>,
) -> Result<Prepared, TrainingError> {
    let mut pricer = Pricer::new(family, dtype);
    prepare_priced(
        &mut pricer,
        train,
        parallel,
        caps,
        cluster,
        net,
        host,
        checkpoint,
    )
}

/// [`prepare_with`] on a [`Pricer`] the caller keeps: a search over layouts prices each
/// distinct graph (per tensor-parallel degree, micro-batch and sequence parallelism) once
/// for all of them. The pricer's family and dtype are the job's.
#[allow(clippy::too_many_arguments)]
pub fn prepare_priced(
    pricer: &mut Pricer<'_>,
    train: &TrainingConfig,
    parallel: &ParallelConfig,
    caps: DeviceCaps,
    cluster: &ClusterSpec,
    net: &NetModel,
    host: Option<&HostConfig>,
    checkpoint: Option<&CheckpointConfig>,
) -> Result<Prepared, TrainingError> {
    let dtype = pricer.dtype();
    let spec = train.spec()?;
    let devices = cluster.devices();
    validate(train, &spec, parallel, devices)?;
    if parallel.placement.is_some() {
        return Err(invalid(
            "parallel.placement",
            "places pipeline stages on the node groups of a heterogeneous cluster (cluster.groups), which this cluster does not have",
        ));
    }
    let (pcie, cpu_bw, nvme_bw) = check_offload(&parallel.offload, host, parallel)?;
    if let Some(c) = checkpoint {
        check_checkpoint(c)?;
    }
    let off_cfg = parallel.offload;
    // A node's devices offload at the same time and share its CPU memory and drives.
    let per_node = cluster.devices_per_node.clamp(1, devices.max(1)) as f64;
    let (cpu_share, nvme_share) = (cpu_bw / per_node, nvme_bw / per_node);
    let (tp, pp, dp) = (parallel.tp, parallel.pp, parallel.dp);
    let sp = parallel.sequence_parallel && tp > 1;
    let b = train.micro_batch;
    let micro_batches = train.global_batch / dp as u64 / b;
    let sh = Shard {
        micro_batch: b,
        seq: train.seq_len,
        tp: tp as u64,
        sp,
    };
    let layer_f = pricer.price(&spec, &sh, Piece::LayerForward)?;
    let layer_b = pricer.price(&spec, &sh, Piece::LayerBackward)?;
    let core = pricer.price(&spec, &sh, Piece::AttentionCore)?;
    let embed_f = pricer.price(&spec, &sh, Piece::EmbedForward)?;
    let embed_b = pricer.price(&spec, &sh, Piece::EmbedBackward)?;
    let head_f = pricer.price(&spec, &sh, Piece::HeadForward)?;
    let head_b = pricer.price(&spec, &sh, Piece::HeadBackward)?;

    // Collectives. One layer's activation, whole (the all-reduce buffer; RS input; AG output).
    let wb = dtype.bytes() as f64;
    let act = (b * train.seq_len * spec.hidden) as f64 * wb;
    let tp_pair = |op_ar: bool| -> Result<f64, TrainingError> {
        if tp < 2 {
            return Ok(0.0);
        }
        if op_ar {
            collective_s(cluster, net, Op::AllReduce, act, 1, tp)
        } else {
            Ok(collective_s(cluster, net, Op::ReduceScatter, act, 1, tp)?
                + collective_s(cluster, net, Op::AllGather, act, 1, tp)?)
        }
    };
    // Two all-reduces per layer and pass (after the attention and MLP blocks forward; for
    // their inputs' gradients backward); with sequence parallelism each becomes a
    // reduce-scatter plus an all-gather.
    let per_block = tp_pair(!sp)?;
    let tp_layer_f = 2.0 * per_block;
    let tp_layer_b = 2.0 * per_block;
    let tp_embed = per_block; // vocabulary-parallel embedding's all-reduce
    let tp_head = per_block; // the head input's gradient
                             // Pipeline send: the activation of one micro-batch, split over the TP ranks (Megatron's
                             // scatter/gather optimization) when tp > 1.
    let send_s = if pp > 1 {
        collective_s(cluster, net, Op::SendRecv, act / tp as f64, tp * dp, 2)?
    } else {
        0.0
    };

    // Parameters per device and stage.
    let (layer_p, _, _, norm_p) = param_parts(&spec);
    // The embedding and head as allocated: the padded vocabulary.
    let vpad = padded_vocab(spec.vocab, tp as u64);
    let embed_p = (vpad + spec.positions + spec.token_types) * spec.hidden;
    let head_p = if spec.tied_head {
        0
    } else {
        vpad * spec.hidden
    };
    let t = tp as f64;
    // Virtual stages in model order: chunk c of device d is stage c·pp + d.
    let vpp = if parallel.schedule == Schedule::Interleaved {
        parallel.vpp
    } else {
        1
    };
    let virt = if parallel.layers_per_stage.is_empty() {
        partition(spec.layers, pp * vpp)
    } else {
        parallel.layers_per_stage.clone()
    };
    let parts: Vec<u64> = (0..pp)
        .map(|d| (0..vpp).map(|c| virt[c * pp + d]).sum())
        .collect();
    let k = train.optimizer.state_bytes() as f64;
    let mut stages = Vec::with_capacity(pp);
    let mut optimizers = Vec::with_capacity(pp);
    let mut memory = MemoryBytes::default();
    let mut stage_memory = Vec::with_capacity(pp);
    let mut worst = -1.0;
    let mut offload = Vec::with_capacity(pp);
    let (mut host_dev, mut nvme_dev) = (0.0f64, 0.0f64);
    let mut ckpt_stage = Vec::with_capacity(pp);
    for (i, &layers) in parts.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == pp;
        let mut psi = layers as f64 * layer_p as f64 / t;
        if first {
            psi += embed_p as f64 / t;
        }
        if last {
            psi += norm_p as f64 + head_p as f64 / t;
            if spec.tied_head && pp > 1 {
                psi += (vpad * spec.hidden) as f64 / t; // the head's copy of the table
            }
        }
        let psi_dev = psi / if parallel.zero >= 1 { dp as f64 } else { 1.0 };
        optimizers.push(pricer.optimizer(psi_dev.ceil() as u64, train.optimizer.state_bytes())?);
        let grad_bytes = psi * wb;
        let dp_reduce = |bytes: f64| -> Result<f64, TrainingError> {
            if parallel.zero == 0 {
                collective_s(cluster, net, Op::AllReduce, bytes, tp, dp)
            } else {
                Ok(
                    collective_s(cluster, net, Op::ReduceScatter, bytes, tp, dp)?
                        + collective_s(cluster, net, Op::AllGather, bytes, tp, dp)?,
                )
            }
        };
        let mut dp_s = if parallel.zero == 3 {
            0.0 // ZeRO-3 reduces per micro-batch (below)
        } else {
            dp_reduce(grad_bytes)?
        };
        // Tied embeddings: the first and the last stage sum their copies' gradients.
        if spec.tied_head && pp > 1 && (first || last) {
            let tbl = (vpad * spec.hidden) as f64 / t * wb;
            dp_s += collective_s(cluster, net, Op::AllReduce, tbl, tp * dp * (pp - 1), 2)?;
        }
        let dp_layer_s = if parallel.zero == 3 {
            0.0
        } else {
            dp_reduce(layer_p as f64 / t * wb)?
        };
        let zero3_gather_s = if parallel.zero == 3 {
            collective_s(cluster, net, Op::AllGather, grad_bytes, tp, dp)?
        } else {
            0.0
        };
        stages.push(StageCosts {
            layers,
            optimizer: optimizers.len(),
            dp_s,
            dp_layer_s,
            zero3_gather_s,
        });

        // Offload of this stage's devices: `psi_o` parameters are updated by the device's
        // optimizer (its ZeRO shard), `psi_p` are held (fetched) per layer pass.
        let psi_o = psi_dev;
        let psi_p = psi / if parallel.zero == 3 { dp as f64 } else { 1.0 };
        let ell = layers.max(1) as f64;
        ckpt_stage.push((psi * wb, psi_o * k));
        let (mut pm, mut gm, mut om) = zero_states(psi, wb, k, dp as f64, parallel.zero);
        let mut off_temp = 0.0;
        if off_cfg.is_none() {
            offload.push(None);
        } else {
            let every = off_cfg.gradients.is_off();
            let params_off = off_cfg.params.is_off();
            let opt_nvme = off_cfg.optimizer == Place::Nvme;
            let params_nvme = off_cfg.params == Place::Nvme;
            let per = |bytes: f64, bw: f64| bytes / ell / bw;
            offload.push(Some(OffloadTimes {
                grad_down_s: per(wb * psi_o, pcie),
                every_micro_batch: every,
                // Host accumulation reads the sum and the new gradients and writes the sum.
                host_acc_s: if every {
                    per(3.0 * wb * psi_o, cpu_share)
                } else {
                    0.0
                },
                param_fetch_s: if params_off {
                    per(wb * psi_p, pcie)
                } else {
                    0.0
                },
                param_nvme_s: if params_nvme {
                    per(wb * psi_p, nvme_share)
                } else {
                    0.0
                },
                opt_read_s: if opt_nvme {
                    per(k * psi_o, nvme_share)
                } else {
                    0.0
                },
                // The step reads master weights, states and gradients and writes master
                // weights, states and the 16-bit weights: (2K + 2w) bytes per parameter.
                cpu_step_s: per((2.0 * k + 2.0 * wb) * psi_o, cpu_share),
                opt_write_s: if opt_nvme {
                    per((k + if params_nvme { wb } else { 0.0 }) * psi_o, nvme_share)
                } else {
                    0.0
                },
                param_back_s: if params_off {
                    0.0
                } else {
                    per(wb * psi_o, pcie)
                },
            }));
            // The device keeps no optimizer state; gradients and weights stream through
            // two layers' buffers when offloaded.
            om = 0.0;
            if every {
                gm = 0.0;
                off_temp += 2.0 * wb * psi_o / ell;
            }
            if params_off {
                pm = 0.0;
                off_temp += 2.0 * wb * psi / ell;
            }
            // The host holds the gradients it receives, the states on `cpu`, the weights on
            // `cpu`; the drives what is on `nvme`.
            let mut h = wb * psi_o;
            let mut n = 0.0;
            if opt_nvme {
                n += k * psi_o;
            } else {
                h += k * psi_o;
            }
            if params_nvme {
                n += wb * psi_p;
            } else if params_off {
                h += wb * psi_p;
            }
            host_dev = host_dev.max(h);
            nvme_dev = nvme_dev.max(n);
        }
        let per_layer = layer_activation_bytes(
            train.seq_len as f64,
            b as f64,
            spec.hidden as f64,
            spec.heads as f64,
            t,
            sp,
            train.recompute,
        );
        let flying = in_flight(parallel.schedule, pp, vpp, i, micro_batches) as f64;
        // Layers of one chunk (the largest on this device).
        let chunk = (0..vpp).map(|c| virt[c * pp + i]).max().unwrap_or(layers);
        let activations = per_layer * chunk as f64 * flying;
        let mut temporary = off_temp;
        if train.recompute == Recompute::Full {
            temporary += layer_activation_bytes(
                train.seq_len as f64,
                b as f64,
                spec.hidden as f64,
                spec.heads as f64,
                t,
                sp,
                Recompute::None,
            );
        }
        if last {
            // fp32 logits of the vocabulary-parallel cross-entropy.
            temporary += 4.0
                * (b * train.seq_len) as f64
                * (padded_vocab(spec.vocab, tp as u64) / tp as u64) as f64;
        }
        let m = MemoryBytes {
            parameters: pm,
            gradients: gm,
            optimizer: om,
            activations,
            temporary,
        };
        stage_memory.push(m);
        if m.total() > worst {
            worst = m.total();
            memory = m;
        }
    }
    Ok(Prepared {
        spec,
        parallel: parallel.clone(),
        micro_batches,
        tokens: (train.global_batch * train.seq_len) as f64,
        devices,
        caps,
        recompute: train.recompute,
        layer_f,
        layer_b,
        core,
        embed_f,
        embed_b,
        head_f,
        head_b,
        optimizers,
        stages,
        virt,
        tp_layer_f,
        tp_layer_b,
        tp_embed,
        tp_head,
        send_s,
        memory,
        stage_memory,
        offload,
        bw: (pcie, cpu_share, nvme_share),
        host_bytes: host_dev * per_node,
        nvme_bytes: nvme_dev * per_node,
        host_cap: host.map_or((0.0, 0.0), |h| {
            (h.host_mem_gb * 1e9, h.nvme_gb.unwrap_or(0.0) * 1e9)
        }),
        checkpoint: checkpoint.map(|c| {
            let per_node_bytes =
                checkpoint_node_bytes(&ckpt_stage, parallel, cluster.devices_per_node);
            (
                *c,
                ckpt_stage
                    .iter()
                    .map(|(w, o)| {
                        w * tp as f64 + o * (tp * if parallel.zero >= 1 { dp } else { 1 }) as f64
                    })
                    .sum(),
                per_node_bytes,
            )
        }),
    })
}

/// Bytes the most loaded node writes for a checkpoint. Ranks in Megatron-LM's order
/// (tensor fastest, then data, then pipeline); data-parallel rank 0 of every stage and
/// tensor rank writes its 16-bit weights and (without ZeRO) its optimizer states; under
/// ZeRO ≥ 1 every data-parallel rank writes its optimizer shard. `stage` holds per stage
/// (16-bit weight bytes, optimizer bytes) of one device.
fn checkpoint_node_bytes(stage: &[(f64, f64)], p: &ParallelConfig, per_node: usize) -> f64 {
    let per_node = per_node.max(1);
    let mut nodes: Vec<f64> = Vec::new();
    for (pi, &(w, o)) in stage.iter().enumerate() {
        for di in 0..p.dp {
            for ti in 0..p.tp {
                let rank = ti + p.tp * (di + p.dp * pi);
                let mut bytes = 0.0;
                if di == 0 {
                    bytes += w;
                }
                if di == 0 || p.zero >= 1 {
                    bytes += o;
                }
                let node = rank / per_node;
                if nodes.len() <= node {
                    nodes.resize(node + 1, 0.0);
                }
                nodes[node] += bytes;
            }
        }
    }
    nodes.into_iter().fold(0.0, f64::max)
}

impl Prepared {
    /// The transformer.
    pub fn spec(&self) -> &TransformerSpec {
        &self.spec
    }

    /// Durations of every stage's tasks under `cal`. Each task is the stretch of kernels an
    /// eager host issues for it ([`Issue`]): the host runs ahead of the device, so its
    /// per-kernel and per-layer time only shows where it exceeds the device work. With
    /// pipeline parallelism every task starts at a synchronization point (Megatron-LM's
    /// point-to-point exchanges synchronize the device after each batch of sends and
    /// receives), so each task also pays the host's head start; without, the host never
    /// waits and a task costs the longer of the two. The tensor-parallel all-reduces are
    /// kernels on the same stream (two per layer and pass).
    fn order(&self) -> Order {
        match self.parallel.schedule {
            Schedule::Gpipe => Order::Gpipe,
            Schedule::OneFOneB => Order::OneFOneB,
            Schedule::Interleaved => Order::Interleaved(self.parallel.vpp),
        }
    }

    pub(crate) fn stage_times(&self, cal: &Calibration) -> Vec<StageTimes> {
        let hs = cal.kernel_host_s;
        let g = cal.gemm_scale;
        let ov = Issue::host(cal.layer_overhead_s);
        let sync = self.parallel.pp > 1;
        let dur = |x: Issue| {
            if sync {
                x.from_sync_s()
            } else {
                x.steady_s()
            }
        };
        // A collective of `t` seconds in `k` equal kernels.
        let coll = |t: f64, k: u64| {
            if t > 0.0 {
                Issue::kernel(t / k as f64, hs).times(k)
            } else {
                Issue::NOTHING
            }
        };
        let layer_f = ov
            .then(self.layer_f.issue(g, hs))
            .then(coll(self.tp_layer_f, 2));
        let layer_b = ov
            .then(self.layer_b.issue(g, hs))
            .then(coll(self.tp_layer_b, 2));
        let rec = match self.recompute {
            Recompute::None => Issue::NOTHING,
            Recompute::Selective => self.core.issue(g, hs),
            Recompute::Full => layer_f,
        };
        let rec_tp = match self.recompute {
            Recompute::Full => self.tp_layer_f,
            _ => 0.0,
        };
        let embed_f = self.embed_f.issue(g, hs).then(coll(self.tp_embed, 1));
        let embed_b = self.embed_b.issue(g, hs);
        let head_f = self.head_f.issue(g, hs);
        let head_b = self.head_b.issue(g, hs).then(coll(self.tp_head, 1));
        let pp = self.parallel.pp;
        let nv = self.virt.len();
        (0..nv)
            .map(|v| {
                let (d, chunk) = (v % pp, v / pp);
                let st = &self.stages[d];
                let l = self.virt[v];
                let share = l as f64 / st.layers.max(1) as f64;
                let (first, last) = (v == 0, v + 1 == nv);
                let lf = l as f64;
                let (mut f, mut ftp) = (layer_f.times(l), lf * self.tp_layer_f);
                // Backward: each layer's recompute right before its backward.
                let mut b = rec.then(layer_b).times(l);
                let mut btp = lf * self.tp_layer_b;
                if first {
                    f = embed_f.then(f);
                    ftp += self.tp_embed;
                    b = b.then(embed_b);
                }
                if last {
                    f = f.then(head_f);
                    b = head_b.then(b);
                    btp += self.tp_head;
                }
                let r = dur(rec.times(l));
                let rtp = lf * rec_tp;
                let bw = (dur(b) - r).max(0.0);
                // The device's reduction and step go with its first chunk.
                let own = chunk == 0;
                let opt = if own && !self.parallel.offload.optimizer.is_off() {
                    self.optimizers[st.optimizer - 1].issue(g, hs).from_sync_s()
                } else {
                    0.0
                };
                StageTimes {
                    fwd: ((dur(f) - ftp).max(0.0), ftp, st.zero3_gather_s * share),
                    recompute: ((r - rtp).max(0.0), rtp),
                    bwd: ((bw - btp).max(0.0), btp, st.zero3_gather_s * share * 2.0),
                    send_s: self.send_s,
                    send_prev_s: None,
                    dp_s: if own { st.dp_s } else { 0.0 },
                    dp_layer_s: st.dp_layer_s,
                    layers: l,
                    optimizer_s: opt,
                    offload: self.offload[d],
                }
            })
            .collect()
    }

    /// Simulates the iteration with calibration `cal`.
    pub fn evaluate(&self, cal: &Calibration) -> Result<TrainingReport, TrainingError> {
        self.evaluate_times(&self.stage_times(cal))
    }

    /// Simulates the iteration from per-stage task times (this job's under a calibration,
    /// or stages assembled from several jobs' on a heterogeneous cluster).
    pub(crate) fn evaluate_times(
        &self,
        times: &[StageTimes],
    ) -> Result<TrainingReport, TrainingError> {
        let times = times.to_vec();
        let order = self.order();
        let m = self.micro_batches as usize;
        let pp = self.parallel.pp;
        let overlap = self.parallel.dp_overlap && self.parallel.zero < 3 && self.parallel.dp > 1;
        let dag = build(&times, pp, m, order, overlap, false, false);
        let timing =
            run(&dag).ok_or_else(|| invalid("parallel.schedule", "the schedule deadlocks"))?;
        let offloading = !self.parallel.offload.is_none();
        let iteration_s = timing.end.iter().copied().fold(0.0, f64::max);
        // The stage whose optimizer step ends last.
        let opt_of = |s: usize| {
            dag.order[s]
                .iter()
                .copied()
                .find(|&t| dag.tasks[t].kind == Kind::Optimizer)
        };
        let crit = (0..pp)
            .max_by(|&a, &b| {
                let ea = opt_of(a).map_or(0.0, |t| timing.end[t]);
                let eb = opt_of(b).map_or(0.0, |t| timing.end[t]);
                ea.total_cmp(&eb).then(b.cmp(&a))
            })
            .unwrap_or(0);
        let mut bd = Breakdown::default();
        let mut busy_to_last = 0.0;
        let mut last_compute_end = 0.0;
        for &t in &dag.order[crit] {
            let task = &dag.tasks[t];
            match task.kind {
                Kind::Forward | Kind::Backward => {
                    bd.compute_s += task.compute_s;
                    bd.tp_comm_s += task.tp_s;
                    bd.dp_comm_s += task.dp_s;
                }
                Kind::Recompute => {
                    bd.recompute_s += task.compute_s;
                    bd.tp_comm_s += task.tp_s;
                }
                Kind::Optimizer => bd.optimizer_s += task.compute_s,
                _ => {}
            }
            if task.kind != Kind::Optimizer {
                busy_to_last += timing.end[t] - timing.start[t];
                last_compute_end = f64::max(last_compute_end, timing.end[t]);
            }
        }
        let idle = (last_compute_end - busy_to_last).max(0.0);
        // The same DAG with free sends (and free offload transfers): what waiting is left
        // is the schedule's own bubble; what free offload transfers remove is theirs.
        let idle_of = |no_p2p: bool, free: bool| -> Result<f64, TrainingError> {
            let dag0 = build(&times, pp, m, order, overlap, no_p2p, free);
            let t0 =
                run(&dag0).ok_or_else(|| invalid("parallel.schedule", "the schedule deadlocks"))?;
            let mut busy = 0.0;
            let mut end: f64 = 0.0;
            for &t in &dag0.order[crit] {
                if dag0.tasks[t].kind != Kind::Optimizer {
                    busy += t0.end[t] - t0.start[t];
                    end = end.max(t0.end[t]);
                }
            }
            Ok((end - busy).max(0.0))
        };
        let idle0 = if pp > 1 || offloading {
            idle_of(true, true)?
        } else {
            0.0
        };
        let idle_sends = if offloading {
            idle_of(false, true)?
        } else {
            idle
        };
        bd.bubble_s = idle0.min(idle);
        bd.offload_s = (idle - idle_sends).clamp(0.0, idle - bd.bubble_s);
        bd.pp_comm_s = idle - bd.bubble_s - bd.offload_s;
        let opt_start = opt_of(crit).map_or(last_compute_end, |t| timing.start[t]);
        let tail = (opt_start - last_compute_end).max(0.0);
        if offloading {
            let dp_end = dag.order[3 * pp + crit]
                .iter()
                .map(|&t| timing.end[t])
                .fold(last_compute_end, f64::max);
            let dp_x = (dp_end - last_compute_end).clamp(0.0, tail);
            bd.dp_comm_s += dp_x;
            bd.offload_s += tail - dp_x;
        } else {
            bd.dp_comm_s += tail;
        }

        let t = self.parallel.tp as f64;
        let l = self.spec.layers as f64;
        let mb_total = (self.micro_batches * self.parallel.dp as u64) as f64;
        let model_flops = self.model_flops();
        let extra = match self.recompute {
            Recompute::None => 0.0,
            Recompute::Selective => l * self.core.gemm_flops * t * mb_total,
            Recompute::Full => l * self.layer_f.gemm_flops * t * mb_total,
        };
        let n = self.devices as f64;
        let peak = self.caps.peak_flops * n * iteration_s;
        let total = self.memory.total();
        let device_fits = total <= self.caps.mem_bytes;
        let host_fits = !offloading || self.host_bytes <= self.host_cap.0;
        let nvme_fits = !offloading || self.nvme_bytes <= self.host_cap.1;
        let fits = device_fits && host_fits && nvme_fits;
        let mut reasons = Vec::new();
        if !device_fits {
            let m = MemoryGb::from(self.memory);
            reasons.push(format!(
                "needs {:.1} GB per device of {:.1} GB: parameters {:.1}, gradients {:.1}, optimizer states {:.1}, activations {:.1}, temporary {:.1}",
                m.total,
                self.caps.mem_bytes / 1e9,
                m.parameters,
                m.gradients,
                m.optimizer,
                m.activations,
                m.temporary
            ));
        }
        if !host_fits {
            reasons.push(format!(
                "needs {:.1} GB of host memory per node of {:.1} GB (cluster.host.host_mem_gb)",
                self.host_bytes / 1e9,
                self.host_cap.0 / 1e9
            ));
        }
        if !nvme_fits {
            reasons.push(format!(
                "needs {:.1} GB of NVMe per node of {:.1} GB (cluster.host.nvme_gb)",
                self.nvme_bytes / 1e9,
                self.host_cap.1 / 1e9
            ));
        }
        let why_not = (!fits).then(|| reasons.join("; "));
        let offload = offloading.then(|| self.offload_report(&dag, crit));
        let checkpoint = self.checkpoint.map(|(c, size, node)| {
            let save_s = node / (c.storage_gb_s * 1e9);
            let amortized_s = save_s / c.interval_iters as f64;
            CheckpointReport {
                size_gb: size / 1e9,
                save_s,
                interval_iters: c.interval_iters,
                amortized_s,
                overhead: amortized_s / iteration_s,
            }
        });
        Ok(TrainingReport {
            iteration_s,
            tokens_per_s: self.tokens / iteration_s,
            tflops_per_gpu: model_flops / iteration_s / n / 1e12,
            mfu: model_flops / peak,
            hfu: (model_flops + extra) / peak,
            breakdown: bd,
            memory_gb: self.memory.into(),
            fits,
            why_not,
            devices: self.devices,
            micro_batches: self.micro_batches,
            params: self.spec.params(),
            model_flops,
            tasks: dag.tasks.len(),
            offload,
            checkpoint,
            placement: None,
        })
    }

    /// Offload traffic of device `d`: its offload tasks' durations at their resources'
    /// bandwidths.
    fn offload_report(&self, dag: &Dag, d: usize) -> OffloadReport {
        let pp = self.parallel.pp;
        let busy = |r: usize| -> f64 {
            dag.order
                .get(r)
                .map_or(0.0, |ts| ts.iter().map(|&t| dag.tasks[t].compute_s).sum())
        };
        let (pcie, _, nvme) = self.bw;
        OffloadReport {
            pcie_down_gb: busy(4 * pp + d) * pcie / 1e9,
            pcie_up_gb: busy(5 * pp + d) * pcie / 1e9,
            nvme_traffic_gb: busy(7 * pp + d) * nvme / 1e9,
            cpu_s: busy(6 * pp + d),
            host_memory_gb: self.host_bytes / 1e9,
            nvme_gb: self.nvme_bytes / 1e9,
        }
    }
}

impl Prepared {
    /// Seconds of one layer's forward, recompute and backward on this job's device (TP
    /// collectives included), and the extra seconds of the first stage (embedding) and of
    /// the last (LM head) per micro-batch: what a layer partition balances.
    pub(crate) fn pass_costs(&self, cal: &Calibration) -> (f64, f64, f64) {
        let (g, hs) = (cal.gemm_scale, cal.kernel_host_s);
        let ov = Issue::host(cal.layer_overhead_s);
        let lf = ov.then(self.layer_f.issue(g, hs)).steady_s() + self.tp_layer_f;
        let lb = ov.then(self.layer_b.issue(g, hs)).steady_s() + self.tp_layer_b;
        let rec = match self.recompute {
            Recompute::None => 0.0,
            Recompute::Selective => self.core.issue(g, hs).steady_s(),
            Recompute::Full => lf,
        };
        let first = self.embed_f.issue(g, hs).steady_s()
            + self.embed_b.issue(g, hs).steady_s()
            + self.tp_embed;
        let last = self.head_f.issue(g, hs).steady_s()
            + self.head_b.issue(g, hs).steady_s()
            + self.tp_head;
        (lf + rec + lb, first, last)
    }

    /// Memory of each pipeline stage's devices.
    pub(crate) fn stage_memory(&self) -> &[MemoryBytes] {
        &self.stage_memory
    }

    /// Peak and capacity of the job's device.
    pub(crate) fn caps(&self) -> DeviceCaps {
        self.caps
    }

    /// Layers of each virtual stage.
    pub(crate) fn virt(&self) -> &[u64] {
        &self.virt
    }

    /// The iteration time alone under `cal` (one DAG run, no breakdown): what calibration
    /// and search evaluate.
    pub fn iteration_s(&self, cal: &Calibration) -> f64 {
        let times = self.stage_times(cal);
        let order = self.order();
        let overlap = self.parallel.dp_overlap && self.parallel.zero < 3 && self.parallel.dp > 1;
        let dag = build(
            &times,
            self.parallel.pp,
            self.micro_batches as usize,
            order,
            overlap,
            false,
            false,
        );
        run(&dag).map_or(f64::NAN, |t| t.end.iter().copied().fold(0.0, f64::max))
    }
}

/// What a layout search reads of a priced job without simulating it.
impl Prepared {
    /// Model FLOPs per iteration: forward model FLOPs per micro-batch on one rank × tp ×
    /// every replica's micro-batches, three times (forward and the two backward GEMMs).
    pub fn model_flops(&self) -> f64 {
        let t = self.parallel.tp as f64;
        let l = self.spec.layers as f64;
        let mb_total = (self.micro_batches * self.parallel.dp as u64) as f64;
        let fwd = (l * self.layer_f.gemm_flops + self.head_f.gemm_flops) * t;
        3.0 * fwd * mb_total
    }

    /// Tokens per iteration (the whole job).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// The job's dense peak: every device's, FLOP/s.
    pub fn peak_flops(&self) -> f64 {
        self.caps.peak_flops * self.devices as f64
    }

    /// Memory of the most loaded device, bytes by kind.
    pub fn memory(&self) -> MemoryBytes {
        self.memory
    }

    /// The most loaded device fits in its memory (and, offloading, the host's memory and
    /// drives hold what is put there): [`TrainingReport::fits`] without simulating.
    pub fn fits(&self) -> bool {
        let off = !self.parallel.offload.is_none();
        self.memory.total() <= self.caps.mem_bytes
            && (!off || (self.host_bytes <= self.host_cap.0 && self.nvme_bytes <= self.host_cap.1))
    }

    /// The parallel layout.
    pub fn parallel(&self) -> &ParallelConfig {
        &self.parallel
    }

    /// Micro-batches per pipeline per iteration.
    pub fn micro_batches(&self) -> u64 {
        self.micro_batches
    }
}

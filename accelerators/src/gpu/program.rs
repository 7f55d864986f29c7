//! The program a framework runs: each op of a workload turned into the kernels the GPU
//! executes for it, priced in the context it runs in.
//!
//! The op graph is the network's math; [`lower`] turns it into kernels the way the workload's
//! framework (`workload.framework`) does:
//!
//! | op | `pytorch` (eager PyTorch, cuDNN/cuBLAS) | `fused` (an inference engine) |
//! |---|---|---|
//! | conv followed by BatchNorm | [memset, input/filter padding when the channels are not 16-byte aligned], conv, BN: stats copy, `invstd`, transform | one conv kernel, BN folded, activation in the epilogue |
//! | activation after a conv or GEMM | its own kernel | fused into the producer |
//! | element-wise with a broadcast or strided input | PyTorch's generic loop kernel | same |
//! | GEMM, attention, norm, copy, reduction, pooling | one kernel each | same |
//!
//! (The LLM lowering already emits each framework's own ops: the six-op reference RMSNorm, the
//! cache copies, `repeat_interleave`.)
//!
//! **Context.** A kernel is priced either *isolated* — as a microbenchmark times it, cold L2,
//! the harness's fixed cost (`launch: isolated`, the conditions of the calibration CSVs) — or
//! *in a network* (`eager`, `cudagraph`), where three things change, each a constant of
//! [`super::Calibration`] fitted on the in-network kernel durations of `kernels.csv`:
//!
//! * small memory-bound kernels cost a floor of their own (`stream_floor_us` for PyTorch's
//!   vectorized element-wise kernels, `loop_floor_us` for its generic loop, copies included,
//!   `reduce_floor_us` for a row reduction), not the copy-bandwidth ideal;
//! * inputs the previous kernel just wrote come from L2 up to `l2_resident_mb`;
//! * compute-bound kernels (GEMM, convolution, attention) in a long sequence run at
//!   `sustained_mma` times their isolated main-loop time (the clock under sustained load).

use archsim_workloads::{
    numel, Conv2d, Direction, EltFunc, Framework, NodeIndex, Op, OpKind, PoolFunc,
};

use super::kernels::{KernelClass, KernelEstimate};
use super::Gpu;

/// What kind of work a kernel does, for comparing against measured kernel lists
/// (`archsim validate`) and summing per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// GEMM or convolution (cuBLAS, cuDNN, CUTLASS), split-K reductions included.
    GemmConv,
    /// Attention (FlashAttention, flash-decoding, cuDNN SDPA).
    Attention,
    /// Normalization (BatchNorm, LayerNorm, RMSNorm kernels).
    Norm,
    /// Element-wise arithmetic (activations, adds, multiplies, softmax).
    Elementwise,
    /// Data movement: copies, memsets, padding, gathers.
    Copy,
    /// Reductions and pooling.
    Reduce,
    /// Collectives and the rest.
    Other,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 7] = [
        Family::GemmConv,
        Family::Attention,
        Family::Norm,
        Family::Elementwise,
        Family::Copy,
        Family::Reduce,
        Family::Other,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Family::GemmConv => "gemm/conv",
            Family::Attention => "attention",
            Family::Norm => "norm",
            Family::Elementwise => "elementwise",
            Family::Copy => "copy",
            Family::Reduce => "reduce/pool",
            Family::Other => "other",
        }
    }

    /// The family of a measured kernel, from its name (CUDA kernel names as the PyTorch
    /// profiler or Nsight report them). A cuBLAS split-K reduction counts as GEMM.
    pub fn of_kernel_name(name: &str) -> Family {
        let n = name.to_ascii_lowercase();
        let has = |keys: &[&str]| keys.iter().any(|k| n.contains(k));
        if has(&["sdpa", "flash", "fmha", "attention"]) {
            Family::Attention
        } else if has(&["batch_norm", "layer_norm", "rms_norm", "rmsnorm", "layernorm"]) {
            Family::Norm
        } else if has(&[
            "gemm", "nvjet", "xmma", "cutlass", "splitk", "conv", "fprop", "wgrad", "dgrad",
            "cublas",
        ]) {
            Family::GemmConv
        } else if has(&["memset", "memcpy", "copy", "padding", "cat_", "catarray", "index", "gather"])
        {
            Family::Copy
        } else if has(&["reduce", "pool", "topk", "sort"]) {
            Family::Reduce
        } else if has(&["elementwise", "softmax", "clamp", "relu", "silu", "gelu"]) {
            Family::Elementwise
        } else if has(&["nccl", "allreduce", "all_reduce"]) {
            Family::Other
        } else {
            Family::Other
        }
    }
}

/// How a memory-bound kernel runs (which floor and bandwidth apply in a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemKind {
    /// Vectorized element-wise kernel over contiguous operands.
    Vector,
    /// PyTorch's generic loop: broadcast or strided operands, copies into strided views.
    Loop,
    /// Row reduction.
    Reduce,
    /// Anything else memory-bound (norms, pooling, gathers): no floor beyond the ramp.
    Plain,
}

/// One kernel of an op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kernel {
    /// What archsim calls it (`conv`, `bn_transform`, `elementwise_loop`, …).
    pub name: &'static str,
    /// Its family.
    pub family: Family,
    /// Its cost (one launch).
    pub est: KernelEstimate,
}

/// The kernels of one op and what issuing them costs the host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpKernels {
    /// Kernels in launch order (empty for a view or an op fused into its producer).
    pub kernels: Vec<Kernel>,
    /// Framework calls from the host (one per op that launches anything: a library's own
    /// extra kernels — BatchNorm's three, cuDNN's memsets — are issued by the same call).
    pub host_calls: u32,
    /// The op whose kernel this op's work was fused into, if any.
    pub fused_into: Option<NodeIndex>,
}

impl OpKernels {
    /// GPU time of the kernels' bodies, s.
    pub fn body_s(&self) -> f64 {
        self.kernels.iter().map(|k| k.est.body_s).sum()
    }
}

/// True for element-wise functions an engine fuses into a conv or GEMM epilogue.
fn epilogue_fusable(f: EltFunc) -> bool {
    matches!(
        f,
        EltFunc::Relu
            | EltFunc::Relu6
            | EltFunc::Clip
            | EltFunc::BatchNorm
            | EltFunc::Sigmoid
            | EltFunc::Silu
            | EltFunc::HardSwish
            | EltFunc::HardSigmoid
            | EltFunc::Gelu
            | EltFunc::Tanh
    )
}

/// True when `n`'s output is a strided view of a larger tensor (a slice such as `x[:, -1:]`,
/// a `chunk`, or Q/K/V split from a fused projection), through any chain of views.
fn strided_view(w: &archsim_workloads::Workload, mut n: NodeIndex) -> bool {
    loop {
        let op = &w.graph[n];
        if op.kind != OpKind::Reshape {
            return false;
        }
        if op.inputs.first().is_some_and(|i| numel(i) > numel(&op.output)) {
            return true;
        }
        match w.graph.neighbors_directed(n, Direction::Incoming).next() {
            Some(p) => n = p,
            None => return false,
        }
    }
}

/// The launching op behind `n` (through views).
fn source(w: &archsim_workloads::Workload, mut n: NodeIndex) -> NodeIndex {
    while w.graph[n].kind == OpKind::Reshape {
        match w.graph.neighbors_directed(n, Direction::Incoming).next() {
            Some(p) => n = p,
            None => break,
        }
    }
    n
}

/// The conv `op` with its input channels padded to 16 bytes, as cuDNN runs a conv whose
/// channels are not (ResNet's 3-channel stem); `None` when they already are.
fn padded_conv(op: &Op, cv: &Conv2d) -> Option<Op> {
    let b = op.dtype.bytes();
    let ic = cv.in_channels / cv.groups.max(1);
    if cv.groups != 1 || (ic * b) % 16 == 0 {
        return None;
    }
    let to = (ic * b).div_ceil(16) * 16 / b;
    let mut p = op.clone();
    let mut c = cv.clone();
    c.in_channels = to;
    p.kind = match op.kind {
        OpKind::ConvTranspose2d(_) => OpKind::ConvTranspose2d(c),
        _ => OpKind::Conv2d(c),
    };
    for i in &mut p.inputs {
        if i.len() == 4 {
            i[1] = to;
        }
    }
    Some(p)
}

/// One past the largest node index of `w` (the size of a table indexed by node).
pub fn node_bound(w: &archsim_workloads::Workload) -> usize {
    w.graph.node_indices().map(|n| n.index() + 1).max().unwrap_or(0)
}

/// Lowers `w` to its kernels, in the topological order the stream runs them, priced for the
/// GPU's launch mode (isolated or in a network).
pub fn lower(gpu: &Gpu, w: &archsim_workloads::Workload) -> Vec<(NodeIndex, OpKernels)> {
    let order = w.topo_order();
    let fused_fw = w.framework == Framework::Fused;
    let in_network = gpu.launch != super::LaunchMode::Isolated;
    let dev = gpu.device_for(w.framework);
    let mut out: Vec<(NodeIndex, OpKernels)> = Vec::with_capacity(order.len());
    // Index into `out` of each node, and the last launching op so far.
    let mut at = vec![usize::MAX; node_bound(w)];
    let mut previous: Option<NodeIndex> = None;
    // GEMM shapes already priced (layers repeat).
    let mut memo: Vec<(Op, KernelEstimate)> = Vec::new();
    for &n in &order {
        let op = &w.graph[n];
        let preds: Vec<NodeIndex> = w.graph.neighbors_directed(n, Direction::Incoming).collect();
        let mut ok = OpKernels::default();
        // An engine fuses an activation (or a BatchNorm op) into the conv/GEMM before it.
        if fused_fw {
            if let OpKind::Elementwise { func } = op.kind {
                if epilogue_fusable(func) && op.inputs.len() == 1 && preds.len() == 1 {
                    let p = source(w, preds[0]);
                    let single_use = w.graph.neighbors_directed(p, Direction::Outgoing).count() == 1;
                    let producer_fusable = matches!(
                        w.graph[p].kind,
                        OpKind::Conv2d(_) | OpKind::ConvTranspose2d(_) | OpKind::Gemm(_)
                    ) || at[p.index()] != usize::MAX
                        && out[at[p.index()]].1.fused_into.is_some();
                    if single_use && producer_fusable {
                        let root = out
                            .get(at[p.index()])
                            .and_then(|(_, k)| k.fused_into)
                            .unwrap_or(p);
                        ok.fused_into = Some(root);
                        at[n.index()] = out.len();
                        out.push((n, ok));
                        continue;
                    }
                }
            }
        }
        // Bytes of inputs the previous launching op just wrote (candidates for L2 hits).
        let fresh: f64 = if in_network {
            preds
                .iter()
                .filter(|&&p| Some(source(w, p)) == previous)
                .map(|&p| numel(&w.graph[p].output) as f64 * op.dtype.bytes() as f64)
                .sum()
        } else {
            0.0
        };
        let strided = preds.iter().any(|&p| strided_view(w, p));
        let broadcast = op
            .inputs
            .iter()
            .any(|i| numel(i) < numel(&op.output) && numel(i) > 0);
        let mut extra_calls = 0u32;
        let mut push = |name, family, est: KernelEstimate| {
            ok.kernels.push(Kernel { name, family, est });
        };
        match &op.kind {
            OpKind::Reshape => {}
            OpKind::Gemm(_) => {
                let e = match memo.iter().find(|(o, _)| o.kind == op.kind && o.dtype == op.dtype)
                {
                    Some((_, e)) => *e,
                    None => {
                        let e = dev.op(op);
                        memo.push((op.clone(), e));
                        e
                    }
                };
                let name = if e.class == KernelClass::GemmNarrow {
                    "gemm_narrow"
                } else if e.split > 1 || e.split == 0 {
                    "gemm_splitk"
                } else {
                    "gemm"
                };
                push(
                    name,
                    Family::GemmConv,
                    gpu.in_network_compute(e, in_network, gpu.cal.sustained_mma),
                );
            }
            OpKind::Conv2d(cv) | OpKind::ConvTranspose2d(cv) => {
                let b = op.dtype.bytes();
                let pytorch_bn = cv.folded_bn && !fused_fw && !gpu.fold_batchnorm;
                if !fused_fw && !cv.is_depthwise() {
                    if (cv.in_channels / cv.groups.max(1) * b) % 16 != 0 {
                        // cuDNN pads the channels of input and filter to 16 bytes first.
                        let padded = |elems: u64, c: u64| {
                            let to = (c * b).div_ceil(16) * 16 / b;
                            elems as f64 * b as f64 * (1.0 + to as f64 / c.max(1) as f64)
                        };
                        let ic = cv.in_channels / cv.groups.max(1);
                        for bytes in [
                            padded(op.input_elems(), ic),
                            padded(op.weight_elems(), ic),
                        ] {
                            push("memset", Family::Copy, gpu.tiny_kernel(in_network));
                            push(
                                "pad_channels",
                                Family::Copy,
                                gpu.memory_in_context(bytes, 0.0, 1.0, MemKind::Loop, in_network),
                            );
                        }
                    } else if cv.kernel[0] * cv.kernel[1] > 1 {
                        // cuDNN's implicit-GEMM kernels zero a workspace first.
                        push("memset", Family::Copy, gpu.tiny_kernel(in_network));
                    }
                }
                // The device prices the conv alone (`device_for` folds BatchNorms); PyTorch's
                // BatchNorm follows as three kernels of its own. A conv whose channels cuDNN
                // padded runs on the padded channels.
                let e = match padded_conv(op, cv) {
                    Some(p) if !fused_fw => dev.op(&p),
                    _ => dev.op(op),
                };
                let name = if cv.is_depthwise() { "depthwise_conv" } else { "conv" };
                push(
                    name,
                    Family::GemmConv,
                    gpu.in_network_compute(e, in_network, gpu.cal.conv_heuristic),
                );
                if pytorch_bn {
                    // `nn.BatchNorm2d` is a call of its own from Python.
                    extra_calls = 1;
                    for k in gpu.batchnorm_kernels(op, cv, in_network) {
                        ok.kernels.push(k);
                    }
                }
            }
            OpKind::Attention(_) => {
                let e = dev.op(op);
                let name = if e.class == KernelClass::FlashDecode {
                    "flash_decode"
                } else {
                    "flash_attention"
                };
                push(
                    name,
                    Family::Attention,
                    gpu.in_network_compute(e, in_network, gpu.cal.sustained_mma),
                );
            }
            OpKind::Elementwise { func } => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                if *func == EltFunc::BatchNorm && !fused_fw {
                    let cv = Conv2d::square(1, op.output.get(1).copied().unwrap_or(1), 1, 1, 0);
                    for k in gpu.batchnorm_kernels(op, &cv, in_network) {
                        ok.kernels.push(k);
                    }
                } else {
                    let kind = if strided || broadcast {
                        MemKind::Loop
                    } else {
                        MemKind::Vector
                    };
                    let name = if kind == MemKind::Loop {
                        "elementwise_loop"
                    } else {
                        "elementwise"
                    };
                    let hit = fresh.min(op.bytes_read() as f64);
                    push(
                        name,
                        Family::Elementwise,
                        gpu.memory_in_context(bytes, hit, 1.0, kind, in_network),
                    );
                }
            }
            OpKind::Copy => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                let hit = fresh.min(op.bytes_read() as f64);
                push(
                    "copy",
                    Family::Copy,
                    gpu.memory_in_context(bytes, hit, 1.0, MemKind::Loop, in_network),
                );
            }
            OpKind::Reduce { .. } => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                let hit = fresh.min(op.bytes_read() as f64);
                push(
                    "reduce",
                    Family::Reduce,
                    gpu.memory_in_context(bytes, hit, 1.0, MemKind::Reduce, in_network),
                );
            }
            OpKind::Pool(p) => {
                let bytes = (op.bytes_read() + op.bytes_written()) as f64;
                let hit = fresh.min(op.bytes_read() as f64);
                let global = op.output.len() == 4 && op.output[2] * op.output[3] == 1;
                if global {
                    // PyTorch's adaptive average pool to 1×1 is a mean reduction.
                    push(
                        "reduce",
                        Family::Reduce,
                        gpu.memory_in_context(bytes, hit, 1.0, MemKind::Reduce, in_network),
                    );
                } else {
                    let passes = if p.func == PoolFunc::Max {
                        gpu.cal.pool_passes
                    } else {
                        1.0
                    };
                    let kind = if in_network {
                        MemKind::Plain
                    } else {
                        MemKind::Vector
                    };
                    push(
                        "pool",
                        Family::Reduce,
                        gpu.memory_in_context(bytes, hit, passes, kind, in_network),
                    );
                }
            }
            OpKind::Norm { .. } | OpKind::Softmax => {
                let mut e = dev.op(op);
                if in_network {
                    e.body_s = e.body_s.max(gpu.cal.stream_floor_us * 1e-6);
                }
                let (name, fam) = if op.kind == OpKind::Softmax {
                    ("softmax", Family::Elementwise)
                } else {
                    ("norm", Family::Norm)
                };
                push(name, fam, e);
            }
            OpKind::Embedding { .. } => push("embedding", Family::Copy, dev.op(op)),
            OpKind::MoeRouter { .. } => push("topk", Family::Reduce, dev.op(op)),
            OpKind::Collective { .. } => {
                let e = dev.op(op);
                if e.launches > 0 {
                    push("ring_collective", Family::Other, e);
                }
            }
        }
        if !ok.kernels.is_empty() {
            ok.host_calls = 1 + extra_calls;
            previous = Some(n);
        }
        at[n.index()] = out.len();
        out.push((n, ok));
    }
    out
}

impl Gpu {
    /// A kernel moving next to nothing (a memset): its floor.
    fn tiny_kernel(&self, in_network: bool) -> KernelEstimate {
        self.memory_in_context(0.0, 0.0, 1.0, MemKind::Loop, in_network)
    }

    /// A memory-bound kernel moving `bytes` (read + write), `l2_hit` of them read from L2,
    /// with `passes` effective passes: isolated (the calibration harness's model) or in a
    /// network (floors, loop-kernel bandwidth, L2 hits).
    fn memory_in_context(
        &self,
        bytes: f64,
        l2_hit: f64,
        passes: f64,
        kind: MemKind,
        in_network: bool,
    ) -> KernelEstimate {
        let c = &self.cal;
        let hbm_bw = self.spec.hbm_gbps * 1e9 * c.hbm_efficiency;
        let ramp = c.dram_ramp_us * 1e-6;
        let (hit, floor, bw) = if in_network {
            let hit = l2_hit.min(c.l2_resident_mb * 1e6).min(bytes);
            let floor = match kind {
                MemKind::Vector => c.stream_floor_us,
                MemKind::Loop => c.loop_floor_us,
                MemKind::Reduce => c.reduce_floor_us,
                MemKind::Plain => c.stream_floor_us,
            } * 1e-6;
            let bw = match kind {
                MemKind::Loop => hbm_bw * c.loop_bw,
                _ => hbm_bw,
            };
            (hit, floor, bw)
        } else {
            (0.0, 0.0, hbm_bw)
        };
        let l2_bw = self.spec.l2_gbps * 1e9;
        let memory = (bytes - hit) * passes / bw + hit / l2_bw + ramp;
        let compute = c.wave_us * 1e-6;
        KernelEstimate {
            class: KernelClass::Memory,
            launches: 1,
            compute_s: compute,
            memory_s: memory,
            body_s: compute.max(memory).max(floor),
            hbm_bytes: bytes - hit,
            l2_bytes: hit,
            flops: 0.0,
            tile: [0, 0],
            split: 1,
            waves: 1,
        }
    }

    /// A compute kernel's estimate in a network: its main loop times `factor` (the sustained
    /// clock of cuBLAS and attention kernels; cuDNN's heuristic kernel choice for convs).
    fn in_network_compute(&self, e: KernelEstimate, in_network: bool, factor: f64) -> KernelEstimate {
        if !in_network || e.launches == 0 {
            return e;
        }
        let fixed = e.body_s - e.compute_s.max(e.memory_s);
        let compute = e.compute_s * factor;
        KernelEstimate {
            compute_s: compute,
            body_s: compute.max(e.memory_s) + fixed,
            ..e
        }
    }

    /// PyTorch's inference BatchNorm on channels-last activations: a copy of the running
    /// statistics, the inverse standard deviation, and the transform of the activation (read
    /// and write, `bn_passes` effective passes).
    fn batchnorm_kernels(&self, op: &Op, cv: &Conv2d, in_network: bool) -> Vec<Kernel> {
        let ch = cv.out_channels as f64;
        let out = op.bytes_written() as f64;
        vec![
            Kernel {
                name: "bn_stats_copy",
                family: Family::Copy,
                est: self.memory_in_context(8.0 * ch, 0.0, 1.0, MemKind::Loop, in_network),
            },
            Kernel {
                name: "bn_invstd",
                family: Family::Norm,
                est: self.memory_in_context(8.0 * ch, 0.0, 1.0, MemKind::Vector, in_network),
            },
            Kernel {
                name: "bn_transform",
                family: Family::Norm,
                est: self.memory_in_context(
                    2.0 * out,
                    if in_network { out } else { 0.0 },
                    self.cal.bn_passes,
                    MemKind::Plain,
                    in_network,
                ),
            },
        ]
    }
}

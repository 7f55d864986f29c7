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
pub enum KernelGroup {
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

impl KernelGroup {
    /// Every family, in report order.
    pub const ALL: [KernelGroup; 7] = [
        KernelGroup::GemmConv,
        KernelGroup::Attention,
        KernelGroup::Norm,
        KernelGroup::Elementwise,
        KernelGroup::Copy,
        KernelGroup::Reduce,
        KernelGroup::Other,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            KernelGroup::GemmConv => "gemm/conv",
            KernelGroup::Attention => "attention",
            KernelGroup::Norm => "norm",
            KernelGroup::Elementwise => "elementwise",
            KernelGroup::Copy => "copy",
            KernelGroup::Reduce => "reduce/pool",
            KernelGroup::Other => "other",
        }
    }

    /// The family of a measured kernel, from its name (CUDA kernel names as the PyTorch
    /// profiler or Nsight report them). A cuBLAS split-K reduction counts as GEMM.
    pub fn of_kernel_name(name: &str) -> KernelGroup {
        let n = name.to_ascii_lowercase();
        let has = |keys: &[&str]| keys.iter().any(|k| n.contains(k));
        if has(&["sdpa", "flash", "fmha", "attention"]) {
            KernelGroup::Attention
        } else if has(&["batch_norm", "layer_norm", "rms_norm", "rmsnorm", "layernorm"]) {
            KernelGroup::Norm
        } else if has(&[
            "gemm", "nvjet", "xmma", "cutlass", "splitk", "conv", "fprop", "wgrad", "dgrad",
            "cublas",
        ]) {
            KernelGroup::GemmConv
        } else if has(&["memset", "memcpy", "copy", "padding", "cat_", "catarray", "index", "gather"])
        {
            KernelGroup::Copy
        } else if has(&["reduce", "pool", "topk", "sort"]) {
            KernelGroup::Reduce
        } else if has(&["elementwise", "softmax", "clamp", "relu", "silu", "gelu"]) {
            KernelGroup::Elementwise
        } else {
            // Collectives (NCCL) and the rest.
            KernelGroup::Other
        }
    }
}

/// How a memory-bound kernel runs (which floor and bandwidth apply in a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemKind {
    /// Vectorized element-wise kernel over contiguous operands, and any other memory-bound
    /// kernel without a floor of its own (BatchNorm's transform, pooling).
    Vector,
    /// PyTorch's generic loop: broadcast or strided operands, copies into strided views.
    Loop,
    /// Row reduction.
    Reduce,
}

/// One kernel of an op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kernel {
    /// What archsim calls it (`conv`, `bn_transform`, `elementwise_loop`, …).
    pub name: &'static str,
    /// Its family.
    pub family: KernelGroup,
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

/// Where an LLM step's layers repeat in `order`: `(position of layer 1's first op, ops per
/// layer, layers)`, when the step has at least four layers laid out one after the other
/// (`layer0.*`, `layer1.*`, …) with the same op kinds.
fn layer_period(
    w: &archsim_workloads::Workload,
    order: &[NodeIndex],
) -> Option<(usize, usize, usize)> {
    let layers = w.llm.as_ref()?.layers as usize;
    if layers < 4 {
        return None;
    }
    let starts = |l: usize| {
        let prefix = format!("layer{l}.");
        order
            .iter()
            .position(|&n| w.graph[n].name.starts_with(&prefix))
    };
    let (p0, p1) = (starts(0)?, starts(1)?);
    let k = p1.checked_sub(p0).filter(|&k| k > 0)?;
    let last = format!("layer{}.", layers - 1);
    let same = |a: usize, b: usize| {
        let (x, y) = (&w.graph[order[a]], &w.graph[order[b]]);
        std::mem::discriminant(&x.kind) == std::mem::discriminant(&y.kind)
            && x.inputs == y.inputs
            && x.output == y.output
    };
    let end = p0 + k * layers;
    let ok = end <= order.len()
        && w.graph[order[p0 + k * (layers - 1)]].name.starts_with(&last)
        && (p1..p1 + k).all(|i| same(i, i + k) && same(i, i + k * (layers - 2)))
        && (end == order.len() || !w.graph[order[end]].name.starts_with("layer"));
    ok.then_some((p1, k, layers))
}

/// One past the largest node index of `w` (the size of a table indexed by node).
pub fn node_bound(w: &archsim_workloads::Workload) -> usize {
    w.graph.node_indices().map(|n| n.index() + 1).max().unwrap_or(0)
}

/// Lowers `w` to its kernels, in the topological order the stream runs them, priced for the
/// GPU's launch mode (isolated or in a network).
pub fn lower(gpu: &Gpu, w: &archsim_workloads::Workload) -> Vec<(NodeIndex, OpKernels)> {
    let mut out = Vec::with_capacity(w.len());
    walk(gpu, w, |n, k| out.push((n, k.clone())));
    out
}

/// [`lower`] without collecting: `visit` sees each op's kernels in turn (the buffer is reused,
/// so a prediction allocates nothing per op).
pub fn walk(gpu: &Gpu, w: &archsim_workloads::Workload, visit: impl FnMut(NodeIndex, &OpKernels)) {
    walk_with(gpu, w, true, visit, None)
}

/// The kernels of layer 1 of an LLM step and how many more times they repeat, in order.
pub type Repeat<'a> = &'a mut dyn FnMut(&[OpKernels], usize);

/// [`walk`], replaying repeated layers or pricing every op (`replay: false`). With `repeat`,
/// the replayed layers are handed over as one block (layer 1's kernels and the repeat count)
/// instead of op by op: what a caller that only sums times needs.
pub fn walk_with(
    gpu: &Gpu,
    w: &archsim_workloads::Workload,
    replay: bool,
    mut visit: impl FnMut(NodeIndex, &OpKernels),
    mut repeat: Option<Repeat<'_>>,
) {
    let order = w.topo_order();
    let fused_fw = w.framework == Framework::Fused;
    let in_network = gpu.launch != super::LaunchMode::Isolated;
    let dev = gpu.device_for_program();
    let bound = node_bound(w);
    // The op each fused op's work went into.
    let mut fused_root: Vec<Option<NodeIndex>> = vec![None; bound];
    let mut ok = OpKernels::default();
    // Per node: the launching op behind it (through views), and whether it is a strided view
    // of a larger tensor (a slice such as `x[:, -1:]`, a `chunk`, Q/K/V split from a fused
    // projection), through any chain of views. Producers come first in `order`.
    let mut src: Vec<NodeIndex> = (0..bound).map(NodeIndex::new).collect();
    let mut strided_out = vec![false; bound];
    let mut previous: Option<NodeIndex> = None;
    // GEMM shapes already priced (layers repeat).
    let mut memo: Vec<(Op, KernelEstimate)> = Vec::new();
    // An LLM step's layers are the same ops in the same context from the second layer on:
    // layer 1 is priced, layers 2 … L−1 replay its kernels (L − 2 copies).
    let period = if replay {
        layer_period(w, &order)
    } else {
        None
    };
    let mut layer1: Vec<OpKernels> = Vec::new();
    // A view's source and stridedness follow from its input's.
    let track_view = |n: NodeIndex, op: &Op, src: &mut [NodeIndex], strided: &mut [bool]| {
        if let Some(p) = w.graph.neighbors_directed(n, Direction::Incoming).next() {
            src[n.index()] = src[p.index()];
            strided[n.index()] =
                strided[p.index()] || op.inputs.first().is_some_and(|x| numel(x) > numel(&op.output));
        }
    };
    let mut i = 0;
    while i < order.len() {
        let pos = i;
        let n = order[pos];
        i += 1;
        let op = &w.graph[n];
        let preds = || w.graph.neighbors_directed(n, Direction::Incoming);
        if let (Some((p1, k, layers)), Some(block)) = (period, repeat.as_mut()) {
            if pos == p1 + k {
                // Hand layers 2 … L−1 over as one block; the op after them sees the last
                // launching op of layer L−1 as its predecessor in the stream.
                block(&layer1, layers - 2);
                let shift = k * (layers - 2);
                if let Some(j) = layer1.iter().rposition(|o| !o.kernels.is_empty()) {
                    previous = Some(order[p1 + j + shift]);
                }
                i = p1 + k * (layers - 1);
                continue;
            }
        }
        if let Some((p1, k, layers)) = period {
            if pos >= p1 + k && pos < p1 + k * (layers - 1) {
                let j = (pos - p1) % k;
                let cached = &layer1[j];
                if op.kind == OpKind::Reshape {
                    track_view(n, op, &mut src, &mut strided_out);
                } else if !cached.kernels.is_empty() {
                    previous = Some(n);
                }
                visit(n, cached);
                continue;
            }
        }
        let record = period.is_some_and(|(p1, k, _)| pos >= p1 && pos < p1 + k);
        let mut visit = |n: NodeIndex, ok: &OpKernels| {
            if record {
                layer1.push(ok.clone());
            }
            visit(n, ok);
        };
        ok.kernels.clear();
        ok.host_calls = 0;
        ok.fused_into = None;
        if op.kind == OpKind::Reshape {
            track_view(n, op, &mut src, &mut strided_out);
            visit(n, &ok);
            continue;
        }
        // An engine fuses an activation (or a BatchNorm op) into the conv/GEMM before it.
        if fused_fw {
            if let OpKind::Elementwise { func } = op.kind {
                let mut ps = preds();
                if let (true, 1, Some(p0), None) =
                    (epilogue_fusable(func), op.inputs.len(), ps.next(), ps.next())
                {
                    let p = src[p0.index()];
                    let single_use = w.graph.neighbors_directed(p, Direction::Outgoing).count() == 1;
                    let producer_fusable = matches!(
                        w.graph[p].kind,
                        OpKind::Conv2d(_) | OpKind::ConvTranspose2d(_) | OpKind::Gemm(_)
                    ) || fused_root[p.index()].is_some();
                    if single_use && producer_fusable {
                        let root = fused_root[p.index()].unwrap_or(p);
                        ok.fused_into = Some(root);
                        fused_root[n.index()] = Some(root);
                        visit(n, &ok);
                        continue;
                    }
                }
            }
        }
        // Bytes of inputs the previous launching op just wrote (candidates for L2 hits).
        let fresh: f64 = if in_network {
            preds()
                .filter(|p| Some(src[p.index()]) == previous)
                .map(|p| numel(&w.graph[p].output) as f64 * op.dtype.bytes() as f64)
                .sum()
        } else {
            0.0
        };
        let strided = preds().any(|p| strided_out[p.index()]);
        let broadcast = op
            .inputs
            .iter()
            .any(|i| numel(i) < numel(&op.output) && numel(i) > 0);
        let mut extra_calls = 0u32;
        let mut push = |name, family, est: KernelEstimate| {
            ok.kernels.push(Kernel { name, family, est });
        };
        // A memory-bound kernel over the op's bytes (read + written), the fresh part of its
        // reads from L2.
        let rw = (op.bytes_read() + op.bytes_written()) as f64;
        let hit = fresh.min(op.bytes_read() as f64);
        let stream = |passes: f64, kind: MemKind| {
            gpu.memory_in_context(rw, hit, passes, kind, in_network)
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
                    KernelGroup::GemmConv,
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
                            push("memset", KernelGroup::Copy, gpu.tiny_kernel(in_network));
                            push(
                                "pad_channels",
                                KernelGroup::Copy,
                                gpu.memory_in_context(bytes, 0.0, 1.0, MemKind::Loop, in_network),
                            );
                        }
                    } else if cv.kernel[0] * cv.kernel[1] > 1 {
                        // cuDNN's implicit-GEMM kernels zero a workspace first.
                        push("memset", KernelGroup::Copy, gpu.tiny_kernel(in_network));
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
                    KernelGroup::GemmConv,
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
                    KernelGroup::Attention,
                    gpu.in_network_compute(e, in_network, gpu.cal.sustained_mma),
                );
            }
            OpKind::Elementwise { func } => {
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
                    push(name, KernelGroup::Elementwise, stream(1.0, kind));
                }
            }
            OpKind::Copy => push("copy", KernelGroup::Copy, stream(1.0, MemKind::Loop)),
            OpKind::Reduce { .. } => push("reduce", KernelGroup::Reduce, stream(1.0, MemKind::Reduce)),
            OpKind::Pool(p) => {
                let global = op.output.len() == 4 && op.output[2] * op.output[3] == 1;
                if global {
                    // PyTorch's adaptive average pool to 1×1 is a mean reduction.
                    push("reduce", KernelGroup::Reduce, stream(1.0, MemKind::Reduce));
                } else {
                    let passes = if p.func == PoolFunc::Max {
                        gpu.cal.pool_passes
                    } else {
                        1.0
                    };
                    push("pool", KernelGroup::Reduce, stream(passes, MemKind::Vector));
                }
            }
            OpKind::Norm { .. } | OpKind::Softmax => {
                let mut e = dev.op(op);
                if in_network {
                    e.body_s = e.body_s.max(gpu.cal.stream_floor_us * 1e-6);
                }
                let (name, fam) = if op.kind == OpKind::Softmax {
                    ("softmax", KernelGroup::Elementwise)
                } else {
                    ("norm", KernelGroup::Norm)
                };
                push(name, fam, e);
            }
            OpKind::Embedding { .. } => push("embedding", KernelGroup::Copy, dev.op(op)),
            OpKind::MoeRouter { .. } => push("topk", KernelGroup::Reduce, dev.op(op)),
            OpKind::Collective { .. } => {
                let e = dev.op(op);
                if e.launches > 0 {
                    push("ring_collective", KernelGroup::Other, e);
                }
            }
        }
        if !ok.kernels.is_empty() {
            ok.host_calls = 1 + extra_calls;
            previous = Some(n);
        }
        visit(n, &ok);
    }
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
                family: KernelGroup::Copy,
                est: self.memory_in_context(8.0 * ch, 0.0, 1.0, MemKind::Loop, in_network),
            },
            Kernel {
                name: "bn_invstd",
                family: KernelGroup::Norm,
                est: self.memory_in_context(8.0 * ch, 0.0, 1.0, MemKind::Vector, in_network),
            },
            Kernel {
                name: "bn_transform",
                family: KernelGroup::Norm,
                est: self.memory_in_context(
                    2.0 * out,
                    if in_network { out } else { 0.0 },
                    self.cal.bn_passes,
                    MemKind::Vector,
                    in_network,
                ),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{GpuConfig, LaunchMode};
    use archsim_workloads::llm::{lower as lower_llm, LlmConfig, Phase};
    use archsim_workloads::DType;

    /// Replaying the repeated layers gives exactly the kernels pricing every op gives.
    #[test]
    fn replayed_layers_are_priced_as_every_op() {
        for fw in [Framework::Pytorch, Framework::Fused] {
            let c = LlmConfig {
                model: "llama2_70b".into(),
                phase: Phase::Decode,
                batch: 4,
                prompt_len: 500,
                context_len: Some(600),
                layers: Some(6),
                framework: fw,
                ..LlmConfig::default()
            };
            let w = lower_llm(&c, DType::Bf16).unwrap();
            for launch in [LaunchMode::CudaGraph, LaunchMode::Eager, LaunchMode::Isolated] {
                let gpu = Gpu::new(&GpuConfig::preset("h100_sxm", launch)).unwrap();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                walk_with(&gpu, &w, true, |n, k| a.push((n, k.kernels.clone(), k.host_calls)), None);
                walk_with(&gpu, &w, false, |n, k| b.push((n, k.kernels.clone(), k.host_calls)), None);
                assert!(layer_period(&w, &w.topo_order()).is_some());
                assert_eq!(a, b, "{fw:?} {launch:?}");
                // The block form (what `Gpu::predict` uses) gives the same step time.
                let every = {
                    let g = gpu.clone();
                    let (mut host, mut end) = (0.0f64, 0.0f64);
                    walk_with(&g, &w, false, |_, k| {
                        if !k.kernels.is_empty() {
                            host += g.host_latency(k);
                            end = end.max(host) + g.program_latency(k);
                        }
                    }, None);
                    end
                };
                let p = gpu.predict(&w);
                assert!((p - every).abs() <= 1e-12 * every, "{p} vs {every}");
            }
        }
    }

    /// An engine's program fuses BatchNorm and ReLU into the conv; PyTorch's runs them as
    /// kernels of their own.
    #[test]
    fn fused_program_has_fewer_kernels_than_pytorch() {
        let gpu = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).unwrap();
        let count = |fw| {
            let w = archsim_workloads::zoo::build_program("resnet50", 32, DType::Bf16, None, fw)
                .unwrap();
            let p = lower(&gpu, &w);
            let kernels: usize = p.iter().map(|(_, k)| k.kernels.len()).sum();
            let fused = p.iter().filter(|(_, k)| k.fused_into.is_some()).count();
            (kernels, fused, gpu.predict(&w))
        };
        let (pk, pf, pt) = count(Framework::Pytorch);
        let (fk, ff, ft) = count(Framework::Fused);
        // 53 convs, 53 BatchNorms (3 kernels each), 49 ReLUs, 16 adds, pools, the FC.
        assert!((290..=310).contains(&pk), "{pk}");
        assert_eq!(pf, 0);
        // The 33 ReLUs right after a conv fuse; the 16 after a residual add stay kernels.
        assert_eq!(ff, 33);
        assert!(fk < pk / 2, "{fk} vs {pk}");
        assert!(ft < 0.8 * pt, "{ft} vs {pt}");
    }
}

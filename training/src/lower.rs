//! Lowering one training step into op graphs (one transformer layer's forward and backward
//! on one tensor-parallel rank, the embedding, the LM head, the optimizer step) and pricing
//! them on the device's accelerator family.
//!
//! The forward layer is Megatron-LM's GPT block on one of `tp` ranks: LayerNorm, the
//! column-parallel QKV projection (`(heads + 2·kv_heads)·d/tp` outputs), attention's core as
//! Megatron runs it (a batched Q·Kᵀ, the fused scale-mask-softmax, dropout, a batched ·V), the
//! row-parallel output projection, dropout + residual, LayerNorm, the column-parallel FC1,
//! GELU (SiLU·up for SwiGLU), the row-parallel FC2, dropout + residual. With sequence
//! parallelism the norms and dropouts see `1/tp` of the tokens. The tensor-parallel
//! collectives are not in the graphs: they are priced on the network (see `crate::sim`).
//!
//! The backward graph is derived op by op from the forward one: a GEMM `[m×k]·[k×n]` has an
//! activation-gradient GEMM `[m×n]·[n×k]` and a weight-gradient GEMM `[k×m]·[m×n]` (for
//! attention's batched products, the gradient of the second operand), so backward GEMM FLOPs
//! are exactly twice the forward ones; an element-wise op, norm or softmax becomes an
//! element-wise op reading the incoming gradient and the saved tensor; the embedding's
//! backward is a scatter-add of its output gradient.
//!
//! Graphs are priced through [`Family::run_graph`], so any family (a GPU preset, a roofline,
//! a systolic array) prices them; each distinct graph is priced once ([`Pricer`] caches by
//! shape).

use std::collections::HashMap;

use archsim_accelerators::family::{Context, Family};
use archsim_workloads::llm::{Ffn, TransformerSpec};
use archsim_workloads::{DType, EltFunc, Gemm, OpKind, Tensor, Workload, WorkloadBuilder};
use serde::Serialize;

use crate::error::TrainingError;

/// The vocabulary as Megatron-LM allocates it: padded to a multiple of 128 × `tp`
/// (`--make-vocab-size-divisible-by 128`), so every rank's slice of the embedding table and
/// of the LM head has GEMM-friendly dimensions (50,257 → 50,304).
pub fn padded_vocab(vocab: u64, tp: u64) -> u64 {
    let m = 128 * tp.max(1);
    vocab.div_ceil(m) * m
}

/// The price of one graph, split so that calibration constants can scale its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Priced {
    /// Seconds in matrix products (GEMMs and batched matmuls).
    pub gemm_s: f64,
    /// Seconds in everything else (element-wise, norms, softmax, copies).
    pub other_s: f64,
    /// Floating-point operations of the graph's matrix products.
    pub gemm_flops: f64,
    /// Every op's device time in program order, and whether it is a matrix product.
    pub ops: Vec<(f64, bool)>,
}

impl Priced {
    /// The two parts together.
    pub fn total_s(&self) -> f64 {
        self.gemm_s + self.other_s
    }

    /// Time of the graph on one stream when an eager framework issues its kernels: the host
    /// spends `host_s` per kernel, the device starts kernel `i` when the host has issued it
    /// and kernel `i − 1` has ended, and matrix products take `gemm_scale` times their priced
    /// time. Long kernels hide the host; short ones wait for it.
    pub fn eager_s(&self, gemm_scale: f64, host_s: f64) -> f64 {
        let (mut host, mut end) = (0.0f64, 0.0f64);
        for &(t, gemm) in &self.ops {
            host += host_s;
            end = end.max(host) + if gemm { t * gemm_scale } else { t };
        }
        end
    }
}

impl Priced {
    /// The graph's kernels as an eager host issues them (see [`Issue`]): each kernel costs
    /// the host `host_s` to issue and the device its priced time (matrix products ×
    /// `gemm_scale`).
    pub fn issue(&self, gemm_scale: f64, host_s: f64) -> Issue {
        self.ops.iter().fold(Issue::NOTHING, |acc, &(t, gemm)| {
            acc.then(Issue::kernel(if gemm { t * gemm_scale } else { t }, host_s))
        })
    }
}

/// A stretch of work that an eager framework's host issues to one device stream, as it
/// acts on the lag between the two: the host runs ahead of the device asynchronously (the
/// launch queue), so host time only shows where it exceeds the device work it issues.
///
/// With `lag` = (the time the device's stream is busy until) − (the host's clock), issuing a
/// kernel of device time `t` at host cost `h` maps `lag ↦ max(lag − h, 0) + t` (the kernel
/// starts when both the host has issued it and the previous kernel has ended); host-only
/// time `o` maps `lag ↦ lag − o`. Both are `lag ↦ max(lag + gpu − host, b)`, a form closed
/// under composition, so a layer's map is computed once from its kernels and `n` layers'
/// map in O(1): `max(x + n·a, b + max(0, (n − 1)·a))` with `a = gpu − host`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Issue {
    /// Host time, seconds.
    pub host_s: f64,
    /// Device time of the kernels, seconds.
    pub gpu_s: f64,
    /// The lag after the stretch is at least this (−∞ when no kernel ran).
    #[serde(skip)]
    floor: f64,
}

impl Issue {
    /// No work.
    pub const NOTHING: Issue = Issue {
        host_s: 0.0,
        gpu_s: 0.0,
        floor: f64::NEG_INFINITY,
    };

    /// One kernel of device time `t` that costs the host `host_s` to issue.
    pub fn kernel(t: f64, host_s: f64) -> Issue {
        Issue {
            host_s,
            gpu_s: t,
            floor: t,
        }
    }

    /// Host-only time (framework code between kernels).
    pub fn host(o: f64) -> Issue {
        Issue {
            host_s: o,
            gpu_s: 0.0,
            floor: f64::NEG_INFINITY,
        }
    }

    /// This stretch, then `next`.
    pub fn then(self, next: Issue) -> Issue {
        Issue {
            host_s: self.host_s + next.host_s,
            gpu_s: self.gpu_s + next.gpu_s,
            floor: f64::max(self.floor + next.gpu_s - next.host_s, next.floor),
        }
    }

    /// This stretch `n` times in a row.
    pub fn times(self, n: u64) -> Issue {
        if n == 0 {
            return Issue::NOTHING;
        }
        let a = self.gpu_s - self.host_s;
        let n1 = (n - 1) as f64;
        Issue {
            host_s: self.host_s * n as f64,
            gpu_s: self.gpu_s * n as f64,
            floor: self.floor + (n1 * a).max(0.0),
        }
    }

    /// Time from a synchronization point (host and device level) until the device has run
    /// the stretch.
    pub fn from_sync_s(&self) -> f64 {
        if self.floor == f64::NEG_INFINITY {
            return self.gpu_s;
        }
        f64::max(self.gpu_s, self.host_s + self.floor)
    }

    /// Time the stretch adds to a stream whose host is never made to wait for the device
    /// (steady state: the longer of the two).
    pub fn steady_s(&self) -> f64 {
        f64::max(self.gpu_s, self.host_s)
    }
}

/// One micro-batch's shape on one tensor-parallel rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Sequences in the micro-batch.
    pub micro_batch: u64,
    /// Tokens per sequence.
    pub seq: u64,
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Sequence parallelism on.
    pub sp: bool,
}

/// What to lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Piece {
    /// One layer's forward.
    LayerForward,
    /// One layer's backward (activation and weight gradients).
    LayerBackward,
    /// Attention's core (selective recompute re-runs it).
    AttentionCore,
    /// Token (and position) embedding, forward.
    EmbedForward,
    /// Embedding backward.
    EmbedBackward,
    /// Final norm, LM head and cross-entropy, forward.
    HeadForward,
    /// Their backward.
    HeadBackward,
}

/// Builds op graphs with chained dependencies.
struct Chain {
    b: WorkloadBuilder,
    prev: Option<Tensor>,
}

impl Chain {
    fn new(name: &str, dtype: DType) -> Self {
        Chain {
            b: WorkloadBuilder::new(name, dtype),
            prev: None,
        }
    }
    /// Adds `kind` reading `inputs` (shapes) and producing `out`, after the previous op.
    fn op(&mut self, name: &str, kind: OpKind, inputs: &[Vec<u64>], out: Vec<u64>) {
        let producer = self.prev.as_ref().and_then(|t| t.producer);
        let ts: Vec<Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, s)| Tensor {
                producer: if i == 0 { producer } else { None },
                shape: s.clone(),
            })
            .collect();
        let refs: Vec<&Tensor> = ts.iter().collect();
        self.prev = Some(self.b.add_op(name, kind, &refs, out));
    }
    fn gemm(&mut self, name: &str, batch: u64, m: u64, n: u64, k: u64, weight: bool) {
        let lead = |r: u64, c: u64| {
            if batch > 1 {
                vec![batch, r, c]
            } else {
                vec![r, c]
            }
        };
        let mut inputs = vec![lead(m, k)];
        if !weight {
            inputs.push(lead(k, n));
        }
        let g = Gemm {
            batch,
            m,
            n,
            k,
            weight_operand: weight,
        };
        self.op(name, OpKind::Gemm(g), &inputs, lead(m, n));
    }
    fn elt(&mut self, name: &str, func: EltFunc, shape: Vec<u64>, inputs: usize) {
        let ins = vec![shape.clone(); inputs];
        self.op(name, OpKind::Elementwise { func }, &ins, shape);
    }
    fn finish(self) -> Workload {
        self.b.finish()
    }
}

/// The forward ops of one layer as (name, kind, input shapes, output shape), in order.
type OpList = Vec<(String, OpKind, Vec<Vec<u64>>, Vec<u64>)>;

fn layer_forward_ops(s: &TransformerSpec, sh: &Shard, core_only: bool) -> OpList {
    let mut c = Chain::new("layer", DType::Fp16);
    let (b, sq, t) = (sh.micro_batch, sh.seq, sh.tp);
    let n = b * sq;
    let n_sp = if sh.sp { n / t } else { n };
    let h = s.hidden;
    let d = s.hidden / s.heads;
    let heads = s.heads / t;
    let bh = b * heads;
    if !core_only {
        c.op(
            "ln1",
            OpKind::Norm { func: s.norm },
            &[vec![n_sp, h]],
            vec![n_sp, h],
        );
        c.gemm("qkv", 1, n, (s.heads + 2 * s.kv_heads) * d / t, h, true);
    }
    c.gemm("scores", bh, sq, sq, d, false);
    c.op(
        "softmax",
        OpKind::Softmax,
        &[vec![bh, sq, sq]],
        vec![bh, sq, sq],
    );
    c.elt("attn_dropout", EltFunc::Mul, vec![bh, sq, sq], 2);
    c.gemm("context", bh, sq, d, sq, false);
    if !core_only {
        c.gemm("proj", 1, n, h, h / t, true);
        c.elt("dropout_add1", EltFunc::Add, vec![n_sp, h], 3);
        c.op(
            "ln2",
            OpKind::Norm { func: s.norm },
            &[vec![n_sp, h]],
            vec![n_sp, h],
        );
        let f = s.ffn / t;
        match s.ffn_kind {
            Ffn::Gelu => {
                c.gemm("fc1", 1, n, f, h, true);
                c.elt("gelu", EltFunc::Gelu, vec![n, f], 1);
            }
            Ffn::SwiGlu => {
                c.gemm("gate_up", 1, n, 2 * f, h, true);
                c.elt("silu_mul", EltFunc::Silu, vec![n, f], 2);
            }
        }
        c.gemm("fc2", 1, n, h, f, true);
        c.elt("dropout_add2", EltFunc::Add, vec![n_sp, h], 3);
    }
    ops_of(c.finish())
}

fn ops_of(w: Workload) -> OpList {
    w.topo_order()
        .into_iter()
        .map(|i| {
            let o = &w.graph[i];
            (
                o.name.clone(),
                o.kind.clone(),
                o.inputs.clone(),
                o.output.clone(),
            )
        })
        .collect()
}

fn build(name: &str, dtype: DType, ops: OpList) -> Workload {
    let mut c = Chain::new(name, dtype);
    for (n, k, i, o) in ops {
        c.op(&n, k, &i, o);
    }
    c.finish()
}

/// The backward of a forward op list: gradient ops in reverse order.
fn backward_of(fwd: &OpList) -> OpList {
    let mut c = Chain::new("bwd", DType::Fp16);
    for (name, kind, inputs, out) in fwd.iter().rev() {
        match kind {
            OpKind::Gemm(g) => {
                // dA = dC · Bᵀ ([m×n]·[n×k]); dB = Aᵀ · dC ([k×m]·[m×n]).
                c.gemm(
                    &format!("{name}_dgrad"),
                    g.batch,
                    g.m,
                    g.k,
                    g.n,
                    g.weight_operand,
                );
                c.gemm(&format!("{name}_wgrad"), g.batch, g.k, g.n, g.m, false);
            }
            OpKind::Embedding { .. } => {
                c.elt(&format!("{name}_grad"), EltFunc::Add, out.clone(), 2);
            }
            OpKind::Reshape => {}
            _ => {
                // Reads the incoming gradient and the saved input, writes the input gradient.
                let shape = inputs.first().cloned().unwrap_or_else(|| out.clone());
                c.elt(&format!("{name}_grad"), EltFunc::Mul, shape, 2);
            }
        }
    }
    ops_of(c.finish())
}

fn embed_forward_ops(s: &TransformerSpec, sh: &Shard) -> OpList {
    let mut c = Chain::new("embed", DType::Fp16);
    let (b, sq, t) = (sh.micro_batch, sh.seq, sh.tp);
    let n_sp = if sh.sp { b * sq / t } else { b * sq };
    // Vocabulary-parallel table: each rank gathers from its `vocab/tp` rows.
    c.op(
        "embedding",
        OpKind::Embedding {
            vocab: padded_vocab(s.vocab, t) / t,
            dim: s.hidden,
        },
        &[vec![b, sq]],
        vec![b, sq, s.hidden],
    );
    if s.positions > 0 {
        c.elt("add_positions", EltFunc::Add, vec![n_sp, s.hidden], 2);
    }
    c.elt("embed_dropout", EltFunc::Mul, vec![n_sp, s.hidden], 2);
    ops_of(c.finish())
}

fn head_forward_ops(s: &TransformerSpec, sh: &Shard) -> OpList {
    let mut c = Chain::new("head", DType::Fp16);
    let (b, sq, t) = (sh.micro_batch, sh.seq, sh.tp);
    let n = b * sq;
    let n_sp = if sh.sp { n / t } else { n };
    let v = padded_vocab(s.vocab, t) / t;
    c.op(
        "final_norm",
        OpKind::Norm { func: s.norm },
        &[vec![n_sp, s.hidden]],
        vec![n_sp, s.hidden],
    );
    c.gemm("lm_head", 1, n, v, s.hidden, true);
    // Vocabulary-parallel cross-entropy: max, exp-sum and the target's logit.
    c.op("cross_entropy", OpKind::Softmax, &[vec![n, v]], vec![n, v]);
    ops_of(c.finish())
}

/// The graph of `piece` for `spec` on one rank.
pub fn graph(spec: &TransformerSpec, sh: &Shard, piece: Piece, dtype: DType) -> Workload {
    let ops = match piece {
        Piece::LayerForward => layer_forward_ops(spec, sh, false),
        Piece::LayerBackward => backward_of(&layer_forward_ops(spec, sh, false)),
        Piece::AttentionCore => layer_forward_ops(spec, sh, true),
        Piece::EmbedForward => embed_forward_ops(spec, sh),
        Piece::EmbedBackward => backward_of(&embed_forward_ops(spec, sh)),
        Piece::HeadForward => head_forward_ops(spec, sh),
        Piece::HeadBackward => backward_of(&head_forward_ops(spec, sh)),
    };
    build(&format!("{piece:?}"), dtype, ops)
}

/// Parameters one optimizer kernel updates at a time: the update streams through the
/// parameters in chunks (Apex's multi-tensor apply), so a device never holds more than one
/// chunk's operands in flight; 2²⁶ parameters keep every chunk far above launch-bound sizes.
pub const OPTIMIZER_CHUNK: u64 = 1 << 26;

/// The optimizer step over `params` parameters held by one device, as one memory-bound
/// kernel (a fused update): it reads the 16-bit gradient and the fp32 state (`state_bytes`
/// per parameter: master weights, and for Adam momentum and variance) and writes the state
/// and the 16-bit weights back. Tensors are counted in `dtype` elements of the same bytes.
pub fn optimizer_graph(params: u64, state_bytes: u64, dtype: DType) -> Workload {
    let db = dtype.bytes().max(1);
    let state = (params * state_bytes).div_ceil(db).max(1);
    let grad = (params * 2).div_ceil(db).max(1);
    let mut c = Chain::new("optimizer", dtype);
    c.op(
        "optimizer_step",
        OpKind::Copy,
        &[vec![state], vec![grad]],
        vec![state + grad],
    );
    c.finish()
}

/// Prices graphs on one family, each distinct graph once.
pub struct Pricer<'a> {
    family: &'a dyn Family,
    dtype: DType,
    cache: HashMap<(Piece, Shard), Priced>,
    opt_cache: HashMap<(u64, u64), Priced>,
}

impl<'a> Pricer<'a> {
    /// A pricer for `family` with element type `dtype`.
    pub fn new(family: &'a dyn Family, dtype: DType) -> Self {
        Pricer {
            family,
            dtype,
            cache: HashMap::new(),
            opt_cache: HashMap::new(),
        }
    }

    /// The element type graphs are priced in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    fn run(&self, w: &Workload, what: &str) -> Result<Priced, TrainingError> {
        let ctx = Context {
            config_hash: "",
            seed: 0,
            dtype: w.dtype,
            llm: None,
            ops: true,
        };
        let r = self
            .family
            .run_graph(w, &ctx)
            .map_err(|source| TrainingError::Accelerator {
                what: what.into(),
                source,
            })?;
        let ops: Vec<(f64, bool)> = r
            .ops
            .iter()
            .filter(|row| row.kind != "reshape")
            .map(|row| (row.latency_s, row.kind == "gemm"))
            .collect();
        let gemm_s: f64 = ops.iter().filter(|o| o.1).map(|o| o.0).sum();
        let gemm_flops: f64 = w
            .ops()
            .filter(|o| o.class() == "gemm")
            .map(|o| o.flops() as f64)
            .sum();
        let total = r.latency_s;
        Ok(Priced {
            gemm_s: gemm_s.min(total),
            other_s: (total - gemm_s).max(0.0),
            gemm_flops,
            ops,
        })
    }

    /// The price of `piece` (cached).
    pub fn price(
        &mut self,
        spec: &TransformerSpec,
        sh: &Shard,
        piece: Piece,
    ) -> Result<Priced, TrainingError> {
        if let Some(p) = self.cache.get(&(piece, *sh)) {
            return Ok(p.clone());
        }
        let w = graph(spec, sh, piece, self.dtype);
        let p = self.run(&w, &format!("{piece:?}"))?;
        self.cache.insert((piece, *sh), p.clone());
        Ok(p)
    }

    /// The price of the optimizer step over `params`: whole chunks of [`OPTIMIZER_CHUNK`]
    /// and the rest, one kernel each.
    pub fn optimizer(&mut self, params: u64, state_bytes: u64) -> Result<Priced, TrainingError> {
        let full = params / OPTIMIZER_CHUNK;
        let rest = params % OPTIMIZER_CHUNK;
        let mut out = Priced::default();
        let mut add = |p: &Priced, times: u64| {
            for _ in 0..times {
                out.gemm_s += p.gemm_s;
                out.other_s += p.other_s;
                out.ops.extend_from_slice(&p.ops);
            }
        };
        if full > 0 {
            let p = self.optimizer_chunk(OPTIMIZER_CHUNK, state_bytes)?;
            add(&p, full);
        }
        if rest > 0 {
            let p = self.optimizer_chunk(rest, state_bytes)?;
            add(&p, 1);
        }
        Ok(out)
    }

    fn optimizer_chunk(&mut self, params: u64, state_bytes: u64) -> Result<Priced, TrainingError> {
        if let Some(p) = self.opt_cache.get(&(params, state_bytes)) {
            return Ok(p.clone());
        }
        let w = optimizer_graph(params, state_bytes, self.dtype);
        let p = self.run(&w, "optimizer step")?;
        self.opt_cache.insert((params, state_bytes), p.clone());
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host and device clocks kernel by kernel, as [`Issue`] abstracts them.
    fn direct(layers: u64, overhead: f64, ops: &[f64], host_s: f64, lag0: f64) -> f64 {
        let (mut host, mut end) = (0.0f64, lag0);
        for _ in 0..layers {
            host += overhead;
            for &t in ops {
                host += host_s;
                end = end.max(host) + t;
            }
        }
        end
    }

    /// The closed form of n layers equals the kernel-by-kernel clocks, host-bound or
    /// device-bound, from a synchronization point; steady state is the longer of the two.
    #[test]
    fn issue_composes_like_the_clocks() {
        let ops = [3e-6, 40e-6, 5e-6, 120e-6, 2e-6, 60e-6];
        for host_s in [0.0, 4e-6, 30e-6, 80e-6] {
            for overhead in [0.0, 50e-6, 400e-6] {
                let layer = Issue::host(overhead).then(
                    ops.iter()
                        .fold(Issue::NOTHING, |a, &t| a.then(Issue::kernel(t, host_s))),
                );
                for n in [1, 2, 7, 24] {
                    let want = direct(n, overhead, &ops, host_s, 0.0);
                    let got = layer.times(n).from_sync_s();
                    assert!(
                        (got - want).abs() < 1e-12,
                        "{host_s} {overhead} {n}: {got} vs {want}"
                    );
                    let slow = layer.times(n);
                    assert_eq!(slow.steady_s(), slow.gpu_s.max(slow.host_s));
                }
            }
        }
        let p = Priced {
            ops: ops.iter().map(|&t| (t, t > 10e-6)).collect(),
            ..Priced::default()
        };
        for host_s in [0.0, 10e-6, 90e-6] {
            assert!((p.issue(0.9, host_s).from_sync_s() - p.eager_s(0.9, host_s)).abs() < 1e-15);
        }
    }
}

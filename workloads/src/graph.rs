//! The op graph: a DAG of [`Op`]s on petgraph, and the builder that infers shapes on insert.

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::NodeIndexable;
use petgraph::Direction;
use serde::{Deserialize, Serialize};

use crate::llm_info::LlmInfo;
use crate::op::{
    numel, window_out, Attention, CollectiveFunc, Conv2d, EltFunc, Gemm, NormFunc, Op, OpKind,
    Pool, PoolFunc, ReduceFunc, Shape,
};
use crate::{DType, WorkloadError};

/// An edge of the op graph: the tensor that flows from producer to consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Size of the tensor in bytes.
    pub bytes: u64,
}

/// A workload: a named DAG of ops, ready to be mapped onto an accelerator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    /// Model or file name.
    pub name: String,
    /// Element type of every op.
    pub dtype: DType,
    /// Batch size the graph was built for.
    pub batch: u64,
    /// The op graph; an edge `a → b` means `b` reads `a`'s output.
    pub graph: StableDiGraph<Op, Edge>,
    /// Whole-model figures of an LLM workload (parameters, KV cache), when lowered from `llm:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmInfo>,
    /// The framework whose program the graph is (`workload.framework`): which ops a device
    /// that prices kernels runs as kernels of their own and which it fuses.
    #[serde(default)]
    pub framework: crate::Framework,
}

impl Workload {
    /// Checks that every op stays inside the simulator's size envelope: at most
    /// [`crate::MAX_OP_MACS`] MACs and [`crate::MAX_TENSOR_ELEMS`] elements per tensor, so that
    /// the cost models' 64-bit cycle, byte and access counters cannot overflow. The error names
    /// the op and the figure.
    pub fn check_size(&self) -> Result<(), WorkloadError> {
        fn numel128(s: &[u64]) -> u128 {
            s.iter()
                .fold(1u128, |a, &d| a.saturating_mul(u128::from(d)))
        }
        for n in self.graph.node_indices() {
            let op = &self.graph[n];
            let too_big = |what: &str, v: u128, max: u64| WorkloadError::InvalidParameter {
                key: "workload".into(),
                reason: format!(
                    "op `{}` has {v} {what}, more than the {max} one op may have; use a smaller \
                     batch, sequence or model",
                    op.name
                ),
            };
            for s in op.inputs.iter().chain([&op.output]) {
                let e = numel128(s);
                if e > u128::from(crate::MAX_TENSOR_ELEMS) {
                    return Err(too_big("tensor elements", e, crate::MAX_TENSOR_ELEMS));
                }
            }
            let macs: u128 = op
                .gemm_views()
                .iter()
                .map(|g| {
                    [g.groups, g.m, g.n, g.k]
                        .iter()
                        .fold(1u128, |a, &d| a.saturating_mul(u128::from(d)))
                })
                .fold(0u128, u128::saturating_add);
            if macs > u128::from(crate::MAX_OP_MACS) {
                return Err(too_big("MACs", macs, crate::MAX_OP_MACS));
            }
        }
        Ok(())
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True when the workload has no op.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The ops in a deterministic topological order: among ready ops, the one inserted first.
    pub fn topo_order(&self) -> Vec<NodeIndex> {
        // Builders add an op after its inputs' producers: when every edge runs forward, the
        // insertion order is the answer (the first-inserted ready op is always the next one).
        if self.graph.edge_indices().all(|e| {
            self.graph
                .edge_endpoints(e)
                .is_some_and(|(a, b)| a.index() < b.index())
        }) {
            return self.graph.node_indices().collect();
        }
        let mut indeg: Vec<usize> = vec![0; self.graph.node_bound()];
        for n in self.graph.node_indices() {
            indeg[n.index()] = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .count();
        }
        let mut ready: std::collections::BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| indeg[n.index()] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for s in self.graph.neighbors_directed(n, Direction::Outgoing) {
                indeg[s.index()] -= 1;
                if indeg[s.index()] == 0 {
                    ready.insert(s);
                }
            }
        }
        order
    }

    /// Iterates over the ops in topological order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> + '_ {
        self.topo_order().into_iter().map(move |n| &self.graph[n])
    }

    /// Sum of MACs over all ops.
    pub fn total_macs(&self) -> u64 {
        self.graph.node_weights().map(Op::macs).sum()
    }

    /// Sum of parameter elements over all ops.
    pub fn total_weights(&self) -> u64 {
        self.graph.node_weights().map(Op::weight_elems).sum()
    }
}

/// A value flowing through the builder: the shape of a tensor and the op that produced it
/// (`None` for a graph input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Producing op, or `None` for a graph input.
    pub producer: Option<NodeIndex>,
    /// Shape of the tensor.
    pub shape: Shape,
}

/// Builds a [`Workload`] op by op, inferring every output shape as ops are added.
///
/// ```
/// use archsim_workloads::{Conv2d, DType, WorkloadBuilder};
/// let mut b = WorkloadBuilder::new("tiny", DType::Int8);
/// let x = b.input(vec![1, 3, 32, 32]);
/// let y = b.conv2d("conv", &x, Conv2d::square(3, 16, 3, 1, 1)).unwrap();
/// assert_eq!(y.shape, vec![1, 16, 32, 32]);
/// let w = b.finish();
/// assert_eq!(w.total_macs(), 32 * 32 * 16 * 27);
/// ```
#[derive(Debug)]
pub struct WorkloadBuilder {
    w: Workload,
}

impl WorkloadBuilder {
    /// Starts an empty workload named `name` whose ops use `dtype`.
    pub fn new(name: impl Into<String>, dtype: DType) -> Self {
        WorkloadBuilder {
            w: Workload {
                name: name.into(),
                dtype,
                batch: 1,
                graph: StableDiGraph::new(),
                llm: None,
                framework: crate::Framework::default(),
            },
        }
    }

    /// Declares a graph input of the given shape; its first dimension is taken as the batch.
    pub fn input(&mut self, shape: Shape) -> Tensor {
        if let Some(&b) = shape.first() {
            self.w.batch = b;
        }
        Tensor {
            producer: None,
            shape,
        }
    }

    /// Adds an op whose output shape is already known, wiring it to its inputs' producers.
    pub fn add_op(
        &mut self,
        name: impl Into<String>,
        kind: OpKind,
        inputs: &[&Tensor],
        output: Shape,
    ) -> Tensor {
        let op = Op {
            name: name.into(),
            kind,
            inputs: inputs.iter().map(|t| t.shape.clone()).collect(),
            output: output.clone(),
            dtype: self.w.dtype,
        };
        let node = self.w.graph.add_node(op);
        for t in inputs {
            if let Some(p) = t.producer {
                let bytes = numel(&t.shape) * self.w.dtype.bytes();
                self.w.graph.add_edge(p, node, Edge { bytes });
            }
        }
        Tensor {
            producer: Some(node),
            shape: output,
        }
    }

    /// A 2-D convolution of an NCHW tensor.
    pub fn conv2d(&mut self, name: &str, x: &Tensor, c: Conv2d) -> Result<Tensor, WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidOp {
            op: name.to_string(),
            reason,
        };
        let [n, ch, h, w] = nchw(name, &x.shape)?;
        check_conv(&c, ch).map_err(bad)?;
        let oh = window_out(
            h,
            c.kernel[0],
            c.stride[0],
            c.pads[0],
            c.pads[2],
            c.dilation[0],
        );
        let ow = window_out(
            w,
            c.kernel[1],
            c.stride[1],
            c.pads[1],
            c.pads[3],
            c.dilation[1],
        );
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(bad(format!(
                "filter {}x{} does not fit the padded {h}x{w} input",
                c.kernel[0], c.kernel[1]
            )));
        };
        let out = vec![n, c.out_channels, oh, ow];
        Ok(self.add_op(name, OpKind::Conv2d(c), &[x], out))
    }

    /// A 2-D transposed convolution of an NCHW tensor; `output_padding` adds rows/columns at
    /// the end of each axis, as in ONNX and PyTorch.
    pub fn conv_transpose2d(
        &mut self,
        name: &str,
        x: &Tensor,
        c: Conv2d,
        output_padding: [u64; 2],
    ) -> Result<Tensor, WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidOp {
            op: name.to_string(),
            reason,
        };
        let [n, ch, h, w] = nchw(name, &x.shape)?;
        check_conv(&c, ch).map_err(bad)?;
        let axis = |i: usize, len: u64| -> Option<u64> {
            let full =
                (len - 1) * c.stride[i] + c.dilation[i] * (c.kernel[i] - 1) + output_padding[i] + 1;
            full.checked_sub(c.pads[i] + c.pads[i + 2])
                .filter(|&o| o > 0)
        };
        let (Some(oh), Some(ow)) = (axis(0, h), axis(1, w)) else {
            return Err(bad("padding removes the whole output".into()));
        };
        let out = vec![n, c.out_channels, oh, ow];
        Ok(self.add_op(name, OpKind::ConvTranspose2d(c), &[x], out))
    }

    /// A fully connected layer: `[batch, features…] → [batch, out_features]`.
    pub fn linear(
        &mut self,
        name: &str,
        x: &Tensor,
        out_features: u64,
    ) -> Result<Tensor, WorkloadError> {
        let m = *x.shape.first().ok_or_else(|| WorkloadError::InvalidOp {
            op: name.into(),
            reason: "input is a scalar".into(),
        })?;
        let k = numel(&x.shape[1..]);
        if m == 0 || k == 0 || out_features == 0 {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: "dimensions must be positive".into(),
            });
        }
        let g = Gemm {
            batch: 1,
            m,
            n: out_features,
            k,
            weight_operand: true,
        };
        Ok(self.add_op(name, OpKind::Gemm(g), &[x], vec![m, out_features]))
    }

    /// An element-wise function of one or more tensors, broadcast against each other (numpy
    /// rules: trailing axes aligned, size-1 axes stretched).
    pub fn eltwise(
        &mut self,
        name: &str,
        func: EltFunc,
        xs: &[&Tensor],
    ) -> Result<Tensor, WorkloadError> {
        if xs.is_empty() {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: "needs at least one input".into(),
            });
        }
        let mut out: Shape = Vec::new();
        for t in xs {
            out = broadcast(&out, &t.shape).ok_or_else(|| WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("shapes {:?} and {:?} do not broadcast", out, t.shape),
            })?;
        }
        Ok(self.add_op(name, OpKind::Elementwise { func }, xs, out))
    }

    /// A matrix product `a · b` over the last two axes, broadcasting the leading (batch) axes.
    /// `b_is_weight` marks `b` as a parameter (counted in the weights, not in the inputs).
    pub fn matmul(
        &mut self,
        name: &str,
        a: &Tensor,
        b: &Tensor,
        b_is_weight: bool,
    ) -> Result<Tensor, WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidOp {
            op: name.into(),
            reason,
        };
        if a.shape.is_empty() || b.shape.is_empty() {
            return Err(bad("matmul of a scalar".into()));
        }
        // Vectors are promoted as numpy does: [k] · [k, n] and [m, k] · [k].
        let a2: Shape = if a.shape.len() == 1 {
            vec![1, a.shape[0]]
        } else {
            a.shape.clone()
        };
        let b2: Shape = if b.shape.len() == 1 {
            vec![b.shape[0], 1]
        } else {
            b.shape.clone()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != kb {
            return Err(bad(format!(
                "inner dimensions differ: {:?} · {:?}",
                a.shape, b.shape
            )));
        }
        let batch_shape = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2]).ok_or_else(|| {
            bad(format!(
                "batch axes of {:?} and {:?} do not broadcast",
                a.shape, b.shape
            ))
        })?;
        let batch = numel(&batch_shape);
        let mut out = batch_shape;
        if a.shape.len() > 1 {
            out.push(m);
        }
        if b.shape.len() > 1 {
            out.push(n);
        }
        if m == 0 || n == 0 || k == 0 || batch == 0 {
            return Err(bad("dimensions must be positive".into()));
        }
        // A right operand shared by every batch entry (weight or not) is one k×n matrix: the
        // batch folds into the rows of a single product that reads it once.
        let shared = numel(&b2[..b2.len() - 2]) == 1;
        let (batch, m) = if shared { (1, batch * m) } else { (batch, m) };
        let g = Gemm {
            batch,
            m,
            n,
            k,
            weight_operand: b_is_weight,
        };
        let inputs: Vec<&Tensor> = if b_is_weight { vec![a] } else { vec![a, b] };
        Ok(self.add_op(name, OpKind::Gemm(g), &inputs, out))
    }

    /// Scaled dot-product attention: `q` is `[batch, heads, q_len, d]`, `k` and `v` are
    /// `[batch, kv_heads, kv_len, d]`; the output is `[batch, heads, q_len, d]`.
    pub fn attention(
        &mut self,
        name: &str,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        causal: bool,
    ) -> Result<Tensor, WorkloadError> {
        let bad = |reason: String| WorkloadError::InvalidOp {
            op: name.into(),
            reason,
        };
        let (Ok([b, h, ql, d]), Ok([bk, kvh, kl, dk])) = (
            <[u64; 4]>::try_from(q.shape.as_slice()),
            <[u64; 4]>::try_from(k.shape.as_slice()),
        ) else {
            return Err(bad(format!(
                "q and k must be [batch, heads, len, dim], got {:?} and {:?}",
                q.shape, k.shape
            )));
        };
        if k.shape != v.shape {
            return Err(bad(format!("k {:?} and v {:?} differ", k.shape, v.shape)));
        }
        if b != bk || d != dk || kvh == 0 || h % kvh != 0 || b * h * ql * kl * d == 0 {
            return Err(bad(format!(
                "q {:?} does not fit k {:?} (heads must be a multiple of kv heads)",
                q.shape, k.shape
            )));
        }
        let a = Attention {
            batch: b,
            heads: h,
            kv_heads: kvh,
            q_len: ql,
            kv_len: kl,
            head_dim: d,
            causal,
        };
        Ok(self.add_op(name, OpKind::Attention(a), &[q, k, v], q.shape.clone()))
    }

    /// LayerNorm or RMSNorm over the last axis.
    pub fn norm(
        &mut self,
        name: &str,
        func: NormFunc,
        x: &Tensor,
    ) -> Result<Tensor, WorkloadError> {
        nonempty(name, x)?;
        Ok(self.add_op(name, OpKind::Norm { func }, &[x], x.shape.clone()))
    }

    /// Softmax along one axis.
    pub fn softmax(&mut self, name: &str, x: &Tensor) -> Result<Tensor, WorkloadError> {
        nonempty(name, x)?;
        Ok(self.add_op(name, OpKind::Softmax, &[x], x.shape.clone()))
    }

    /// Token embedding: `ids` of shape `[batch, len]` → `[batch, len, dim]`.
    pub fn embedding(
        &mut self,
        name: &str,
        ids: &Tensor,
        vocab: u64,
        dim: u64,
    ) -> Result<Tensor, WorkloadError> {
        nonempty(name, ids)?;
        if vocab == 0 || dim == 0 {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: "vocab and dim must be positive".into(),
            });
        }
        let mut out = ids.shape.clone();
        out.push(dim);
        Ok(self.add_op(name, OpKind::Embedding { vocab, dim }, &[ids], out))
    }

    /// A reduction of `x` to `out` (the caller gives the reduced shape).
    pub fn reduce(
        &mut self,
        name: &str,
        func: ReduceFunc,
        x: &Tensor,
        out: Shape,
    ) -> Result<Tensor, WorkloadError> {
        nonempty(name, x)?;
        if numel(&out) == 0 || numel(&out) > numel(&x.shape) {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("cannot reduce {:?} to {out:?}", x.shape),
            });
        }
        Ok(self.add_op(name, OpKind::Reduce { func }, &[x], out))
    }

    /// A view of `x` with another shape of the same size.
    pub fn reshape(
        &mut self,
        name: &str,
        x: &Tensor,
        shape: Shape,
    ) -> Result<Tensor, WorkloadError> {
        if numel(&shape) != numel(&x.shape) {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!(
                    "cannot reshape {:?} ({} elements) to {shape:?}",
                    x.shape,
                    numel(&x.shape)
                ),
            });
        }
        Ok(self.add_op(name, OpKind::Reshape, &[x], shape))
    }

    /// Data movement producing `out` from `xs` (transpose, concat, split, slice, gather).
    pub fn copy(
        &mut self,
        name: &str,
        xs: &[&Tensor],
        out: Shape,
    ) -> Result<Tensor, WorkloadError> {
        if numel(&out) == 0 {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("empty output shape {out:?}"),
            });
        }
        Ok(self.add_op(name, OpKind::Copy, xs, out))
    }

    /// A tensor-parallel collective over `ranks` devices (the output has the input's shape for
    /// an all-reduce, `ranks` times the last axis for an all-gather).
    pub fn collective(
        &mut self,
        name: &str,
        func: CollectiveFunc,
        x: &Tensor,
        ranks: u64,
    ) -> Result<Tensor, WorkloadError> {
        nonempty(name, x)?;
        let mut out = x.shape.clone();
        if func == CollectiveFunc::AllGather {
            if let Some(last) = out.last_mut() {
                *last *= ranks;
            }
        }
        Ok(self.add_op(name, OpKind::Collective { func, ranks }, &[x], out))
    }

    /// An all-to-all(v) over `ranks` devices: this device sends `xs` (blocks for every rank)
    /// and receives `out` (the blocks every rank sent it).
    pub fn all_to_all(
        &mut self,
        name: &str,
        xs: &[&Tensor],
        out: Vec<u64>,
        ranks: u64,
    ) -> Result<Tensor, WorkloadError> {
        for x in xs {
            nonempty(name, x)?;
        }
        if out.is_empty() || out.contains(&0) {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("empty output shape {out:?}"),
            });
        }
        let func = CollectiveFunc::AllToAll;
        Ok(self.add_op(name, OpKind::Collective { func, ranks }, xs, out))
    }

    /// The top-k router of a mixture-of-experts layer over `scores` of shape `[tokens, experts]`.
    pub fn moe_router(
        &mut self,
        name: &str,
        scores: &Tensor,
        top_k: u64,
    ) -> Result<Tensor, WorkloadError> {
        let experts = scores.shape.last().copied().unwrap_or(0);
        if experts == 0 || top_k == 0 || top_k > experts {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("top_k {top_k} must be between 1 and the {experts} experts"),
            });
        }
        let mut out = scores.shape.clone();
        *out.last_mut().expect("checked non-empty") = top_k;
        Ok(self.add_op(name, OpKind::MoeRouter { experts, top_k }, &[scores], out))
    }

    /// A pooling window over an NCHW tensor.
    pub fn pool(&mut self, name: &str, x: &Tensor, p: Pool) -> Result<Tensor, WorkloadError> {
        let [n, c, h, w] = nchw(name, &x.shape)?;
        let oh = window_out(h, p.kernel[0], p.stride[0], p.pads[0], p.pads[2], 1);
        let ow = window_out(w, p.kernel[1], p.stride[1], p.pads[1], p.pads[3], 1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!("pool window {:?} does not fit the {h}x{w} input", p.kernel),
            });
        };
        Ok(self.add_op(name, OpKind::Pool(p), &[x], vec![n, c, oh, ow]))
    }

    /// Global average pooling: `[n, c, h, w] → [n, c, 1, 1]`.
    pub fn global_avg_pool(&mut self, name: &str, x: &Tensor) -> Result<Tensor, WorkloadError> {
        let [_, _, h, w] = nchw(name, &x.shape)?;
        let p = Pool {
            func: PoolFunc::Avg,
            kernel: [h, w],
            stride: [1, 1],
            pads: [0; 4],
        };
        self.pool(name, x, p)
    }

    /// The op at `n`, if any (for importers that inspect what they just added).
    pub(crate) fn op(&self, n: NodeIndex) -> Option<&Op> {
        self.w.graph.node_weight(n)
    }

    /// Finishes the workload.
    pub fn finish(self) -> Workload {
        self.w
    }
}

/// Checks a (transposed) convolution's parameters against an input of `ch` channels.
fn check_conv(c: &Conv2d, ch: u64) -> Result<(), String> {
    if ch != c.in_channels {
        return Err(format!(
            "input has {ch} channels, conv expects {}",
            c.in_channels
        ));
    }
    if c.groups == 0 || c.in_channels % c.groups != 0 || c.out_channels % c.groups != 0 {
        return Err(format!(
            "groups {} must divide in_channels {} and out_channels {}",
            c.groups, c.in_channels, c.out_channels
        ));
    }
    if c.out_channels == 0
        || c.kernel.contains(&0)
        || c.stride.contains(&0)
        || c.dilation.contains(&0)
    {
        return Err("filters, kernel, stride and dilation must be positive".into());
    }
    Ok(())
}

fn nonempty(op: &str, x: &Tensor) -> Result<(), WorkloadError> {
    if x.shape.is_empty() || numel(&x.shape) == 0 {
        return Err(WorkloadError::InvalidOp {
            op: op.into(),
            reason: format!("empty input shape {:?}", x.shape),
        });
    }
    Ok(())
}

/// Numpy broadcast of two shapes, or `None` if they are incompatible.
pub fn broadcast(a: &[u64], b: &[u64]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let y = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn nchw(op: &str, shape: &[u64]) -> Result<[u64; 4], WorkloadError> {
    <[u64; 4]>::try_from(shape).map_err(|_| WorkloadError::InvalidOp {
        op: op.into(),
        reason: format!("expects an NCHW input, got shape {shape:?}"),
    })
}

//! The op graph: a DAG of [`Op`]s on petgraph, and the builder that infers shapes on insert.

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::NodeIndexable;
use petgraph::Direction;
use serde::{Deserialize, Serialize};

use crate::op::{numel, window_out, Conv2d, EltFunc, Gemm, Op, OpKind, Pool, PoolFunc, Shape};
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
}

impl Workload {
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
        if ch != c.in_channels {
            return Err(bad(format!(
                "input has {ch} channels, conv expects {}",
                c.in_channels
            )));
        }
        if c.groups == 0 || c.in_channels % c.groups != 0 || c.out_channels % c.groups != 0 {
            return Err(bad(format!(
                "groups {} must divide in_channels {} and out_channels {}",
                c.groups, c.in_channels, c.out_channels
            )));
        }
        if c.out_channels == 0
            || c.kernel.contains(&0)
            || c.stride.contains(&0)
            || c.dilation.contains(&0)
        {
            return Err(bad(
                "filters, kernel, stride and dilation must be positive".into()
            ));
        }
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

    /// An element-wise function of one or more tensors of the same shape.
    pub fn eltwise(
        &mut self,
        name: &str,
        func: EltFunc,
        xs: &[&Tensor],
    ) -> Result<Tensor, WorkloadError> {
        let first = xs.first().ok_or_else(|| WorkloadError::InvalidOp {
            op: name.into(),
            reason: "needs at least one input".into(),
        })?;
        if let Some(other) = xs.iter().find(|t| t.shape != first.shape) {
            return Err(WorkloadError::InvalidOp {
                op: name.into(),
                reason: format!(
                    "input shapes differ: {:?} vs {:?}",
                    first.shape, other.shape
                ),
            });
        }
        let out = first.shape.clone();
        Ok(self.add_op(name, OpKind::Elementwise { func }, xs, out))
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

    /// Finishes the workload.
    pub fn finish(self) -> Workload {
        self.w
    }
}

fn nchw(op: &str, shape: &[u64]) -> Result<[u64; 4], WorkloadError> {
    <[u64; 4]>::try_from(shape).map_err(|_| WorkloadError::InvalidOp {
        op: op.into(),
        reason: format!("expects an NCHW input, got shape {shape:?}"),
    })
}

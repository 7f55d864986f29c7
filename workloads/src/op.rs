//! Ops: what one node of the op graph computes, with its shapes and derived costs.
//!
//! An [`Op`] carries its [`OpKind`] (with the kind's parameters), the shapes of its inputs and
//! output, and its [`DType`]. Everything an accelerator model needs — MACs, FLOPs, bytes read
//! and written, weight count, the GEMM view — is derived from those, never stored, so it cannot
//! go stale.

use serde::{Deserialize, Serialize};

use crate::DType;

/// A tensor shape. Activations are `[batch, channels, height, width]` (NCHW); matrices are
/// `[rows, cols]`.
pub type Shape = Vec<u64>;

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[u64]) -> u64 {
    shape.iter().product()
}

/// A 2-D convolution (grouped and depthwise included). Shapes are NCHW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: u64,
    /// Output channels (filters).
    pub out_channels: u64,
    /// Filter height and width.
    pub kernel: [u64; 2],
    /// Stride along height and width.
    pub stride: [u64; 2],
    /// Zero padding in ONNX order: `[h_begin, w_begin, h_end, w_end]`.
    pub pads: [u64; 4],
    /// Dilation along height and width.
    pub dilation: [u64; 2],
    /// Channel groups: 1 for a dense conv, `in_channels` for a depthwise conv.
    pub groups: u64,
    /// A BatchNorm follows this conv in the source network and is folded into its scale and
    /// bias (the zoo's CNNs). Accelerators that fold it (inference compilers, the systolic
    /// model) ignore this; the GPU model, which prices a framework's kernels, runs it as a
    /// kernel of its own unless `fold_batchnorm` is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folded_bn: bool,
}

impl Conv2d {
    /// A dense `k×k` convolution with symmetric padding `pad`.
    pub fn square(in_channels: u64, out_channels: u64, k: u64, stride: u64, pad: u64) -> Self {
        Conv2d {
            in_channels,
            out_channels,
            kernel: [k, k],
            stride: [stride, stride],
            pads: [pad; 4],
            dilation: [1, 1],
            groups: 1,
            folded_bn: false,
        }
    }

    /// The same convolution with `groups` channel groups.
    pub fn with_groups(mut self, groups: u64) -> Self {
        self.groups = groups;
        self
    }

    /// True when every input channel has its own filter (groups = in = out channels).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.in_channels && self.groups == self.out_channels
    }
}

/// A (batched) matrix product `[m×k] · [k×n]`, repeated `batch` times with distinct operands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gemm {
    /// Independent products (1 for a plain GEMM).
    pub batch: u64,
    /// Rows of the left operand and of the result.
    pub m: u64,
    /// Columns of the right operand and of the result.
    pub n: u64,
    /// The reduction dimension.
    pub k: u64,
    /// True when the right operand is a weight (a layer's parameters) rather than an activation.
    pub weight_operand: bool,
}

/// Element-wise functions (inputs broadcast against each other, numpy style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EltFunc {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `min(max(x, lo), hi)`.
    Clip,
    /// Sum (a residual connection, a bias).
    Add,
    /// Difference.
    Sub,
    /// Product (a gate, a scale).
    Mul,
    /// Quotient.
    Div,
    /// Inference-time batch normalization (a per-channel scale and shift).
    BatchNorm,
    /// Logistic sigmoid.
    Sigmoid,
    /// `x · sigmoid(x)` (SiLU / swish).
    Silu,
    /// MobileNetV3's hard swish.
    HardSwish,
    /// Piecewise-linear sigmoid.
    HardSigmoid,
    /// Gaussian error linear unit.
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Error function.
    Erf,
    /// Exponential.
    Exp,
    /// Square root.
    Sqrt,
    /// Power.
    Pow,
    /// Reciprocal.
    Reciprocal,
    /// Negation, absolute value, sign and other one-operation maps.
    Neg,
    /// Element-wise maximum or minimum of several tensors.
    MaxMin,
    /// Conditional select.
    Where,
    /// Type conversion or identity (moves data, computes nothing).
    Cast,
}

impl EltFunc {
    /// Arithmetic operations per output element. Transcendentals count 4 (an exponential or
    /// reciprocal plus the surrounding multiply-adds), a convention — real units differ.
    pub fn ops_per_element(self) -> u64 {
        use EltFunc::*;
        match self {
            Cast => 0,
            Relu | Add | Sub | Mul | Neg | MaxMin | Where => 1,
            Relu6 | Clip | BatchNorm | Div | Reciprocal | Sqrt => 2,
            HardSwish | HardSigmoid => 3,
            Sigmoid | Silu | Gelu | Tanh | Erf | Exp | Pow => 4,
        }
    }
}

/// Pooling functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolFunc {
    /// Maximum over the window.
    Max,
    /// Mean over the window.
    Avg,
}

/// A 2-D pooling window (global pooling has the kernel equal to the input's spatial size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Max or average.
    pub func: PoolFunc,
    /// Window height and width.
    pub kernel: [u64; 2],
    /// Stride along height and width.
    pub stride: [u64; 2],
    /// Zero padding `[h_begin, w_begin, h_end, w_end]`.
    pub pads: [u64; 4],
}

/// Normalizations over the last axis (layer/RMS norm) or per channel (group norm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormFunc {
    /// LayerNorm: mean and variance over the last axis, scale and shift.
    LayerNorm,
    /// RMSNorm: root mean square over the last axis, scale.
    RmsNorm,
}

/// Reductions along some axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceFunc {
    /// Mean.
    Mean,
    /// Sum.
    Sum,
    /// Maximum or minimum.
    MaxMin,
}

/// Collective communication between the devices of a tensor- or expert-parallel group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectiveFunc {
    /// Sum of every rank's tensor, delivered to every rank.
    AllReduce,
    /// Concatenation of every rank's shard, delivered to every rank.
    AllGather,
    /// Every rank sends a block to every rank (an MoE layer's dispatch of tokens to the
    /// devices holding their experts, and the combine back): all-to-all(v), the blocks sized
    /// by the op's tensors (see [`Op::collective_bytes`]).
    AllToAll,
}

/// Scaled dot-product attention of one layer: `softmax(Q·Kᵀ/√d)·V` over all heads.
///
/// Q is `[batch, heads, q_len, head_dim]`; K and V are `[batch, kv_heads, kv_len, head_dim]`
/// (grouped-query attention when `kv_heads < heads`). With `q_len = kv_len` it is a prefill
/// (GEMM-like); with `q_len = 1` against a KV cache it is a decode step (GEMV-like).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    /// Sequences.
    pub batch: u64,
    /// Query heads.
    pub heads: u64,
    /// Key/value heads (divides `heads`).
    pub kv_heads: u64,
    /// Query tokens per sequence.
    pub q_len: u64,
    /// Key/value tokens per sequence (cache plus new tokens).
    pub kv_len: u64,
    /// Channels per head.
    pub head_dim: u64,
    /// Causal mask (each query sees only earlier keys).
    pub causal: bool,
}

/// What an op computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// 2-D convolution (grouped and depthwise included).
    Conv2d(Conv2d),
    /// 2-D transposed convolution; `in_channels`/`out_channels` as in the forward direction
    /// of the op (input channels are the ones read).
    ConvTranspose2d(Conv2d),
    /// Matrix product (fully connected layers, batched matmuls).
    Gemm(Gemm),
    /// Scaled dot-product attention (Q·Kᵀ, softmax, ·V) of all heads.
    Attention(Attention),
    /// Element-wise function of one or more broadcastable inputs.
    Elementwise {
        /// The function.
        func: EltFunc,
    },
    /// LayerNorm or RMSNorm over the last axis (with its scale/shift parameters).
    Norm {
        /// The normalization.
        func: NormFunc,
    },
    /// Softmax along one axis.
    Softmax,
    /// Windowed pooling.
    Pool(Pool),
    /// Reduction along some axes.
    Reduce {
        /// The reduction.
        func: ReduceFunc,
    },
    /// Gather of `dim`-wide rows of a `vocab × dim` table (token embedding).
    Embedding {
        /// Rows of the table.
        vocab: u64,
        /// Width of a row.
        dim: u64,
    },
    /// Mixture-of-experts router: top-k selection over expert scores, per token.
    MoeRouter {
        /// Experts.
        experts: u64,
        /// Experts chosen per token.
        top_k: u64,
    },
    /// Collective communication across the `ranks` devices of a tensor- or expert-parallel
    /// group.
    Collective {
        /// All-reduce, all-gather or all-to-all.
        func: CollectiveFunc,
        /// Devices in the group.
        ranks: u64,
    },
    /// Data movement without arithmetic: transpose, concat, split, slice, gather.
    Copy,
    /// A view: a new shape, or a strided slice of its input (e.g. `x[:, -1:]`); no data moves.
    Reshape,
}

/// A GEMM view of a GEMM-like op: `groups` independent products of an `m×k` operand by a
/// `k×n` operand. A convolution becomes one through im2col: `m` = output pixels × batch,
/// `n` = filters per group, `k` = filter window × input channels per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GemmView {
    /// Independent products (channel groups of a conv, batch of a batched matmul).
    pub groups: u64,
    /// Rows of the left (ifmap) operand: output pixels.
    pub m: u64,
    /// Columns of the right (filter) operand: filters.
    pub n: u64,
    /// Reduction length: filter window × channels.
    pub k: u64,
}

impl GemmView {
    /// Multiply-accumulates of the whole view.
    pub fn macs(&self) -> u64 {
        self.groups * self.m * self.n * self.k
    }
}

/// One node of the op graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Unique name within the workload (used in reports and errors).
    pub name: String,
    /// What the op computes.
    pub kind: OpKind,
    /// Shapes of the activation inputs (weights are implied by the kind).
    pub inputs: Vec<Shape>,
    /// Shape of the output.
    pub output: Shape,
    /// Element type of activations and weights.
    pub dtype: DType,
}

/// Output length of a sliding window along one axis (floor convention, as PyTorch and ONNX).
pub fn window_out(
    input: u64,
    kernel: u64,
    stride: u64,
    pad_begin: u64,
    pad_end: u64,
    dilation: u64,
) -> Option<u64> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

impl Op {
    /// A short class name for reports: `conv2d`, `depthwise_conv2d`, `conv_transpose2d`,
    /// `gemm`, `attention`, `elementwise`, `norm`, `softmax`, `pool`, `reduce`, `embedding`,
    /// `moe_router`, `collective`, `copy`, `reshape`.
    pub fn class(&self) -> &'static str {
        match &self.kind {
            OpKind::Conv2d(c) if c.is_depthwise() => "depthwise_conv2d",
            OpKind::Conv2d(_) => "conv2d",
            OpKind::ConvTranspose2d(_) => "conv_transpose2d",
            OpKind::Gemm(_) => "gemm",
            OpKind::Attention(_) => "attention",
            OpKind::Elementwise { .. } => "elementwise",
            OpKind::Norm { .. } => "norm",
            OpKind::Softmax => "softmax",
            OpKind::Pool(_) => "pool",
            OpKind::Reduce { .. } => "reduce",
            OpKind::Embedding { .. } => "embedding",
            OpKind::MoeRouter { .. } => "moe_router",
            OpKind::Collective { .. } => "collective",
            OpKind::Copy => "copy",
            OpKind::Reshape => "reshape",
        }
    }

    /// The op as matrix products, for the ops that are made of them: one view for a conv or a
    /// GEMM, two for attention (`Q·Kᵀ` then `P·V`), none otherwise.
    pub fn gemm_views(&self) -> Vec<GemmView> {
        match &self.kind {
            OpKind::Attention(a) => {
                let groups = a.batch * a.heads;
                vec![
                    GemmView {
                        groups,
                        m: a.q_len,
                        n: a.kv_len,
                        k: a.head_dim,
                    },
                    GemmView {
                        groups,
                        m: a.q_len,
                        n: a.head_dim,
                        k: a.kv_len,
                    },
                ]
            }
            _ => self.gemm_view().into_iter().collect(),
        }
    }

    /// The op as one (grouped) matrix product, for convs and GEMMs.
    pub fn gemm_view(&self) -> Option<GemmView> {
        match &self.kind {
            OpKind::Conv2d(c) => {
                let (n, oh, ow) = (self.output[0], self.output[2], self.output[3]);
                Some(GemmView {
                    groups: c.groups,
                    m: n * oh * ow,
                    n: c.out_channels / c.groups,
                    k: c.kernel[0] * c.kernel[1] * (c.in_channels / c.groups),
                })
            }
            OpKind::ConvTranspose2d(c) => {
                // Each input pixel scatters a kernel-sized patch of every output channel.
                let x = self.inputs.first()?;
                Some(GemmView {
                    groups: c.groups,
                    m: x[0] * x[2] * x[3],
                    n: c.kernel[0] * c.kernel[1] * (c.out_channels / c.groups),
                    k: c.in_channels / c.groups,
                })
            }
            OpKind::Gemm(g) => Some(GemmView {
                groups: g.batch,
                m: g.m,
                n: g.n,
                k: g.k,
            }),
            _ => None,
        }
    }

    /// Multiply-accumulate operations (0 for ops that have none). Attention counts both
    /// products densely (a causal mask's skipped half is a kernel's optimization, not the op's).
    pub fn macs(&self) -> u64 {
        match &self.kind {
            OpKind::Attention(_) => self.gemm_views().iter().map(GemmView::macs).sum(),
            // One view at most: no list built.
            _ => self.gemm_view().map_or(0, |g| g.macs()),
        }
    }

    /// Arithmetic operations: 2 per MAC, plus the element-wise, normalization and pooling work.
    pub fn flops(&self) -> u64 {
        let out = numel(&self.output);
        let inp: u64 = self.inputs.iter().map(|s| numel(s)).sum();
        match &self.kind {
            OpKind::Conv2d(_) | OpKind::ConvTranspose2d(_) | OpKind::Gemm(_) => 2 * self.macs(),
            // Softmax over the scores: max, subtract, exp, sum, divide.
            OpKind::Attention(a) => 2 * self.macs() + 5 * a.batch * a.heads * a.q_len * a.kv_len,
            OpKind::Elementwise { func } => func.ops_per_element() * out,
            // Mean and variance (or mean square), normalize, scale and shift.
            OpKind::Norm {
                func: NormFunc::LayerNorm,
            } => 8 * out,
            OpKind::Norm {
                func: NormFunc::RmsNorm,
            } => 5 * out,
            OpKind::Softmax => 5 * out,
            OpKind::Pool(p) => p.kernel[0] * p.kernel[1] * out,
            OpKind::Reduce { .. } => inp,
            OpKind::MoeRouter { experts, top_k } => {
                let tokens = self
                    .inputs
                    .first()
                    .map_or(0, |s| numel(s) / experts.max(&1));
                tokens * experts * (*top_k).max(1)
            }
            OpKind::Collective {
                func: CollectiveFunc::AllReduce,
                ranks,
            } => out * ranks.saturating_sub(1),
            OpKind::Embedding { .. }
            | OpKind::Collective { .. }
            | OpKind::Copy
            | OpKind::Reshape => 0,
        }
    }

    /// Elements of the op's parameters (filters, FC weights, norm scales, embedding tables).
    pub fn weight_elems(&self) -> u64 {
        let last = self.output.last().copied().unwrap_or(1);
        match &self.kind {
            OpKind::Conv2d(c) | OpKind::ConvTranspose2d(c) => {
                c.out_channels * (c.in_channels / c.groups) * c.kernel[0] * c.kernel[1]
            }
            OpKind::Gemm(g) if g.weight_operand => g.batch * g.k * g.n,
            OpKind::Elementwise {
                func: EltFunc::BatchNorm,
            } => 2 * self.output.get(1).copied().unwrap_or(1),
            OpKind::Norm {
                func: NormFunc::LayerNorm,
            } => 2 * last,
            OpKind::Norm {
                func: NormFunc::RmsNorm,
            } => last,
            OpKind::Embedding { vocab, dim } => vocab * dim,
            _ => 0,
        }
    }

    /// Parameter elements read when the op runs: all of them, except for an embedding, which
    /// reads only the rows it gathers.
    pub fn weight_elems_read(&self) -> u64 {
        match &self.kind {
            OpKind::Embedding { .. } => numel(&self.output),
            _ => self.weight_elems(),
        }
    }

    /// Elements of the activation inputs (every input counted once, padding excluded).
    pub fn input_elems(&self) -> u64 {
        match &self.kind {
            OpKind::Reshape => 0,
            _ => self.inputs.iter().map(|s| numel(s)).sum(),
        }
    }

    /// Bytes read: activation inputs plus the parameters used.
    pub fn bytes_read(&self) -> u64 {
        (self.input_elems() + self.weight_elems_read()) * self.dtype.bytes()
    }

    /// Bytes written: the output (nothing for a reshape, which is a view).
    pub fn bytes_written(&self) -> u64 {
        match &self.kind {
            OpKind::Reshape => 0,
            _ => numel(&self.output) * self.dtype.bytes(),
        }
    }

    /// The buffer of a collective as `archsim-net` prices it (its `S`, bytes): the tensor
    /// reduced or gathered (the output) of an all-reduce or all-gather; for an all-to-all(v),
    /// one rank's larger side, what it sends (its inputs) or what it receives (its output), of
    /// which `(p − 1)/p` crosses its links (the rest stays on the device). 0 for other ops.
    pub fn collective_bytes(&self) -> u64 {
        match &self.kind {
            OpKind::Collective {
                func: CollectiveFunc::AllToAll,
                ..
            } => (self.input_elems() * self.dtype.bytes()).max(self.bytes_written()),
            OpKind::Collective { .. } => self.bytes_written(),
            _ => 0,
        }
    }

    /// Work of a vector unit, in element operations: the FLOPs, but at least one operation per
    /// element moved for data-movement ops; 0 for a view.
    pub fn vector_work(&self) -> u64 {
        match &self.kind {
            OpKind::Reshape => 0,
            _ => self.flops().max(numel(&self.output)),
        }
    }

    /// FLOPs per byte moved: high for GEMM-like ops, below ~2 for GEMV-like and element-wise ops.
    pub fn arithmetic_intensity(&self) -> f64 {
        let bytes = self.bytes_read() + self.bytes_written();
        if bytes == 0 {
            0.0
        } else {
            self.flops() as f64 / bytes as f64
        }
    }

    /// True for matrix products whose every view has at least 2 rows on both sides
    /// (GEMM-like); false for GEMV-like products (decode attention, batch-1 FC) and for ops
    /// that are no product at all.
    pub fn is_gemm_like(&self) -> bool {
        let v = self.gemm_views();
        !v.is_empty() && v.iter().all(|g| g.m > 1 && g.n > 1)
    }
}

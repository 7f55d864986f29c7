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

/// Element-wise functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EltFunc {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// Sum of two tensors of the same shape (a residual connection).
    Add,
    /// Product of two tensors of the same shape.
    Mul,
    /// Inference-time batch normalization (a per-channel scale and shift).
    BatchNorm,
}

impl EltFunc {
    /// Arithmetic operations per output element.
    pub fn ops_per_element(self) -> u64 {
        match self {
            EltFunc::Relu | EltFunc::Add | EltFunc::Mul => 1,
            EltFunc::Relu6 | EltFunc::BatchNorm => 2,
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

/// What an op computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// 2-D convolution (grouped and depthwise included).
    Conv2d(Conv2d),
    /// Matrix product (fully connected layers, batched matmuls).
    Gemm(Gemm),
    /// Element-wise function of one or more same-shaped inputs.
    Elementwise {
        /// The function.
        func: EltFunc,
    },
    /// Windowed pooling.
    Pool(Pool),
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
    /// A short class name for reports: `conv2d`, `depthwise_conv2d`, `gemm`, `elementwise`, `pool`.
    pub fn class(&self) -> &'static str {
        match &self.kind {
            OpKind::Conv2d(c) if c.is_depthwise() => "depthwise_conv2d",
            OpKind::Conv2d(_) => "conv2d",
            OpKind::Gemm(_) => "gemm",
            OpKind::Elementwise { .. } => "elementwise",
            OpKind::Pool(_) => "pool",
        }
    }

    /// The op as (groups of) matrix products, for the ops that are one (conv, GEMM).
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
            OpKind::Gemm(g) => Some(GemmView {
                groups: g.batch,
                m: g.m,
                n: g.n,
                k: g.k,
            }),
            _ => None,
        }
    }

    /// Multiply-accumulate operations (0 for ops that have none).
    pub fn macs(&self) -> u64 {
        self.gemm_view().map_or(0, |g| g.macs())
    }

    /// Arithmetic operations: 2 per MAC, plus the element-wise and pooling work.
    pub fn flops(&self) -> u64 {
        match &self.kind {
            OpKind::Conv2d(_) | OpKind::Gemm(_) => 2 * self.macs(),
            OpKind::Elementwise { func } => func.ops_per_element() * numel(&self.output),
            OpKind::Pool(p) => p.kernel[0] * p.kernel[1] * numel(&self.output),
        }
    }

    /// Elements of the op's parameters (filters, FC weights, batch-norm scale and shift).
    pub fn weight_elems(&self) -> u64 {
        match &self.kind {
            OpKind::Conv2d(c) => {
                c.out_channels * (c.in_channels / c.groups) * c.kernel[0] * c.kernel[1]
            }
            OpKind::Gemm(g) if g.weight_operand => g.batch * g.k * g.n,
            OpKind::Elementwise {
                func: EltFunc::BatchNorm,
            } => 2 * self.output.get(1).copied().unwrap_or(1),
            _ => 0,
        }
    }

    /// Elements of the activation inputs (every input counted once, padding excluded).
    pub fn input_elems(&self) -> u64 {
        let acts: u64 = self.inputs.iter().map(|s| numel(s)).sum();
        match &self.kind {
            // A GEMM whose right operand is an activation reads both operands as inputs;
            // the operand shapes are recorded in `inputs`.
            OpKind::Gemm(g) if !g.weight_operand && self.inputs.len() < 2 => {
                acts + g.batch * g.k * g.n
            }
            _ => acts,
        }
    }

    /// Bytes read: activation inputs plus parameters.
    pub fn bytes_read(&self) -> u64 {
        (self.input_elems() + self.weight_elems()) * self.dtype.bytes()
    }

    /// Bytes written: the output.
    pub fn bytes_written(&self) -> u64 {
        numel(&self.output) * self.dtype.bytes()
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

    /// True for a matrix product with at least 2 rows on both sides (GEMM-like); false for a
    /// GEMV-like product (one operand a vector) and for ops that are no product at all.
    pub fn is_gemm_like(&self) -> bool {
        self.gemm_view().is_some_and(|g| g.m > 1 && g.n > 1)
    }
}

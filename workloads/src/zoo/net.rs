//! The builder the zoo's networks share: a [`WorkloadBuilder`] that also counts the parameters
//! that have no op of their own once BatchNorm is folded (see [`ZooModel`]).

use crate::graph::{Tensor, WorkloadBuilder};
use crate::op::{Conv2d, EltFunc, Pool};
use crate::zoo::ZooModel;
use crate::{DType, WorkloadError};

/// A [`WorkloadBuilder`] plus the count of folded parameters (biases, BatchNorm γ and β).
#[derive(Debug)]
pub(crate) struct Net {
    b: WorkloadBuilder,
    folded: u64,
}

/// The usual name suffix of an activation op.
fn act_name(func: EltFunc) -> &'static str {
    match func {
        EltFunc::Relu => "relu",
        EltFunc::Relu6 => "relu6",
        EltFunc::Silu => "silu",
        EltFunc::Sigmoid => "sigmoid",
        EltFunc::HardSwish => "hardswish",
        _ => "act",
    }
}

impl Net {
    pub(crate) fn new(name: impl Into<String>, dtype: DType) -> Self {
        Net {
            b: WorkloadBuilder::new(name, dtype),
            folded: 0,
        }
    }

    /// The NCHW image input; the batch must be at least 1.
    pub(crate) fn image(
        &mut self,
        batch: u64,
        c: u64,
        h: u64,
        w: u64,
    ) -> Result<Tensor, WorkloadError> {
        if batch == 0 {
            return Err(WorkloadError::InvalidParameter {
                key: "workload.batch".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(self.b.input(vec![batch, c, h, w]))
    }

    /// A convolution without bias or BatchNorm.
    pub(crate) fn conv(
        &mut self,
        name: &str,
        x: &Tensor,
        c: Conv2d,
    ) -> Result<Tensor, WorkloadError> {
        self.b.conv2d(name, x, c)
    }

    /// A convolution with a bias (one parameter per filter).
    pub(crate) fn conv_bias(
        &mut self,
        name: &str,
        x: &Tensor,
        c: Conv2d,
    ) -> Result<Tensor, WorkloadError> {
        let out = c.out_channels;
        let y = self.b.conv2d(name, x, c)?;
        self.folded += out;
        Ok(y)
    }

    /// A bias-free convolution followed by a BatchNorm, folded into it: the BN's γ and β
    /// (2 parameters per filter) become the conv's scale and bias.
    pub(crate) fn conv_bn(
        &mut self,
        name: &str,
        x: &Tensor,
        c: Conv2d,
    ) -> Result<Tensor, WorkloadError> {
        let out = c.out_channels;
        let c = Conv2d {
            folded_bn: true,
            ..c
        };
        let y = self.b.conv2d(name, x, c)?;
        self.folded += 2 * out;
        Ok(y)
    }

    /// [`Net::conv_bn`] followed by the activation `func` (op `{name}.{relu|relu6|silu|…}`).
    pub(crate) fn conv_bn_act(
        &mut self,
        name: &str,
        x: &Tensor,
        c: Conv2d,
        func: EltFunc,
    ) -> Result<Tensor, WorkloadError> {
        let y = self.conv_bn(name, x, c)?;
        self.act(&format!("{name}.{}", act_name(func)), func, &y)
    }

    /// A one-input element-wise function.
    pub(crate) fn act(
        &mut self,
        name: &str,
        func: EltFunc,
        x: &Tensor,
    ) -> Result<Tensor, WorkloadError> {
        self.b.eltwise(name, func, &[x])
    }

    /// An element-wise function of several broadcastable tensors.
    pub(crate) fn eltwise(
        &mut self,
        name: &str,
        func: EltFunc,
        xs: &[&Tensor],
    ) -> Result<Tensor, WorkloadError> {
        self.b.eltwise(name, func, xs)
    }

    /// An explicit (unfolded) BatchNorm; its γ and β are the op's own weights.
    pub(crate) fn batch_norm(&mut self, name: &str, x: &Tensor) -> Result<Tensor, WorkloadError> {
        self.b.eltwise(name, EltFunc::BatchNorm, &[x])
    }

    /// A fully connected layer with a bias.
    pub(crate) fn linear(
        &mut self,
        name: &str,
        x: &Tensor,
        out: u64,
    ) -> Result<Tensor, WorkloadError> {
        let y = self.b.linear(name, x, out)?;
        self.folded += out;
        Ok(y)
    }

    /// A pooling window.
    pub(crate) fn pool(
        &mut self,
        name: &str,
        x: &Tensor,
        p: Pool,
    ) -> Result<Tensor, WorkloadError> {
        self.b.pool(name, x, p)
    }

    /// Global average pooling to `[n, c, 1, 1]`.
    pub(crate) fn global_avg_pool(
        &mut self,
        name: &str,
        x: &Tensor,
    ) -> Result<Tensor, WorkloadError> {
        self.b.global_avg_pool(name, x)
    }

    /// A tensor of zeros of `shape`, written by an op that reads nothing.
    pub(crate) fn zeros(&mut self, name: &str, shape: Vec<u64>) -> Result<Tensor, WorkloadError> {
        self.b.copy(name, &[], shape)
    }

    pub(crate) fn finish(self) -> ZooModel {
        ZooModel {
            workload: self.b.finish(),
            folded_params: self.folded,
        }
    }
}

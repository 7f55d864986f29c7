//! The model zoo: builders with the published hyper-parameters, any batch size and dtype.
//!
//! Batch normalization is folded into the preceding convolution, as inference compilers do;
//! activations, residual additions, squeeze-and-excitation gates and pooling are kept as ops of
//! their own. Dropout and stochastic depth are identities at inference and have no op.
//!
//! | name | source | MACs | params |
//! |---|---|---|---|
//! | `resnet18` | He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (torchvision layout) | 1.814 G | 11.69 M |
//! | `resnet34` | He et al., CVPR 2016 (torchvision layout) | 3.664 G | 21.80 M |
//! | `resnet50` | He et al., CVPR 2016 (torchvision v1.5: stride on the 3×3) | 4.089 G | 25.56 M |
//! | `mobilenet_v1` | Howard et al., "MobileNets", arXiv:1704.04861 (width 1.0) | 0.569 G | 4.23 M |
//! | `mobilenet_v2` | Sandler et al., "MobileNetV2", CVPR 2018 (torchvision, width 1.0) | 0.301 G | 3.50 M |
//! | `vgg16` | Simonyan & Zisserman, "Very Deep Convolutional Networks", ICLR 2015 (torchvision, configuration D, no BN) | 15.47 G | 138.36 M |
//! | `efficientnet_b0` | Tan & Le, "EfficientNet", ICML 2019 (torchvision layout) | 0.386 G | 5.29 M |
//!
//! MACs are at batch 1 on 224×224 images. Parameters are
//! counted as torchvision does, every trainable tensor, see [`ZooModel::params`].

mod cnn;
mod net;

pub use cnn::{efficientnet_b0, mobilenet_v1, mobilenet_v2, resnet18, resnet34, resnet50, vgg16};

use crate::{DType, Workload, WorkloadError};

/// Names of the zoo's models, as used in `workload.model`.
pub const MODELS: &[&str] = &[
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v1",
    "mobilenet_v2",
    "vgg16",
    "efficientnet_b0",
];

/// A zoo network with the parameters that have no op of their own.
///
/// Folding a BatchNorm into the conv before it turns its γ and β into the conv's per-channel
/// scale and bias; conv and linear biases are not modelled as ops either. The op graph's
/// [`Workload::total_weights`] therefore counts only filters and matrices; `folded_params`
/// holds the rest, so that [`ZooModel::params`] is the count that torchvision publishes: every trainable tensor, BatchNorm running statistics excluded.
#[derive(Debug, Clone)]
pub struct ZooModel {
    /// The op graph.
    pub workload: Workload,
    /// Biases and folded BatchNorm γ/β: 2 per channel of a folded BN, 1 per output of a conv or
    /// linear layer with a bias.
    pub folded_params: u64,
}

impl ZooModel {
    /// Trainable parameters as the reference implementation counts them: the ops' weights plus
    /// [`ZooModel::folded_params`].
    pub fn params(&self) -> u64 {
        self.workload.total_weights() + self.folded_params
    }
}

/// Checks that `name` names a zoo model without building it.
pub fn check_name(name: &str) -> Result<(), WorkloadError> {
    if MODELS.contains(&name) {
        Ok(())
    } else {
        Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: MODELS.join(", "),
        })
    }
}

/// Builds the zoo model `name` for `batch` images of `dtype`, with its parameter count.
pub fn model(name: &str, batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    if batch == 0 {
        return Err(WorkloadError::InvalidParameter {
            key: "workload.batch".into(),
            reason: "must be at least 1".into(),
        });
    }
    match name {
        "resnet18" => cnn::resnet18_model(batch, dtype),
        "resnet34" => cnn::resnet34_model(batch, dtype),
        "resnet50" => cnn::resnet50_model(batch, dtype),
        "mobilenet_v1" => cnn::mobilenet_v1_model(batch, dtype),
        "mobilenet_v2" => cnn::mobilenet_v2_model(batch, dtype),
        "vgg16" => cnn::vgg16_model(batch, dtype),
        "efficientnet_b0" => cnn::efficientnet_b0_model(batch, dtype),
        _ => Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: MODELS.join(", "),
        }),
    }
}

/// Builds the zoo model `name` for `batch` images of `dtype`.
pub fn build(name: &str, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    model(name, batch, dtype).map(|m| m.workload)
}

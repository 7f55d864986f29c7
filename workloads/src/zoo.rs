//! The model zoo: builders with the published hyper-parameters, any batch size and dtype.
//!
//! Batch normalization is folded into the preceding convolution, as inference compilers do;
//! activations, residual additions and pooling are kept as ops of their own.
//!
//! | name | source | MACs at batch 1, 224×224 |
//! |---|---|---|
//! | `resnet18` | He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (torchvision layout) | 1.814 G |
//! | `mobilenet_v1` | Howard et al., "MobileNets", arXiv:1704.04861 (width 1.0) | 0.569 G |

mod cnn;

pub use cnn::{mobilenet_v1, resnet18};

use crate::{DType, Workload, WorkloadError};

/// Names of the zoo's models, as used in `workload.model`.
pub const MODELS: &[&str] = &["resnet18", "mobilenet_v1"];

/// Builds the zoo model `name` for `batch` images of `dtype`.
pub fn build(name: &str, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    if batch == 0 {
        return Err(WorkloadError::InvalidParameter {
            key: "workload.batch".into(),
            reason: "must be at least 1".into(),
        });
    }
    match name {
        "resnet18" => resnet18(batch, dtype),
        "mobilenet_v1" => mobilenet_v1(batch, dtype),
        _ => Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: MODELS.join(", "),
        }),
    }
}

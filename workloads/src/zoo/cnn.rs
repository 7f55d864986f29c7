//! Convolutional networks of the zoo.

use crate::graph::{Tensor, WorkloadBuilder};
use crate::op::{Conv2d, EltFunc, Pool, PoolFunc};
use crate::{DType, Workload, WorkloadError};

fn conv_relu(
    b: &mut WorkloadBuilder,
    name: &str,
    x: &Tensor,
    c: Conv2d,
) -> Result<Tensor, WorkloadError> {
    let y = b.conv2d(name, x, c)?;
    b.eltwise(&format!("{name}.relu"), EltFunc::Relu, &[&y])
}

fn basic_block(
    b: &mut WorkloadBuilder,
    name: &str,
    x: &Tensor,
    in_ch: u64,
    out_ch: u64,
    stride: u64,
) -> Result<Tensor, WorkloadError> {
    let y = conv_relu(
        b,
        &format!("{name}.conv1"),
        x,
        Conv2d::square(in_ch, out_ch, 3, stride, 1),
    )?;
    let y = b.conv2d(
        &format!("{name}.conv2"),
        &y,
        Conv2d::square(out_ch, out_ch, 3, 1, 1),
    )?;
    let shortcut = if stride != 1 || in_ch != out_ch {
        b.conv2d(
            &format!("{name}.downsample"),
            x,
            Conv2d::square(in_ch, out_ch, 1, stride, 0),
        )?
    } else {
        x.clone()
    };
    let s = b.eltwise(&format!("{name}.add"), EltFunc::Add, &[&y, &shortcut])?;
    b.eltwise(&format!("{name}.relu"), EltFunc::Relu, &[&s])
}

/// ResNet-18 for 224×224 RGB images (torchvision layout, BN folded).
pub fn resnet18(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    let mut b = WorkloadBuilder::new("resnet18", dtype);
    let x = b.input(vec![batch, 3, 224, 224]);
    let x = conv_relu(&mut b, "conv1", &x, Conv2d::square(3, 64, 7, 2, 3))?;
    let pool = Pool {
        func: PoolFunc::Max,
        kernel: [3, 3],
        stride: [2, 2],
        pads: [1; 4],
    };
    let mut x = b.pool("maxpool", &x, pool)?;
    let mut in_ch = 64;
    for (stage, out_ch) in [64u64, 128, 256, 512].into_iter().enumerate() {
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            x = basic_block(
                &mut b,
                &format!("layer{}.{block}", stage + 1),
                &x,
                in_ch,
                out_ch,
                stride,
            )?;
            in_ch = out_ch;
        }
    }
    let x = b.global_avg_pool("avgpool", &x)?;
    b.linear("fc", &x, 1000)?;
    Ok(b.finish())
}

/// MobileNetV1 (width multiplier 1.0) for 224×224 RGB images (BN folded).
pub fn mobilenet_v1(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    let mut b = WorkloadBuilder::new("mobilenet_v1", dtype);
    let x = b.input(vec![batch, 3, 224, 224]);
    let mut x = conv_relu(&mut b, "conv0", &x, Conv2d::square(3, 32, 3, 2, 1))?;
    let blocks: [(u64, u64); 13] = [
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (1024, 2),
        (1024, 1),
    ];
    let mut ch = 32;
    for (i, (out_ch, stride)) in blocks.into_iter().enumerate() {
        let dw = Conv2d::square(ch, ch, 3, stride, 1).with_groups(ch);
        x = conv_relu(&mut b, &format!("block{}.dw", i + 1), &x, dw)?;
        x = conv_relu(
            &mut b,
            &format!("block{}.pw", i + 1),
            &x,
            Conv2d::square(ch, out_ch, 1, 1, 0),
        )?;
        ch = out_ch;
    }
    let x = b.global_avg_pool("avgpool", &x)?;
    b.linear("fc", &x, 1000)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::build;

    #[test]
    fn resnet18_matches_published_macs_and_params() {
        let w = resnet18(1, DType::Int8).unwrap();
        // torchvision reports 1.814 GMACs and 11.69 M parameters (BN parameters excluded here).
        assert_eq!(w.total_macs(), 1_814_073_344);
        assert_eq!(w.total_weights() + 1000, 11_679_912);
        assert_eq!(w.graph.node_count(), 2 + 8 * 5 + 3 + 2 + 1);
    }

    #[test]
    fn mobilenet_v1_matches_published_macs() {
        let w = mobilenet_v1(1, DType::Int8).unwrap();
        // Howard et al. Table 1: 569 M mult-adds, 4.2 M parameters.
        let macs = w.total_macs();
        assert!((568_000_000..=570_000_000).contains(&macs), "{macs}");
        let params = w.total_weights() + 1000;
        assert!((4_200_000..4_260_000).contains(&params), "{params}");
    }

    #[test]
    fn batch_scales_macs_linearly() {
        let one = resnet18(1, DType::Int8).unwrap().total_macs();
        let four = resnet18(4, DType::Fp16).unwrap().total_macs();
        assert_eq!(four, 4 * one);
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let e = build("resnet19", 1, DType::Int8).unwrap_err().to_string();
        assert!(
            e.contains("resnet19") && e.contains("resnet18, mobilenet_v1"),
            "{e}"
        );
    }
}

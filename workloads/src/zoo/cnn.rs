//! Convolutional networks of the zoo, for 224×224 RGB images and 1000 classes.
//!
//! Layouts follow torchvision's model definitions (`torchvision.models.resnet`, `.mobilenetv2`,
//! `.vgg`, `.efficientnet`), whose published parameter counts and GFLOPS (which are
//! multiply-accumulates) the tests check:
//!
//! * ResNet — He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; the
//!   Bottleneck strides on its 3×3 conv ("ResNet v1.5", as torchvision);
//! * MobileNetV1 — Howard et al., "MobileNets", arXiv:1704.04861 (not in torchvision);
//! * MobileNetV2 — Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
//!   CVPR 2018;
//! * VGG — Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
//!   Recognition", ICLR 2015 (configuration D, no BatchNorm);
//! * EfficientNet — Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
//!   Networks", ICML 2019; squeeze-and-excitation from Hu et al., CVPR 2018.
//!
//! BatchNorm is folded into the conv before it; dropout and stochastic depth are identities at
//! inference and have no op.

use crate::graph::Tensor;
use crate::op::{Conv2d, EltFunc, Pool, PoolFunc};
use crate::zoo::net::Net;
use crate::zoo::ZooModel;
use crate::{DType, Workload, WorkloadError};

/// `3×3` max pooling with stride 2 and padding 1 (the ResNet stem).
const RESNET_MAXPOOL: Pool = Pool {
    func: PoolFunc::Max,
    kernel: [3, 3],
    stride: [2, 2],
    pads: [1; 4],
};

/// `2×2` max pooling with stride 2 (VGG).
const VGG_MAXPOOL: Pool = Pool {
    func: PoolFunc::Max,
    kernel: [2, 2],
    stride: [2, 2],
    pads: [0; 4],
};

/// A `k×k` convolution with "same" padding `(k-1)/2`.
pub(crate) fn same(in_ch: u64, out_ch: u64, k: u64, stride: u64) -> Conv2d {
    Conv2d::square(in_ch, out_ch, k, stride, (k - 1) / 2)
}

/// ResNet's BasicBlock: two 3×3 convs, a 1×1 projection shortcut when the shape changes.
fn basic_block(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    in_ch: u64,
    out_ch: u64,
    stride: u64,
) -> Result<Tensor, WorkloadError> {
    let y = net.conv_bn_act(
        &format!("{name}.conv1"),
        x,
        same(in_ch, out_ch, 3, stride),
        EltFunc::Relu,
    )?;
    let y = net.conv_bn(&format!("{name}.conv2"), &y, same(out_ch, out_ch, 3, 1))?;
    let shortcut = if stride != 1 || in_ch != out_ch {
        net.conv_bn(
            &format!("{name}.downsample"),
            x,
            same(in_ch, out_ch, 1, stride),
        )?
    } else {
        x.clone()
    };
    let s = net.eltwise(&format!("{name}.add"), EltFunc::Add, &[&y, &shortcut])?;
    net.act(&format!("{name}.relu"), EltFunc::Relu, &s)
}

/// ResNet's Bottleneck (1×1 reduce, 3×3 with the stride, 1×1 expand ×4), torchvision v1.5.
fn bottleneck(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    in_ch: u64,
    width: u64,
    stride: u64,
) -> Result<Tensor, WorkloadError> {
    let out_ch = 4 * width;
    let y = net.conv_bn_act(
        &format!("{name}.conv1"),
        x,
        same(in_ch, width, 1, 1),
        EltFunc::Relu,
    )?;
    let y = net.conv_bn_act(
        &format!("{name}.conv2"),
        &y,
        same(width, width, 3, stride),
        EltFunc::Relu,
    )?;
    let y = net.conv_bn(&format!("{name}.conv3"), &y, same(width, out_ch, 1, 1))?;
    let shortcut = if stride != 1 || in_ch != out_ch {
        net.conv_bn(
            &format!("{name}.downsample"),
            x,
            same(in_ch, out_ch, 1, stride),
        )?
    } else {
        x.clone()
    };
    let s = net.eltwise(&format!("{name}.add"), EltFunc::Add, &[&y, &shortcut])?;
    net.act(&format!("{name}.relu"), EltFunc::Relu, &s)
}

/// A torchvision ResNet with `blocks` blocks per stage.
fn resnet(
    name: &str,
    blocks: [u64; 4],
    use_bottleneck: bool,
    batch: u64,
    dtype: DType,
) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new(name, dtype);
    let x = net.image(batch, 3, 224, 224)?;
    let x = net.conv_bn_act("conv1", &x, Conv2d::square(3, 64, 7, 2, 3), EltFunc::Relu)?;
    let mut x = net.pool("maxpool", &x, RESNET_MAXPOOL)?;
    let mut in_ch = 64;
    for (stage, (width, n)) in [64u64, 128, 256, 512].into_iter().zip(blocks).enumerate() {
        for block in 0..n {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let bname = format!("layer{}.{block}", stage + 1);
            if use_bottleneck {
                x = bottleneck(&mut net, &bname, &x, in_ch, width, stride)?;
                in_ch = 4 * width;
            } else {
                x = basic_block(&mut net, &bname, &x, in_ch, width, stride)?;
                in_ch = width;
            }
        }
    }
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("fc", &x, 1000)?;
    Ok(net.finish())
}

pub(crate) fn resnet18_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    resnet("resnet18", [2, 2, 2, 2], false, batch, dtype)
}

pub(crate) fn resnet34_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    resnet("resnet34", [3, 4, 6, 3], false, batch, dtype)
}

pub(crate) fn resnet50_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    resnet("resnet50", [3, 4, 6, 3], true, batch, dtype)
}

pub(crate) fn mobilenet_v1_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new("mobilenet_v1", dtype);
    let x = net.image(batch, 3, 224, 224)?;
    let mut x = net.conv_bn_act("conv0", &x, same(3, 32, 3, 2), EltFunc::Relu)?;
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
        let dw = same(ch, ch, 3, stride).with_groups(ch);
        x = net.conv_bn_act(&format!("block{}.dw", i + 1), &x, dw, EltFunc::Relu)?;
        x = net.conv_bn_act(
            &format!("block{}.pw", i + 1),
            &x,
            same(ch, out_ch, 1, 1),
            EltFunc::Relu,
        )?;
        ch = out_ch;
    }
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("fc", &x, 1000)?;
    Ok(net.finish())
}

/// MobileNetV2's inverted residual: 1×1 expand (unless `t = 1`), 3×3 depthwise, linear 1×1
/// projection, and the identity shortcut when stride 1 keeps the channels.
fn inverted_residual(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    in_ch: u64,
    out_ch: u64,
    stride: u64,
    t: u64,
) -> Result<Tensor, WorkloadError> {
    let hidden = in_ch * t;
    let mut y = x.clone();
    if t != 1 {
        y = net.conv_bn_act(
            &format!("{name}.expand"),
            &y,
            same(in_ch, hidden, 1, 1),
            EltFunc::Relu6,
        )?;
    }
    let dw = same(hidden, hidden, 3, stride).with_groups(hidden);
    let y = net.conv_bn_act(&format!("{name}.dw"), &y, dw, EltFunc::Relu6)?;
    let y = net.conv_bn(&format!("{name}.project"), &y, same(hidden, out_ch, 1, 1))?;
    if stride == 1 && in_ch == out_ch {
        net.eltwise(&format!("{name}.add"), EltFunc::Add, &[&y, x])
    } else {
        Ok(y)
    }
}

pub(crate) fn mobilenet_v2_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new("mobilenet_v2", dtype);
    let x = net.image(batch, 3, 224, 224)?;
    let mut x = net.conv_bn_act("features.0", &x, same(3, 32, 3, 2), EltFunc::Relu6)?;
    // Sandler et al. Table 2: expansion t, channels c, repeats n, first stride s.
    let settings: [(u64, u64, u64, u64); 7] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut in_ch = 32;
    let mut idx = 1;
    for (t, c, n, s) in settings {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            x = inverted_residual(
                &mut net,
                &format!("features.{idx}"),
                &x,
                in_ch,
                c,
                stride,
                t,
            )?;
            in_ch = c;
            idx += 1;
        }
    }
    let x = net.conv_bn_act(
        &format!("features.{idx}"),
        &x,
        same(in_ch, 1280, 1, 1),
        EltFunc::Relu6,
    )?;
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("classifier", &x, 1000)?;
    Ok(net.finish())
}

pub(crate) fn vgg16_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new("vgg16", dtype);
    let mut x = net.image(batch, 3, 224, 224)?;
    // Configuration D: channels per 3×3 conv, 0 for a 2×2 max pool.
    let cfg: [u64; 18] = [
        64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
    ];
    let mut ch = 3;
    for (i, c) in cfg.into_iter().enumerate() {
        let name = format!("features.{i}");
        if c == 0 {
            x = net.pool(&name, &x, VGG_MAXPOOL)?;
        } else {
            let y = net.conv_bias(&name, &x, same(ch, c, 3, 1))?;
            x = net.act(&format!("{name}.relu"), EltFunc::Relu, &y)?;
            ch = c;
        }
    }
    // torchvision's AdaptiveAvgPool2d((7, 7)) is the identity on the 7×7 maps that a 224×224
    // input leaves, so it has no op: the first FC reads 512·7·7 = 25088 features.
    let x = net.linear("classifier.0", &x, 4096)?;
    let x = net.act("classifier.1", EltFunc::Relu, &x)?;
    let x = net.linear("classifier.3", &x, 4096)?;
    let x = net.act("classifier.4", EltFunc::Relu, &x)?;
    net.linear("classifier.6", &x, 1000)?;
    Ok(net.finish())
}

/// Squeeze-and-excitation: global pool, 1×1 conv reduce (with bias), SiLU, 1×1 conv expand
/// (with bias), sigmoid, and the channel-wise product with `x`.
fn squeeze_excite(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    ch: u64,
    squeeze: u64,
) -> Result<Tensor, WorkloadError> {
    let s = net.global_avg_pool(&format!("{name}.avgpool"), x)?;
    let s = net.conv_bias(&format!("{name}.fc1"), &s, same(ch, squeeze, 1, 1))?;
    let s = net.act(&format!("{name}.silu"), EltFunc::Silu, &s)?;
    let s = net.conv_bias(&format!("{name}.fc2"), &s, same(squeeze, ch, 1, 1))?;
    let s = net.act(&format!("{name}.sigmoid"), EltFunc::Sigmoid, &s)?;
    net.eltwise(&format!("{name}.scale"), EltFunc::Mul, &[x, &s])
}

/// EfficientNet's MBConv: 1×1 expand (unless the ratio is 1), `k×k` depthwise,
/// squeeze-and-excitation (when `se`), linear 1×1 projection, identity shortcut when shapes
/// allow.
#[allow(clippy::too_many_arguments)]
pub(crate) fn mbconv(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    in_ch: u64,
    out_ch: u64,
    k: u64,
    stride: u64,
    expand: u64,
    se: bool,
) -> Result<Tensor, WorkloadError> {
    let hidden = in_ch * expand;
    let mut y = x.clone();
    if expand != 1 {
        y = net.conv_bn_act(
            &format!("{name}.expand"),
            &y,
            same(in_ch, hidden, 1, 1),
            EltFunc::Silu,
        )?;
    }
    let dw = same(hidden, hidden, k, stride).with_groups(hidden);
    let y = net.conv_bn_act(&format!("{name}.dw"), &y, dw, EltFunc::Silu)?;
    // torchvision: squeeze_channels = max(1, input_channels // 4).
    let squeeze = (in_ch / 4).max(1);
    let y = if se {
        squeeze_excite(net, &format!("{name}.se"), &y, hidden, squeeze)?
    } else {
        y
    };
    let y = net.conv_bn(&format!("{name}.project"), &y, same(hidden, out_ch, 1, 1))?;
    if stride == 1 && in_ch == out_ch {
        net.eltwise(&format!("{name}.add"), EltFunc::Add, &[&y, x])
    } else {
        Ok(y)
    }
}

pub(crate) fn efficientnet_b0_model(batch: u64, dtype: DType) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new("efficientnet_b0", dtype);
    let x = net.image(batch, 3, 224, 224)?;
    let mut x = net.conv_bn_act("features.0", &x, same(3, 32, 3, 2), EltFunc::Silu)?;
    // torchvision's B0 table (Tan & Le Table 1): expand ratio, kernel, stride, in, out, repeats.
    let stages: [(u64, u64, u64, u64, u64, u64); 7] = [
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ];
    for (si, (e, k, s, cin, cout, n)) in stages.into_iter().enumerate() {
        for i in 0..n {
            let (in_ch, stride) = if i == 0 { (cin, s) } else { (cout, 1) };
            x = mbconv(
                &mut net,
                &format!("features.{}.{i}", si + 1),
                &x,
                in_ch,
                cout,
                k,
                stride,
                e,
                true,
            )?;
        }
    }
    let x = net.conv_bn_act("features.8", &x, same(320, 1280, 1, 1), EltFunc::Silu)?;
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("classifier", &x, 1000)?;
    Ok(net.finish())
}

/// ResNet-18 for 224×224 RGB images (torchvision layout, BN folded).
pub fn resnet18(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    resnet18_model(batch, dtype).map(|m| m.workload)
}

/// ResNet-34 for 224×224 RGB images (torchvision layout, BN folded).
pub fn resnet34(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    resnet34_model(batch, dtype).map(|m| m.workload)
}

/// ResNet-50 for 224×224 RGB images (torchvision v1.5 Bottleneck layout, BN folded).
pub fn resnet50(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    resnet50_model(batch, dtype).map(|m| m.workload)
}

/// MobileNetV1 (width multiplier 1.0) for 224×224 RGB images (BN folded).
pub fn mobilenet_v1(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    mobilenet_v1_model(batch, dtype).map(|m| m.workload)
}

/// MobileNetV2 (width multiplier 1.0, ReLU6) for 224×224 RGB images (torchvision layout, BN
/// folded).
pub fn mobilenet_v2(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    mobilenet_v2_model(batch, dtype).map(|m| m.workload)
}

/// VGG-16 (configuration D, no BatchNorm) for 224×224 RGB images (torchvision layout).
pub fn vgg16(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    vgg16_model(batch, dtype).map(|m| m.workload)
}

/// EfficientNet-B0 for 224×224 RGB images (torchvision layout, SiLU, squeeze-and-excitation,
/// BN folded).
pub fn efficientnet_b0(batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    efficientnet_b0_model(batch, dtype).map(|m| m.workload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::{build, model};

    /// Asserts `got` is within `tol` (relative) of `published`.
    fn near(what: &str, got: u64, published: f64, tol: f64) {
        let rel = (got as f64 - published).abs() / published;
        assert!(
            rel <= tol,
            "{what}: got {got}, published {published}, off by {:.2}%",
            100.0 * rel
        );
    }

    /// Checks MACs and parameters at batch 1 against torchvision's published figures (its
    /// "GFLOPS" column counts multiply-accumulates of convs and linear layers; its parameter
    /// count is every trainable tensor: weights, biases and BatchNorm γ/β).
    fn check(name: &str, gmacs: f64, mparams: f64) {
        let m = model(name, 1, DType::Int8).unwrap();
        near(
            &format!("{name} MACs"),
            m.workload.total_macs(),
            gmacs * 1e9,
            0.02,
        );
        near(&format!("{name} params"), m.params(), mparams * 1e6, 0.02);
    }

    #[test]
    fn resnet18_matches_published_macs_and_params() {
        let m = model("resnet18", 1, DType::Int8).unwrap();
        // torchvision: 1.814 GMACs, 11,689,512 parameters, of which 9,600 are BN γ/β and 1,000
        // the fc bias (the folded parameters here).
        assert_eq!(m.workload.total_macs(), 1_814_073_344);
        assert_eq!(m.workload.total_weights(), 11_678_912);
        assert_eq!(m.folded_params, 9_600 + 1_000);
        assert_eq!(m.params(), 11_689_512);
        assert_eq!(m.workload.graph.node_count(), 2 + 8 * 5 + 3 + 2 + 1);
    }

    #[test]
    fn resnet34_matches_published_macs_and_params() {
        check("resnet34", 3.66, 21.80);
        // torchvision's exact count.
        assert_eq!(
            model("resnet34", 1, DType::Int8).unwrap().params(),
            21_797_672
        );
    }

    #[test]
    fn resnet50_matches_published_macs_and_params() {
        check("resnet50", 4.09, 25.56);
        assert_eq!(
            model("resnet50", 1, DType::Int8).unwrap().params(),
            25_557_032
        );
    }

    #[test]
    fn mobilenet_v2_matches_published_macs_and_params() {
        check("mobilenet_v2", 0.30, 3.50);
        assert_eq!(
            model("mobilenet_v2", 1, DType::Int8).unwrap().params(),
            3_504_872
        );
    }

    #[test]
    fn vgg16_matches_published_macs_and_params() {
        check("vgg16", 15.47, 138.36);
        assert_eq!(
            model("vgg16", 1, DType::Int8).unwrap().params(),
            138_357_544
        );
    }

    #[test]
    fn efficientnet_b0_matches_published_macs_and_params() {
        check("efficientnet_b0", 0.39, 5.29);
        assert_eq!(
            model("efficientnet_b0", 1, DType::Int8).unwrap().params(),
            5_288_548
        );
    }

    #[test]
    fn mobilenet_v1_matches_published_macs() {
        let m = model("mobilenet_v1", 1, DType::Int8).unwrap();
        // Howard et al. Table 1: 569 M mult-adds, 4.2 M parameters.
        let macs = m.workload.total_macs();
        assert!((568_000_000..=570_000_000).contains(&macs), "{macs}");
        let params = m.params();
        assert!((4_200_000..4_260_000).contains(&params), "{params}");
    }

    #[test]
    fn efficientnet_b0_has_squeeze_excitation_in_every_block() {
        let w = efficientnet_b0(1, DType::Int8).unwrap();
        let scales: Vec<_> = w
            .graph
            .node_weights()
            .filter(|op| op.name.ends_with(".se.scale"))
            .collect();
        assert_eq!(scales.len(), 1 + 2 + 2 + 3 + 3 + 4 + 1);
        // The gate is broadcast over the feature map: [n, c, h, w] · [n, c, 1, 1].
        for op in scales {
            assert_eq!(op.inputs[1][2..], [1, 1]);
            assert_eq!(op.inputs[0], op.output);
        }
    }

    #[test]
    fn batch_scales_macs_linearly() {
        let one = resnet18(1, DType::Int8).unwrap().total_macs();
        let four = resnet18(4, DType::Fp16).unwrap().total_macs();
        assert_eq!(four, 4 * one);
    }

    #[test]
    fn zero_batch_is_rejected() {
        let e = resnet50(0, DType::Int8).unwrap_err().to_string();
        assert!(e.contains("workload.batch"), "{e}");
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let e = build("resnet19", 1, DType::Int8).unwrap_err().to_string();
        assert!(
            e.contains("resnet19") && e.contains("resnet18, resnet34"),
            "{e}"
        );
    }
}

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
//! | `nb201:[<dataset>:]<arch>` | Dong & Yang, "NAS-Bench-201", ICLR 2020 (see [`nb201`]) | 1.9–220 M | 0.07–1.54 M |
//! | `mnasnet:<arch>` | Accel-NASBench's MnasNet space (EfficientNet-B0 skeleton; see [`MnasNetArch`]) | 75–661 M | 1.8–8.0 M |
//!
//! | `vit_b_16` | Dosovitskiy et al., ICLR 2021 (torchvision layout) | 17.56 G | 86.57 M |
//!
//! Sequence models (`bert_base`, `bert_large`, `gpt2`, `llama2_7b`, `llama2_13b`,
//! `llama2_70b`, `mixtral_8x7b`) take a `seq_len` and are lowered by [`crate::llm`] as a
//! prefill of `seq_len` tokens; use an `llm:` workload for decode, tensor parallelism or MoE skew.
//!
//! MACs are at batch 1 on 224×224 images (NAS-Bench-201: 32×32 or 16×16). Parameters are
//! counted as torchvision does, every trainable tensor, see [`ZooModel::params`].
//!
//! NAS-Bench-201 networks are named `nb201:<arch>` (CIFAR-10) or `nb201:<dataset>:<arch>` with
//! `<dataset>` one of `cifar10`, `cifar100`, `imagenet16-120`, for example
//! `nb201:cifar100:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`;
//! [`nb201()`] takes the arch string and the dataset separately.
//!
//! Networks of Accel-NASBench's MnasNet space (ImageNet, 224×224) are named
//! `mnasnet:<stage>-<stage>-…` with seven stages `e<E>k<K>l<L>se<0|1>`, e.g.
//! `mnasnet:e1k3l1se0-e4k5l2se0-e6k3l3se0-e6k5l3se0-e6k5l2se0-e1k3l2se0-e1k3l2se0`
//! (see [`MnasNetArch`]).

mod cnn;
mod mnasnet;
mod nb201;
mod net;

pub use cnn::{efficientnet_b0, mobilenet_v1, mobilenet_v2, resnet18, resnet34, resnet50, vgg16};
pub use mnasnet::{
    mnasnet, mnasnet_counted_ops, MnasNetArch, MnasStage, MNASNET_EXPANSIONS, MNASNET_IN_CH,
    MNASNET_KERNELS, MNASNET_LAYERS, MNASNET_OUT_CH, MNASNET_STRIDES,
};
pub use nb201::{nb201, nb201_cost, Nb201Cell, Nb201Cost, Nb201Dataset, Nb201Op};

use crate::{DType, Workload, WorkloadError};

/// Names of the zoo's fixed models, as used in `workload.model`. NAS-Bench-201 networks are
/// named by their cell as well: `nb201:[<dataset>:]<arch>` (see the module docs).
pub const MODELS: &[&str] = &[
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v1",
    "mobilenet_v2",
    "vgg16",
    "efficientnet_b0",
    "vit_b_16",
];

/// Every fixed zoo name: image models, then sequence models.
pub fn all_models() -> Vec<&'static str> {
    MODELS.iter().chain(crate::llm::MODELS).copied().collect()
}

/// Default sequence length of a sequence model built without `seq_len`.
pub const DEFAULT_SEQ_LEN: u64 = 128;

/// Builds the zoo model `name` for `batch` inputs of `dtype`; sequence models process
/// `seq_len` tokens (default [`DEFAULT_SEQ_LEN`]).
pub fn build_seq(
    name: &str,
    batch: u64,
    dtype: DType,
    seq_len: Option<u64>,
) -> Result<Workload, WorkloadError> {
    build_program(name, batch, dtype, seq_len, crate::Framework::default())
}

/// [`build_seq`] for the program of `framework` (a transformer's lowering depends on it; the
/// graph records it for devices that price kernels).
pub fn build_program(
    name: &str,
    batch: u64,
    dtype: DType,
    seq_len: Option<u64>,
    framework: crate::Framework,
) -> Result<Workload, WorkloadError> {
    if crate::llm::spec(name).is_some() {
        if batch == 0 {
            return Err(WorkloadError::InvalidParameter {
                key: "workload.batch".into(),
                reason: "must be at least 1".into(),
            });
        }
        let cfg = crate::llm::LlmConfig {
            model: name.into(),
            phase: crate::llm::Phase::Prefill,
            batch,
            prompt_len: seq_len.unwrap_or(DEFAULT_SEQ_LEN),
            context_len: None,
            layers: None,
            tp: 1,
            moe_skew: 0.0,
            framework,
            ..Default::default()
        };
        return crate::llm::lower(&cfg, dtype).map_err(|e| match e {
            WorkloadError::InvalidParameter { key, reason } => WorkloadError::InvalidParameter {
                key: key
                    .replace("workload.llm.prompt_len", "workload.seq_len")
                    .replace("workload.llm.", "workload."),
                reason,
            },
            other => other,
        });
    }
    let mut w = build(name, batch, dtype)?;
    w.framework = framework;
    Ok(w)
}

/// Prefix of Accel-NASBench MnasNet-space model names.
pub const MNASNET_PREFIX: &str = "mnasnet:";

/// Prefix of NAS-Bench-201 model names.
pub const NB201_PREFIX: &str = "nb201:";

/// A zoo network with the parameters that have no op of their own.
///
/// Folding a BatchNorm into the conv before it turns its γ and β into the conv's per-channel
/// scale and bias; conv and linear biases are not modelled as ops either. The op graph's
/// [`Workload::total_weights`] therefore counts only filters and matrices; `folded_params`
/// holds the rest, so that [`ZooModel::params`] is the count that torchvision (and
/// NAS-Bench-201) publish: every trainable tensor, BatchNorm running statistics excluded.
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

/// Splits an `nb201:[<dataset>:]<arch>` name into its dataset and arch string.
fn split_nb201(rest: &str) -> Result<(Nb201Dataset, &str), WorkloadError> {
    if rest.trim_start().starts_with('|') {
        return Ok((Nb201Dataset::Cifar10, rest));
    }
    let (ds, arch) = rest
        .split_once(':')
        .ok_or_else(|| WorkloadError::InvalidParameter {
            key: "workload.model".into(),
            reason: format!(
                "`{NB201_PREFIX}{rest}` is neither `{NB201_PREFIX}<arch>` nor `{NB201_PREFIX}<dataset>:<arch>`"
            ),
        })?;
    Ok((ds.parse()?, arch))
}

/// Checks that `name` names a zoo model (a fixed one or a well-formed NAS-Bench-201 network)
/// without building it.
pub fn check_name(name: &str) -> Result<(), WorkloadError> {
    if let Some(rest) = name.strip_prefix(NB201_PREFIX) {
        let (_, arch) = split_nb201(rest)?;
        Nb201Cell::parse(arch).map(|_| ())
    } else if let Some(rest) = name.strip_prefix(MNASNET_PREFIX) {
        rest.parse::<MnasNetArch>().map(|_| ())
    } else if all_models().contains(&name) {
        Ok(())
    } else {
        Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: format!(
                "{}, {NB201_PREFIX}[<dataset>:]<arch>, {MNASNET_PREFIX}<arch>",
                all_models().join(", ")
            ),
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
    if let Some(rest) = name.strip_prefix(NB201_PREFIX) {
        let (ds, arch) = split_nb201(rest)?;
        return nb201::nb201_model(&Nb201Cell::parse(arch)?, ds, batch, dtype);
    }
    if let Some(rest) = name.strip_prefix(MNASNET_PREFIX) {
        return mnasnet::mnasnet_model(&rest.parse()?, batch, dtype);
    }
    match name {
        "resnet18" => cnn::resnet18_model(batch, dtype),
        "resnet34" => cnn::resnet34_model(batch, dtype),
        "resnet50" => cnn::resnet50_model(batch, dtype),
        "mobilenet_v1" => cnn::mobilenet_v1_model(batch, dtype),
        "mobilenet_v2" => cnn::mobilenet_v2_model(batch, dtype),
        "vgg16" => cnn::vgg16_model(batch, dtype),
        "efficientnet_b0" => cnn::efficientnet_b0_model(batch, dtype),
        "vit_b_16" => Ok(ZooModel {
            workload: crate::llm::vit_b_16(batch, dtype)?,
            // Biases of the patch embedding (768), of each layer's QKV, output and MLP
            // projections (2304 + 768 + 3072 + 768, 12 layers) and of the head (1000).
            folded_params: 768 + 12 * (2304 + 768 + 3072 + 768) + 1000,
        }),
        _ if crate::llm::spec(name).is_some() => Ok(ZooModel {
            workload: build_seq(name, batch, dtype, None)?,
            folded_params: 0,
        }),
        _ => Err(WorkloadError::UnknownModel {
            name: name.into(),
            known: format!(
                "{}, {NB201_PREFIX}[<dataset>:]<arch>, {MNASNET_PREFIX}<arch>",
                all_models().join(", ")
            ),
        }),
    }
}

/// Builds the zoo model `name` for `batch` images of `dtype`.
pub fn build(name: &str, batch: u64, dtype: DType) -> Result<Workload, WorkloadError> {
    model(name, batch, dtype).map(|m| m.workload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCH1: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";

    #[test]
    fn nb201_names_pick_the_dataset() {
        let by_name = |n: &str| build(n, 1, DType::Int8).unwrap();
        let direct = |ds| nb201(ARCH1, ds, 1, DType::Int8).unwrap();
        for (name, ds) in [
            (format!("nb201:{ARCH1}"), Nb201Dataset::Cifar10),
            (format!("nb201:cifar10:{ARCH1}"), Nb201Dataset::Cifar10),
            (format!("nb201:cifar100:{ARCH1}"), Nb201Dataset::Cifar100),
            (
                format!("nb201:imagenet16-120:{ARCH1}"),
                Nb201Dataset::ImageNet16_120,
            ),
        ] {
            let (a, b) = (by_name(&name), direct(ds));
            assert_eq!(a.total_macs(), b.total_macs(), "{name}");
            assert_eq!(a.len(), b.len(), "{name}");
            assert!(check_name(&name).is_ok(), "{name}");
        }
        let p = model(&format!("nb201:cifar100:{ARCH1}"), 1, DType::Int8).unwrap();
        assert_eq!(p.params(), 808_276); // the benchmark's 0.808276 M
    }

    #[test]
    fn bad_nb201_names_say_why() {
        for (name, why) in [
            ("nb201:", "neither"),
            ("nb201:mnist:|none~0|", "unknown dataset `mnist`"),
            ("nb201:cifar10:|none~0|", "node groups"),
            (
                "nb201:|skip~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "unknown op `skip`",
            ),
        ] {
            let e = build(name, 1, DType::Int8).unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
            assert_eq!(check_name(name).unwrap_err().to_string(), e);
        }
        assert!(build(&format!("nb201:{ARCH1}"), 0, DType::Int8).is_err());
    }

    #[test]
    fn config_accepts_nb201_names() {
        let mut c = crate::WorkloadConfig::model(&format!("nb201:cifar100:{ARCH1}"));
        assert!(c.validate().is_ok());
        c.model = Some("nb201:cifar100:|nor_conv_3x3~0|".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("workload.model: ") && e.contains("node groups"),
            "{e}"
        );
        c.model = Some("resnet19".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("workload.model: unknown model `resnet19`"),
            "{e}"
        );
    }

    mod props {
        use super::*;
        use crate::op::numel;
        use petgraph::visit::{EdgeRef, IntoEdgeReferences};
        use proptest::prelude::*;

        fn dtype() -> impl Strategy<Value = DType> {
            prop_oneof![
                Just(DType::Int8),
                Just(DType::Fp8),
                Just(DType::Bf16),
                Just(DType::Fp16),
                Just(DType::Fp32),
            ]
        }

        /// A random NAS-Bench-201 network name (any of the 15,625 cells, any dataset).
        fn nb201_name() -> impl Strategy<Value = String> {
            (proptest::array::uniform6(0..5usize), 0..3usize).prop_map(|(e, d)| {
                let cell = Nb201Cell {
                    edges: e.map(|i| Nb201Op::ALL[i]),
                };
                format!("nb201:{}:{cell}", Nb201Dataset::ALL[d])
            })
        }

        /// Every fixed zoo model plus one random NAS-Bench-201 network.
        fn names(nb: String) -> Vec<String> {
            MODELS.iter().map(|m| m.to_string()).chain([nb]).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

            #[test]
            fn macs_scale_linearly_with_batch(
                batch in 2u64..=6, dt in dtype(), nb in nb201_name(),
            ) {
                for name in names(nb) {
                    let one = model(&name, 1, DType::Int8).unwrap();
                    let many = model(&name, batch, dt).unwrap();
                    prop_assert_eq!(
                        many.workload.total_macs(),
                        batch * one.workload.total_macs(),
                        "{}", name
                    );
                    // Parameters do not depend on the batch or the dtype.
                    prop_assert_eq!(many.params(), one.params(), "{}", name);
                }
            }

            #[test]
            fn graphs_are_dags_whose_edges_carry_the_producers_output(
                batch in 1u64..=3, dt in dtype(), nb in nb201_name(),
            ) {
                for name in names(nb) {
                    let w = build(&name, batch, dt).unwrap();
                    prop_assert!(!petgraph::algo::is_cyclic_directed(&w.graph), "{}", name);
                    prop_assert_eq!(w.topo_order().len(), w.len(), "{}", name);
                    prop_assert_eq!((w.batch, w.dtype), (batch, dt));
                    for e in (&w.graph).edge_references() {
                        let (src, dst) = (&w.graph[e.source()], &w.graph[e.target()]);
                        prop_assert_eq!(
                            e.weight().bytes,
                            numel(&src.output) * dt.bytes(),
                            "{} -> {} in {}", &src.name, &dst.name, name
                        );
                        prop_assert!(dst.inputs.contains(&src.output), "{} -> {}", &src.name, &dst.name);
                    }
                    // Every input of every op is an edge, except the image input (and, for ViT,
                    // the index inputs of the class-token and position-embedding gathers).
                    let graph_inputs = if name == "vit_b_16" { 3 } else { 1 };
                    let inputs: usize = w.graph.node_weights().map(|o| o.inputs.len()).sum();
                    prop_assert_eq!(inputs, w.graph.edge_count() + graph_inputs, "{}", name);
                    prop_assert!(w.graph.node_weights().all(|o| o.dtype == dt));
                }
            }
        }
    }
}

//! ONNX import: the reference files of `tests/data/onnx`, and small models built here from the
//! prost messages.

use std::path::PathBuf;

use archsim_workloads::onnx::proto::{
    data_type, AttributeProto, AttributeType, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};
use archsim_workloads::onnx::{parse_onnx, read_onnx, OnnxImport, OnnxOptions};
use archsim_workloads::{zoo, DType, EltFunc, OpKind, WorkloadError};
use proptest::prelude::*;
use prost::Message;

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/onnx")
        .join(file)
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(path(file)).expect("reference file")
}

fn import(file: &str) -> OnnxImport {
    read_onnx(&path(file), &OnnxOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn import_batch(file: &str, batch: u64) -> OnnxImport {
    let opts = OnnxOptions {
        batch: Some(batch),
        ..OnnxOptions::default()
    };
    read_onnx(&path(file), &opts).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn within(value: u64, reference: f64, tolerance: f64) -> bool {
    (value as f64 - reference).abs() <= tolerance * reference
}

const FILES: [&str; 5] = [
    "tiny_cnn.onnx",
    "tiny_transformer.onnx",
    "resnet18.onnx",
    "mobilenet_v2.onnx",
    "vit_b_16.onnx",
];

// ---------------------------------------------------------------- reference files

#[test]
fn every_reference_file_imports_without_warnings() {
    for f in FILES {
        let imp = import(f);
        assert!(!imp.workload.is_empty(), "{f}");
        assert!(imp.warnings.is_empty(), "{f}: {:?}", imp.warnings);
        // Weights stored as graph inputs (torchvision files) are told apart from the image.
        assert_eq!(imp.data_inputs, vec!["input".to_string()], "{f}");
        assert_eq!(imp.workload.batch, 1, "{f}");
    }
}

#[test]
fn resnet18_matches_the_zoo() {
    let imp = import("resnet18.onnx");
    let zoo = zoo::build("resnet18", 1, DType::Int8).unwrap();
    assert_eq!(zoo.total_macs(), 1_814_073_344);
    assert!(within(
        imp.workload.total_macs(),
        zoo.total_macs() as f64,
        0.01
    ));
    // Exactly, in fact: BatchNorm is folded in the file as in the zoo.
    assert_eq!(imp.workload.total_macs(), 1_814_073_344);
    assert!(within(imp.params, 11.69e6, 0.02), "{}", imp.params);
    let convs = imp.workload.ops().filter(|o| o.class() == "conv2d").count();
    assert_eq!(convs, 20);
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    let imp = import("mobilenet_v2.onnx");
    assert!(
        within(imp.workload.total_macs(), 300.77e6, 0.01),
        "{}",
        imp.workload.total_macs()
    );
    assert!(within(imp.params, 3.50e6, 0.02), "{}", imp.params);
    // Clip(0, 6) is ReLU6, and the depthwise convs are recognized.
    let relu6 = imp
        .workload
        .ops()
        .filter(|o| {
            o.kind
                == OpKind::Elementwise {
                    func: EltFunc::Relu6,
                }
        })
        .count();
    assert_eq!(relu6, 35);
    assert_eq!(
        imp.workload
            .ops()
            .filter(|o| o.class() == "depthwise_conv2d")
            .count(),
        17
    );
}

#[test]
fn vit_b_16_matches_torchvision() {
    let imp = import("vit_b_16.onnx");
    assert!(
        within(imp.workload.total_macs(), 17.56e9, 0.02),
        "{}",
        imp.workload.total_macs()
    );
    assert!(within(imp.params, 86.57e6, 0.02), "{}", imp.params);
    // Q·Kᵀ and P·V of 12 layers are activation-by-activation products.
    let act_gemms = imp
        .workload
        .ops()
        .filter(|o| matches!(&o.kind, OpKind::Gemm(g) if !g.weight_operand))
        .count();
    assert_eq!(act_gemms, 24);
}

#[test]
fn tiny_cnn_exact() {
    let imp = import("tiny_cnn.onnx");
    // conv 3→8 3×3 pad 1 on 32×32:     32·32 · 8 · 27  = 221 184
    // conv 8→16 3×3 stride 2 pad 1:    16·16 · 16 · 72 = 294 912
    // depthwise 16 3×3 pad 1 on 16×16: 16·16 · 16 · 9  =  36 864
    // global mean: no MACs; fc 16→10:                       160
    assert_eq!(imp.workload.total_macs(), 221_184 + 294_912 + 36_864 + 160);
    // Weights and biases: 216+8, 1152+16, 144+16, 160+10.
    assert_eq!(imp.params, 1_722);
    let classes: Vec<&str> = imp.workload.ops().map(|o| o.class()).collect();
    assert_eq!(
        classes,
        [
            "conv2d",
            "elementwise",
            "conv2d",
            "elementwise",
            "depthwise_conv2d",
            "elementwise",
            "reduce",
            "gemm"
        ]
    );
}

#[test]
fn tiny_transformer_exact() {
    let imp = import("tiny_transformer.onnx");
    // 16 tokens, d = 64, 4 heads of 16, FFN 256, vocab 100, per layer:
    //   QKV projection 16·64·192 = 196 608; Q·Kᵀ 4·16·16·16 = 16 384; P·V 16 384;
    //   output projection 16·64·64 = 65 536; FFN 2 · 16·64·256 = 524 288  → 819 200.
    // Two layers, then the vocabulary head 16·64·100 = 102 400. The embedding is a gather.
    assert_eq!(imp.workload.total_macs(), 2 * 819_200 + 102_400);
    let emb: Vec<_> = imp
        .workload
        .ops()
        .filter(|o| matches!(o.kind, OpKind::Embedding { .. }))
        .collect();
    assert_eq!(emb.len(), 1);
    assert_eq!(
        emb[0].kind,
        OpKind::Embedding {
            vocab: 100,
            dim: 64
        }
    );
    assert_eq!(emb[0].output, vec![1, 16, 64]);
    // Every distinct weight once: embedding 6 400; per layer in-projection 12 288, output
    // projection 4 096, FFN 2 · 16 384, FFN biases 256 + 64; head 6 400 + 100; and the
    // tensors the exporter shares between layers through Identity (in-projection bias 192,
    // a zero bias 64, a unit LayerNorm scale 64), once each.
    assert_eq!(
        imp.params,
        6_400 + 2 * (12_288 + 4_096 + 2 * 16_384 + 256 + 64) + 6_400 + 100 + 192 + 64 + 64
    );
}

#[test]
fn batch_override_scales_macs() {
    for f in FILES {
        let one = import(f).workload.total_macs();
        let four = import_batch(f, 4);
        assert_eq!(four.workload.total_macs(), 4 * one, "{f}");
        assert_eq!(four.workload.batch, 4, "{f}");
        assert_eq!(four.params, import(f).params, "{f}");
    }
}

#[test]
fn cnn_batch_override_reshapes_the_graph() {
    let imp = import_batch("resnet18.onnx", 4);
    assert!(imp.warnings.is_empty());
    let first = imp.workload.ops().next().unwrap();
    assert_eq!(first.inputs[0], vec![4, 3, 224, 224]);
    assert_eq!(imp.workload.len(), import("resnet18.onnx").workload.len());
}

#[test]
fn fixed_batch_transformer_is_replicated_with_a_warning() {
    let one = import("vit_b_16.onnx");
    let imp = import_batch("vit_b_16.onnx", 2);
    assert_eq!(imp.warnings.len(), 1);
    assert!(imp.warnings[0].contains("/Reshape"), "{}", imp.warnings[0]);
    assert_eq!(imp.workload.len(), 2 * one.workload.len());
    assert!(imp
        .workload
        .ops()
        .all(|o| o.name.starts_with("s0/") || o.name.starts_with("s1/")));
    // Any batch is a multiple of the file's batch 1.
    assert_eq!(
        import_batch("vit_b_16.onnx", 3).workload.total_macs(),
        3 * one.workload.total_macs()
    );
}

#[test]
fn batch_zero_is_rejected() {
    let opts = OnnxOptions {
        batch: Some(0),
        ..OnnxOptions::default()
    };
    let e = read_onnx(&path("tiny_cnn.onnx"), &opts).unwrap_err();
    assert!(matches!(e, WorkloadError::InvalidParameter { .. }), "{e}");
}

#[test]
fn dtype_is_applied() {
    let opts = OnnxOptions {
        dtype: DType::Fp16,
        ..OnnxOptions::default()
    };
    let imp = read_onnx(&path("tiny_cnn.onnx"), &opts).unwrap();
    assert_eq!(imp.workload.dtype, DType::Fp16);
    assert!(imp.workload.ops().all(|o| o.dtype == DType::Fp16));
}

#[test]
fn missing_file_is_an_error() {
    let e = read_onnx(&path("nope.onnx"), &OnnxOptions::default()).unwrap_err();
    assert!(e.to_string().contains("cannot read file"), "{e}");
}

// ---------------------------------------------------------------- models built here

fn dims_type(elem: i32, dims: &[i64]) -> Option<TypeProto> {
    Some(TypeProto {
        tensor_type: Some(TensorTypeProto {
            elem_type: elem,
            shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&d| Dimension {
                        dim_value: (d >= 0).then_some(d),
                        dim_param: (d < 0).then(|| "batch".to_string()),
                    })
                    .collect(),
            }),
        }),
    })
}

/// A float value of shape `dims` (a negative dim is symbolic).
fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: dims_type(data_type::FLOAT, dims),
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op.into(),
        attribute: attrs,
        ..NodeProto::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..AttributeProto::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..AttributeProto::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..AttributeProto::default()
    }
}

fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..AttributeProto::default()
    }
}

fn i64_tensor(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        int64_data: v.to_vec(),
        ..TensorProto::default()
    }
}

/// A float weight of shape `dims` (values omitted: only the shape matters).
fn weight(name: &str, dims: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        ..TensorProto::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: &[&str],
    inits: Vec<TensorProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: "test".into(),
            initializer: inits,
            input: inputs,
            // Outputs declared without a shape (unknown rank).
            output: outputs
                .iter()
                .map(|o| ValueInfoProto {
                    name: o.to_string(),
                    r#type: Some(TypeProto {
                        tensor_type: Some(TensorTypeProto {
                            elem_type: data_type::FLOAT,
                            shape: None,
                        }),
                    }),
                })
                .collect(),
            value_info: Vec::new(),
        }),
        ..ModelProto::default()
    }
    .encode_to_vec()
}

fn parse(bytes: &[u8]) -> Result<OnnxImport, WorkloadError> {
    parse_onnx(bytes, "test", &OnnxOptions::default())
}

fn relu(name: &str, x: &str, y: &str) -> NodeProto {
    node("Relu", name, &[x], &[y], vec![])
}

/// x → Relu → Foo(a) → Relu → Bar(b) → Foo(c) → com.example.Fused(d) → y
fn unsupported_model() -> Vec<u8> {
    let mut fused = node("Fused", "d", &["t4"], &["y"], vec![]);
    fused.domain = "com.example".into();
    model(
        vec![
            relu("r0", "x", "t0"),
            node("Foo", "a", &["t0"], &["t1"], vec![]),
            relu("r1", "t1", "t2"),
            node("Bar", "b", &["t2"], &["t3"], vec![]),
            node("Foo", "c", &["t3"], &["t4"], vec![]),
            fused,
        ],
        vec![vi("x", &[1, 8, 4, 4])],
        &["y"],
        vec![],
    )
}

#[test]
fn unsupported_ops_are_listed_in_one_error() {
    let e = parse(&unsupported_model()).unwrap_err();
    let WorkloadError::Unsupported { nodes } = &e else {
        panic!("{e}");
    };
    let expect = [
        ("a", "Foo"),
        ("b", "Bar"),
        ("c", "Foo"),
        ("d", "com.example.Fused"),
    ];
    assert_eq!(
        nodes,
        &expect
            .iter()
            .map(|(n, o)| (n.to_string(), o.to_string()))
            .collect::<Vec<_>>()
    );
    let msg = e.to_string();
    assert!(!msg.contains('\n'));
    assert_eq!(
        msg,
        "unsupported ONNX ops: `Foo` (2 nodes: a, c); `Bar` (1 node: b); \
         `com.example.Fused` (1 node: d)"
    );
}

#[test]
fn allow_unsupported_gives_zero_cost_placeholders_and_warnings() {
    let opts = OnnxOptions {
        allow_unsupported: true,
        ..OnnxOptions::default()
    };
    let imp = parse_onnx(&unsupported_model(), "test", &opts).unwrap();
    assert_eq!(imp.warnings.len(), 3, "{:?}", imp.warnings);
    assert!(imp.warnings[0].contains("`Foo`") && imp.warnings[0].contains("a, c"));
    assert!(imp.warnings[1].contains("`Bar`"));
    let w = &imp.workload;
    assert_eq!(w.len(), 6);
    for op in w
        .ops()
        .filter(|o| ["a", "b", "c", "d"].contains(&o.name.as_str()))
    {
        assert_eq!(op.kind, OpKind::Reshape);
        assert_eq!((op.flops(), op.bytes_read(), op.bytes_written()), (0, 0, 0));
        assert_eq!(op.output, vec![1, 8, 4, 4]);
    }
    // The graph stays connected through the placeholders.
    assert_eq!(w.graph.edge_count(), 5);
}

#[test]
fn cyclic_graph_is_an_error() {
    let bytes = model(
        vec![
            node("Add", "a", &["x", "t1"], &["t0"], vec![]),
            relu("b", "t0", "t1"),
            relu("c", "t1", "y"),
        ],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    let e = parse(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("cycle") && e.contains('a') && e.contains('b'),
        "{e}"
    );
}

#[test]
fn undefined_value_names_the_node() {
    let bytes = model(
        vec![node("Add", "plus", &["x", "ghost"], &["y"], vec![])],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    let e = parse(&bytes).unwrap_err().to_string();
    assert!(e.contains("`plus`") && e.contains("ghost"), "{e}");
}

#[test]
fn messages_are_one_line_whatever_the_names() {
    let bytes = model(
        vec![node("Add", "evil\nname", &["x", "gh\nost"], &["y"], vec![])],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    let e = parse(&bytes).unwrap_err().to_string();
    assert!(!e.contains('\n') && e.contains("evil\\nname"), "{e}");
    let bytes = model(
        vec![node("Foo\r", "a\nb", &["x"], &["y"], vec![])],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    let e = parse(&bytes).unwrap_err().to_string();
    assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
}

#[test]
fn doubly_defined_value_is_an_error() {
    let bytes = model(
        vec![relu("r0", "x", "y"), relu("r1", "x", "y")],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    let e = parse(&bytes).unwrap_err().to_string();
    assert!(e.contains("`r1`") && e.contains("already defined"), "{e}");
}

#[test]
fn shape_mismatch_names_the_node() {
    let bytes = model(
        vec![node("Conv", "conv", &["x", "w"], &["y"], vec![])],
        vec![vi("x", &[1, 3, 8, 8])],
        &["y"],
        vec![weight("w", &[16, 4, 3, 3])],
    );
    let e = parse(&bytes).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, WorkloadError::Onnx { .. }));
    assert!(
        msg.contains("`conv` (Conv)") && msg.contains("3 input channels"),
        "{msg}"
    );

    let bytes = model(
        vec![node("MatMul", "mm", &["x", "w"], &["y"], vec![])],
        vec![vi("x", &[2, 5])],
        &["y"],
        vec![weight("w", &[4, 7])],
    );
    let msg = parse(&bytes).unwrap_err().to_string();
    assert!(
        msg.contains("`mm` (MatMul)") && msg.contains("inner dimensions"),
        "{msg}"
    );
}

#[test]
fn hostile_dimensions_are_errors() {
    let huge = 1i64 << 40;
    let bytes = model(
        vec![node("Add", "add", &["x", "w"], &["y"], vec![])],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![weight("w", &[huge, huge, huge])],
    );
    assert!(parse(&bytes).unwrap_err().to_string().contains("too large"));
    let bytes = model(
        vec![relu("r", "x", "y")],
        vec![vi("x", &[huge, huge])],
        &["y"],
        vec![],
    );
    assert!(parse(&bytes).is_err());
    // A Reshape target that asks for 2^80 elements.
    let bytes = model(
        vec![node("Reshape", "rs", &["x", "s"], &["y"], vec![])],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![i64_tensor("s", &[3], &[huge, huge, 0])],
    );
    assert!(parse(&bytes).is_err());
    // A Split into 2^62 parts.
    let bytes = model(
        vec![node(
            "Split",
            "sp",
            &["x"],
            &["y"],
            vec![int("num_outputs", 1 << 62)],
        )],
        vec![vi("x", &[1, 4])],
        &["y"],
        vec![],
    );
    assert!(parse(&bytes).is_err());
}

#[test]
fn conv_attributes() {
    // SAME_UPPER with stride 2 keeps ceil(15/2) = 8; a 1-D conv becomes height 1; groups.
    let bytes = model(
        vec![
            node(
                "Conv",
                "same",
                &["x", "w1"],
                &["t"],
                vec![string("auto_pad", "SAME_UPPER"), ints("strides", &[2, 2])],
            ),
            node(
                "Conv",
                "grouped",
                &["t", "w2", "b2"],
                &["u"],
                vec![
                    int("group", 4),
                    ints("dilations", &[2, 2]),
                    ints("pads", &[2, 2, 2, 2]),
                ],
            ),
            node(
                "Conv",
                "line",
                &["s", "w3"],
                &["v"],
                vec![ints("pads", &[1, 1])],
            ),
            node(
                "ConvTranspose",
                "up",
                &["u", "w4"],
                &["z"],
                vec![
                    ints("strides", &[2, 2]),
                    ints("pads", &[1, 1, 1, 1]),
                    ints("output_padding", &[1, 1]),
                ],
            ),
        ],
        vec![vi("x", &[1, 8, 15, 15]), vi("s", &[2, 4, 10])],
        &["z", "v"],
        vec![
            weight("w1", &[16, 8, 3, 3]),
            weight("w2", &[16, 4, 3, 3]),
            weight("b2", &[16]),
            weight("w3", &[6, 4, 3]),
            weight("w4", &[16, 8, 3, 3]),
        ],
    );
    let imp = parse(&bytes).unwrap();
    assert_eq!(imp.data_inputs, vec!["x", "s"]);
    let op = |n: &str| imp.workload.ops().find(|o| o.name == n).unwrap().clone();
    assert_eq!(op("same").output, vec![1, 16, 8, 8]);
    assert_eq!(op("same").macs(), 64 * 16 * 72);
    let OpKind::Conv2d(c) = op("grouped").kind else {
        panic!()
    };
    assert_eq!((c.groups, c.dilation, c.pads), (4, [2, 2], [2, 2, 2, 2]));
    assert_eq!(op("grouped").output, vec![1, 16, 8, 8]);
    assert_eq!(op("line").output, vec![2, 6, 1, 10]);
    assert_eq!(op("line").macs(), 2 * 10 * 6 * 12);
    // (8 − 1)·2 − 2 + 3 + 1 = 16.
    assert_eq!(op("up").output, vec![1, 8, 16, 16]);
    assert_eq!(imp.params, 16 * 72 + 16 * 36 + 16 + 6 * 12 + 16 * 72);
}

#[test]
fn batch_norm_folds_into_a_conv_only() {
    let bn = |name: &str, x: &str, y: &str| {
        node(
            "BatchNormalization",
            name,
            &[x, "g", "b", "m", "v"],
            &[y],
            vec![],
        )
    };
    let bytes = model(
        vec![
            node("Conv", "conv", &["x", "w"], &["c"], vec![]),
            bn("bn0", "c", "d"),
            bn("bn1", "d", "y"),
        ],
        vec![vi("x", &[1, 4, 6, 6])],
        &["y"],
        ["g", "b", "m", "v"]
            .iter()
            .map(|n| weight(n, &[4]))
            .chain([weight("w", &[4, 4, 1, 1])])
            .collect(),
    );
    let imp = parse(&bytes).unwrap();
    let names: Vec<_> = imp.workload.ops().map(|o| o.name.clone()).collect();
    assert_eq!(names, ["conv", "bn1"]);
    let bn1 = imp.workload.ops().nth(1).unwrap();
    assert_eq!(
        bn1.kind,
        OpKind::Elementwise {
            func: EltFunc::BatchNorm
        }
    );
    // Scale and bias are parameters, the running statistics are not.
    assert_eq!(imp.params, 16 + 4 + 4);
}

#[test]
fn shape_arithmetic_costs_nothing() {
    // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) : [2, 3, 4] → [2, 12]
    let bytes = model(
        vec![
            node("Shape", "shape", &["x"], &["s"], vec![]),
            node("Gather", "g", &["s", "zero"], &["n"], vec![int("axis", 0)]),
            node("Unsqueeze", "u", &["n", "axes"], &["n1"], vec![]),
            node(
                "Concat",
                "cat",
                &["n1", "minus1"],
                &["target"],
                vec![int("axis", 0)],
            ),
            node("Reshape", "rs", &["x", "target"], &["r"], vec![]),
            node(
                "Gemm",
                "fc",
                &["r", "w", "bias"],
                &["y"],
                vec![int("transB", 1)],
            ),
        ],
        vec![vi("x", &[-1, 3, 4])],
        &["y"],
        vec![
            i64_tensor("zero", &[], &[0]),
            i64_tensor("axes", &[1], &[0]),
            i64_tensor("minus1", &[1], &[-1]),
            weight("w", &[5, 12]),
            weight("bias", &[5]),
        ],
    );
    let imp = parse(&bytes).unwrap();
    assert_eq!(imp.workload.len(), 1);
    let fc = imp.workload.ops().next().unwrap();
    assert_eq!(
        (fc.inputs[0].clone(), fc.output.clone()),
        (vec![1, 12], vec![1, 5])
    );
    // The shape constants are no parameters.
    assert_eq!(imp.params, 65);
    // A symbolic batch follows the override, through the shape arithmetic.
    let imp = parse_onnx(
        &bytes,
        "t",
        &OnnxOptions {
            batch: Some(7),
            ..OnnxOptions::default()
        },
    )
    .unwrap();
    assert_eq!(imp.workload.ops().next().unwrap().output, vec![7, 5]);
    assert!(imp.warnings.is_empty());
}

#[test]
fn weights_given_as_graph_inputs_are_told_apart_by_use() {
    // `w` reaches MatMul's second operand through a Transpose; `pos` is only added; `x` is
    // the MatMul's first operand.
    let bytes = model(
        vec![
            node(
                "Transpose",
                "t",
                &["w"],
                &["wt"],
                vec![ints("perm", &[1, 0])],
            ),
            node("MatMul", "mm", &["x", "wt"], &["h"], vec![]),
            node("Add", "add", &["h", "pos"], &["y"], vec![]),
        ],
        vec![
            vi("w", &[16, 8]),
            vi("x", &[1, 4, 8]),
            vi("pos", &[1, 4, 16]),
        ],
        &["y"],
        vec![],
    );
    let imp = parse(&bytes).unwrap();
    assert_eq!(imp.data_inputs, vec!["x"]);
    assert_eq!(imp.params, 128 + 64);
    let mm = imp.workload.ops().next().unwrap();
    assert!(matches!(&mm.kind, OpKind::Gemm(g) if g.weight_operand && g.m == 4));

    // Two inputs that meet only in an Add are both data.
    let bytes = model(
        vec![node("Add", "add", &["a", "b"], &["y"], vec![])],
        vec![vi("a", &[2, 3]), vi("b", &[2, 3])],
        &["y"],
        vec![],
    );
    let imp = parse(&bytes).unwrap();
    assert_eq!(imp.data_inputs, vec!["a", "b"]);
    assert_eq!(imp.workload.ops().next().unwrap().inputs.len(), 2);
}

#[test]
fn constant_nodes_and_slices() {
    let bytes = model(
        vec![
            node(
                "Constant",
                "starts",
                &[],
                &["st"],
                vec![tensor_attr("value", i64_tensor("", &[1], &[1]))],
            ),
            node(
                "Constant",
                "ends",
                &[],
                &["en"],
                vec![tensor_attr("value", i64_tensor("", &[1], &[i64::MAX]))],
            ),
            node(
                "Constant",
                "ax",
                &[],
                &["ax"],
                vec![ints("value_ints", &[-1])],
            ),
            node("Slice", "slice", &["x", "st", "en", "ax"], &["y"], vec![]),
        ],
        vec![vi("x", &[1, 3, 10])],
        &["y"],
        vec![],
    );
    let imp = parse(&bytes).unwrap();
    let op = imp.workload.ops().next().unwrap();
    assert_eq!((op.class(), op.output.clone()), ("copy", vec![1, 3, 9]));
}

#[test]
fn resize_by_scales_and_sizes() {
    let f32_tensor = |name: &str, v: &[f32]| TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: data_type::FLOAT,
        float_data: v.to_vec(),
        ..TensorProto::default()
    };
    let bytes = model(
        vec![
            node("Resize", "up", &["x", "", "scales"], &["u"], vec![]),
            node("Resize", "down", &["u", "", "", "sizes"], &["y"], vec![]),
        ],
        vec![vi("x", &[1, 4, 5, 5])],
        &["y"],
        vec![
            f32_tensor("scales", &[1.0, 1.0, 2.0, 2.0]),
            i64_tensor("sizes", &[4], &[1, 4, 3, 7]),
        ],
    );
    let imp = parse(&bytes).unwrap();
    let outs: Vec<_> = imp
        .workload
        .ops()
        .map(|o| (o.class(), o.output.clone()))
        .collect();
    assert_eq!(
        outs,
        [("copy", vec![1, 4, 10, 10]), ("copy", vec![1, 4, 3, 7])]
    );
    assert_eq!(imp.params, 0);
}

// ---------------------------------------------------------------- robustness

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&data);
    }

    #[test]
    fn truncated_files_never_panic(file in 0usize..3, cut in 0.0f64..1.0) {
        let b = bytes(["tiny_cnn.onnx", "resnet18.onnx", "mobilenet_v2.onnx"][file]);
        let n = (b.len() as f64 * cut) as usize;
        let _ = parse(&b[..n]);
    }

    #[test]
    fn corrupted_files_never_panic(
        file in 0usize..2,
        flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8),
    ) {
        let mut b = bytes(["tiny_cnn.onnx", "resnet18.onnx"][file]);
        for (pos, byte) in flips {
            let i = ((b.len() - 1) as f64 * pos) as usize;
            b[i] = byte;
        }
        for batch in [None, Some(3)] {
            let opts = OnnxOptions { batch, allow_unsupported: true, ..OnnxOptions::default() };
            if let Ok(imp) = parse_onnx(&b, "corrupt", &opts) {
                // Whatever imports has costs that can be summed.
                let _ = imp.workload.total_macs();
                let _ = imp.workload.ops().map(|o| o.flops() + o.bytes_read()).sum::<u64>();
            }
        }
    }
}

/// Values that stress shape arithmetic: zero, negatives, and sizes near the limits.
const NASTY: [i64; 11] = [0, 1, -1, 2, 3, -2, 7, 1 << 31, 1 << 40, i64::MAX, i64::MIN];

/// One structural mutation of a model: an attribute, an initializer dimension, an input
/// dimension or a `Constant` value set to `val`, a node input rewired, or an input dropped.
fn mutate(
    g: &mut GraphProto,
    kind: u8,
    i: prop::sample::Index,
    j: prop::sample::Index,
    val: i64,
    r: usize,
) {
    match kind {
        0 => {
            let n = i.get_mut(&mut g.node);
            if !n.attribute.is_empty() {
                let a = j.get_mut(&mut n.attribute);
                if a.ints.is_empty() {
                    a.i = val;
                } else {
                    let k = r % a.ints.len();
                    a.ints[k] = val;
                }
            }
        }
        1 => {
            if !g.initializer.is_empty() {
                let t = i.get_mut(&mut g.initializer);
                if !t.dims.is_empty() {
                    let k = r % t.dims.len();
                    t.dims[k] = val;
                }
            }
        }
        2 => {
            let input = i.get_mut(&mut g.input);
            let shape = input
                .r#type
                .as_mut()
                .and_then(|t| t.tensor_type.as_mut())
                .and_then(|t| t.shape.as_mut());
            if let Some(s) = shape.filter(|s| !s.dim.is_empty()) {
                let k = r % s.dim.len();
                s.dim[k].dim_value = Some(val);
            }
        }
        3 => {
            let (a, b) = (i.index(g.node.len()), j.index(g.node.len()));
            if !g.node[a].input.is_empty() && !g.node[b].output.is_empty() {
                let o = g.node[b].output[0].clone();
                let k = r % g.node[a].input.len();
                g.node[a].input[k] = o;
            }
        }
        4 => {
            let n = i.get_mut(&mut g.node);
            for t in n.attribute.iter_mut().filter_map(|a| a.t.as_mut()) {
                if !t.int64_data.is_empty() {
                    let k = r % t.int64_data.len();
                    t.int64_data[k] = val;
                } else if !t.dims.is_empty() {
                    let k = r % t.dims.len();
                    t.dims[k] = val;
                }
            }
        }
        _ => {
            let n = i.get_mut(&mut g.node);
            if !n.input.is_empty() {
                let k = r % n.input.len();
                n.input[k] = String::new();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_models_never_panic(
        file in prop::sample::select(vec!["tiny_cnn.onnx", "resnet18.onnx", "tiny_transformer.onnx"]),
        muts in proptest::collection::vec(
            (0u8..6, any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..12, any::<i64>()),
            1..5,
        ),
    ) {
        let mut m = ModelProto::decode(&bytes(file)[..]).unwrap();
        let g = m.graph.as_mut().unwrap();
        for (kind, i, j, v, r) in muts {
            let val = NASTY.get(v).copied().unwrap_or(r % 300);
            mutate(g, kind, i, j, val, r.unsigned_abs() as usize);
        }
        let b = m.encode_to_vec();
        for batch in [None, Some(3)] {
            let opts = OnnxOptions { batch, allow_unsupported: true, ..OnnxOptions::default() };
            if let Ok(imp) = parse_onnx(&b, "mutated", &opts) {
                let _ = imp.workload.total_macs();
                let _ = imp
                    .workload
                    .ops()
                    .map(|o| o.flops() + o.bytes_read() + o.bytes_written() + o.weight_elems())
                    .sum::<u64>();
            }
        }
    }
}

/// The acceptance check of the importer: every torchvision export's MACs equal the zoo build of
/// the same network within 1 %.
#[test]
fn torchvision_exports_match_the_zoo_within_one_percent() {
    for (file, name) in [
        ("resnet18.onnx", "resnet18"),
        ("mobilenet_v2.onnx", "mobilenet_v2"),
        ("vit_b_16.onnx", "vit_b_16"),
    ] {
        let onnx = import(file).workload.total_macs() as f64;
        let zoo = zoo::build(name, 1, DType::Int8).unwrap().total_macs() as f64;
        assert!(
            (onnx - zoo).abs() / zoo <= 0.01,
            "{file}: {onnx} MACs vs the zoo's {zoo}"
        );
    }
}

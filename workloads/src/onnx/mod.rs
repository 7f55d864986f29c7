//! Import of ONNX models into the op-graph IR.
//!
//! ```no_run
//! use std::path::Path;
//! use archsim_workloads::onnx::{read_onnx, OnnxOptions};
//!
//! let imp = read_onnx(Path::new("resnet18.onnx"), &OnnxOptions::default()).unwrap();
//! println!("{} MACs, {} parameters", imp.workload.total_macs(), imp.params);
//! for w in &imp.warnings {
//!     eprintln!("warning: {w}");
//! }
//! ```
//!
//! The file is decoded with prost from hand-written messages for the needed subset of
//! `onnx.proto` ([`proto`]); there is no dependency on protoc or an inference engine. Shapes
//! are inferred by the importer itself, op by op, so the batch size can be overridden and the
//! file's own `value_info` is not trusted (it is used only to shape placeholders of unsupported
//! ops).
//!
//! # Weights and data inputs
//!
//! Initializers are weights, also when they are listed among the graph inputs. A graph input
//! without an initializer (exporters' `keep_initializers_as_inputs` form, used by the
//! torchvision files in `tests/data/onnx`) is classified by how the graph uses it. Each input
//! slot of each supported op has a role:
//!
//! * *data*: the activation an op with parameters applies to (Conv/ConvTranspose/Gemm/MatMul
//!   input 0, the normalized input of BatchNormalization/LayerNormalization, pooling, softmax
//!   and Resize inputs, Gather's indices);
//! * *parameter*: Conv/ConvTranspose weight and bias, Gemm B and C, MatMul's second operand,
//!   BatchNormalization scale/bias/mean/variance, LayerNormalization scale/bias, PRelu slope;
//! * *shape*: values read at import time (Reshape's shape, Slice's bounds, axes, …);
//! * *view*: Identity, Dropout, Cast, Reshape/Flatten/Squeeze/Unsqueeze data, Transpose — the
//!   importer follows the op's output to its own readers;
//! * *neutral*: everything else (element-wise ops, Concat, Expand, Gather's table, unknown
//!   ops).
//!
//! Following views, an input that reaches a data or shape slot is a **data input**; one that
//! reaches only parameter slots is a **weight**; one that reaches neutral slots and no data
//! slot (ViT's `class_token` through Expand/Concat, its `pos_embedding` through Add) is a
//! weight when some other input is data, and data otherwise (so `Add(x, y)` of two inputs
//! keeps both as data). If no input qualifies, the first non-initializer input is data.
//! [`OnnxImport::data_inputs`] reports the outcome.
//!
//! # Shapes and constants
//!
//! Data inputs take their declared shapes; a symbolic first dimension is the batch (1 unless
//! [`OnnxOptions::batch`] is set), other symbolic dimensions are an error. The batch override
//! replaces the first dimension of every data input. Weights take the shape of their
//! initializer or declared type. Every node is then translated in topological order (the
//! file's order is not relied upon), computing its output shapes.
//!
//! Values known at import time — initializers, `Constant` nodes, the shape of any tensor
//! (`Shape`, `Size`), and everything computed only from those, such as
//! `Shape → Gather → Unsqueeze → Concat` chains feeding a Reshape — are
//! evaluated by the importer (element values are tracked for tensors of up to 65 536
//! elements) and produce no ops. Reshape targets, Slice/Split bounds, Expand/Tile/Pad
//! arguments, axes given as inputs, and `ConstantOfShape`/`Range` arguments must be such
//! constants.
//!
//! Files exported with a fixed batch often bake it into Reshape constants (the transformer
//! files in `tests/data/onnx` do), so that the graph cannot run at another batch. When the
//! batch override fails on such a file, the importer imports the graph at the file's batch
//! `b0` and, if the requested batch is a multiple of it, returns `batch / b0` independent
//! copies of that graph (ops named `s0/…`, `s1/…`), with a warning that quotes the failing
//! node. MACs and activation traffic then scale exactly with the batch; weights are read by
//! every copy, as by separate inferences. The CNN files have no such constants and are
//! re-batched directly.
//!
//! # Supported ops
//!
//! | ONNX | IR |
//! |---|---|
//! | Conv (1-D as height 1, 2-D; groups, depthwise, strides, pads, `auto_pad`, dilations) | `Conv2d` |
//! | ConvTranspose (`output_padding`, `output_shape`, `auto_pad`) | `ConvTranspose2d` |
//! | Gemm (`transA`/`transB`; a constant C is folded in, `alpha`/`beta` ignored) | `Gemm` |
//! | MatMul (batched, broadcast; constant second operand → `weight_operand`) | `Gemm` |
//! | BatchNormalization | folded into the Conv whose only reader it is; else `Elementwise(BatchNorm)` |
//! | LayerNormalization, RMSNormalization | `Norm` |
//! | MaxPool, AveragePool (`ceil_mode`, `auto_pad`), GlobalAveragePool, GlobalMaxPool | `Pool` |
//! | Softmax, LogSoftmax | `Softmax` |
//! | Add, Sub, Mul, Div, Pow, Mod, Max, Min, Sum, Mean, Where, Relu, LeakyRelu, PRelu, Elu, Clip (0–6 → `Relu6`), Sigmoid, HardSigmoid, HardSwish, Gelu, Erf, Tanh, Exp, Log, Sqrt, Reciprocal, Neg, Abs, Sign, Floor, Ceil, Round, comparisons, logic, Cast | `Elementwise` |
//! | ReduceMean/Sum/Max/Min/Prod/L1/L2/…, ArgMax/ArgMin | `Reduce` |
//! | Gather of a constant table by run-time indices | `Embedding` |
//! | Transpose (unless it moves only unit axes), Concat, Split, Slice, Gather, Expand, Tile, Pad, Resize, Upsample | `Copy` |
//! | Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout | none (a view: the output shares the input's producer) |
//! | Shape, Size, Constant, ConstantOfShape, Range, and any op whose inputs are all constants | none (evaluated at import) |
//!
//! Approximations: element-wise functions without an IR counterpart take the nearest cost
//! class (comparisons as `Sub`, Abs/Sign/Floor as `Neg`, LeakyRelu as `Relu`, Log/Softplus/
//! trigonometry as `Exp`, Mod as `Div`); dilated pooling windows are counted by their span;
//! Gemm's `alpha`/`beta` scaling is free; Resize's interpolation is counted as a copy; a
//! MatMul whose first operand is a constant reads it as an activation input.
//!
//! # Unsupported ops
//!
//! Any other op type, and any op outside the default domain, is unsupported. By default the
//! import fails with one [`WorkloadError::Unsupported`] listing every such node, grouped by op
//! type. With [`OnnxOptions::allow_unsupported`] each becomes a zero-cost placeholder op
//! ([`OpKind::Reshape`](crate::OpKind::Reshape): no FLOPs, no bytes) reading the node's
//! activation inputs, shaped as declared in the file's `value_info` (with an overridden batch
//! substituted for the leading dimension when the first input leads with it), else like its
//! first input; [`OnnxImport::warnings`] gets one line per op type.
//!
//! # Parameters
//!
//! [`OnnxImport::params`] counts the elements of every weight tensor (initializer or weight
//! input) that some imported op uses as a parameter, each tensor once however often it is
//! shared (`Identity` aliases included). BatchNormalization's running mean and variance are
//! buffers, not parameters (the torchvision convention).
//!
//! # Malformed files
//!
//! Decoding errors, cycles, undefined or doubly defined values, shape mismatches and
//! out-of-range attributes are reported as [`WorkloadError::Onnx`] naming the file and, where
//! there is one, the node. Shapes are bounded (2⁴⁰ elements per tensor) and every op's and the
//! workload's arithmetic is bounded before the op is kept, so hostile dimensions cannot make
//! the importer allocate without limit or overflow a cost counter.

mod ctx;
mod ops;
pub mod proto;
mod value;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use prost::Message;

use self::ctx::{check_act_shape, Ctx, Node};
use self::ops::{registry, Registry, Role};
use self::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use self::value::{checked_numel, is_float_type, tensor_to_const, Const, Value};
use crate::graph::Tensor;
use crate::op::Shape;
use crate::{DType, Workload, WorkloadError};

/// How to import an ONNX model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnnxOptions {
    /// Replaces the first dimension of every data input (graph inputs that are not weights);
    /// `None` keeps the file's (1 where it is symbolic).
    pub batch: Option<u64>,
    /// Element type of every op of the workload.
    pub dtype: DType,
    /// Import unsupported ops as zero-cost placeholders (with a warning per op type) instead
    /// of failing.
    pub allow_unsupported: bool,
}

/// An imported model.
#[derive(Debug, Clone)]
pub struct OnnxImport {
    /// The op graph.
    pub workload: Workload,
    /// Parameter elements: each weight tensor used by an op, counted once.
    pub params: u64,
    /// Names of the graph inputs treated as data (the others are weights).
    pub data_inputs: Vec<String>,
    /// What was approximated or skipped (unsupported ops under `allow_unsupported`).
    pub warnings: Vec<String>,
}

/// Reads an ONNX model file. The workload is named after the file's stem.
pub fn read_onnx(path: &Path, opts: &OnnxOptions) -> Result<OnnxImport, WorkloadError> {
    let file = path.display().to_string();
    let bytes = crate::input::read(path, crate::input::InputKind::Onnx).map_err(|e| {
        WorkloadError::Onnx {
            file: file.clone(),
            reason: e.message,
        }
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "onnx".to_string(), |s| s.to_string_lossy().into_owned());
    import(&bytes, &name, &file, opts)
}

/// Parses an ONNX model from memory; `name` names the workload and appears in errors.
pub fn parse_onnx(
    bytes: &[u8],
    name: &str,
    opts: &OnnxOptions,
) -> Result<OnnxImport, WorkloadError> {
    import(bytes, name, name, opts)
}

fn is_default_domain(d: &str) -> bool {
    d.is_empty() || d == "ai.onnx"
}

/// Op type as shown in messages: `Conv`, or `com.example.Fused` outside the default domain.
fn op_label(n: &NodeProto) -> String {
    one_line(&if is_default_domain(&n.domain) {
        n.op_type.clone()
    } else {
        format!("{}.{}", n.domain, n.op_type)
    })
}

/// Names from the file with control characters escaped, so that every message is one line.
fn one_line(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// Largest number of ops of a workload built by replicating a fixed-batch graph.
const MAX_REPLICATED_OPS: u64 = 1 << 22;

fn import(
    bytes: &[u8],
    name: &str,
    file: &str,
    opts: &OnnxOptions,
) -> Result<OnnxImport, WorkloadError> {
    if opts.batch == Some(0) {
        return Err(WorkloadError::InvalidParameter {
            key: "workload.batch".into(),
            reason: "must be at least 1".into(),
        });
    }
    let first = import_once(bytes, name, file, opts);
    let (Err(direct), Some(batch)) = (&first, opts.batch) else {
        return first;
    };
    // The batch override failed. Files exported with a fixed batch bake it into constant
    // shapes; import at the file's batch and replicate the graph instead.
    let at_file_batch = OnnxOptions {
        batch: None,
        ..opts.clone()
    };
    let Ok(base) = import_once(bytes, name, file, &at_file_batch) else {
        return first;
    };
    let b0 = base.workload.batch.max(1);
    let copies = batch / b0;
    let ops = copies.saturating_mul(base.workload.len() as u64);
    let work = ctx::workload_work(&base.workload).saturating_mul(u128::from(copies));
    if batch % b0 != 0 || copies < 2 || ops > MAX_REPLICATED_OPS || work > ctx::MAX_TOTAL_WORK {
        return first;
    }
    let reason = match direct {
        WorkloadError::Onnx { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    let mut warnings = base.warnings;
    warnings.push(format!(
        "batch {batch} could not be applied to the graph ({reason}); imported {copies} \
         independent copies of the batch-{b0} graph instead (ops named `s<k>/…`)"
    ));
    Ok(OnnxImport {
        workload: replicate(&base.workload, copies, batch),
        params: base.params,
        data_inputs: base.data_inputs,
        warnings,
    })
}

/// `copies` disjoint copies of a workload's graph, op names prefixed `s0/`, `s1/`, …
fn replicate(w: &Workload, copies: u64, batch: u64) -> Workload {
    let mut graph = petgraph::stable_graph::StableDiGraph::new();
    for k in 0..copies {
        let mut map = HashMap::new();
        for n in w.topo_order() {
            let mut op = w.graph[n].clone();
            op.name = format!("s{k}/{}", op.name);
            map.insert(n, graph.add_node(op));
        }
        for e in w.graph.edge_indices() {
            if let Some((a, b)) = w.graph.edge_endpoints(e) {
                if let (Some(&a), Some(&b)) = (map.get(&a), map.get(&b)) {
                    graph.add_edge(a, b, w.graph[e].clone());
                }
            }
        }
    }
    Workload {
        name: w.name.clone(),
        dtype: w.dtype,
        batch,
        graph,
        llm: None,
        framework: w.framework,
    }
}

fn import_once(
    bytes: &[u8],
    name: &str,
    file: &str,
    opts: &OnnxOptions,
) -> Result<OnnxImport, WorkloadError> {
    let err = |reason: String| WorkloadError::Onnx {
        file: file.to_string(),
        reason: one_line(&reason),
    };
    let model =
        ModelProto::decode(bytes).map_err(|e| err(format!("not a valid ONNX model: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| err("the model has no graph".into()))?;

    let names: Vec<String> = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.name.is_empty() {
                format!("{}#{i}", op_label(n))
            } else {
                one_line(&n.name)
            }
        })
        .collect();
    let node_err = |i: usize, reason: String| {
        err(format!(
            "node `{}` ({}): {reason}",
            names[i],
            op_label(&graph.node[i])
        ))
    };

    // Definitions: initializers, graph inputs, node outputs — each name defined once.
    let mut inits: HashMap<&str, &TensorProto> = HashMap::new();
    for t in &graph.initializer {
        if t.name.is_empty() {
            return Err(err("an initializer has no name".into()));
        }
        if inits.insert(&t.name, t).is_some() {
            return Err(err(format!("initializer `{}` is defined twice", t.name)));
        }
    }
    let mut inputs: HashSet<&str> = HashSet::new();
    for v in &graph.input {
        if !inputs.insert(&v.name) {
            return Err(err(format!("graph input `{}` is declared twice", v.name)));
        }
    }
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            let o = o.as_str();
            if inits.contains_key(o) || inputs.contains(o) || producer.insert(o, i).is_some() {
                return Err(node_err(i, format!("output `{o}` is already defined")));
            }
        }
    }
    let defined = |v: &str| producer.contains_key(v) || inits.contains_key(v) || inputs.contains(v);
    for (i, n) in graph.node.iter().enumerate() {
        if let Some(v) = n.input.iter().find(|v| !v.is_empty() && !defined(v)) {
            return Err(node_err(
                i,
                format!("reads `{v}`, which no node, graph input or initializer defines"),
            ));
        }
    }
    if let Some(o) = graph.output.iter().find(|o| !defined(&o.name)) {
        return Err(err(format!("graph output `{}` is not defined", o.name)));
    }

    let order = topo_order(graph, &producer).map_err(|stuck| {
        let list: Vec<&str> = stuck.iter().take(5).map(|&i| names[i].as_str()).collect();
        let more = stuck.len().saturating_sub(list.len());
        err(format!(
            "the graph has a cycle: nodes {}{} depend on their own outputs",
            list.join(", "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        ))
    })?;

    // Every unsupported node, before any translation.
    let reg = registry();
    let def_of = |n: &NodeProto| {
        if is_default_domain(&n.domain) {
            reg.get(&n.op_type)
        } else {
            None
        }
    };
    let unsupported: Vec<(String, String)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| def_of(n).is_none())
        .map(|(i, n)| (names[i].clone(), op_label(n)))
        .collect();
    if !unsupported.is_empty() && !opts.allow_unsupported {
        return Err(WorkloadError::Unsupported { nodes: unsupported });
    }

    // Readers of every value.
    let mut uses: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    let mut consumers: HashMap<String, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for (slot, v) in n.input.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
            uses.entry(v).or_default().push((i, slot));
            *consumers.entry(v.clone()).or_default() += 1;
        }
    }
    for o in &graph.output {
        *consumers.entry(o.name.clone()).or_default() += 1;
    }
    let declared: HashMap<String, Vec<Option<u64>>> = graph
        .value_info
        .iter()
        .chain(&graph.output)
        .filter_map(|v| declared_dims(v).map(|d| (v.name.clone(), d)))
        .collect();

    let data_set = classify_inputs(graph, &inits, &uses, reg);
    let mut ctx = Ctx::new(name, opts, consumers, declared);
    for t in &graph.initializer {
        let c = tensor_to_const(t).map_err(&err)?;
        let o = ctx.add_weight(&t.name, checked_numel(&c.shape).unwrap_or(0));
        ctx.define(&t.name, Value::Const(c.with_origins(vec![o])));
    }
    let mut data_inputs = Vec::new();
    let mut batch = None;
    for v in graph
        .input
        .iter()
        .filter(|v| !inits.contains_key(v.name.as_str()))
    {
        let dims = declared_dims(v).ok_or_else(|| {
            err(format!(
                "graph input `{}` has no declared tensor shape",
                v.name
            ))
        })?;
        if data_set.contains(v.name.as_str()) {
            let shape = data_shape(&v.name, &dims, opts.batch).map_err(&err)?;
            batch = batch.or(shape.first().copied());
            ctx.define(
                &v.name,
                Value::Act(Tensor {
                    producer: None,
                    shape,
                }),
            );
            data_inputs.push(v.name.clone());
        } else {
            let shape = dims
                .iter()
                .map(|d| d.ok_or(()))
                .collect::<Result<Shape, ()>>()
                .map_err(|()| {
                    err(format!(
                        "weight input `{}` has a symbolic or unknown dimension",
                        v.name
                    ))
                })?;
            let n = checked_numel(&shape).ok_or_else(|| {
                err(format!(
                    "weight input `{}` of shape {shape:?} is too large",
                    v.name
                ))
            })?;
            let elem = v
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .map_or(1, |t| t.elem_type);
            let o = ctx.add_weight(&v.name, n);
            let c = Const::new(shape, is_float_type(i64::from(elem)), None).with_origins(vec![o]);
            ctx.define(&v.name, Value::Const(c));
        }
    }

    for &i in &order {
        let n = &graph.node[i];
        let node = Node {
            name: names[i].clone(),
            proto: n,
        };
        let res = match def_of(n) {
            Some(d) => (d.translate)(&mut ctx, &node),
            None => ops::placeholder(&mut ctx, &node),
        };
        res.map_err(|reason| node_err(i, reason))?;
    }

    let mut warnings = Vec::new();
    let mut by_type: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, op) in &unsupported {
        match by_type.iter_mut().find(|(o, _)| o == op) {
            Some((_, v)) => v.push(node),
            None => by_type.push((op, vec![node])),
        }
    }
    for (op, nodes) in by_type {
        warnings.push(format!(
            "unsupported op type `{op}`: {} node{} imported as zero-cost placeholders ({})",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" },
            nodes.join(", ")
        ));
    }
    let (mut workload, params) = ctx.finish();
    workload.batch = batch.or(opts.batch).unwrap_or(1);
    Ok(OnnxImport {
        workload,
        params,
        data_inputs,
        warnings,
    })
}

/// Declared dimensions of a tensor value (`None` for symbolic or unknown ones); `None` when
/// the value has no tensor type or shape.
fn declared_dims(v: &ValueInfoProto) -> Option<Vec<Option<u64>>> {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| d.dim_value.and_then(|x| u64::try_from(x).ok()))
            .collect(),
    )
}

/// Shape of a data input: the batch override or 1 for a symbolic first dimension.
fn data_shape(name: &str, dims: &[Option<u64>], batch: Option<u64>) -> Result<Shape, String> {
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        shape.push(match (i, d, batch) {
            (0, _, Some(b)) => b,
            (0, None, None) => 1,
            (_, Some(x), _) => *x,
            (_, None, _) => {
                return Err(format!(
                    "data input `{name}` has a symbolic or unknown dimension {i}; only the \
                     first (batch) dimension may be symbolic"
                ))
            }
        });
    }
    check_act_shape(&shape).map_err(|e| format!("data input `{name}`: {e}"))?;
    Ok(shape)
}

/// Kahn's algorithm, ready nodes taken in file order. `Err` lists the nodes left over
/// (those on a cycle or behind one).
fn topo_order(
    graph: &GraphProto,
    producer: &HashMap<&str, usize>,
) -> Result<Vec<usize>, Vec<usize>> {
    let n = graph.node.len();
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.node.iter().enumerate() {
        for v in node.input.iter().filter(|v| !v.is_empty()) {
            if let Some(&p) = producer.get(v.as_str()) {
                succ[p].push(i);
                indeg[i] += 1;
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &s in &succ[i] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.insert(s);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err((0..n).filter(|&i| indeg[i] > 0).collect())
    }
}

/// The non-initializer graph inputs that are data (see the module docs for the rule).
fn classify_inputs<'g>(
    graph: &'g GraphProto,
    inits: &HashMap<&str, &TensorProto>,
    uses: &HashMap<&str, Vec<(usize, usize)>>,
    reg: &Registry,
) -> HashSet<&'g str> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Evidence {
        Data,
        Weight,
        Ambiguous,
    }
    let evidence = |input: &'g str| {
        let (mut data, mut neutral) = (false, false);
        let mut stack = vec![input];
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            for &(i, slot) in uses.get(v).map_or(&[][..], Vec::as_slice) {
                let node = &graph.node[i];
                let role = if is_default_domain(&node.domain) {
                    reg.get(&node.op_type)
                        .map_or(Role::Neutral, |d| d.role(slot))
                } else {
                    Role::Neutral
                };
                match role {
                    Role::View => {
                        if let Some(o) = node.output.first().filter(|o| !o.is_empty()) {
                            stack.push(o);
                        }
                    }
                    Role::Data | Role::Shape => data = true,
                    Role::Neutral => neutral = true,
                    Role::Param => {}
                }
            }
        }
        if data {
            Evidence::Data
        } else if neutral {
            Evidence::Ambiguous
        } else {
            Evidence::Weight
        }
    };
    let candidates: Vec<(&'g str, Evidence)> = graph
        .input
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !inits.contains_key(n))
        .map(|n| (n, evidence(n)))
        .collect();
    let any_data = candidates.iter().any(|(_, e)| *e == Evidence::Data);
    let mut data: HashSet<&str> = candidates
        .iter()
        .filter(|(_, e)| *e == Evidence::Data || (*e == Evidence::Ambiguous && !any_data))
        .map(|(n, _)| *n)
        .collect();
    if data.is_empty() {
        if let Some((n, _)) = candidates.first() {
            data.insert(n);
        }
    }
    data
}

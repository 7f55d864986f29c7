//! The translation context: named values, the workload under construction, attribute access
//! with ONNX defaults, and the guards that keep hostile files from overflowing cost counters.

use std::collections::{HashMap, HashSet};

use super::proto::{AttributeProto, AttributeType, NodeProto, TensorProto};
use super::value::{checked_numel, Const, Value};
use super::OnnxOptions;
use crate::graph::{Tensor, WorkloadBuilder};
use crate::op::{Op, OpKind, Shape};
use crate::{Workload, WorkloadError};

/// Result of a translation step; the error is a reason in words (the caller names the node).
pub(super) type R<T> = Result<T, String>;

/// Largest MAC (or element-operation) count of one op.
const MAX_OP_WORK: u128 = 1 << 56;
/// Largest total over the workload.
pub(super) const MAX_TOTAL_WORK: u128 = 1 << 60;
/// Largest spatial attribute (kernel, stride, dilation, pad).
const MAX_ATTR: i64 = 1 << 32;

/// A node being translated, with its display name (the ONNX name, or `OpType#index` when the
/// node has none).
pub(super) struct Node<'p> {
    pub(super) name: String,
    pub(super) proto: &'p NodeProto,
}

impl Node<'_> {
    /// Name of input `i`, `None` when absent or omitted (empty name).
    pub(super) fn input_name(&self, i: usize) -> Option<&str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of input slots (omitted trailing ones included).
    pub(super) fn n_inputs(&self) -> usize {
        self.proto.input.len()
    }

    /// Name of output `i`, `None` when absent or omitted.
    pub(super) fn output_name(&self, i: usize) -> Option<&str> {
        self.proto
            .output
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of output slots.
    pub(super) fn n_outputs(&self) -> usize {
        self.proto.output.len()
    }

    fn attr(&self, name: &str, want: AttributeType) -> R<Option<&AttributeProto>> {
        match self.proto.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.r#type == want as i32 || a.r#type == AttributeType::Undefined as i32 => {
                Ok(Some(a))
            }
            Some(a) => Err(format!(
                "attribute `{name}` has type {} where {want:?} is expected",
                AttributeType::try_from(a.r#type)
                    .map_or_else(|_| a.r#type.to_string(), |t| format!("{t:?}"))
            )),
        }
    }

    /// True when the node carries attribute `name`.
    pub(super) fn has_attr(&self, name: &str) -> bool {
        self.proto.attribute.iter().any(|a| a.name == name)
    }

    /// An integer attribute, `default` when absent.
    pub(super) fn attr_i(&self, name: &str, default: i64) -> R<i64> {
        Ok(self
            .attr(name, AttributeType::Int)?
            .map_or(default, |a| a.i))
    }

    /// A float attribute, `default` when absent.
    pub(super) fn attr_f(&self, name: &str, default: f32) -> R<f32> {
        Ok(self
            .attr(name, AttributeType::Float)?
            .map_or(default, |a| a.f))
    }

    /// An integer-list attribute.
    pub(super) fn attr_ints(&self, name: &str) -> R<Option<Vec<i64>>> {
        Ok(self
            .attr(name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    /// A float-list attribute.
    pub(super) fn attr_floats(&self, name: &str) -> R<Option<Vec<f32>>> {
        Ok(self
            .attr(name, AttributeType::Floats)?
            .map(|a| a.floats.clone()))
    }

    /// A string attribute.
    pub(super) fn attr_s(&self, name: &str) -> R<Option<String>> {
        Ok(self
            .attr(name, AttributeType::String)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    /// A tensor attribute.
    pub(super) fn attr_t(&self, name: &str) -> R<Option<&TensorProto>> {
        match self.attr(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| format!("attribute `{name}` has no tensor"))
            }
        }
    }

    /// A per-spatial-axis attribute of `n` values in `[lo, 2³²]`, `default` for each when
    /// absent.
    pub(super) fn spatial(&self, name: &str, n: usize, default: u64, lo: i64) -> R<Vec<u64>> {
        match self.attr_ints(name)? {
            None => Ok(vec![default; n]),
            Some(v) if v.len() != n => Err(format!(
                "attribute `{name}` has {} values, expected {n}",
                v.len()
            )),
            Some(v) => v
                .iter()
                .map(|&x| {
                    if (lo..=MAX_ATTR).contains(&x) {
                        Ok(x as u64)
                    } else {
                        Err(format!("attribute `{name}` value {x} is out of range"))
                    }
                })
                .collect(),
        }
    }
}

/// State of one import.
pub(super) struct Ctx<'a> {
    b: WorkloadBuilder,
    pub(super) opts: &'a OnnxOptions,
    values: HashMap<String, Value>,
    /// Weights that may count as parameters: name and element count.
    weights: Vec<(String, u64)>,
    used: Vec<bool>,
    /// Readers of each value (node input slots plus graph outputs).
    consumers: HashMap<String, usize>,
    /// Shapes declared in `value_info` and the graph outputs (unknown dims as `None`).
    pub(super) declared: HashMap<String, Vec<Option<u64>>>,
    /// Values produced by a Conv with no other reader (candidates for BatchNorm folding).
    conv_out: HashSet<String>,
    names: HashSet<String>,
    total_work: u128,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        name: &str,
        opts: &'a OnnxOptions,
        consumers: HashMap<String, usize>,
        declared: HashMap<String, Vec<Option<u64>>>,
    ) -> Self {
        Ctx {
            b: WorkloadBuilder::new(name, opts.dtype),
            opts,
            values: HashMap::new(),
            weights: Vec::new(),
            used: Vec::new(),
            consumers,
            declared,
            conv_out: HashSet::new(),
            names: HashSet::new(),
            total_work: 0,
        }
    }

    /// Registers a weight for the parameter count; returns its origin index.
    pub(super) fn add_weight(&mut self, name: &str, elems: u64) -> usize {
        self.weights.push((name.to_string(), elems));
        self.used.push(false);
        self.weights.len() - 1
    }

    /// Defines a value (graph inputs and initializers).
    pub(super) fn define(&mut self, name: &str, v: Value) {
        self.values.insert(name.to_string(), v);
    }

    /// Input `i` of `node`, which must be present.
    pub(super) fn value(&self, node: &Node<'_>, i: usize) -> R<Value> {
        self.opt_value(node, i)?
            .ok_or_else(|| format!("input {i} is missing"))
    }

    /// Input `i` of `node`, `None` when omitted.
    pub(super) fn opt_value(&self, node: &Node<'_>, i: usize) -> R<Option<Value>> {
        match node.input_name(i) {
            None => Ok(None),
            Some(n) => self
                .values
                .get(n)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("input `{n}` is not defined")),
        }
    }

    /// Input `i` as an activation: run-time inputs of shape-changing ops must be activations.
    pub(super) fn act(&self, node: &Node<'_>, i: usize) -> R<Tensor> {
        match self.value(node, i)? {
            Value::Act(t) => Ok(t),
            Value::Const(_) => Err(format!(
                "input {i} is a constant; this op is only supported on activations"
            )),
        }
    }

    /// Input `i` as integers known at import time.
    pub(super) fn ints(&self, node: &Node<'_>, i: usize) -> R<Vec<i64>> {
        self.opt_ints(node, i)?
            .ok_or_else(|| format!("input {i} is missing"))
    }

    /// Input `i` as integers known at import time, `None` when omitted.
    pub(super) fn opt_ints(&self, node: &Node<'_>, i: usize) -> R<Option<Vec<i64>>> {
        match self.opt_value(node, i)? {
            None => Ok(None),
            Some(Value::Const(c)) => c.ints().map(Some).ok_or_else(|| {
                format!(
                    "input {i} (`{}`) has values unknown at import time",
                    node.input_name(i).unwrap_or_default()
                )
            }),
            Some(Value::Act(_)) => Err(format!(
                "input {i} (`{}`) is computed at run time; its values must be constants",
                node.input_name(i).unwrap_or_default()
            )),
        }
    }

    /// Input `i` as floats known at import time, `None` when omitted.
    pub(super) fn opt_floats(&self, node: &Node<'_>, i: usize) -> R<Option<Vec<f64>>> {
        match self.opt_value(node, i)? {
            None => Ok(None),
            Some(Value::Const(c)) => c.data.as_deref().map(|d| Some(d.to_f64())).ok_or_else(|| {
                format!(
                    "input {i} (`{}`) has values unknown at import time",
                    node.input_name(i).unwrap_or_default()
                )
            }),
            Some(Value::Act(_)) => Err(format!(
                "input {i} (`{}`) is computed at run time; its values must be constants",
                node.input_name(i).unwrap_or_default()
            )),
        }
    }

    /// Defines output `i` of `node` (ignored when the output is omitted).
    pub(super) fn set(&mut self, node: &Node<'_>, i: usize, v: Value) -> R<()> {
        match &v {
            Value::Act(t) => check_act_shape(&t.shape)?,
            Value::Const(c) => {
                checked_numel(&c.shape)
                    .ok_or_else(|| format!("constant shape {:?} is too large", c.shape))?;
            }
        }
        if let Some(n) = node.output_name(i) {
            self.values.insert(n.to_string(), v);
        }
        Ok(())
    }

    /// Marks the weights a constant is made of as parameters of the workload.
    pub(super) fn use_weights(&mut self, c: &Const) {
        for &o in &c.origins {
            if let Some(u) = self.used.get_mut(o) {
                *u = true;
            }
        }
    }

    /// Marks the weights of every constant among `vs`.
    pub(super) fn use_consts<'v>(&mut self, vs: impl IntoIterator<Item = &'v Value>) {
        for v in vs {
            if let Value::Const(c) = v {
                self.use_weights(c);
            }
        }
    }

    /// Number of readers of value `name`.
    pub(super) fn readers(&self, name: &str) -> usize {
        self.consumers.get(name).copied().unwrap_or(0)
    }

    /// Remembers that `name` is the sole-reader output of a Conv.
    pub(super) fn mark_conv_output(&mut self, name: &str) {
        if self.readers(name) == 1 {
            self.conv_out.insert(name.to_string());
        }
    }

    /// True when `name` is a Conv output read only by the current node.
    pub(super) fn is_foldable_conv_output(&self, name: &str) -> bool {
        self.conv_out.contains(name)
    }

    fn unique_name(&mut self, base: String) -> String {
        if self.names.insert(base.clone()) {
            return base;
        }
        let mut k = 2;
        loop {
            let n = format!("{base}#{k}");
            if self.names.insert(n.clone()) {
                return n;
            }
            k += 1;
        }
    }

    /// Adds an op of `kind` named after `node` (plus `suffix`), reading `inputs`.
    pub(super) fn emit(
        &mut self,
        node: &Node<'_>,
        suffix: &str,
        kind: OpKind,
        inputs: &[&Tensor],
        out: Shape,
    ) -> R<Tensor> {
        check_act_shape(&out)?;
        for t in inputs {
            check_act_shape(&t.shape)?;
        }
        let name = self.unique_name(format!("{}{suffix}", node.name));
        let t = self.b.add_op(name, kind, inputs, out);
        self.check_cost(&t)?;
        Ok(t)
    }

    /// Adds an op through one of the builder's shape-inferring methods.
    pub(super) fn build(
        &mut self,
        node: &Node<'_>,
        inputs: &[&Tensor],
        f: impl FnOnce(&mut WorkloadBuilder, &str) -> Result<Tensor, WorkloadError>,
    ) -> R<Tensor> {
        for t in inputs {
            check_act_shape(&t.shape)?;
        }
        let name = self.unique_name(node.name.clone());
        let t = f(&mut self.b, &name).map_err(|e| match e {
            WorkloadError::InvalidOp { reason, .. } => reason,
            other => other.to_string(),
        })?;
        check_act_shape(&t.shape)?;
        self.check_cost(&t)?;
        Ok(t)
    }

    /// Bounds the work of the op that produced `t` and of the workload so far, so that every
    /// derived cost (MACs, FLOPs, bytes) fits in `u64` without overflow.
    fn check_cost(&mut self, t: &Tensor) -> R<()> {
        let Some(op) = t.producer.and_then(|p| self.b_graph_op(p)) else {
            return Ok(());
        };
        let work = op_work(op)?;
        if work > MAX_OP_WORK {
            return Err(format!("op too large ({work} operations)"));
        }
        self.total_work += work;
        if self.total_work > MAX_TOTAL_WORK {
            return Err("workload too large (more than 2^60 operations)".into());
        }
        Ok(())
    }

    fn b_graph_op(&self, n: crate::NodeIndex) -> Option<&Op> {
        self.b.op(n)
    }

    /// The workload and its parameter count (each used weight counted once).
    pub(super) fn finish(self) -> (Workload, u64) {
        let params = self
            .weights
            .iter()
            .zip(&self.used)
            .filter(|(_, &u)| u)
            .map(|((_, n), _)| *n)
            .sum();
        (self.b.finish(), params)
    }
}

/// Activation shapes: every dimension at least 1, at most [`super::value::MAX_ELEMS`] elements.
pub(super) fn check_act_shape(shape: &[u64]) -> R<()> {
    if shape.contains(&0) {
        return Err(format!("activation shape {shape:?} has an empty dimension"));
    }
    checked_numel(shape)
        .map(|_| ())
        .ok_or_else(|| format!("shape {shape:?} is too large"))
}

/// [`op_work`] summed over a workload.
pub(super) fn workload_work(w: &Workload) -> u128 {
    w.graph
        .node_weights()
        .map(|op| op_work(op).unwrap_or(u128::MAX))
        .fold(0u128, u128::saturating_add)
}

/// An upper bound of an op's arithmetic, computed without overflow.
fn op_work(op: &Op) -> R<u128> {
    let numel = |s: &[u64]| -> R<u128> {
        checked_numel(s)
            .map(u128::from)
            .ok_or_else(|| format!("shape {s:?} is too large"))
    };
    let out = numel(&op.output)?;
    let mut io = out;
    for s in &op.inputs {
        io += numel(s)?;
    }
    let prod = |xs: &[u128]| xs.iter().fold(1u128, |a, &x| a.saturating_mul(x));
    let w = |x: u64| u128::from(x);
    let core = match &op.kind {
        OpKind::Conv2d(c) => prod(&[
            out,
            w(c.in_channels / c.groups.max(1)),
            w(c.kernel[0]),
            w(c.kernel[1]),
        ]),
        OpKind::ConvTranspose2d(c) => {
            let x = op
                .inputs
                .first()
                .map(|s| numel(s))
                .transpose()?
                .unwrap_or(0);
            prod(&[
                x,
                w(c.out_channels / c.groups.max(1)),
                w(c.kernel[0]),
                w(c.kernel[1]),
            ])
        }
        OpKind::Gemm(g) => prod(&[w(g.batch), w(g.m), w(g.n), w(g.k)]),
        OpKind::Pool(p) => prod(&[out, w(p.kernel[0]), w(p.kernel[1])]),
        OpKind::Embedding { vocab, dim } => prod(&[w(*vocab), w(*dim)]),
        _ => 0,
    };
    Ok(core.saturating_add(io))
}

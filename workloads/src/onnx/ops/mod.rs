//! The registry of op translators, in the manner of tract's ONNX crate: each family module
//! registers small functions `fn(&mut Ctx, &Node) -> Result<(), reason>` under ONNX op types,
//! together with the role each input slot plays (which the importer uses to tell weights from
//! data inputs).

mod math;
mod nn;
mod tensor;

use std::collections::HashMap;
use std::sync::OnceLock;

use super::ctx::{Ctx, Node, R};
use super::value::{fold_bin, fold_un, merge_origins, select, Bin, Const, Data, Un, Value};
use crate::graph::broadcast;
use crate::op::{EltFunc, OpKind, Shape};

/// What an op does with one of its input slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Activations: the input an op with parameters is applied to (Conv's X, Gemm's A,
    /// MatMul's A, a pooling input, Gather's indices, …).
    Data,
    /// Parameters: Conv/ConvTranspose W and B, Gemm B and C, MatMul B, BatchNormalization and
    /// LayerNormalization scale/bias/statistics, PRelu slope.
    Param,
    /// Values read at import time as shapes, axes or bounds (Reshape's shape, Slice's
    /// starts, …).
    Shape,
    /// A view or type change whose output plays the role of its input (Identity, Reshape's
    /// data, Transpose, Cast, …): the importer follows it.
    View,
    /// Anything else (element-wise ops, Concat, Expand, …): no evidence either way.
    Neutral,
}

/// Translates one node.
pub(super) type Translate = fn(&mut Ctx<'_>, &Node<'_>) -> R<()>;

/// A registered op type.
#[derive(Clone, Copy)]
pub(super) struct OpDef {
    pub(super) translate: Translate,
    roles: &'static [Role],
    rest: Role,
}

impl OpDef {
    /// Role of input slot `slot`.
    pub(super) fn role(&self, slot: usize) -> Role {
        self.roles.get(slot).copied().unwrap_or(self.rest)
    }
}

/// Op types of the default domain and their translators.
pub(super) struct Registry {
    ops: HashMap<&'static str, OpDef>,
}

impl Registry {
    fn reg(
        &mut self,
        names: &[&'static str],
        translate: Translate,
        roles: &'static [Role],
        rest: Role,
    ) {
        for n in names {
            self.ops.insert(
                n,
                OpDef {
                    translate,
                    roles,
                    rest,
                },
            );
        }
    }

    /// The translator of `op_type` in the default domain.
    pub(super) fn get(&self, op_type: &str) -> Option<&OpDef> {
        self.ops.get(op_type)
    }
}

/// The registry, built once.
pub(super) fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry {
            ops: HashMap::new(),
        };
        nn::register(&mut r);
        math::register(&mut r);
        tensor::register(&mut r);
        r
    })
}

/// The translator used for unsupported nodes under `allow_unsupported`: a zero-cost
/// placeholder (an `OpKind::Reshape`, which reads and writes nothing) whose output shape is
/// the one declared in the file's `value_info`, or else the first input's.
pub(super) fn placeholder(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let mut vals = Vec::new();
    for i in 0..node.n_inputs() {
        if let Some(v) = ctx.opt_value(node, i)? {
            vals.push(v);
        }
    }
    let acts: Vec<_> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Act(t) => Some(t.clone()),
            Value::Const(_) => None,
        })
        .collect();
    for o in 0..node.n_outputs() {
        let Some(name) = node.output_name(o) else {
            continue;
        };
        let declared: Option<Shape> = ctx
            .declared
            .get(name)
            .and_then(|d| d.iter().copied().collect::<Option<Shape>>());
        let shape = match declared {
            Some(mut s) => {
                if let (Some(b), Some(first)) = (ctx.opts.batch, s.first_mut()) {
                    // The declared shape is at the file's batch; an overridden batch replaces
                    // a leading dimension that equals the first input's.
                    if vals.first().and_then(|v| v.shape().first()) == Some(&b) {
                        *first = b;
                    }
                }
                s
            }
            None => vals
                .first()
                .map(|v| v.shape().to_vec())
                .ok_or("cannot infer the output shape of an unsupported op without inputs")?,
        };
        let refs: Vec<_> = acts.iter().collect();
        let suffix = if node.n_outputs() > 1 {
            format!(":{o}")
        } else {
            String::new()
        };
        let t = ctx.emit(node, &suffix, OpKind::Reshape, &refs, shape)?;
        ctx.set(node, o, Value::Act(t))?;
    }
    Ok(())
}

/// Normalizes a possibly negative axis against `rank`.
pub(super) fn norm_axis(axis: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// Normalizes a list of axes (sorted, without duplicates).
pub(super) fn norm_axes(axes: &[i64], rank: usize) -> R<Vec<usize>> {
    let mut v = axes
        .iter()
        .map(|&a| norm_axis(a, rank))
        .collect::<R<Vec<_>>>()?;
    v.sort_unstable();
    let n = v.len();
    v.dedup();
    if v.len() != n {
        return Err(format!("axes {axes:?} repeat an axis"));
    }
    Ok(v)
}

/// How constant inputs of an element-wise op are folded.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fold {
    /// A binary function applied left to right over all inputs.
    Bin(Bin),
    /// A unary function of the first input.
    Un(Un),
    /// `Where(cond, x, y)`.
    Where,
    /// Shape only (values unknown).
    None,
}

/// Broadcast shape of all values, numpy style.
pub(super) fn broadcast_all(vals: &[Value]) -> R<Shape> {
    let mut out: Shape = Vec::new();
    for v in vals {
        out = broadcast(&out, v.shape())
            .ok_or_else(|| format!("shapes {out:?} and {:?} do not broadcast", v.shape()))?;
    }
    Ok(out)
}

/// An element-wise op over all present inputs: folded to a constant when every input is one,
/// otherwise one `Elementwise` op that reads the activation inputs (constant operands such as
/// biases count as parameters).
pub(super) fn eltwise(ctx: &mut Ctx<'_>, node: &Node<'_>, func: EltFunc, fold: Fold) -> R<()> {
    let mut vals = Vec::new();
    for i in 0..node.n_inputs() {
        if let Some(v) = ctx.opt_value(node, i)? {
            vals.push(v);
        }
    }
    if vals.is_empty() {
        return Err("no inputs".into());
    }
    let out = broadcast_all(&vals)?;
    let consts: Vec<&Const> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Const(c) => Some(c),
            Value::Act(_) => None,
        })
        .collect();
    if consts.len() == vals.len() {
        let c = fold_consts(&consts, fold, &out);
        return ctx.set(node, 0, Value::Const(c));
    }
    ctx.use_consts(&vals);
    let acts: Vec<_> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Act(t) => Some(t),
            Value::Const(_) => None,
        })
        .collect();
    let t = ctx.emit(node, "", OpKind::Elementwise { func }, &acts, out)?;
    ctx.set(node, 0, Value::Act(t))
}

/// Folds constants; the values are kept when every input's are known.
pub(super) fn fold_consts(cs: &[&Const], fold: Fold, out: &[u64]) -> Const {
    let first_float = cs.first().is_some_and(|c| c.float);
    let (data, float): (Option<Data>, bool) = match fold {
        Fold::Bin(op) => {
            let float = !op.is_logical() && cs.iter().any(|c| c.float);
            let mut acc: Option<Const> = cs.first().map(|&c| c.clone());
            for c in cs.iter().skip(1) {
                acc = acc.and_then(|a| {
                    let shape = broadcast(&a.shape, &c.shape)?;
                    let d = fold_bin(op, &a, c, &shape);
                    Some(Const::new(shape, float, d))
                });
            }
            (acc.and_then(|a| a.data.map(|d| (*d).clone())), float)
        }
        Fold::Un(op) => (
            cs.first().and_then(|c| fold_un(op, c)),
            first_float || !matches!(op, Un::Neg | Un::Abs | Un::Relu | Un::Sign | Un::Not),
        ),
        Fold::Where => {
            let d = match cs {
                [c, x, y] => select(c, x, y, out),
                _ => None,
            };
            (d, cs.get(1).is_some_and(|c| c.float))
        }
        Fold::None => (None, first_float),
    };
    Const::new(out.to_vec(), float, data).with_origins(merge_origins(cs.iter().copied()))
}

/// Converts import-time integers to dimensions (each at least `min`).
pub(super) fn to_dims(v: &[i64], min: i64, what: &str) -> R<Shape> {
    v.iter()
        .map(|&x| {
            if x >= min {
                Ok(x as u64)
            } else {
                Err(format!("{what} {v:?} has an invalid value {x}"))
            }
        })
        .collect()
}

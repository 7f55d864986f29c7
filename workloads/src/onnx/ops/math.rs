//! Element-wise math, comparisons, casts and reductions.

use super::{eltwise, fold_consts, norm_axes, norm_axis, Fold, Registry, Role};
use crate::onnx::ctx::{Ctx, Node, R};
use crate::onnx::proto::data_type;
use crate::onnx::value::{self, is_float_type, Bin, Const, Data, Un, Value};
use crate::op::{EltFunc, OpKind, ReduceFunc};

use Role::*;

/// Defines a translator that maps an op type onto one element-wise function.
macro_rules! elt {
    ($name:ident, $func:ident, $fold:expr) => {
        fn $name(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
            eltwise(ctx, node, EltFunc::$func, $fold)
        }
    };
}

elt!(add, Add, Fold::Bin(Bin::Add));
elt!(sub, Sub, Fold::Bin(Bin::Sub));
elt!(mul, Mul, Fold::Bin(Bin::Mul));
elt!(div, Div, Fold::Bin(Bin::Div));
elt!(pow, Pow, Fold::Bin(Bin::Pow));
elt!(max, MaxMin, Fold::Bin(Bin::Max));
elt!(min, MaxMin, Fold::Bin(Bin::Min));
elt!(sum, Add, Fold::Bin(Bin::Add));
elt!(mean, Add, Fold::None);
elt!(equal, Sub, Fold::Bin(Bin::Eq));
elt!(less, Sub, Fold::Bin(Bin::Lt));
elt!(greater, Sub, Fold::Bin(Bin::Gt));
elt!(less_or_equal, Sub, Fold::Bin(Bin::Le));
elt!(greater_or_equal, Sub, Fold::Bin(Bin::Ge));
elt!(and, MaxMin, Fold::Bin(Bin::And));
elt!(or, MaxMin, Fold::Bin(Bin::Or));
elt!(xor, Sub, Fold::Bin(Bin::Xor));
elt!(not, Neg, Fold::Un(Un::Not));
elt!(relu, Relu, Fold::Un(Un::Relu));
elt!(leaky_relu, Relu, Fold::None);
elt!(elu, Exp, Fold::None);
elt!(prelu, Relu, Fold::None);
elt!(sigmoid, Sigmoid, Fold::Un(Un::Sigmoid));
elt!(hard_sigmoid, HardSigmoid, Fold::None);
elt!(hard_swish, HardSwish, Fold::None);
elt!(gelu, Gelu, Fold::None);
elt!(mish, Gelu, Fold::None);
elt!(erf, Erf, Fold::None);
elt!(tanh, Tanh, Fold::Un(Un::Tanh));
elt!(exp, Exp, Fold::Un(Un::Exp));
elt!(log, Exp, Fold::Un(Un::Log));
elt!(transcendental, Exp, Fold::None);
elt!(sqrt, Sqrt, Fold::Un(Un::Sqrt));
elt!(reciprocal, Reciprocal, Fold::Un(Un::Reciprocal));
elt!(softsign, Div, Fold::None);
elt!(neg, Neg, Fold::Un(Un::Neg));
elt!(abs, Neg, Fold::Un(Un::Abs));
elt!(sign, Neg, Fold::Un(Un::Sign));
elt!(floor, Neg, Fold::Un(Un::Floor));
elt!(ceil, Neg, Fold::Un(Un::Ceil));
elt!(round, Neg, Fold::Un(Un::Round));
elt!(is_special, Neg, Fold::None);
elt!(where_, Where, Fold::Where);

pub(super) fn register(r: &mut Registry) {
    let binary: &[(&'static str, super::Translate)] = &[
        ("Add", add),
        ("Sub", sub),
        ("Mul", mul),
        ("Div", div),
        ("Pow", pow),
        ("Mod", modulo),
        ("Max", max),
        ("Min", min),
        ("Sum", sum),
        ("Mean", mean),
        ("Equal", equal),
        ("Less", less),
        ("Greater", greater),
        ("LessOrEqual", less_or_equal),
        ("GreaterOrEqual", greater_or_equal),
        ("And", and),
        ("Or", or),
        ("Xor", xor),
        ("Not", not),
        ("Relu", relu),
        ("LeakyRelu", leaky_relu),
        ("Elu", elu),
        ("Selu", elu),
        ("Celu", elu),
        ("ThresholdedRelu", leaky_relu),
        ("Sigmoid", sigmoid),
        ("HardSigmoid", hard_sigmoid),
        ("HardSwish", hard_swish),
        ("Gelu", gelu),
        ("Mish", mish),
        ("Erf", erf),
        ("Tanh", tanh),
        ("Exp", exp),
        ("Log", log),
        ("Softplus", transcendental),
        ("Sin", transcendental),
        ("Cos", transcendental),
        ("Tan", transcendental),
        ("Atan", transcendental),
        ("Sinh", transcendental),
        ("Cosh", transcendental),
        ("Sqrt", sqrt),
        ("Reciprocal", reciprocal),
        ("Softsign", softsign),
        ("Neg", neg),
        ("Abs", abs),
        ("Sign", sign),
        ("Floor", floor),
        ("Ceil", ceil),
        ("Round", round),
        ("IsNaN", is_special),
        ("IsInf", is_special),
        ("Where", where_),
        ("Clip", clip),
    ];
    for &(name, f) in binary {
        r.reg(&[name], f, &[], Neutral);
    }
    r.reg(&["PRelu"], prelu, &[Neutral, Param], Neutral);
    r.reg(&["Cast"], cast, &[View], Neutral);
    r.reg(&["CastLike"], cast_like, &[View], Neutral);
    let reductions: &[(&'static str, super::Translate)] = &[
        ("ReduceMean", reduce_mean),
        ("ReduceSum", reduce_sum),
        ("ReduceMax", reduce_max),
        ("ReduceMin", reduce_min),
        ("ReduceProd", reduce_prod),
        ("ReduceL1", reduce_other),
        ("ReduceL2", reduce_other),
        ("ReduceSumSquare", reduce_other),
        ("ReduceLogSum", reduce_other),
        ("ReduceLogSumExp", reduce_other),
    ];
    for &(name, f) in reductions {
        r.reg(&[name], f, &[Neutral, Shape], Neutral);
    }
    r.reg(&["ArgMax", "ArgMin"], arg_max_min, &[Neutral], Neutral);
}

fn modulo(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let fmod = node.attr_i("fmod", 0)? != 0;
    eltwise(ctx, node, EltFunc::Div, Fold::Bin(Bin::Mod(fmod)))
}

/// The single value of a constant, when known.
fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Const(c) => match c.data.as_deref() {
            Some(Data::F(x)) if x.len() == 1 => Some(x[0]),
            Some(Data::I(x)) if x.len() == 1 => Some(x[0] as f64),
            _ => None,
        },
        Value::Act(_) => None,
    }
}

fn clip(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let (lo, hi) = if node.n_inputs() > 1 {
        (ctx.opt_value(node, 1)?, ctx.opt_value(node, 2)?)
    } else {
        // Opset < 11: bounds are attributes.
        let f = |name: &str| -> R<Option<Value>> {
            Ok(if node.has_attr(name) {
                let v = f64::from(node.attr_f(name, 0.0)?);
                Some(Value::Const(Const::new(
                    vec![],
                    true,
                    Some(Data::F(vec![v])),
                )))
            } else {
                None
            })
        };
        (f("min")?, f("max")?)
    };
    for b in lo.iter().chain(hi.iter()) {
        if let Value::Act(_) = b {
            return Err("run-time clip bounds are not supported".into());
        }
    }
    let (lv, hv) = (lo.as_ref().and_then(scalar), hi.as_ref().and_then(scalar));
    let func = match (lv, hv, hi.is_some()) {
        (Some(l), Some(h), _) if l == 0.0 && h == 6.0 => EltFunc::Relu6,
        (Some(0.0), _, false) => EltFunc::Relu,
        _ => EltFunc::Clip,
    };
    match x {
        Value::Const(c) => {
            let mut acc = c.clone();
            for (b, op) in [(&lo, Bin::Max), (&hi, Bin::Min)] {
                if let Some(Value::Const(bc)) = b {
                    acc = fold_consts(&[&acc, bc], Fold::Bin(op), &c.shape);
                }
            }
            let folded = Const {
                shape: c.shape.clone(),
                origins: c.origins.clone(),
                ..acc
            };
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(t) => {
            let y = ctx.emit(
                node,
                "",
                OpKind::Elementwise { func },
                &[&t],
                t.shape.clone(),
            )?;
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

fn cast_to(ctx: &mut Ctx<'_>, node: &Node<'_>, to_float: bool, to_bool: bool) -> R<()> {
    match ctx.value(node, 0)? {
        Value::Const(c) => {
            let data = value::cast(&c, to_float, to_bool);
            let folded = Const::new(c.shape.clone(), to_float, data).with_origins(c.origins);
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(t) => {
            let y = ctx.emit(
                node,
                "",
                OpKind::Elementwise {
                    func: EltFunc::Cast,
                },
                &[&t],
                t.shape.clone(),
            )?;
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

fn cast(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let to = node.attr_i("to", 0)?;
    if to == 0 {
        return Err("attribute `to` is missing".into());
    }
    cast_to(
        ctx,
        node,
        is_float_type(to),
        to == i64::from(data_type::BOOL),
    )
}

fn cast_like(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let float = match ctx.value(node, 1)? {
        Value::Const(c) => c.float,
        Value::Act(_) => true,
    };
    cast_to(ctx, node, float, false)
}

fn reduce(
    ctx: &mut Ctx<'_>,
    node: &Node<'_>,
    func: ReduceFunc,
    fold: Option<Bin>,
    mean: bool,
) -> R<()> {
    let x = ctx.value(node, 0)?;
    let rank = x.shape().len();
    let axes = match ctx.opt_ints(node, 1)? {
        Some(a) => Some(a),
        None => node.attr_ints("axes")?,
    };
    let keep = node.attr_i("keepdims", 1)? != 0;
    let axes = match axes {
        Some(a) if !a.is_empty() => norm_axes(&a, rank)?,
        _ if node.attr_i("noop_with_empty_axes", 0)? != 0 => {
            return ctx.set(node, 0, x);
        }
        _ => (0..rank).collect(),
    };
    let shape = x.shape();
    let keep_shape: Vec<u64> = shape
        .iter()
        .enumerate()
        .map(|(a, &d)| if axes.contains(&a) { 1 } else { d })
        .collect();
    let out: Vec<u64> = if keep {
        keep_shape.clone()
    } else {
        shape
            .iter()
            .enumerate()
            .filter(|(a, _)| !axes.contains(a))
            .map(|(_, &d)| d)
            .collect()
    };
    match x {
        Value::Const(c) => {
            let count: u64 = axes.iter().map(|&a| c.shape[a]).product();
            let mut data = fold.and_then(|op| value::reduce(&c, &axes, op, &keep_shape));
            if mean {
                data = data.map(|d| match d {
                    Data::F(v) => Data::F(v.iter().map(|x| x / count as f64).collect()),
                    Data::I(v) => Data::I(v.iter().map(|x| x / count.max(1) as i64).collect()),
                });
            }
            let folded = Const::new(out, c.float, data).with_origins(c.origins);
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(t) => {
            let y = ctx.emit(node, "", OpKind::Reduce { func }, &[&t], out)?;
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

fn reduce_mean(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::Mean, Some(Bin::Add), true)
}

fn reduce_sum(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::Sum, Some(Bin::Add), false)
}

fn reduce_max(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::MaxMin, Some(Bin::Max), false)
}

fn reduce_min(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::MaxMin, Some(Bin::Min), false)
}

fn reduce_prod(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::Sum, Some(Bin::Mul), false)
}

fn reduce_other(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    reduce(ctx, node, ReduceFunc::Sum, None, false)
}

fn arg_max_min(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let axis = norm_axis(node.attr_i("axis", 0)?, x.shape().len())?;
    let keep = node.attr_i("keepdims", 1)? != 0;
    let mut out = x.shape().to_vec();
    if keep {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    match x {
        Value::Const(c) => {
            let folded = Const::new(out, false, None).with_origins(c.origins);
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(t) => {
            let y = ctx.emit(
                node,
                "",
                OpKind::Reduce {
                    func: ReduceFunc::MaxMin,
                },
                &[&t],
                out,
            )?;
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

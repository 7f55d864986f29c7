//! Tensor manipulation and shape arithmetic: views (Reshape, Flatten, Squeeze, Unsqueeze,
//! Identity), data movement (Transpose, Concat, Split, Slice, Gather, Expand, Tile, Pad,
//! Resize) and
//! the constant sources (Constant, ConstantOfShape, Shape, Size, Range).
//!
//! On constants every op is evaluated at import time (values tracked for small tensors) and
//! costs nothing; on activations views are free and data movement becomes a `Copy` op.

use super::{norm_axes, norm_axis, to_dims, Registry, Role};
use crate::graph::{broadcast, Tensor};
use crate::onnx::ctx::{Ctx, Node, R};
use crate::onnx::value::{
    self, checked_numel, merge_origins, tensor_to_const, Const, Data, Value, DATA_LIMIT,
};
use crate::op::{OpKind, Shape};

use Role::*;

pub(super) fn register(r: &mut Registry) {
    r.reg(&["Identity"], identity, &[View], Neutral);
    r.reg(&["Dropout"], identity, &[View], Neutral);
    r.reg(&["Shape"], shape, &[Neutral], Neutral);
    r.reg(&["Size"], size, &[Neutral], Neutral);
    r.reg(&["Constant"], constant, &[], Neutral);
    r.reg(&["ConstantOfShape"], constant_of_shape, &[Shape], Neutral);
    r.reg(&["Range"], range, &[Shape, Shape, Shape], Neutral);
    r.reg(&["Reshape"], reshape, &[View, Shape], Neutral);
    r.reg(&["Flatten"], flatten, &[View], Neutral);
    r.reg(&["Squeeze"], squeeze, &[View, Shape], Neutral);
    r.reg(&["Unsqueeze"], unsqueeze, &[View, Shape], Neutral);
    r.reg(&["Transpose"], transpose, &[View], Neutral);
    r.reg(&["Concat"], concat, &[], Neutral);
    r.reg(&["Split"], split, &[Neutral, Shape], Neutral);
    r.reg(&["Slice"], slice, &[Neutral], Shape);
    r.reg(&["Gather"], gather, &[Neutral, Data], Neutral);
    r.reg(&["Expand"], expand, &[Neutral, Shape], Neutral);
    r.reg(&["Tile"], tile, &[Neutral, Shape], Neutral);
    r.reg(&["Pad"], pad, &[Neutral, Shape, Neutral, Shape], Neutral);
    r.reg(&["Resize"], resize, &[Data, Shape, Shape, Shape], Neutral);
    r.reg(&["Upsample"], resize, &[Data, Shape], Neutral);
}

/// The same data under another shape: free for activations and constants alike.
fn view(v: Value, shape: Shape) -> Value {
    match v {
        Value::Act(t) => Value::Act(Tensor {
            producer: t.producer,
            shape,
        }),
        Value::Const(c) => Value::Const(Const { shape, ..c }),
    }
}

/// Data movement of an activation into `out`, reading `read` (the elements it copies).
fn copy(
    ctx: &mut Ctx<'_>,
    node: &Node<'_>,
    suffix: &str,
    reads: &[&Tensor],
    out: Shape,
) -> R<Value> {
    Ok(Value::Act(ctx.emit(
        node,
        suffix,
        OpKind::Copy,
        reads,
        out,
    )?))
}

fn identity(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let v = ctx.value(node, 0)?;
    if node.output_name(1).is_some() {
        // Dropout's mask: a boolean tensor of the input's shape.
        let mask = Const::new(v.shape().to_vec(), false, None);
        ctx.set(node, 1, Value::Const(mask))?;
    }
    ctx.set(node, 0, v)
}

fn shape(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let v = ctx.value(node, 0)?;
    let s = v.shape();
    let r = s.len() as i64;
    let clamp = |x: i64| if x < 0 { (x + r).max(0) } else { x.min(r) } as usize;
    let start = clamp(node.attr_i("start", 0)?);
    let end = clamp(node.attr_i("end", r)?).max(start);
    let dims: Vec<i64> = s[start..end].iter().map(|&d| d as i64).collect();
    let c = Const::new(vec![dims.len() as u64], false, Some(Data::I(dims)));
    ctx.set(node, 0, Value::Const(c))
}

fn size(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let v = ctx.value(node, 0)?;
    let n = checked_numel(v.shape()).ok_or("input too large")? as i64;
    ctx.set(
        node,
        0,
        Value::Const(Const::new(vec![], false, Some(Data::I(vec![n])))),
    )
}

fn constant(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let c = if let Some(t) = node.attr_t("value")? {
        tensor_to_const(t)?
    } else if node.has_attr("value_float") {
        let v = f64::from(node.attr_f("value_float", 0.0)?);
        Const::new(vec![], true, Some(Data::F(vec![v])))
    } else if let Some(v) = node.attr_floats("value_floats")? {
        let d = v.iter().map(|&x| f64::from(x)).collect();
        Const::new(vec![v.len() as u64], true, Some(Data::F(d)))
    } else if node.has_attr("value_int") {
        let v = node.attr_i("value_int", 0)?;
        Const::new(vec![], false, Some(Data::I(vec![v])))
    } else if let Some(v) = node.attr_ints("value_ints")? {
        Const::new(vec![v.len() as u64], false, Some(Data::I(v)))
    } else if node.has_attr("value_string") {
        Const::new(vec![], false, None)
    } else if node.has_attr("sparse_value") {
        return Err("sparse constants are not supported".into());
    } else {
        return Err("no value attribute".into());
    };
    ctx.set(node, 0, Value::Const(c))
}

fn constant_of_shape(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let dims = ctx.ints(node, 0)?;
    let shape = to_dims(&dims, 0, "shape")?;
    let n = checked_numel(&shape).ok_or_else(|| format!("shape {shape:?} is too large"))?;
    let (float, fill) = match node.attr_t("value")? {
        Some(t) => {
            let c = tensor_to_const(t)?;
            let fill = c.data.as_deref().and_then(|d| match d {
                Data::I(v) => v.first().map(|&x| Data::I(vec![x])),
                Data::F(v) => v.first().map(|&x| Data::F(vec![x])),
            });
            (c.float, fill)
        }
        None => (true, Some(Data::F(vec![0.0]))),
    };
    let data = fill.filter(|_| n <= DATA_LIMIT).map(|f| match f {
        Data::I(v) => Data::I(vec![v[0]; n as usize]),
        Data::F(v) => Data::F(vec![v[0]; n as usize]),
    });
    ctx.set(node, 0, Value::Const(Const::new(shape, float, data)))
}

fn range(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let mut vals = Vec::new();
    for i in 0..3 {
        match ctx.value(node, i)? {
            Value::Const(c) => match c.data.as_deref() {
                Some(d) if d.len() == 1 => vals.push(d.clone()),
                _ => return Err(format!("input {i} must be a scalar known at import time")),
            },
            Value::Act(_) => return Err(format!("input {i} is computed at run time")),
        }
    }
    let c = match (&vals[0], &vals[1], &vals[2]) {
        (Data::I(s), Data::I(l), Data::I(d)) => {
            let (s, l, d) = (i128::from(s[0]), i128::from(l[0]), i128::from(d[0]));
            if d == 0 {
                return Err("delta is 0".into());
            }
            let n = ((l - s) + d - d.signum()) / d;
            let n = u64::try_from(n.max(0)).map_err(|_| "too many elements")?;
            let shape = vec![n];
            checked_numel(&shape).ok_or("too many elements")?;
            let data = (n <= DATA_LIMIT)
                .then(|| Data::I((0..n as i128).map(|k| (s + k * d) as i64).collect()));
            Const::new(shape, false, data)
        }
        (s, l, d) => {
            let (s, l, d) = (scalar_f64(s), scalar_f64(l), scalar_f64(d));
            let n = ((l - s) / d).ceil().max(0.0);
            if !n.is_finite() || n > value::MAX_ELEMS as f64 {
                return Err("too many elements".into());
            }
            let n = n as u64;
            let data =
                (n <= DATA_LIMIT).then(|| Data::F((0..n).map(|k| s + k as f64 * d).collect()));
            Const::new(vec![n], true, data)
        }
    };
    ctx.set(node, 0, Value::Const(c))
}

/// The first value of a scalar constant, as a float.
fn scalar_f64(d: &Data) -> f64 {
    match d {
        Data::I(v) => v.first().map_or(0.0, |&x| x as f64),
        Data::F(v) => v.first().copied().unwrap_or(0.0),
    }
}

fn reshape(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let target = if node.input_name(1).is_some() {
        ctx.ints(node, 1)?
    } else {
        node.attr_ints("shape")?
            .ok_or("the target shape is missing")?
    };
    let allowzero = node.attr_i("allowzero", 0)? != 0;
    let xs = x.shape().to_vec();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 if !allowzero => out.push(*xs.get(i).ok_or_else(|| {
                format!(
                    "target {target:?} copies dimension {i} of the rank-{} input",
                    xs.len()
                )
            })?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d >= 0 => out.push(d as u64),
            _ => return Err(format!("invalid target shape {target:?}")),
        }
    }
    let n_in = checked_numel(&xs).ok_or("input too large")?;
    let known = checked_numel(&out).ok_or_else(|| format!("target {target:?} is too large"))?;
    if let Some(i) = infer {
        if known == 0 || n_in % known != 0 {
            return Err(format!(
                "cannot reshape {xs:?} to {target:?}{}",
                batch_hint(ctx)
            ));
        }
        out[i] = n_in / known;
    }
    if checked_numel(&out) != Some(n_in) {
        return Err(format!(
            "cannot reshape {xs:?} ({n_in} elements) to {out:?}{}",
            batch_hint(ctx)
        ));
    }
    ctx.set(node, 0, view(x, out))
}

/// A hint for shape mismatches under a batch override: exporters often bake the batch size
/// into constant shapes.
fn batch_hint(ctx: &Ctx<'_>) -> &'static str {
    if ctx.opts.batch.is_some() {
        " (the file may hard-code its batch size in this shape; export it with a dynamic \
         batch axis to override the batch)"
    } else {
        ""
    }
}

fn flatten(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape();
    let r = xs.len() as i64;
    let axis = node.attr_i("axis", 1)?;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(format!("axis {axis} is out of range for rank {r}"));
    }
    let a = a as usize;
    let out = vec![xs[..a].iter().product(), xs[a..].iter().product()];
    ctx.set(node, 0, view(x, out))
}

/// Axes from input 1 (opset ≥ 13) or the `axes` attribute.
fn axes_arg(ctx: &Ctx<'_>, node: &Node<'_>) -> R<Option<Vec<i64>>> {
    match ctx.opt_ints(node, 1)? {
        Some(a) => Ok(Some(a)),
        None => node.attr_ints("axes"),
    }
}

fn squeeze(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let out: Shape = match axes_arg(ctx, node)? {
        Some(a) if !a.is_empty() => {
            let axes = norm_axes(&a, xs.len())?;
            if let Some(&bad) = axes.iter().find(|&&i| xs[i] != 1) {
                return Err(format!("axis {bad} of {xs:?} is not 1"));
            }
            xs.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        _ => xs.iter().copied().filter(|&d| d != 1).collect(),
    };
    ctx.set(node, 0, view(x, out))
}

fn unsqueeze(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let a = axes_arg(ctx, node)?.ok_or("axes are missing")?;
    let rank = xs.len() + a.len();
    let axes = norm_axes(&a, rank)?;
    let mut it = xs.iter();
    let out: Shape = (0..rank)
        .map(|j| {
            if axes.contains(&j) {
                1
            } else {
                it.next().copied().unwrap_or(1)
            }
        })
        .collect();
    ctx.set(node, 0, view(x, out))
}

fn transpose(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let r = xs.len();
    let perm: Vec<usize> = match node.attr_ints("perm")? {
        Some(p) => {
            let v = p
                .iter()
                .map(|&a| usize::try_from(a).ok().filter(|&a| a < r))
                .collect::<Option<Vec<_>>>();
            let mut sorted = v.clone().unwrap_or_default();
            sorted.sort_unstable();
            if v.is_none() || sorted != (0..r).collect::<Vec<_>>() {
                return Err(format!("perm {p:?} is not a permutation of {r} axes"));
            }
            v.unwrap_or_default()
        }
        None => (0..r).rev().collect(),
    };
    let out: Shape = perm.iter().map(|&p| xs[p]).collect();
    let v = match x {
        Value::Const(c) => {
            let data = value::transpose(&c, &perm, &out);
            Value::Const(Const::new(out, c.float, data).with_origins(c.origins))
        }
        Value::Act(t) => {
            // Moving only unit axes reorders no data: a view.
            let moved: Vec<usize> = perm.iter().copied().filter(|&p| xs[p] != 1).collect();
            if moved.windows(2).all(|w| w[0] < w[1]) {
                view(Value::Act(t), out)
            } else {
                copy(ctx, node, "", &[&t], out)?
            }
        }
    };
    ctx.set(node, 0, v)
}

fn concat(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let mut vals = Vec::new();
    for i in 0..node.n_inputs() {
        if let Some(v) = ctx.opt_value(node, i)? {
            vals.push(v);
        }
    }
    let first = vals.first().ok_or("no inputs")?.shape().to_vec();
    let r = first.len();
    let axis = norm_axis(
        node.attr_i("axis", i64::MIN).and_then(|a| {
            if a == i64::MIN {
                Err("attribute `axis` is missing".into())
            } else {
                Ok(a)
            }
        })?,
        r,
    )?;
    let mut out = first.clone();
    out[axis] = 0;
    for v in &vals {
        let s = v.shape();
        if s.len() != r || (0..r).any(|a| a != axis && s[a] != first[a]) {
            return Err(format!(
                "input shapes {first:?} and {s:?} differ outside axis {axis}"
            ));
        }
        out[axis] = out[axis].checked_add(s[axis]).ok_or("output too large")?;
    }
    let consts: Vec<&Const> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Const(c) => Some(c),
            Value::Act(_) => None,
        })
        .collect();
    if consts.len() == vals.len() {
        checked_numel(&out).ok_or("output too large")?;
        let data = value::concat(&consts, axis, &out);
        let float = consts.iter().any(|c| c.float);
        let c = Const::new(out, float, data).with_origins(merge_origins(consts));
        return ctx.set(node, 0, Value::Const(c));
    }
    let acts: Vec<&Tensor> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Act(t) => Some(t),
            Value::Const(_) => None,
        })
        .collect();
    // Empty constants add nothing: a lone activation passes through.
    let v = if acts.len() == 1 && acts[0].shape == out {
        Value::Act(acts[0].clone())
    } else {
        let acts: Vec<Tensor> = acts.into_iter().cloned().collect();
        ctx.use_consts(&vals);
        let refs: Vec<&Tensor> = acts.iter().collect();
        copy(ctx, node, "", &refs, out)?
    };
    ctx.set(node, 0, v)
}

fn split(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let axis = norm_axis(node.attr_i("axis", 0)?, xs.len())?;
    let d = xs[axis];
    let sizes: Vec<u64> = match ctx.opt_ints(node, 1)? {
        Some(s) => to_dims(&s, 0, "split")?,
        None => match node.attr_ints("split")? {
            Some(s) => to_dims(&s, 0, "split")?,
            None => {
                let k = node.n_outputs() as u64;
                let asked = node.attr_i("num_outputs", 0)?;
                if k == 0 || (asked != 0 && asked as u64 != k) {
                    return Err(format!("num_outputs {asked} for {k} outputs"));
                }
                let chunk = d.div_ceil(k);
                let mut v = vec![chunk; k as usize];
                let last = d
                    .checked_sub(chunk * (k - 1))
                    .ok_or_else(|| format!("cannot split {d} elements into {k} parts"))?;
                if let Some(l) = v.last_mut() {
                    *l = last;
                }
                v
            }
        },
    };
    if sizes.len() != node.n_outputs() {
        return Err(format!(
            "{} split sizes for {} outputs",
            sizes.len(),
            node.n_outputs()
        ));
    }
    if sizes.iter().try_fold(0u64, |a, &s| a.checked_add(s)) != Some(d) {
        return Err(format!("split sizes {sizes:?} do not add up to {d}"));
    }
    let mut offset = 0u64;
    for (i, &s) in sizes.iter().enumerate() {
        let mut out = xs.clone();
        out[axis] = s;
        let v = match &x {
            Value::Const(c) => {
                let mut start = vec![0i64; xs.len()];
                start[axis] = offset as i64;
                let data = value::slice(c, &start, &vec![1; xs.len()], &out);
                Value::Const(Const::new(out, c.float, data).with_origins(c.origins.clone()))
            }
            Value::Act(t) if sizes.len() == 1 => Value::Act(t.clone()),
            Value::Act(t) => {
                let part = Tensor {
                    producer: t.producer,
                    shape: out.clone(),
                };
                copy(ctx, node, &format!(":{i}"), &[&part], out)?
            }
        };
        ctx.set(node, i, v)?;
        offset += s;
    }
    Ok(())
}

fn slice(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let r = xs.len();
    let (starts, ends, axes, steps) = if node.n_inputs() > 1 {
        (
            ctx.ints(node, 1)?,
            ctx.ints(node, 2)?,
            ctx.opt_ints(node, 3)?,
            ctx.opt_ints(node, 4)?,
        )
    } else {
        (
            node.attr_ints("starts")?.ok_or("starts are missing")?,
            node.attr_ints("ends")?.ok_or("ends are missing")?,
            node.attr_ints("axes")?,
            None,
        )
    };
    let n = starts.len();
    let axes = axes.unwrap_or_else(|| (0..n as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut start = vec![0i64; r];
    let mut step = vec![1i64; r];
    let mut out = xs.clone();
    let mut seen = vec![false; r];
    for k in 0..n {
        let a = norm_axis(axes[k], r)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {a} is sliced twice"));
        }
        let d = xs[a] as i64;
        let st = steps[k];
        if st == 0 {
            return Err("step 0".into());
        }
        let mut s = starts[k];
        let mut e = ends[k];
        if s < 0 {
            s = s.saturating_add(d);
        }
        if e < 0 {
            e = e.saturating_add(d);
        }
        let len = if st > 0 {
            s = s.clamp(0, d);
            e = e.clamp(0, d);
            if e > s {
                ((e - s) as u64).div_ceil(st as u64)
            } else {
                0
            }
        } else {
            s = s.clamp(-1, d - 1);
            e = e.clamp(-1, d - 1);
            if s > e {
                ((s - e) as u64).div_ceil(st.unsigned_abs())
            } else {
                0
            }
        };
        start[a] = s;
        step[a] = st;
        out[a] = len;
    }
    let v = match x {
        Value::Const(c) => {
            let data = value::slice(&c, &start, &step, &out);
            Value::Const(Const::new(out, c.float, data).with_origins(c.origins))
        }
        Value::Act(t) if out == xs && step.iter().all(|&s| s == 1) => Value::Act(t),
        Value::Act(t) => {
            let part = Tensor {
                producer: t.producer,
                shape: out.clone(),
            };
            copy(ctx, node, "", &[&part], out)?
        }
    };
    ctx.set(node, 0, v)
}

fn gather(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let data = ctx.value(node, 0)?;
    let idx = ctx.value(node, 1)?;
    let ds = data.shape().to_vec();
    let axis = norm_axis(node.attr_i("axis", 0)?, ds.len())?;
    let is = idx.shape().to_vec();
    let mut out: Shape = ds[..axis].to_vec();
    out.extend_from_slice(&is);
    out.extend_from_slice(&ds[axis + 1..]);
    checked_numel(&out).ok_or("output too large")?;
    let v = match (data, idx) {
        (Value::Const(d), Value::Const(i)) => {
            let vals = match i.ints() {
                Some(v) => {
                    let n = ds[axis] as i64;
                    let v = v
                        .into_iter()
                        .map(|g| {
                            let g2 = if g < 0 { g + n } else { g };
                            if (0..n).contains(&g2) {
                                Ok(g2)
                            } else {
                                Err(format!("index {g} is out of range for {n} elements"))
                            }
                        })
                        .collect::<R<Vec<_>>>()?;
                    value::gather(&d, axis, &v, &is, &out)
                }
                None => None,
            };
            Value::Const(Const::new(out, d.float, vals).with_origins(d.origins))
        }
        (Value::Const(table), Value::Act(ids)) => {
            ctx.use_weights(&table);
            let kind = if axis == 0 {
                OpKind::Embedding {
                    vocab: ds[0],
                    dim: ds[1..].iter().product(),
                }
            } else {
                OpKind::Copy
            };
            Value::Act(ctx.emit(node, "", kind, &[&ids], out)?)
        }
        (Value::Act(t), Value::Const(_)) => {
            let part = Tensor {
                producer: t.producer,
                shape: out.clone(),
            };
            copy(ctx, node, "", &[&part], out)?
        }
        (Value::Act(t), Value::Act(ids)) => {
            let part = Tensor {
                producer: t.producer,
                shape: out.clone(),
            };
            copy(ctx, node, "", &[&part, &ids], out)?
        }
    };
    ctx.set(node, 0, v)
}

fn expand(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let target = to_dims(&ctx.ints(node, 1)?, 0, "shape")?;
    let xs = x.shape().to_vec();
    let out = broadcast(&xs, &target)
        .ok_or_else(|| format!("shape {xs:?} does not expand to {target:?}"))?;
    checked_numel(&out).ok_or("output too large")?;
    let v = match x {
        Value::Const(c) => {
            let data = value::expand(&c, &out);
            Value::Const(Const::new(out, c.float, data).with_origins(c.origins))
        }
        Value::Act(t) if out == xs => Value::Act(t),
        Value::Act(t) => copy(ctx, node, "", &[&t], out)?,
    };
    ctx.set(node, 0, v)
}

fn tile(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let reps = to_dims(&ctx.ints(node, 1)?, 0, "repeats")?;
    let xs = x.shape().to_vec();
    if reps.len() != xs.len() {
        return Err(format!("{} repeats for rank {}", reps.len(), xs.len()));
    }
    let out = xs
        .iter()
        .zip(&reps)
        .map(|(&d, &k)| d.checked_mul(k))
        .collect::<Option<Shape>>()
        .filter(|o| checked_numel(o).is_some())
        .ok_or("output too large")?;
    let v = match x {
        Value::Const(c) => {
            let data = value::tile(&c, &out);
            Value::Const(Const::new(out, c.float, data).with_origins(c.origins))
        }
        Value::Act(t) if out == xs => Value::Act(t),
        Value::Act(t) => copy(ctx, node, "", &[&t], out)?,
    };
    ctx.set(node, 0, v)
}

fn pad(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let xs = x.shape().to_vec();
    let pads = match ctx.opt_ints(node, 1)? {
        Some(p) => p,
        None => node.attr_ints("pads")?.ok_or("pads are missing")?,
    };
    let axes = match ctx.opt_ints(node, 3)? {
        Some(a) => norm_axes(&a, xs.len())?,
        None => (0..xs.len()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mut out = xs.clone();
    for (k, &a) in axes.iter().enumerate() {
        let o = i128::from(xs[a]) + i128::from(pads[k]) + i128::from(pads[k + axes.len()]);
        out[a] = u64::try_from(o).map_err(|_| format!("pads {pads:?} leave nothing of {xs:?}"))?;
    }
    checked_numel(&out).ok_or("output too large")?;
    let v = match x {
        Value::Const(c) => Value::Const(Const::new(out, c.float, None).with_origins(c.origins)),
        Value::Act(t) if out == xs => Value::Act(t),
        Value::Act(t) => copy(ctx, node, "", &[&t], out)?,
    };
    ctx.set(node, 0, v)
}

/// Resize (opset ≥ 10) and Upsample: output sizes from `sizes`, or from `scales` (rounded
/// down); counted as data movement (interpolation arithmetic is not modelled).
fn resize(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.act(node, 0)?;
    let xs = x.shape.clone();
    let axes = match node.attr_ints("axes")? {
        // In the order of `sizes`/`scales`, not sorted.
        Some(a) => a
            .iter()
            .map(|&v| norm_axis(v, xs.len()))
            .collect::<R<Vec<_>>>()?,
        None => (0..xs.len()).collect(),
    };
    let resize = node.proto.op_type == "Resize";
    let sizes = if resize {
        ctx.opt_ints(node, 3)?.filter(|s| !s.is_empty())
    } else {
        None
    };
    let mut out = xs.clone();
    if let Some(sizes) = sizes {
        if sizes.len() != axes.len() {
            return Err(format!("{} sizes for {} axes", sizes.len(), axes.len()));
        }
        for (&a, &s) in axes.iter().zip(&sizes) {
            out[a] = u64::try_from(s).map_err(|_| format!("invalid size {s}"))?;
        }
    } else {
        let scales = match ctx.opt_floats(node, if resize { 2 } else { 1 })? {
            Some(s) if !s.is_empty() => s,
            _ => node
                .attr_floats("scales")?
                .map(|v| v.into_iter().map(f64::from).collect())
                .ok_or("neither sizes nor scales are given")?,
        };
        if scales.len() != axes.len() {
            return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
        }
        for (&a, &s) in axes.iter().zip(&scales) {
            let o = (xs[a] as f64 * s).floor();
            if !(o.is_finite() && o >= 0.0 && o <= value::MAX_ELEMS as f64) {
                return Err(format!("invalid scale {s}"));
            }
            out[a] = o as u64;
        }
    }
    let v = if out == xs {
        Value::Act(x)
    } else {
        copy(ctx, node, "", &[&x], out)?
    };
    ctx.set(node, 0, v)
}

//! Values flowing through the importer: activations (tensors computed by ops of the workload)
//! and constants (weights, `Constant` nodes and the results of shape arithmetic), with the
//! element values of small constants tracked so that `Reshape` targets, `Slice` bounds and the
//! like can be resolved.

use std::rc::Rc;

use super::proto::TensorProto;
use crate::graph::Tensor;
use crate::op::Shape;

/// Largest number of elements of any tensor the importer accepts (a guard against hostile
/// dimensions; 2⁴⁰ elements is a terabyte of int8).
pub(super) const MAX_ELEMS: u64 = 1 << 40;

/// Constants with more elements than this have their shape tracked but not their values.
pub(super) const DATA_LIMIT: u64 = 1 << 16;

/// Number of elements of `shape`, or `None` when it exceeds [`MAX_ELEMS`]. Empty dimensions
/// count as 1 in the bound, so that the product of any subset of a checked shape's dimensions
/// fits too.
pub(super) fn checked_numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| {
        acc.checked_mul(d.max(1)).filter(|&n| n <= MAX_ELEMS)
    })?;
    Some(shape.iter().product())
}

/// Element values of a constant, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Data {
    /// Integers (and booleans as 0/1).
    I(Vec<i64>),
    /// Floats.
    F(Vec<f64>),
}

impl Data {
    pub(super) fn len(&self) -> usize {
        match self {
            Data::I(v) => v.len(),
            Data::F(v) => v.len(),
        }
    }

    /// The elements at the given flat indices (all in range by construction).
    fn pick(&self, idx: &[usize]) -> Data {
        match self {
            Data::I(v) => Data::I(idx.iter().map(|&i| v[i]).collect()),
            Data::F(v) => Data::F(idx.iter().map(|&i| v[i]).collect()),
        }
    }

    pub(super) fn to_i64(&self) -> Vec<i64> {
        match self {
            Data::I(v) => v.clone(),
            // `as` saturates and maps NaN to 0: no panic on hostile values.
            Data::F(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }

    pub(super) fn to_f64(&self) -> Vec<f64> {
        match self {
            Data::I(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F(v) => v.clone(),
        }
    }
}

/// A tensor known at import time.
#[derive(Debug, Clone)]
pub(super) struct Const {
    /// Shape (dimensions may be 0: empty constants are legal).
    pub(super) shape: Shape,
    /// True for floating-point element types.
    pub(super) float: bool,
    /// Element values, when known and at most [`DATA_LIMIT`] of them.
    pub(super) data: Option<Rc<Data>>,
    /// Indices of the weights (initializers or weight inputs) this constant is made of, for
    /// the parameter count.
    pub(super) origins: Vec<usize>,
}

impl Const {
    /// A constant without origin; `data` is kept only when it matches the shape.
    pub(super) fn new(shape: Shape, float: bool, data: Option<Data>) -> Const {
        let n = checked_numel(&shape);
        let data = data.filter(|d| n.is_some_and(|n| n <= DATA_LIMIT && d.len() as u64 == n));
        Const {
            shape,
            float,
            data: data.map(Rc::new),
            origins: Vec::new(),
        }
    }

    pub(super) fn with_origins(mut self, origins: Vec<usize>) -> Const {
        self.origins = origins;
        self
    }

    /// The values as integers, when known.
    pub(super) fn ints(&self) -> Option<Vec<i64>> {
        self.data.as_ref().map(|d| d.to_i64())
    }
}

/// What a named ONNX value is during import.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// Computed at run time, by an op of the workload or as a data input.
    Act(Tensor),
    /// Known at import time.
    Const(Const),
}

impl Value {
    pub(super) fn shape(&self) -> &[u64] {
        match self {
            Value::Act(t) => &t.shape,
            Value::Const(c) => &c.shape,
        }
    }
}

/// Union of the origins of several constants (sorted, without duplicates).
pub(super) fn merge_origins<'a>(cs: impl IntoIterator<Item = &'a Const>) -> Vec<usize> {
    let mut o: Vec<usize> = cs
        .into_iter()
        .flat_map(|c| c.origins.iter().copied())
        .collect();
    o.sort_unstable();
    o.dedup();
    o
}

fn strides(shape: &[u64]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as usize;
    }
    s
}

/// For every element of a tensor of shape `out` (row-major), the flat index computed by `f`
/// from its multi-index. `None` when `out` is too large to track values.
fn map_indices(out: &[u64], mut f: impl FnMut(&[u64]) -> Option<usize>) -> Option<Vec<usize>> {
    let n = checked_numel(out).filter(|&n| n <= DATA_LIMIT)? as usize;
    let mut res = Vec::with_capacity(n);
    let mut idx = vec![0u64; out.len()];
    for _ in 0..n {
        res.push(f(&idx)?);
        for a in (0..out.len()).rev() {
            idx[a] += 1;
            if idx[a] < out[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    Some(res)
}

/// Numpy broadcast of `inp` to `out`: flat index into `inp` for each element of `out`.
fn broadcast_map(inp: &[u64], out: &[u64]) -> Option<Vec<usize>> {
    if inp.len() > out.len() {
        return None;
    }
    let off = out.len() - inp.len();
    let st = strides(inp);
    map_indices(out, |idx| {
        let mut flat = 0;
        for (a, &d) in inp.iter().enumerate() {
            if d != 1 {
                flat += idx[off + a] as usize * st[a];
            }
        }
        Some(flat)
    })
}

fn data_of(c: &Const) -> Option<&Data> {
    c.data.as_deref()
}

/// Broadcasts a constant to shape `out` (Expand).
pub(super) fn expand(c: &Const, out: &[u64]) -> Option<Data> {
    let d = data_of(c)?;
    Some(d.pick(&broadcast_map(&c.shape, out)?))
}

/// Transposes a constant: output axis `i` is input axis `perm[i]`.
pub(super) fn transpose(c: &Const, perm: &[usize], out: &[u64]) -> Option<Data> {
    let d = data_of(c)?;
    let st = strides(&c.shape);
    let map = map_indices(out, |idx| {
        Some(
            perm.iter()
                .enumerate()
                .map(|(i, &p)| idx[i] as usize * st[p])
                .sum(),
        )
    })?;
    Some(d.pick(&map))
}

/// Slices a constant: along each axis, element `j` of the output is `start + j·step` of the
/// input (starts and steps already clamped to the input).
pub(super) fn slice(c: &Const, start: &[i64], step: &[i64], out: &[u64]) -> Option<Data> {
    let d = data_of(c)?;
    let st = strides(&c.shape);
    let map = map_indices(out, |idx| {
        let mut flat = 0usize;
        for a in 0..idx.len() {
            let i = start[a].checked_add((idx[a] as i64).checked_mul(step[a])?)?;
            if i < 0 || i as u64 >= c.shape[a] {
                return None;
            }
            flat += i as usize * st[a];
        }
        Some(flat)
    })?;
    Some(d.pick(&map))
}

/// Gathers along `axis` with (already normalized, in-range) `indices` of shape `ishape`.
pub(super) fn gather(
    c: &Const,
    axis: usize,
    indices: &[i64],
    ishape: &[u64],
    out: &[u64],
) -> Option<Data> {
    let d = data_of(c)?;
    let st = strides(&c.shape);
    let ist = strides(ishape);
    let map = map_indices(out, |idx| {
        let mut flat = 0usize;
        for a in 0..axis {
            flat += idx[a] as usize * st[a];
        }
        let mut iflat = 0usize;
        for (k, s) in ist.iter().enumerate() {
            iflat += idx[axis + k] as usize * s;
        }
        let g = *indices.get(iflat)?;
        if g < 0 || g as u64 >= c.shape[axis] {
            return None;
        }
        flat += g as usize * st[axis];
        for a in axis + 1..c.shape.len() {
            flat += idx[a + ishape.len() - 1] as usize * st[a];
        }
        Some(flat)
    })?;
    Some(d.pick(&map))
}

/// Tiles a constant to `out` (each output axis a multiple of the input's).
pub(super) fn tile(c: &Const, out: &[u64]) -> Option<Data> {
    let d = data_of(c)?;
    let st = strides(&c.shape);
    let map = map_indices(out, |idx| {
        Some(
            idx.iter()
                .zip(&c.shape)
                .zip(&st)
                .map(|((&i, &n), &s)| (i % n.max(1)) as usize * s)
                .sum(),
        )
    })?;
    Some(d.pick(&map))
}

/// Concatenates constants along `axis`.
pub(super) fn concat(cs: &[&Const], axis: usize, out: &[u64]) -> Option<Data> {
    let datas: Vec<&Data> = cs.iter().map(|c| data_of(c)).collect::<Option<_>>()?;
    let float = datas.iter().any(|d| matches!(d, Data::F(_)));
    let n = checked_numel(out).filter(|&n| n <= DATA_LIMIT)? as usize;
    let outer: u64 = out[..axis].iter().product();
    let mut fi = Vec::with_capacity(n);
    let mut ii = Vec::with_capacity(n);
    for o in 0..outer {
        for (c, d) in cs.iter().zip(&datas) {
            let chunk: u64 = c.shape[axis..].iter().product();
            let start = (o * chunk) as usize;
            for k in start..start + chunk as usize {
                match d {
                    Data::I(v) => {
                        ii.push(*v.get(k)?);
                        fi.push(*v.get(k)? as f64);
                    }
                    Data::F(v) => fi.push(*v.get(k)?),
                }
            }
        }
    }
    Some(if float { Data::F(fi) } else { Data::I(ii) })
}

/// Binary element-wise functions that constants are folded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    /// `fmod` = true: C's remainder; false: the remainder takes the divisor's sign.
    Mod(bool),
    Pow,
    Max,
    Min,
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
    Xor,
}

impl Bin {
    /// True when the result is boolean.
    pub(super) fn is_logical(self) -> bool {
        use Bin::*;
        matches!(self, Eq | Lt | Gt | Le | Ge | And | Or | Xor)
    }

    fn int(self, a: i64, b: i64) -> Option<i64> {
        use Bin::*;
        Some(match self {
            Add => a.wrapping_add(b),
            Sub => a.wrapping_sub(b),
            Mul => a.wrapping_mul(b),
            Div => a.checked_div(b)?,
            Mod(true) => a.checked_rem(b)?,
            Mod(false) => {
                let r = a.checked_rem(b)?;
                if r != 0 && ((r < 0) != (b < 0)) {
                    r + b
                } else {
                    r
                }
            }
            Pow => a.checked_pow(u32::try_from(b).ok()?)?,
            Max => a.max(b),
            Min => a.min(b),
            Eq => (a == b) as i64,
            Lt => (a < b) as i64,
            Gt => (a > b) as i64,
            Le => (a <= b) as i64,
            Ge => (a >= b) as i64,
            And => (a != 0 && b != 0) as i64,
            Or => (a != 0 || b != 0) as i64,
            Xor => ((a != 0) != (b != 0)) as i64,
        })
    }

    fn float(self, a: f64, b: f64) -> f64 {
        use Bin::*;
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            Mod(true) => a % b,
            Mod(false) => {
                let r = a % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                    r + b
                } else {
                    r
                }
            }
            Pow => a.powf(b),
            Max => a.max(b),
            Min => a.min(b),
            Eq => t(a == b),
            Lt => t(a < b),
            Gt => t(a > b),
            Le => t(a <= b),
            Ge => t(a >= b),
            And => t(a != 0.0 && b != 0.0),
            Or => t(a != 0.0 || b != 0.0),
            Xor => t((a != 0.0) != (b != 0.0)),
        }
    }
}

/// Folds a binary function over two constants broadcast to `out`.
pub(super) fn fold_bin(op: Bin, a: &Const, b: &Const, out: &[u64]) -> Option<Data> {
    let (da, db) = (data_of(a)?, data_of(b)?);
    let ma = broadcast_map(&a.shape, out)?;
    let mb = broadcast_map(&b.shape, out)?;
    match (da, db) {
        (Data::I(x), Data::I(y)) => {
            let v: Option<Vec<i64>> = ma
                .iter()
                .zip(&mb)
                .map(|(&i, &j)| op.int(x[i], y[j]))
                .collect();
            Some(Data::I(v?))
        }
        _ => {
            let (x, y) = (da.to_f64(), db.to_f64());
            let v: Vec<f64> = ma
                .iter()
                .zip(&mb)
                .map(|(&i, &j)| op.float(x[i], y[j]))
                .collect();
            if op.is_logical() {
                Some(Data::I(v.iter().map(|&r| r as i64).collect()))
            } else {
                Some(Data::F(v))
            }
        }
    }
}

/// Unary element-wise functions that constants are folded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Un {
    Neg,
    Abs,
    Sqrt,
    Reciprocal,
    Exp,
    Log,
    Relu,
    Sigmoid,
    Tanh,
    Floor,
    Ceil,
    Round,
    Sign,
    Not,
}

/// Folds a unary function over a constant.
pub(super) fn fold_un(op: Un, c: &Const) -> Option<Data> {
    use Un::*;
    let d = data_of(c)?;
    if let Data::I(v) = d {
        let int = match op {
            Neg => Some(v.iter().map(|x| x.wrapping_neg()).collect()),
            Abs => Some(v.iter().map(|x| x.wrapping_abs()).collect()),
            Relu => Some(v.iter().map(|&x| x.max(0)).collect()),
            Sign => Some(v.iter().map(|x| x.signum()).collect()),
            Not => Some(v.iter().map(|&x| (x == 0) as i64).collect()),
            Floor | Ceil | Round => Some(v.clone()),
            _ => None,
        };
        if let Some(int) = int {
            return Some(Data::I(int));
        }
    }
    let f: fn(f64) -> f64 = match op {
        Neg => |x| -x,
        Abs => f64::abs,
        Sqrt => f64::sqrt,
        Reciprocal => |x| 1.0 / x,
        Exp => f64::exp,
        Log => f64::ln,
        Relu => |x| x.max(0.0),
        Sigmoid => |x| 1.0 / (1.0 + (-x).exp()),
        Tanh => f64::tanh,
        Floor => f64::floor,
        Ceil => f64::ceil,
        Round => f64::round_ties_even,
        Sign => |x| if x == 0.0 { 0.0 } else { x.signum() },
        Not => |x| if x == 0.0 { 1.0 } else { 0.0 },
    };
    Some(Data::F(d.to_f64().into_iter().map(f).collect()))
}

/// Converts constant values to an integer or float element type.
pub(super) fn cast(c: &Const, to_float: bool, to_bool: bool) -> Option<Data> {
    let d = data_of(c)?;
    Some(if to_bool {
        Data::I(d.to_f64().iter().map(|&x| (x != 0.0) as i64).collect())
    } else if to_float {
        Data::F(d.to_f64())
    } else {
        Data::I(d.to_i64())
    })
}

/// `Where(cond, x, y)` over constants broadcast to `out`.
pub(super) fn select(cond: &Const, x: &Const, y: &Const, out: &[u64]) -> Option<Data> {
    let (dc, dx, dy) = (data_of(cond)?, data_of(x)?, data_of(y)?);
    let (mc, mx, my) = (
        broadcast_map(&cond.shape, out)?,
        broadcast_map(&x.shape, out)?,
        broadcast_map(&y.shape, out)?,
    );
    let c = dc.to_f64();
    let pick = |k: usize| c[mc[k]] != 0.0;
    Some(match (dx, dy) {
        (Data::I(a), Data::I(b)) => Data::I(
            (0..mc.len())
                .map(|k| if pick(k) { a[mx[k]] } else { b[my[k]] })
                .collect(),
        ),
        _ => {
            let (a, b) = (dx.to_f64(), dy.to_f64());
            Data::F(
                (0..mc.len())
                    .map(|k| if pick(k) { a[mx[k]] } else { b[my[k]] })
                    .collect(),
            )
        }
    })
}

/// A reduction of constant values over `axes` (sorted, in range) with `keep` dims.
pub(super) fn reduce(c: &Const, axes: &[usize], op: Bin, out_keep: &[u64]) -> Option<Data> {
    let d = data_of(c)?;
    let n_out = checked_numel(out_keep).filter(|&n| n <= DATA_LIMIT)? as usize;
    let vals = d.to_f64();
    let mut acc: Vec<Option<f64>> = vec![None; n_out];
    let ost = strides(out_keep);
    let all = map_indices(&c.shape, |idx| {
        Some(
            idx.iter()
                .enumerate()
                .map(|(a, &i)| {
                    if axes.contains(&a) {
                        0
                    } else {
                        i as usize * ost[a]
                    }
                })
                .sum(),
        )
    })?;
    for (k, &o) in all.iter().enumerate() {
        let v = vals[k];
        acc[o] = Some(match acc[o] {
            None => v,
            Some(a) => op.float(a, v),
        });
    }
    let v: Vec<f64> = acc.into_iter().map(|a| a.unwrap_or(0.0)).collect();
    Some(if matches!(d, Data::I(_)) {
        Data::I(v.iter().map(|&x| x as i64).collect())
    } else {
        Data::F(v)
    })
}

/// True for the floating-point element types of `TensorProto.DataType`.
pub(super) fn is_float_type(t: i64) -> bool {
    use super::proto::data_type::*;
    let Ok(t) = i32::try_from(t) else {
        return false;
    };
    matches!(t, FLOAT | DOUBLE | FLOAT16 | BFLOAT16)
        || (17..=20).contains(&t)
        || (23..=24).contains(&t)
        || (27..=28).contains(&t)
}

/// A constant from a `TensorProto` (an initializer or a `Constant`'s value); the values are
/// decoded when there are at most [`DATA_LIMIT`] of them.
pub(super) fn tensor_to_const(t: &TensorProto) -> Result<Const, String> {
    let shape = t
        .dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| format!("tensor `{}` has dimension {d}", t.name)))
        .collect::<Result<Shape, String>>()?;
    let n = checked_numel(&shape)
        .ok_or_else(|| format!("tensor `{}` of shape {shape:?} is too large", t.name))?;
    let data = if n <= DATA_LIMIT && t.data_location != 1 {
        decode(t, n as usize)?
    } else {
        None
    };
    Ok(Const::new(
        shape,
        is_float_type(i64::from(t.data_type)),
        data,
    ))
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Decodes the values of a tensor of `n` elements; `None` for types whose values the importer
/// does not track, or when the tensor carries no values.
fn decode(t: &TensorProto, n: usize) -> Result<Option<Data>, String> {
    use super::proto::data_type::*;
    if n == 0 {
        return Ok(Some(if is_float_type(i64::from(t.data_type)) {
            Data::F(Vec::new())
        } else {
            Data::I(Vec::new())
        }));
    }
    let raw = &t.raw_data;
    let bad = |found: usize| {
        format!(
            "tensor `{}` holds {found} values for its {n} elements",
            t.name
        )
    };
    // Raw little-endian values of `width` bytes each.
    let chunks = |width: usize| -> Result<Option<std::slice::ChunksExact<'_, u8>>, String> {
        if raw.is_empty() {
            Ok(None)
        } else if raw.len() != n.saturating_mul(width) {
            Err(bad(raw.len() / width))
        } else {
            Ok(Some(raw.chunks_exact(width)))
        }
    };
    let typed = |len: usize| -> Result<bool, String> {
        match len {
            0 => Ok(false),
            l if l == n => Ok(true),
            l => Err(bad(l)),
        }
    };
    let arr = |c: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[..c.len()].copy_from_slice(c);
        a
    };
    Ok(match t.data_type {
        FLOAT => {
            if typed(t.float_data.len())? {
                Some(Data::F(
                    t.float_data.iter().map(|&x| f64::from(x)).collect(),
                ))
            } else {
                chunks(4)?.map(|c| {
                    Data::F(
                        c.map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                            .collect(),
                    )
                })
            }
        }
        DOUBLE => {
            if typed(t.double_data.len())? {
                Some(Data::F(t.double_data.clone()))
            } else {
                chunks(8)?.map(|c| Data::F(c.map(|b| f64::from_le_bytes(arr(b))).collect()))
            }
        }
        FLOAT16 | BFLOAT16 => {
            let conv = |bits: u16| {
                if t.data_type == FLOAT16 {
                    f16_to_f64(bits)
                } else {
                    f64::from(f32::from_bits(u32::from(bits) << 16))
                }
            };
            if typed(t.int32_data.len())? {
                Some(Data::F(
                    t.int32_data.iter().map(|&x| conv(x as u16)).collect(),
                ))
            } else {
                chunks(2)?
                    .map(|c| Data::F(c.map(|b| conv(u16::from_le_bytes([b[0], b[1]]))).collect()))
            }
        }
        INT64 => {
            if typed(t.int64_data.len())? {
                Some(Data::I(t.int64_data.clone()))
            } else {
                chunks(8)?.map(|c| Data::I(c.map(|b| i64::from_le_bytes(arr(b))).collect()))
            }
        }
        INT32 | INT16 | INT8 | UINT8 | UINT16 | BOOL => {
            if typed(t.int32_data.len())? {
                Some(Data::I(
                    t.int32_data.iter().map(|&x| i64::from(x)).collect(),
                ))
            } else {
                let (width, signed) = match t.data_type {
                    INT32 => (4, true),
                    INT16 => (2, true),
                    INT8 => (1, true),
                    UINT16 => (2, false),
                    _ => (1, false),
                };
                chunks(width)?.map(|c| {
                    Data::I(
                        c.map(|b| {
                            let u = u64::from_le_bytes(arr(b));
                            if signed {
                                // Sign-extend from `width` bytes.
                                let shift = 64 - 8 * width as u32;
                                ((u << shift) as i64) >> shift
                            } else {
                                u as i64
                            }
                        })
                        .collect(),
                    )
                })
            }
        }
        UINT32 | UINT64 => {
            if typed(t.uint64_data.len())? {
                Some(Data::I(
                    t.uint64_data
                        .iter()
                        .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
                        .collect(),
                ))
            } else {
                let width = if t.data_type == UINT32 { 4 } else { 8 };
                chunks(width)?.map(|c| {
                    Data::I(
                        c.map(|b| i64::try_from(u64::from_le_bytes(arr(b))).unwrap_or(i64::MAX))
                            .collect(),
                    )
                })
            }
        }
        _ => None,
    })
}

//! Neural-network ops: convolutions, GEMMs, matrix products, normalizations, pooling,
//! softmax.

use super::{norm_axis, Registry, Role};
use crate::graph::Tensor;
use crate::onnx::ctx::{Ctx, Node, R};
use crate::onnx::value::{merge_origins, Const, Value};
use crate::op::{Conv2d, EltFunc, Gemm, NormFunc, OpKind, Pool, PoolFunc, ReduceFunc, Shape};

use Role::*;

pub(super) fn register(r: &mut Registry) {
    r.reg(&["Conv"], conv, &[Data, Param, Param], Neutral);
    r.reg(
        &["ConvTranspose"],
        conv_transpose,
        &[Data, Param, Param],
        Neutral,
    );
    r.reg(&["Gemm"], gemm, &[Data, Param, Param], Neutral);
    r.reg(&["MatMul"], matmul, &[Data, Param], Neutral);
    r.reg(
        &["BatchNormalization"],
        batch_norm,
        &[Data, Param, Param, Param, Param],
        Neutral,
    );
    r.reg(
        &["LayerNormalization"],
        layer_norm,
        &[Data, Param, Param],
        Neutral,
    );
    r.reg(&["RMSNormalization"], rms_norm, &[Data, Param], Neutral);
    r.reg(&["MaxPool"], max_pool, &[Data], Neutral);
    r.reg(&["AveragePool"], avg_pool, &[Data], Neutral);
    r.reg(&["GlobalAveragePool"], global_avg_pool, &[Data], Neutral);
    r.reg(&["GlobalMaxPool"], global_max_pool, &[Data], Neutral);
    r.reg(&["Softmax", "LogSoftmax"], softmax, &[Data], Neutral);
}

/// Spatial geometry of a conv or pool, reduced to two axes (1-D ops get a height of 1).
struct Window {
    kernel: [u64; 2],
    stride: [u64; 2],
    dilation: [u64; 2],
    pads: [u64; 4],
}

/// The input as NCHW: a 1-D `[n, c, l]` tensor becomes the view `[n, c, 1, l]`.
fn as_nchw(x: &Tensor) -> R<Tensor> {
    match x.shape.len() {
        4 => Ok(x.clone()),
        3 => Ok(Tensor {
            producer: x.producer,
            shape: vec![x.shape[0], x.shape[1], 1, x.shape[2]],
        }),
        r => Err(format!(
            "expects a 1-D or 2-D (rank 3 or 4) input, got shape {:?} (rank {r})",
            x.shape
        )),
    }
}

/// Back from NCHW to the input's rank (1-D ops drop the unit height).
fn from_nchw(t: Tensor, rank: usize) -> Tensor {
    if rank == 3 && t.shape.len() == 4 {
        Tensor {
            producer: t.producer,
            shape: vec![t.shape[0], t.shape[1], t.shape[3]],
        }
    } else {
        t
    }
}

/// Reads kernel/stride/dilation/pads/auto_pad of a conv or pool whose input has spatial
/// sizes `spatial` and whose kernel is `kernel` (from the weights or `kernel_shape`).
fn window(node: &Node<'_>, spatial: &[u64], kernel: &[u64], dilations: bool) -> R<Window> {
    let n = spatial.len();
    let stride = node.spatial("strides", n, 1, 1)?;
    let dilation = if dilations {
        node.spatial("dilations", n, 1, 1)?
    } else {
        vec![1; n]
    };
    let mut pads = node.spatial("pads", 2 * n, 0, 0)?;
    let auto = node.attr_s("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    match auto.as_str() {
        "NOTSET" => {}
        "VALID" => pads = vec![0; 2 * n],
        "SAME_UPPER" | "SAME_LOWER" => {
            for i in 0..n {
                let out = spatial[i].div_ceil(stride[i]);
                let span = dilation[i]
                    .checked_mul(kernel[i].saturating_sub(1))
                    .and_then(|s| s.checked_add(1))
                    .ok_or("kernel span overflows")?;
                let need = (out - 1)
                    .checked_mul(stride[i])
                    .and_then(|s| s.checked_add(span))
                    .ok_or("padding overflows")?;
                let total = need.saturating_sub(spatial[i]);
                let (small, big) = (total / 2, total - total / 2);
                if auto == "SAME_UPPER" {
                    pads[i] = small;
                    pads[i + n] = big;
                } else {
                    pads[i] = big;
                    pads[i + n] = small;
                }
            }
        }
        other => return Err(format!("unknown auto_pad `{other}`")),
    }
    Ok(if n == 1 {
        Window {
            kernel: [1, kernel[0]],
            stride: [1, stride[0]],
            dilation: [1, dilation[0]],
            pads: [0, pads[0], 0, pads[1]],
        }
    } else {
        Window {
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
            dilation: [dilation[0], dilation[1]],
            pads: [pads[0], pads[1], pads[2], pads[3]],
        }
    })
}

/// Kernel size from the weight shape, checked against `kernel_shape` when given.
fn kernel_of(node: &Node<'_>, w: &[u64], spatial: usize) -> R<Vec<u64>> {
    if w.len() != spatial + 2 {
        return Err(format!(
            "weight shape {w:?} does not match a {spatial}-D convolution"
        ));
    }
    let k = w[2..].to_vec();
    if k.contains(&0) {
        return Err(format!("weight shape {w:?} has an empty kernel"));
    }
    if let Some(ks) = node.attr_ints("kernel_shape")? {
        if ks.len() != k.len() || ks.iter().zip(&k).any(|(&a, &b)| a < 0 || a as u64 != b) {
            return Err(format!(
                "kernel_shape {ks:?} differs from the weight shape {w:?}"
            ));
        }
    }
    Ok(k)
}

fn conv(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.act(node, 0)?;
    let w = ctx.value(node, 1)?;
    let bias = ctx.opt_value(node, 2)?;
    let rank = x.shape.len();
    let x4 = as_nchw(&x)?;
    let spatial = &x.shape[2..];
    let kernel = kernel_of(node, w.shape(), spatial.len())?;
    let win = window(node, spatial, &kernel, true)?;
    let groups = node.attr_i("group", 1)?;
    let groups = u64::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group {groups} must be positive"))?;
    let ws = w.shape();
    if ws[1].checked_mul(groups) != Some(x.shape[1]) {
        return Err(format!(
            "weight shape {ws:?} with {groups} groups does not fit {} input channels",
            x.shape[1]
        ));
    }
    if let Some(b) = &bias {
        if b.shape() != [ws[0]] {
            return Err(format!(
                "bias shape {:?} does not match {} filters",
                b.shape(),
                ws[0]
            ));
        }
    }
    let c = Conv2d {
        in_channels: x.shape[1],
        out_channels: ws[0],
        kernel: win.kernel,
        stride: win.stride,
        pads: win.pads,
        dilation: win.dilation,
        groups,
        folded_bn: false,
    };
    let y = ctx.build(node, &[&x4], |b, name| b.conv2d(name, &x4, c))?;
    ctx.use_consts([&w]);
    ctx.use_consts(bias.iter());
    ctx.set(node, 0, Value::Act(from_nchw(y, rank)))?;
    if let Some(out) = node.output_name(0) {
        ctx.mark_conv_output(out);
    }
    Ok(())
}

fn conv_transpose(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.act(node, 0)?;
    let w = ctx.value(node, 1)?;
    let bias = ctx.opt_value(node, 2)?;
    let rank = x.shape.len();
    let x4 = as_nchw(&x)?;
    let n_sp = rank.saturating_sub(2);
    let spatial = x.shape[2..].to_vec();
    let kernel = kernel_of(node, w.shape(), n_sp)?;
    let groups = node.attr_i("group", 1)?;
    let groups = u64::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group {groups} must be positive"))?;
    let ws = w.shape().to_vec();
    if ws[0] != x.shape[1] || x.shape[1] % groups != 0 {
        return Err(format!(
            "weight shape {ws:?} with {groups} groups does not fit {} input channels",
            x.shape[1]
        ));
    }
    let out_channels = ws[1]
        .checked_mul(groups)
        .ok_or("output channels overflow")?;
    let stride = node.spatial("strides", n_sp, 1, 1)?;
    let dilation = node.spatial("dilations", n_sp, 1, 1)?;
    let out_pad = node.spatial("output_padding", n_sp, 0, 0)?;
    let mut pads = node.spatial("pads", 2 * n_sp, 0, 0)?;
    let auto = node.attr_s("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let output_shape = node.attr_ints("output_shape")?;
    // Full (unpadded) output length along each axis.
    let mut full = Vec::with_capacity(n_sp);
    for i in 0..n_sp {
        let f = (spatial[i] - 1)
            .checked_mul(stride[i])
            .and_then(|a| a.checked_add(dilation[i].checked_mul(kernel[i] - 1)?))
            .and_then(|a| a.checked_add(out_pad[i] + 1))
            .ok_or("output size overflows")?;
        full.push(f);
    }
    let target: Option<Vec<u64>> = match (&output_shape, auto.as_str()) {
        (Some(os), _) => {
            let os = &os[os.len().saturating_sub(n_sp)..];
            Some(super::to_dims(os, 1, "output_shape")?)
        }
        (None, "SAME_UPPER" | "SAME_LOWER") => Some(
            spatial
                .iter()
                .zip(&stride)
                .map(|(&l, &s)| l.saturating_mul(s))
                .collect(),
        ),
        (None, "NOTSET" | "VALID") => None,
        (None, other) => return Err(format!("unknown auto_pad `{other}`")),
    };
    if let Some(t) = target {
        if t.len() != n_sp {
            return Err("output_shape has the wrong rank".into());
        }
        for i in 0..n_sp {
            let total = full[i].checked_sub(t[i]).ok_or_else(|| {
                format!("output_shape {t:?} is larger than the full output {full:?}")
            })?;
            let (small, big) = (total / 2, total - total / 2);
            if auto == "SAME_UPPER" {
                pads[i] = small;
                pads[i + n_sp] = big;
            } else {
                pads[i] = big;
                pads[i + n_sp] = small;
            }
        }
    }
    let mut out = vec![x.shape[0], out_channels];
    for i in 0..n_sp {
        let o = full[i]
            .checked_sub(pads[i] + pads[i + n_sp])
            .filter(|&o| o > 0)
            .ok_or("padding removes the whole output")?;
        out.push(o);
    }
    let (kernel2, stride2, dil2, pads4, out4) = if n_sp == 1 {
        (
            [1, kernel[0]],
            [1, stride[0]],
            [1, dilation[0]],
            [0, pads[0], 0, pads[1]],
            vec![out[0], out[1], 1, out[2]],
        )
    } else {
        (
            [kernel[0], kernel[1]],
            [stride[0], stride[1]],
            [dilation[0], dilation[1]],
            [pads[0], pads[1], pads[2], pads[3]],
            out.clone(),
        )
    };
    let c = Conv2d {
        in_channels: x.shape[1],
        out_channels,
        kernel: kernel2,
        stride: stride2,
        pads: pads4,
        dilation: dil2,
        groups,
        folded_bn: false,
    };
    let y = ctx.emit(node, "", OpKind::ConvTranspose2d(c), &[&x4], out4)?;
    ctx.use_consts([&w]);
    ctx.use_consts(bias.iter());
    ctx.set(node, 0, Value::Act(from_nchw(y, rank)))
}

fn gemm(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let a = ctx.value(node, 0)?;
    let b = ctx.value(node, 1)?;
    let c = ctx.opt_value(node, 2)?;
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 {
        return Err(format!("A {sa:?} and B {sb:?} must be matrices"));
    }
    let (m, k) = if node.attr_i("transA", 0)? != 0 {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    let (kb, n) = if node.attr_i("transB", 0)? != 0 {
        (sb[1], sb[0])
    } else {
        (sb[0], sb[1])
    };
    if k != kb {
        return Err(format!(
            "inner dimensions differ: A {sa:?}, B {sb:?} (after transposition)"
        ));
    }
    let out = vec![m, n];
    if let Some(c) = &c {
        if crate::graph::broadcast(c.shape(), &out).as_deref() != Some(&out[..]) {
            return Err(format!(
                "C {:?} does not broadcast to the output {out:?}",
                c.shape()
            ));
        }
    }
    if let (Value::Const(ca), Value::Const(cb)) = (&a, &b) {
        let mut cs = vec![ca, cb];
        if let Some(Value::Const(cc)) = &c {
            cs.push(cc);
        }
        let folded = Const::new(out, true, None).with_origins(merge_origins(cs));
        return ctx.set(node, 0, Value::Const(folded));
    }
    let weight_operand = matches!(b, Value::Const(_));
    let acts: Vec<&Tensor> = [&a, &b]
        .into_iter()
        .filter_map(|v| match v {
            Value::Act(t) => Some(t),
            Value::Const(_) => None,
        })
        .collect();
    let g = Gemm {
        batch: 1,
        m,
        n,
        k,
        weight_operand,
    };
    let mut y = ctx.emit(node, "", OpKind::Gemm(g), &acts, out.clone())?;
    ctx.use_consts([&a, &b]);
    match &c {
        // A constant bias is folded into the GEMM.
        Some(Value::Const(cc)) => ctx.use_weights(cc),
        // A run-time C (a residual) is an addition of its own.
        Some(Value::Act(ct)) => {
            y = ctx.emit(
                node,
                ":add",
                OpKind::Elementwise { func: EltFunc::Add },
                &[&y, ct],
                out,
            )?;
        }
        None => {}
    }
    ctx.set(node, 0, Value::Act(y))
}

/// Output shape of a numpy matmul (for folding constant products).
fn matmul_shape(a: &[u64], b: &[u64]) -> R<Shape> {
    if a.is_empty() || b.is_empty() {
        return Err("matmul of a scalar".into());
    }
    let a2: Shape = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Shape = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(format!("inner dimensions differ: {a:?} · {b:?}"));
    }
    let mut out = crate::graph::broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
        .ok_or_else(|| format!("batch axes of {a:?} and {b:?} do not broadcast"))?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

fn matmul(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let a = ctx.value(node, 0)?;
    let b = ctx.value(node, 1)?;
    let shape = matmul_shape(a.shape(), b.shape())?;
    let tensor = |v: &Value| match v {
        Value::Act(t) => t.clone(),
        Value::Const(c) => Tensor {
            producer: None,
            shape: c.shape.clone(),
        },
    };
    match (&a, &b) {
        (Value::Const(ca), Value::Const(cb)) => {
            let folded =
                Const::new(shape, ca.float || cb.float, None).with_origins(merge_origins([ca, cb]));
            ctx.set(node, 0, Value::Const(folded))
        }
        _ => {
            let (ta, tb) = (tensor(&a), tensor(&b));
            let b_is_weight = matches!(b, Value::Const(_));
            let y = ctx.build(node, &[&ta, &tb], |bld, name| {
                bld.matmul(name, &ta, &tb, b_is_weight)
            })?;
            ctx.use_consts([&a, &b]);
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

fn batch_norm(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    let x = ctx.value(node, 0)?;
    let mut stats = Vec::new();
    for i in 1..5 {
        stats.push(ctx.value(node, i)?);
    }
    let ch = x.shape().get(1).copied().unwrap_or(1);
    for s in &stats {
        if s.shape() != [ch] {
            return Err(format!(
                "parameter shape {:?} does not match {ch} channels",
                s.shape()
            ));
        }
    }
    // Scale and bias are parameters; the running mean and variance are buffers.
    ctx.use_consts(stats[..2].iter());
    for o in 1..node.n_outputs() {
        ctx.set(node, o, Value::Const(Const::new(vec![ch], true, None)))?;
    }
    match x {
        Value::Const(c) => {
            let origins =
                merge_origins(
                    std::iter::once(&c).chain(stats.iter().filter_map(|s| match s {
                        Value::Const(sc) => Some(sc),
                        Value::Act(_) => None,
                    })),
                );
            let folded = Const::new(c.shape.clone(), true, None).with_origins(origins);
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(t) => {
            let input = node.input_name(0).unwrap_or_default();
            if ctx.is_foldable_conv_output(input) {
                // Folded into the convolution that produced the input, as inference
                // compilers do.
                ctx.set(node, 0, Value::Act(t))
            } else {
                if t.shape.len() < 2 {
                    return Err(format!("input shape {:?} has no channel axis", t.shape));
                }
                let y = ctx.emit(
                    node,
                    "",
                    OpKind::Elementwise {
                        func: EltFunc::BatchNorm,
                    },
                    &[&t],
                    t.shape.clone(),
                )?;
                ctx.set(node, 0, Value::Act(y))
            }
        }
    }
}

fn norm(ctx: &mut Ctx<'_>, node: &Node<'_>, func: NormFunc, n_params: usize) -> R<()> {
    let x = ctx.act(node, 0)?;
    let axis = norm_axis(node.attr_i("axis", -1)?, x.shape.len())?;
    let mut params = Vec::new();
    for i in 1..=n_params {
        if let Some(p) = ctx.opt_value(node, i)? {
            params.push(p);
        }
    }
    let y = ctx.build(node, &[&x], |b, name| b.norm(name, func, &x))?;
    ctx.use_consts(params.iter());
    // Optional Mean and InvStdDev outputs: one value per normalized group.
    let mut stat = x.shape[..axis].to_vec();
    stat.resize(x.shape.len(), 1);
    for o in 1..node.n_outputs() {
        let t = Tensor {
            producer: y.producer,
            shape: stat.clone(),
        };
        ctx.set(node, o, Value::Act(t))?;
    }
    ctx.set(node, 0, Value::Act(y))
}

fn layer_norm(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    norm(ctx, node, NormFunc::LayerNorm, 2)
}

fn rms_norm(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    norm(ctx, node, NormFunc::RmsNorm, 1)
}

fn pool(ctx: &mut Ctx<'_>, node: &Node<'_>, func: PoolFunc) -> R<()> {
    let x = ctx.act(node, 0)?;
    let rank = x.shape.len();
    let x4 = as_nchw(&x)?;
    let spatial = x.shape[2..].to_vec();
    let ks = node
        .attr_ints("kernel_shape")?
        .ok_or("attribute `kernel_shape` is missing")?;
    let ks = super::to_dims(&ks, 1, "kernel_shape")?;
    if ks.len() != spatial.len() {
        return Err(format!(
            "kernel_shape {ks:?} does not match the input shape {:?}",
            x.shape
        ));
    }
    let win = window(node, &spatial, &ks, func == PoolFunc::Max)?;
    let ceil = node.attr_i("ceil_mode", 0)? != 0;
    let (h, w) = (x4.shape[2], x4.shape[3]);
    let mut pads = win.pads;
    let mut out = [0u64; 2];
    let mut span = [0u64; 2];
    for (i, len) in [h, w].into_iter().enumerate() {
        // A dilated window is approximated by a dense one of the same span.
        span[i] = win.dilation[i]
            .checked_mul(win.kernel[i] - 1)
            .and_then(|s| s.checked_add(1))
            .ok_or("kernel span overflows")?;
        let padded = len
            .checked_add(pads[i])
            .and_then(|p| p.checked_add(pads[i + 2]))
            .ok_or("padding overflows")?;
        let room = padded
            .checked_sub(span[i])
            .ok_or_else(|| format!("window {:?} does not fit the padded {h}x{w} input", span))?;
        let s = win.stride[i];
        let mut o = if ceil { room.div_ceil(s) } else { room / s } + 1;
        // The last window must start inside the input or its leading padding.
        if ceil && (o - 1) * s >= len + pads[i] {
            o -= 1;
        }
        out[i] = o;
        // Padding at the end that makes the floor formula give the same size.
        pads[i + 2] = ((o - 1) * s + span[i]).saturating_sub(len + pads[i]);
    }
    let p = Pool {
        func,
        kernel: span,
        stride: win.stride,
        pads,
    };
    let out4 = vec![x4.shape[0], x4.shape[1], out[0], out[1]];
    let y = ctx.emit(node, "", OpKind::Pool(p), &[&x4], out4)?;
    ctx.set(node, 0, Value::Act(from_nchw(y, rank)))
}

fn max_pool(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    if node.output_name(1).is_some() {
        return Err("the Indices output of MaxPool is not supported".into());
    }
    pool(ctx, node, PoolFunc::Max)
}

fn avg_pool(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    pool(ctx, node, PoolFunc::Avg)
}

fn global_pool(ctx: &mut Ctx<'_>, node: &Node<'_>, func: PoolFunc) -> R<()> {
    let x = ctx.act(node, 0)?;
    let rank = x.shape.len();
    if rank < 3 {
        return Err(format!("input shape {:?} has no spatial axis", x.shape));
    }
    let mut out = x.shape[..2].to_vec();
    out.resize(rank, 1);
    let y = if rank <= 4 {
        let x4 = as_nchw(&x)?;
        let p = Pool {
            func,
            kernel: [x4.shape[2], x4.shape[3]],
            stride: [1, 1],
            pads: [0; 4],
        };
        let out4 = vec![x4.shape[0], x4.shape[1], 1, 1];
        from_nchw(ctx.emit(node, "", OpKind::Pool(p), &[&x4], out4)?, rank)
    } else {
        // 3-D and higher: a reduction over the spatial axes.
        let f = match func {
            PoolFunc::Avg => ReduceFunc::Mean,
            PoolFunc::Max => ReduceFunc::MaxMin,
        };
        ctx.emit(node, "", OpKind::Reduce { func: f }, &[&x], out)?
    };
    ctx.set(node, 0, Value::Act(y))
}

fn global_avg_pool(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    global_pool(ctx, node, PoolFunc::Avg)
}

fn global_max_pool(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    global_pool(ctx, node, PoolFunc::Max)
}

fn softmax(ctx: &mut Ctx<'_>, node: &Node<'_>) -> R<()> {
    match ctx.value(node, 0)? {
        Value::Const(c) => {
            let folded = Const::new(c.shape.clone(), true, None).with_origins(c.origins);
            ctx.set(node, 0, Value::Const(folded))
        }
        Value::Act(x) => {
            norm_axis(node.attr_i("axis", -1)?, x.shape.len())?;
            let y = ctx.build(node, &[&x], |b, name| b.softmax(name, &x))?;
            ctx.set(node, 0, Value::Act(y))
        }
    }
}

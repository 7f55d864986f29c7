//! The measured H100 data: reading its CSVs, pricing each row with the model, errors, and
//! k-fold cross-validation of the calibration.
//!
//! Each row becomes the op it measured and is priced by [`Gpu::isolated_latency`], the
//! harness's conditions (one eager call timed with CUDA events, L2 flushed). Files and columns are
//! described in `tests/data/gpu/h100/README.md`.

use serde::Serialize;

use archsim_workloads::{
    numel, Attention, Conv2d, DType, EltFunc, Gemm, NormFunc, Op, OpKind, WorkloadBuilder,
};

use super::calib::{self, Calibration};
use super::{Gpu, GpuSpec, LaunchMode};

/// One measured kernel (or whole step) and the op it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// File the row comes from (`gemm`, `attn`, `conv`, `ops`).
    pub file: &'static str,
    /// A short description of the row (set, shape, data type).
    pub label: String,
    /// Subset within the file (`gemm.csv`'s `set` and data type, `attn.csv`'s phase, …).
    pub group: String,
    /// The op.
    #[serde(skip)]
    pub op: Op,
    /// Median measured time, s.
    pub measured_s: f64,
}

/// A parsed CSV: header and rows of string fields.
struct Table<'a> {
    name: &'static str,
    header: Vec<&'a str>,
    rows: Vec<Vec<&'a str>>,
}

impl<'a> Table<'a> {
    fn parse(name: &'static str, text: &'a str) -> Result<Self, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| format!("{name}: empty file"))?
            .split(',')
            .map(str::trim)
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
            .collect();
        Ok(Table { name, header, rows })
    }

    fn col(&self, key: &str) -> Result<usize, String> {
        self.header
            .iter()
            .position(|h| *h == key)
            .ok_or_else(|| format!("{}: no column `{key}`", self.name))
    }

    fn get<T: std::str::FromStr>(&self, row: &[&str], i: usize, line: usize) -> Result<T, String> {
        let v = row
            .get(i)
            .ok_or_else(|| format!("{} line {line}: missing field", self.name))?;
        v.parse()
            .map_err(|_| format!("{} line {line}: bad value `{v}`", self.name))
    }

    /// `f(row, line)` over the data rows (line numbers count the header as line 1).
    fn map<T>(
        &self,
        mut f: impl FnMut(&[&'a str], usize) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| f(r, i + 2))
            .collect()
    }
}

fn dtype(s: &str) -> Result<DType, String> {
    Ok(match s {
        "bf16" => DType::Bf16,
        "fp16" => DType::Fp16,
        "fp32" => DType::Fp32,
        "fp8" => DType::Fp8,
        "int8" => DType::Int8,
        other => return Err(format!("unknown dtype `{other}`")),
    })
}

/// The op of a plain `a @ b` with `a: m×k`, `b: k×n`.
pub fn gemm_op(m: u64, n: u64, k: u64, dt: DType) -> Op {
    Op {
        name: format!("gemm_{m}x{n}x{k}"),
        kind: OpKind::Gemm(Gemm {
            batch: 1,
            m,
            n,
            k,
            weight_operand: true,
        }),
        inputs: vec![vec![m, k]],
        output: vec![m, n],
        dtype: dt,
    }
}

/// `gemm.csv`: `set,dtype,m,n,k,median_us,…`.
pub fn parse_gemm(text: &str) -> Result<Vec<Sample>, String> {
    let t = Table::parse("gemm.csv", text)?;
    let (set, dt, m, n, k, us) = (
        t.col("set")?,
        t.col("dtype")?,
        t.col("m")?,
        t.col("n")?,
        t.col("k")?,
        t.col("median_us")?,
    );
    t.map(|r, line| {
        let d = dtype(r.get(dt).copied().unwrap_or(""))?;
        let (mm, nn, kk): (u64, u64, u64) =
            (t.get(r, m, line)?, t.get(r, n, line)?, t.get(r, k, line)?);
        let s: String = t.get(r, set, line)?;
        Ok(Sample {
            file: "gemm",
            label: format!("{s} {d} {mm}x{nn}x{kk}"),
            group: format!("{d}"),
            op: gemm_op(mm, nn, kk, d),
            measured_s: t.get::<f64>(r, us, line)? * 1e-6,
        })
    })
}

/// `attn.csv`: `phase,batch,heads,kv_heads,q_len,kv_len,head_dim,causal,dtype,median_us,…`.
///
/// The measured grouped-query rows had K/V expanded to all heads before the call, so the op
/// reads `heads` K/V heads.
pub fn parse_attn(text: &str) -> Result<Vec<Sample>, String> {
    let t = Table::parse("attn.csv", text)?;
    let c = |k| t.col(k);
    let (ph, b, h, kvh, q, kv, d, causal, dt, us) = (
        c("phase")?,
        c("batch")?,
        c("heads")?,
        c("kv_heads")?,
        c("q_len")?,
        c("kv_len")?,
        c("head_dim")?,
        c("causal")?,
        c("dtype")?,
        c("median_us")?,
    );
    t.map(|r, line| {
        let a = Attention {
            batch: t.get(r, b, line)?,
            heads: t.get(r, h, line)?,
            kv_heads: t.get(r, h, line)?,
            q_len: t.get(r, q, line)?,
            kv_len: t.get(r, kv, line)?,
            head_dim: t.get(r, d, line)?,
            causal: r
                .get(causal)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        };
        let kv_heads: u64 = t.get(r, kvh, line)?;
        let d = dtype(r.get(dt).copied().unwrap_or(""))?;
        let phase: String = t.get(r, ph, line)?;
        let label = format!(
            "{phase} b{} h{}/{} q{} kv{}",
            a.batch, a.heads, kv_heads, a.q_len, a.kv_len
        );
        let q_shape = vec![a.batch, a.heads, a.q_len, a.head_dim];
        let kv_shape = vec![a.batch, a.kv_heads, a.kv_len, a.head_dim];
        Ok(Sample {
            file: "attn",
            label,
            group: phase,
            op: Op {
                name: "sdpa".into(),
                kind: OpKind::Attention(a),
                inputs: vec![q_shape.clone(), kv_shape.clone(), kv_shape],
                output: q_shape,
                dtype: d,
            },
            measured_s: t.get::<f64>(r, us, line)? * 1e-6,
        })
    })
}

/// `conv.csv`: `net,batch,c_in,c_out,h,w,kernel,stride,groups,dtype,median_us,…` (padding
/// `kernel / 2`, as in ResNet and MobileNetV2).
pub fn parse_conv(text: &str) -> Result<Vec<Sample>, String> {
    let t = Table::parse("conv.csv", text)?;
    let c = |k| t.col(k);
    let (net, b, ci, co, h, w, k, s, g, dt, us) = (
        c("net")?,
        c("batch")?,
        c("c_in")?,
        c("c_out")?,
        c("h")?,
        c("w")?,
        c("kernel")?,
        c("stride")?,
        c("groups")?,
        c("dtype")?,
        c("median_us")?,
    );
    t.map(|r, line| {
        let (bb, cin, cout, hh, ww, kk, ss, gg): (u64, u64, u64, u64, u64, u64, u64, u64) = (
            t.get(r, b, line)?,
            t.get(r, ci, line)?,
            t.get(r, co, line)?,
            t.get(r, h, line)?,
            t.get(r, w, line)?,
            t.get(r, k, line)?,
            t.get(r, s, line)?,
            t.get(r, g, line)?,
        );
        let d = dtype(r.get(dt).copied().unwrap_or(""))?;
        let mut wb = WorkloadBuilder::new("conv", d);
        let x = wb.input(vec![bb, cin, hh, ww]);
        let conv = Conv2d::square(cin, cout, kk, ss, kk / 2).with_groups(gg);
        wb.conv2d("conv", &x, conv)
            .map_err(|e| format!("conv.csv line {line}: {e}"))?;
        let op = wb
            .finish()
            .ops()
            .next()
            .cloned()
            .ok_or_else(|| format!("conv.csv line {line}: no op"))?;
        let n: String = t.get(r, net, line)?;
        Ok(Sample {
            file: "conv",
            label: format!("{n} b{bb} {cin}->{cout} {hh}x{ww} k{kk} s{ss} g{gg}"),
            group: if gg > 1 { "depthwise" } else { "dense" }.into(),
            op,
            measured_s: t.get::<f64>(r, us, line)? * 1e-6,
        })
    })
}

/// `ops.csv`: `op,rows,cols,dtype,bytes_moved,median_us,…` for `layernorm`, `gelu`,
/// `softmax` (last axis) and `add`.
pub fn parse_ops(text: &str) -> Result<Vec<Sample>, String> {
    let t = Table::parse("ops.csv", text)?;
    let (o, rr, cc, dt, us) = (
        t.col("op")?,
        t.col("rows")?,
        t.col("cols")?,
        t.col("dtype")?,
        t.col("median_us")?,
    );
    t.map(|r, line| {
        let (rows, cols): (u64, u64) = (t.get(r, rr, line)?, t.get(r, cc, line)?);
        let d = dtype(r.get(dt).copied().unwrap_or(""))?;
        let name: String = t.get(r, o, line)?;
        let shape = vec![rows, cols];
        let (kind, inputs) = match name.as_str() {
            "layernorm" => (
                OpKind::Norm {
                    func: NormFunc::LayerNorm,
                },
                vec![shape.clone()],
            ),
            "gelu" => (
                OpKind::Elementwise {
                    func: EltFunc::Gelu,
                },
                vec![shape.clone()],
            ),
            "softmax" => (OpKind::Softmax, vec![shape.clone()]),
            "add" => (
                OpKind::Elementwise { func: EltFunc::Add },
                vec![shape.clone(), shape.clone()],
            ),
            other => return Err(format!("ops.csv line {line}: unknown op `{other}`")),
        };
        Ok(Sample {
            file: "ops",
            label: format!("{name} {rows}x{cols}"),
            group: name.clone(),
            op: Op {
                name,
                kind,
                inputs,
                output: shape,
                dtype: d,
            },
            measured_s: t.get::<f64>(r, us, line)? * 1e-6,
        })
    })
}

/// One row of `llm.csv` (check only: never used for fitting).
#[derive(Debug, Clone, Serialize)]
pub struct LlmRow {
    /// Zoo name.
    pub model: String,
    /// Layers.
    pub layers: u64,
    /// Sequences.
    pub batch: u64,
    /// `prefill` or `decode`.
    pub phase: String,
    /// Prompt tokens.
    pub prompt_len: u64,
    /// Tokens in the cache after the step.
    pub context_len: u64,
    /// `eager` or `cudagraph`.
    pub mode: String,
    /// Median measured time, s.
    pub measured_s: f64,
}

/// `llm.csv`: `model,layers,batch,phase,prompt_len,context_len,mode,median_us,…`.
pub fn parse_llm(text: &str) -> Result<Vec<LlmRow>, String> {
    let t = Table::parse("llm.csv", text)?;
    let c = |k| t.col(k);
    let (m, l, b, ph, pl, cl, mo, us) = (
        c("model")?,
        c("layers")?,
        c("batch")?,
        c("phase")?,
        c("prompt_len")?,
        c("context_len")?,
        c("mode")?,
        c("median_us")?,
    );
    t.map(|r, line| {
        Ok(LlmRow {
            model: t.get(r, m, line)?,
            layers: t.get(r, l, line)?,
            batch: t.get(r, b, line)?,
            phase: t.get(r, ph, line)?,
            prompt_len: t.get(r, pl, line)?,
            context_len: t.get(r, cl, line)?,
            mode: t.get(r, mo, line)?,
            measured_s: t.get::<f64>(r, us, line)? * 1e-6,
        })
    })
}

/// The LLM step of an `llm.csv` row, lowered from the zoo (bf16) as the measured PyTorch
/// program (`framework: pytorch`, no RoPE).
pub fn llm_workload(r: &LlmRow) -> Result<archsim_workloads::Workload, String> {
    let phase = match r.phase.as_str() {
        "prefill" => archsim_workloads::llm::Phase::Prefill,
        "decode" => archsim_workloads::llm::Phase::Decode,
        other => return Err(format!("llm.csv: unknown phase `{other}`")),
    };
    let cfg = archsim_workloads::llm::LlmConfig {
        model: r.model.clone(),
        phase,
        batch: r.batch,
        prompt_len: r.prompt_len,
        context_len: Some(r.context_len),
        layers: Some(r.layers),
        tp: 1,
        moe_skew: 0.0,
        // The measured decoder has no rotary embedding (the data's README).
        rope: Some(false),
        framework: archsim_workloads::Framework::Pytorch,
        ..Default::default()
    };
    archsim_workloads::llm::lower(&cfg, DType::Bf16).map_err(|e| e.to_string())
}

/// Predicted latency of an `llm.csv` row on `gpu` (whose launch mode should match the row's):
/// one pass over the step's kernels in a stream.
pub fn predict_llm(gpu: &Gpu, r: &LlmRow) -> Result<f64, String> {
    Ok(gpu.predict(&llm_workload(r)?))
}

/// The model's prediction for a sample under `cal` on `spec`.
pub fn predict(spec: &GpuSpec, cal: &Calibration, s: &Sample) -> f64 {
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::Eager);
    gpu.isolated_latency(&s.op)
}

/// Mean absolute percentage error (as a fraction) of `cal` over `samples`.
pub fn mape(spec: &GpuSpec, cal: &Calibration, samples: &[&Sample]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::Eager);
    samples
        .iter()
        .map(|s| (gpu.isolated_latency(&s.op) - s.measured_s).abs() / s.measured_s)
        .sum::<f64>()
        / samples.len() as f64
}

/// Fits the constants `names` on `samples` from `start`.
pub fn fit(
    spec: &GpuSpec,
    start: &Calibration,
    names: &[&str],
    samples: &[&Sample],
    iters: usize,
) -> (Calibration, f64) {
    calib::fit(start, names, iters, |c| mape(spec, c, samples))
}

/// One fold of a cross-validation.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// Rows fitted on.
    pub train_rows: usize,
    /// Rows held out.
    pub test_rows: usize,
    /// MAPE on the rows fitted on.
    pub train_mape: f64,
    /// MAPE on the held-out rows.
    pub test_mape: f64,
    /// The constants fitted on this fold's training rows.
    pub calibration: Calibration,
}

/// A k-fold cross-validation.
#[derive(Debug, Clone, Serialize)]
pub struct CrossValidation {
    /// One entry per fold.
    pub folds: Vec<Fold>,
    /// Mean held-out MAPE over the folds.
    pub mean_mape: f64,
    /// Worst held-out MAPE.
    pub worst_mape: f64,
}

/// Fold of sample `i` in a `k`-fold split: a fixed pseudo-random permutation (SplitMix64 of
/// the row index), so folds mix the file's sets and sizes and never change between runs.
pub fn fold_of(i: usize, k: usize) -> usize {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % k.max(1) as u64) as usize
}

/// `k`-fold cross-validation: fit `names` from `start` on `k − 1` folds of `samples`, test on
/// the held-out fold.
pub fn cross_validate(
    spec: &GpuSpec,
    start: &Calibration,
    names: &[&str],
    samples: &[&Sample],
    k: usize,
    iters: usize,
) -> CrossValidation {
    let folds: Vec<Fold> = (0..k)
        .map(|f| {
            let (mut train, mut test): (Vec<&Sample>, Vec<&Sample>) = (Vec::new(), Vec::new());
            for (i, s) in samples.iter().enumerate() {
                if fold_of(i, k) == f {
                    test.push(s);
                } else {
                    train.push(s);
                }
            }
            let (cal, train_mape) = fit(spec, start, names, &train, iters);
            Fold {
                train_rows: train.len(),
                test_rows: test.len(),
                train_mape,
                test_mape: mape(spec, &cal, &test),
                calibration: cal,
            }
        })
        .collect();
    let mean_mape = folds.iter().map(|f| f.test_mape).sum::<f64>() / folds.len().max(1) as f64;
    let worst_mape = folds.iter().map(|f| f.test_mape).fold(0.0, f64::max);
    CrossValidation {
        folds,
        mean_mape,
        worst_mape,
    }
}

/// Elements of a sample's output, for labels and plots.
pub fn output_elems(s: &Sample) -> u64 {
    numel(&s.op.output)
}

/// A sample's isolated run on `gpu`, for reports: (predicted s, kernel).
pub fn explain(gpu: &Gpu, s: &Sample) -> (f64, super::KernelEstimate) {
    (gpu.isolated_latency(&s.op), gpu.kernel(&s.op))
}

/// One case of `kernels.csv` (a measured in-network kernel list) with the program archsim
/// prices for it.
pub struct KernelCase {
    /// The `case` column.
    pub name: String,
    /// The measured kernels, cuBLAS split-K reductions merged into their GEMM.
    pub measured: Vec<super::trace::MeasuredKernel>,
    /// The workload (PyTorch program, bf16).
    pub workload: archsim_workloads::Workload,
    /// Only ops whose name starts with this are compared (one decoder layer of a step).
    pub prefix: &'static str,
}

/// The workload of a `kernels.csv` case: ResNet-50 at batch 32, or one LLaMA-2-7B decoder
/// layer (no RoPE, as measured) in decode (batch 16, context 2048) or prefill (batch 1, 2048
/// tokens); `None` for an unknown case.
pub fn kernel_case_workload(
    case: &str,
) -> Option<Result<(archsim_workloads::Workload, &'static str), String>> {
    use archsim_workloads::llm::{lower, LlmConfig, Phase};
    use archsim_workloads::{zoo, Framework};
    let llm = |phase: Phase, batch: u64, prompt_len: u64, context_len: Option<u64>| {
        let c = LlmConfig {
            model: "llama2_7b".into(),
            phase,
            batch,
            prompt_len,
            context_len,
            layers: Some(1),
            rope: Some(false),
            framework: Framework::Pytorch,
            ..LlmConfig::default()
        };
        lower(&c, DType::Bf16)
            .map(|w| (w, "layer0."))
            .map_err(|e| e.to_string())
    };
    Some(match case {
        "resnet50_b32" => zoo::build_program("resnet50", 32, DType::Bf16, None, Framework::Pytorch)
            .map(|w| (w, ""))
            .map_err(|e| e.to_string()),
        "llama7b_layer_decode_b16_ctx2048" => llm(Phase::Decode, 16, 2047, Some(2048)),
        "llama7b_layer_prefill_b1_p2048" => llm(Phase::Prefill, 1, 2048, None),
        _ => return None,
    })
}

/// The cases of a `kernels.csv` text archsim has a workload for.
pub fn parse_kernel_cases(text: &str) -> Result<Vec<KernelCase>, String> {
    let all = super::trace::parse_kernels_csv(text)?;
    let mut names: Vec<String> = Vec::new();
    for k in &all {
        if !names.contains(&k.case) {
            names.push(k.case.clone());
        }
    }
    let mut out = Vec::new();
    for name in names {
        let Some(w) = kernel_case_workload(&name) else {
            continue;
        };
        let (workload, prefix) = w?;
        let measured: Vec<_> = all.iter().filter(|k| k.case == name).cloned().collect();
        out.push(KernelCase {
            measured: super::trace::merge_split_k(&measured),
            name,
            workload,
            prefix,
        });
    }
    Ok(out)
}

/// archsim's kernels for a workload, `(family, name, body s)` in launch order, for the ops
/// whose name starts with `prefix`.
pub fn predicted_kernels(
    gpu: &Gpu,
    w: &archsim_workloads::Workload,
    prefix: &str,
) -> Vec<(super::program::KernelGroup, &'static str, f64)> {
    super::program::lower(gpu, w)
        .into_iter()
        .filter(|(n, _)| w.graph[*n].name.starts_with(prefix))
        .flat_map(|(_, k)| k.kernels)
        .map(|k| (k.family, k.name, k.est.body_s))
        .collect()
}

/// How far the in-network kernel durations of `cases` are from `cal`'s prediction (CUDA-graph
/// context): the mean absolute percentage error of the aligned kernels plus that of each
/// case's per-family totals, halved.
pub fn network_loss(spec: &GpuSpec, cal: &Calibration, cases: &[KernelCase]) -> f64 {
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::CudaGraph);
    let (mut kernel_err, mut kernels) = (0.0, 0usize);
    let (mut family_err, mut families) = (0.0, 0usize);
    for c in cases {
        let pred = predicted_kernels(&gpu, &c.workload, c.prefix);
        let pf: Vec<_> = pred.iter().map(|p| p.0).collect();
        let mf: Vec<_> = c.measured.iter().map(|k| k.family).collect();
        for (i, j) in super::trace::align(&pf, &mf) {
            let m = c.measured[j].duration_s;
            kernel_err += (pred[i].2 - m).abs() / m.max(1e-9);
            kernels += 1;
        }
        let pt: Vec<_> = pred.iter().map(|p| (p.0, p.2)).collect();
        let t = super::trace::FamilyTotals::of(&pt, &c.measured);
        for &(p, m, _, _) in t.rows.values() {
            if m > 0.0 {
                family_err += (p - m).abs() / m;
                families += 1;
            }
        }
    }
    0.5 * (kernel_err / kernels.max(1) as f64 + family_err / families.max(1) as f64)
}

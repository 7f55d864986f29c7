//! Measured kernel lists: reading them (the `kernels.csv` format and Chrome traces exported by
//! `torch.profiler`), and matching them to the kernels archsim prices for the same program.
//!
//! A measured list and a predicted one are both sequences of kernels in launch order. They are
//! matched by family (GEMM/conv, attention, norm, element-wise, copy, reduce/pool) with a
//! longest-common-subsequence alignment, so that an extra memset on one side does not shift
//! every later pair; per-family totals need no alignment at all.

use std::collections::BTreeMap;

use super::program::KernelGroup;

/// One measured kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredKernel {
    /// The measurement it belongs to (`case` column; the file name for a trace).
    pub case: String,
    /// Kernel name as the profiler reports it.
    pub name: String,
    /// GPU duration, s.
    pub duration_s: f64,
    /// Its family (from the name).
    pub family: KernelGroup,
}

/// Reads a `kernels.csv`-format file: `case,idx,kernel,duration_us` (kernel names quoted when
/// they hold commas), in launch order per case.
pub fn parse_kernels_csv(text: &str) -> Result<Vec<MeasuredKernel>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| e.to_string())?.clone();
    let col = |k: &str| {
        headers
            .iter()
            .position(|h| h.trim() == k)
            .ok_or_else(|| format!("missing column `{k}` (want case,idx,kernel,duration_us)"))
    };
    let (c, k, d) = (col("case")?, col("kernel")?, col("duration_us")?);
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("line {line}: {e}"))?;
        let get = |j: usize| rec.get(j).unwrap_or("").trim();
        let us: f64 = get(d)
            .parse()
            .map_err(|_| format!("line {line}: duration_us is not a number"))?;
        if !(us.is_finite() && us >= 0.0) {
            return Err(format!("line {line}: duration_us must be a non-negative number"));
        }
        let name = get(k).to_string();
        out.push(MeasuredKernel {
            case: get(c).to_string(),
            family: KernelGroup::of_kernel_name(&name),
            name,
            duration_s: us * 1e-6,
        });
    }
    if out.is_empty() {
        return Err("no kernel rows".into());
    }
    Ok(out)
}

/// Reads a Chrome trace (`torch.profiler`'s `export_chrome_trace`): every complete event of
/// category `kernel` (or `gpu_memset`/`gpu_memcpy`), in start order, as one case named `case`.
pub fn parse_chrome_trace(text: &str, case: &str) -> Result<Vec<MeasuredKernel>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON trace: {e}"))?;
    let events = v
        .get("traceEvents")
        .or(Some(&v))
        .and_then(|e| e.as_array())
        .ok_or("no `traceEvents` array")?;
    let mut rows: Vec<(f64, MeasuredKernel)> = Vec::new();
    for e in events {
        let cat = e.get("cat").and_then(|c| c.as_str()).unwrap_or("");
        let ph = e.get("ph").and_then(|c| c.as_str()).unwrap_or("");
        if ph != "X" || !matches!(cat, "kernel" | "gpu_memset" | "gpu_memcpy" | "Kernel") {
            continue;
        }
        let name = e.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let ts = e.get("ts").and_then(|t| t.as_f64()).unwrap_or(0.0);
        let dur = e
            .get("dur")
            .and_then(|t| t.as_f64())
            .ok_or_else(|| format!("kernel event `{name}` has no `dur`"))?;
        let name = if cat == "gpu_memset" {
            format!("Memset {name}")
        } else {
            name.to_string()
        };
        rows.push((
            ts,
            MeasuredKernel {
                case: case.to_string(),
                family: KernelGroup::of_kernel_name(&name),
                name,
                duration_s: dur * 1e-6,
            },
        ));
    }
    if rows.is_empty() {
        return Err("the trace has no GPU kernel events (category `kernel`); record it with \
                    `ProfilerActivity.CUDA`"
            .into());
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(rows.into_iter().map(|(_, k)| k).collect())
}

/// A cuBLAS split-K reduction counted with the GEMM before it (archsim prices them as one).
pub fn merge_split_k(ks: &[MeasuredKernel]) -> Vec<MeasuredKernel> {
    let mut out: Vec<MeasuredKernel> = Vec::with_capacity(ks.len());
    for k in ks {
        let reduce = k.name.to_ascii_lowercase().contains("splitkreduce");
        match out.last_mut() {
            Some(prev) if reduce && prev.family == KernelGroup::GemmConv => {
                prev.duration_s += k.duration_s
            }
            _ => out.push(k.clone()),
        }
    }
    out
}

/// Pairs `(i, j)` of a longest common subsequence of the two family sequences.
pub fn align(a: &[KernelGroup], b: &[KernelGroup]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut dp = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[at(i, j)] = if a[i] == b[j] {
                dp[at(i + 1, j + 1)] + 1
            } else {
                dp[at(i + 1, j)].max(dp[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if dp[at(i + 1, j)] >= dp[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Predicted and measured time per family (s), and kernel counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FamilyTotals {
    /// `family → (predicted s, measured s, predicted kernels, measured kernels)`.
    pub rows: BTreeMap<KernelGroup, (f64, f64, usize, usize)>,
}

impl FamilyTotals {
    /// Sums two kernel lists per family.
    pub fn of(pred: &[(KernelGroup, f64)], meas: &[MeasuredKernel]) -> FamilyTotals {
        let mut rows: BTreeMap<KernelGroup, (f64, f64, usize, usize)> = BTreeMap::new();
        for &(f, t) in pred {
            let r = rows.entry(f).or_default();
            r.0 += t;
            r.2 += 1;
        }
        for k in meas {
            let r = rows.entry(k.family).or_default();
            r.1 += k.duration_s;
            r.3 += 1;
        }
        FamilyTotals { rows }
    }

    /// Total predicted and measured time, s.
    pub fn totals(&self) -> (f64, f64) {
        self.rows
            .values()
            .fold((0.0, 0.0), |(p, m), r| (p + r.0, m + r.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_families() {
        let f = KernelGroup::of_kernel_name;
        assert_eq!(f("nvjet_sm90_tst_64x16_64x16_4x1_v_bz_TNT"), KernelGroup::GemmConv);
        assert_eq!(
            f("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc"),
            KernelGroup::GemmConv
        );
        assert_eq!(
            f("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16"),
            KernelGroup::Attention
        );
        assert_eq!(
            f("void at::native::batch_norm_transform_input_channels_last_kernel<c10::BFloat16"),
            KernelGroup::Norm
        );
        assert_eq!(f("Memset (Device)"), KernelGroup::Copy);
        assert_eq!(
            f("void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda"),
            KernelGroup::Copy
        );
        assert_eq!(
            f("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<c10::BFloat16, at::native::MeanOps"),
            KernelGroup::Reduce
        );
        assert_eq!(
            f("void at::native::vectorized_elementwise_kernel<8, at::native::CUDAFunctor_add<c10::BFloat16>"),
            KernelGroup::Elementwise
        );
    }

    #[test]
    fn alignment_skips_extras_on_either_side() {
        use KernelGroup::*;
        let a = [GemmConv, Copy, Norm, Elementwise];
        let b = [Copy, GemmConv, Norm, Copy, Elementwise];
        assert_eq!(align(&a, &b), vec![(1, 0), (2, 2), (3, 4)]);
    }

    #[test]
    fn chrome_traces_keep_kernels_in_start_order() {
        let t = r#"{"traceEvents": [
            {"ph": "X", "cat": "kernel", "name": "nvjet_gemm", "ts": 20, "dur": 5.5},
            {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1, "dur": 30},
            {"ph": "X", "cat": "kernel", "name": "void at::native::vectorized_elementwise_kernel<4, relu>", "ts": 10, "dur": 2}
        ]}"#;
        let k = parse_chrome_trace(t, "t").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].family, KernelGroup::Elementwise);
        assert!((k[1].duration_s - 5.5e-6).abs() < 1e-12);
        assert!(parse_chrome_trace("{}", "t").is_err());
        assert!(parse_chrome_trace("nope", "t").is_err());
    }
}

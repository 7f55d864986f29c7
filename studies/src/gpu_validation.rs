//! The GPU model against measured kernels, two ways:
//!
//! * [`regenerate`] rebuilds `results/gpu_validation/`: the model against every measured H100
//!   kernel and step (`tests/data/gpu/h100/`), the cross-validation of its calibration, the
//!   predicted-vs-measured plot and a roofline of LLaMA-2-7B's kernels
//!   (`cargo run --release --example gpu_validation`);
//! * [`run_cli`] is `archsim validate MEASURED --config CONFIG`: archsim's kernel list for a GPU
//!   config held against a measured one.
//!
//! MEASURED is a `kernels.csv`-format file (`case,idx,kernel,duration_us`, as in
//! `tests/data/gpu/h100/kernels.csv`) or a Chrome trace exported by `torch.profiler`
//! (`prof.export_chrome_trace(...)` with `ProfilerActivity.CUDA`). The kernels are matched by
//! family in launch order (see `archsim_accelerators::gpu::trace`); the command prints and
//! writes predicted against measured time per family and per matched kernel, and plots them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use archsim_accelerators::gpu::calib::{fitted, Calibration};
use archsim_accelerators::gpu::program::KernelGroup;
use archsim_accelerators::gpu::trace::{self, FamilyTotals, MeasuredKernel};
use archsim_accelerators::gpu::validation::{self as v, CrossValidation, Sample};
use archsim_accelerators::gpu::{validation, Gpu, GpuSpec, LaunchMode};
use archsim_io::located::ConfigError;
use archsim_workloads::input::InputKind;
use archsim_workloads::{llm, zoo, DType};

use crate::plot::{self, Comparison, Roof, RooflinePoint};
use crate::{Error, Host};

fn bad(file: &Path, message: String) -> Error {
    Error::Config(ConfigError::new(file.display().to_string(), message))
}

/// Reads the measured kernels of `path` (one case: `case` picks it when the file has several).
pub fn read_measured(path: &Path, case: Option<&str>) -> Result<Vec<MeasuredKernel>, Error> {
    // A Chrome trace may be large; a kernels.csv is a table.
    let kind = if path.extension().is_some_and(|e| e == "json") {
        InputKind::Json
    } else {
        InputKind::Table
    };
    let text = crate::files::read_text(path, kind)?;
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let all = if is_json {
        let name = path
            .file_stem()
            .map_or("trace".into(), |s| s.to_string_lossy().to_string());
        trace::parse_chrome_trace(&text, &name).map_err(|m| bad(path, m))?
    } else {
        trace::parse_kernels_csv(&text).map_err(|m| bad(path, m))?
    };
    let mut cases: Vec<&str> = Vec::new();
    for k in &all {
        if !cases.contains(&k.case.as_str()) {
            cases.push(&k.case);
        }
    }
    let pick = match (case, cases.as_slice()) {
        (Some(c), _) if cases.contains(&c) => c.to_string(),
        (Some(c), _) => {
            return Err(bad(
                path,
                format!("no case `{c}`; cases: {}", cases.join(", ")),
            ))
        }
        (None, [one]) => one.to_string(),
        (None, _) => {
            return Err(bad(
                path,
                format!("several cases; pick one with --case: {}", cases.join(", ")),
            ))
        }
    };
    let picked: Vec<MeasuredKernel> = all.into_iter().filter(|k| k.case == pick).collect();
    Ok(trace::merge_split_k(&picked))
}

/// Runs the comparison and writes `validate_families.csv`, `validate_kernels.csv` and
/// `validate.{png,svg}` into `out`; returns the printed summary.
pub fn run_cli(
    host: &dyn Host,
    measured: &Path,
    config: &Path,
    case: Option<&str>,
    prefix: &str,
    out: &Path,
) -> Result<String, Error> {
    // The output folder is checked (and held) before any work.
    let held = crate::files::OutDir::prepare(out)?;
    let text = archsim_io::located::read_file(config)?;
    let cfg = host.load_str(&text, &config.display().to_string(), &[])?;
    let Some(gpu_cfg) = archsim_accelerators::gpu::config_of(&cfg.accelerator) else {
        return Err(bad(
            config,
            format!(
                "validate compares GPU kernels; this config's accelerator is `{}`",
                cfg.accelerator.kind()
            ),
        ));
    };
    let gpu = Gpu::new(gpu_cfg)?;
    let base = config.parent().unwrap_or(Path::new("."));
    let w = cfg.workload.build(base)?;
    let meas = read_measured(measured, case)?;
    let pred = validation::predicted_kernels(&gpu, &w, prefix);
    if pred.is_empty() {
        return Err(bad(config, format!("no kernel of an op named `{prefix}…`")));
    }
    let pf: Vec<KernelGroup> = pred.iter().map(|p| p.0).collect();
    let mf: Vec<KernelGroup> = meas.iter().map(|k| k.family).collect();
    let pairs = trace::align(&pf, &mf);
    let pt: Vec<(KernelGroup, f64)> = pred.iter().map(|p| (p.0, p.2)).collect();
    let totals = FamilyTotals::of(&pt, &meas);

    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} on {} ({}, framework {}): {} kernels predicted, {} measured, {} matched",
        w.name,
        gpu.spec.name,
        gpu.launch.name(),
        w.framework.name(),
        pred.len(),
        meas.len(),
        pairs.len()
    );
    let _ = writeln!(
        s,
        "  {:<12} {:>12} {:>12} {:>8} {:>9}",
        "family", "predicted", "measured", "error", "kernels"
    );
    let mut csv = String::from(
        "family,predicted_us,measured_us,error_pct,predicted_kernels,measured_kernels\n",
    );
    let mut points = Vec::new();
    for (f, &(p, m, np, nm)) in &totals.rows {
        let err = if m > 0.0 {
            format!("{:+.1}%", 100.0 * (p - m) / m)
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "  {:<12} {:>9.1} µs {:>9.1} µs {:>8} {:>4}/{:<4}",
            f.name(),
            p * 1e6,
            m * 1e6,
            err,
            np,
            nm
        );
        let _ = writeln!(
            csv,
            "{},{:.3},{:.3},{},{np},{nm}",
            f.name(),
            p * 1e6,
            m * 1e6,
            if m > 0.0 {
                format!("{:.2}", 100.0 * (p - m) / m)
            } else {
                String::new()
            }
        );
    }
    let (p, m) = totals.totals();
    let _ = writeln!(
        s,
        "  {:<12} {:>9.1} µs {:>9.1} µs {:>+7.1}%",
        "total",
        p * 1e6,
        m * 1e6,
        100.0 * (p - m) / m.max(1e-12)
    );
    let mut kcsv = String::from("predicted_index,measured_index,family,archsim_kernel,measured_kernel,predicted_us,measured_us\n");
    for &(i, j) in &pairs {
        let name = meas[j].name.replace('"', "'");
        let _ = writeln!(
            kcsv,
            "{i},{j},{},{},\"{name}\",{:.3},{:.3}",
            pred[i].0.name(),
            pred[i].1,
            pred[i].2 * 1e6,
            meas[j].duration_s * 1e6
        );
        if meas[j].duration_s > 0.0 && pred[i].2 > 0.0 {
            points.push(crate::plot::Comparison {
                series: pred[i].0.name().to_string(),
                measured: meas[j].duration_s * 1e6,
                predicted: pred[i].2 * 1e6,
            });
        }
    }
    let write = |name: &str, body: &str| -> Result<PathBuf, Error> {
        let p = out.join(name);
        crate::files::write(&p, body)?;
        Ok(p)
    };
    write("validate_families.csv", &csv)?;
    write("validate_kernels.csv", &kcsv)?;
    crate::plot::predicted_vs_measured(
        &points,
        "µs",
        &format!("{}: kernel time, archsim vs measured", w.name),
        out,
        "validate",
    )
    .map_err(Error::File)?;
    held.commit()?;
    let _ = writeln!(
        s,
        "wrote {}/validate_families.csv, validate_kernels.csv, validate.png",
        out.display()
    );
    Ok(s)
}

/// Nelder–Mead iterations per polish run (as the tests use).
const ITERS: usize = 1500;

fn read(data: &Path, name: &str) -> Result<String, String> {
    let p = data.join(name);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

struct Figures {
    summary: String,
}

impl Figures {
    fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        self.summary.push_str(s.as_ref());
        self.summary.push('\n');
    }
}

/// Regenerates `results/gpu_validation/` into `out` from the measured H100 data in `data`
/// (`tests/data/gpu/h100/`): `kernels.csv`, `cross_validation.csv`, `steps.csv`, `summary.md`,
/// `predicted_vs_measured.{png,svg}` and `roofline.{png,svg}`; prints the summary's lines.
pub fn regenerate(data: &Path, out: &Path) -> Result<(), String> {
    let out = out.to_path_buf();
    crate::files::create_dir(&out).map_err(|e| e.to_string())?;
    let spec = GpuSpec::preset("h100_sxm").ok_or("no h100_sxm preset")?;
    let cal = Calibration::h100();
    let gemm = v::parse_gemm(&read(data, "gemm.csv")?)?;
    let attn = v::parse_attn(&read(data, "attn.csv")?)?;
    let conv = v::parse_conv(&read(data, "conv.csv")?)?;
    let ops = v::parse_ops(&read(data, "ops.csv")?)?;
    let mut f = Figures {
        summary: String::new(),
    };
    f.line("# GPU model vs measured H100 SXM\n");
    f.line("Regenerated by `cargo run --release --example gpu_validation`. Data: `tests/data/gpu/h100/` (README there). MAPE = mean absolute percentage error of the median kernel time.\n");

    // Every kernel row with the preset's prediction.
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::Eager);
    let mut points = Vec::new();
    let mut w = crate::files::csv_writer(&out.join("kernels.csv")).map_err(|e| e.to_string())?;
    w.write_record([
        "file",
        "group",
        "row",
        "measured_us",
        "predicted_us",
        "error_pct",
        "kernel",
        "tile",
        "split",
        "bound",
    ])
    .map_err(|e| e.to_string())?;
    for s in gemm.iter().chain(&attn).chain(&conv).chain(&ops) {
        let (p, k) = v::explain(&gpu, s);
        w.write_record([
            s.file.to_string(),
            s.group.clone(),
            s.label.clone(),
            format!("{:.3}", s.measured_s * 1e6),
            format!("{:.3}", p * 1e6),
            format!("{:.2}", 100.0 * (p - s.measured_s) / s.measured_s),
            k.class.name().to_string(),
            format!("{}x{}", k.tile[0], k.tile[1]),
            k.split.to_string(),
            k.bound().to_string(),
        ])
        .map_err(|e| e.to_string())?;
        let series = if s.file == "gemm" {
            format!("gemm {}", s.group)
        } else {
            s.file.to_string()
        };
        points.push(Comparison {
            series,
            measured: s.measured_s * 1e6,
            predicted: p * 1e6,
        });
    }
    crate::files::commit_csv(w).map_err(|e| e.to_string())?;

    f.line("## Calibration (preset `h100_sxm`, `Calibration::h100()`)\n");
    f.line("In-sample MAPE with the preset constants (fitted on all rows of each file):\n");
    f.line("| rows | n | MAPE |\n|---|---|---|");
    let groups: [(&str, Vec<&Sample>); 7] = [
        (
            "gemm.csv bf16",
            gemm.iter().filter(|s| s.group == "bf16").collect(),
        ),
        (
            "gemm.csv fp16 (never fitted)",
            gemm.iter().filter(|s| s.group == "fp16").collect(),
        ),
        (
            "gemm.csv fp32 (never fitted)",
            gemm.iter().filter(|s| s.group == "fp32").collect(),
        ),
        ("attn.csv", attn.iter().collect()),
        ("conv.csv", conv.iter().collect()),
        ("ops.csv", ops.iter().collect()),
        (
            "all kernels",
            gemm.iter().chain(&attn).chain(&conv).chain(&ops).collect(),
        ),
    ];
    for (name, rows) in &groups {
        f.line(format!(
            "| {name} | {} | {} |",
            rows.len(),
            pct(v::mape(&spec, &cal, rows))
        ));
    }

    // Cross-validation.
    f.line("\n## 5-fold cross-validation (fit on 4/5, test on the held-out 1/5)\n");
    let bf16 = &groups[0].1;
    let cv = v::cross_validate(
        &spec,
        &Calibration::initial_guess(),
        fitted::GEMM,
        bf16,
        5,
        ITERS,
    );
    let held_out = |name: &str, names: &[&str], rows: &[&Sample]| -> CrossValidation {
        let mut start = cal.clone();
        for n in names {
            if let (Some(p), Some(g)) = (start.param_mut(n), Calibration::initial_guess().param(n))
            {
                *p = g;
            }
        }
        let r = v::cross_validate(&spec, &start, names, rows, 5, ITERS / 4);
        println!("{name}: held-out mean {}", pct(r.mean_mape));
        r
    };
    let cv_attn = held_out("attn", fitted::ATTENTION, &groups[3].1);
    let cv_conv = held_out("conv", fitted::CONV, &groups[4].1);
    let mut w =
        crate::files::csv_writer(&out.join("cross_validation.csv")).map_err(|e| e.to_string())?;
    w.write_record([
        "fold",
        "gemm_bf16_train_rows",
        "gemm_bf16_test_rows",
        "gemm_bf16_train_mape_pct",
        "gemm_bf16_test_mape_pct",
        "gemm_fp16_mape_pct",
        "gemm_fp32_mape_pct",
        "attn_test_mape_pct",
        "conv_test_mape_pct",
    ])
    .map_err(|e| e.to_string())?;
    let (mut e16, mut e32) = (Vec::new(), Vec::new());
    for (i, fold) in cv.folds.iter().enumerate() {
        let a = v::mape(&spec, &fold.calibration, &groups[1].1);
        let b = v::mape(&spec, &fold.calibration, &groups[2].1);
        e16.push(a);
        e32.push(b);
        w.write_record([
            i.to_string(),
            fold.train_rows.to_string(),
            fold.test_rows.to_string(),
            format!("{:.3}", 100.0 * fold.train_mape),
            format!("{:.3}", 100.0 * fold.test_mape),
            format!("{:.3}", 100.0 * a),
            format!("{:.3}", 100.0 * b),
            format!("{:.3}", 100.0 * cv_attn.folds[i].test_mape),
            format!("{:.3}", 100.0 * cv_conv.folds[i].test_mape),
        ])
        .map_err(|e| e.to_string())?;
    }
    crate::files::commit_csv(w).map_err(|e| e.to_string())?;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
    let worst = |x: &[f64]| x.iter().copied().fold(0.0, f64::max);
    f.line("| held-out set | bound | mean over folds | worst fold |\n|---|---|---|---|");
    f.line(format!(
        "| gemm.csv bf16 (GEMM constants refitted per fold) | 10% | {} | {} |",
        pct(cv.mean_mape),
        pct(cv.worst_mape)
    ));
    f.line(format!(
        "| gemm.csv fp16, with each fold's bf16 fit | 15% | {} | {} |",
        pct(mean(&e16)),
        pct(worst(&e16))
    ));
    f.line(format!(
        "| gemm.csv fp32, with each fold's bf16 fit | 15% | {} | {} |",
        pct(mean(&e32)),
        pct(worst(&e32))
    ));
    f.line(format!(
        "| attn.csv (attention constants refitted per fold) | 15% | {} | {} |",
        pct(cv_attn.mean_mape),
        pct(cv_attn.worst_mape)
    ));
    f.line(format!(
        "| conv.csv (convolution constants refitted per fold) | 15% | {} | {} |",
        pct(cv_conv.mean_mape),
        pct(cv_conv.worst_mape)
    ));

    // Whole steps, check only.
    f.line("\n## Whole steps (check only: no constant was fitted to them)\n");
    f.line("| file | step | mode | measured | predicted | error |\n|---|---|---|---|---|---|");
    let mut w = crate::files::csv_writer(&out.join("steps.csv")).map_err(|e| e.to_string())?;
    w.write_record([
        "file",
        "step",
        "mode",
        "measured_ms",
        "predicted_ms",
        "error_pct",
    ])
    .map_err(|e| e.to_string())?;
    let mut step_errors: Vec<(String, String, f64)> = Vec::new();
    let mut step = |file: &str,
                    name: String,
                    mode: &str,
                    measured: f64,
                    predicted: f64|
     -> Result<(), String> {
        let err = (predicted - measured) / measured;
        step_errors.push((file.to_string(), mode.to_string(), err));
        f.line(format!(
            "| {file} | {name} | {mode} | {:.3} ms | {:.3} ms | {:+.1}% |",
            measured * 1e3,
            predicted * 1e3,
            100.0 * err
        ));
        w.write_record([
            file.to_string(),
            name,
            mode.to_string(),
            format!("{:.4}", measured * 1e3),
            format!("{:.4}", predicted * 1e3),
            format!("{:.2}", 100.0 * err),
        ])
        .map_err(|e| e.to_string())?;
        points.push(Comparison {
            series: file.to_string(),
            measured: measured * 1e6,
            predicted: predicted * 1e6,
        });
        Ok(())
    };
    let launch = |mode: &str| {
        if mode == "eager" {
            LaunchMode::Eager
        } else {
            LaunchMode::CudaGraph
        }
    };
    for r in v::parse_llm(&read(data, "llm.csv")?)? {
        let g = Gpu::from_parts(spec.clone(), cal.clone(), launch(&r.mode));
        let p = v::predict_llm(&g, &r)?;
        let name = format!(
            "{} {} b{} prompt {} ctx {}",
            r.model, r.phase, r.batch, r.prompt_len, r.context_len
        );
        step("llm.csv", name, &r.mode, r.measured_s, p)?;
    }
    for line in read(data, "models.csv")?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let c: Vec<&str> = line.split(',').collect();
        let [model, batch, seq, _dtype, mode, median_us, ..] = c.as_slice() else {
            return Err(format!("models.csv: bad line `{line}`"));
        };
        let batch: u64 = batch
            .parse()
            .map_err(|_| format!("models.csv: batch `{batch}`"))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("models.csv: seq `{seq}`"))?;
        let measured: f64 = median_us
            .parse::<f64>()
            .map_err(|_| format!("models.csv: time `{median_us}`"))?
            * 1e-6;
        let seq_len = llm::spec(model).is_some().then_some(seq);
        let wl = zoo::build_seq(model, batch, DType::Bf16, seq_len).map_err(|e| e.to_string())?;
        let g = Gpu::from_parts(spec.clone(), cal.clone(), launch(mode));
        step(
            "models.csv",
            format!("{model} b{batch} {seq}"),
            mode,
            measured,
            g.predict(&wl),
        )?;
    }
    crate::files::commit_csv(w).map_err(|e| e.to_string())?;

    // In-network kernel lists (kernels.csv): calibration of the in-network constants.
    f.line(
        "\n## Kernels inside a network (`kernels.csv`, `framework: pytorch`, CUDA-graph context)\n",
    );
    f.line("The in-network constants (`fitted::NETWORK`) are fitted on these lists; `archsim validate` prints the same comparison for any config and measured list.\n");
    f.line("| case | family | predicted | measured | error | kernels (predicted / measured) |\n|---|---|---|---|---|---|");
    let graph_gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::CudaGraph);
    let cases = v::parse_kernel_cases(&read(data, "kernels.csv")?)?;
    let mut resnet = (0.0, 0.0, 0.0f64);
    for c in &cases {
        let pred = v::predicted_kernels(&graph_gpu, &c.workload, c.prefix);
        let pt: Vec<_> = pred.iter().map(|p| (p.0, p.2)).collect();
        let t = archsim_accelerators::gpu::trace::FamilyTotals::of(&pt, &c.measured);
        for (fam, r) in &t.rows {
            let worst = (r.0 - r.1).abs() / r.1.max(1e-12);
            if c.name == "resnet50_b32" {
                resnet.2 = resnet.2.max(worst);
            }
            f.line(format!(
                "| {} | {} | {:.1} µs | {:.1} µs | {:+.1}% | {} / {} |",
                c.name,
                fam.name(),
                r.0 * 1e6,
                r.1 * 1e6,
                100.0 * (r.0 - r.1) / r.1.max(1e-12),
                r.2,
                r.3
            ));
        }
        let (p, m) = t.totals();
        if c.name == "resnet50_b32" {
            resnet.0 = p;
            resnet.1 = m;
        }
        f.line(format!(
            "| {} | **total** | {:.1} µs | {:.1} µs | {:+.1}% | {} / {} |",
            c.name,
            p * 1e6,
            m * 1e6,
            100.0 * (p - m) / m,
            pred.len(),
            c.measured.len()
        ));
    }

    // Every acceptance check with its figure.
    f.line("\n## Checks\n");
    f.line("| check | bound | figure | met |\n|---|---|---|---|");
    let mut check = |what: String, bound: f64, figure: f64| {
        f.line(format!(
            "| {what} | {:.0}% | {:.1}% | {} |",
            100.0 * bound,
            100.0 * figure,
            if figure <= bound { "yes" } else { "**no**" }
        ));
    };
    let worst_of = |file: &str, mode: Option<&str>| {
        step_errors
            .iter()
            .filter(|(f, m, _)| f == file && mode.is_none_or(|x| x == m))
            .map(|(_, _, e)| e.abs())
            .fold(0.0, f64::max)
    };
    check(
        "5-fold CV, bf16 GEMM (mean held-out MAPE)".into(),
        0.10,
        cv.mean_mape,
    );
    check(
        "5-fold CV, attention (mean)".into(),
        0.15,
        cv_attn.mean_mape,
    );
    check(
        "5-fold CV, convolution (mean)".into(),
        0.15,
        cv_conv.mean_mape,
    );
    check(
        "llm.csv, every CUDA-graph row (worst absolute error)".into(),
        0.10,
        worst_of("llm.csv", Some("cudagraph")),
    );
    check(
        "llm.csv, every eager row (worst absolute error)".into(),
        0.10,
        worst_of("llm.csv", Some("eager")),
    );
    check(
        "models.csv, every row (worst absolute error)".into(),
        0.15,
        worst_of("models.csv", None),
    );
    check(
        "ResNet-50 b32 kernel list, total GPU time".into(),
        0.10,
        (resnet.0 - resnet.1).abs() / resnet.1.max(1e-12),
    );
    check(
        "ResNet-50 b32 kernel list, worst kernel family".into(),
        0.20,
        resnet.2,
    );

    f.line("\n## Constants\n");
    f.line(format!("```text\n{cal:#?}\n```"));
    plot::predicted_vs_measured(
        &points,
        "µs",
        "H100 SXM: predicted vs measured (kernels and whole steps)",
        &out,
        "predicted_vs_measured",
    )?;
    roofline_plot(&spec, &cal, &out)?;
    crate::files::write(&out.join("summary.md"), &f.summary).map_err(|e| e.to_string())?;
    let mut listing = String::new();
    for name in [
        "summary.md",
        "kernels.csv",
        "cross_validation.csv",
        "steps.csv",
        "predicted_vs_measured.png",
        "predicted_vs_measured.svg",
        "roofline.png",
        "roofline.svg",
    ] {
        let _ = writeln!(listing, "  {}", out.join(name).display());
    }
    println!("wrote:\n{listing}");
    Ok(())
}

/// LLaMA-2-7B's prefill (2048 tokens) and decode (batch 1) kernels on the H100 roofline.
fn roofline_plot(spec: &GpuSpec, cal: &Calibration, out: &Path) -> Result<(), String> {
    let gpu = Gpu::from_parts(spec.clone(), cal.clone(), LaunchMode::CudaGraph);
    let mut points = Vec::new();
    for (phase, prompt, context) in [
        (llm::Phase::Prefill, 2048, None),
        (llm::Phase::Decode, 2048, Some(2049)),
    ] {
        let cfg = llm::LlmConfig {
            model: "llama2_7b".into(),
            phase,
            batch: 1,
            prompt_len: prompt,
            context_len: context,
            layers: Some(1),
            tp: 1,
            moe_skew: 0.0,
            ..Default::default()
        };
        let w = llm::lower(&cfg, DType::Bf16).map_err(|e| e.to_string())?;
        let tag = if phase == llm::Phase::Prefill {
            "prefill"
        } else {
            "decode"
        };
        for op in w.ops() {
            let e = gpu.kernel(op);
            let t = gpu.stream_latency(&e);
            if e.launches == 0 || e.flops <= 0.0 || t <= 0.0 {
                continue;
            }
            let bytes = e.hbm_bytes.max(1.0);
            points.push(RooflinePoint {
                series: format!("{tag} {}", op.class()),
                intensity: e.flops / bytes,
                flops_per_s: e.flops / t,
            });
        }
    }
    let hbm = spec.hbm_gbps * 1e9;
    let roofs = [
        Roof {
            label: format!(
                "bf16 tensor datasheet ({:.0} TF/s, {:.2} TB/s)",
                spec.tensor_tflops.bf16.unwrap_or(0.0),
                hbm / 1e12
            ),
            peak_flops: spec.tensor_tflops.bf16.unwrap_or(0.0) * 1e12,
            bandwidth: hbm,
        },
        Roof {
            label: "bf16 measured peak and copy bandwidth (info.json)".into(),
            peak_flops: archsim_accelerators::gpu::calib::info::PEAK_BF16_TFLOPS * 1e12,
            bandwidth: archsim_accelerators::gpu::calib::info::COPY_GBPS * 1e9,
        },
        Roof {
            label: format!("fp32 CUDA cores ({:.1} TF/s)", spec.cuda_tflops),
            peak_flops: spec.cuda_tflops * 1e12,
            bandwidth: hbm,
        },
    ];
    plot::roofline(
        &roofs,
        &points,
        "LLaMA-2-7B kernels (one layer, bf16) on the H100 SXM roofline (CUDA graph)",
        out,
        "roofline",
    )
}

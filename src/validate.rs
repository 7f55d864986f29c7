//! `archsim validate MEASURED --config CONFIG`: archsim's kernel list for a GPU config held
//! against a measured one.
//!
//! MEASURED is a `kernels.csv`-format file (`case,idx,kernel,duration_us`, as in
//! `tests/data/gpu/h100/kernels.csv`) or a Chrome trace exported by `torch.profiler`
//! (`prof.export_chrome_trace(...)` with `ProfilerActivity.CUDA`). The kernels are matched by
//! family in launch order (see `archsim_accelerators::gpu::trace`); the command prints and
//! writes predicted against measured time per family and per matched kernel, and plots them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use archsim_accelerators::gpu::program::KernelGroup;
use archsim_accelerators::gpu::trace::{self, FamilyTotals, MeasuredKernel};
use archsim_accelerators::gpu::{self, validation, Gpu};

use archsim_workloads::input::InputKind;

use crate::{ConfigError, Error};

fn bad(file: &Path, message: String) -> Error {
    Error::Config(ConfigError {
        file: file.display().to_string(),
        location: None,
        key: None,
        message,
        from_override: None,
    })
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
    measured: &Path,
    config: &Path,
    case: Option<&str>,
    prefix: &str,
    out: &Path,
) -> Result<String, Error> {
    // The output folder is checked (and held) before any work.
    let held = crate::files::OutDir::prepare(out)?;
    let text = crate::config::read_file(config)?;
    let cfg = crate::config::load_str(&text, &config.display().to_string(), &[])?;
    let Some(gpu_cfg) = gpu::config_of(&cfg.accelerator) else {
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

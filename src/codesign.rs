//! `archsim run` of a config with a `codesign:` section: NASAIC's comparison of
//! co-exploration against successive search (see [`archsim_gym::codesign`]).
//!
//! Writes `comparison.csv` (one row per method: spec violations, per-task accuracy and latency,
//! energy, area, networks and sub-accelerators) and `summary.md` into the output folder.

use std::fmt::Write as _;
use std::path::Path;

use archsim_gym::codesign::{co_explore, successive, CoDesignConfig, CoResult, CsvOracle};

use crate::{ConfigError, Error};

fn cfg_error(file: &str, key: &str, message: String) -> Error {
    Error::Config(ConfigError {
        file: file.to_string(),
        location: None,
        key: Some(key.to_string()),
        from_override: None,
        message,
    })
}

/// Parses the `codesign:` section of `value` (the whole config file as a value), after
/// applying `--set a.b.c=VALUE` overrides (the value is read as YAML).
pub fn parse(
    value: &serde_json::Value,
    file: &str,
    set: &[String],
) -> Result<CoDesignConfig, Error> {
    let mut value = value.clone();
    for s in set {
        let (path, raw) = s
            .split_once('=')
            .ok_or_else(|| cfg_error(file, s, "expected KEY=VALUE".into()))?;
        let v: serde_json::Value = serde_saphyr::from_str(raw)
            .map_err(|e| cfg_error(file, path, format!("bad value: {e}")))?;
        let mut node = &mut value;
        for seg in path.split('.') {
            let Some(map) = node.as_object_mut() else {
                return Err(cfg_error(file, path, "not a mapping".into()));
            };
            node = map
                .entry(seg.to_string())
                .or_insert(serde_json::Value::Object(Default::default()));
        }
        *node = v;
    }
    let section = value
        .get("codesign")
        .cloned()
        .ok_or_else(|| cfg_error(file, "codesign", "missing".into()))?;
    let cfg: CoDesignConfig = serde_path_to_error::deserialize(section).map_err(|e| {
        cfg_error(
            file,
            &format!("codesign.{}", e.path()),
            e.inner().to_string(),
        )
    })?;
    cfg.validate().map_err(|m| cfg_error(file, "codesign", m))?;
    Ok(cfg)
}

/// Runs both searches and writes the comparison into `dir`; returns `[co-exploration,
/// successive]`.
pub fn run(cfg: &CoDesignConfig, base_dir: &Path, dir: &Path) -> Result<[CoResult; 2], Error> {
    let oracle_path = base_dir.join(&cfg.oracle);
    let oracle = CsvOracle::from_path(&oracle_path).map_err(|m| Error::Io {
        path: oracle_path.display().to_string(),
        message: m,
    })?;
    let model = |m: String| Error::Io {
        path: "codesign".into(),
        message: m,
    };
    let co = co_explore(cfg, &oracle).map_err(model)?;
    let succ = successive(cfg, &oracle).map_err(model)?;
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let n = cfg.tasks.len();
    let mut csv = String::from("method,violations,weighted_accuracy");
    for t in &cfg.tasks {
        write!(csv, ",{0}_accuracy,{0}_latency_ms", t.dataset).ok();
    }
    csv.push_str(",energy_mj,area_mm2");
    for t in &cfg.tasks {
        write!(csv, ",{0}_arch,{0}_sub", t.dataset).ok();
    }
    csv.push('\n');
    let h = &cfg.hardware;
    for (name, r) in [("co-exploration", &co), ("successive", &succ)] {
        write!(
            csv,
            "{name},{},{:.4}",
            r.eval.violations.len(),
            r.eval.weighted_accuracy
        )
        .ok();
        for t in 0..n {
            write!(
                csv,
                ",{:.4},{:.6}",
                r.eval.accuracy[t], r.eval.latency_ms[t]
            )
            .ok();
        }
        write!(csv, ",{:.6},{:.4}", r.eval.energy_mj, r.eval.area_mm2).ok();
        for t in 0..n {
            let [d, ro, c, s] = r.point.hw[t];
            write!(
                csv,
                ",{},{} {}x{} sram {} KiB",
                r.archs[t],
                h.dataflows[d].name(),
                h.rows[ro],
                h.cols[c],
                h.sram_kib[s]
            )
            .ok();
        }
        csv.push('\n');
    }
    let p = dir.join("comparison.csv");
    std::fs::write(&p, csv).map_err(|e| io(&p, e))?;
    let mut md = String::from("# NASAIC: co-exploration vs successive search\n\n");
    writeln!(
        md,
        "Budget {} evaluations per method, seed {}, oracle `{}` ({} networks).\n",
        cfg.budget,
        cfg.seed,
        cfg.oracle.display(),
        oracle_len(&oracle)
    )
    .ok();
    md.push_str("| method | spec violations | weighted acc. % | energy mJ | area mm² |\n|---|---|---|---|---|\n");
    for (name, r) in [("co-exploration", &co), ("successive", &succ)] {
        writeln!(
            md,
            "| {name} | {} | {:.2} | {:.4} | {:.3} |",
            if r.eval.violations.is_empty() {
                "none".to_string()
            } else {
                r.eval.violations.join("; ")
            },
            r.eval.weighted_accuracy,
            r.eval.energy_mj,
            r.eval.area_mm2
        )
        .ok();
    }
    writeln!(
        md,
        "\nAccuracy cost of co-exploration: {:.2} points (weighted).",
        succ.eval.weighted_accuracy - co.eval.weighted_accuracy
    )
    .ok();
    let p = dir.join("summary.md");
    std::fs::write(&p, md).map_err(|e| io(&p, e))?;
    Ok([co, succ])
}

fn oracle_len(o: &CsvOracle) -> usize {
    use archsim_gym::codesign::AccuracyOracle;
    o.len()
}

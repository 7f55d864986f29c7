//! A sweep's figures: the heatmap of a metric over two swept parameters, and the convergence
//! of a sweep of searches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::rank::config_label;
use super::table::cell;
use super::JournalEntry;
use crate::{ConfigError, Error};

/// Draws `heatmap.{png,svg}`: the first two swept parameters that take several values, against
/// `latency_s` (mean over the other parameters). Nothing when fewer than two parameters vary
/// or no point has a latency.
pub fn heatmap(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    match heatmap_of(entries, dir, None, None, "latency_s") {
        Err(Error::Config(_)) => Ok(Vec::new()),
        r => r,
    }
}

/// Draws the heatmap of `metric` (mean over the other parameters) against the swept
/// parameters `x` and `y` (default: the first two that take several values) into
/// [`heatmap_stem`]`.{png,svg}`, so that heatmaps of different metrics sit side by side. A name
/// that is not swept, or a metric no point has, is an error that lists the choices.
pub fn heatmap_of(
    entries: &[JournalEntry],
    dir: &Path,
    x: Option<&str>,
    y: Option<&str>,
    metric: &str,
) -> Result<Vec<PathBuf>, Error> {
    let bad = |message: String| Error::Config(ConfigError::new(dir.display().to_string(), message));
    let Some(first) = entries.first() else {
        return Err(bad("the sweep has no finished points".into()));
    };
    let varying: Vec<&str> = first
        .point
        .keys()
        .filter(|k| {
            let mut vals: Vec<String> = entries
                .iter()
                .filter_map(|e| e.point.get(*k).map(cell))
                .collect();
            vals.sort();
            vals.dedup();
            vals.len() > 1
        })
        .map(String::as_str)
        .collect();
    let pick = |want: Option<&str>, skip: Option<&str>| -> Result<String, Error> {
        match want {
            Some(w) if varying.contains(&w) => Ok(w.to_string()),
            Some(w) => Err(bad(format!(
                "`{w}` is not a swept parameter that varies (these are: {})",
                varying.join(", ")
            ))),
            None => varying
                .iter()
                .copied()
                .find(|k| Some(*k) != skip)
                .map(str::to_string)
                .ok_or_else(|| bad("a heatmap needs two swept parameters that vary".into())),
        }
    };
    let xk = pick(x, y)?;
    let yk = pick(y, Some(&xk))?;
    if xk == yk {
        return Err(bad(format!("x and y are both `{xk}`")));
    }
    let cells: Vec<crate::plot::HeatCell> = entries
        .iter()
        .filter_map(|e| {
            let v = e.metrics.get(metric)?.as_f64()?;
            Some((e.point.get(&xk).map(cell)?, e.point.get(&yk).map(cell)?, v))
        })
        .collect();
    if cells.is_empty() {
        let mut names: Vec<&String> = entries.iter().flat_map(|e| e.metrics.keys()).collect();
        names.sort();
        names.dedup();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        return Err(bad(format!(
            "no point has the metric `{metric}` (these do: {})",
            names.join(", ")
        )));
    }
    let title = format!("{metric} (mean)");
    let stem = heatmap_stem(metric);
    let file = |ext: &str| dir.join(format!("{stem}.{ext}"));
    let tables = crate::plot::heatmap(&cells, &title, &xk, &yk, dir, &stem).map_err(Error::File)?;
    Ok([file("png"), file("svg")]
        .into_iter()
        .chain(tables)
        .collect())
}

/// The file stem of a sweep's heatmap of `metric`: `heatmap` for `latency_s` (the one a sweep
/// draws itself), `heatmap_<metric>` for any other, so `archsim plot --metric energy_j` adds
/// `heatmap_energy_j.png` beside `heatmap.png` instead of replacing it.
pub fn heatmap_stem(metric: &str) -> String {
    if metric == "latency_s" {
        "heatmap".to_string()
    } else {
        let safe: String = metric
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("heatmap_{safe}")
    }
}

/// For a sweep of searches: `convergence.{png,svg}`, the best cost so far against evaluations per
/// configuration, median and spread over the seeds.
pub fn convergence_plot(entries: &[JournalEntry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut groups: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for e in entries.iter().filter(|e| !e.trace.is_empty()) {
        groups
            .entry(config_label(e))
            .or_default()
            .push(e.trace.clone());
    }
    let runs: Vec<crate::plot::Runs> = groups.into_iter().collect();
    crate::plot::convergence(
        &runs,
        "best cost so far over evaluations, across seeds",
        dir,
        "convergence",
    )
    .map_err(Error::File)?;
    Ok(vec![
        dir.join("convergence.png"),
        dir.join("convergence.svg"),
    ])
}

//! A design-space heatmap of two parameters against a metric.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, png_and_svg, Figure};

/// One cell of a heatmap: x category, y category, value.
pub type HeatCell = (String, String, f64);

/// Pixels of the heatmap's plotting area (the figure less the colour bar, the label areas and
/// the margins), and of one tick label's character at the label size.
const PLOT_W: usize = 900 - 130 - 90 - 24;
const PLOT_H: usize = 650 - 30 - 45 - 24;
const CHAR_W: usize = 7;
const ROW_H: usize = 16;
/// Most characters of a y label that fit its label area.
const Y_LABEL_CHARS: usize = 11;

/// How an axis of categories is labelled: each category by name when the names fit side by
/// side, else by its index (every `step`-th labelled) with the names in a lookup table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Axis {
    Names,
    Index { step: usize },
}

impl Axis {
    fn of(names: &[String], room_px: usize, per_label_px: impl Fn(&str) -> usize) -> Axis {
        let need: usize = names.iter().map(|n| per_label_px(n)).max().unwrap_or(0) * names.len();
        if need <= room_px {
            return Axis::Names;
        }
        // About ten index labels: a 1-2-5 step.
        let raw = names.len().div_ceil(10).max(1);
        let mut p = 1;
        loop {
            for m in [1, 2, 5] {
                if m * p >= raw {
                    return Axis::Index { step: m * p };
                }
            }
            p *= 10;
        }
    }
}

/// Writes `<stem>.png` and `<stem>.svg`: a design-space heatmap of two parameters. Cells with the
/// same `(x, y)` are averaged; categories keep their first-seen order; colour runs from blue
/// (lowest) to red (highest), and a cell large enough to hold its value is labelled with it.
/// An axis whose category names do not fit side by side (5,000 NAS-Bench-201 cells) is
/// labelled by index instead, every so many, and `<stem>_x.csv` (or `_y.csv`) beside the plot
/// maps each index to its name; returns the lookup tables written.
pub fn heatmap(
    cells: &[HeatCell],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, String> {
    let mut xs: Vec<String> = Vec::new();
    let mut ys: Vec<String> = Vec::new();
    for (x, y, _) in cells {
        if !xs.contains(x) {
            xs.push(x.clone());
        }
        if !ys.contains(y) {
            ys.push(y.clone());
        }
    }
    let mut sum = vec![vec![(0.0, 0u32); ys.len()]; xs.len()];
    for (x, y, v) in cells.iter().filter(|c| c.2.is_finite()) {
        let (i, j) = (
            xs.iter().position(|s| s == x).unwrap_or(0),
            ys.iter().position(|s| s == y).unwrap_or(0),
        );
        sum[i][j].0 += v;
        sum[i][j].1 += 1;
    }
    let grid: Vec<Vec<Option<f64>>> = sum
        .iter()
        .map(|col| {
            col.iter()
                .map(|&(s, n)| (n > 0).then(|| s / f64::from(n)))
                .collect()
        })
        .collect();
    let x_axis = Axis::of(&xs, PLOT_W, |n| n.chars().count() * CHAR_W + 8);
    let y_axis = if ys.iter().any(|n| n.chars().count() > Y_LABEL_CHARS) {
        Axis::of(&ys, 0, |_| 1)
    } else {
        Axis::of(&ys, PLOT_H, |_| ROW_H)
    };
    let mut tables = Vec::new();
    let mut descs = [x_desc.to_string(), y_desc.to_string()];
    for (axis, names, which, desc) in [(x_axis, &xs, "x", 0), (y_axis, &ys, "y", 1)] {
        let desc = &mut descs[desc];
        if axis == Axis::Names {
            continue;
        }
        let path = dir.join(format!("{stem}_{which}.csv"));
        write_lookup(&path, desc, names)?;
        *desc = format!(
            "{desc}: index of {} values, names in {}",
            names.len(),
            path.file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        );
        tables.push(path);
    }
    let figure = Heatmap {
        xs: &xs,
        ys: &ys,
        x_axis,
        y_axis,
        grid: &grid,
        title,
        x_desc: &descs[0],
        y_desc: &descs[1],
    };
    png_and_svg(dir, stem, (900, 650), &figure)?;
    Ok(tables)
}

/// The lookup table of an axis labelled by index: `index,<parameter>` rows.
fn write_lookup(path: &Path, param: &str, names: &[String]) -> Result<(), String> {
    let fail = |e: &csv::Error| crate::files::csv_error(path, e).to_string();
    let mut w = crate::files::csv_writer(path).map_err(|e| e.to_string())?;
    w.write_record(["index", param]).map_err(|e| fail(&e))?;
    for (i, n) in names.iter().enumerate() {
        w.write_record([i.to_string().as_str(), n.as_str()])
            .map_err(|e| fail(&e))?;
    }
    crate::files::commit_csv(w).map_err(|e| e.to_string())
}

struct Heatmap<'a> {
    /// The x categories, in first-seen order.
    xs: &'a [String],
    /// The y categories, in first-seen order.
    ys: &'a [String],
    /// How each axis is labelled.
    x_axis: Axis,
    y_axis: Axis,
    /// `grid[x][y]`: the mean of the cell, `None` when it has no finite value.
    grid: &'a [Vec<Option<f64>>],
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            xs,
            ys,
            x_axis,
            y_axis,
            grid,
            title,
            x_desc,
            y_desc,
        } = *self;
        let vals = grid.iter().flatten().flatten().copied();
        let (lo, hi) = vals.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let (nx, ny) = (xs.len().max(1), ys.len().max(1));
        let metric = title.split_whitespace().next().unwrap_or("");
        let root = root.titled(title, ("sans-serif", 18)).map_err(err)?;
        let (w, _) = root.dim_in_pixel();
        let (root, bar) = root.split_horizontally(w as i32 - 130);
        let colour_of = |t: f64| RGBColor((40.0 + 215.0 * t) as u8, 90, (255.0 - 215.0 * t) as u8);
        // The colour bar: lowest at the bottom, highest at the top, in the metric's unit.
        let mut scale = ChartBuilder::on(&bar)
            .margin(12)
            .margin_top(20)
            .x_label_area_size(45)
            .y_label_area_size(0)
            .right_y_label_area_size(80)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(err)?;
        scale
            .draw_series((0..100).map(|k| {
                let t = f64::from(k) / 100.0;
                Rectangle::new([(0.0, t), (1.0, t + 0.0101)], colour_of(t).filled())
            }))
            .map_err(err)?;
        let value_at = |t: f64| lo + t * (hi - lo).max(0.0);
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            if hi < lo {
                break;
            }
            bar.draw(&Text::new(
                human(metric, value_at(t)),
                (
                    62,
                    20 + ((1.0 - t) * (bar.dim_in_pixel().1 as f64 - 77.0)) as i32,
                ),
                ("sans-serif", 12),
            ))
            .map_err(err)?;
        }
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(90)
            .build_cartesian_2d(-0.5f64..nx as f64 - 0.5, -0.5f64..ny as f64 - 0.5)
            .map_err(err)?;
        // Ticks sit at cell centres (integers); other positions get no label. An axis
        // labelled by index names every `step`-th cell by its index.
        let label = |names: &[String], axis: Axis, v: f64| {
            if (v - v.round()).abs() > 1e-6 || v < 0.0 {
                return String::new();
            }
            let i = v.round() as usize;
            match axis {
                Axis::Names => names.get(i).cloned().unwrap_or_default(),
                Axis::Index { step } if i % step == 0 && i < names.len() => i.to_string(),
                Axis::Index { .. } => String::new(),
            }
        };
        let xl = |v: &f64| label(xs, x_axis, *v);
        let yl = |v: &f64| label(ys, y_axis, *v);
        let ticks = |n: usize, axis: Axis| match axis {
            Axis::Names => n + 1,
            Axis::Index { step } => n.div_ceil(step) + 1,
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(ticks(nx, x_axis))
            .y_labels(ticks(ny, y_axis))
            .x_label_formatter(&xl)
            .y_label_formatter(&yl)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        // A value is written in a cell only where it fits.
        let (cell_w, cell_h) = (PLOT_W / nx, PLOT_H / ny);
        let labelled = cell_w >= 52 && cell_h >= ROW_H;
        for (i, col) in grid.iter().enumerate() {
            for (j, v) in col.iter().enumerate() {
                let (x, y) = (i as f64, j as f64);
                let colour = match v {
                    Some(v) => colour_of((v - lo) / span),
                    None => RGBColor(220, 220, 220),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        colour.filled(),
                    )))
                    .map_err(err)?;
                if let (Some(v), true) = (v, labelled) {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            human(metric, *v),
                            (x - 0.2, y + 0.05),
                            ("sans-serif", 12).into_font().color(&WHITE),
                        )))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }
}

/// A value of `metric` for people: its unit from the name's suffix (`latency_s` in ms or µs,
/// `energy_j` in mJ, `area_mm2`, `power_w`, `*_bytes` in MB/GB), three significant figures.
pub(super) fn human(metric: &str, v: f64) -> String {
    let sig = |x: f64| {
        let a = x.abs();
        if a >= 100.0 {
            format!("{x:.0}")
        } else if a >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    let scaled = |units: &[(f64, &str)]| {
        let (f, u) = units
            .iter()
            .find(|(f, _)| v.abs() >= *f)
            .copied()
            .unwrap_or(*units.last().expect("units"));
        format!("{} {u}", sig(v / f))
    };
    if metric.ends_with("_s") {
        scaled(&[(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")])
    } else if metric.ends_with("_j") {
        scaled(&[(1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ")])
    } else if metric.ends_with("_bytes") {
        scaled(&[(1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")])
    } else if metric.ends_with("_mm2") {
        format!("{} mm2", sig(v))
    } else if metric.ends_with("_w") {
        format!("{} W", sig(v))
    } else if metric == "utilization" {
        format!("{:.1} %", v * 100.0)
    } else if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-2) {
        format!("{v:.3e}")
    } else {
        sig(v)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_printed_in_their_unit() {
        use super::human;
        assert_eq!(human("latency_s", 1.806e-3), "1.81 ms");
        assert_eq!(human("energy_j", 0.0123), "12.3 mJ");
        assert_eq!(human("dram_bytes", 2.5e7), "25.0 MB");
        assert_eq!(human("area_mm2", 812.0), "812 mm2");
        assert_eq!(human("utilization", 0.356), "35.6 %");
        assert_eq!(human("total_cycles", 1234.0), "1234");
    }
}

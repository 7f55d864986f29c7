//! Cycles per op: compute and stall cycles stacked, and utilization, one row per op.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use archsim_sim::Report;

use super::{err, png_and_svg, Figure};

/// Most rows a per-op plot draws; a larger graph shows its slowest ops (in op order) and one
/// row that sums the others.
pub(super) const MAX_ROWS: usize = 48;

/// One bar of the plot: an op, or the sum of the ops not drawn.
struct Row {
    name: String,
    cycles: u64,
    compute_cycles: u64,
    stall_cycles: u64,
    utilization: f64,
}

/// The rows drawn for `r`: every op, or the `MAX_ROWS − 1` slowest in op order plus one row
/// `other N ops` (their cycles summed, utilization weighted by cycles).
fn rows(r: &Report) -> (Vec<Row>, Option<usize>) {
    let row = |o: &archsim_sim::OpReport| Row {
        name: o.name.clone(),
        cycles: o.cycles,
        compute_cycles: o.compute_cycles,
        stall_cycles: o.stall_cycles,
        utilization: o.utilization,
    };
    if r.ops.len() <= MAX_ROWS {
        return (r.ops.iter().map(row).collect(), None);
    }
    let mut by_cycles: Vec<usize> = (0..r.ops.len()).collect();
    by_cycles.sort_by(|&a, &b| r.ops[b].cycles.cmp(&r.ops[a].cycles).then(a.cmp(&b)));
    let mut keep = by_cycles[..MAX_ROWS - 1].to_vec();
    keep.sort_unstable();
    let rest = &by_cycles[MAX_ROWS - 1..];
    let mut out: Vec<Row> = keep.iter().map(|&i| row(&r.ops[i])).collect();
    let cycles: u64 = rest.iter().map(|&i| r.ops[i].cycles).sum();
    let weighted: f64 = rest
        .iter()
        .map(|&i| r.ops[i].utilization * r.ops[i].cycles as f64)
        .sum();
    out.push(Row {
        name: format!("other {} ops", rest.len()),
        cycles,
        compute_cycles: rest.iter().map(|&i| r.ops[i].compute_cycles).sum(),
        stall_cycles: rest.iter().map(|&i| r.ops[i].stall_cycles).sum(),
        utilization: if cycles > 0 {
            weighted / cycles as f64
        } else {
            0.0
        },
    });
    (out, Some(r.ops.len()))
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: one row per op (first op at the top), with
/// compute and stall cycles stacked on the left and utilization on the right. A graph of more
/// than [`MAX_ROWS`] ops shows its slowest ops and one row for the rest.
pub fn per_op_cycles(report: &Report, dir: &Path, stem: &str) -> Result<(), String> {
    let (rows, of) = rows(report);
    let size = (1100, (rows.len() as u32) * 18 + 150);
    png_and_svg(dir, stem, size, &PerOp(report, rows, of))
}

struct PerOp<'a>(&'a Report, Vec<Row>, Option<usize>);

/// A cycle count for a tick: `750`, `12.5k`, `3.2M`.
fn count(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{:.1}G", v / 1e9),
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.0}k", v / 1e3),
        a if a >= 1e3 => format!("{:.1}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
}

impl Figure for PerOp<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let (r, ops) = (self.0, &self.1);
        let title = format!(
            "{} on {}: {} cycles, {:.1}% utilization{}",
            r.workload,
            r.accelerator,
            r.total_cycles,
            r.utilization * 100.0,
            match self.2 {
                Some(all) => format!(" (the {} slowest of {all} ops)", MAX_ROWS - 1),
                None => String::new(),
            }
        );
        let root = root.titled(&title, ("sans-serif", 18)).map_err(err)?;
        let (left, right) = root.split_horizontally(760);
        let n = ops.len().max(1);
        // Row of op i, counted from the bottom so the first op is drawn at the top.
        let row = |i: usize| n - 1 - i;
        let name_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(y) if *y < n => ops
                .get(n - 1 - y)
                .map_or_else(String::new, |o| o.name.clone()),
            _ => String::new(),
        };
        let max_cycles = ops.iter().map(|o| o.cycles).max().unwrap_or(1).max(1) as f64 * 1.05;

        let mut chart = ChartBuilder::on(&left)
            .margin(8)
            .x_label_area_size(58)
            .y_label_area_size(170)
            .build_cartesian_2d(0f64..max_cycles, (0usize..n).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&name_of)
            .x_desc("cycles")
            .x_labels(6)
            .x_label_formatter(&|v| count(*v))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let compute = RGBColor(52, 101, 164);
        let stall = RGBColor(204, 0, 0);
        let bar = |y: usize, x0: f64, x1: f64, c: RGBColor| {
            Rectangle::new(
                [
                    (x0, SegmentValue::Exact(y)),
                    (x1, SegmentValue::Exact(y + 1)),
                ],
                c.filled(),
            )
        };
        chart
            .draw_series(
                ops.iter()
                    .enumerate()
                    .map(|(i, o)| bar(row(i), 0.0, o.compute_cycles as f64, compute)),
            )
            .map_err(err)?;
        chart
            .draw_series(ops.iter().enumerate().map(|(i, o)| {
                let base = o.cycles.saturating_sub(o.stall_cycles) as f64;
                bar(row(i), base, o.cycles as f64, stall)
            }))
            .map_err(err)?;
        // The legend sits under the axis, outside the bars.
        let (_, h) = left.dim_in_pixel();
        let y = h as i32 - 16;
        for (i, (label, c)) in [("compute cycles", compute), ("stall cycles", stall)]
            .into_iter()
            .enumerate()
        {
            let x = 180 + 150 * i as i32;
            left.draw(&Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()))
                .map_err(err)?;
            left.draw(&Text::new(label, (x + 16, y - 7), ("sans-serif", 13)))
                .map_err(err)?;
        }

        let mut util = ChartBuilder::on(&right)
            .margin(8)
            .margin_right(28)
            .x_label_area_size(58)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..100f64, (0usize..n).into_segmented())
            .map_err(err)?;
        util.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|_| String::new())
            .x_desc("utilization %")
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let green = RGBColor(78, 154, 6);
        util.draw_series(
            ops.iter()
                .enumerate()
                .map(|(i, o)| bar(row(i), 0.0, o.utilization * 100.0, green)),
        )
        .map_err(err)?;
        // A white rule between rows, so neighbouring bars stay apart.
        for y in 1..n {
            let rule = |hi: f64| {
                PathElement::new(
                    vec![(0.0, SegmentValue::Exact(y)), (hi, SegmentValue::Exact(y))],
                    WHITE.stroke_width(3),
                )
            };
            chart
                .draw_series(std::iter::once(rule(max_cycles)))
                .map_err(err)?;
            util.draw_series(std::iter::once(rule(100.0)))
                .map_err(err)?;
        }
        Ok(())
    }
}

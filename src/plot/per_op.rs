//! Cycles per op: compute and stall cycles stacked, and utilization, one row per op.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use archsim_sim::Report;

use super::{err, legend, png_and_svg, Figure};

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: one row per op (first op at the top), with
/// compute and stall cycles stacked on the left and utilization on the right.
pub fn per_op_cycles(report: &Report, dir: &Path, stem: &str) -> Result<(), String> {
    let size = (1100, (report.ops.len() as u32) * 16 + 140);
    png_and_svg(dir, stem, size, &PerOp(report))
}

struct PerOp<'a>(&'a Report);

impl Figure for PerOp<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let r = self.0;
        let title = format!(
            "{} on {}: {} cycles, {:.1}% utilization",
            r.workload,
            r.accelerator,
            r.total_cycles,
            r.utilization * 100.0
        );
        let root = root.titled(&title, ("sans-serif", 18)).map_err(err)?;
        let (left, right) = root.split_horizontally(760);
        let n = r.ops.len().max(1);
        // Row of op i, counted from the bottom so the first op is drawn at the top.
        let row = |i: usize| n - 1 - i;
        let name_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(y) if *y < n => r
                .ops
                .get(n - 1 - y)
                .map_or_else(String::new, |o| o.name.clone()),
            _ => String::new(),
        };
        let max_cycles = r.ops.iter().map(|o| o.cycles).max().unwrap_or(1).max(1) as f64 * 1.05;

        let mut chart = ChartBuilder::on(&left)
            .margin(8)
            .x_label_area_size(40)
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
            .x_label_formatter(&|v| format!("{v:.0}"))
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
                r.ops
                    .iter()
                    .enumerate()
                    .map(|(i, o)| bar(row(i), 0.0, o.compute_cycles as f64, compute)),
            )
            .map_err(err)?
            .label("compute")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], compute.filled()));
        chart
            .draw_series(r.ops.iter().enumerate().map(|(i, o)| {
                let base = o.cycles.saturating_sub(o.stall_cycles) as f64;
                bar(row(i), base, o.cycles as f64, stall)
            }))
            .map_err(err)?
            .label("stall")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], stall.filled()));
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)?;

        let mut util = ChartBuilder::on(&right)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..100f64, (0usize..n).into_segmented())
            .map_err(err)?;
        util.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|_| String::new())
            .x_desc("utilization %")
            .x_labels(6)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let green = RGBColor(78, 154, 6);
        util.draw_series(
            r.ops
                .iter()
                .enumerate()
                .map(|(i, o)| bar(row(i), 0.0, o.utilization * 100.0, green)),
        )
        .map_err(err)?;
        Ok(())
    }
}

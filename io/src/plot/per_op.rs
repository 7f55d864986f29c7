//! Cycles per op: compute and stall cycles stacked, and utilization, one row per op.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use archsim_sim::Report;

use super::{err, lin_axis, png_and_svg, Figure};

/// Most rows a per-op plot draws; a larger graph shows its slowest ops (in op order) and one
/// row that sums the others.
pub(super) const MAX_ROWS: usize = 48;

/// One bar of the plot: an op, or the sum of the ops not drawn.
struct Row {
    name: String,
    /// Index into the plot's groups (sub-accelerators of a multi-network run; one group else).
    group: usize,
    cycles: u64,
    compute_cycles: u64,
    stall_cycles: u64,
    utilization: f64,
}

/// The sub-accelerator an op of a multi-network run ran on (its engine up to the first `.`),
/// or `None` for a single network, whose rows stay in op order.
fn sub_accelerator(r: &Report, o: &archsim_sim::OpReport) -> Option<String> {
    r.tasks.as_ref()?;
    Some(o.engine.split('.').next().unwrap_or_default().to_string())
}

/// The rows drawn for `r` and the group names: every op, or the `MAX_ROWS − 1` slowest plus one
/// row `other N ops` (their cycles summed, utilization weighted by cycles). Several networks on
/// a heterogeneous chip are grouped by sub-accelerator (first seen first), each in op order.
fn rows(r: &Report) -> (Vec<Row>, Vec<String>, Option<usize>) {
    let mut groups: Vec<String> = Vec::new();
    let group_of: Vec<usize> = r
        .ops
        .iter()
        .map(|o| match sub_accelerator(r, o) {
            None => 0,
            Some(g) => groups.iter().position(|x| *x == g).unwrap_or_else(|| {
                groups.push(g);
                groups.len() - 1
            }),
        })
        .collect();
    let row = |i: usize| {
        let o = &r.ops[i];
        Row {
            name: o.name.clone(),
            group: group_of[i],
            cycles: o.cycles,
            compute_cycles: o.compute_cycles,
            stall_cycles: o.stall_cycles,
            utilization: o.utilization,
        }
    };
    let mut by_cycles: Vec<usize> = (0..r.ops.len()).collect();
    by_cycles.sort_by(|&a, &b| r.ops[b].cycles.cmp(&r.ops[a].cycles).then(a.cmp(&b)));
    let shown = if r.ops.len() <= MAX_ROWS {
        r.ops.len()
    } else {
        MAX_ROWS - 1
    };
    let mut keep = by_cycles[..shown].to_vec();
    keep.sort_unstable_by_key(|&i| (group_of[i], i));
    let mut out: Vec<Row> = keep.into_iter().map(row).collect();
    if shown == r.ops.len() {
        return (out, groups, None);
    }
    let rest = &by_cycles[shown..];
    let cycles: u64 = rest.iter().map(|&i| r.ops[i].cycles).sum();
    let weighted: f64 = rest
        .iter()
        .map(|&i| r.ops[i].utilization * r.ops[i].cycles as f64)
        .sum();
    out.push(Row {
        name: format!("other {} ops (summed)", rest.len()),
        group: usize::MAX,
        cycles,
        compute_cycles: rest.iter().map(|&i| r.ops[i].compute_cycles).sum(),
        stall_cycles: rest.iter().map(|&i| r.ops[i].stall_cycles).sum(),
        utilization: if cycles > 0 {
            weighted / cycles as f64
        } else {
            0.0
        },
    });
    (out, groups, Some(r.ops.len()))
}

/// Pixels a label of `chars` characters takes at the tick font (12 px sans-serif).
fn label_px(chars: usize) -> u32 {
    (chars as u32) * 7 + 14
}

/// Widest op-name column (px); longer names keep their tail, after a `…`.
const MAX_LABEL_PX: u32 = 330;

/// `name` cut to fit [`MAX_LABEL_PX`], keeping its end (the op, not the block path).
fn fit_label(name: &str) -> String {
    let max_chars = ((MAX_LABEL_PX - 14) / 7) as usize;
    let n = name.chars().count();
    if n <= max_chars {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (max_chars - 1)).collect();
    format!("…{tail}")
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: one row per op (first op at the top), with
/// compute and stall cycles stacked on the left and utilization on the right. A graph of more
/// than [`MAX_ROWS`] ops shows its slowest ops and one row for the rest.
pub fn per_op_cycles(report: &Report, dir: &Path, stem: &str) -> Result<(), String> {
    let (rows, groups, of) = rows(report);
    let size = (1100, (rows.len() as u32) * 18 + 170);
    png_and_svg(dir, stem, size, &PerOp(report, rows, groups, of))
}

struct PerOp<'a>(&'a Report, Vec<Row>, Vec<String>, Option<usize>);

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
        let (r, ops, groups) = (self.0, &self.1, &self.2);
        // Two title lines: what ran on what, then the totals (a long chip name stays whole).
        let lines = [
            format!("{} on {}", r.workload, r.accelerator),
            format!(
                "{} cycles, {:.1}% utilization{}",
                r.total_cycles,
                r.utilization * 100.0,
                match self.3 {
                    Some(all) => format!(" (the {} slowest of {all} ops)", MAX_ROWS - 1),
                    None => String::new(),
                }
            ),
        ];
        let (w, _) = root.dim_in_pixel();
        let (head, root) = root.split_vertically(52);
        for (i, line) in lines.iter().enumerate() {
            let size = if i == 0 { 17 } else { 14 };
            // Shrink a line that would not fit the width (about 0.6 em per character).
            let fit = ((w as f64 - 20.0) / (0.6 * line.chars().count().max(1) as f64)) as i32;
            let style = ("sans-serif", size.min(fit.max(9)))
                .into_font()
                .into_text_style(&head)
                .pos(Pos::new(HPos::Center, VPos::Top));
            head.draw(&Text::new(
                line.as_str(),
                (w as i32 / 2, 6 + 22 * i as i32),
                style,
            ))
            .map_err(err)?;
        }
        let (left, right) = root.split_horizontally(760);
        let n = ops.len().max(1);
        // Row of op i, counted from the bottom so the first op is drawn at the top.
        let row = |i: usize| n - 1 - i;
        let labels: Vec<String> = ops.iter().map(|o| fit_label(&o.name)).collect();
        let name_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(y) if *y < n => {
                labels.get(n - 1 - y).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        let label_area = labels
            .iter()
            .map(|l| label_px(l.chars().count()))
            .max()
            .unwrap_or(100)
            .clamp(100, MAX_LABEL_PX);
        // The axis spans the ops drawn; the summed rest, when longer, is cut at the axis end
        // and labelled with its total (else it would flatten every other bar).
        let max_op = ops
            .iter()
            .filter(|o| o.group != usize::MAX)
            .map(|o| o.cycles)
            .max()
            .unwrap_or(0);
        let max_cycles = if max_op == 0 {
            ops.iter().map(|o| o.cycles).max().unwrap_or(1).max(1)
        } else {
            max_op
        } as f64
            * 1.05;
        let clip = |v: u64| (v as f64).min(max_cycles);

        let mut chart = ChartBuilder::on(&left)
            .margin(8)
            .x_label_area_size(58)
            .y_label_area_size(label_area)
            .build_cartesian_2d(lin_axis(0f64..max_cycles), (0usize..n).into_segmented())
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
        // One compute colour per sub-accelerator when several networks share the chip (red is
        // kept for stalls); grey for the summed rest (compute and stall together).
        let group_colours = [
            compute,
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
            RGBColor(148, 103, 189),
            RGBColor(23, 190, 207),
        ];
        let colour_of = |g: usize| match g {
            usize::MAX => RGBColor(127, 127, 127),
            g => group_colours[g % group_colours.len()],
        };
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
                    .map(|(i, o)| bar(row(i), 0.0, clip(o.compute_cycles), colour_of(o.group))),
            )
            .map_err(err)?;
        chart
            .draw_series(ops.iter().enumerate().map(|(i, o)| {
                let base = clip(o.cycles.saturating_sub(o.stall_cycles));
                bar(row(i), base, clip(o.cycles), stall)
            }))
            .map_err(err)?;
        for (i, o) in ops.iter().enumerate() {
            if o.cycles as f64 > max_cycles {
                let at = (max_cycles * 0.98, SegmentValue::CenterOf(row(i)));
                let style = ("sans-serif", 12)
                    .into_font()
                    .color(&WHITE)
                    .pos(Pos::new(HPos::Right, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{} cycles in all →", count(o.cycles as f64)),
                        at,
                        style,
                    )))
                    .map_err(err)?;
            }
        }
        // The legend sits under the axis, outside the bars.
        let (_, h) = left.dim_in_pixel();
        let y = h as i32 - 16;
        let mut keys: Vec<(String, RGBColor)> = if groups.is_empty() {
            vec![("compute cycles".into(), compute)]
        } else {
            groups
                .iter()
                .enumerate()
                .map(|(g, name)| (format!("compute on {name}"), colour_of(g)))
                .collect()
        };
        keys.push(("stall cycles".into(), stall));
        let mut x = 20;
        for (label, c) in &keys {
            let (label, c) = (label.as_str(), *c);
            left.draw(&Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()))
                .map_err(err)?;
            left.draw(&Text::new(label, (x + 16, y - 7), ("sans-serif", 13)))
                .map_err(err)?;
            x += 16 + label_px(label.chars().count()) as i32 + 10;
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

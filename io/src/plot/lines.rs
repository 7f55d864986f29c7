//! Line plots: one line with markers per curve, on a logarithmic value axis when the curves
//! span orders of magnitude.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    axis_desc, draw_curves, draw_log_ticks, empty_panel, eng_tick, err, legend, lin_axis, log_axis,
    log_ticks, png_and_svg, Figure,
};

/// One curve of a line plot: a name and its (x, y) points.
pub type Curve = (String, Vec<(f64, f64)>);

/// Writes `<stem>.png` and `<stem>.svg`: one line per curve (e.g. per scheduler), with markers.
pub fn lines(
    curves: &[Curve],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    let figure = Lines {
        curves,
        title,
        x_desc,
        y_desc,
        markers: true,
        from_zero: true,
        legend: true,
        empty: "nothing to plot: no curve has a point",
    };
    png_and_svg(dir, stem, (900, 600), &figure)
}

/// One panel of [`best_so_far`]: an objective's best value after each evaluation.
#[derive(Debug, Clone)]
pub struct BestPanel {
    /// The panel's title, e.g. `latency (min)`.
    pub title: String,
    /// The value axis, with its unit in parentheses (`latency (s)`), so ticks carry it.
    pub y_desc: String,
    /// `(evaluation, best so far)` at each improvement, the last evaluation included (the
    /// curve is drawn as a staircase through them).
    pub steps: Vec<(f64, f64)>,
}

/// Writes `<stem>.png` and `<stem>.svg`: one panel per objective, stacked, each the best value
/// of that objective found so far against evaluations, in the objective's own unit (several
/// objectives are never summed: each panel's best may be another design). When no panel has a
/// point, the figure is the title over `empty` in a frame (e.g. "no feasible design").
pub fn best_so_far(
    panels: &[BestPanel],
    title: &str,
    empty: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    let figure = BestSoFar {
        panels,
        title,
        empty,
    };
    let height = 120 + 300 * panels.len().clamp(1, 4) as u32;
    png_and_svg(dir, stem, (900, height), &figure)
}

struct BestSoFar<'a> {
    panels: &'a [BestPanel],
    title: &'a str,
    empty: &'a str,
}

impl Figure for BestSoFar<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        if self.panels.iter().all(|p| p.steps.is_empty()) {
            return empty_panel(root, self.title, self.empty);
        }
        let root = root.titled(self.title, ("sans-serif", 18)).map_err(err)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (panel, area) in self.panels.iter().zip(&areas) {
            // A staircase: the best holds until the next improvement.
            let mut pts: Vec<(f64, f64)> = Vec::with_capacity(2 * panel.steps.len());
            for (i, &(x, y)) in panel.steps.iter().enumerate() {
                if i > 0 {
                    pts.push((x, panel.steps[i - 1].1));
                }
                pts.push((x, y));
            }
            let curves = [(panel.title.clone(), pts)];
            let lines = Lines {
                curves: &curves,
                title: &panel.title,
                x_desc: "evaluations",
                y_desc: &panel.y_desc,
                markers: false,
                from_zero: false,
                legend: false,
                empty: "no feasible design",
            };
            lines.draw(area)?;
        }
        Ok(())
    }
}

struct Lines<'a> {
    curves: &'a [Curve],
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// A marker on every point.
    markers: bool,
    /// A linear value axis starts at 0 (else it spans the values).
    from_zero: bool,
    /// A legend naming the curves.
    legend: bool,
    /// What the figure says when no curve has a point.
    empty: &'a str,
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        if self.curves.iter().all(|c| c.1.is_empty()) {
            return empty_panel(root, self.title, self.empty);
        }
        let pts = self.curves.iter().flat_map(|c| c.1.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, 0.0f64);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            if y > 0.0 {
                y0 = y0.min(y);
            }
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        // Curves that span orders of magnitude (saturated schedulers next to good ones) get a
        // logarithmic axis, so every curve stays readable.
        if y0 < f64::MAX && y1 / y0 > 30.0 {
            let y_desc = format!("{}, log scale", axis_desc(self.y_desc));
            let (lo, hi) = (y0 / 1.3, y1 * 1.3);
            let ticks = log_ticks(lo, hi);
            self.draw_on(
                root,
                &y_desc,
                lin_axis(x0..x1),
                log_axis(lo..hi).log_scale(),
                Some(&ticks),
            )
        } else {
            let range = if self.from_zero {
                0f64..(y1 * 1.08).max(1e-9)
            } else {
                // Hug the values: a best-so-far curve's changes are what is read.
                let lo = self
                    .curves
                    .iter()
                    .flat_map(|c| c.1.iter().map(|p| p.1))
                    .fold(f64::MAX, f64::min);
                let pad = ((y1 - lo) * 0.08).max(y1.abs() * 0.01).max(1e-12);
                (lo - pad)..(y1 + pad)
            };
            self.draw_on(
                root,
                &axis_desc(self.y_desc),
                lin_axis(x0..x1),
                lin_axis(range),
                None,
            )
        }
    }
}

impl Lines<'_> {
    /// The chart on the value axis `y` (linear or logarithmic), described as `y_desc`; a log
    /// axis gets its value ticks at `log_ticks` (1-2-5 steps of each decade).
    fn draw_on<DB: DrawingBackend, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        y_desc: &str,
        x: Range<f64>,
        y: Y,
        log_ticks: Option<&[f64]>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_desc)
            .x_label_formatter(&|v| eng_tick(*v, ""))
            .y_desc(y_desc)
            .label_style(("sans-serif", 13));
        let blank = |_: &f64| String::new();
        let tick = |v: &f64| eng_tick(*v, self.y_desc);
        if log_ticks.is_some() {
            mesh.disable_y_mesh().y_labels(0).y_label_formatter(&blank);
        } else {
            mesh.y_label_formatter(&tick);
        }
        mesh.draw().map_err(err)?;
        if let Some(ticks) = log_ticks {
            draw_log_ticks(&mut chart, root, ticks, self.y_desc, 13)?;
        }
        draw_curves(&mut chart, self.curves, self.markers)?;
        // The legend goes in the corner the curves leave emptiest.
        let (xr, yr) = (chart.x_range(), chart.y_range());
        let log = log_ticks.is_some();
        let frac = |v: f64, lo: f64, hi: f64, log: bool| {
            if log {
                (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln())
            } else {
                (v - lo) / (hi - lo)
            }
        };
        let corners = [
            (SeriesLabelPosition::UpperLeft, (0.0, 0.3), (0.65, 1.0)),
            (SeriesLabelPosition::UpperRight, (0.7, 1.0), (0.65, 1.0)),
            (SeriesLabelPosition::LowerRight, (0.7, 1.0), (0.0, 0.35)),
            (SeriesLabelPosition::LowerLeft, (0.0, 0.3), (0.0, 0.35)),
        ];
        let crowd = |(lx, hx): (f64, f64), (ly, hy): (f64, f64)| {
            self.curves
                .iter()
                .flat_map(|c| c.1.iter())
                .filter(|&&(x, y)| {
                    let fx = frac(x, xr.start, xr.end, false);
                    let fy = frac(y, yr.start, yr.end, log);
                    (lx..=hx).contains(&fx) && (ly..=hy).contains(&fy)
                })
                .count()
        };
        let pos = corners
            .iter()
            .min_by_key(|(_, xs, ys)| crowd(*xs, *ys))
            .map_or(SeriesLabelPosition::UpperLeft, |c| c.0.clone());
        if !self.legend {
            return Ok(());
        }
        legend(&mut chart, pos, 13)
    }
}

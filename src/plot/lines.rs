//! Line plots: one line with markers per curve, on a logarithmic value axis when the curves
//! span orders of magnitude.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    axis_desc, draw_curves, draw_log_ticks, eng_tick, err, legend, lin_axis, log_axis, log_ticks,
    png_and_svg, Figure,
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
    };
    png_and_svg(dir, stem, (900, 600), &figure)
}

struct Lines<'a> {
    curves: &'a [Curve],
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
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
            let range = lin_axis(0f64..(y1 * 1.08).max(1e-9));
            self.draw_on(root, &axis_desc(self.y_desc), lin_axis(x0..x1), range, None)
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
        draw_curves(&mut chart, self.curves, true)?;
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
        legend(&mut chart, pos, 13)
    }
}

//! Line plots: one line with markers per curve, on a logarithmic value axis when the curves
//! span orders of magnitude.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{axis_desc, eng_tick, err, legend, png_and_svg, Figure, PALETTE};

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
            let range = (y0 / 1.3..y1 * 1.3).log_scale();
            self.draw_on(root, &y_desc, x0..x1, range)
        } else {
            let range = 0f64..(y1 * 1.08).max(1e-9);
            self.draw_on(root, &axis_desc(self.y_desc), x0..x1, range)
        }
    }
}

impl Lines<'_> {
    /// The chart on the value axis `y` (linear or logarithmic), described as `y_desc`.
    fn draw_on<DB: DrawingBackend, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        y_desc: &str,
        x: Range<f64>,
        y: Y,
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
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .x_label_formatter(&|v| eng_tick(*v, ""))
            .y_label_formatter(&|v| eng_tick(*v, self.y_desc))
            .y_desc(y_desc)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        for (i, (name, points)) in self.curves.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)
    }
}

//! Predicted against measured values, on log axes.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, legend, log_axis, log_range, png_and_svg, series_names, short, Figure, PALETTE};

/// A point of a predicted-vs-measured plot.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Series (legend entry), e.g. `gemm bf16`.
    pub series: String,
    /// Measured value.
    pub measured: f64,
    /// Predicted value.
    pub predicted: f64,
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: predicted against measured values on log
/// axes (`unit` names them), one colour per series, with the identity and ±10 % lines.
pub fn predicted_vs_measured(
    points: &[Comparison],
    unit: &str,
    title: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    let figure = PredictedVsMeasured {
        points,
        unit,
        title,
    };
    png_and_svg(dir, stem, (900, 820), &figure)
}

struct PredictedVsMeasured<'a> {
    points: &'a [Comparison],
    unit: &'a str,
    title: &'a str,
}

impl Figure for PredictedVsMeasured<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            points,
            unit,
            title,
        } = *self;
        let (lo, hi) = log_range(points.iter().flat_map(|p| [p.measured, p.predicted]), 1.3);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(log_axis(lo..hi).log_scale(), log_axis(lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!("measured ({unit})"))
            .y_desc(format!("predicted ({unit})"))
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(150, 150, 150);
        for (f, style) in [
            (1.0, grey.stroke_width(2)),
            (1.1, grey.stroke_width(1)),
            (1.0 / 1.1, grey.stroke_width(1)),
        ] {
            chart
                .draw_series(LineSeries::new([(lo, lo * f), (hi, hi * f)], style))
                .map_err(err)?;
        }
        for (i, name) in series_names(points, |p| &p.series).iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| &p.series == name)
                        .map(|p| Circle::new((p.measured, p.predicted), 3, c.filled())),
                )
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 5, y), 4, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)
    }
}

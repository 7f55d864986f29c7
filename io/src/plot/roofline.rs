//! A roofline: compute ceilings with their memory slopes, and ops placed on them.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    err, legend, log_axis, log_range, png_and_svg, series_names, short, si, Figure, PALETTE,
};

/// One op placed on a roofline.
#[derive(Debug, Clone)]
pub struct RooflinePoint {
    /// Series (legend entry), e.g. the op class.
    pub series: String,
    /// FLOPs per byte of device memory traffic.
    pub intensity: f64,
    /// Achieved FLOP/s.
    pub flops_per_s: f64,
}

/// A roof: a compute ceiling with its memory slope.
#[derive(Debug, Clone)]
pub struct Roof {
    /// Legend entry.
    pub label: String,
    /// Compute ceiling, FLOP/s.
    pub peak_flops: f64,
    /// Memory bandwidth, bytes/s.
    pub bandwidth: f64,
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: the roofs (`min(peak, intensity ×
/// bandwidth)`) and the ops placed by arithmetic intensity and achieved throughput.
pub fn roofline(
    roofs: &[Roof],
    points: &[RooflinePoint],
    title: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    let figure = Roofline {
        roofs,
        points,
        title,
    };
    png_and_svg(dir, stem, (1000, 720), &figure)
}

struct Roofline<'a> {
    roofs: &'a [Roof],
    points: &'a [RooflinePoint],
    title: &'a str,
}

impl Figure for Roofline<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            roofs,
            points,
            title,
        } = *self;
        let (x_lo, x_hi) = log_range(points.iter().map(|p| p.intensity), 3.0);
        let (x_lo, x_hi) = (x_lo.min(0.1), x_hi.max(2000.0));
        let top = roofs.iter().map(|r| r.peak_flops).fold(0.0, f64::max);
        let (y_lo, _) = log_range(points.iter().map(|p| p.flops_per_s), 3.0);
        let (y_lo, y_hi) = (y_lo.min(top / 1e4), top * 2.0);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(
                log_axis(x_lo..x_hi).log_scale(),
                log_axis(y_lo..y_hi).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP per byte of device memory)")
            .y_desc("achieved FLOP/s")
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| si(*v))
            .draw()
            .map_err(err)?;
        let dark = [
            RGBColor(0, 0, 0),
            RGBColor(120, 120, 120),
            RGBColor(160, 60, 60),
        ];
        for (i, r) in roofs.iter().enumerate() {
            let c = dark[i % dark.len()];
            let knee = r.peak_flops / r.bandwidth;
            let line = vec![
                (x_lo, x_lo * r.bandwidth),
                (
                    knee.clamp(x_lo, x_hi),
                    r.peak_flops.min(knee.clamp(x_lo, x_hi) * r.bandwidth),
                ),
                (x_hi, r.peak_flops),
            ];
            chart
                .draw_series(LineSeries::new(line, c.stroke_width(2)))
                .map_err(err)?
                .label(r.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
        }
        for (i, name) in series_names(points, |p| &p.series).iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| &p.series == name && p.intensity > 0.0 && p.flops_per_s > 0.0)
                        .map(|p| Circle::new((p.intensity, p.flops_per_s), 4, c.filled())),
                )
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 5, y), 4, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)
    }
}

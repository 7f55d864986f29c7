//! Bus bandwidth against message size, nccl-tests style: a log₂ size axis labelled in binary
//! units (KiB, MiB, GiB), bandwidth on a linear axis; model curves as lines, measurements as
//! markers.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, legend, png_and_svg, Curve, Figure, PALETTE};

/// Writes `<stem>.png` and `<stem>.svg`: each of `lines` (x = bytes, y = GB/s) as a line and
/// each of `points` as markers of the same palette order.
pub fn bus_bandwidth(
    lines: &[Curve],
    points: &[Curve],
    title: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    png_and_svg(
        dir,
        stem,
        (900, 600),
        &BusBw {
            lines,
            points,
            title,
        },
    )
}

/// `bytes` in binary units: `512 B`, `4 KiB`, `1 MiB`, `1.5 GiB`.
pub fn binary_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if (v - v.round()).abs() < 1e-9 {
        format!("{} {}", v.round(), UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

struct BusBw<'a> {
    lines: &'a [Curve],
    points: &'a [Curve],
    title: &'a str,
}

impl Figure for BusBw<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let all = self
            .lines
            .iter()
            .chain(self.points)
            .flat_map(|c| c.1.iter())
            .filter(|p| p.0 > 0.0);
        let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
        for &(x, y) in all {
            x0 = x0.min(x.log2());
            x1 = x1.max(x.log2());
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        let (x0, x1) = (x0.floor(), x1.ceil().max(x0.floor() + 1.0));
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0f64..(y1 * 1.1).max(1e-9))
            .map_err(err)?;
        let ticks = (x1 - x0) as usize + 1;
        chart
            .configure_mesh()
            .x_desc("message size (log scale)")
            .y_desc("bus bandwidth (GB/s)")
            .x_labels(if ticks > 12 { ticks / 2 + 1 } else { ticks })
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 {
                    binary_bytes(v.round().exp2())
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let log = |c: &Curve| -> Vec<(f64, f64)> {
            c.1.iter()
                .filter(|p| p.0 > 0.0)
                .map(|&(x, y)| (x.log2(), y))
                .collect()
        };
        for (i, c) in self.lines.iter().enumerate() {
            let col = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(log(c), col.stroke_width(2)))
                .map_err(err)?
                .label(c.0.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], col.stroke_width(2)));
        }
        for (i, c) in self.points.iter().enumerate() {
            let col = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(log(c).into_iter().map(|p| Circle::new(p, 2, col.filled())))
                .map_err(err)?
                .label(c.0.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, col.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)
    }
}

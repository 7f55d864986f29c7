//! Convergence of optimizers: best cost so far against evaluations, median and quartile band
//! over seeds.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, legend, log_axis, png_and_svg, Figure, PALETTE};

/// One optimizer's convergence: its label and, per seed, the best cost after each evaluation.
pub type Runs = (String, Vec<Vec<f64>>);

/// Writes `<stem>.png` and `<stem>.svg`: best cost so far against evaluations, the median over
/// seeds as a line and the 25th–75th percentile band shaded, one colour per optimizer.
pub fn convergence(runs: &[Runs], title: &str, dir: &Path, stem: &str) -> Result<(), String> {
    png_and_svg(dir, stem, (1000, 640), &Convergence { runs, title })
}

struct Convergence<'a> {
    runs: &'a [Runs],
    title: &'a str,
}

/// 25th percentile, median, 75th percentile.
type Quartiles = (f64, f64, f64);

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Figure for Convergence<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        // Per optimizer and evaluation: (25th percentile, median, 75th percentile) over seeds.
        let bands: Vec<(String, Vec<Quartiles>)> = self
            .runs
            .iter()
            .map(|(label, seeds)| {
                let n = seeds.iter().map(Vec::len).max().unwrap_or(0);
                let stats = (0..n)
                    .map(|i| {
                        let mut v: Vec<f64> = seeds
                            .iter()
                            .filter_map(|s| s.get(i).copied())
                            .filter(|c| c.is_finite())
                            .collect();
                        v.sort_by(f64::total_cmp);
                        (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75))
                    })
                    .collect();
                (label.clone(), stats)
            })
            .collect();
        let finite = bands
            .iter()
            .flat_map(|(_, s)| s.iter().flat_map(|&(a, b, c)| [a, b, c]))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo > hi {
            (1e-9, 1.0)
        } else {
            (lo * 0.9, hi * 1.1)
        };
        let n = bands.iter().map(|(_, s)| s.len()).max().unwrap_or(1).max(2);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(90)
            .build_cartesian_2d(1f64..n as f64, log_axis(lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("evaluations")
            .y_desc("best cost so far (median, 25-75 % band over seeds)")
            .y_label_formatter(&|v| format!("{v:.2e}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        for (k, (label, stats)) in bands.iter().enumerate() {
            let c = PALETTE[k % PALETTE.len()];
            let ok: Vec<(f64, Quartiles)> = stats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.0.is_finite() && s.2.is_finite())
                .map(|(i, s)| ((i + 1) as f64, *s))
                .collect();
            let mut poly: Vec<(f64, f64)> = ok.iter().map(|&(x, s)| (x, s.2)).collect();
            poly.extend(ok.iter().rev().map(|&(x, s)| (x, s.0)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.15).filled())))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(
                    ok.iter().map(|&(x, s)| (x, s.1)),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 12)
    }
}

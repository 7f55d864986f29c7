//! Grouped bars: one cluster per group, one colour per series, on a logarithmic value axis.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    axis_desc, draw_log_ticks, err, legend, log_axis, log_ticks, png_and_svg, Figure, PALETTE,
};

/// One group of a grouped bar plot: its label and one `(series, value)` per bar.
pub type BarGroup = (String, Vec<(String, f64)>);

/// Writes `<stem>.png` and `<stem>.svg`: one cluster of bars per group (e.g. per model and
/// batch), one colour per series (e.g. per mode), on a logarithmic value axis.
pub fn grouped_bars(
    groups: &[BarGroup],
    title: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    grouped_bars_noted(groups, title, y_desc, dir, stem, None)
}

/// [`grouped_bars`], with `missing` written upright in the slot of every bar a group lacks
/// (e.g. "out of memory" where a platform could not run that case).
pub fn grouped_bars_noted(
    groups: &[BarGroup],
    title: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
    missing: Option<&str>,
) -> Result<(), String> {
    let figure = GroupedBars {
        groups,
        title,
        y_desc,
        missing,
    };
    png_and_svg(dir, stem, (1100, 600), &figure)
}

struct GroupedBars<'a> {
    groups: &'a [BarGroup],
    title: &'a str,
    y_desc: &'a str,
    missing: Option<&'a str>,
}

impl Figure for GroupedBars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            groups,
            title,
            y_desc,
            missing,
        } = *self;
        let mut series: Vec<String> = Vec::new();
        for (_, bars) in groups {
            for (s, _) in bars {
                if !series.contains(s) {
                    series.push(s.clone());
                }
            }
        }
        let values = groups.iter().flat_map(|g| g.1.iter().map(|b| b.1));
        let (mut y0, mut y1) = (f64::MAX, 0.0f64);
        for v in values.filter(|v| *v > 0.0) {
            y0 = y0.min(v);
            y1 = y1.max(v);
        }
        if y0 > y1 {
            (y0, y1) = (1.0, 10.0);
        }
        let n = groups.len().max(1);
        let labels: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
        // The value axis, with a quarter of its height free above the tallest bar for the
        // legend (which so never covers a bar).
        let (lo, hi) = (y0 / 1.6, y1 * 1.4);
        let hi = hi * ((hi / lo).ln() / 3.0).exp();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..n as f64, log_axis(lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.26 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            // The value ticks are drawn below, at 1-2-5 steps of every decade in range.
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .y_desc(format!("{}, log scale", axis_desc(y_desc)))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        draw_log_ticks(&mut chart, root, &log_ticks(lo, hi), y_desc, 12)?;
        let width = 0.8 / series.len().max(1) as f64;
        for (k, name) in series.iter().enumerate() {
            let c = PALETTE[k % PALETTE.len()];
            let rects: Vec<Rectangle<(f64, f64)>> = groups
                .iter()
                .enumerate()
                .filter_map(|(i, (_, bars))| {
                    let v = bars.iter().find(|b| &b.0 == name)?.1;
                    let x = i as f64 + 0.1 + k as f64 * width;
                    Some(Rectangle::new(
                        [(x, lo), (x + width * 0.95, v.max(lo))],
                        c.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
            if let Some(note) = missing {
                let style = ("sans-serif", 13)
                    .into_font()
                    .transform(FontTransform::Rotate270)
                    .color(&c);
                let notes: Vec<Text<(f64, f64), String>> = groups
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, bars))| !bars.iter().any(|b| &b.0 == name))
                    .map(|(i, _)| {
                        let x = i as f64 + 0.1 + (k as f64 + 0.3) * width;
                        Text::new(note.to_string(), (x, lo * 1.08), style.clone())
                    })
                    .collect();
                chart.draw_series(notes).map_err(err)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)
    }
}

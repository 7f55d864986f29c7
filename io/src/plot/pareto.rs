//! Pareto fronts: a search's two objectives ([`pareto`]) and a co-design's accuracy against
//! latency and energy ([`codesign_pareto`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::heatmap::human;
use super::{empty_panel, eng_tick, err, legend, lin_axis, png_and_svg, ramp, Figure};

/// Writes `<stem>.png` and `<stem>.svg`: every feasible design as a grey dot and the Pareto
/// front as a red staircase, on two objectives.
pub fn pareto(
    all: &[(f64, f64)],
    front: &[(f64, f64)],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    let figure = Pareto {
        all,
        front,
        title,
        x_desc,
        y_desc,
    };
    png_and_svg(dir, stem, (900, 620), &figure)
}

struct Pareto<'a> {
    all: &'a [(f64, f64)],
    front: &'a [(f64, f64)],
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
}

impl Figure for Pareto<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            all,
            front,
            title,
            x_desc,
            y_desc,
        } = *self;
        if all.is_empty() {
            return empty_panel(
                root,
                title,
                "no feasible design\nno evaluation met the constraints: the reasons are in history.csv",
            );
        }
        // An objective spanning more than two decades is drawn on a log axis (the front of a
        // latency/area search crowds against zero otherwise); ticks read in the metric's unit.
        let logged = |v: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
            lo > 0.0 && hi / lo > 100.0
        };
        let (lx, ly) = (
            logged(&mut all.iter().map(|p| p.0)),
            logged(&mut all.iter().map(|p| p.1)),
        );
        let map = |p: (f64, f64)| {
            (
                if lx { p.0.log10() } else { p.0 },
                if ly { p.1.log10() } else { p.1 },
            )
        };
        let all: Vec<(f64, f64)> = all.iter().map(|&p| map(p)).collect();
        let front: Vec<(f64, f64)> = front.iter().map(|&p| map(p)).collect();
        let span = |v: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
            if lo > hi {
                (0.0, 1.0)
            } else {
                let pad = ((hi - lo) * 0.05)
                    .max(hi.abs() * 1e-3)
                    .max(f64::MIN_POSITIVE);
                (lo - pad, hi + pad)
            }
        };
        let (x0, x1) = span(&mut all.iter().map(|p| p.0));
        let (y0, y1) = span(&mut all.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(90)
            .build_cartesian_2d(lin_axis(x0..x1), lin_axis(y0..y1))
            .map_err(err)?;
        let tick =
            |metric: &str, log: bool, v: f64| human(metric, if log { 10f64.powf(v) } else { v });
        let xl = |v: &f64| tick(x_desc, lx, *v);
        let yl = |v: &f64| tick(y_desc, ly, *v);
        let desc = |d: &str, log: bool| {
            if log {
                format!("{d} (log scale)")
            } else {
                d.to_string()
            }
        };
        chart
            .configure_mesh()
            .x_desc(desc(x_desc, lx))
            .y_desc(desc(y_desc, ly))
            .x_label_formatter(&xl)
            .y_label_formatter(&yl)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(all.iter().map(|&p| Circle::new(p, 3, grey.filled())))
            .map_err(err)?
            .label("feasible designs")
            .legend(move |(x, y)| Circle::new((x + 5, y), 4, grey.filled()));
        let red = RGBColor(204, 0, 0);
        let stairs: Vec<(f64, f64)> = front
            .iter()
            .enumerate()
            .flat_map(|(i, &p)| {
                let next = front.get(i + 1).map(|q| (q.0, p.1));
                std::iter::once(p).chain(next)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(stairs, red.stroke_width(2)))
            .map_err(err)?
            .label("Pareto front")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(2)));
        chart
            .draw_series(front.iter().map(|&p| Circle::new(p, 5, red.filled())))
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::UpperRight, 12)
    }
}

/// The data of a co-design Pareto figure ([`codesign_pareto`]); every point is
/// `(weighted accuracy %, largest task latency ms, energy mJ)`.
#[derive(Debug, Clone, Copy)]
pub struct CoParetoPlot<'a> {
    /// Figure title.
    pub title: &'a str,
    /// Every distinct evaluated design that meets the specs.
    pub feasible: &'a [(f64, f64, f64)],
    /// The non-dominated designs (maximum accuracy, minimum latency and energy).
    pub front: &'a [(f64, f64, f64)],
    /// Labelled designs drawn as stars (e.g. each method's choice).
    pub marks: &'a [(String, (f64, f64, f64))],
    /// The latency specs, ms, each with the tasks it bounds (`cifar10`): one dashed line
    /// each, in its own colour and labelled, on the latency panel. (The panel's x is the
    /// largest task latency, so a design meets task `t`'s spec only if that task's own
    /// latency is below it; the line shows where the spec sits.)
    pub latency_specs: &'a [(String, f64)],
    /// The energy spec, mJ (a dashed line).
    pub max_energy_mj: Option<f64>,
}

/// Writes `<stem>.png` and `<stem>.svg`: two panels, accuracy against the largest task
/// latency (left, the Pareto front coloured by energy) and against energy (right, coloured by
/// latency); feasible designs as grey dots, the front as large coloured dots, specs as dashed
/// lines, labelled designs as stars.
pub fn codesign_pareto(p: &CoParetoPlot<'_>, dir: &Path, stem: &str) -> Result<(), String> {
    png_and_svg(dir, stem, (1400, 640), p)
}

impl Figure for CoParetoPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let p = self;
        let root = root.titled(p.title, ("sans-serif", 20)).map_err(err)?;
        let (left, right) = root.split_horizontally(700);
        let span = |v: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = v
                .filter(|x| x.is_finite())
                .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
            if lo > hi {
                (0.0, 1.0)
            } else {
                let pad = ((hi - lo) * 0.06).max(hi.abs() * 1e-3).max(1e-9);
                (lo - pad, hi + pad)
            }
        };
        let everything = || {
            p.feasible
                .iter()
                .chain(p.front)
                .copied()
                .chain(p.marks.iter().map(|m| m.1))
        };
        let (a0, a1) = span(&mut everything().map(|q| q.0));
        let energy_spec: Vec<(String, f64)> = p
            .max_energy_mj
            .map(|e| ("energy".to_string(), e))
            .into_iter()
            .collect();
        // (x from a point, specs, x label, colour value of a front point in SI units, its
        // name, its unit)
        type Panel<'b> = (
            fn(&(f64, f64, f64)) -> f64,
            &'b [(String, f64)],
            &'b str,
            fn(&(f64, f64, f64)) -> f64,
            &'b str,
            &'b str,
        );
        let panels: [(&DrawingArea<DB, Shift>, Panel<'_>); 2] = [
            (
                &left,
                (
                    |q| q.1,
                    p.latency_specs,
                    "largest task latency (ms)",
                    |q| q.2 * 1e-3,
                    "energy",
                    "J",
                ),
            ),
            (
                &right,
                (
                    |q| q.2,
                    &energy_spec,
                    "energy (mJ)",
                    |q| q.1 * 1e-3,
                    "latency",
                    "s",
                ),
            ),
        ];
        for (area, (xf, specs, x_desc, cf, c_name, c_unit)) in panels {
            let (x0, x1) = span(
                &mut everything()
                    .map(|q| xf(&q))
                    .chain(specs.iter().map(|s| s.1)),
            );
            // Room on the right for the labels of the marks.
            let x1 = if p.marks.is_empty() {
                x1
            } else {
                x1 + 0.3 * (x1 - x0)
            };
            let (c0, c1) = p
                .front
                .iter()
                .map(cf)
                .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            let c_span = if c1 > c0 { c1 - c0 } else { 1.0 };
            // The colour scale in engineering notation; no front, no values.
            let front_label = if p.front.is_empty() {
                "Pareto front: no design meets the specs".to_string()
            } else {
                format!(
                    "Pareto front ({c_name}: blue {} → red {})",
                    super::eng(c0, c_unit),
                    super::eng(c1, c_unit)
                )
            };
            let mut chart = ChartBuilder::on(area)
                .margin(14)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(lin_axis(x0..x1), lin_axis(a0..a1))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("weighted accuracy (%)")
                .x_label_formatter(&|v| eng_tick(*v, ""))
                .y_label_formatter(&|v| eng_tick(*v, ""))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(err)?;
            let grey = RGBColor(175, 175, 175);
            chart
                .draw_series(
                    p.feasible
                        .iter()
                        .map(|q| Circle::new((xf(q), q.0), 2, grey.filled())),
                )
                .map_err(err)?
                .label("designs meeting the specs")
                .legend(move |(x, y)| Circle::new((x + 6, y), 3, grey.filled()));
            // One dashed line per spec, each its own colour, labelled with what it bounds.
            const SPEC_COLOURS: [RGBColor; 4] = [
                RGBColor(90, 90, 90),
                RGBColor(170, 60, 160),
                RGBColor(0, 130, 130),
                RGBColor(200, 120, 0),
            ];
            for (k, (what, s)) in specs.iter().enumerate() {
                let dash = SPEC_COLOURS[k % SPEC_COLOURS.len()];
                let value = if c_unit == "J" {
                    super::eng(s * 1e-3, "s")
                } else {
                    super::eng(s * 1e-3, "J")
                };
                chart
                    .draw_series(DashedLineSeries::new(
                        [(*s, a0), (*s, a1)],
                        6 + 3 * k as u32,
                        4,
                        dash.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(format!("{what} spec {value}"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], dash.stroke_width(2))
                    });
            }
            chart
                .draw_series(p.front.iter().map(|q| {
                    let t = (cf(q) - c0) / c_span;
                    Circle::new((xf(q), q.0), 5, ramp(t).filled())
                }))
                .map_err(err)?
                .label(front_label)
                .legend(move |(x, y)| Circle::new((x + 6, y), 5, ramp(0.5).filled()));
            let black = RGBColor(20, 20, 20);
            for (label, q) in p.marks {
                let pos = (xf(q), q.0);
                chart
                    .draw_series(std::iter::once(TriangleMarker::new(pos, 9, black.filled())))
                    .map_err(err)?;
                // The label beside the marker, not over it.
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at(pos)
                            + Text::new(
                                label.clone(),
                                (8, -16),
                                ("sans-serif", 13).into_font().color(&black),
                            ),
                    ))
                    .map_err(err)?;
            }
            legend(&mut chart, SeriesLabelPosition::LowerRight, 12)?;
        }
        Ok(())
    }
}

//! Serving plots: latency CDFs with the SLO bounds, KV-cache occupancy over time, and — when
//! the run searched the capacity — latency against the arrival rate with the SLO line and the
//! cost against SLO attainment.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use archsim_serving::{RequestTable, ServingReport};

use super::{draw_curves, err, legend, lin_axis, png_and_svg, Figure};

/// One panel: curves, and optional reference lines (`x = v` and `y = v`, labelled).
struct Panel {
    title: String,
    x_desc: String,
    y_desc: String,
    curves: Vec<(String, Vec<(f64, f64)>)>,
    markers: bool,
    vline: Option<(f64, String)>,
    hline: Option<(f64, String)>,
}

struct Panels(Vec<Panel>);

impl Figure for Panels {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let areas = root.split_evenly((1, self.0.len().max(1)));
        for (p, area) in self.0.iter().zip(areas.iter()) {
            draw_panel(p, area)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let pts = p.curves.iter().flat_map(|c| c.1.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if let Some((v, _)) = &p.vline {
        x0 = x0.min(*v);
        x1 = x1.max(*v);
    }
    if let Some((v, _)) = &p.hline {
        y0 = y0.min(*v);
        y1 = y1.max(*v);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if y0 > y1 {
        (y0, y1) = (0.0, 1.0);
    }
    let x0 = x0.min(0.0);
    let y0 = y0.min(0.0);
    let xr = lin_axis(x0..(x1 + (x1 - x0) * 0.05).max(x0 + 1e-9));
    let yr = lin_axis(y0..(y1 + (y1 - y0) * 0.08).max(y0 + 1e-9));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(xr, yr.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .x_labels(6)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    draw_curves(&mut chart, &p.curves, p.markers)?;
    let red = RGBColor(214, 39, 40);
    if let Some((v, label)) = &p.vline {
        chart
            .draw_series(LineSeries::new(
                [(*v, yr.start), (*v, yr.end)],
                red.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(2)));
    }
    if let Some((v, label)) = &p.hline {
        let xs = chart.x_range();
        chart
            .draw_series(LineSeries::new(
                [(xs.start, *v), (xs.end, *v)],
                red.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight, 12)
}

/// The empirical CDF of `v` on at most 200 points.
fn cdf(v: &[f64]) -> Vec<(f64, f64)> {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(200).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (s[i], (i + 1) as f64 / n as f64))
        .collect();
    out.push((s[n - 1], 1.0));
    out
}

/// Writes the serving plots into `dir`; returns their stems.
pub fn serving_plots(
    r: &ServingReport,
    t: &RequestTable,
    dir: &Path,
) -> Result<Vec<&'static str>, String> {
    let mut stems = Vec::new();
    let tpot: Vec<f64> = t
        .tpot_s
        .iter()
        .zip(&t.output_tokens)
        .filter(|(_, &o)| o > 1)
        .map(|(&x, _)| x * 1e3)
        .collect();
    let ms = |v: &[f64]| v.iter().map(|x| x * 1e3).collect::<Vec<_>>();
    let slo_line =
        |v: Option<f64>, scale: f64, what: &str| v.map(|v| (v * scale, format!("SLO {what}")));
    let panels = vec![
        Panel {
            title: "time to first token".into(),
            x_desc: "TTFT (ms)".into(),
            y_desc: "fraction of requests".into(),
            curves: vec![("TTFT".into(), cdf(&ms(&t.ttft_s)))],
            markers: false,
            vline: slo_line(r.slo.ttft_p90_s, 1e3, "(p90)"),
            hline: None,
        },
        Panel {
            title: "time per output token".into(),
            x_desc: "TPOT (ms)".into(),
            y_desc: "fraction of requests".into(),
            curves: vec![("TPOT".into(), cdf(&tpot))],
            markers: false,
            vline: slo_line(r.slo.tpot_p99_s, 1e3, "(p99)"),
            hline: None,
        },
        Panel {
            title: "end-to-end latency".into(),
            x_desc: "e2e (s)".into(),
            y_desc: "fraction of requests".into(),
            curves: vec![("e2e".into(), cdf(&t.e2e_s))],
            markers: false,
            vline: None,
            hline: None,
        },
    ];
    png_and_svg(dir, "latency_cdf", (1500, 500), &Panels(panels))?;
    stems.push("latency_cdf");
    let b = r.kv_occupancy.bucket_s;
    let curves = r
        .pools
        .iter()
        .zip(&r.kv_occupancy.pools)
        .map(|(p, s)| {
            (
                format!("{} ({} x {})", p.name, p.count, p.accelerator),
                s.iter()
                    .enumerate()
                    .map(|(i, &v)| ((i as f64 + 0.5) * b, v * 100.0))
                    .collect(),
            )
        })
        .collect();
    png_and_svg(
        dir,
        "kv_occupancy",
        (900, 550),
        &Panels(vec![Panel {
            title: format!("KV-cache occupancy (mean over replicas, {b:.2} s buckets)"),
            x_desc: "time (s)".into(),
            y_desc: "KV blocks in use (%)".into(),
            curves,
            markers: false,
            vline: None,
            hline: None,
        }]),
    )?;
    stems.push("kv_occupancy");
    if let Some(c) = &r.capacity {
        let mut e = c.evaluations.clone();
        e.sort_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps));
        // The saturated top of the bracket dwarfs the rest: plot up to twice the capacity.
        let top = if c.rate_rps > 0.0 {
            c.rate_rps * 2.0
        } else {
            f64::MAX
        };
        let e: Vec<_> = e.into_iter().filter(|p| p.rate_rps <= top).collect();
        let pts = |f: &dyn Fn(&archsim_serving::RatePoint) -> f64| {
            e.iter().map(|p| (p.rate_rps, f(p))).collect::<Vec<_>>()
        };
        let panels = vec![
            Panel {
                title: "TTFT p90 vs arrival rate".into(),
                x_desc: "arrival rate (requests/s)".into(),
                y_desc: "TTFT p90 (ms)".into(),
                curves: vec![("TTFT p90".into(), pts(&|p| p.ttft_p90_s * 1e3))],
                markers: true,
                vline: None,
                hline: slo_line(r.slo.ttft_p90_s, 1e3, ""),
            },
            Panel {
                title: "TPOT p99 vs arrival rate".into(),
                x_desc: "arrival rate (requests/s)".into(),
                y_desc: "TPOT p99 (ms)".into(),
                curves: vec![("TPOT p99".into(), pts(&|p| p.tpot_p99_s * 1e3))],
                markers: true,
                vline: None,
                hline: slo_line(r.slo.tpot_p99_s, 1e3, ""),
            },
        ];
        png_and_svg(dir, "latency_vs_rate", (1200, 500), &Panels(panels))?;
        stems.push("latency_vs_rate");
        // The near-idle probe at the bottom of the bracket costs orders of magnitude more per
        // token: leave out rates below a tenth of the capacity.
        let mut pts: Vec<(f64, f64)> = e
            .iter()
            .filter(|p| p.rate_rps >= 0.1 * c.rate_rps)
            .map(|p| (p.slo_attainment * 100.0, p.cost_per_mtok))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        png_and_svg(
            dir,
            "cost_vs_slo",
            (900, 550),
            &Panels(vec![Panel {
                title: "cost vs SLO attainment (rates searched, at least 0.1 x capacity)".into(),
                x_desc: "requests meeting the SLO (%)".into(),
                y_desc: "$ per million output tokens".into(),
                curves: vec![("fleet".into(), pts)],
                markers: true,
                vline: None,
                hline: None,
            }]),
        )?;
        stems.push("cost_vs_slo");
    }
    Ok(stems)
}

//! Plots of a report: per-op cycles (compute and stall) and utilization, as PNG and SVG.
//!
//! Text is drawn with the DejaVu Sans font embedded in the binary, so plots render the same
//! on a machine without any system font.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use archsim_sim::Report;

static FONT: Once = Once::new();

pub(crate) fn register_font() {
    FONT.call_once(|| {
        // The embedded font is valid TrueType; a failure here would only lose text, not data.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Renders one chart twice, as `<dir>/<stem>.png` and `<dir>/<stem>.svg`: `$draw` is called
/// with `$root` bound to each backend's drawing area (a closure cannot be generic over the
/// backend, a macro can).
macro_rules! png_and_svg {
    ($dir:expr, $stem:expr, $size:expr, |$root:ident| $draw:expr) => {{
        register_font();
        let png = $dir.join(format!("{}.png", $stem));
        let svg = $dir.join(format!("{}.svg", $stem));
        {
            let $root = BitMapBackend::new(&png, $size).into_drawing_area();
            $draw.map_err(|e| format!("{}: {e}", png.display()))?;
        }
        {
            let $root = SVGBackend::new(&svg, $size).into_drawing_area();
            $draw.map_err(|e| format!("{}: {e}", svg.display()))?;
        }
        Ok(())
    }};
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: one row per op (first op at the top), with
/// compute and stall cycles stacked on the left and utilization on the right.
pub fn per_op_cycles(report: &Report, dir: &Path, stem: &str) -> Result<(), String> {
    let size = (1100, (report.ops.len() as u32) * 16 + 140);
    png_and_svg!(dir, stem, size, |root| draw(report, &root))
}

fn draw<DB: DrawingBackend>(r: &Report, root: &DrawingArea<DB, Shift>) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title = format!(
        "{} on {}: {} cycles, {:.1}% utilization",
        r.workload,
        r.accelerator,
        r.total_cycles,
        r.utilization * 100.0
    );
    let root = root.titled(&title, ("sans-serif", 18)).map_err(e)?;
    let (left, right) = root.split_horizontally(760);
    let n = r.ops.len().max(1);
    // Row of op i, counted from the bottom so the first op is drawn at the top.
    let row = |i: usize| n - 1 - i;
    let name_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(y) if *y < n => r
            .ops
            .get(n - 1 - y)
            .map_or_else(String::new, |o| o.name.clone()),
        _ => String::new(),
    };
    let max_cycles = r.ops.iter().map(|o| o.cycles).max().unwrap_or(1).max(1) as f64 * 1.05;

    let mut chart = ChartBuilder::on(&left)
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..max_cycles, (0usize..n).into_segmented())
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&name_of)
        .x_desc("cycles")
        .x_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let compute = RGBColor(52, 101, 164);
    let stall = RGBColor(204, 0, 0);
    let bar = |y: usize, x0: f64, x1: f64, c: RGBColor| {
        Rectangle::new(
            [
                (x0, SegmentValue::Exact(y)),
                (x1, SegmentValue::Exact(y + 1)),
            ],
            c.filled(),
        )
    };
    chart
        .draw_series(
            r.ops
                .iter()
                .enumerate()
                .map(|(i, o)| bar(row(i), 0.0, o.compute_cycles as f64, compute)),
        )
        .map_err(e)?
        .label("compute")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], compute.filled()));
    chart
        .draw_series(r.ops.iter().enumerate().map(|(i, o)| {
            let base = o.cycles.saturating_sub(o.stall_cycles) as f64;
            bar(row(i), base, o.cycles as f64, stall)
        }))
        .map_err(e)?
        .label("stall")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], stall.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;

    let mut util = ChartBuilder::on(&right)
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..100f64, (0usize..n).into_segmented())
        .map_err(e)?;
    util.configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|_| String::new())
        .x_desc("utilization %")
        .x_labels(6)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let green = RGBColor(78, 154, 6);
    util.draw_series(
        r.ops
            .iter()
            .enumerate()
            .map(|(i, o)| bar(row(i), 0.0, o.utilization * 100.0, green)),
    )
    .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// A tick label without trailing decimals for values of 1 and more.
fn short(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A tick label with an SI prefix (`T`, `G`, `M`).
fn si(v: f64) -> String {
    match v {
        v if v >= 1e12 => format!("{:.0} T", v / 1e12),
        v if v >= 1e9 => format!("{:.0} G", v / 1e9),
        v => format!("{:.0} M", v / 1e6),
    }
}

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

fn series_names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in items {
        if !names.iter().any(|n| n == name(i)) {
            names.push(name(i).to_string());
        }
    }
    names
}

fn log_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (1.0, 10.0);
    }
    (lo / pad, hi * pad)
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
    png_and_svg!(dir, stem, (900, 820), |root| draw_pvm(
        points, unit, title, &root
    ))
}

fn draw_pvm<DB: DrawingBackend>(
    points: &[Comparison],
    unit: &str,
    title: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (lo, hi) = log_range(points.iter().flat_map(|p| [p.measured, p.predicted]), 1.3);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(format!("measured ({unit})"))
        .y_desc(format!("predicted ({unit})"))
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(e)?;
    let grey = RGBColor(150, 150, 150);
    for (f, style) in [
        (1.0, grey.stroke_width(2)),
        (1.1, grey.stroke_width(1)),
        (1.0 / 1.1, grey.stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new([(lo, lo * f), (hi, hi * f)], style))
            .map_err(e)?;
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
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 5, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

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
    png_and_svg!(dir, stem, (1000, 720), |root| draw_roofline(
        roofs, points, title, &root
    ))
}

fn draw_roofline<DB: DrawingBackend>(
    roofs: &[Roof],
    points: &[RooflinePoint],
    title: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
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
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("arithmetic intensity (FLOP per byte of device memory)")
        .y_desc("achieved FLOP/s")
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| si(*v))
        .draw()
        .map_err(e)?;
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
            .map_err(e)?
            .label(r.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
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
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 5, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Writes `<stem>.png` and `<stem>.svg`: a Gantt chart of the SoC schedule of the first
/// `first_jobs` jobs, one row per PE, one bar per task colored by job.
pub fn gantt(report: &Report, dir: &Path, stem: &str, first_jobs: u64) -> Result<(), String> {
    let Some(stats) = &report.jobs else {
        return Err("not a SoC report".into());
    };
    let rows = stats.pe_utilization.len().max(1) as u32;
    png_and_svg!(dir, stem, (1200, rows * 26 + 150), |root| draw_gantt(
        report, first_jobs, &root
    ))
}

fn draw_gantt<DB: DrawingBackend>(
    r: &Report,
    first_jobs: u64,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    let Some(stats) = &r.jobs else {
        return Err("not a SoC report".into());
    };
    let us = if stats.makespan_cycles > 0 {
        stats.makespan / stats.makespan_cycles as f64
    } else {
        1.0
    };
    let pes: Vec<&str> = stats
        .pe_utilization
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let n = pes.len().max(1);
    let shown: Vec<(usize, usize, f64, f64)> = r
        .ops
        .iter()
        .filter_map(|o| {
            let job = archsim_accelerators::soc::job_of_task_name(&o.name)?;
            ((job as u64) < first_jobs).then(|| {
                let row = pes.iter().position(|p| *p == o.engine).unwrap_or(0);
                (row, job, o.start_cycle as f64 * us, o.end_cycle as f64 * us)
            })
        })
        .collect();
    let t_max = shown.iter().map(|s| s.3).fold(0.0f64, f64::max).max(1e-9) * 1.02;
    root.fill(&WHITE).map_err(e)?;
    let title = format!(
        "{} — {}: first {} jobs ({} scheduler)",
        r.workload,
        r.accelerator,
        first_jobs.min(stats.jobs_completed),
        stats.scheduler
    );
    let root = root.titled(&title, ("sans-serif", 16)).map_err(e)?;
    let row = |i: usize| n - 1 - i;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..t_max, (0usize..n).into_segmented())
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(y) if *y < n => pes.get(n - 1 - y).unwrap_or(&"").to_string(),
            _ => String::new(),
        })
        .x_desc("time (µs)")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(shown.iter().map(|&(pe, job, t0, t1)| {
            let c = PALETTE[job % PALETTE.len()];
            Rectangle::new(
                [
                    (t0, SegmentValue::Exact(row(pe))),
                    (t1.max(t0 + t_max * 1e-4), SegmentValue::Exact(row(pe) + 1)),
                ],
                c.filled(),
            )
        }))
        .map_err(e)?;
    chart
        .draw_series(shown.iter().map(|&(pe, _, t0, t1)| {
            Rectangle::new(
                [
                    (t0, SegmentValue::Exact(row(pe))),
                    (t1, SegmentValue::Exact(row(pe) + 1)),
                ],
                WHITE.stroke_width(1),
            )
        }))
        .map_err(e)?;
    for (j, &c) in PALETTE
        .iter()
        .enumerate()
        .take(first_jobs.min(PALETTE.len() as u64) as usize)
    {
        if shown.iter().any(|s| s.1 == j) {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<usize>)>>())
                .map_err(e)?
                .label(format!("job {j}"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

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
    png_and_svg!(dir, stem, (900, 600), |root| draw_lines(
        curves, title, x_desc, y_desc, &root
    ))
}

fn draw_lines<DB: DrawingBackend>(
    curves: &[Curve],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let pts = curves.iter().flat_map(|c| c.1.iter());
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
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // Curves that span orders of magnitude (saturated schedulers next to good ones) get a
    // logarithmic axis, so every curve stays readable.
    if y0 < f64::MAX && y1 / y0 > 30.0 {
        let y_desc = format!("{y_desc}, log scale");
        let range = (y0 / 1.3..y1 * 1.3).log_scale();
        lines_on(curves, title, x_desc, &y_desc, root, x0..x1, range)
    } else {
        lines_on(
            curves,
            title,
            x_desc,
            y_desc,
            root,
            x0..x1,
            0f64..(y1 * 1.08).max(1e-9),
        )
    }
}

fn lines_on<DB: DrawingBackend, Y>(
    curves: &[Curve],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    root: &DrawingArea<DB, Shift>,
    x: std::ops::Range<f64>,
    y: Y,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    <Y as plotters::coord::ranged1d::AsRangedCoord>::CoordDescType:
        plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    for (i, (name, points)) in curves.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

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
    png_and_svg!(dir, stem, (900, 620), |root| draw_pareto(
        all, front, title, x_desc, y_desc, &root
    ))
}

fn draw_pareto<DB: DrawingBackend>(
    all: &[(f64, f64)],
    front: &[(f64, f64)],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
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
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.3e}"))
        .y_label_formatter(&|v| format!("{v:.3e}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(all.iter().map(|&p| Circle::new(p, 3, grey.filled())))
        .map_err(e)?
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
        .map_err(e)?
        .label("Pareto front")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(2)));
    chart
        .draw_series(front.iter().map(|&p| Circle::new(p, 5, red.filled())))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// One optimizer's convergence: its label and, per seed, the best cost after each evaluation.
pub type Runs = (String, Vec<Vec<f64>>);

/// Writes `<stem>.png` and `<stem>.svg`: best cost so far against evaluations, the median over
/// seeds as a line and the 25th–75th percentile band shaded, one colour per optimizer.
pub fn convergence(runs: &[Runs], title: &str, dir: &Path, stem: &str) -> Result<(), String> {
    png_and_svg!(dir, stem, (1000, 640), |root| draw_convergence(
        runs, title, &root
    ))
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

fn draw_convergence<DB: DrawingBackend>(
    runs: &[Runs],
    title: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    // Per optimizer and evaluation: (25th percentile, median, 75th percentile) over seeds.
    let bands: Vec<(String, Vec<Quartiles>)> = runs
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
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(90)
        .build_cartesian_2d(1f64..n as f64, (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("evaluations")
        .y_desc("best cost so far (median, 25-75 % band over seeds)")
        .y_label_formatter(&|v| format!("{v:.2e}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    for (k, (label, stats)) in bands.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let ok: Vec<(f64, (f64, f64, f64))> = stats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.0.is_finite() && s.2.is_finite())
            .map(|(i, s)| ((i + 1) as f64, *s))
            .collect();
        let mut poly: Vec<(f64, f64)> = ok.iter().map(|&(x, s)| (x, s.2)).collect();
        poly.extend(ok.iter().rev().map(|&(x, s)| (x, s.0)));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.15).filled())))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                ok.iter().map(|&(x, s)| (x, s.1)),
                c.stroke_width(2),
            ))
            .map_err(e)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// One cell of a heatmap: x category, y category, value.
pub type HeatCell = (String, String, f64);

/// Writes `<stem>.png` and `<stem>.svg`: a design-space heatmap of two parameters. Cells with the
/// same `(x, y)` are averaged; categories keep their first-seen order; colour runs from blue
/// (lowest) to red (highest), and every cell is labelled with its value.
pub fn heatmap(
    cells: &[HeatCell],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<(), String> {
    register_font();
    let mut xs: Vec<String> = Vec::new();
    let mut ys: Vec<String> = Vec::new();
    for (x, y, _) in cells {
        if !xs.contains(x) {
            xs.push(x.clone());
        }
        if !ys.contains(y) {
            ys.push(y.clone());
        }
    }
    let mut sum = vec![vec![(0.0, 0u32); ys.len()]; xs.len()];
    for (x, y, v) in cells.iter().filter(|c| c.2.is_finite()) {
        let (i, j) = (
            xs.iter().position(|s| s == x).unwrap_or(0),
            ys.iter().position(|s| s == y).unwrap_or(0),
        );
        sum[i][j].0 += v;
        sum[i][j].1 += 1;
    }
    let grid: Vec<Vec<Option<f64>>> = sum
        .iter()
        .map(|col| {
            col.iter()
                .map(|&(s, n)| (n > 0).then(|| s / f64::from(n)))
                .collect()
        })
        .collect();
    let args: HeatArgs<'_> = (&xs, &ys, &grid, title, x_desc, y_desc);
    png_and_svg!(dir, stem, (900, 650), |root| draw_heatmap(args, &root))
}

type HeatArgs<'a> = (
    &'a [String],
    &'a [String],
    &'a [Vec<Option<f64>>],
    &'a str,
    &'a str,
    &'a str,
);

fn draw_heatmap<DB: DrawingBackend>(
    (xs, ys, grid, title, x_desc, y_desc): HeatArgs<'_>,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let vals = grid.iter().flatten().flatten().copied();
    let (lo, hi) = vals.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (nx, ny) = (xs.len().max(1), ys.len().max(1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.5f64..nx as f64 - 0.5, -0.5f64..ny as f64 - 0.5)
        .map_err(e)?;
    // Ticks sit at cell centres (integers); other positions get no label.
    let label = |names: &[String], v: f64| {
        if (v - v.round()).abs() > 1e-6 || v < 0.0 {
            return String::new();
        }
        names.get(v.round() as usize).cloned().unwrap_or_default()
    };
    let xl = |v: &f64| label(xs, *v);
    let yl = |v: &f64| label(ys, *v);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(nx + 1)
        .y_labels(ny + 1)
        .x_label_formatter(&xl)
        .y_label_formatter(&yl)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    for (i, col) in grid.iter().enumerate() {
        for (j, v) in col.iter().enumerate() {
            let (x, y) = (i as f64, j as f64);
            let colour = match v {
                Some(v) => {
                    let t = (v - lo) / span;
                    RGBColor((40.0 + 215.0 * t) as u8, 90, (255.0 - 215.0 * t) as u8)
                }
                None => RGBColor(220, 220, 220),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    colour.filled(),
                )))
                .map_err(e)?;
            if let Some(v) = v {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.3e}"),
                        (x - 0.2, y + 0.05),
                        ("sans-serif", 12).into_font().color(&WHITE),
                    )))
                    .map_err(e)?;
            }
        }
    }
    root.present().map_err(e)?;
    Ok(())
}

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
    png_and_svg!(dir, stem, (1100, 600), |root| draw_bars(
        groups, title, y_desc, &root
    ))
}

fn draw_bars<DB: DrawingBackend>(
    groups: &[BarGroup],
    title: &str,
    y_desc: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
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
    root.fill(&WHITE).map_err(e)?;
    let n = groups.len().max(1);
    let labels: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, (y0 / 2.0..y1 * 2.0).log_scale())
        .map_err(e)?;
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
        .y_desc(format!("{y_desc}, log scale"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
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
                    [(x, y0 / 2.0), (x + width * 0.95, v.max(y0 / 2.0))],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
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
    /// The tightest latency spec, ms (a dashed line).
    pub max_latency_ms: Option<f64>,
    /// The energy spec, mJ (a dashed line).
    pub max_energy_mj: Option<f64>,
}

/// Writes `<stem>.png` and `<stem>.svg`: two panels, accuracy against the largest task
/// latency (left, the Pareto front coloured by energy) and against energy (right, coloured by
/// latency); feasible designs as grey dots, the front as large coloured dots, specs as dashed
/// lines, labelled designs as stars.
pub fn codesign_pareto(p: &CoParetoPlot<'_>, dir: &Path, stem: &str) -> Result<(), String> {
    png_and_svg!(dir, stem, (1400, 640), |root| draw_codesign_pareto(
        p, &root
    ))
}

/// Blue (t = 0) to red (t = 1).
fn ramp(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    RGBColor((40.0 + 215.0 * t) as u8, 90, (255.0 - 215.0 * t) as u8)
}

fn draw_codesign_pareto<DB: DrawingBackend>(
    p: &CoParetoPlot<'_>,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(p.title, ("sans-serif", 20)).map_err(e)?;
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
    // (x from a point, spec, x label, colour value of a front point, its range, colour label)
    type Panel<'b> = (
        fn(&(f64, f64, f64)) -> f64,
        Option<f64>,
        &'b str,
        fn(&(f64, f64, f64)) -> f64,
        &'b str,
    );
    let panels: [(&DrawingArea<DB, Shift>, Panel<'_>); 2] = [
        (
            &left,
            (
                |q| q.1,
                p.max_latency_ms,
                "largest task latency (ms)",
                |q| q.2,
                "energy",
            ),
        ),
        (
            &right,
            (|q| q.2, p.max_energy_mj, "energy (mJ)", |q| q.1, "latency"),
        ),
    ];
    for (area, (xf, spec, x_desc, cf, c_name)) in panels {
        let (x0, x1) = span(&mut everything().map(|q| xf(&q)).chain(spec));
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
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, a0..a1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("weighted accuracy (%)")
            .x_label_formatter(&|v| format!("{v:.3}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        let grey = RGBColor(175, 175, 175);
        chart
            .draw_series(
                p.feasible
                    .iter()
                    .map(|q| Circle::new((xf(q), q.0), 2, grey.filled())),
            )
            .map_err(e)?
            .label("designs meeting the specs")
            .legend(move |(x, y)| Circle::new((x + 6, y), 3, grey.filled()));
        if let Some(s) = spec {
            let dash = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    [(s, a0), (s, a1)],
                    6,
                    4,
                    dash.stroke_width(1),
                ))
                .map_err(e)?
                .label("spec")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], dash));
        }
        chart
            .draw_series(p.front.iter().map(|q| {
                let t = (cf(q) - c0) / c_span;
                Circle::new((xf(q), q.0), 5, ramp(t).filled())
            }))
            .map_err(e)?
            .label(format!(
                "Pareto front ({c_name}: blue {:.3} → red {:.3})",
                c0, c1
            ))
            .legend(move |(x, y)| Circle::new((x + 6, y), 5, ramp(0.5).filled()));
        let black = RGBColor(20, 20, 20);
        for (label, q) in p.marks {
            let pos = (xf(q), q.0);
            chart
                .draw_series(std::iter::once(TriangleMarker::new(pos, 9, black.filled())))
                .map_err(e)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    pos,
                    ("sans-serif", 13).into_font().color(&black),
                )))
                .map_err(e)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

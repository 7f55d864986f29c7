//! Plots of reports, searches, sweeps and studies, as PNG and SVG.
//!
//! Every figure is drawn twice from the same code, once on a bitmap and once on an SVG
//! backend ([`png_and_svg`]). Text is drawn with the DejaVu Sans font embedded in the binary,
//! so plots render the same on a machine without any system font.
//!
//! One module per kind of plot:
//!
//! | module          | plots                                                 |
//! |-----------------|-------------------------------------------------------|
//! | `per_op`        | [`per_op_cycles`]: cycles and utilization per op      |
//! | `gantt`         | [`gantt`]: a SoC schedule                             |
//! | `validation`    | [`predicted_vs_measured`]                             |
//! | `roofline`      | [`roofline`]                                          |
//! | `lines`         | [`lines`]: curves, linear or logarithmic; [`best_so_far`] |
//! | `pareto`        | [`pareto`], [`codesign_pareto`]                       |
//! | `convergence`   | [`convergence`]: optimizers' best cost over seeds     |
//! | `heatmap`       | [`heatmap`]: two parameters against a metric          |
//! | `bars`          | [`grouped_bars`], [`grouped_bars_noted`]              |
//! | `busbw`         | [`bus_bandwidth`]: collectives' bus bandwidth by size |
//! | `serving`       | [`serving_plots`]: latency CDFs, KV occupancy, rates  |

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bars;
mod busbw;
mod convergence;
mod gantt;
mod heatmap;
mod lines;
mod pareto;
mod per_op;
mod roofline;
mod serving;
mod validation;

pub use bars::{grouped_bars, grouped_bars_noted, BarGroup};
pub use busbw::{binary_bytes, bus_bandwidth};
pub use convergence::{convergence, Runs};
pub use gantt::gantt;
pub use heatmap::{heatmap, HeatCell};
pub use lines::{best_so_far, lines, BestPanel, Curve};
pub use pareto::{codesign_pareto, pareto, CoParetoPlot};
pub use per_op::per_op_cycles;
pub use roofline::{roofline, Roof, RooflinePoint};
pub use serving::serving_plots;
pub use validation::{predicted_vs_measured, Comparison};

static FONT: Once = Once::new();

/// Engineering notation for people: four significant digits and an SI prefix, e.g.
/// `eng(0.004829424, "s")` is `4.829 ms`. (JSON and CSV keep exact values.)
pub fn eng(value: f64, unit: &str) -> String {
    const PREFIXES: [(i32, &str); 10] = [
        (-15, "f"),
        (-12, "p"),
        (-9, "n"),
        (-6, "u"),
        (-3, "m"),
        (0, ""),
        (3, "k"),
        (6, "M"),
        (9, "G"),
        (12, "T"),
    ];
    if value == 0.0 || !value.is_finite() {
        return format!("{value} {unit}");
    }
    let mut exp = ((value.abs().log10() / 3.0).floor() as i32 * 3).clamp(-15, 12);
    let mut mantissa = value / 10f64.powi(exp);
    let digits = |m: f64| (3 - m.abs().log10().floor() as i32).clamp(0, 3) as usize;
    // Rounding to four digits may carry into the next prefix (999.97 → 1000.0 → 1.000 k).
    let rounded: f64 = format!("{mantissa:.*}", digits(mantissa))
        .parse()
        .unwrap_or(mantissa);
    if rounded.abs() >= 1000.0 && exp < 12 {
        exp += 3;
        mantissa = value / 10f64.powi(exp);
    }
    let prefix = PREFIXES
        .iter()
        .find(|(e, _)| *e == exp)
        .map_or("", |(_, p)| p);
    format!("{mantissa:.*} {prefix}{unit}", digits(mantissa))
}

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

/// A chart that draws the same way on any backend. (A closure cannot be generic over the
/// backend; a trait method can.)
trait Figure {
    /// Draws the chart on `root`, which is already filled white; [`png_and_svg`] presents it.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static;
}

/// Renders `figure` twice, as `<dir>/<stem>.png` and `<dir>/<stem>.svg`, both of `size`
/// pixels, each written atomically ([`crate::files`]: a temporary file renamed into place when
/// complete, never through a link); an error names the file.
fn png_and_svg(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    figure: &impl Figure,
) -> Result<(), String> {
    register_font();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    crate::files::render_to(&png, |tmp| render(BitMapBackend::new(tmp, size), figure))
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    render(SVGBackend::with_string(&mut text, size), figure)
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    crate::files::write(&svg, text).map_err(|e| e.to_string())
}

/// White background, the figure, then the file.
fn render<DB: DrawingBackend>(backend: DB, figure: &impl Figure) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    figure.draw(&root)?;
    root.present().map_err(err)
}

/// A drawing error as the message callers get.
fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

/// Draws a log value axis's ticks at `ticks`: a light grid line across the chart and the label
/// ([`eng_tick`] in the unit of `desc`) left of the axis, on `root` (the area the chart was
/// built on), at `font_size`.
fn draw_log_ticks<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    root: &DrawingArea<DB, Shift>,
    ticks: &[f64],
    desc: &str,
    font_size: u32,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let grid = RGBColor(200, 200, 200);
    let xs = chart.x_range();
    for &t in ticks {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(xs.start, t), (xs.end, t)],
                grid.stroke_width(1),
            )))
            .map_err(err)?;
        let (px, py) = chart.backend_coord(&(xs.start, t));
        let style = ("sans-serif", font_size)
            .into_font()
            .into_text_style(root)
            .pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(eng_tick(t, desc), (px - 6, py), style))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws each curve as a line in its palette colour (with point markers when `markers`),
/// labelled for the legend.
fn draw_curves<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    curves: &[Curve],
    markers: bool,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    // A point far off the axes (a cost of f64::MAX beside finite ones) would overflow the
    // backend's pixel arithmetic: points are kept within a thousand axis widths of the axes
    // (where every drawn pixel is the same), and points that are not numbers are left out.
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let near = |v: f64, r: &std::ops::Range<f64>| {
        let w = (r.end - r.start).abs().max(f64::MIN_POSITIVE) * 1e3;
        let (lo, hi) = (r.start.min(r.end) - w, r.start.max(r.end) + w);
        if lo <= hi {
            v.clamp(lo, hi)
        } else {
            v
        }
    };
    for (i, (name, points)) in curves.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = points
            .iter()
            .filter(|(x, y)| !x.is_nan() && !y.is_nan())
            .map(|&(x, y)| (near(x, &xr), near(y, &yr)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        if markers {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Draws a figure that has nothing to plot: its title, and `note` centred in a grey frame where
/// the chart would be (no axes, whose ticks would mean nothing).
fn empty_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let title_style = ("sans-serif", 18)
        .into_font()
        .into_text_style(root)
        .pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(title.to_string(), (w / 2, 10), title_style))
        .map_err(err)?;
    let frame = RGBColor(190, 190, 190);
    root.draw(&Rectangle::new(
        [(40, 45), (w - 40, h - 30)],
        RGBColor(248, 248, 248).filled(),
    ))
    .map_err(err)?;
    root.draw(&Rectangle::new(
        [(40, 45), (w - 40, h - 30)],
        frame.stroke_width(1),
    ))
    .map_err(err)?;
    for (i, line) in note.lines().enumerate() {
        let style = ("sans-serif", if i == 0 { 22 } else { 15 })
            .into_font()
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Center));
        let y = (h + 15) / 2 + 28 * i as i32 - 14 * (note.lines().count() as i32 - 1);
        root.draw(&Text::new(line.to_string(), (w / 2, y), style))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws the legend of `chart` at `position`: black border, near-white background, labels
/// at `font_size`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", font_size))
        .draw()
        .map_err(err)
}

/// The colours of successive series.
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

/// Blue (t = 0) to red (t = 1).
fn ramp(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    RGBColor((40.0 + 215.0 * t) as u8, 90, (255.0 - 215.0 * t) as u8)
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

/// The unit a value axis described as `desc` is in: the text in its closing parentheses
/// (`average job latency (µs)`), `s` for `seconds`, or the description itself when it is a
/// bare unit (`tokens/s`).
fn unit_of(desc: &str) -> &str {
    let d = desc.trim();
    if let Some(inner) = d.strip_suffix(')').and_then(|d| d.rsplit_once('(')) {
        return inner.1.trim();
    }
    match d {
        "seconds" => "s",
        d if !d.contains(' ') => d,
        _ => "",
    }
}

/// Ticks of a log axis over `[lo, hi]`: 1, 2 and 5 times each power of ten in range (every
/// integer multiple when that gives fewer than three; only the powers of ten when a 1-2-5
/// ladder would give more than fifteen).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let ladder = |steps: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let mut p = 10f64.powi(lo.log10().floor() as i32);
        while p <= hi {
            for m in steps {
                let t = m * p;
                if t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9) {
                    out.push(t);
                }
            }
            p *= 10.0;
        }
        out
    };
    let ticks = ladder(&[1.0, 2.0, 5.0]);
    if ticks.len() < 3 {
        ladder(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    } else if ticks.len() > 15 {
        ladder(&[1.0])
    } else {
        ticks
    }
}

/// The axis description to print beside [`eng_tick`] ticks: without its unit when the ticks
/// carry it (`average job latency (µs)` → `average job latency`, `seconds` → `time`).
fn axis_desc(desc: &str) -> String {
    if !eng_tick(1.0, desc).ends_with(|c: char| c.is_alphabetic()) {
        return desc.to_string();
    }
    match desc.trim().rsplit_once('(') {
        Some((head, _)) if desc.trim().ends_with(')') => head.trim_end().to_string(),
        _ if desc.trim() == "seconds" => "time".into(),
        _ => desc.to_string(),
    }
}

/// A value-axis tick in engineering notation: three significant digits at most and an SI
/// prefix. In a base unit of time, energy, power, bytes or frequency (also when the axis is
/// in a prefixed one: µs, ms, mJ, ...) the tick carries the unit (`100 µs`, `1.5 ms`); any
/// other quantity gets the prefix alone (`30 k` tokens/s), its unit being on the axis.
fn eng_tick(v: f64, desc: &str) -> String {
    const BASES: [&str; 5] = ["s", "J", "W", "B", "Hz"];
    let unit = unit_of(desc);
    let (scale, base) = [
        ("µ", 1e-6),
        ("u", 1e-6),
        ("n", 1e-9),
        ("m", 1e-3),
        ("k", 1e3),
    ]
    .iter()
    .find_map(|&(p, f)| {
        unit.strip_prefix(p)
            .filter(|b| BASES.contains(b))
            .map(|b| (f, b))
    })
    .unwrap_or((1.0, unit));
    let with_unit = BASES.contains(&base);
    let x = v * scale;
    if x == 0.0 || !x.is_finite() {
        return if with_unit {
            format!("0 {base}")
        } else {
            "0".into()
        };
    }
    let prefixes: &[(f64, &str)] = if with_unit {
        &[
            (1e12, "T"),
            (1e9, "G"),
            (1e6, "M"),
            (1e3, "k"),
            (1.0, ""),
            (1e-3, "m"),
            (1e-6, "µ"),
            (1e-9, "n"),
            (1e-12, "p"),
        ]
    } else {
        &[(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    };
    let &(f, p) = prefixes
        .iter()
        .find(|(f, _)| x.abs() >= *f * 0.9995)
        .unwrap_or(prefixes.last().expect("prefixes"));
    let m = x / f;
    // Three significant digits (values below one in a unitless axis keep theirs too).
    let digits = (2 - m.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let mut num = format!("{m:.digits$}");
    if num.contains('.') {
        num = num.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    match (with_unit, p) {
        (true, _) => format!("{num} {p}{base}"),
        (false, "") => num,
        (false, _) => format!("{num} {p}"),
    }
}

/// The distinct series names of `items`, in first-seen order.
fn series_names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in items {
        if !names.iter().any(|n| n == name(i)) {
            names.push(name(i).to_string());
        }
    }
    names
}

/// The largest magnitude an axis end may have: plotters' tick search divides and rounds the
/// axis width, and loops for ever on an infinite or NaN width.
const AXIS_LIMIT: f64 = 1e300;

/// A linear axis plotters can tick: both ends finite (within ±[`AXIS_LIMIT`]) and the upper
/// above the lower. Any range that already is one comes back unchanged; a value too extreme to
/// draw (a config at the edge of its bounds, a model's overflow) is clipped, never a hang.
pub(crate) fn lin_axis(r: std::ops::Range<f64>) -> std::ops::Range<f64> {
    let clip = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-AXIS_LIMIT, AXIS_LIMIT)
        }
    };
    let (lo, hi) = (clip(r.start), clip(r.end));
    if hi > lo {
        lo..hi
    } else {
        lo..lo + lo.abs().max(1.0)
    }
}

/// A logarithmic axis plotters can tick: both ends positive and finite (within
/// [1/[`AXIS_LIMIT`], [`AXIS_LIMIT`]]) and the upper above the lower. Any range that already
/// is one comes back unchanged.
pub(crate) fn log_axis(r: std::ops::Range<f64>) -> std::ops::Range<f64> {
    let clip = |v: f64| {
        if v.is_nan() {
            1.0
        } else {
            v.clamp(1.0 / AXIS_LIMIT, AXIS_LIMIT)
        }
    };
    let (lo, hi) = (clip(r.start), clip(r.end));
    if hi > lo {
        lo..hi
    } else {
        lo..(lo * 10.0).min(AXIS_LIMIT * 10.0)
    }
}

/// The range of the positive finite `values`, widened by the factor `pad` on both sides of a
/// log axis (`1..10` when there is none).
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

#[cfg(test)]
mod tick_tests {
    use super::eng_tick;

    #[test]
    fn ticks_are_engineering_notation_in_the_axis_unit() {
        assert_eq!(eng_tick(0.001, "seconds"), "1 ms");
        assert_eq!(eng_tick(1e-5, "seconds"), "10 µs");
        assert_eq!(eng_tick(0.1, "seconds"), "100 ms");
        assert_eq!(eng_tick(100000.0, "average job latency (µs)"), "100 ms");
        assert_eq!(eng_tick(150.0, "p95 job latency (µs)"), "150 µs");
        assert_eq!(eng_tick(30000.0, "tokens/s"), "30 k");
        assert_eq!(eng_tick(2500.0, "tokens/s"), "2.5 k");
        assert_eq!(eng_tick(60.0, "requests/s"), "60");
        assert_eq!(eng_tick(0.5, "cost (weighted objectives)"), "0.5");
        assert_eq!(eng_tick(1.5e-3, "energy (mJ)"), "1.5 µJ");
        assert_eq!(eng_tick(0.0, "seconds"), "0 s");
        assert_eq!(eng_tick(0.0123, "cost"), "0.0123");
        assert_eq!(
            super::log_ticks(900.0, 70_000.0),
            vec![1e3, 2e3, 5e3, 1e4, 2e4, 5e4]
        );
        assert_eq!(super::log_ticks(11.0, 35.0), vec![20.0, 30.0]);
        assert_eq!(
            super::axis_desc("average job latency (µs)"),
            "average job latency"
        );
        assert_eq!(super::axis_desc("seconds"), "time");
        assert_eq!(super::axis_desc("tokens/s"), "tokens/s");
        assert_eq!(
            super::axis_desc("cost (weighted objectives)"),
            "cost (weighted objectives)"
        );
    }
}

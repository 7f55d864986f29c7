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
//! | `lines`         | [`lines`]: curves, linear or logarithmic              |
//! | `pareto`        | [`pareto`], [`codesign_pareto`]                       |
//! | `convergence`   | [`convergence`]: optimizers' best cost over seeds     |
//! | `heatmap`       | [`heatmap`]: two parameters against a metric          |
//! | `bars`          | [`grouped_bars`]                                      |
//! | `serving`       | [`serving_plots`]: latency CDFs, KV occupancy, rates  |

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

mod bars;
mod convergence;
mod gantt;
mod heatmap;
mod lines;
mod pareto;
mod per_op;
mod roofline;
mod serving;
mod validation;

pub use bars::{grouped_bars, BarGroup};
pub use convergence::{convergence, Runs};
pub use gantt::gantt;
pub use heatmap::{heatmap, HeatCell};
pub use lines::{lines, Curve};
pub use pareto::{codesign_pareto, pareto, CoParetoPlot};
pub use per_op::per_op_cycles;
pub use roofline::{roofline, Roof, RooflinePoint};
pub use serving::serving_plots;
pub use validation::{predicted_vs_measured, Comparison};

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

/// A chart that draws the same way on any backend. (A closure cannot be generic over the
/// backend; a trait method can.)
trait Figure {
    /// Draws the chart on `root`, which is already filled white; [`png_and_svg`] presents it.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static;
}

/// Renders `figure` twice, as `<dir>/<stem>.png` and `<dir>/<stem>.svg`, both of `size`
/// pixels; an error names the file.
fn png_and_svg(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    figure: &impl Figure,
) -> Result<(), String> {
    register_font();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    render(BitMapBackend::new(&png, size), figure)
        .map_err(|e| format!("{}: {e}", png.display()))?;
    render(SVGBackend::new(&svg, size), figure).map_err(|e| format!("{}: {e}", svg.display()))
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

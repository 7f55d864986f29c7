//! The Gantt chart of a SoC schedule: one row per PE, one bar per task coloured by job.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use archsim_sim::{JobStats, Report};

use super::{err, lin_axis, png_and_svg, Figure, PALETTE};

/// Writes `<stem>.png` and `<stem>.svg`: a Gantt chart of the SoC schedule of the first
/// `first_jobs` jobs, one row per PE, one bar per task colored by job.
pub fn gantt(report: &Report, dir: &Path, stem: &str, first_jobs: u64) -> Result<(), String> {
    let Some(stats) = &report.jobs else {
        return Err("not a SoC report".into());
    };
    let rows = stats.pe_utilization.len().max(1) as u32;
    let figure = Gantt {
        report,
        stats,
        first_jobs,
    };
    png_and_svg(dir, stem, (1200, rows * 26 + 150), &figure)
}

struct Gantt<'a> {
    report: &'a Report,
    /// `report.jobs`.
    stats: &'a JobStats,
    first_jobs: u64,
}

impl Figure for Gantt<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let Self {
            report: r,
            stats,
            first_jobs,
        } = *self;
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
                let job = o.job()?;
                ((job as u64) < first_jobs).then(|| {
                    let row = pes.iter().position(|p| *p == o.engine).unwrap_or(0);
                    (row, job, o.start_cycle as f64 * us, o.end_cycle as f64 * us)
                })
            })
            .collect();
        let t_max = shown.iter().map(|s| s.3).fold(0.0f64, f64::max).max(1e-9) * 1.02;
        // The accelerator's description already names the scheduler.
        let title = format!(
            "{} — {}: first {} jobs",
            r.workload,
            r.accelerator,
            first_jobs.min(stats.jobs_completed)
        );
        let root = root.titled(&title, ("sans-serif", 16)).map_err(err)?;
        // The legend gets a column of its own, right of the bars.
        let (w, _) = root.dim_in_pixel();
        let (root, key) = root.split_horizontally(w as i32 - 90);
        let row = |i: usize| n - 1 - i;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(lin_axis(0f64..t_max), (0usize..n).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) if *y < n => {
                    pes.get(n - 1 - y).unwrap_or(&"").to_string()
                }
                _ => String::new(),
            })
            .x_desc("time (µs)")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
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
            .map_err(err)?;
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
            .map_err(err)?;
        let mut y = 20;
        for (j, &c) in PALETTE
            .iter()
            .enumerate()
            .take(first_jobs.min(PALETTE.len() as u64) as usize)
        {
            if shown.iter().any(|s| s.1 == j) {
                key.draw(&Rectangle::new([(8, y - 5), (18, y + 5)], c.filled()))
                    .map_err(err)?;
                key.draw(&Text::new(
                    format!("job {j}"),
                    (24, y - 7),
                    ("sans-serif", 12),
                ))
                .map_err(err)?;
                y += 18;
            }
        }
        Ok(())
    }
}

//! The report's latency chart: latency (log scale, ms) at each percentile, one line per endpoint
//! and one for the reference endpoint, the shape HDR histograms are usually read in (a flat line
//! that climbs at the tail shows where the slow requests are). plotters with only its SVG
//! backend: text goes into the SVG as text elements, so no system fonts are needed to draw it.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::report::{CHART_PERCENTILES, Report, Row};

const LABELS: [&str; 8] = ["min", "p50", "p75", "p90", "p95", "p99", "p99.9", "max"];

/// The plot's width in pixels; the legend gets a column of its own right of it, so it never
/// covers a line (inside the plot it hid the tails of the busiest endpoints).
pub const PLOT_WIDTH: u32 = 800;
const LEGEND_WIDTH: u32 = 320;
const HEIGHT: u32 = 560;

/// Writes the chart of `report` to `path` as SVG.
pub fn write_svg(report: &Report, path: &Path) -> anyhow::Result<()> {
    let rows: Vec<&Row> = report.reference.iter().chain(&report.rows).collect();
    let highest = rows
        .iter()
        .flat_map(|r| r.percentiles.iter().map(|(_, ms)| *ms))
        .fold(1.0_f64, f64::max);
    let lowest = rows
        .iter()
        .flat_map(|r| r.percentiles.iter().map(|(_, ms)| *ms))
        .filter(|ms| *ms > 0.0)
        .fold(highest, f64::min);
    let root = SVGBackend::new(path, (PLOT_WIDTH + LEGEND_WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let (plot, legend) = root.split_horizontally(PLOT_WIDTH);
    let title = format!(
        "{}: {} ({}), latency by percentile",
        report.target(),
        report.scenario,
        report.mode
    );
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(
            0.0..(CHART_PERCENTILES.len() - 1) as f64,
            ((lowest / 2.0).max(0.001)..highest * 2.0).log_scale(),
        )
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_labels(CHART_PERCENTILES.len())
        .x_label_formatter(&|x| {
            LABELS
                .get(x.round() as usize)
                .copied()
                .unwrap_or("")
                .to_owned()
        })
        .y_desc("latency (ms)")
        .x_desc("percentile")
        .draw()
        .map_err(draw_error)?;
    for (index, row) in rows.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = row
            .percentiles
            .iter()
            .enumerate()
            .map(|(i, (_, ms))| (i as f64, ms.max(0.001)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw_error)?;
        // The legend's column: a sample of the line, then the endpoint and its rate.
        let y = 48 + 22 * i32::try_from(index).unwrap_or(i32::MAX / 32);
        legend
            .draw(&PathElement::new(
                vec![(8, y), (28, y)],
                color.stroke_width(2),
            ))
            .map_err(draw_error)?;
        legend
            .draw(&Text::new(
                format!("{} ({:.0}/s)", row.endpoint, row.requests_per_sec),
                (36, y - 7),
                ("sans-serif", 13),
            ))
            .map_err(draw_error)?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the latency chart: {error}")
}

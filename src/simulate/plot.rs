//! `simulate --plot FILE.svg`: the trace and the three capacity lines in one picture.

use std::path::Path;

use plotters::prelude::*;

use super::TracePoint;
use super::compare::{CompareRow, Comparison};
use crate::policy::CompiledPolicySet;

/// Reads one pipeline's capacity from a row.
type Pick = fn(&CompareRow) -> Option<u32>;

/// Draws `comparison` and the metric `trace` of `set` into an SVG file.
pub fn draw(
    path: &Path,
    set: &CompiledPolicySet,
    trace: &[TracePoint],
    comparison: &Comparison,
) -> Result<(), String> {
    let Some(first) = comparison.rows.first() else {
        return Err("nothing to plot: the simulation has no evaluation".to_owned());
    };
    let start = first.time;
    let minutes = |t: chrono::DateTime<chrono::Utc>| (t - start).num_seconds() as f64 / 60.0;
    let end = comparison
        .rows
        .last()
        .map_or(1.0, |r| minutes(r.time))
        .max(1.0);
    let top = comparison
        .rows
        .iter()
        .map(|r| r.ecs.max(r.eks).max(r.naive.unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1);
    let metric_top = trace.iter().map(|p| p.value).fold(1.0_f64, f64::max);

    let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (upper, lower) = root.split_vertically(420);

    let mut chart = ChartBuilder::on(&upper)
        .caption(format!("{}: desired capacity", set.id), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..end, 0.0..f64::from(top) * 1.15)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("replicas")
        .draw()
        .map_err(|e| fail(&e))?;
    let lines: [(&str, RGBColor, Pick); 3] = [
        ("ECS (reference)", BLACK, |r| Some(r.ecs)),
        ("EKS with ecs-scaler", BLUE, |r| Some(r.eks)),
        ("naive KEDA triggers", RED, |r| r.naive),
    ];
    for (label, color, pick) in lines {
        let points: Vec<(f64, f64)> = comparison
            .rows
            .iter()
            .filter_map(|r| pick(r).map(|v| (minutes(r.time), f64::from(v))))
            .collect();
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;

    let mut metrics = ChartBuilder::on(&lower)
        .caption("metric trace", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..end, 0.0..metric_top * 1.1)
        .map_err(|e| fail(&e))?;
    metrics
        .configure_mesh()
        .x_desc("minutes")
        .draw()
        .map_err(|e| fail(&e))?;
    for (index, metric) in set.metrics.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = trace
            .iter()
            .filter(|p| p.metric == index)
            .map(|p| (minutes(p.at), p.value))
            .collect();
        metrics
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(metric.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    metrics
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

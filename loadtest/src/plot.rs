//! `--plot FILE.svg`: the latency percentile spectrum (the shape HdrHistogram's plotter
//! draws, x = 1/(1−q) on a log scale so the tail gets room) above latency over time
//! (per-second p50, p99 and max), drawn with `plotters`' SVG backend.

use crate::report::Report;
use plotters::prelude::*;
use std::path::Path;

/// Percentile label for x = log10(1/(1−q)): 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%".
fn percentile_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = (x.round() as usize).saturating_sub(2);
    format!("{q:.digits$}%")
}

pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    draw(report, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let ms = |us: u64| us as f64 / 1000.0;
    let h = &report.histogram;
    let root = SVGBackend::new(path, (960, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(380);
    let title = format!(
        "{} ({} model, {} requests, {:.0}/s)",
        report.scenario, report.model, report.requests, report.achieved_rate
    );

    // Percentile spectrum, up to the precision the sample count supports.
    let n = h.len().max(1) as f64;
    let x_max = n.log10().clamp(1.0, 6.0);
    let mut spectrum: Vec<(f64, f64)> = (0..=(x_max * 100.0) as usize)
        .map(|i| {
            let x = i as f64 / 100.0;
            (x, ms(h.value_at_quantile(1.0 - 10f64.powf(-x))))
        })
        .collect();
    spectrum.push((x_max, ms(h.max()))); // the curve ends at the maximum
    let y_max = ms(h.max()).max(0.001) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("Latency by percentile: {title}"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(x_max.ceil() as usize + 1)
        .x_label_formatter(&percentile_label)
        .draw()?;
    chart.draw_series(LineSeries::new(spectrum, BLUE.stroke_width(2)))?;

    // Latency over time.
    let seconds = &report.series;
    let t_max = seconds.len().max(1) as f64;
    let maxes: Vec<f64> = report
        .second_histograms
        .iter()
        .map(|h| ms(h.max()))
        .collect();
    let y_max = maxes.iter().copied().fold(0.001, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("Latency over time (per second)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("latency (ms)")
        .draw()?;
    let line = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        (0..seconds.len()).map(|i| (i as f64 + 0.5, f(i))).collect()
    };
    for (name, color, points) in [
        ("max", RED, line(&|i| maxes[i])),
        ("p99", MAGENTA, line(&|i| ms(seconds[i].p99_us))),
        ("p50", BLUE, line(&|i| ms(seconds[i].p50_us))),
    ] {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentile_labels() {
        assert_eq!(super::percentile_label(&0.0), "0%");
        assert_eq!(super::percentile_label(&1.0), "90%");
        assert_eq!(super::percentile_label(&2.0), "99%");
        assert_eq!(super::percentile_label(&3.0), "99.9%");
        assert_eq!(super::percentile_label(&4.0), "99.99%");
    }
}

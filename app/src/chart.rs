//! Time-series charts drawn with plotters into SVG. The same code runs on the server (first render, and later the
//! charts of HTML reports) and in the browser (live updates), so a chart looks the same everywhere.
//!
//! Input: points in time order; output: a self-contained `<svg>` string.

use crate::types::Point;
use plotters::prelude::*;

/// How a chart is drawn.
#[derive(Debug, Clone)]
pub struct ChartSpec<'a> {
    pub width: u32,
    pub height: u32,
    /// Unit suffix for the y axis, e.g. "ms".
    pub unit: &'a str,
    /// The x range in milliseconds since the epoch; the chart spans it even where there is no data.
    pub x_range: (i64, i64),
}

/// Renders `points` as a line chart. Never fails: a drawing error yields an SVG saying so.
pub fn line_chart_svg(points: &[Point], spec: &ChartSpec<'_>) -> String {
    let mut svg = String::new();
    let drawn = draw(points, spec, &mut svg);
    if let Err(message) = drawn {
        return format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"><text x="10" y="20">chart unavailable: {}</text></svg>"#,
            spec.width,
            spec.height,
            escape(&message)
        );
    }
    svg
}

fn draw(points: &[Point], spec: &ChartSpec<'_>, out: &mut String) -> Result<(), String> {
    let root = SVGBackend::with_string(out, (spec.width, spec.height)).into_drawing_area();
    root.fill(&TRANSPARENT).map_err(|e| e.to_string())?;
    let (x0, mut x1) = spec.x_range;
    if x1 <= x0 {
        x1 = x0 + 1;
    }
    let (mut lo, mut hi) = points
        .iter()
        .filter(|p| p.v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.v), hi.max(p.v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < f64::EPSILON {
        // A flat line sits in the middle of the chart, not on its edge.
        let pad = if hi.abs() > 1.0 { hi.abs() * 0.1 } else { 1.0 };
        lo -= pad;
        hi += pad;
    } else {
        let pad = (hi - lo) * 0.08;
        hi += pad;
        if lo < 0.0 || lo - pad >= 0.0 {
            lo -= pad;
        } else {
            lo = 0.0;
        }
    }
    let axis = RGBColor(0x8a, 0x94, 0xa6);
    let line = RGBColor(0x3b, 0x82, 0xf6);
    let label_style = ("sans-serif", 11).into_font().color(&axis);
    let unit = spec.unit.to_string();
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xd1, 0xd5, 0xdb).mix(0.5))
        .axis_style(axis)
        .label_style(label_style)
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|t| {
            chrono::DateTime::from_timestamp_millis(*t)
                .map(|d| d.format("%H:%M:%S").to_string())
                .unwrap_or_default()
        })
        .y_label_formatter(&|v| format_axis(*v, &unit))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            points
                .iter()
                .filter(|p| p.v.is_finite() && p.t >= x0 && p.t <= x1)
                .map(|p| (p.t, p.v)),
            ShapeStyle {
                color: line.to_rgba(),
                filled: false,
                stroke_width: 2,
            },
        ))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn format_axis(v: f64, unit: &str) -> String {
    let abs = v.abs();
    let (scaled, suffix) = match unit {
        "bytes" if abs >= 1024.0 * 1024.0 * 1024.0 => (v / (1024.0 * 1024.0 * 1024.0), "GiB"),
        "bytes" if abs >= 1024.0 * 1024.0 => (v / (1024.0 * 1024.0), "MiB"),
        "bytes" if abs >= 1024.0 => (v / 1024.0, "KiB"),
        "bytes" => (v, "B"),
        _ if abs >= 1e6 => (v / 1e6, "M"),
        _ if abs >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let number = if scaled.fract().abs() < 1e-9 {
        format!("{scaled:.0}")
    } else {
        format!("{scaled:.1}")
    };
    let unit = if unit == "bytes" { "" } else { unit };
    format!(
        "{number}{suffix}{}{unit}",
        if unit.is_empty() { "" } else { " " }
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChartSpec<'static> {
        ChartSpec {
            width: 600,
            height: 240,
            unit: "ms",
            x_range: (0, 60_000),
        }
    }

    #[test]
    fn draws_a_polyline_through_the_points() {
        let points: Vec<Point> = (0..10)
            .map(|i| Point {
                t: i * 6_000,
                v: i as f64,
            })
            .collect();
        let svg = line_chart_svg(&points, &spec());
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains(r##"<polyline fill="none" opacity="1" stroke="#3B82F6""##),
            "the series is a polyline in the series colour (end2end relies on it): {svg}"
        );
    }

    #[test]
    fn empty_flat_and_non_finite_series_still_draw() {
        for points in [
            vec![],
            vec![Point { t: 1, v: 5.0 }; 3],
            vec![Point { t: 1, v: f64::NAN }],
        ] {
            let svg = line_chart_svg(&points, &spec());
            assert!(
                svg.starts_with("<svg") && !svg.contains("unavailable"),
                "{points:?}: {svg}"
            );
        }
    }

    #[test]
    fn axis_labels_carry_units() {
        assert_eq!(format_axis(2048.0, "bytes"), "2KiB");
        assert_eq!(format_axis(12.5, "ms"), "12.5 ms");
        assert_eq!(format_axis(25_000.0, ""), "25k");
    }
}

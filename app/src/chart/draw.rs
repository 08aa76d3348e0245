//! Drawing: series in, SVG out (plotters' SVG backend), with the pixel frame of the plot area.

use crate::types::Point;
use plotters::prelude::*;

/// Series colours, in order; a series keeps its colour when others are hidden.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0x3b, 0x82, 0xf6),
    (0x10, 0xb9, 0x81),
    (0xf5, 0x9e, 0x0b),
    (0x8b, 0x5c, 0xf6),
    (0xec, 0x48, 0x99),
    (0x06, 0xb6, 0xd4),
    (0x84, 0xcc, 0x16),
    (0xf9, 0x73, 0x16),
];

/// The colour of palette slot `index` as CSS.
pub fn color_css(index: usize) -> String {
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Each series' palette slot, chosen by its name (FNV-1a), so a series keeps its colour when the chart's set of
/// series changes (a zoom, a series without data in the range); two series never share a colour while the palette
/// has a free one (the first by name keeps its slot, the other takes the next free).
pub fn color_slots<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    let names: Vec<&str> = names.into_iter().collect();
    // A lone line takes the first colour.
    if names.len() == 1 {
        return vec![0];
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let mut slots = vec![0; names.len()];
    let mut taken = [false; PALETTE.len()];
    for i in order {
        let hash = names[i].bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let preferred = (hash % PALETTE.len() as u64) as usize;
        let slot = (0..PALETTE.len())
            .map(|k| (preferred + k) % PALETTE.len())
            .find(|s| !taken[*s])
            .unwrap_or(preferred);
        taken[slot] = true;
        slots[i] = slot;
    }
    slots
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    /// What the legend and the hover box call it.
    pub name: String,
    /// In time order.
    pub points: Vec<Point>,
}

/// How a chart is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    pub width: u32,
    pub height: u32,
    /// Unit of the values, e.g. "ms" or "bytes".
    pub unit: String,
    /// The x range in milliseconds since the epoch; the chart spans it even where there is no data.
    pub x_range: (i64, i64),
    /// A horizontal line, e.g. an alert rule's threshold.
    pub threshold: Option<f64>,
    /// Time spans shaded in red, e.g. when a rule would have fired.
    pub marks: Vec<(i64, i64)>,
}

impl ChartSpec {
    pub fn new(width: u32, height: u32, unit: &str, x_range: (i64, i64)) -> Self {
        ChartSpec {
            width,
            height,
            unit: unit.to_string(),
            x_range,
            threshold: None,
            marks: Vec::new(),
        }
    }
}

/// Where the plot area lies in the SVG's pixels, and the ranges it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x_range: (i64, i64),
    pub y_range: (f64, f64),
}

impl Frame {
    /// The time under pixel column `x` (clamped to the plot area).
    pub fn time_at(&self, x: f64) -> i64 {
        let f = ((x - self.left) / (self.right - self.left).max(1.0)).clamp(0.0, 1.0);
        self.x_range.0 + (f * (self.x_range.1 - self.x_range.0) as f64).round() as i64
    }

    /// The pixel column of time `t`.
    pub fn x_of(&self, t: i64) -> f64 {
        let span = (self.x_range.1 - self.x_range.0).max(1) as f64;
        self.left + (t - self.x_range.0) as f64 / span * (self.right - self.left)
    }

    pub fn contains_x(&self, x: f64) -> bool {
        x >= self.left && x <= self.right
    }
}

/// An SVG and its frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub svg: String,
    pub frame: Frame,
}

/// Renders one series as a line chart (the dashboard's and reports' simple case).
pub fn line_chart_svg(points: &[Point], spec: &ChartSpec) -> String {
    let series = [ChartSeries {
        name: String::new(),
        points: points.to_vec(),
    }];
    render(&series, &|_| false, spec).svg
}

/// Renders the series not `hidden` (by index). Never fails: a drawing error yields an SVG saying so.
pub fn render(
    series: &[ChartSeries],
    hidden: &dyn Fn(usize) -> bool,
    spec: &ChartSpec,
) -> Rendered {
    let mut svg = String::new();
    match draw(series, hidden, spec, &mut svg) {
        Ok(frame) => Rendered { svg, frame },
        Err(message) => Rendered {
            svg: format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"><text x="10" y="20">chart unavailable: {}</text></svg>"#,
                spec.width,
                spec.height,
                escape(&message)
            ),
            frame: Frame {
                left: 0.0,
                right: spec.width as f64,
                top: 0.0,
                bottom: spec.height as f64,
                x_range: spec.x_range,
                y_range: (0.0, 1.0),
            },
        },
    }
}

/// The y range: every drawn value and the threshold, padded; a flat line sits in the middle.
fn y_range(lines: &[(usize, Vec<(i64, f64)>)], threshold: Option<f64>) -> (f64, f64) {
    let (mut lo, mut hi) = lines
        .iter()
        .flat_map(|(_, line)| line.iter())
        .map(|p| p.1)
        .chain(threshold.filter(|t| t.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < f64::EPSILON {
        let pad = if hi.abs() > 1.0 { hi.abs() * 0.1 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.08;
    let lo = if lo < 0.0 || lo - pad >= 0.0 {
        lo - pad
    } else {
        0.0
    };
    (lo, hi + pad)
}

/// At most two points (the lowest and highest) per pixel column of the plot area, in time order: what the eye sees
/// of a dense series, at a fraction of the drawing cost.
/// The line drawn for `points` over `x`: [`thin`]ned, and continued to the plot's edges where the series goes on
/// beyond them (the value at the edge interpolated from the neighbours outside), so a zoomed line does not stop
/// short of the frame.
pub fn line_points(points: &[Point], x: (i64, i64), columns: usize) -> Vec<(i64, f64)> {
    let mut line = thin(points, x, columns);
    let finite = |p: &&Point| p.v.is_finite();
    let before = points.iter().filter(finite).rev().find(|p| p.t < x.0);
    let after = points.iter().filter(finite).find(|p| p.t > x.1);
    let at = |a: &Point, b: (i64, f64), t: i64| {
        let f = (t - a.t) as f64 / (b.0 - a.t).max(1) as f64;
        (t, a.v + (b.1 - a.v) * f)
    };
    match (before, line.first().copied(), after) {
        (Some(b), Some(first), _) => line.insert(0, at(b, first, x.0)),
        (Some(b), None, Some(a)) => {
            line.push(at(b, (a.t, a.v), x.0));
            line.push(at(b, (a.t, a.v), x.1));
            return line;
        }
        _ => {}
    }
    if let (Some(a), Some(&last)) = (after, line.last()) {
        let back = Point {
            t: last.0,
            v: last.1,
        };
        line.push(at(&back, (a.t, a.v), x.1));
    }
    line
}

pub fn thin(points: &[Point], x: (i64, i64), columns: usize) -> Vec<(i64, f64)> {
    let inside = points
        .iter()
        .filter(|p| p.v.is_finite() && p.t >= x.0 && p.t <= x.1);
    let columns = columns.max(1);
    if points.len() <= columns * 2 {
        return inside.map(|p| (p.t, p.v)).collect();
    }
    let span = (x.1 - x.0).max(1) as f64;
    let column = |t: i64| ((((t - x.0) as f64 / span) * columns as f64) as usize).min(columns - 1);
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(columns * 2);
    let mut current: Option<(usize, Point, Point)> = None;
    let flush = |out: &mut Vec<(i64, f64)>, lo: Point, hi: Point| {
        let (a, b) = if lo.t <= hi.t { (lo, hi) } else { (hi, lo) };
        out.push((a.t, a.v));
        if b.t != a.t || b.v != a.v {
            out.push((b.t, b.v));
        }
    };
    for p in inside {
        let c = column(p.t);
        match &mut current {
            Some((col, lo, hi)) if *col == c => {
                if p.v < lo.v {
                    *lo = *p;
                }
                if p.v > hi.v {
                    *hi = *p;
                }
            }
            _ => {
                if let Some((_, lo, hi)) = current.take() {
                    flush(&mut out, lo, hi);
                }
                current = Some((c, *p, *p));
            }
        }
    }
    if let Some((_, lo, hi)) = current {
        flush(&mut out, lo, hi);
    }
    out
}

fn draw(
    series: &[ChartSeries],
    hidden: &dyn Fn(usize) -> bool,
    spec: &ChartSpec,
    out: &mut String,
) -> Result<Frame, String> {
    let root = SVGBackend::with_string(out, (spec.width, spec.height)).into_drawing_area();
    root.fill(&TRANSPARENT).map_err(|e| e.to_string())?;
    let (x0, mut x1) = spec.x_range;
    if x1 <= x0 {
        x1 = x0 + 1;
    }
    // Lines first (at most two points per pixel of the whole width), so the y range covers what is drawn.
    let lines: Vec<(usize, Vec<(i64, f64)>)> = series
        .iter()
        .enumerate()
        .filter(|(i, _)| !hidden(*i))
        .map(|(i, s)| (i, line_points(&s.points, (x0, x1), spec.width as usize)))
        .collect();
    let (lo, hi) = y_range(&lines, spec.threshold);
    let axis = RGBColor(0x8a, 0x94, 0xa6);
    let label_style = ("sans-serif", 11).into_font().color(&axis);
    let unit = spec.unit.clone();
    let span = x1 - x0;
    // Ticks at round clock times (every 5 minutes, every hour, each midnight …), labelled as precisely as needed.
    let (ticks, step) = time_ticks(x0, x1, 6);
    let time_format = if span > 2 * 86_400_000 {
        TimeFormat::MonthDayMinute
    } else if step >= 60_000 {
        TimeFormat::Minute
    } else {
        TimeFormat::Second
    };
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(64)
        .build_cartesian_2d((x0..x1).with_key_points(ticks), lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xd1, 0xd5, 0xdb).mix(0.5))
        .axis_style(axis)
        .label_style(label_style)
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|t| format_time(*t, time_format))
        .y_label_formatter(&|v| format_axis(*v, &unit))
        .draw()
        .map_err(|e| e.to_string())?;
    let red = RGBColor(0xdc, 0x26, 0x26);
    for &(a, b) in &spec.marks {
        let (a, b) = (a.max(x0), b.min(x1));
        if a < b {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, lo), (b, hi)],
                    red.mix(0.12).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    let (px, py) = chart.plotting_area().get_pixel_range();
    let slots = color_slots(series.iter().map(|s| s.name.as_str()));
    for (i, line) in lines {
        let (r, g, b) = PALETTE[slots[i]];
        chart
            .draw_series(LineSeries::new(
                line,
                ShapeStyle {
                    color: RGBColor(r, g, b).to_rgba(),
                    filled: false,
                    stroke_width: 2,
                },
            ))
            .map_err(|e| e.to_string())?;
    }
    if let Some(threshold) = spec.threshold.filter(|t| t.is_finite()) {
        chart
            .draw_series(LineSeries::new(
                [(x0, threshold), (x1, threshold)],
                ShapeStyle {
                    color: red.mix(0.85),
                    filled: false,
                    stroke_width: 1,
                },
            ))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(Frame {
        left: px.start as f64,
        // Pixel ranges end one past the last pixel.
        right: (px.end - 1) as f64,
        top: py.start as f64,
        bottom: (py.end - 1) as f64,
        x_range: (x0, x1),
        y_range: (lo, hi),
    })
}

pub fn format_axis(v: f64, unit: &str) -> String {
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

/// Tick instants across `[x0, x1]` at a clock-friendly step (1 s … 1 week, in UTC) giving at most `max` of them,
/// and the step in milliseconds.
pub fn time_ticks(x0: i64, x1: i64, max: usize) -> (Vec<i64>, i64) {
    const STEPS: &[i64] = &[
        1_000,
        2_000,
        5_000,
        10_000,
        15_000,
        30_000,
        60_000,
        120_000,
        300_000,
        600_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        172_800_000,
        604_800_000,
    ];
    let span = (x1 - x0).max(1);
    let max = max.max(1) as i64;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s < max)
        .unwrap_or_else(|| (span / max / 604_800_000 + 1) * 604_800_000);
    let first = x0.div_euclid(step) * step;
    let first = if first < x0 { first + step } else { first };
    let ticks = std::iter::successors(Some(first), |t| Some(t + step))
        .take_while(|t| *t <= x1)
        .collect();
    (ticks, step)
}

/// How much of a time a label shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `11-24 09:05`
    MonthDayMinute,
    /// `09:05`
    Minute,
    /// `09:05:30`
    Second,
    /// `2026-11-24 09:05:30 UTC`
    Full,
}

/// Epoch milliseconds as UTC text. Written out by hand rather than with chrono's `format`, whose pattern
/// interpreter would otherwise be in the first-load WASM for a handful of labels.
pub fn format_time(ms: i64, format: TimeFormat) -> String {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    match format {
        TimeFormat::MonthDayMinute => format!("{:02}-{:02} {h:02}:{m:02}", t.month(), t.day()),
        TimeFormat::Minute => format!("{h:02}:{m:02}"),
        TimeFormat::Second => format!("{h:02}:{m:02}:{s:02}"),
        TimeFormat::Full => format!(
            "{:04}-{:02}-{:02} {h:02}:{m:02}:{s:02} UTC",
            t.year(),
            t.month(),
            t.day()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChartSpec {
        ChartSpec::new(600, 240, "ms", (0, 60_000))
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
    fn ticks_fall_on_round_clock_times() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        // A quarter of an hour, at most 6 ticks: every five minutes.
        let (ticks, step) = time_ticks(t("2026-11-24T10:03:17Z"), t("2026-11-24T10:18:17Z"), 6);
        assert_eq!(step, 300_000);
        assert_eq!(
            ticks,
            vec![
                t("2026-11-24T10:05:00Z"),
                t("2026-11-24T10:10:00Z"),
                t("2026-11-24T10:15:00Z")
            ]
        );
        // A week: ticks every other midnight UTC.
        let (ticks, step) = time_ticks(t("2026-11-17T10:00:00Z"), t("2026-11-24T10:00:00Z"), 6);
        assert_eq!(step, 172_800_000);
        assert!(ticks.iter().all(|x| x % 86_400_000 == 0), "{ticks:?}");
        assert!(ticks.len() <= 6);
        // Degenerate ranges still work.
        assert!(time_ticks(5, 5, 6).0.len() <= 1);
    }

    #[test]
    fn times_read_like_chrono_would_write_them() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.890Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(format_time(t, TimeFormat::MonthDayMinute), "03-04 05:06");
        assert_eq!(format_time(t, TimeFormat::Minute), "05:06");
        assert_eq!(format_time(t, TimeFormat::Second), "05:06:07");
        assert_eq!(format_time(t, TimeFormat::Full), "2026-03-04 05:06:07 UTC");
    }

    #[test]
    fn a_zoomed_line_reaches_both_edges() {
        let points: Vec<Point> = [(0, 0.0), (10, 10.0), (20, 20.0), (30, 30.0)]
            .iter()
            .map(|&(t, v)| Point { t, v })
            .collect();
        // Inside points, plus the values at the edges interpolated from the neighbours outside.
        assert_eq!(
            line_points(&points, (5, 25), 100),
            vec![(5, 5.0), (10, 10.0), (20, 20.0), (25, 25.0)]
        );
        // No point inside: still a line across.
        assert_eq!(
            line_points(&points, (12, 18), 100),
            vec![(12, 12.0), (18, 18.0)]
        );
        // Nothing beyond the edges: nothing invented.
        assert_eq!(line_points(&points, (0, 30), 100).len(), 4);
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
    fn the_frame_maps_pixels_to_times_and_back() {
        let r = render(
            &[ChartSeries {
                name: "a".into(),
                points: vec![Point { t: 0, v: 1.0 }, Point { t: 60_000, v: 2.0 }],
            }],
            &|_| false,
            &spec(),
        );
        let f = r.frame;
        assert!(
            f.left > 0.0 && f.right < 600.0 && f.top >= 0.0 && f.bottom < 240.0,
            "{f:?}"
        );
        assert_eq!(f.time_at(f.left), 0);
        assert_eq!(f.time_at(f.right), 60_000);
        assert_eq!(f.time_at(f.x_of(30_000)), 30_000);
        assert_eq!(f.time_at(-5.0), 0, "clamped");
    }

    #[test]
    fn thresholds_widen_the_range_and_marks_shade() {
        let mut s = spec();
        s.threshold = Some(100.0);
        s.marks = vec![(10_000, 20_000)];
        let r = render(
            &[ChartSeries {
                name: "a".into(),
                points: vec![Point { t: 0, v: 1.0 }, Point { t: 60_000, v: 2.0 }],
            }],
            &|_| false,
            &s,
        );
        assert!(r.frame.y_range.1 > 100.0, "{:?}", r.frame);
        assert!(
            r.svg.contains("#DC2626"),
            "threshold and mark in red: {}",
            r.svg
        );
    }

    #[test]
    fn dense_series_are_thinned_to_two_points_per_column() {
        let points: Vec<Point> = (0..10_000)
            .map(|i| Point {
                t: i,
                v: if i % 2 == 0 { 0.0 } else { 1.0 },
            })
            .collect();
        let thinned = thin(&points, (0, 9_999), 100);
        assert!(thinned.len() <= 200, "{}", thinned.len());
        assert!(thinned.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        assert!(thinned.iter().any(|p| p.1 == 0.0) && thinned.iter().any(|p| p.1 == 1.0));
        // Sparse series pass through untouched.
        assert_eq!(thin(&points[..50], (0, 9_999), 100).len(), 50);
    }

    #[test]
    fn hidden_series_are_not_drawn() {
        let two = [
            ChartSeries {
                name: "a".into(),
                points: vec![Point { t: 0, v: 1.0 }, Point { t: 1, v: 1.0 }],
            },
            ChartSeries {
                name: "b".into(),
                points: vec![Point { t: 0, v: 5.0 }, Point { t: 1, v: 5.0 }],
            },
        ];
        let r = render(&two, &|i| i == 1, &spec());
        let slots = color_slots(["a", "b"]);
        let (a, b) = (
            color_css(slots[0]).to_uppercase(),
            color_css(slots[1]).to_uppercase(),
        );
        assert_ne!(a, b, "two series, two colours");
        assert!(r.svg.contains(&a) && !r.svg.contains(&b), "{}", r.svg);
    }

    #[test]
    fn a_series_keeps_its_colour_when_others_come_and_go() {
        let all = color_slots(["edge {route=a}", "edge {route=b}", "edge {route=c}"]);
        let fewer = color_slots(["edge {route=b}", "edge {route=c}"]);
        assert_eq!(
            &all[1..],
            &fewer[..],
            "b and c keep their colours without a"
        );
        let mut distinct = all.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{all:?}");
    }

    #[test]
    fn axis_labels_carry_units() {
        assert_eq!(format_axis(2048.0, "bytes"), "2KiB");
        assert_eq!(format_axis(12.5, "ms"), "12.5 ms");
        assert_eq!(format_axis(25_000.0, ""), "25k");
    }
}

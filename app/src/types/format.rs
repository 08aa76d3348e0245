//! How numbers and metrics are shown: units, counters, default aggregations, human-readable values.

/// The metrics of the built-in `self` source, in display order, with their units.
pub const SELF_METRICS: &[(&str, &str)] = &[
    ("requests_total", ""),
    ("errors_total", ""),
    ("response_time_ms", "ms"),
    ("active_connections", ""),
    ("process_resident_memory_bytes", "bytes"),
    ("ingest_samples_per_second", "/s"),
];

/// Formats a value for a tile: integers without decimals, bytes in binary units.
/// The unit a metric's values are in: known for `self`'s metrics, else read from the name's suffix as Prometheus
/// naming conventions have it (`_bytes`, `_seconds`, `_ms`).
/// Whether a metric is by its name a counter (Prometheus' naming rules: `_total`), so charting it raw would
/// mislead: charts show its rate.
pub fn is_counter(metric: &str) -> bool {
    metric.ends_with("_total")
}

/// The aggregation a metric is charted with when the view names none: the per-second rate for counters, else the
/// average.
pub fn default_aggregation(metric: &str) -> &'static str {
    if is_counter(metric) {
        "rate"
    } else if is_histogram_bucket(metric) {
        "p95"
    } else {
        "avg"
    }
}

/// Whether a metric is the bucket series of a Prometheus histogram (`_bucket` with `le` labels), charted as a
/// percentile.
pub fn is_histogram_bucket(metric: &str) -> bool {
    metric.ends_with("_bucket")
}

pub fn unit_of(metric: &str) -> &'static str {
    if let Some((_, unit)) = SELF_METRICS.iter().find(|(m, _)| *m == metric) {
        return unit;
    }
    let base = metric
        .strip_suffix("_total")
        .or_else(|| metric.strip_suffix("_bucket"))
        .unwrap_or(metric);
    if base.ends_with("_bytes") {
        "bytes"
    } else if base.ends_with("_seconds") {
        "s"
    } else if base.ends_with("_ms") || base.ends_with("_milliseconds") {
        "ms"
    } else {
        ""
    }
}

pub fn format_value(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    // A rate: the unit's value per second.
    if let Some(base) = unit.strip_suffix("/s") {
        return format!("{}/s", format_value(value, base));
    }
    match unit {
        "bytes" => {
            let mut v = value;
            let mut i = 0;
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            while v >= 1024.0 && i < UNITS.len() - 1 {
                v /= 1024.0;
                i += 1;
            }
            format!("{v:.1} {}", UNITS[i])
        }
        _ => {
            let s = if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.0}")
            } else if value.abs() < 0.995 {
                // Small rates keep three significant digits (0.0333, not 0.03).
                let digits = (2 - value.abs().log10().floor() as i32).clamp(2, 12) as usize;
                format!("{value:.digits$}")
            } else {
                format!("{value:.2}")
            };
            if unit.is_empty() {
                s
            } else {
                format!("{s} {unit}")
            }
        }
    }
}

//! A parser for the Prometheus text exposition format (0.0.4) and OpenMetrics text (1.0): comments and
//! `# TYPE`/`# HELP`/`# UNIT` lines, samples with labels (escapes `\\`, `\"`, `\n`), values including `NaN` and
//! `±Inf`, optional timestamps (milliseconds in Prometheus text, seconds in OpenMetrics), OpenMetrics exemplars
//! (ignored) and `# EOF`. Histogram and summary series (`_bucket`, `_sum`, `_count`, `quantile`) are plain samples
//! here, as in Prometheus' own storage.
//!
//! It never panics on any input (see the property tests); a malformed line is an error naming its line number.

use crate::names::{is_label_name, is_metric_name};
use std::collections::BTreeMap;
use std::fmt;

/// Which dialect the body is in; it decides the unit of timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    PrometheusText,
    /// `application/openmetrics-text`: timestamps in seconds.
    OpenMetrics,
}

impl Format {
    pub fn from_content_type(content_type: &str) -> Format {
        if content_type.to_ascii_lowercase().contains("openmetrics") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// The declared type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Milliseconds since the epoch, if the line carried a timestamp.
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<ParsedSample>,
    /// Declared types by family name.
    pub types: BTreeMap<String, MetricType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole exposition body.
pub fn parse(body: &str, format: Format) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut seen_eof = false;
    for (index, raw) in body.lines().enumerate() {
        let line_no = index + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = raw.trim_end_matches('\r');
        if seen_eof {
            if line.trim().is_empty() {
                continue;
            }
            return Err(err("content after `# EOF`".into()));
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                seen_eof = true;
                continue;
            }
            let mut parts = comment.splitn(3, char::is_whitespace);
            if let (Some("TYPE"), Some(name), Some(kind)) =
                (parts.next(), parts.next(), parts.next())
            {
                if !is_metric_name(name) {
                    return Err(err(format!("`{name}` is not a valid metric name")));
                }
                let kind = match kind.trim() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" | "gaugehistogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" | "unknown" | "info" | "stateset" => MetricType::Untyped,
                    other => return Err(err(format!("unknown metric type `{other}`"))),
                };
                out.types.insert(name.to_string(), kind);
            }
            continue;
        }
        out.samples
            .push(parse_sample(trimmed, format).map_err(err)?);
    }
    Ok(out)
}

fn parse_sample(line: &str, format: Format) -> Result<ParsedSample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("`{name}` is not a valid metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let (value, timestamp_ms) = parse_tail(name, rest, format)?;
    Ok(ParsedSample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// A sample line's value and optional timestamp: what follows its series (`name{labels}`).
fn parse_tail(name: &str, rest: &str, format: Format) -> Result<(f64, Option<i64>), String> {
    // OpenMetrics exemplar: `value [timestamp] # {labels} value [timestamp]`.
    let rest = match rest.find(" # ") {
        Some(pos) if format == Format::OpenMetrics => &rest[..pos],
        _ => rest,
    };
    let mut fields = rest.split_whitespace();
    let value_text = fields
        .next()
        .ok_or_else(|| format!("`{name}` has no value"))?;
    let value = parse_value(value_text).ok_or_else(|| format!("`{value_text}` is not a number"))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(ts) => {
            Some(parse_timestamp(ts, format).ok_or_else(|| format!("`{ts}` is not a timestamp"))?)
        }
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected `{extra}` after the timestamp"));
    }
    Ok((value, timestamp_ms))
}

/// Where a sample line's series (`name` or `name{labels}`) ends, found without parsing it (quotes and escapes
/// in label values skipped); `None` when the labels are not closed (the full parse names the problem).
fn series_end(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    // Where `parse_sample` ends the name.
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    if bytes.get(name_end) != Some(&b'{') {
        return Some(name_end);
    }
    let (mut quoted, mut at) = (false, name_end + 1);
    while let Some(&b) = bytes.get(at) {
        match (quoted, b) {
            (true, b'\\') => at += 1,
            (true, b'"') => quoted = false,
            (false, b'"') => quoted = true,
            (false, b'}') => return Some(at + 1),
            _ => {}
        }
        at += 1;
    }
    None
}

/// Parses a whole exposition body like [`parse`], each distinct series once: `intern` turns the first sample of
/// a series (the same `name{labels}` text) into a `T`, and every sample is handed to `each` with its series' `T`,
/// value and timestamp. A body repeating series (many points per series) costs one parse of each series.
pub fn parse_interned<T>(
    body: &str,
    format: Format,
    mut intern: impl FnMut(ParsedSample) -> Result<T, String>,
    mut each: impl FnMut(usize, &T, f64, Option<i64>) -> Result<(), String>,
) -> Result<usize, ParseError> {
    let mut known: std::collections::HashMap<&str, T> = std::collections::HashMap::new();
    let mut seen_eof = false;
    let mut samples = 0;
    for (index, raw) in body.lines().enumerate() {
        let err = |message: String| ParseError {
            line: index + 1,
            message,
        };
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if seen_eof || trimmed.is_empty() || trimmed.starts_with('#') {
            // Comments, `# TYPE` and `# EOF` as the full parser reads them (one line at a time).
            if seen_eof && !trimmed.is_empty() {
                return Err(err("content after `# EOF`".into()));
            }
            if !trimmed.is_empty() {
                let one = parse(trimmed, format).map_err(|e| err(e.message))?;
                seen_eof = trimmed.strip_prefix('#').map(str::trim_start) == Some("EOF");
                debug_assert!(one.samples.is_empty());
            }
            continue;
        }
        let end = series_end(trimmed);
        let cached = end.and_then(|end| known.get(&trimmed[..end]).map(|t| (end, t)));
        match cached {
            Some((end, t)) => {
                let name_end = trimmed[..end]
                    .find(|c: char| c == '{' || c.is_whitespace())
                    .unwrap_or(end);
                let (value, ts) =
                    parse_tail(&trimmed[..name_end], &trimmed[end..], format).map_err(err)?;
                each(samples, t, value, ts).map_err(err)?;
            }
            None => {
                let parsed = parse_sample(trimmed, format).map_err(err)?;
                let (value, ts) = (parsed.value, parsed.timestamp_ms);
                let t = intern(parsed).map_err(err)?;
                each(samples, &t, value, ts).map_err(err)?;
                if let Some(end) = end {
                    known.insert(&trimmed[..end], t);
                }
            }
        }
        samples += 1;
    }
    Ok(samples)
}

/// Parses `name="value",...}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut s: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let eq = s.find('=').ok_or("a label without `=`")?;
        let name = s[..eq].trim();
        if !is_label_name(name) {
            return Err(format!("`{name}` is not a valid label name"));
        }
        if name.starts_with("__") {
            return Err(format!(
                "label `{name}` is reserved (names starting with __)"
            ));
        }
        s = s[eq + 1..].trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label `{name}` must be quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("the value of label `{name}` is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => {
                        return Err(format!("unknown escape `\\{other}` in label `{name}`"))
                    }
                    None => return Err(format!("the value of label `{name}` is not closed")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label `{name}` appears twice"));
        }
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("expected `,` or `}` after a label".into());
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        // Rust also accepts "infinity" and "nan" spellings; the format does not.
        _ if s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

fn parse_timestamp(s: &str, format: Format) -> Option<i64> {
    match format {
        Format::PrometheusText => s.parse::<i64>().ok(),
        Format::OpenMetrics => {
            let secs = parse_value(s)?;
            (secs.is_finite() && secs.abs() < 1e14).then(|| (secs * 1000.0).round() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# A summary
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
nan_gauge NaN
"#;

    #[test]
    fn parses_the_reference_example() {
        let e = parse(SAMPLE, Format::PrometheusText).unwrap();
        assert_eq!(e.samples.len(), 12);
        assert_eq!(e.types["http_requests_total"], MetricType::Counter);
        assert_eq!(
            e.types["http_request_duration_seconds"],
            MetricType::Histogram
        );
        let first = &e.samples[0];
        assert_eq!(
            (first.name.as_str(), first.value, first.timestamp_ms),
            ("http_requests_total", 1027.0, Some(1395066363000))
        );
        assert_eq!(first.labels["code"], "200");
        let escaped = &e.samples[2];
        assert_eq!(escaped.labels["path"], r"C:\DIR\FILE.TXT");
        assert_eq!(escaped.labels["error"], "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(e.samples[4].value, f64::INFINITY);
        assert_eq!(e.samples[4].timestamp_ms, Some(-3982045));
        assert!(e.samples[11].value.is_nan());
    }

    #[test]
    fn parses_openmetrics_with_seconds_exemplars_and_eof() {
        let body = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\nfoo_created 1520430000.123\n# EOF\n";
        let e = parse(body, Format::OpenMetrics).unwrap();
        assert_eq!(e.samples[0].timestamp_ms, Some(1520879607789));
        assert_eq!(e.samples.len(), 2);
        assert!(parse("a 1\n# EOF\nb 2\n", Format::OpenMetrics).is_err());
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let cases = [
            ("ok 1\n1bad 2\n", 2, "not a valid metric name"),
            ("m{a=\"1\" 2\n", 1, "expected `,` or `}`"),
            ("m{a=1} 2\n", 1, "must be quoted"),
            ("m{a=\"1\",a=\"2\"} 2\n", 1, "appears twice"),
            ("m{__name__=\"x\"} 2\n", 1, "reserved"),
            ("m{a=\"x} 2\n", 1, "not closed"),
            ("m abc\n", 1, "not a number"),
            ("m 1 2 3\n", 1, "unexpected"),
            ("m\n", 1, "no value"),
            ("m infinity\n", 1, "not a number"),
            ("# TYPE m flux\n", 1, "unknown metric type"),
        ];
        for (body, line, needle) in cases {
            let e = parse(body, Format::PrometheusText).unwrap_err();
            assert_eq!(e.line, line, "{body:?}");
            assert!(e.message.contains(needle), "{body:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(body in any::<String>()) {
            let _ = parse(&body, Format::PrometheusText);
            let _ = parse(&body, Format::OpenMetrics);
        }

        #[test]
        fn never_panics_on_exposition_like_input(body in r#"([a-z_]{1,5}(\{([a-z]{1,3}="[^"\n]{0,4}"?,?){0,3}\}?)? ?[-+0-9.eEIfnNa]{0,6} ?[0-9.]{0,4}\n|# (TYPE|HELP|EOF) ?[a-z]{0,4} ?[a-z]{0,8}\n){0,8}"#) {
            let _ = parse(&body, Format::PrometheusText);
            let _ = parse(&body, Format::OpenMetrics);
        }

        /// The interning parser reads every body exactly as the full parser does: the same samples (series shared
        /// between lines with the same series text) or an error on the same line.
        #[test]
        fn interned_parsing_equals_full_parsing(
            body in r#"([a-z_]{1,3}(\{([a-z]{1,2}="[^"\n]{0,3}"?,?){0,2}\}?)? ?[-+0-9.eEIfnNa]{0,4} ?[0-9.]{0,4}( # \{a="1"\} 1)?\n|# (TYPE|HELP|EOF) ?[a-z]{0,4} ?[a-z]{0,8}\n|\n){0,12}"#,
            repeat in 1usize..4,
        ) {
            let body = body.repeat(repeat);
            for format in [Format::PrometheusText, Format::OpenMetrics] {
                let full = parse(&body, format);
                let mut seen = Vec::new();
                let interned = parse_interned(
                    &body,
                    format,
                    |first| Ok((first.name, first.labels)),
                    |_, (name, labels), value, ts| {
                        seen.push(ParsedSample { name: name.clone(), labels: labels.clone(), value, timestamp_ms: ts });
                        Ok(())
                    },
                );
                match full {
                    Ok(e) => {
                        prop_assert_eq!(interned.as_ref().ok(), Some(&e.samples.len()), "{:?}", interned);
                        prop_assert_eq!(seen.len(), e.samples.len());
                        for (a, b) in seen.iter().zip(&e.samples) {
                            prop_assert_eq!((&a.name, &a.labels, a.timestamp_ms), (&b.name, &b.labels, b.timestamp_ms));
                            prop_assert_eq!(a.value.to_bits(), b.value.to_bits());
                        }
                    }
                    Err(e) => prop_assert_eq!(interned.map_err(|i| i.line), Err(e.line)),
                }
            }
        }

        #[test]
        fn rendered_samples_round_trip(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
            labels in proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", "[ -~\n]{0,8}", 0..4),
            value in -1e12f64..1e12,
        ) {
            let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))).collect();
            let line = format!("{name}{{{}}} {value}\n", rendered.join(","));
            let e = parse(&line, Format::PrometheusText).unwrap();
            prop_assert_eq!(&e.samples[0].name, &name);
            prop_assert_eq!(&e.samples[0].labels, &labels);
            prop_assert_eq!(e.samples[0].value, value);
        }
    }
}

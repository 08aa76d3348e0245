//! Downloads of query results: CSV with a fixed layout, one row per point, safe to open in a spreadsheet.
//!
//! Layout (header included): `timestamp,metric,source,labels,value` — `timestamp` in RFC 3339 (UTC, milliseconds),
//! `source` empty when the row aggregates several sources, `labels` the series' labels as `name=value` pairs joined
//! by `;`, `value` a plain number. Quoting follows RFC 4180 (the `csv` crate); text cells that a spreadsheet would
//! run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.

use app::types::QueryResult;
use std::borrow::Cow;

/// A text cell a spreadsheet will show as text, never run as a formula.
pub fn inert_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// The result as CSV in the layout above.
pub fn series_csv(result: &QueryResult) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["timestamp", "metric", "source", "labels", "value"])?;
    for series in &result.series {
        let labels = series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let source = series.source.as_deref().unwrap_or("");
        for p in &series.points {
            let at = chrono::DateTime::from_timestamp_millis(p.t)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            out.write_record([
                at.as_str(),
                &inert_cell(&result.metric),
                &inert_cell(source),
                &inert_cell(&labels),
                &p.v.to_string(),
            ])?;
        }
    }
    Ok(out.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::{Point, SeriesData};

    #[test]
    fn rows_are_quoted_and_formulas_neutralised() {
        let result = QueryResult {
            metric: "calls".into(),
            aggregation: "avg".into(),
            start: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            end: chrono::DateTime::from_timestamp(60, 0).unwrap(),
            step_ms: 1000,
            resolution: "raw".into(),
            series: vec![SeriesData {
                source: Some("=cmd()".into()),
                labels: [("tool".to_string(), "a,\"b\"".to_string())].into(),
                points: vec![Point { t: 1500, v: -2.5 }],
            }],
        };
        let text = String::from_utf8(series_csv(&result).unwrap()).unwrap();
        assert_eq!(
            text,
            "timestamp,metric,source,labels,value\n1970-01-01T00:00:01.500Z,calls,'=cmd(),\"tool=a,\"\"b\"\"\",-2.5\n"
        );
        assert_eq!(inert_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert_cell("search"), "search");
    }
}

//! Instants on the wire: RFC 3339 text, written by chrono (`2026-12-02T17:40:00.123456Z`) on both sides. The
//! server reads them with chrono; the browser reads them with [`parse_rfc3339`], a parser of that one form, because
//! chrono's general parser is some 18 kB of WASM that every first page load would download. The types in
//! [`crate::types`] name these modules on each instant field (`#[serde(with = "crate::wire::time")]`).

use chrono::{DateTime, NaiveDate, Utc};

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`T`, `t` or a space between date and time; a fraction of any
/// length, nanoseconds kept; a leap second as chrono keeps it). Anything else is `None`.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, mut second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if at(i, b".") {
        i += 1;
        let start = i;
        while at(i, b"0123456789") {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        nanos *= 10u32.pow(9 - (i - start).min(9) as u32);
    }
    let offset: i64 = match b.get(i)? {
        b'Z' | b'z' if b.len() == i + 1 => 0,
        sign @ (b'+' | b'-') if b.len() == i + 6 && at(i + 3, b":") => {
            let minutes = i64::from(number(i + 1, i + 3)? * 60 + number(i + 4, i + 6)?);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    if second == 60 {
        // chrono's leap second: 59 s and a nanosecond count past one second.
        second = 59;
        nanos += 1_000_000_000;
    }
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = local.checked_sub_signed(chrono::Duration::minutes(offset))?;
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

/// A `DateTime<Utc>` field.
pub mod time {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        t.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
        return d.deserialize_str(super::Visitor);
        #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
        return serde::Deserialize::deserialize(d);
    }
}

/// An `Option<DateTime<Utc>>` field (absent or `null`: `None`); declare it `#[serde(default, with = …)]`.
pub mod opt_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        t.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Instant(#[serde(with = "super::time")] DateTime<Utc>);
        Ok(Option::<Instant>::deserialize(d)?.map(|Instant(t)| t))
    }
}

/// Reads an instant from a string with [`parse_rfc3339`].
#[cfg_attr(not(all(feature = "hydrate", not(feature = "ssr"))), allow(dead_code))]
struct Visitor;

impl serde::de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 instant")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse_rfc3339(text).ok_or_else(|| E::custom(format!("`{text}` is not an RFC 3339 instant")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser agrees with chrono on what chrono writes, and on offsets, fractions and leap seconds.
    #[test]
    fn reads_what_chrono_reads() {
        let mut t = DateTime::from_timestamp(0, 0).unwrap();
        let mut seed: u64 = 7;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            t += chrono::Duration::nanoseconds((seed >> 12) as i64 % 40_000_000_000_000_000);
            let written = serde_json::to_string(&t).unwrap();
            let text: String = serde_json::from_str(&written).unwrap();
            assert_eq!(parse_rfc3339(&text), Some(t), "{text}");
        }
        for text in [
            "2026-12-02T17:40:00Z",
            "2026-12-02t17:40:00.5z",
            "2026-12-02 17:40:00.123456789123+01:00",
            "2026-12-02T00:10:00-05:30",
            "2016-12-31T23:59:60Z",
            "2026-02-28T23:59:59.999999999+14:00",
        ] {
            let chrono: DateTime<Utc> = text
                .parse::<DateTime<chrono::FixedOffset>>()
                .unwrap()
                .into();
            assert_eq!(parse_rfc3339(text), Some(chrono), "{text}");
        }
        for bad in [
            "",
            "2026-12-02",
            "2026-12-02T17:40:00",
            "2026-13-02T17:40:00Z",
            "2026-12-02T17:40:00.Z",
            "2026-12-02T17:40:00+0100",
            "2026-12-02T17:40:00Zjunk",
            "2026-12-02T24:00:00Z",
            "２026-12-02T17:40:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_round_trip_absent_and_null_included() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(with = "time")]
            at: DateTime<Utc>,
            #[serde(default, with = "opt_time")]
            until: Option<DateTime<Utc>>,
        }
        let row = Row {
            at: DateTime::from_timestamp_millis(1_800_000_000_123).unwrap(),
            until: None,
        };
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(text, r#"{"at":"2027-01-15T08:00:00.123Z","until":null}"#);
        assert_eq!(serde_json::from_str::<Row>(&text).unwrap(), row);
        let absent: Row = serde_json::from_str(r#"{"at":"2027-01-15T08:00:00.123Z"}"#).unwrap();
        assert_eq!(absent, row);
    }
}

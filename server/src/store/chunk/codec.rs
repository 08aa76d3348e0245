//! The chunk codec: one series' samples of one period (an hour, later a day) as one compressed byte string, and
//! the aggregates stored beside it. Lossless: every timestamp (ms) and every value comes back bit for bit, NaN
//! payloads and ±Inf included.
//!
//! Data in: a series' samples sorted by time ([`encode`]). Data out: the same samples ([`decode`]), or a
//! [`ChunkError`] saying what is wrong with the bytes (never a panic, never wrong numbers).
//!
//! Layout (little-endian): a codec byte ([`CODEC_PCO`]), the sample count (u32), the length of the timestamp
//! section (u32), the timestamps as pco-compressed `i64` milliseconds, then the values as pco-compressed `f64`.
//! Pco picks delta encoding for timestamps (a regular series costs a few bytes per chunk) and float-multiplier mode
//! for decimal values; it maps floats to integers by their bits, so the bytes of every value survive.

use pco::standalone::{simple_compress, simple_decompress};
use pco::ChunkConfig;

/// Pco for both columns (the only codec so far; the byte lets a later one be read beside it).
pub const CODEC_PCO: u8 = 1;
const HEADER: usize = 1 + 4 + 4;

/// Why a chunk's bytes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// The first byte names no codec this build knows.
    UnknownCodec(u8),
    /// Fewer bytes than the header or its sections say.
    Truncated { expected: usize, found: usize },
    /// The codec refused the bytes, or decoded a different count than the header's.
    Corrupt(String),
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkError::UnknownCodec(c) => write!(f, "unknown chunk codec {c}"),
            ChunkError::Truncated { expected, found } => {
                write!(
                    f,
                    "chunk truncated: {found} bytes where {expected} were expected"
                )
            }
            ChunkError::Corrupt(why) => write!(f, "corrupt chunk: {why}"),
        }
    }
}

impl std::error::Error for ChunkError {}

/// Encodes samples (`ts` in ms, sorted; as many values as timestamps).
pub fn encode(ts: &[i64], values: &[f64]) -> Vec<u8> {
    assert_eq!(ts.len(), values.len(), "one value per timestamp");
    // Compression of in-memory slices only fails on an invalid configuration, which the default is not.
    let config = ChunkConfig::default();
    let times = simple_compress(ts, &config).expect("pco compresses i64 slices");
    let vals = simple_compress(values, &config).expect("pco compresses f64 slices");
    let mut out = Vec::with_capacity(HEADER + times.len() + vals.len());
    out.push(CODEC_PCO);
    out.extend_from_slice(&(ts.len() as u32).to_le_bytes());
    out.extend_from_slice(&(times.len() as u32).to_le_bytes());
    out.extend_from_slice(&times);
    out.extend_from_slice(&vals);
    out
}

/// The sample count a chunk's header states (without decoding it).
pub fn count(bytes: &[u8]) -> Result<usize, ChunkError> {
    header(bytes).map(|(n, _)| n)
}

fn header(bytes: &[u8]) -> Result<(usize, usize), ChunkError> {
    let Some(&codec) = bytes.first() else {
        return Err(ChunkError::Truncated {
            expected: HEADER,
            found: 0,
        });
    };
    if codec != CODEC_PCO {
        return Err(ChunkError::UnknownCodec(codec));
    }
    if bytes.len() < HEADER {
        return Err(ChunkError::Truncated {
            expected: HEADER,
            found: bytes.len(),
        });
    }
    let word =
        |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
    Ok((word(1), word(5)))
}

/// Decodes a chunk into its timestamps (ms) and values.
pub fn decode(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    let (n, times_len) = header(bytes)?;
    let body = &bytes[HEADER..];
    if body.len() < times_len {
        return Err(ChunkError::Truncated {
            expected: HEADER + times_len,
            found: bytes.len(),
        });
    }
    let (times, vals) = body.split_at(times_len);
    let ts: Vec<i64> = guarded(|| simple_decompress(times))
        .map_err(|e| ChunkError::Corrupt(format!("timestamps: {e}")))?;
    let values: Vec<f64> = guarded(|| simple_decompress(vals))
        .map_err(|e| ChunkError::Corrupt(format!("values: {e}")))?;
    if ts.len() != n || values.len() != n {
        return Err(ChunkError::Corrupt(format!(
            "{} timestamps and {} values where the header says {n}",
            ts.len(),
            values.len()
        )));
    }
    Ok((ts, values))
}

/// Runs a decoder so that a panic on hostile bytes is an error, not a crash of the reading thread.
fn guarded<T>(f: impl FnOnce() -> pco::errors::PcoResult<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder failed on these bytes".into()),
    }
}

/// PostgreSQL's float order: NaN above every number (and equal to NaN).
pub fn pg_less(a: f64, b: f64) -> bool {
    !a.is_nan() && (b.is_nan() || a < b)
}

/// What is stored beside a chunk so coarse reads need not decode it: count, min, max, sum, first and last. Min,
/// max and sum follow PostgreSQL's float rules (NaN is greater than every number; a NaN makes the sum NaN), so a
/// bucket answered from these equals one computed by SQL over the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first_ts: i64,
    pub first: f64,
    pub last_ts: i64,
    pub last: f64,
}

impl Summary {
    /// The summary of non-empty samples sorted by time (`None` when empty).
    pub fn of(ts: &[i64], values: &[f64]) -> Option<Summary> {
        let (&first_ts, &last_ts) = (ts.first()?, ts.last()?);
        let mut min = values[0];
        let mut max = values[0];
        let mut sum = 0.0;
        for &v in values {
            if pg_less(v, min) {
                min = v;
            }
            if pg_less(max, v) {
                max = v;
            }
            sum += v;
        }
        Some(Summary {
            count: values.len() as i64,
            min,
            max,
            sum,
            first_ts,
            first: values[0],
            last_ts,
            last: values[values.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    proptest! {
        #[test]
        fn any_samples_come_back_bit_for_bit(
            start in -1_000_000_000_000i64..4_000_000_000_000,
            gaps in proptest::collection::vec(0i64..100_000, 0..600),
            bits in proptest::collection::vec(any::<u64>(), 600),
        ) {
            let mut ts = Vec::with_capacity(gaps.len());
            let mut t = start;
            for g in &gaps {
                t += g;
                ts.push(t);
            }
            let values: Vec<f64> = bits[..ts.len()].iter().map(|b| f64::from_bits(*b)).collect();
            let (back_ts, back_values) = decode(&encode(&ts, &values)).unwrap();
            prop_assert_eq!(back_ts, ts);
            prop_assert!(same(&back_values, &values));
        }

        #[test]
        fn damaged_bytes_are_an_error_never_a_panic(
            cut in 0usize..400,
            flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8),
        ) {
            let ts: Vec<i64> = (0..360).map(|i| 1_700_000_000_000 + i * 10_000).collect();
            let values: Vec<f64> = (0..360).map(|i| (i as f64 * 0.37).sin() * 100.0).collect();
            let mut bytes = encode(&ts, &values);
            for (at, byte) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= byte;
                }
            }
            bytes.truncate(cut.min(bytes.len()));
            // Any outcome but a panic: an error, or (rarely, when a flip lands in padding) the samples.
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn special_values_survive() {
        let ts = vec![0, 1, 2, 3, 4, 5, 6];
        let quiet_nan_with_payload = f64::from_bits(0x7ff8_0000_dead_beef);
        let values = vec![
            f64::NAN,
            quiet_nan_with_payload,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN_POSITIVE / 2.0,
            f64::MAX,
        ];
        let (back_ts, back) = decode(&encode(&ts, &values)).unwrap();
        assert_eq!(back_ts, ts);
        assert!(same(&back, &values));
    }

    #[test]
    fn damaged_headers_say_what_is_wrong() {
        let bytes = encode(&[1, 2, 3], &[1.0, 2.0, 3.0]);
        let mut unknown = bytes.clone();
        unknown[0] = 9;
        assert_eq!(decode(&unknown), Err(ChunkError::UnknownCodec(9)));
        assert!(matches!(
            decode(&bytes[..5]),
            Err(ChunkError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&bytes[..HEADER + 1]),
            Err(ChunkError::Truncated { .. } | ChunkError::Corrupt(_))
        ));
        let mut miscounted = bytes.clone();
        miscounted[1] = 4;
        assert!(matches!(decode(&miscounted), Err(ChunkError::Corrupt(_))));
        assert_eq!(count(&bytes), Ok(3));
    }

    #[test]
    fn summaries_follow_postgres_float_rules() {
        let s = Summary::of(&[1, 2, 3], &[2.0, f64::NAN, -1.0]).unwrap();
        assert_eq!(
            (s.count, s.min, s.first, s.last, s.first_ts, s.last_ts),
            (3, -1.0, 2.0, -1.0, 1, 3)
        );
        assert!(s.max.is_nan() && s.sum.is_nan());
        let s = Summary::of(&[5], &[4.5]).unwrap();
        assert_eq!((s.min, s.max, s.sum), (4.5, 4.5, 4.5));
        assert!(Summary::of(&[], &[]).is_none());
    }

    /// The workload shape: 2-decimal random-walk gauges and counters at 10 s, an hour per chunk.
    #[test]
    fn decimal_gauges_and_counters_cost_about_a_byte_per_sample() {
        let mut seed: u64 = 42;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let ts: Vec<i64> = (0..360).map(|i| 1_764_000_000_000 + i * 10_000).collect();
        let (mut total, mut samples) = (0usize, 0usize);
        for series in 0..100 {
            let mut v: f64 = 100.0;
            let values: Vec<f64> = (0..360)
                .map(|_| {
                    v = if series % 2 == 0 {
                        (v + (next() - 0.5) * 4.0).max(0.0)
                    } else {
                        v + (next() * 50.0).floor()
                    };
                    (v * 100.0).round() / 100.0
                })
                .collect();
            total += encode(&ts, &values).len();
            samples += values.len();
        }
        let per_sample = total as f64 / samples as f64;
        println!("chunk codec: {per_sample:.3} bytes/sample over {samples} samples");
        assert!(per_sample < 2.0, "{per_sample} bytes/sample");
    }
}

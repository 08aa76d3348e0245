//! The chunk codec: one series' samples of one period (an hour, later a day) as one compressed byte string, and
//! the aggregates stored beside it. Lossless: every timestamp (ms) and every value comes back bit for bit, NaN
//! payloads and ±Inf included.
//!
//! Data in: a series' samples sorted by time ([`encode`]). Data out: the same samples ([`decode`]), or a
//! [`ChunkError`] saying what is wrong with the bytes (never a panic, never wrong numbers).
//!
//! Layout (little-endian) of what [`encode`] writes ([`CODEC_PACKED`]): the codec byte, the sample count (u32),
//! the timestamps as an integer stream, then a value-mode byte: [`VALUES_DECIMAL`] followed by a decimal scale `k`
//! and the values' mantissas (`value × 10^k`, exact) as an integer stream; [`VALUES_DECIMAL_EXCEPT`], the same
//! followed by the few values that are no such decimal (−0 where a gauge crosses zero, NaN staleness markers,
//! ±Inf, a full-precision number: at most one in [`EXCEPTION_SHARE`]) as a count and, each, its index (varint,
//! from the previous one's) and its 8 bytes, their mantissas in the stream repeating the one before; or
//! [`VALUES_PCO`] followed by the values compressed by pco (any floats). An integer stream is the
//! first integer (zigzag varint), then the differences between neighbours in blocks of [`BLOCK`], each block its
//! smallest difference (zigzag varint), a bit width and every difference less that smallest one in that many bits.
//! Last, a CRC-32 of everything before it: a damaged chunk is an error, never other plausible numbers (a packed
//! block of equal steps would otherwise read on as far as a damaged count says). A regular series' timestamps
//! cost a few bytes per block; a 2-decimal random walk costs the bits of its steps'
//! spread (≈1 byte a sample), decoded at a few nanoseconds a sample — pco costs ~9 µs per hour chunk just to
//! start. Chunks written by the first codec ([`CODEC_PCO`]: both columns by pco) are still read.

use pco::standalone::{simple_compress, simple_decompress};
use pco::ChunkConfig;

/// Pco for both columns (chunks written before [`CODEC_PACKED`]; read, no longer written).
pub const CODEC_PCO: u8 = 1;
/// Timestamps as a packed integer stream; values as decimal mantissas (packed) or by pco.
pub const CODEC_PACKED: u8 = 2;
const HEADER: usize = 1 + 4;
/// Differences per packed block.
const BLOCK: usize = 128;
/// The value-mode bytes of [`CODEC_PACKED`].
const VALUES_DECIMAL: u8 = 0;
const VALUES_PCO: u8 = 1;
const VALUES_DECIMAL_EXCEPT: u8 = 2;
/// At most one value in this many may be an exception to the decimal mantissas; more, and pco takes the values.
const EXCEPTION_SHARE: usize = 16;
/// The largest decimal scale tried: 10^12 is exact in an f64, and mantissas stay below 2^53.
const MAX_SCALE: usize = 12;
const POW10: [f64; MAX_SCALE + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];
/// A chunk's count beyond which the header is taken as damaged (a day at one sample per 5 ms).
const MAX_COUNT: usize = 1 << 24;

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
    let mut out = Vec::with_capacity(HEADER + 16 + ts.len() * 2);
    out.push(CODEC_PACKED);
    out.extend_from_slice(&(ts.len() as u32).to_le_bytes());
    pack(ts.iter().copied(), ts.len(), &mut out);
    match decimal(values) {
        Some((scale, mantissas, exceptions)) if exceptions.is_empty() => {
            out.extend_from_slice(&[VALUES_DECIMAL, scale as u8]);
            pack(mantissas.into_iter(), values.len(), &mut out);
        }
        Some((scale, mantissas, exceptions)) => {
            out.extend_from_slice(&[VALUES_DECIMAL_EXCEPT, scale as u8]);
            pack(mantissas.into_iter(), values.len(), &mut out);
            varint(exceptions.len() as u64, &mut out);
            let mut previous = 0;
            for k in exceptions {
                varint((k - previous) as u64, &mut out);
                out.extend_from_slice(&values[k].to_bits().to_le_bytes());
                previous = k;
            }
        }
        None => {
            out.push(VALUES_PCO);
            // Compression of in-memory slices only fails on an invalid configuration, which the default is not.
            let vals = simple_compress(values, &ChunkConfig::default())
                .expect("pco compresses f64 slices");
            out.extend_from_slice(&vals);
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The smallest decimal scale `k` at which every value but a few is an integer mantissa `m` with `m / 10^k` giving
/// back the value's exact bits, with those mantissas (an exception's: the one before it) and the exceptions'
/// indexes (−0, NaN, ±Inf, full-precision floats); `None` when more than one value in [`EXCEPTION_SHARE`] is one.
#[allow(clippy::type_complexity)]
fn decimal(values: &[f64]) -> Option<(usize, Vec<i64>, Vec<usize>)> {
    const LIMIT: f64 = (1u64 << 53) as f64;
    let exact = |v: f64, k: usize| -> Option<i64> {
        let m = (v * POW10[k]).round();
        // Checked as the decoder computes it, from the integer (so −0 fails: its mantissa reads back as +0).
        (m.abs() < LIMIT && ((m as i64) as f64 / POW10[k]).to_bits() == v.to_bits())
            .then_some(m as i64)
    };
    let allowed = values.len() / EXCEPTION_SHARE;
    let mut scale = 0;
    let mut odd = 0;
    for &v in values {
        // The scale only grows; a value exact at none from here on is an exception.
        match (scale..=MAX_SCALE).find(|&k| exact(v, k).is_some()) {
            Some(k) => scale = k,
            None => {
                odd += 1;
                if odd > allowed {
                    return None;
                }
            }
        }
    }
    // A value exact at a smaller scale is almost always exact at the common one; checked, not assumed.
    let mut mantissas = Vec::with_capacity(values.len());
    let mut exceptions = Vec::new();
    for (k, &v) in values.iter().enumerate() {
        match exact(v, scale) {
            Some(m) => mantissas.push(m),
            None => {
                exceptions.push(k);
                mantissas.push(mantissas.last().copied().unwrap_or(0));
            }
        }
    }
    (exceptions.len() <= allowed).then_some((scale, mantissas, exceptions))
}

/// Writes `n` integers as a packed stream (see the module docs). Differences wrap, so any `i64`s come back.
fn pack(mut items: impl Iterator<Item = i64>, n: usize, out: &mut Vec<u8>) {
    let Some(first) = items.next() else {
        return;
    };
    varint(zigzag(first), out);
    let mut previous = first;
    let mut deltas = [0i64; BLOCK];
    let mut left = n - 1;
    while left > 0 {
        let len = left.min(BLOCK);
        for d in deltas.iter_mut().take(len) {
            let x = items.next().expect("as many items as counted");
            *d = x.wrapping_sub(previous);
            previous = x;
        }
        let block = &deltas[..len];
        let base = *block.iter().min().expect("a block is not empty");
        let spread = block
            .iter()
            .map(|d| d.wrapping_sub(base) as u64)
            .max()
            .unwrap_or(0);
        let width = 64 - spread.leading_zeros();
        varint(zigzag(base), out);
        out.push(width as u8);
        let mut bits: u128 = 0;
        let mut held = 0u32;
        for d in block {
            bits |= (d.wrapping_sub(base) as u64 as u128) << held;
            held += width;
            while held >= 8 {
                out.push(bits as u8);
                bits >>= 8;
                held -= 8;
            }
        }
        if held > 0 {
            out.push(bits as u8);
        }
        left -= len;
    }
}

/// Reads `n` integers of a packed stream from `bytes[*at..]`, advancing `at`.
fn unpack(bytes: &[u8], at: &mut usize, n: usize) -> Result<Vec<i64>, ChunkError> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let mut previous = unzigzag(read_varint(bytes, at)?);
    out.push(previous);
    while out.len() < n {
        let len = (n - out.len()).min(BLOCK);
        let base = unzigzag(read_varint(bytes, at)?);
        let width = *bytes.get(*at).ok_or_else(|| truncated(*at + 1, bytes))? as u32;
        *at += 1;
        if width > 64 {
            return Err(ChunkError::Corrupt(format!(
                "a block of {width}-bit differences"
            )));
        }
        let size = (len * width as usize).div_ceil(8);
        let packed = bytes
            .get(*at..*at + size)
            .ok_or_else(|| truncated(*at + size, bytes))?;
        *at += size;
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        for k in 0..len {
            let offset = if width == 0 {
                0
            } else {
                bits_at(packed, k * width as usize) & mask
            };
            previous = previous.wrapping_add(base.wrapping_add(offset as i64));
            out.push(previous);
        }
    }
    Ok(out)
}

/// The (up to 64) bits of `packed` from bit `bit` on, low bits first; bytes past the end read as zeros.
#[inline]
fn bits_at(packed: &[u8], bit: usize) -> u64 {
    let (byte, shift) = (bit / 8, bit % 8);
    let word = match packed.get(byte..byte + 16) {
        Some(sixteen) => u128::from_le_bytes(sixteen.try_into().expect("16 bytes")),
        None => {
            let mut buf = [0u8; 16];
            let rest = &packed[byte.min(packed.len())..];
            buf[..rest.len()].copy_from_slice(rest);
            u128::from_le_bytes(buf)
        }
    };
    (word >> shift) as u64
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, ChunkError> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(*at).ok_or_else(|| truncated(*at + 1, bytes))?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err(ChunkError::Corrupt("a varint beyond 64 bits".into()));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ChunkError::Corrupt("a varint beyond 64 bits".into()))
}

fn truncated(expected: usize, bytes: &[u8]) -> ChunkError {
    ChunkError::Truncated {
        expected,
        found: bytes.len(),
    }
}

/// The sample count a chunk's header states (without decoding it).
pub fn count(bytes: &[u8]) -> Result<usize, ChunkError> {
    header(bytes)
}

fn header(bytes: &[u8]) -> Result<usize, ChunkError> {
    let Some(&codec) = bytes.first() else {
        return Err(truncated(HEADER, bytes));
    };
    if codec != CODEC_PCO && codec != CODEC_PACKED {
        return Err(ChunkError::UnknownCodec(codec));
    }
    let Some(word) = bytes.get(1..5) else {
        return Err(truncated(HEADER, bytes));
    };
    let n = u32::from_le_bytes(word.try_into().expect("4 bytes")) as usize;
    if n > MAX_COUNT {
        return Err(ChunkError::Corrupt(format!("a count of {n} samples")));
    }
    Ok(n)
}

/// Decodes a chunk into its timestamps (ms) and values.
pub fn decode(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    let n = header(bytes)?;
    let (ts, values) = if bytes[0] == CODEC_PCO {
        decode_pco(bytes)?
    } else {
        decode_packed(bytes, n)?
    };
    if ts.len() != n || values.len() != n {
        return Err(ChunkError::Corrupt(format!(
            "{} timestamps and {} values where the header says {n}",
            ts.len(),
            values.len()
        )));
    }
    Ok((ts, values))
}

fn decode_packed(bytes: &[u8], n: usize) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    let Some(body_len) = bytes.len().checked_sub(4).filter(|&len| len >= HEADER) else {
        return Err(truncated(HEADER + 4, bytes));
    };
    let (bytes, crc) = bytes.split_at(body_len);
    if crc32fast::hash(bytes).to_le_bytes() != crc {
        return Err(ChunkError::Corrupt(
            "its checksum does not match its bytes".into(),
        ));
    }
    // Each block of differences takes at least two bytes: a count beyond that is damage, not an allocation.
    if n > 1 && (n - 1).div_ceil(BLOCK) > bytes.len() {
        return Err(truncated((n - 1).div_ceil(BLOCK) * 2, bytes));
    }
    let mut at = HEADER;
    let ts = unpack(bytes, &mut at, n)?;
    if n == 0 {
        return Ok((ts, Vec::new()));
    }
    let mode = *bytes.get(at).ok_or_else(|| truncated(at + 1, bytes))?;
    at += 1;
    let values = match mode {
        VALUES_DECIMAL => {
            let scale = *bytes.get(at).ok_or_else(|| truncated(at + 1, bytes))? as usize;
            at += 1;
            let Some(&divisor) = POW10.get(scale) else {
                return Err(ChunkError::Corrupt(format!("a decimal scale of {scale}")));
            };
            let values = unpack(bytes, &mut at, n)?
                .into_iter()
                .map(|m| m as f64 / divisor)
                .collect();
            if at != bytes.len() {
                return Err(ChunkError::Corrupt(format!(
                    "{} bytes after the values",
                    bytes.len() - at
                )));
            }
            values
        }
        VALUES_DECIMAL_EXCEPT => {
            let scale = *bytes.get(at).ok_or_else(|| truncated(at + 1, bytes))? as usize;
            at += 1;
            let Some(&divisor) = POW10.get(scale) else {
                return Err(ChunkError::Corrupt(format!("a decimal scale of {scale}")));
            };
            let mut values: Vec<f64> = unpack(bytes, &mut at, n)?
                .into_iter()
                .map(|m| m as f64 / divisor)
                .collect();
            let count = read_varint(bytes, &mut at)?;
            if count > (n / EXCEPTION_SHARE) as u64 {
                return Err(ChunkError::Corrupt(format!(
                    "{count} exceptions among {n} values"
                )));
            }
            let mut k = 0u64;
            for _ in 0..count {
                k = k.saturating_add(read_varint(bytes, &mut at)?);
                let slot = usize::try_from(k)
                    .ok()
                    .and_then(|k| values.get_mut(k))
                    .ok_or_else(|| ChunkError::Corrupt(format!("an exception at {k} of {n}")))?;
                let bits = bytes
                    .get(at..at + 8)
                    .ok_or_else(|| truncated(at + 8, bytes))?;
                *slot = f64::from_bits(u64::from_le_bytes(bits.try_into().expect("8 bytes")));
                at += 8;
            }
            if at != bytes.len() {
                return Err(ChunkError::Corrupt(format!(
                    "{} bytes after the values",
                    bytes.len() - at
                )));
            }
            values
        }
        VALUES_PCO => guarded(|| simple_decompress(&bytes[at..]))
            .map_err(|e| ChunkError::Corrupt(format!("values: {e}")))?,
        other => return Err(ChunkError::Corrupt(format!("value mode {other}"))),
    };
    Ok((ts, values))
}

/// A chunk of the first codec: the length of the timestamp section (u32) after the count, then both columns by pco.
fn decode_pco(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    const PCO_HEADER: usize = HEADER + 4;
    let Some(word) = bytes.get(HEADER..PCO_HEADER) else {
        return Err(truncated(PCO_HEADER, bytes));
    };
    let times_len = u32::from_le_bytes(word.try_into().expect("4 bytes")) as usize;
    let body = &bytes[PCO_HEADER..];
    if body.len() < times_len {
        return Err(truncated(PCO_HEADER + times_len, bytes));
    }
    let (times, vals) = body.split_at(times_len);
    let ts: Vec<i64> = guarded(|| simple_decompress(times))
        .map_err(|e| ChunkError::Corrupt(format!("timestamps: {e}")))?;
    let values: Vec<f64> = guarded(|| simple_decompress(vals))
        .map_err(|e| ChunkError::Corrupt(format!("values: {e}")))?;
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
        fn decimal_series_come_back_bit_for_bit(
            ts in proptest::collection::vec(any::<i64>(), 0..700),
            scale in 0u32..7,
            steps in proptest::collection::vec(-1_000_000i64..1_000_000, 700),
            jump in any::<i32>(),
        ) {
            let divisor = 10f64.powi(scale as i32);
            let mut m = i64::from(jump);
            let values: Vec<f64> = steps[..ts.len()].iter().map(|s| { m += s; m as f64 / divisor }).collect();
            let (back_ts, back_values) = decode(&encode(&ts, &values)).unwrap();
            prop_assert_eq!(back_ts, ts);
            prop_assert!(same(&back_values, &values));
        }

        #[test]
        fn decimal_series_with_a_few_odd_values_stay_decimal_and_come_back_bit_for_bit(
            steps in proptest::collection::vec(-100i64..100, 16..2000),
            odd in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..5, any::<u64>()), 0..125),
        ) {
            let mut m = 0i64;
            let mut values: Vec<f64> = steps.iter().map(|s| { m += s; m as f64 / 100.0 }).collect();
            let n = values.len();
            let specials = [-0.0, f64::INFINITY, f64::NEG_INFINITY, 0.1 + 0.2];
            for (at, kind, bits) in odd.iter().take(n / EXCEPTION_SHARE) {
                values[at.index(n)] = match kind {
                    4 => f64::from_bits(0x7ff0_0000_0000_0001 | (bits & 0x000f_ffff_ffff_ffff)),
                    k => specials[*k],
                };
            }
            let ts: Vec<i64> = (0..n as i64).map(|k| k * 10_000).collect();
            let (scale, _, exceptions) = decimal(&values).expect("a few odd values keep the decimal mode");
            prop_assert!(scale <= 2);
            prop_assert!(exceptions.len() <= n / EXCEPTION_SHARE);
            let bytes = encode(&ts, &values);
            prop_assert!(bytes.len() < 2 * n + 9 * exceptions.len() + 64, "{} bytes for {n} values", bytes.len());
            let (back_ts, back_values) = decode(&bytes).unwrap();
            prop_assert_eq!(back_ts, ts);
            prop_assert!(same(&back_values, &values));
        }

        #[test]
        fn damaged_packed_bytes_are_an_error_never_a_panic(
            cut in 0usize..400,
            flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8),
        ) {
            let ts: Vec<i64> = (0..360).map(|i| 1_700_000_000_000 + i * 10_000 + (i * 7 % 13)).collect();
            let values: Vec<f64> = (0..360).map(|i| ((i * 7919 % 2000) as f64 - 1000.0) / 100.0).collect();
            let mut bytes = encode(&ts, &values);
            for (at, byte) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= byte;
                }
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = decode(&bytes);
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
        assert_eq!(
            decode(&miscounted),
            Err(ChunkError::Corrupt(
                "its checksum does not match its bytes".into()
            ))
        );
        let mut huge = bytes.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            decode(&huge).is_err(),
            "a huge count is refused, not allocated"
        );
        assert_eq!(count(&bytes), Ok(3));
    }

    /// The first codec's layout, as chunks written before the packed one hold it.
    fn encode_pco(ts: &[i64], values: &[f64]) -> Vec<u8> {
        let config = ChunkConfig::default();
        let times = simple_compress(ts, &config).unwrap();
        let vals = simple_compress(values, &config).unwrap();
        let mut out = vec![CODEC_PCO];
        out.extend_from_slice(&(ts.len() as u32).to_le_bytes());
        out.extend_from_slice(&(times.len() as u32).to_le_bytes());
        out.extend_from_slice(&times);
        out.extend_from_slice(&vals);
        out
    }

    #[test]
    fn chunks_of_the_first_codec_are_still_read() {
        let ts: Vec<i64> = (0..360).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        let values: Vec<f64> = (0..360).map(|i| (i as f64 * 0.37).sin() * 100.0).collect();
        let (back_ts, back) = decode(&encode_pco(&ts, &values)).unwrap();
        assert_eq!(back_ts, ts);
        assert!(same(&back, &values));
        assert_eq!(count(&encode_pco(&ts, &values)), Ok(360));
    }

    #[test]
    fn decimals_are_packed_and_other_floats_go_to_pco() {
        let ts: Vec<i64> = (0..300).map(|i| i * 15_000).collect();
        let cents: Vec<f64> = (0..300)
            .map(|i| ((i * 37 % 1000) as f64 - 500.0) / 100.0)
            .collect();
        let bytes = encode(&ts, &cents);
        assert_eq!(bytes[0], CODEC_PACKED);
        let (back_ts, back) = decode(&bytes).unwrap();
        assert_eq!(back_ts, ts);
        assert!(same(&back, &cents));
        assert_eq!(decimal(&cents).map(|(k, _, _)| k), Some(2));
        // −0 and NaN have no mantissa: a few are exceptions beside the mantissas; more, and pco takes the values.
        for odd in [-0.0, f64::NAN, 0.1 + 0.2, f64::INFINITY] {
            let mut values = cents.clone();
            values[100] = odd;
            assert_eq!(
                decimal(&values).map(|(k, _, e)| (k, e)),
                Some((2, vec![100])),
                "{odd}"
            );
            let (_, back) = decode(&encode(&ts, &values)).unwrap();
            assert!(same(&back, &values), "{odd}");
            for k in (0..300).step_by(15) {
                values[k] = odd;
            }
            assert_eq!(decimal(&values), None, "{odd}");
            let (_, back) = decode(&encode(&ts, &values)).unwrap();
            assert!(same(&back, &values), "{odd}");
        }
        // A regular series' timestamps cost a few bytes a block.
        let mut ints = Vec::new();
        pack(ts.iter().copied(), ts.len(), &mut ints);
        // The first (1 byte), then per block its step (3 bytes) and a zero width.
        assert!(
            ints.len() <= 1 + 3 * 4,
            "{} bytes for 300 regular timestamps",
            ints.len()
        );
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
        assert!(per_sample < 1.1, "{per_sample} bytes/sample");
    }
}

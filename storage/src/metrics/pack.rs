//! The encoding of chunks in blocks: denser than the head's Gorilla chunks, because a block is
//! written once and read many times.
//!
//! Most metric values are decimals written with a few digits (counters of whole events, seconds
//! with two decimals, bytes in pages). Such a run of samples is stored as integers: each value
//! times `10^e`, then the differences between consecutive integers divided by their greatest
//! common divisor, bit-packed in the fewest bits that hold their range (frame of reference).
//! Timestamps are stored as a first time and delta, then nothing when every interval is the
//! same, or the delta-of-deltas bit-packed the same way. Anything else (NaN, infinities,
//! full-precision floats) keeps the Gorilla encoding.
//!
//! Layout: one tag byte, then
//! - tag 0: Gorilla chunk bytes (see `chunk.rs`);
//! - tag 1: `count` (varint), `t0` (zigzag varint), then if `count > 1`: `delta0` (zigzag
//!   varint), the timestamp run (`0` = every interval equal; `1` = packed delta-of-deltas; `2` =
//!   the number of non-zero delta-of-deltas, then each as position step and zigzag value), the
//!   decimal exponent `e` (byte), `x0` (zigzag varint), and if `count > 1` the value run: `g`
//!   (varint), `min` (zigzag varint), `width` (byte), `count - 1` packed values.
//!
//! A packed run is `min` (zigzag varint), `width` (byte) and `width`-bit unsigned offsets from
//! `min`, most significant bit first, padded to a byte.

use super::chunk::{self, BitReader, BitWriter, ChunkWriter};
use crate::Sample;

const TAG_GORILLA: u8 = 0;
const TAG_DECIMAL: u8 = 1;
/// Largest integer a double holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            out |= ((b & 0x7f) as u64).checked_shl(shift)?;
            if b < 0x80 {
                return Some(out);
            }
        }
        None
    }
}

/// Encodes a time-ordered run of samples.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    match encode_decimal(samples) {
        Some(bytes) => bytes,
        None => {
            let mut w = ChunkWriter::new();
            for s in samples {
                w.append(s.t, s.v);
            }
            let mut out = Vec::with_capacity(w.bytes().len() + 1);
            out.push(TAG_GORILLA);
            out.extend_from_slice(w.bytes());
            out
        }
    }
}

/// The smallest exponent `e` for which every value is an integer over `10^e`, with the integers.
fn decimal(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    'exponent: for e in 0u8..=12 {
        let scale = 10f64.powi(e as i32);
        let mut ints = Vec::with_capacity(samples.len());
        for s in samples {
            let x = (s.v * scale).round();
            if !x.is_finite() || x.abs() >= MAX_EXACT {
                continue 'exponent;
            }
            // Through the integer, so that -0.0 (an integer 0) does not pass for 0.0.
            let xi = x as i64;
            if (xi as f64 / scale).to_bits() != s.v.to_bits() {
                continue 'exponent;
            }
            ints.push(xi);
        }
        return Some((e, ints));
    }
    None
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Writes `values` as a packed run (see the module docs).
fn put_run(out: &mut Vec<u8>, values: &[i64]) -> Option<()> {
    let min = values.iter().copied().min().unwrap_or(0);
    let max = values.iter().copied().max().unwrap_or(0);
    let range = u64::try_from(max as i128 - min as i128).ok()?;
    let width = 64 - range.leading_zeros();
    put_varint(out, zigzag(min));
    out.push(width as u8);
    if width > 0 {
        let mut bits = BitWriter::default();
        for &v in values {
            bits.write_bits((v as i128 - min as i128) as u64, width);
        }
        out.extend_from_slice(&bits.into_bytes());
    }
    Some(())
}

fn read_run(r: &mut Reader<'_>, n: usize, out: &mut Vec<i64>) -> Option<()> {
    let min = unzigzag(r.varint()?);
    let width = r.byte()? as u32;
    if width > 64 {
        return None;
    }
    if width == 0 {
        out.extend(std::iter::repeat_n(min, n));
        return Some(());
    }
    let len = (n * width as usize).div_ceil(8);
    let bytes = r.bytes.get(r.pos..r.pos.checked_add(len)?)?;
    r.pos += len;
    let mut bits = BitReader::new(bytes);
    for _ in 0..n {
        out.push(min.wrapping_add(bits.read_bits(width)? as i64));
    }
    Some(())
}

fn encode_decimal(samples: &[Sample]) -> Option<Vec<u8>> {
    let (first, rest) = samples.split_first()?;
    let (e, ints) = decimal(samples)?;
    let mut out = Vec::with_capacity(16 + samples.len());
    out.push(TAG_DECIMAL);
    put_varint(&mut out, samples.len() as u64);
    put_varint(&mut out, zigzag(first.t));
    if !rest.is_empty() {
        let delta0 = samples[1].t.checked_sub(first.t)?;
        put_varint(&mut out, zigzag(delta0));
        let mut dods = Vec::with_capacity(samples.len());
        for w in samples.windows(3) {
            let (a, b) = (w[1].t.checked_sub(w[0].t)?, w[2].t.checked_sub(w[1].t)?);
            dods.push(b.checked_sub(a)?);
        }
        if dods.iter().all(|&d| d == 0) {
            out.push(0);
        } else {
            // Dense (every delta-of-delta packed) or sparse (only the non-zero ones, with their
            // positions): a gap in an otherwise regular series would widen every packed value.
            let mut dense = vec![1u8];
            put_run(&mut dense, &dods)?;
            let mut sparse = vec![2u8];
            let nonzero: Vec<(usize, i64)> = dods.iter().copied().enumerate().filter(|&(_, d)| d != 0).collect();
            put_varint(&mut sparse, nonzero.len() as u64);
            let mut last = 0usize;
            for (i, d) in nonzero {
                put_varint(&mut sparse, (i - last) as u64);
                put_varint(&mut sparse, zigzag(d));
                last = i;
            }
            out.extend_from_slice(if sparse.len() < dense.len() { &sparse } else { &dense });
        }
    }
    out.push(e);
    put_varint(&mut out, zigzag(ints[0]));
    if !rest.is_empty() {
        let deltas: Vec<i64> = ints.windows(2).map(|w| w[1].checked_sub(w[0])).collect::<Option<_>>()?;
        let g = deltas.iter().fold(0u64, |g, d| gcd(g, d.unsigned_abs()));
        put_varint(&mut out, g);
        let scaled: Vec<i64> = if g > 1 { deltas.iter().map(|d| d / g as i64).collect() } else { deltas };
        put_run(&mut out, &scaled)?;
    }
    Some(out)
}

/// Decodes a packed run of `count` samples, appending to `out`. Malformed input gives `None`
/// (and whatever was decoded before the fault stays in `out`).
pub fn decode_into(bytes: &[u8], count: u32, out: &mut Vec<Sample>) -> Option<()> {
    let (&tag, body) = bytes.split_first()?;
    match tag {
        TAG_GORILLA => {
            chunk::decode_into(body, count, out);
            Some(())
        }
        TAG_DECIMAL => decode_decimal(body, count, out),
        _ => None,
    }
}

fn decode_decimal(body: &[u8], count: u32, out: &mut Vec<Sample>) -> Option<()> {
    let mut r = Reader { bytes: body, pos: 0 };
    let n = usize::try_from(r.varint()?).ok()?;
    if n != count as usize || n == 0 {
        return None;
    }
    let mut times = Vec::with_capacity(n);
    times.push(unzigzag(r.varint()?));
    if n > 1 {
        let mut delta = unzigzag(r.varint()?);
        times.push(times[0].wrapping_add(delta));
        match r.byte()? {
            0 => {
                for i in 2..n {
                    times.push(times[i - 1].wrapping_add(delta));
                }
            }
            mode @ (1 | 2) => {
                let mut dods = Vec::with_capacity(n - 2);
                if mode == 1 {
                    read_run(&mut r, n - 2, &mut dods)?;
                } else {
                    dods.resize(n - 2, 0);
                    let count = usize::try_from(r.varint()?).ok()?;
                    let mut at = 0usize;
                    for _ in 0..count {
                        at = at.checked_add(usize::try_from(r.varint()?).ok()?)?;
                        *dods.get_mut(at)? = unzigzag(r.varint()?);
                    }
                }
                for dod in dods {
                    delta = delta.wrapping_add(dod);
                    let last = *times.last()?;
                    times.push(last.wrapping_add(delta));
                }
            }
            _ => return None,
        }
    }
    let e = r.byte()?;
    if e > 22 {
        return None;
    }
    let scale = 10f64.powi(e as i32);
    let mut x = unzigzag(r.varint()?);
    out.push(Sample { t: times[0], v: x as f64 / scale });
    if n > 1 {
        let g = r.varint()? as i64;
        let mut deltas = Vec::with_capacity(n - 1);
        read_run(&mut r, n - 1, &mut deltas)?;
        for (t, d) in times[1..].iter().zip(deltas) {
            x = x.wrapping_add(d.wrapping_mul(g.max(1)));
            out.push(Sample { t: *t, v: x as f64 / scale });
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[Sample]) -> usize {
        let bytes = encode(samples);
        let mut back = Vec::new();
        decode_into(&bytes, samples.len() as u32, &mut back).unwrap();
        assert_eq!(back.len(), samples.len());
        for (b, s) in back.iter().zip(samples) {
            assert_eq!((b.t, b.v.to_bits()), (s.t, s.v.to_bits()), "{s:?}");
        }
        bytes.len()
    }

    fn series(n: i64, mut value: impl FnMut(i64) -> f64) -> Vec<Sample> {
        (0..n).map(|i| Sample { t: 1_700_000_000_000 + i * 15_000, v: value(i) }).collect()
    }

    #[test]
    fn decimal_counters_and_gauges_pack_near_their_entropy() {
        // A counter growing by 100..=355 per step: 8 bits per sample.
        let mut x = 12_345.0;
        let counter = series(240, |i| {
            x += 100.0 + ((i * 7919) % 256) as f64;
            x
        });
        assert!(roundtrip(&counter) <= 240 + 20);
        // Seconds with two decimals, bytes in 4 KiB pages, constants.
        roundtrip(&series(240, |i| ((i * 37 % 1000) as f64 + 100_000.0) / 100.0));
        let pages = series(240, |i| 8.0 * 1024.0 * 1024.0 * 1024.0 + ((i * 13 % 50) * 4096) as f64);
        assert!(roundtrip(&pages) <= 240 * 7 / 8 + 20, "deltas of -49..=49 pages: 7 bits");
        assert!(roundtrip(&series(240, |_| 0.0)) < 24);
        assert!(roundtrip(&series(240, |_| 1.7e9)) < 28);
        roundtrip(&series(1, |_| 42.0));
        roundtrip(&series(2, |i| i as f64 * -0.5));
    }

    #[test]
    fn everything_else_keeps_gorilla_and_round_trips() {
        roundtrip(&series(100, |i| (i as f64).sqrt()));
        roundtrip(&series(5, |i| if i == 4 { crate::stale_nan() } else { i as f64 }));
        roundtrip(&series(3, |i| if i == 1 { f64::INFINITY } else { 1.0 }));
        roundtrip(&series(3, |_| -0.0));
        roundtrip(&series(3, |i| [f64::MAX, f64::MIN, 1e300][i as usize]));
        roundtrip(&series(4, |i| [9.007e15, -9.007e15, 0.0, 1.0][i as usize]));
        // Irregular timestamps, including going backwards in a run and huge gaps.
        let jitter: Vec<Sample> =
            [0i64, 15_001, 29_998, 45_000, 1 << 40, (1 << 40) + 3].iter().map(|&t| Sample { t, v: 1.0 }).collect();
        roundtrip(&jitter);
        // One gap in a regular series: the sparse form, a few bytes instead of a wide run.
        let gap = series(240, |_| 1.0)
            .into_iter()
            .enumerate()
            .map(|(i, s)| Sample { t: s.t + if i > 100 { 3_600_000 } else { 0 }, ..s });
        let gap: Vec<Sample> = gap.collect();
        assert!(roundtrip(&gap) < 40);
        roundtrip(&[Sample { t: i64::MIN, v: 1.0 }, Sample { t: i64::MAX, v: 2.0 }]);
    }

    #[test]
    fn malformed_bytes_are_refused_not_panics() {
        let good = encode(&series(50, |i| (i * 3) as f64));
        for cut in 0..good.len() {
            let mut out = Vec::new();
            let _ = decode_into(&good[..cut], 50, &mut out);
        }
        let mut out = Vec::new();
        assert!(decode_into(&good, 51, &mut out).is_none(), "count must agree");
        assert!(decode_into(&[7, 1, 2], 1, &mut out).is_none());
        assert!(decode_into(&[1, 2, 0, 0, 0, 99, 0], 2, &mut out).is_none());
    }
}

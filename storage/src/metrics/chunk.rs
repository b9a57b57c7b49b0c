//! Gorilla-compressed chunks of float samples, as in Facebook's Gorilla paper and Prometheus's
//! XOR chunks: timestamps as delta-of-delta in variable-width buckets, values as the XOR with
//! the previous value, storing only the meaningful bits.
//!
//! Bit layout of one chunk (the sample count and time range live beside it, not in it):
//! - sample 0: timestamp as 64 bits, value as 64 bits;
//! - every later sample: the delta-of-delta of its timestamp (the first delta counts as a
//!   delta-of-delta from 0) in one of the buckets `0` (zero), `10` + 14 bits, `110` + 17 bits,
//!   `1110` + 20 bits, `1111` + 64 bits, two's complement; then the value: `0` if equal to the
//!   previous one, else `1` followed by `0` + the meaningful bits when they fit in the previous
//!   window of leading and trailing zeros, or `1` + 5 bits of leading zeros + 6 bits of
//!   meaningful-bit count (0 meaning 64) + the meaningful bits.

use crate::Sample;

/// Bit buckets for timestamp delta-of-deltas: (prefix, prefix length, value bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 means the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    /// The bytes written, the last one padded with zero bits.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn write_bit(&mut self, bit: bool) {
        self.write_bits(bit as u64, 1);
    }

    /// Writes the low `n` bits of `value` (n ≤ 64).
    pub(crate) fn write_bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.used == 0 {
                // Grow in small steps: a head holds one open chunk per series, and doubling
                // would leave up to half of each unused.
                if self.bytes.len() == self.bytes.capacity() {
                    self.bytes.reserve_exact(16);
                }
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let chunk = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }
}

/// Reads bits written by [`BitWriter`].
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    pub(crate) fn read_bits(&mut self, mut n: u32) -> Option<u64> {
        if self.pos + n as usize > self.bytes.len() * 8 {
            return None;
        }
        // Up to 57 bits from one big-endian word, when eight bytes are there to load.
        let (byte, offset) = (self.pos / 8, (self.pos % 8) as u32);
        if (1..=57).contains(&n)
            && let Some(word) = self.bytes.get(byte..byte + 8)
        {
            let word = u64::from_be_bytes(word.try_into().unwrap_or_default());
            self.pos += n as usize;
            return Some((word << offset) >> (64 - n));
        }
        let mut out = 0u64;
        while n > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(n);
            let bits = (byte >> (avail - take)) & ((1u16 << take) - 1) as u8;
            out = (out << take) | bits as u64;
            self.pos += take as usize;
            n -= take;
        }
        Some(out)
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// A chunk being appended to. It remembers the newest sample after [`ChunkWriter::close`], so
/// a series needs nothing else to check the order of the next one.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    bits: BitWriter,
    count: u16,
    leading: u8,
    trailing: u8,
    /// Newest timestamp (`i64::MIN` before the first sample).
    t: i64,
    delta: i64,
    /// Bits of the newest value.
    v: u64,
}

/// `leading` before the first value is written: no window of meaningful bits yet.
const NO_WINDOW: u8 = u8::MAX;

impl Default for ChunkWriter {
    fn default() -> Self {
        ChunkWriter {
            bits: BitWriter::default(),
            count: 0,
            leading: NO_WINDOW,
            trailing: 0,
            t: i64::MIN,
            delta: 0,
            v: 0,
        }
    }
}

impl ChunkWriter {
    /// An empty chunk.
    pub fn new() -> ChunkWriter {
        ChunkWriter::default()
    }

    /// Appends a sample. Timestamps must not decrease (the caller enforces order).
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        if self.count == 0 {
            self.bits.write_bits(t as u64, 64);
            self.bits.write_bits(bits, 64);
            self.leading = NO_WINDOW;
        } else {
            let delta = t.wrapping_sub(self.t);
            let dod = delta.wrapping_sub(self.delta);
            self.write_dod(dod);
            self.write_value(bits);
            self.delta = delta;
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.bits.write_bit(false);
            return;
        }
        for (prefix, len, width) in DOD_BUCKETS {
            let limit = 1i64 << (width - 1);
            if (-limit..limit).contains(&dod) {
                self.bits.write_bits(prefix, len);
                self.bits.write_bits(dod as u64 & ((1u64 << width) - 1), width);
                return;
            }
        }
        self.bits.write_bits(0b1111, 4);
        self.bits.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        let (window_leading, window_trailing) = (u32::from(self.leading), u32::from(self.trailing));
        if self.leading != NO_WINDOW && leading >= window_leading && trailing >= window_trailing {
            self.bits.write_bit(false);
            let significant = 64 - window_leading - window_trailing;
            self.bits.write_bits(xor >> window_trailing, significant);
        } else {
            self.bits.write_bit(true);
            let significant = 64 - leading - trailing;
            self.bits.write_bits(leading as u64, 5);
            self.bits.write_bits((significant % 64) as u64, 6);
            self.bits.write_bits(xor >> trailing, significant);
            self.leading = leading as u8;
            self.trailing = trailing as u8;
        }
    }

    /// Samples in the chunk.
    pub fn count(&self) -> u32 {
        u32::from(self.count)
    }

    /// Timestamp of the first sample (meaningless when empty): the chunk's first 64 bits.
    pub fn min_t(&self) -> i64 {
        match self.bits.bytes.get(..8) {
            Some(first) => i64::from_be_bytes(first.try_into().unwrap_or_default()),
            None => self.t,
        }
    }

    /// The newest sample appended, as time and value bits, even after [`ChunkWriter::close`].
    pub fn last(&self) -> Option<(i64, u64)> {
        (self.t != i64::MIN || self.count > 0).then_some((self.t, self.v))
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn max_t(&self) -> i64 {
        self.t
    }

    /// The encoded bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bits.bytes
    }

    /// Bytes of memory the chunk holds.
    pub fn heap_bytes(&self) -> usize {
        self.bits.bytes.capacity()
    }

    /// Closes the chunk into its immutable form.
    pub fn finish(mut self) -> Chunk {
        self.close()
    }

    /// Takes the samples out as an immutable chunk and starts an empty one, remembering the
    /// newest sample.
    pub fn close(&mut self) -> Chunk {
        let min_t = self.min_t();
        let bits = std::mem::take(&mut self.bits);
        let count = std::mem::take(&mut self.count);
        self.leading = NO_WINDOW;
        self.trailing = 0;
        self.delta = 0;
        Chunk { min_t, max_t: self.t, count: u32::from(count), bytes: bits.bytes.into_boxed_slice() }
    }
}

/// An immutable chunk: encoded samples and their time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// First timestamp.
    pub min_t: i64,
    /// Last timestamp.
    pub max_t: i64,
    /// Number of samples.
    pub count: u32,
    /// The encoded samples.
    pub bytes: Box<[u8]>,
}

impl Chunk {
    /// Decodes every sample.
    pub fn samples(&self) -> Vec<Sample> {
        decode(&self.bytes, self.count)
    }
}

/// Decodes `count` samples from `bytes`. A chunk cut short decodes as far as it goes.
pub fn decode(bytes: &[u8], count: u32) -> Vec<Sample> {
    let mut out = Vec::with_capacity(count as usize);
    decode_into(bytes, count, &mut out);
    out
}

/// Decodes `count` samples from `bytes`, appending to `out`.
pub fn decode_into(bytes: &[u8], count: u32, out: &mut Vec<Sample>) {
    let mut r = BitReader { bytes, pos: 0 };
    let (Some(t0), Some(v0)) = (r.read_bits(64), r.read_bits(64)) else { return };
    let (mut t, mut v) = (t0 as i64, v0);
    out.push(Sample { t, v: f64::from_bits(v) });
    let (mut delta, mut leading, mut trailing) = (0i64, 0u32, 0u32);
    for _ in 1..count {
        let Some(dod) = read_dod(&mut r) else { return };
        delta = delta.wrapping_add(dod);
        t = t.wrapping_add(delta);
        match r.read_bit() {
            None => return,
            Some(false) => {}
            Some(true) => {
                let Some(new_window) = r.read_bit() else { return };
                if new_window {
                    let (Some(l), Some(s)) = (r.read_bits(5), r.read_bits(6)) else { return };
                    let significant = if s == 0 { 64 } else { s as u32 };
                    leading = l as u32;
                    let Some(t_bits) = 64u32.checked_sub(leading + significant) else { return };
                    trailing = t_bits;
                }
                let significant = 64 - leading - trailing;
                let Some(bits) = r.read_bits(significant) else { return };
                v ^= bits << trailing;
            }
        }
        out.push(Sample { t, v: f64::from_bits(v) });
    }
}

fn read_dod(r: &mut BitReader<'_>) -> Option<i64> {
    let mut prefix_len = 0;
    while prefix_len < 4 {
        if !r.read_bit()? {
            break;
        }
        prefix_len += 1;
    }
    Some(match prefix_len {
        0 => 0,
        1..=3 => {
            let width = DOD_BUCKETS[prefix_len - 1].2;
            sign_extend(r.read_bits(width)?, width)
        }
        _ => r.read_bits(64)? as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[(i64, f64)]) -> usize {
        let mut w = ChunkWriter::new();
        for &(t, v) in samples {
            w.append(t, v);
        }
        let c = w.finish();
        let back = c.samples();
        assert_eq!(back.len(), samples.len());
        for (b, &(t, v)) in back.iter().zip(samples) {
            assert_eq!(b.t, t);
            assert_eq!(b.v.to_bits(), v.to_bits());
        }
        c.bytes.len()
    }

    #[test]
    fn regular_scrapes_compress_to_a_few_bits_per_sample() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_700_000_000_000 + i * 15_000, 42.0)).collect();
        let size = roundtrip(&samples);
        assert!(size < 64, "{size} bytes");
    }

    #[test]
    fn every_bucket_and_special_value_round_trips() {
        let mut samples = vec![(-5_i64, 1.0), (-5, 1.0)];
        let mut t = 0i64;
        for (i, step) in [1i64, 8000, 8191, -8192, 70_000, 500_000, 1 << 40, 3, -1 << 50, 0].iter().enumerate() {
            t += step.abs() + 1;
            samples.push((t, i as f64 * 1.5 - 3.0));
        }
        for v in [f64::NAN, crate::stale_nan(), f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE, 1e300] {
            t += 15_000;
            samples.push((t, v));
        }
        roundtrip(&samples);
        roundtrip(&[(i64::MIN, 0.0), (i64::MAX, 1.0), (0, 2.0)]);
    }

    #[test]
    fn random_walks_round_trip() {
        let mut x = 0x1234_5678_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut samples = Vec::new();
        let (mut t, mut v) = (1_000_000i64, 100.0f64);
        for _ in 0..1000 {
            t += 15_000 + (next() % 50) as i64 - 25;
            v += (next() % 1000) as f64 / 100.0;
            samples.push((t, v));
        }
        roundtrip(&samples);
    }

    #[test]
    fn truncated_bytes_decode_as_far_as_they_go() {
        let mut w = ChunkWriter::new();
        for i in 0..50 {
            w.append(i * 1000, i as f64 * 0.1);
        }
        let c = w.finish();
        for cut in 0..c.bytes.len() {
            let got = decode(&c.bytes[..cut], c.count);
            assert!(got.len() <= 50);
        }
    }
}

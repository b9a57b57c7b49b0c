//! Native histograms as Prometheus holds them in memory (`histogram.FloatHistogram`): sparse
//! exponential buckets (or custom bounds) with absolute float counts, and the arithmetic that
//! series notation, counter-reset detection and queries need.
//!
//! Buckets are kept as spans of consecutive indices, as Prometheus keeps them. Every histogram
//! this module builds is compact: one span per sign, from the first to the last non-empty
//! bucket, which is also the form Prometheus prints (`TestExpression`).

use std::collections::BTreeMap;

/// The schema of histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// What a histogram says about counter resets, as Prometheus's `CounterResetHint`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CounterResetHint {
    /// Nothing known: a reset is detected by comparing with the previous sample.
    #[default]
    Unknown,
    /// A counter reset happened here.
    Reset,
    /// No counter reset since the previous sample.
    NotReset,
    /// A gauge histogram: resets do not apply.
    Gauge,
}

/// A run of `length` consecutive buckets starting `offset` indices after the previous span's end
/// (the first span's offset is the index of its first bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    /// Gap to the previous span, or the first index.
    pub offset: i32,
    /// Buckets in the span.
    pub length: u32,
}

/// A native histogram with float counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FloatHistogram {
    /// Counter-reset hint.
    pub hint: CounterResetHint,
    /// −4…8 for exponential buckets of base `2^(2^-schema)`, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// The zero bucket is `[-zero_threshold, zero_threshold]`.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// All observations.
    pub count: f64,
    /// Sum of the observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<BucketSpan>,
    /// Counts of the positive buckets, in span order.
    pub positive_buckets: Vec<f64>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<BucketSpan>,
    /// Counts of the negative buckets, in span order.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (custom schema only); `+Inf` is implicit.
    pub custom_values: Vec<f64>,
}

/// A histogram at a time (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The histogram.
    pub h: FloatHistogram,
}

/// One bucket with its bounds, for output (Prometheus's `Bucket[float64]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramBucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether the lower bound belongs to the bucket.
    pub lower_inclusive: bool,
    /// Whether the upper bound belongs to the bucket.
    pub upper_inclusive: bool,
    /// Observations in the bucket.
    pub count: f64,
}

/// Bucket counts by index.
type BucketMap = BTreeMap<i32, f64>;

impl FloatHistogram {
    /// Whether the buckets have custom bounds.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Positive buckets as `(index, count)`, in index order.
    pub fn positive(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        indexed(&self.positive_spans, &self.positive_buckets)
    }

    /// Negative buckets as `(index, count)`, in index order.
    pub fn negative(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        indexed(&self.negative_spans, &self.negative_buckets)
    }

    /// Sets the positive buckets from counts by index (compacted).
    pub fn set_positive(&mut self, buckets: impl IntoIterator<Item = (i32, f64)>) {
        (self.positive_spans, self.positive_buckets) = compact(buckets.into_iter().collect());
    }

    /// Sets the negative buckets from counts by index (compacted).
    pub fn set_negative(&mut self, buckets: impl IntoIterator<Item = (i32, f64)>) {
        (self.negative_spans, self.negative_buckets) = compact(buckets.into_iter().collect());
    }

    /// The same histogram in one span per sign, without empty buckets at either end
    /// (Prometheus's `Compact(math.MaxInt)`).
    pub fn compacted(&self) -> FloatHistogram {
        let mut out = self.clone();
        out.set_positive(self.positive().collect::<Vec<_>>());
        out.set_negative(self.negative().collect::<Vec<_>>());
        out
    }

    /// `self + other`, at the coarser of the two schemas and the wider zero bucket. The hint is
    /// `self`'s.
    pub fn add(&self, other: &FloatHistogram) -> Result<FloatHistogram, String> {
        self.combine(other, 1.0)
    }

    /// `self - other`, like [`FloatHistogram::add`].
    pub fn sub(&self, other: &FloatHistogram) -> Result<FloatHistogram, String> {
        self.combine(other, -1.0)
    }

    fn combine(&self, other: &FloatHistogram, sign: f64) -> Result<FloatHistogram, String> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(
                "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas".into(),
            );
        }
        if self.uses_custom_buckets() && self.custom_values != other.custom_values {
            return Err("cannot apply this operation on custom buckets histograms with different custom bounds".into());
        }
        let schema = self.schema.min(other.schema);
        let mut a = self.at_resolution(schema);
        let mut b = other.at_resolution(schema);
        let threshold = a.zero_threshold.max(b.zero_threshold);
        a.widen_zero_bucket(threshold);
        b.widen_zero_bucket(a.zero_threshold);
        a.widen_zero_bucket(b.zero_threshold);
        let mut positive: BucketMap = a.positive().collect();
        for (i, c) in b.positive() {
            *positive.entry(i).or_insert(0.0) += sign * c;
        }
        let mut negative: BucketMap = a.negative().collect();
        for (i, c) in b.negative() {
            *negative.entry(i).or_insert(0.0) += sign * c;
        }
        a.count += sign * b.count;
        a.sum += sign * b.sum;
        a.zero_count += sign * b.zero_count;
        (a.positive_spans, a.positive_buckets) = compact(positive);
        (a.negative_spans, a.negative_buckets) = compact(negative);
        Ok(a)
    }

    /// The histogram at a coarser (or the same) exponential schema: each bucket merged into the
    /// one that contains it.
    pub fn at_resolution(&self, schema: i32) -> FloatHistogram {
        if self.uses_custom_buckets() || schema >= self.schema {
            return self.compacted();
        }
        let shift = (self.schema - schema) as u32;
        let merge = |buckets: Vec<(i32, f64)>| {
            let mut out = BucketMap::new();
            for (i, c) in buckets {
                *out.entry(((i - 1) >> shift) + 1).or_insert(0.0) += c;
            }
            out
        };
        let mut out = self.clone();
        out.schema = schema;
        out.set_positive(merge(self.positive().collect()));
        out.set_negative(merge(self.negative().collect()));
        out
    }

    /// Moves every bucket that reaches into `[-threshold, threshold]` into the zero bucket,
    /// widening the threshold to such a bucket's upper bound.
    fn widen_zero_bucket(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold || self.uses_custom_buckets() {
            return;
        }
        let mut threshold = threshold;
        let mut zero = self.zero_count;
        let mut keep = |buckets: Vec<(i32, f64)>, threshold: &mut f64| -> BucketMap {
            let mut out = BucketMap::new();
            for (i, c) in buckets {
                let (lower, upper) = (self.bound(i - 1), self.bound(i));
                if lower < *threshold {
                    zero += c;
                    *threshold = threshold.max(upper);
                } else {
                    out.insert(i, c);
                }
            }
            out
        };
        let positive = keep(self.positive().collect(), &mut threshold);
        let negative = keep(self.negative().collect(), &mut threshold);
        self.zero_count = zero;
        self.zero_threshold = threshold;
        self.set_positive(positive);
        self.set_negative(negative);
    }

    /// Upper bound of exponential bucket `index` (absolute value for negative buckets).
    pub fn bound(&self, index: i32) -> f64 {
        if self.uses_custom_buckets() {
            return usize::try_from(index)
                .ok()
                .and_then(|i| self.custom_values.get(i).copied())
                .unwrap_or(if index < 0 { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        // base^index with base = 2^(2^-schema).
        2f64.powf(f64::from(index) * 2f64.powi(-self.schema))
    }

    /// Every bucket from the lowest values up (negative buckets, the zero bucket, positive
    /// buckets), as Prometheus's `AllBucketIterator` walks them, empty ones included.
    pub fn all_buckets(&self) -> Vec<HistogramBucket> {
        let mut out: Vec<HistogramBucket> = self
            .negative()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|(i, count)| HistogramBucket {
                lower: -self.bound(i),
                upper: -self.bound(i - 1),
                lower_inclusive: true,
                upper_inclusive: false,
                count,
            })
            .collect();
        if !self.uses_custom_buckets() {
            out.push(HistogramBucket {
                lower: -self.zero_threshold,
                upper: self.zero_threshold,
                lower_inclusive: true,
                upper_inclusive: true,
                count: self.zero_count,
            });
        }
        out.extend(self.positive().map(|(i, count)| HistogramBucket {
            lower: self.bound(i - 1),
            upper: self.bound(i),
            lower_inclusive: false,
            upper_inclusive: true,
            count,
        }));
        out
    }

    /// Whether going from `previous` to `self` is a counter reset, as Prometheus's
    /// `DetectReset`: the hint when it says so, else any count, zero count or bucket that went
    /// down, a finer schema, a narrower zero bucket or different custom bounds.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.hint {
            CounterResetHint::Reset => return true,
            CounterResetHint::NotReset => return false,
            CounterResetHint::Gauge | CounterResetHint::Unknown => {}
        }
        if self.count < previous.count
            || self.schema > previous.schema
            || self.uses_custom_buckets() != previous.uses_custom_buckets()
            || (self.uses_custom_buckets() && self.custom_values != previous.custom_values)
            || self.zero_threshold < previous.zero_threshold
        {
            return true;
        }
        let mut before = previous.at_resolution(self.schema);
        before.widen_zero_bucket(self.zero_threshold);
        if self.zero_count < before.zero_count {
            return true;
        }
        let went_down = |now: BucketMap, then: Vec<(i32, f64)>| {
            then.into_iter().any(|(i, c)| now.get(&i).copied().unwrap_or(0.0) < c)
        };
        went_down(self.positive().collect(), before.positive().collect())
            || went_down(self.negative().collect(), before.negative().collect())
    }
}

/// `(index, count)` of buckets laid out in spans.
fn indexed<'a>(spans: &'a [BucketSpan], buckets: &'a [f64]) -> impl Iterator<Item = (i32, f64)> + 'a {
    let mut index = 0i32;
    spans
        .iter()
        .flat_map(move |span| {
            index = index.saturating_add(span.offset);
            let start = index;
            index = index.saturating_add(span.length as i32);
            (0..span.length as i32).map(move |k| start + k)
        })
        .zip(buckets.iter().copied())
}

/// One span from the first to the last non-empty bucket, empty ones between kept as zeros.
fn compact(buckets: BucketMap) -> (Vec<BucketSpan>, Vec<f64>) {
    let filled = || buckets.iter().filter(|(_, c)| **c != 0.0).map(|(i, _)| *i);
    let (Some(first), Some(last)) = (filled().next(), filled().next_back()) else {
        return (Vec::new(), Vec::new());
    };
    let counts = (first..=last).map(|i| buckets.get(&i).copied().unwrap_or(0.0)).collect();
    (vec![BucketSpan { offset: first, length: (last - first + 1) as u32 }], counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(schema: i32, offset: i32, buckets: &[f64]) -> FloatHistogram {
        let mut h = FloatHistogram { schema, count: buckets.iter().sum(), ..Default::default() };
        h.set_positive(buckets.iter().enumerate().map(|(k, c)| (offset + k as i32, *c)));
        h
    }

    #[test]
    fn adds_bucket_by_bucket_and_compacts() {
        let sum = h(0, 0, &[1.0, 2.0]).add(&h(0, 3, &[4.0])).unwrap();
        assert_eq!(sum.positive().collect::<Vec<_>>(), vec![(0, 1.0), (1, 2.0), (2, 0.0), (3, 4.0)]);
        assert_eq!(sum.positive_spans, vec![BucketSpan { offset: 0, length: 4 }]);
        assert_eq!(sum.count, 7.0);
        let zero = h(0, 0, &[1.0]).sub(&h(0, 0, &[1.0])).unwrap();
        assert!(zero.positive_spans.is_empty() && zero.count == 0.0);
    }

    #[test]
    fn a_finer_schema_is_merged_down() {
        // Schema 1 indices 1 and 2 both fall in schema 0 index 1: (1, 2].
        let coarse = h(1, 1, &[1.0, 2.0]).at_resolution(0);
        assert_eq!(coarse.positive().collect::<Vec<_>>(), vec![(1, 3.0)]);
        let sum = h(0, 1, &[1.0]).add(&h(1, 1, &[1.0, 2.0])).unwrap();
        assert_eq!((sum.schema, sum.positive().collect::<Vec<_>>()), (0, vec![(1, 4.0)]));
    }

    #[test]
    fn custom_bounds_must_agree() {
        let mut a = h(CUSTOM_BUCKETS_SCHEMA, 0, &[1.0]);
        a.custom_values = vec![5.0];
        let mut b = a.clone();
        b.custom_values = vec![6.0];
        assert!(a.add(&b).unwrap_err().contains("different custom bounds"));
        assert!(a.add(&h(0, 0, &[1.0])).unwrap_err().contains("mix of exponential and custom"));
    }

    #[test]
    fn a_wider_zero_bucket_swallows_small_buckets() {
        let mut wide = h(0, 0, &[]);
        wide.zero_threshold = 1.0;
        // Schema 0 index 0 is (0.5, 1]: inside the zero bucket; index 1 (1, 2] is not.
        let sum = wide.add(&h(0, 0, &[3.0, 4.0])).unwrap();
        assert_eq!((sum.zero_count, sum.zero_threshold), (3.0, 1.0));
        assert_eq!(sum.positive().collect::<Vec<_>>(), vec![(1, 4.0)]);
    }

    #[test]
    fn resets_are_detected_where_anything_went_down() {
        let before = h(0, 0, &[2.0, 2.0]);
        assert!(!h(0, 0, &[2.0, 3.0]).detect_reset(&before));
        assert!(h(0, 0, &[1.0, 5.0]).detect_reset(&before));
        assert!(h(0, 0, &[2.0]).detect_reset(&before));
        let mut hinted = h(0, 0, &[1.0]);
        hinted.hint = CounterResetHint::NotReset;
        assert!(!hinted.detect_reset(&before));
    }
}

//! Cheap randomness for load balancing, jitter, ids and the demo's traffic: the standard
//! library's randomly keyed SipHash over a counter, so no generator state is shared.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// A random 64-bit number.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A uniform random number in [0, 1).
pub fn random() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

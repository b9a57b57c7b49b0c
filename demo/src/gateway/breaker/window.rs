//! Counters over a sliding window of one-second slots.

use std::time::Instant;

/// Longest sliding window accepted, in one-second slots.
const MAX_WINDOW_S: u64 = 3600;

/// Counts per one-second slot over a sliding window, `N` counters per slot.
#[derive(Debug)]
pub(crate) struct Window<const N: usize> {
    epoch: Option<Instant>,
    slots: Vec<(u64, [u64; N])>,
}

impl<const N: usize> Window<N> {
    pub(crate) fn new(seconds: u64) -> Self {
        let len = seconds.clamp(1, MAX_WINDOW_S) as usize;
        Self { epoch: None, slots: vec![(0, [0; N]); len] }
    }

    pub(crate) fn second(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs()
    }

    pub(crate) fn add(&mut self, now: Instant, counter: usize, n: u64) {
        let sec = self.second(now);
        let len = self.slots.len() as u64;
        if let Some(slot) = self.slots.get_mut((sec % len) as usize) {
            if slot.0 != sec {
                *slot = (sec, [0; N]);
            }
            if let Some(c) = slot.1.get_mut(counter) {
                *c = c.saturating_add(n);
            }
        }
    }

    pub(crate) fn totals(&mut self, now: Instant) -> [u64; N] {
        let sec = self.second(now);
        let len = self.slots.len() as u64;
        let mut out = [0u64; N];
        for (s, counts) in &self.slots {
            if *s <= sec && sec - *s < len {
                for (o, c) in out.iter_mut().zip(counts) {
                    *o = o.saturating_add(*c);
                }
            }
        }
        out
    }

    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = (0, [0; N]));
        self.epoch = None;
    }
}

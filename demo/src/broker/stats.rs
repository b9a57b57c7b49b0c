//! Message counters, as RabbitMQ's management API reports them (`message_stats`): per queue,
//! per exchange and for the whole broker, with rates over the last few seconds from snapshots
//! the sweeper takes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Message counts of one object (or the whole broker).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Messages published (into an exchange; into a queue for queue stats).
    pub publish: u64,
    /// Messages delivered to consumers that acknowledge.
    pub deliver: u64,
    /// Messages delivered to consumers that do not acknowledge.
    pub deliver_no_ack: u64,
    /// `basic.get` answers that need an ack.
    pub get: u64,
    /// `basic.get` answers that need none.
    pub get_no_ack: u64,
    /// Deliveries flagged redelivered.
    pub redeliver: u64,
    /// Acknowledgements from consumers.
    pub ack: u64,
    /// Publisher confirms sent.
    pub confirm: u64,
    /// Mandatory messages returned unroutable.
    pub return_unroutable: u64,
    /// Messages routed to no queue.
    pub drop_unroutable: u64,
    /// Messages that left for a dead-letter exchange (or were dropped as dead letters).
    pub dead_lettered: u64,
    /// Messages routed onward (exchange stats: `publish_out`).
    pub publish_out: u64,
}

impl Counters {
    /// `deliver_get` as RabbitMQ sums it.
    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }

    fn minus(&self, o: &Counters) -> [u64; 12] {
        let a = self.fields();
        let b = o.fields();
        std::array::from_fn(|i| a[i].saturating_sub(b[i]))
    }

    fn fields(&self) -> [u64; 12] {
        [
            self.publish,
            self.deliver,
            self.deliver_no_ack,
            self.get,
            self.get_no_ack,
            self.redeliver,
            self.ack,
            self.confirm,
            self.return_unroutable,
            self.drop_unroutable,
            self.dead_lettered,
            self.publish_out,
        ]
    }
}

/// Per-second rates of a [`Counters`], field by field.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Rates {
    pub publish: f64,
    pub deliver: f64,
    pub deliver_no_ack: f64,
    pub get: f64,
    pub get_no_ack: f64,
    pub redeliver: f64,
    pub ack: f64,
    pub confirm: f64,
    pub return_unroutable: f64,
    pub drop_unroutable: f64,
    pub dead_lettered: f64,
    pub publish_out: f64,
}

impl Rates {
    /// `deliver_get` rate.
    pub fn deliver_get(&self) -> f64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }
}

/// The counters of everything.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub total: Counters,
    pub queues: HashMap<String, Counters>,
    pub exchanges: HashMap<String, Counters>,
}

impl Stats {
    /// Counts on the broker, a queue and an exchange at once (either may be absent).
    pub fn count(&mut self, queue: Option<&str>, exchange: Option<&str>, f: impl Fn(&mut Counters)) {
        f(&mut self.total);
        if let Some(q) = queue {
            f(self.queues.entry(q.to_owned()).or_default());
        }
        if let Some(e) = exchange {
            f(self.exchanges.entry(e.to_owned()).or_default());
        }
    }
}

/// How far back rates look.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Snapshots of [`Stats`] over the rate window.
#[derive(Debug, Default)]
pub struct RateSampler {
    samples: VecDeque<(Instant, Stats)>,
}

impl RateSampler {
    /// Records a snapshot taken at `at`.
    pub fn record(&mut self, at: Instant, stats: Stats) {
        self.samples.push_back((at, stats));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, _)| at.duration_since(*t) > RATE_WINDOW) {
            self.samples.pop_front();
        }
    }

    /// Rates of the counters `pick` selects, between the oldest and newest snapshot.
    pub fn rates(&self, pick: impl Fn(&Stats) -> Option<Counters>) -> Rates {
        let (Some((t0, old)), Some((t1, new))) = (self.samples.front(), self.samples.back()) else {
            return Rates::default();
        };
        let secs = t1.duration_since(*t0).as_secs_f64();
        if secs <= 0.0 {
            return Rates::default();
        }
        let d = pick(new).unwrap_or_default().minus(&pick(old).unwrap_or_default());
        let r = |i: usize| d[i] as f64 / secs;
        Rates {
            publish: r(0),
            deliver: r(1),
            deliver_no_ack: r(2),
            get: r(3),
            get_no_ack: r(4),
            redeliver: r(5),
            ack: r(6),
            confirm: r(7),
            return_unroutable: r(8),
            drop_unroutable: r(9),
            dead_lettered: r(10),
            publish_out: r(11),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_difference_over_the_window() {
        let mut sampler = RateSampler::default();
        let t0 = Instant::now();
        let mut stats = Stats::default();
        sampler.record(t0, stats.clone());
        for _ in 0..20 {
            stats.count(Some("q"), Some("x"), |c| c.publish += 1);
        }
        sampler.record(t0 + Duration::from_secs(2), stats.clone());
        assert_eq!(sampler.rates(|s| Some(s.total)).publish, 10.0);
        assert_eq!(sampler.rates(|s| s.queues.get("q").copied()).publish, 10.0);
        assert_eq!(sampler.rates(|s| s.queues.get("none").copied()).publish, 0.0);
    }
}

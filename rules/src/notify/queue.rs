//! One receiver's bounded queue. Pushing never waits: when the queue is full the oldest alerts
//! make room for the newest, and are counted as dropped, as Prometheus's `notifier.Manager.Send`
//! does. The newest state of an alert is the one worth delivering; an older copy of a firing alert
//! is resent by the evaluator anyway.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::{IntCounter, IntGauge};
use tokio::sync::Notify;

use super::Alert;

/// A bounded FIFO of alerts with a wake-up for the one task that drains it.
pub(crate) struct AlertQueue {
    alerts: Mutex<VecDeque<Arc<Alert>>>,
    capacity: usize,
    ready: Notify,
    length: IntGauge,
    dropped: IntCounter,
}

impl AlertQueue {
    /// An empty queue of at most `capacity` (≥ 1) alerts that keeps `length` current and counts
    /// what it drops in `dropped`.
    pub(crate) fn new(capacity: usize, length: IntGauge, dropped: IntCounter) -> AlertQueue {
        AlertQueue { alerts: Mutex::new(VecDeque::new()), capacity, ready: Notify::new(), length, dropped }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Alert>>> {
        // A panic while holding this lock leaves a valid VecDeque behind: keep going with it.
        self.alerts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `alerts`, dropping the oldest beyond the capacity, and wakes the draining task.
    /// Returns how many alerts were dropped.
    pub(crate) fn push(&self, alerts: &[Arc<Alert>]) -> usize {
        if alerts.is_empty() {
            return 0;
        }
        let dropped = {
            let mut queue = self.lock();
            // A batch larger than the whole queue keeps only its newest part.
            let skip = alerts.len().saturating_sub(self.capacity);
            let overflow = (queue.len() + alerts.len() - skip).saturating_sub(self.capacity);
            queue.drain(..overflow);
            queue.extend(alerts[skip..].iter().cloned());
            self.length.set(queue.len() as i64);
            skip + overflow
        };
        if dropped > 0 {
            self.dropped.inc_by(dropped as u64);
        }
        self.ready.notify_one();
        dropped
    }

    /// Takes up to `max` of the oldest alerts.
    pub(crate) fn pop_batch(&self, max: usize) -> Vec<Arc<Alert>> {
        let mut queue = self.lock();
        let n = queue.len().min(max);
        let batch: Vec<Arc<Alert>> = queue.drain(..n).collect();
        self.length.set(queue.len() as i64);
        batch
    }

    /// Empties the queue, counting what it held as dropped; returns that count.
    pub(crate) fn clear(&self) -> usize {
        let n = {
            let mut queue = self.lock();
            let n = queue.len();
            queue.clear();
            self.length.set(0);
            n
        };
        self.dropped.inc_by(n as u64);
        n
    }

    /// Waits until something was pushed since the last wake-up (returns at once if it was).
    pub(crate) async fn wait(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use super::*;

    fn alert(n: usize) -> Arc<Alert> {
        Arc::new(Alert {
            labels: BTreeMap::from([("alertname".to_owned(), format!("A{n}"))]),
            annotations: BTreeMap::new(),
            starts_at: UNIX_EPOCH,
            ends_at: None,
            generator_url: String::new(),
            tenant: None,
        })
    }

    fn names(batch: &[Arc<Alert>]) -> Vec<&str> {
        batch.iter().map(|a| a.name()).collect()
    }

    #[test]
    fn full_queue_drops_the_oldest() {
        let (length, dropped) = (IntGauge::new("l", "l").unwrap(), IntCounter::new("d", "d").unwrap());
        let queue = AlertQueue::new(3, length.clone(), dropped.clone());
        assert_eq!(queue.push(&[alert(1), alert(2)]), 0);
        assert_eq!(queue.push(&[alert(3), alert(4)]), 1);
        assert_eq!(length.get(), 3);
        // A batch bigger than the queue keeps its newest part only.
        assert_eq!(queue.push(&[alert(5), alert(6), alert(7), alert(8)]), 4);
        assert_eq!(dropped.get(), 5);
        assert_eq!(names(&queue.pop_batch(2)), ["A6", "A7"]);
        assert_eq!(length.get(), 1);
        assert_eq!(names(&queue.pop_batch(10)), ["A8"]);
        assert!(queue.pop_batch(10).is_empty());
        queue.push(&[alert(9)]);
        assert_eq!(queue.clear(), 1);
        assert_eq!((length.get(), dropped.get()), (0, 6));
    }
}

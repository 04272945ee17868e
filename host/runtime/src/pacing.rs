//! Pacing what a product writes past its budgets.
//!
//! Past its log budget (or its standard output's or error's capacity) a product's further
//! writes are counted and dropped, but each one still costs the host: its bytes cross the
//! canonical ABI into a host allocation, and a flood of them keeps a core and the memory bus
//! busy for the requests the host serves beside the run. So past the budget a product's writes
//! are paced: each costs [`PACED_CALL`] plus its bytes at [`PACED_BYTES_PER_SECOND`], and the
//! writer waits (its own thread, never a shared one) until what it wrote is paid for, once the
//! debt reaches [`MIN_PAUSE`] and at most [`MAX_PAUSE`] per write so that its deadline still
//! ends it on time. A product within its budgets never waits; a chatty one past them slows a
//! little (2 MiB of 1 KiB lines past the budget wait about 50 ms); a flood goes at the paced
//! rate instead of as fast as the host can copy.

use std::time::{Duration, Instant};

/// The rate at which bytes written past the budget are paid for.
pub(crate) const PACED_BYTES_PER_SECOND: f64 = 64.0 * 1024.0 * 1024.0;
/// What one write past the budget costs whatever its size.
pub(crate) const PACED_CALL: Duration = Duration::from_micros(10);
/// The smallest debt a writer waits for (smaller ones add up first: a sleep costs more than
/// a few microseconds).
pub(crate) const MIN_PAUSE: Duration = Duration::from_millis(1);
/// The longest one write waits; a debt beyond it is carried to the next write.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(50);

/// One writer's debt for what it wrote past its budget.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// When the writes so far are paid for.
    paid_until: Option<Instant>,
    /// How long the writer was told to wait, in all.
    pub waited: Duration,
}

impl Pacer {
    /// Charges a write of `bytes` past the budget at `now`; returns how long the writer waits.
    pub(crate) fn charge(&mut self, bytes: usize, now: Instant) -> Duration {
        let cost = PACED_CALL + Duration::from_secs_f64(bytes as f64 / PACED_BYTES_PER_SECOND);
        let from = self.paid_until.map_or(now, |paid| paid.max(now));
        let paid = from + cost;
        self.paid_until = Some(paid);
        let wait = self.owed(now);
        self.waited += wait;
        wait
    }

    /// How long the writer must wait at `now` before it may write again (nothing while the
    /// debt is under [`MIN_PAUSE`]).
    pub(crate) fn owed(&self, now: Instant) -> Duration {
        let owed = self
            .paid_until
            .map_or(Duration::ZERO, |paid| paid.saturating_duration_since(now));
        if owed < MIN_PAUSE {
            Duration::ZERO
        } else {
            owed.min(MAX_PAUSE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `writes` writes of `bytes` in all cost at the paced rates, computed here.
    fn cost(writes: u32, bytes: f64) -> Duration {
        Duration::from_secs_f64(f64::from(writes) * 10e-6 + bytes / (64.0 * 1024.0 * 1024.0))
    }

    #[test]
    fn writes_past_the_budget_are_paid_for_at_the_paced_rate() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        // 8 MiB in one write costs 125 ms: it waits the cap, the debt carries on.
        assert_eq!(pacer.charge(8 << 20, start), MAX_PAUSE);
        // A writer that waits as told pays the whole debt over its next writes.
        let mut now = start + MAX_PAUSE;
        for _ in 1..16 {
            pacer.charge(64 * 1024, now);
            now += pacer.owed(now);
        }
        let owed_total = pacer.paid_until.unwrap().duration_since(start);
        let expected = cost(16, f64::from(8 << 20) + 15.0 * 65536.0);
        assert!(
            owed_total.abs_diff(expected) < Duration::from_micros(50),
            "{owed_total:?} vs {expected:?}"
        );
        assert_eq!(pacer.owed(start + expected), Duration::ZERO);
    }

    #[test]
    fn small_debts_add_up_before_anyone_waits() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        // 10 µs a call: the first 99 calls at one moment owe under 1 ms and do not wait.
        let waits: Vec<Duration> = (0..101).map(|_| pacer.charge(1, start)).collect();
        assert!(waits[..99].iter().all(Duration::is_zero), "{waits:?}");
        assert!(waits[100] >= MIN_PAUSE, "{waits:?}");
    }
}

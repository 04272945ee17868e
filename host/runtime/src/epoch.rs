//! A run's epoch deadline, checked in guest code at every epoch tick: it ends the run at its
//! timeout (a `Trap::Interrupt`, classified as a timeout), it moves the run's thread to the
//! idle scheduling class once the run has used more CPU time than
//! [`RuntimeConfig::idle_priority_after`](crate::RuntimeConfig::idle_priority_after), and, in
//! the idle class, it holds the run back while the host's request threads wait for the cores
//! (see [`crate::foreground`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use crate::foreground::{Foreground, HOLD_TICKS};
use crate::state::RunState;

/// Arms `store`'s epoch deadline: the run may execute guest code for `timeout` from now
/// (checked every `tick`), and drops to idle priority after `idle_after` of CPU time on the
/// thread that runs it (at once, when `idle_after` is zero). With `foreground`, a run in the
/// idle class looks at every tick whether requests wait for the cores, and sleeps
/// [`HOLD_TICKS`] ticks when they do (recorded in the run's state).
pub(crate) fn arm(
    store: &mut Store<RunState>,
    timeout: Duration,
    tick: Duration,
    idle_after: Duration,
    foreground: Option<Arc<Foreground>>,
) {
    let ends = Instant::now() + timeout;
    let tick = tick.max(Duration::from_nanos(1));
    let mut watch = IdleWatch::new(idle_after);
    let mut requests = foreground.map(crate::foreground::Watch::new);
    store.set_epoch_deadline(if requests.is_some() {
        1
    } else {
        watch.next_check(ends, tick)
    });
    store.epoch_deadline_callback(move |mut ctx| {
        if Instant::now() >= ends {
            return Ok(UpdateDeadline::Interrupt);
        }
        watch.look();
        if let Some(requests) = requests.as_mut().filter(|_| watch.in_idle_class) {
            if requests.requests_are_waiting() {
                let hold = tick
                    .saturating_mul(HOLD_TICKS)
                    .min(ends.saturating_duration_since(Instant::now()));
                std::thread::sleep(hold);
                let state = ctx.data_mut();
                state.held_for_requests = state.held_for_requests.saturating_add(hold);
            }
            return Ok(UpdateDeadline::Continue(1));
        }
        Ok(UpdateDeadline::Continue(watch.next_check(ends, tick)))
    });
}

/// Whether the run has used its CPU time at normal priority, and moves it when it has.
struct IdleWatch {
    after: Duration,
    /// The thread's CPU time when the watch began (the store is armed on the thread that
    /// runs its guest).
    began: Option<Duration>,
    idle: bool,
    /// Whether the thread did move to the idle class (only a run's own thread does).
    in_idle_class: bool,
}

impl IdleWatch {
    fn new(after: Duration) -> IdleWatch {
        let began = crate::cpu::thread_cpu_time();
        // Idle before any guest code runs (a no-op off a run's own thread).
        let in_idle_class = after.is_zero() && crate::priority::idle_current_thread();
        IdleWatch {
            in_idle_class,
            after,
            began,
            // Nothing more to watch: idle already, never, or no thread CPU clock to tell.
            idle: after.is_zero() || after == Duration::MAX || began.is_none(),
        }
    }

    /// Moves the thread to the idle class once it has used `after` of CPU time.
    fn look(&mut self) {
        if self.idle {
            return;
        }
        let (Some(began), Some(now)) = (self.began, crate::cpu::thread_cpu_time()) else {
            return;
        };
        if now.saturating_sub(began) >= self.after {
            self.idle = true;
            self.in_idle_class = crate::priority::idle_current_thread();
            if self.in_idle_class {
                tracing::debug!(
                    cpu_ms = now.saturating_sub(began).as_millis(),
                    "a long run moves to idle priority"
                );
            }
        }
    }

    /// Ticks until the callback should run again: the next tick while the watch is on, else
    /// the run's end.
    fn next_check(&self, ends: Instant, tick: Duration) -> u64 {
        if !self.idle {
            return 1;
        }
        let left = ends.saturating_duration_since(Instant::now()).as_nanos();
        u64::try_from(left / tick.as_nanos()).map_or(u64::MAX, |ticks| ticks.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_checks_every_tick_until_the_thread_is_idle() {
        let tick = Duration::from_millis(10);
        let ends = Instant::now() + Duration::from_secs(1);
        let mut watch = IdleWatch::new(Duration::from_millis(5));
        if crate::cpu::thread_cpu_time().is_none() {
            return;
        }
        assert_eq!(watch.next_check(ends, tick), 1);
        watch.look();
        // Not 5 ms of CPU yet: still watching.
        assert!(!watch.idle);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(spin.elapsed());
        }
        watch.look();
        assert!(watch.idle);
        // Then one check at the end: about 100 ticks of 10 ms.
        let ticks = watch.next_check(ends, tick);
        assert!((90..=101).contains(&ticks), "{ticks}");
    }

    #[test]
    fn never_idle_keeps_one_check_at_the_end() {
        let watch = IdleWatch::new(Duration::MAX);
        let ticks = watch.next_check(
            Instant::now() + Duration::from_millis(100),
            Duration::from_millis(10),
        );
        assert!((9..=11).contains(&ticks), "{ticks}");
    }
}

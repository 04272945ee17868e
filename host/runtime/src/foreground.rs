//! Requests go before runs, also when a run always wants the CPU.
//!
//! A run computes in the idle scheduling class (see [`crate::priority`]): a waking request
//! thread preempts it at once. But a run that never blocks still fills every gap between
//! requests and is preempted again at each wake-up, tens of thousands of switches a second on
//! a saturated host; on two shared cores that alone doubled request p99 beside an endless loop
//! (`docs/BENCHMARKS.md`, "Runs held back while requests wait"). So the host also watches the
//! threads that serve its requests: each one registers here the first time it serves one, and
//! at every epoch tick a run in the idle class asks how much those threads computed and how long
//! they waited for a CPU since its last look (the kernel's per-thread run time and run-queue
//! wait). When they were busy (together at least [`BUSY`] of a core) and waited for more than
//! [`PRESSURE`] of that time, the run sleeps [`HOLD_TICKS`] ticks: while requests queue for the
//! cores, a run computes at most one tick in `HOLD_TICKS + 1`. A host whose requests get the
//! cores they want never holds a run, nor does one that serves little while other processes load
//! the machine; a client that only sends cheap requests cannot hold runs back, since its
//! requests neither wait nor keep the threads busy.
//!
//! A run's timeout keeps counting while it is held (the timeout is wall-clock time); its log
//! says how long it was held. `limits.yield_to_requests = false` turns this off.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The share of the time since a run's last look that the request threads together may have
/// spent waiting for a CPU before the run is held.
pub(crate) const PRESSURE: f64 = 0.1;
/// The share of one core the request threads together must have used since a run's last look
/// for the run to be held: requests are what the host is busy with.
pub(crate) const BUSY: f64 = 0.1;
/// Epoch ticks a run sleeps when the request threads are waiting for the cores.
pub(crate) const HOLD_TICKS: u32 = 15;

/// The threads that serve a host's requests; see the module docs.
#[derive(Debug, Default)]
pub struct Foreground {
    /// Kernel thread ids.
    threads: Mutex<Vec<i32>>,
}

std::thread_local! {
    /// The [`Foreground`] (by address) this thread last registered with, so registering again
    /// costs one comparison.
    static REGISTERED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Foreground {
    /// Records the calling thread as one that serves requests (once per thread; later calls
    /// are a thread-local comparison).
    pub fn register_current_thread(&self) {
        let me = std::ptr::from_ref(self) as usize;
        if REGISTERED.with(std::cell::Cell::get) == me {
            return;
        }
        REGISTERED.with(|r| r.set(me));
        let Some(tid) = current_thread_id() else {
            return;
        };
        if let Ok(mut threads) = self.threads.lock()
            && !threads.contains(&tid)
        {
            threads.push(tid);
        }
    }

    /// How long the registered threads have run and waited for a CPU in all, since they
    /// started; threads that ended are forgotten. `None` where the kernel does not say.
    fn usage(&self) -> Option<Usage> {
        let mut threads = self.threads.lock().ok()?;
        let mut total = Usage::default();
        let mut known = false;
        threads.retain(|&tid| match thread_usage(tid) {
            Some(usage) => {
                total.ran += usage.ran;
                total.waited += usage.waited;
                known = true;
                true
            }
            None => false,
        });
        known.then_some(total)
    }
}

/// Time on a CPU and time runnable but waiting for one.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    ran: Duration,
    waited: Duration,
}

/// One run's look at the request threads at each epoch tick.
pub(crate) struct Watch {
    foreground: std::sync::Arc<Foreground>,
    last: Option<(Instant, Usage)>,
}

impl Watch {
    /// Starts watching: the first look is taken now, so the run's first tick can already be
    /// held.
    pub(crate) fn new(foreground: std::sync::Arc<Foreground>) -> Watch {
        let last = foreground.usage().map(|usage| (Instant::now(), usage));
        Watch { foreground, last }
    }

    /// Whether, since the last look, the request threads were busy (at least [`BUSY`] of a
    /// core) and waited for a CPU for more than [`PRESSURE`] of the time.
    pub(crate) fn requests_are_waiting(&mut self) -> bool {
        let now = Instant::now();
        let Some(usage) = self.foreground.usage() else {
            return false;
        };
        let previous = self.last.replace((now, usage));
        let Some((then, before)) = previous else {
            return false;
        };
        let span = now.saturating_duration_since(then).as_secs_f64();
        let ran = usage.ran.saturating_sub(before.ran).as_secs_f64();
        let waited = usage.waited.saturating_sub(before.waited).as_secs_f64();
        span > 0.0 && ran >= span * BUSY && waited > span * PRESSURE
    }
}

#[cfg(target_os = "linux")]
fn current_thread_id() -> Option<i32> {
    // SAFETY: `gettid` has no preconditions and reads no memory.
    #[allow(unsafe_code)]
    let tid = unsafe { libc::gettid() };
    Some(tid)
}

#[cfg(not(target_os = "linux"))]
fn current_thread_id() -> Option<i32> {
    None
}

/// The time thread `tid` of this process has spent on a CPU and runnable but waiting for one:
/// the first two fields of `/proc/self/task/TID/schedstat`.
fn thread_usage(tid: i32) -> Option<Usage> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    let ran = fields.next()??;
    let waited = fields.next()??;
    Some(Usage {
        ran: Duration::from_nanos(ran),
        waited: Duration::from_nanos(waited),
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn a_thread_registers_once_and_is_forgotten_when_it_ends() {
        let foreground = Arc::new(Foreground::default());
        foreground.register_current_thread();
        foreground.register_current_thread();
        assert_eq!(foreground.threads.lock().unwrap().len(), 1);
        let other = foreground.clone();
        std::thread::spawn(move || other.register_current_thread())
            .join()
            .unwrap();
        assert_eq!(foreground.threads.lock().unwrap().len(), 2);
        // The spawned thread has ended: its schedstat is gone, so it is dropped.
        assert!(foreground.usage().is_some());
        assert_eq!(foreground.threads.lock().unwrap().len(), 1);
    }

    #[test]
    fn request_threads_kept_off_the_cpu_are_seen_waiting_and_idle_ones_are_not() {
        let foreground = Arc::new(Foreground::default());
        let mut watch = Watch::new(foreground.clone());
        // A registered thread that sleeps never waits for a CPU.
        let sleeper = foreground.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let sleeping = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                sleeper.register_current_thread();
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        watch.requests_are_waiting();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !watch.requests_are_waiting(),
            "a sleeping thread does not wait"
        );
        // Registered threads that spin, more of them than there are cores, must wait for one.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let spinners: Vec<_> = (0..cores * 3)
            .map(|_| {
                let (foreground, stop) = (foreground.clone(), stop.clone());
                std::thread::spawn(move || {
                    foreground.register_current_thread();
                    while !stop.load(Ordering::SeqCst) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        watch.requests_are_waiting();
        std::thread::sleep(Duration::from_millis(200));
        let waiting = watch.requests_are_waiting();
        stop.store(true, Ordering::SeqCst);
        for thread in spinners {
            thread.join().unwrap();
        }
        sleeping.join().unwrap();
        assert!(
            waiting,
            "oversubscribed request threads were not seen waiting"
        );
    }
}

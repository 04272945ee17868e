//! Guest code runs below the host's own threads. Each run gets a thread of its own whose
//! scheduling priority is lowered (nice 10 on Linux) before any guest code runs, so that when
//! runs and requests contend for the cores, the HTTP server, the scheduler and the epoch
//! ticker go first. Once a run has computed for [`RuntimeConfig::idle_priority_after`] of CPU
//! time (by default at once), its thread moves to the idle class (`SCHED_IDLE`): it gets the
//! cores only when no other thread wants them, and any waking request thread preempts it at
//! once. So a product that spins, thrashes memory or floods its log costs other clients little
//! latency; runs slow down only while the cores are saturated by the host's own work. (Nice 10
//! alone is not enough: a request waking beside a nice-10 thread may still wait for its slice;
//! measured in `docs/BENCHMARKS.md`.)
//!
//! [`RuntimeConfig::idle_priority_after`]: crate::RuntimeConfig::idle_priority_after

/// The niceness of a run's thread (0 is the host's own; 19 the lowest).
pub(crate) const GUEST_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`GUEST_NICE`]. Whether it could.
pub(crate) fn lower_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` has no preconditions; `setpriority` with `PRIO_PROCESS` and a thread
        // id changes only that thread's niceness (Linux schedules threads as tasks) and reads
        // no memory.
        #[allow(unsafe_code)]
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(
                libc::PRIO_PROCESS,
                u32::try_from(tid).unwrap_or(0),
                GUEST_NICE,
            )
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

std::thread_local! {
    /// Whether the current thread is a run's own (started by [`on_guest_thread`]); only such a
    /// thread is ever moved to the idle class, never a caller's thread that runs a product
    /// directly (a command-line run, a test).
    static GUEST_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Moves the calling thread, if it is a run's own, to the idle scheduling class (`SCHED_IDLE`
/// on Linux): it runs only on cores nothing else wants. Whether it did.
pub(crate) fn idle_current_thread() -> bool {
    if !GUEST_THREAD.with(std::cell::Cell::get) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` with pid 0 changes only the calling thread's policy and
        // reads the one `sched_param` passed by reference; lowering needs no privilege.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Runs `work` on a thread of its own at guest priority, within the current Tokio runtime's
/// context, and waits for it without blocking the async threads.
pub(crate) async fn on_guest_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::try_current().ok();
    std::thread::Builder::new()
        .name("tessera-run".into())
        .spawn(move || {
            let _context = runtime.as_ref().map(tokio::runtime::Handle::enter);
            GUEST_THREAD.with(|guest| guest.set(true));
            if !lower_current_thread() {
                tracing::debug!("a run's thread keeps the host's priority");
            }
            let _ = answer.send(work());
        })
        .map_err(|e| format!("cannot start the run's thread: {e}"))?;
    answered
        .await
        .map_err(|_| "the run's thread stopped without an answer".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_thread_of_lower_priority() {
        let nice = on_guest_thread(|| {
            #[cfg(target_os = "linux")]
            {
                // SAFETY: as above; `getpriority` reads the calling thread's niceness.
                #[allow(unsafe_code)]
                let nice = unsafe {
                    *libc::__errno_location() = 0;
                    libc::getpriority(
                        libc::PRIO_PROCESS,
                        u32::try_from(libc::gettid()).unwrap_or(0),
                    )
                };
                Some(nice)
            }
            #[cfg(not(target_os = "linux"))]
            None
        })
        .await
        .unwrap();
        if let Some(nice) = nice {
            assert!(nice >= GUEST_NICE, "niceness {nice}");
        }
    }

    #[tokio::test]
    async fn a_run_thread_can_move_to_the_idle_class() {
        let policy = on_guest_thread(|| {
            let moved = idle_current_thread();
            #[cfg(target_os = "linux")]
            {
                // SAFETY: `sched_getscheduler` with pid 0 reads the calling thread's policy.
                #[allow(unsafe_code)]
                let policy = unsafe { libc::sched_getscheduler(0) };
                (moved, Some(policy))
            }
            #[cfg(not(target_os = "linux"))]
            (moved, None)
        })
        .await
        .unwrap();
        if let (true, Some(policy)) = policy {
            assert_eq!(policy, libc::SCHED_IDLE);
        }
    }

    #[tokio::test]
    async fn a_panic_on_the_thread_is_an_answer_not_a_hang() {
        let answer: Result<(), String> = on_guest_thread(|| std::panic::panic_any("boom")).await;
        assert!(answer.unwrap_err().contains("without an answer"));
    }
}

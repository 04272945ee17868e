//! Guest code runs below the host's own threads. Each run gets a thread of its own whose
//! scheduling priority is lowered (nice 10 on Linux) before any guest code runs, so that when
//! runs and requests contend for the cores, the HTTP server, the scheduler and the epoch
//! ticker go first: a product that spins, thrashes memory or floods its log costs other
//! clients little latency. A nice thread still gets the cores whenever nothing else wants them.

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
    async fn a_panic_on_the_thread_is_an_answer_not_a_hang() {
        let answer: Result<(), String> = on_guest_thread(|| std::panic::panic_any("boom")).await;
        assert!(answer.unwrap_err().contains("without an answer"));
    }
}

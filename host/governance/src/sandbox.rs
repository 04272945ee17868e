//! Evaluation in a child process: policies are code from the federation and from every domain,
//! and an interpreter has no memory limit of its own (a range of 10^12 numbers, a string
//! doubled forty times, a parser fed nesting a million deep). A child forked for the job gets an
//! address-space limit and a wall-clock deadline; whatever it does, the host loses only the
//! child. The job writes its results to a pipe as it goes, so what finished before a crash is
//! kept.
//!
//! The child runs nothing but the job: no logging, no locks another thread of the host could
//! have held at the fork, and it ends with `_exit`, never running the host's destructors.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Limits of one child.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChildLimits {
    /// Address space the child may add to what it inherited.
    pub memory: u64,
    /// Wall-clock time before it is killed.
    pub deadline: Duration,
    /// Most bytes of output kept; beyond that the child is killed.
    pub max_output: usize,
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildEnd {
    /// The job returned.
    Finished,
    /// It was killed at its deadline.
    TimedOut,
    /// It wrote more than `max_output`.
    TooMuchOutput,
    /// It died: out of memory (an allocation failed), a stack overflow, or a panic.
    Crashed(String),
    /// No child could be started; nothing ran.
    NotStarted(String),
}

/// What a child wrote, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildResult {
    /// Bytes written by the job, whole or up to the point it ended.
    pub output: Vec<u8>,
    /// How it ended.
    pub end: ChildEnd,
}

/// Runs `job` in a child process within `limits`; `job` writes its results to the sink it is
/// given.
#[cfg(target_os = "linux")]
pub fn run_in_child(limits: ChildLimits, job: impl FnOnce(&mut dyn FnMut(&[u8]))) -> ChildResult {
    linux::run(limits, job)
}

/// Without `fork`, the job runs on the calling thread, within the interpreter's own timer only.
#[cfg(not(target_os = "linux"))]
pub fn run_in_child(limits: ChildLimits, job: impl FnOnce(&mut dyn FnMut(&[u8]))) -> ChildResult {
    let mut output = Vec::new();
    job(&mut |bytes| output.extend_from_slice(bytes));
    let end = if output.len() > limits.max_output {
        output.truncate(limits.max_output);
        ChildEnd::TooMuchOutput
    } else {
        ChildEnd::Finished
    };
    ChildResult { output, end }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) mod linux {
    use super::*;

    /// Exit status of a child whose job panicked.
    pub(crate) const PANICKED: i32 = 70;

    pub(super) fn run(limits: ChildLimits, job: impl FnOnce(&mut dyn FnMut(&[u8]))) -> ChildResult {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return not_started("no pipe");
        }
        let [read_end, write_end] = fds;
        let address_space = current_address_space().saturating_add(limits.memory);
        // SAFETY: the child only runs `child_main`, which touches no lock another thread may
        // hold (see the module docs) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            close(read_end);
            close(write_end);
            return not_started("fork failed");
        }
        if pid == 0 {
            close(read_end);
            child_main(write_end, address_space, job);
        }
        close(write_end);
        let result = collect(read_end, pid, limits);
        close(read_end);
        result
    }

    fn not_started(why: &str) -> ChildResult {
        ChildResult {
            output: Vec::new(),
            end: ChildEnd::NotStarted(format!("{why}: {}", std::io::Error::last_os_error())),
        }
    }

    fn child_main(
        write_end: i32,
        address_space: u64,
        job: impl FnOnce(&mut dyn FnMut(&[u8])),
    ) -> ! {
        let limit = libc::rlimit {
            rlim_cur: address_space,
            rlim_max: address_space,
        };
        // SAFETY: a valid rlimit for this process.
        unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
        silence_output();
        let mut sink = |bytes: &[u8]| write_all(write_end, bytes);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut sink)));
        let status = if outcome.is_ok() { 0 } else { PANICKED };
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(status) }
    }

    /// Points standard output and error at `/dev/null`: what a child would print (an
    /// allocation failure's report) is not the host's log.
    pub(crate) fn silence_output() {
        // SAFETY: a NUL-terminated path; dup2 onto this process's own descriptors.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 1);
                libc::dup2(null, 2);
                if null > 2 {
                    libc::close(null);
                }
            }
        }
    }

    /// Closes every descriptor above 2 but `keep`: a long-lived child must not hold the host's
    /// sockets and files open (a connection the host closed would stay open).
    pub(crate) fn close_inherited(keep: &[i32]) {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        let open: Vec<i32> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        for fd in open {
            if fd > 2 && !keep.contains(&fd) {
                close(fd);
            }
        }
    }

    pub(crate) fn write_all(fd: i32, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // SAFETY: `bytes` is valid for `bytes.len()` bytes.
            let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => bytes = bytes.get(n..).unwrap_or_default(),
                _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    }

    /// Reads the child's output until it closes the pipe, its deadline passes, or it writes
    /// too much; then reaps it (killing it first unless it finished).
    fn collect(read_end: i32, pid: libc::pid_t, limits: ChildLimits) -> ChildResult {
        let started = Instant::now();
        let mut output = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        let mut end = None;
        loop {
            let left = limits.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                end = Some(ChildEnd::TimedOut);
                break;
            }
            let mut poll = libc::pollfd {
                fd: read_end,
                events: libc::POLLIN,
                revents: 0,
            };
            let wait_ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, wait_ms) };
            if ready < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            if ready == 0 {
                continue;
            }
            // SAFETY: `buffer` is valid for its length.
            let n = unsafe { libc::read(read_end, buffer.as_mut_ptr().cast(), buffer.len()) };
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(n) => {
                    output.extend_from_slice(buffer.get(..n).unwrap_or_default());
                    if output.len() > limits.max_output {
                        output.truncate(limits.max_output);
                        end = Some(ChildEnd::TooMuchOutput);
                        break;
                    }
                }
                Err(_) => {
                    if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                        break;
                    }
                }
            }
        }
        if end.is_some() {
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let status = reap(pid);
        let end = end.unwrap_or_else(|| describe_exit(status));
        ChildResult { output, end }
    }

    pub(crate) fn reap(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child.
            let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
            if rc == pid
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return status;
            }
        }
    }

    pub(crate) fn describe_exit(status: i32) -> ChildEnd {
        if libc::WIFEXITED(status) {
            return match libc::WEXITSTATUS(status) {
                0 => ChildEnd::Finished,
                PANICKED => ChildEnd::Crashed("it panicked".into()),
                code => ChildEnd::Crashed(format!("it exited with status {code}")),
            };
        }
        if libc::WIFSIGNALED(status) {
            return ChildEnd::Crashed(match libc::WTERMSIG(status) {
                libc::SIGABRT => "it ran out of memory (an allocation failed)".into(),
                libc::SIGSEGV | libc::SIGBUS => {
                    "it overflowed its stack or ran out of memory".into()
                }
                libc::SIGKILL => "it was killed".into(),
                signal => format!("it died of signal {signal}"),
            });
        }
        ChildEnd::Crashed(format!("it ended with wait status {status}"))
    }

    pub(crate) fn close(fd: i32) {
        // SAFETY: closes a descriptor this function's caller owns.
        unsafe { libc::close(fd) };
    }

    /// The process's address space now, in bytes (`/proc/self/statm`), read before the fork.
    pub(crate) fn current_address_space() -> u64 {
        // SAFETY: sysconf has no preconditions.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(u64::MAX / 2, |pages| pages.saturating_mul(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ChildLimits {
        ChildLimits {
            memory: 256 << 20,
            deadline: Duration::from_secs(5),
            max_output: 1 << 20,
        }
    }

    #[test]
    fn a_child_returns_what_it_wrote() {
        let result = run_in_child(limits(), |out| {
            out(b"hello ");
            out(b"world");
        });
        assert_eq!(result.end, ChildEnd::Finished);
        assert_eq!(result.output, b"hello world");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_that_allocates_without_bound_dies_alone() {
        let result = run_in_child(limits(), |out| {
            out(b"before;");
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 64 << 20]);
                if hoard.len() > 1_000 {
                    out(b"never");
                    break;
                }
            }
        });
        assert!(
            matches!(result.end, ChildEnd::Crashed(_)),
            "{:?}",
            result.end
        );
        assert_eq!(result.output, b"before;");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_past_its_deadline_is_killed() {
        let started = Instant::now();
        let result = run_in_child(
            ChildLimits {
                deadline: Duration::from_millis(200),
                ..limits()
            },
            |_| std::thread::sleep(Duration::from_secs(30)),
        );
        assert_eq!(result.end, ChildEnd::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_panicking_child_is_a_crash_and_output_is_bounded() {
        let result = run_in_child(limits(), |out| {
            out(b"x");
            std::panic::panic_any("on purpose");
        });
        assert_eq!(result.end, ChildEnd::Crashed("it panicked".into()));
        let flood = run_in_child(limits(), |out| {
            for _ in 0..100 {
                out(&[7u8; 64 * 1024]);
            }
        });
        assert_eq!(flood.end, ChildEnd::TooMuchOutput);
        assert_eq!(flood.output.len(), 1 << 20);
    }
}

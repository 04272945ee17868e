//! Small processes that fork the evaluation children. Forking the host itself for every
//! evaluation costs what the host's size costs: the kernel copies its page tables, and the host
//! then takes a fault on the first write to every page it shares with the child (tens of
//! milliseconds for a server with compiled products and a GPU device). So the host forks a
//! few *zygotes* early ([`prestart`], before the host compiles products or opens a GPU), while
//! that is still cheap and while the pages they keep are few; a zygote closes every descriptor
//! it inherited but its two pipes, and dies with the host. A zygote that dies or stops answering
//! is killed and not replaced (a replacement forked from a grown host would keep its pages);
//! when no zygote is free, the host forks a child for the job itself ([`crate::sandbox`]).
//!
//! A zygote hands its jobs to an *evaluator*: a child it forks, under the same limits a child
//! per job had (an address-space limit, the job's deadline, an output cap), that serves job
//! after job so that no fork sits on an evaluation's path. An evaluator that overruns a
//! deadline, writes too much, crashes or runs out of memory is killed, that job fails with the
//! reason, and the next job gets a fresh one; one that has grown by more than half its memory
//! allowance, or served [`JOBS_PER_EVALUATOR`] jobs, is replaced after it answers, so one
//! policy's leftovers never shrink another's allowance for long.
//!
//! Jobs and results cross the pipes as length-prefixed JSON frames. Evaluators keep the
//! policies they parsed; a zygote parses those its evaluators evaluated without trouble, so
//! a fresh evaluator starts with them parsed.

use std::time::Duration;

use crate::evaluate::Job;
use crate::sandbox::{ChildEnd, ChildLimits, ChildResult};

/// Runs `job` in a child within `limits`, forked by a zygote where one can be had.
pub(crate) fn run(limits: ChildLimits, job: &Job) -> ChildResult {
    #[cfg(target_os = "linux")]
    {
        if let Some(result) = linux::run(limits, job) {
            return result;
        }
    }
    let nothing_parsed = crate::evaluate::Parsed::default();
    crate::sandbox::run_in_child(limits, |out| {
        crate::evaluate::perform(job, &nothing_parsed, out)
    })
}

/// Starts the zygotes, unless they are running. Call it early: a zygote keeps the pages the
/// host had when it was forked.
pub fn prestart() {
    #[cfg(target_os = "linux")]
    linux::prestart();
}

/// How much longer than a job's own deadline the host waits for its zygote's answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// The largest frame read from a pipe.
const MAX_FRAME: u64 = 64 << 20;

/// Jobs one evaluator serves before a fresh one replaces it.
const JOBS_PER_EVALUATOR: u32 = 256;

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::sandbox::linux::{
        PANICKED, close, close_inherited, current_address_space, describe_exit, reap,
        silence_output, write_all,
    };

    /// A running zygote: its pid, where jobs go, where results come from.
    struct Zygote {
        pid: libc::pid_t,
        jobs: i32,
        results: i32,
    }

    /// Zygotes waiting for a job.
    static IDLE: Mutex<Vec<Zygote>> = Mutex::new(Vec::new());

    /// Zygotes started.
    const KEPT: usize = 2;

    enum Failure {
        /// The zygote is gone, or its pipe broke: a fresh one may do.
        Broken,
        /// It did not answer in time.
        TimedOut,
    }

    /// Zygotes started so far (started ones are never replaced).
    static STARTED: Mutex<usize> = Mutex::new(0);

    pub(super) fn prestart() {
        let Ok(mut started) = STARTED.lock() else {
            return;
        };
        while *started < KEPT {
            *started += 1;
            if let Some(zygote) = start() {
                park(zygote);
            }
        }
    }

    /// `None` when no zygote is free (or the one taken broke before answering).
    pub(super) fn run(limits: ChildLimits, job: &Job) -> Option<ChildResult> {
        let request = serde_json::to_vec(&(limits, job)).ok()?;
        let zygote = IDLE.lock().ok().and_then(|mut idle| idle.pop())?;
        match exchange(
            &zygote,
            &request,
            limits.deadline.saturating_add(ANSWER_MARGIN),
        ) {
            Ok(result) => {
                park(zygote);
                Some(result)
            }
            Err(Failure::TimedOut) => {
                stop(zygote);
                Some(ChildResult {
                    output: Vec::new(),
                    end: ChildEnd::TimedOut,
                })
            }
            Err(Failure::Broken) => {
                stop(zygote);
                None
            }
        }
    }

    fn park(zygote: Zygote) {
        match IDLE.lock() {
            Ok(mut idle) => idle.push(zygote),
            Err(_) => stop(zygote),
        }
    }

    fn stop(zygote: Zygote) {
        close(zygote.jobs);
        close(zygote.results);
        // SAFETY: `pid` is our child, not yet reaped.
        unsafe { libc::kill(zygote.pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(zygote.pid, &mut status, 0) };
    }

    fn pipe() -> Option<(i32, i32)> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        Some((fds[0], fds[1]))
    }

    fn start() -> Option<Zygote> {
        // SAFETY (of the fork): the zygote runs only `zygote_main`, which touches no lock
        // another thread of the host may hold, and never returns.
        let (pid, jobs, results) = fork_with_pipes(|jobs, results| zygote_main(jobs, results))?;
        Some(Zygote { pid, jobs, results })
    }

    /// Forks a child that reads jobs from one pipe and writes results to another; `child`
    /// gets its ends (jobs to read, results to write) and ends the process. Returns the child's
    /// pid and the parent's ends (jobs to write, results to read).
    fn fork_with_pipes(child: impl FnOnce(i32, i32)) -> Option<(libc::pid_t, i32, i32)> {
        let (job_read, job_write) = pipe()?;
        let Some((result_read, result_write)) = pipe() else {
            close(job_read);
            close(job_write);
            return None;
        };
        // SAFETY: the callers' children run only their own main loop (see each caller).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            for fd in [job_read, job_write, result_read, result_write] {
                close(fd);
            }
            return None;
        }
        if pid == 0 {
            close(job_write);
            close(result_read);
            child(job_read, result_write);
            // SAFETY: the children's main loops end the process themselves; never reached.
            unsafe { libc::_exit(0) }
        }
        close(job_read);
        close(result_write);
        Some((pid, job_write, result_read))
    }

    fn zygote_main(jobs: i32, results: i32) -> ! {
        // SAFETY: asks the kernel to kill this process when its parent, the host, dies.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        silence_output();
        close_inherited(&[jobs, results]);
        std::panic::set_hook(Box::new(|_| {}));
        let mut parsed = crate::evaluate::Parsed::default();
        let mut evaluator: Option<Evaluator> = None;
        while let Some(frame) = read_frame(jobs, None) {
            let job = serde_json::from_slice::<(ChildLimits, Job)>(&frame);
            let result = match &job {
                Ok((limits, job)) => evaluate_in(&mut evaluator, &mut parsed, *limits, job),
                Err(e) => ChildResult {
                    output: Vec::new(),
                    end: ChildEnd::NotStarted(format!("the zygote could not read the job: {e}")),
                },
            };
            let Ok(bytes) = serde_json::to_vec(&result) else {
                break;
            };
            write_frame(results, &bytes);
            // Off the job's path: what an evaluator parsed and evaluated whole is parsed here,
            // and a worn evaluator is replaced.
            if let (Ok((_, job)), ChildEnd::Finished) = (&job, &result.end) {
                parsed.learn(job);
            }
            if evaluator.as_ref().is_some_and(Evaluator::worn) {
                retire(evaluator.take());
            }
        }
        retire(evaluator.take());
        // SAFETY: ends the zygote without running the host's destructors.
        unsafe { libc::_exit(0) }
    }

    /// A child of a zygote that evaluates job after job.
    struct Evaluator {
        pid: libc::pid_t,
        jobs: i32,
        results: i32,
        /// The memory allowance it was started with.
        memory: u64,
        /// Its address space when it started.
        started_at: u64,
        /// Jobs it answered.
        served: u32,
    }

    impl Evaluator {
        /// Served its share of jobs, or grew by more than half its allowance.
        fn worn(&self) -> bool {
            self.served >= JOBS_PER_EVALUATOR
                || address_space_of(self.pid)
                    .is_none_or(|now| now > self.started_at.saturating_add(self.memory / 2))
        }
    }

    fn address_space_of(pid: libc::pid_t) -> Option<u64> {
        // SAFETY: sysconf has no preconditions.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
        Some(pages.saturating_mul(page))
    }

    fn retire(evaluator: Option<Evaluator>) {
        let Some(evaluator) = evaluator else {
            return;
        };
        close(evaluator.jobs);
        close(evaluator.results);
        // SAFETY: `pid` is this zygote's child, not yet reaped.
        unsafe { libc::kill(evaluator.pid, libc::SIGKILL) };
        reap(evaluator.pid);
    }

    /// Runs `job` in the zygote's evaluator (started, or restarted for other limits, first),
    /// within `limits`; without one, in a child of its own.
    fn evaluate_in(
        evaluator: &mut Option<Evaluator>,
        parsed: &mut crate::evaluate::Parsed,
        limits: ChildLimits,
        job: &Job,
    ) -> ChildResult {
        if evaluator
            .as_ref()
            .is_some_and(|e| e.memory != limits.memory)
        {
            retire(evaluator.take());
        }
        if evaluator.is_none() {
            *evaluator = start_evaluator(parsed, limits.memory);
        }
        let (Some(running), Ok(request)) = (evaluator.as_mut(), serde_json::to_vec(job)) else {
            return crate::sandbox::run_in_child(limits, |out| {
                crate::evaluate::perform(job, parsed, out)
            });
        };
        write_frame(running.jobs, &request);
        let deadline = Instant::now() + limits.deadline;
        let mut length = [0u8; 8];
        let answer = read_exact(running.results, &mut length, Some(deadline)).and_then(|()| {
            let length = u64::from_le_bytes(length);
            if length > u64::try_from(limits.max_output).unwrap_or(u64::MAX) {
                return Some(Err(ChildEnd::TooMuchOutput));
            }
            let mut output = vec![0u8; usize::try_from(length).ok()?];
            read_exact(running.results, &mut output, Some(deadline))?;
            Some(Ok(output))
        });
        match answer {
            Some(Ok(output)) => {
                running.served += 1;
                ChildResult {
                    output,
                    end: ChildEnd::Finished,
                }
            }
            Some(Err(end)) => {
                retire(evaluator.take());
                ChildResult {
                    output: Vec::new(),
                    end,
                }
            }
            None => {
                let end = if Instant::now() >= deadline {
                    // SAFETY: `pid` is this zygote's child, not yet reaped.
                    unsafe { libc::kill(running.pid, libc::SIGKILL) };
                    ChildEnd::TimedOut
                } else {
                    // The pipe ended: it died; its wait status says how.
                    describe_exit(reap(running.pid))
                };
                if let Some(gone) = evaluator.take() {
                    close(gone.jobs);
                    close(gone.results);
                    if end == ChildEnd::TimedOut {
                        reap(gone.pid);
                    }
                }
                ChildResult {
                    output: Vec::new(),
                    end,
                }
            }
        }
    }

    /// Forks an evaluator with the policies `parsed` holds, under an address-space limit of
    /// the zygote's size plus `memory`.
    fn start_evaluator(parsed: &mut crate::evaluate::Parsed, memory: u64) -> Option<Evaluator> {
        let started_at = current_address_space();
        // The zygote is single-threaded; the child runs `evaluator_main` only.
        let (pid, jobs, results) = fork_with_pipes(|job_read, result_write| {
            let limit = libc::rlimit {
                rlim_cur: started_at.saturating_add(memory),
                rlim_max: started_at.saturating_add(memory),
            };
            // SAFETY: sets this child's own limit; dies with the zygote.
            unsafe {
                libc::setrlimit(libc::RLIMIT_AS, &limit);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            close_inherited(&[job_read, result_write]);
            evaluator_main(job_read, result_write, std::mem::take(parsed))
        })?;
        Some(Evaluator {
            pid,
            jobs,
            results,
            memory,
            started_at,
            served: 0,
        })
    }

    fn evaluator_main(jobs: i32, results: i32, mut parsed: crate::evaluate::Parsed) -> ! {
        while let Some(frame) = read_frame(jobs, None) {
            let Ok(job) = serde_json::from_slice::<Job>(&frame) else {
                break;
            };
            let mut output = Vec::new();
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::evaluate::perform(&job, &parsed, &mut |bytes| {
                    output.extend_from_slice(bytes)
                })
            }));
            if done.is_err() {
                // SAFETY: ends the evaluator; the zygote reads the status.
                unsafe { libc::_exit(PANICKED) }
            }
            write_frame(results, &output);
            parsed.learn(&job);
        }
        // SAFETY: ends the evaluator without running the zygote's destructors.
        unsafe { libc::_exit(0) }
    }

    fn exchange(zygote: &Zygote, request: &[u8], wait: Duration) -> Result<ChildResult, Failure> {
        write_frame(zygote.jobs, request);
        let deadline = Instant::now() + wait;
        match read_frame(zygote.results, Some(deadline)) {
            Some(frame) => serde_json::from_slice(&frame).map_err(|_| Failure::Broken),
            None if Instant::now() >= deadline => Err(Failure::TimedOut),
            None => Err(Failure::Broken),
        }
    }

    fn write_frame(fd: i32, bytes: &[u8]) {
        let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes();
        write_all(fd, &length);
        write_all(fd, bytes);
    }

    /// Reads one frame; `None` at the end of the pipe, on an error, past `deadline`, or for a
    /// frame larger than [`MAX_FRAME`].
    fn read_frame(fd: i32, deadline: Option<Instant>) -> Option<Vec<u8>> {
        let mut length = [0u8; 8];
        read_exact(fd, &mut length, deadline)?;
        let length = u64::from_le_bytes(length);
        if length > MAX_FRAME {
            return None;
        }
        let mut frame = vec![0u8; usize::try_from(length).ok()?];
        read_exact(fd, &mut frame, deadline)?;
        Some(frame)
    }

    fn read_exact(fd: i32, buffer: &mut [u8], deadline: Option<Instant>) -> Option<()> {
        let mut filled = 0;
        while filled < buffer.len() {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                let mut poll = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let wait_ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(&mut poll, 1, wait_ms) };
                if ready == 0 {
                    continue;
                }
                if ready < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return None;
                }
            }
            let rest = buffer.get_mut(filled..)?;
            // SAFETY: `rest` is valid for its length.
            let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            match usize::try_from(n) {
                Ok(0) => return None,
                Ok(n) => filled += n,
                Err(_) => {
                    if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                        return None;
                    }
                }
            }
        }
        Some(())
    }
}

//! How much of a product's `log` output the host keeps and passes on.
//!
//! A product can call `log.write` as fast as the host answers, with lines as long as its memory
//! allows. Two budgets per run bound what that costs the host:
//!
//! - **kept**: the run's captured log holds at most [`RuntimeConfig::max_log_bytes`] bytes of
//!   messages (each line cut to [`MAX_LINE`], stored in an allocation of its own size) and
//!   [`MAX_LOG_LINES`] lines; the rest is counted and dropped.
//! - **emitted**: lines reach the host's `tracing` through a token bucket ([`TRACE_BURST`] lines,
//!   refilled at [`TRACE_PER_SECOND`] a second) and within [`MAX_TRACED_BYTES`] bytes per run;
//!   the first line held back emits one warning, and the run's log counts the rest.
//!
//! So a run's log costs at most `max_log_bytes` plus about 64 bytes a line of host memory,
//! whatever the product does, and its share of the server log is bounded the same way. Lines
//! past the kept budget are also paced ([`crate::pacing`]): the product waits for them.
//!
//! [`RuntimeConfig::max_log_bytes`]: crate::RuntimeConfig::max_log_bytes

use std::time::Instant;

/// Longest log line kept, in bytes; longer lines are cut.
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// The most log lines a run keeps; later lines are counted, not stored.
pub(crate) const MAX_LOG_LINES: usize = 10_000;
/// Lines a run may send to `tracing` at once.
pub(crate) const TRACE_BURST: f64 = 100.0;
/// Lines a second a run may send to `tracing` after its burst.
pub(crate) const TRACE_PER_SECOND: f64 = 20.0;
/// Bytes of messages a run may send to `tracing` in all.
pub(crate) const MAX_TRACED_BYTES: usize = 256 * 1024;

/// One run's log budgets and what they held back.
#[derive(Debug)]
pub(crate) struct LogBudget {
    /// The debt of lines written past the kept budget ([`crate::pacing`]).
    pub pacer: crate::pacing::Pacer,
    max_kept_bytes: usize,
    kept_bytes: usize,
    kept_lines: usize,
    /// Lines not kept in the run's log.
    pub dropped_lines: u64,
    /// Message bytes not kept in the run's log (including what cutting long lines removed).
    pub dropped_bytes: u64,
    traced_bytes: usize,
    tokens: f64,
    refilled: Instant,
    /// Lines kept (or not) but not sent to `tracing`.
    pub untraced_lines: u64,
}

/// What to do with one line.
pub(crate) struct Admitted {
    /// The text to keep in the run's log, if any (cut, in an allocation of its own size).
    pub kept: Option<String>,
    /// Whether to send the line to `tracing`.
    pub trace: bool,
    /// Whether this is the first line held back from `tracing` (warn once).
    pub first_untraced: bool,
    /// How long the writer waits before it goes on: a line past the kept budget is paced.
    pub pause: std::time::Duration,
}

impl LogBudget {
    /// Budgets for a run that may keep `max_kept_bytes` of log messages.
    pub(crate) fn new(max_kept_bytes: usize) -> Self {
        LogBudget {
            pacer: crate::pacing::Pacer::default(),
            max_kept_bytes,
            kept_bytes: 0,
            kept_lines: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
            traced_bytes: 0,
            tokens: TRACE_BURST,
            refilled: Instant::now(),
            untraced_lines: 0,
        }
    }

    /// Decides what happens to `message`, counting what is held back.
    pub(crate) fn admit(&mut self, message: &str) -> Admitted {
        self.admit_at(message, Instant::now())
    }

    fn admit_at(&mut self, message: &str, now: Instant) -> Admitted {
        let cut = cut_point(message, MAX_LINE);
        let kept = if self.kept_lines < MAX_LOG_LINES
            && self.kept_bytes.saturating_add(cut) <= self.max_kept_bytes
        {
            self.kept_lines += 1;
            self.kept_bytes += cut;
            self.dropped_bytes += (message.len() - cut) as u64;
            let mut line = String::with_capacity(cut + 6);
            line.push_str(&message[..cut]);
            if cut < message.len() {
                line.push_str(" [cut]");
            }
            Some(line)
        } else {
            self.dropped_lines += 1;
            self.dropped_bytes += message.len() as u64;
            None
        };
        let pause = if kept.is_none() {
            self.pacer.charge(message.len(), now)
        } else {
            std::time::Duration::ZERO
        };
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * TRACE_PER_SECOND).min(TRACE_BURST);
        let trace = self.tokens >= 1.0 && self.traced_bytes.saturating_add(cut) <= MAX_TRACED_BYTES;
        let first_untraced = !trace && self.untraced_lines == 0;
        if trace {
            self.tokens -= 1.0;
            self.traced_bytes += cut;
        } else {
            self.untraced_lines += 1;
        }
        Admitted {
            kept,
            trace,
            first_untraced,
            pause,
        }
    }
}

/// The largest char boundary of `message` at or below `limit`.
fn cut_point(message: &str, limit: usize) -> usize {
    if message.len() <= limit {
        return message.len();
    }
    let mut cut = limit;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_into_allocations_of_their_own_size() {
        let mut budget = LogBudget::new(1 << 20);
        let line = "é".repeat(40 * 1024);
        let kept = budget.admit(&line).kept.unwrap_or_default();
        assert!(kept.ends_with(" [cut]"));
        assert!(kept.len() <= MAX_LINE + 6);
        assert!(kept.capacity() <= MAX_LINE + 6, "{}", kept.capacity());
        assert_eq!(budget.dropped_bytes as usize, line.len() - (kept.len() - 6));
    }

    #[test]
    fn the_kept_budget_holds_and_counts_the_rest() {
        let mut budget = LogBudget::new(100 * 1024);
        let line = "x".repeat(64 * 1024);
        let mut kept = 0;
        for _ in 0..1000 {
            kept += budget.admit(&line).kept.map_or(0, |l| l.len());
        }
        assert!(kept <= 100 * 1024 + 12 * 6, "{kept}");
        // 12 lines of 8 KiB fit in 100 KiB; the other 988 are dropped whole.
        assert_eq!(budget.dropped_lines, 1000 - 12);
    }

    #[test]
    fn tracing_is_rate_limited_and_warned_about_once() {
        let mut budget = LogBudget::new(1 << 20);
        let start = budget.refilled;
        let admitted: Vec<Admitted> = (0..1000).map(|_| budget.admit_at("short", start)).collect();
        let traced = admitted.iter().filter(|a| a.trace).count();
        assert_eq!(traced, TRACE_BURST as usize);
        assert_eq!(admitted.iter().filter(|a| a.first_untraced).count(), 1);
        assert_eq!(budget.untraced_lines as usize, 1000 - traced);
        // Two seconds later the bucket has refilled by 40 lines.
        let later = start + std::time::Duration::from_secs(2);
        let traced = (0..100)
            .filter(|_| budget.admit_at("short", later).trace)
            .count();
        assert_eq!(traced, 2 * TRACE_PER_SECOND as usize);
    }
}

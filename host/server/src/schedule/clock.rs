//! The time the scheduler reads, injectable so schedules can be tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in microseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync {
    /// Now.
    fn now_us(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        tessera_store::now_us()
    }
}

/// A clock that moves only when told; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `us`.
    pub fn at(us: i64) -> Self {
        ManualClock(AtomicI64::new(us))
    }

    /// Sets the time.
    pub fn set(&self, us: i64) {
        self.0.store(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A time in µs since the epoch as RFC 3339 text (UTC, microseconds).
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || format!("{us}µs since the epoch"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

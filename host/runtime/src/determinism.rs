//! What makes a run reproducible: the clocks and random numbers a product sees through WASI.
//!
//! A run is a pure function of its code, its input versions and its *logical run* (id, start
//! time, seed). The wall clock always reads the run's start time; the monotonic clock starts
//! at zero and advances one microsecond per reading; both random interfaces are seeded from
//! the run's seed. Combined with the engine's NaN canonicalization and deterministic relaxed
//! SIMD (see [`crate::RuntimeConfig`]), nothing a product can observe differs between two runs
//! with the same inputs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// A wall clock stopped at the run's start.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that advances one microsecond each time it is read.
struct SteppingClock(AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

/// Seeds a 64-bit value into independent streams (SplitMix64's finaliser).
fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Gives a WASI context the run's fixed clocks and seeded random numbers.
pub(crate) fn make_deterministic(builder: &mut WasiCtxBuilder, started_at_us: i64, seed: u64) {
    let since_epoch = Duration::from_micros(u64::try_from(started_at_us).unwrap_or(0));
    builder
        .wall_clock(FixedWallClock(since_epoch))
        .monotonic_clock(SteppingClock(AtomicU64::new(0)))
        .secure_random(StdRng::seed_from_u64(mix(seed, 1)))
        .insecure_random(StdRng::seed_from_u64(mix(seed, 2)))
        .insecure_random_seed(u128::from(mix(seed, 3)) << 64 | u128::from(mix(seed, 4)));
}

/// A seed derived from a run id, for runs that were not given one.
pub fn seed_from_run_id(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_split_into_distinct_streams() {
        let seed = seed_from_run_id("r1");
        assert_ne!(seed, seed_from_run_id("r2"));
        assert_ne!(mix(seed, 1), mix(seed, 2));
        assert_eq!(mix(seed, 1), mix(seed_from_run_id("r1"), 1));
    }

    #[test]
    fn the_monotonic_clock_steps_and_the_wall_clock_stands_still() {
        let clock = SteppingClock(AtomicU64::new(0));
        assert_eq!((clock.now(), clock.now()), (0, 1_000));
        let wall = FixedWallClock(Duration::from_secs(5));
        assert_eq!(wall.now(), wall.now());
    }
}

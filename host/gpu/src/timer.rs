//! GPU time from timestamp queries: each dispatch's compute pass writes a timestamp at its
//! beginning and end into a per-run query set; where the session waits anyway (a read, a
//! guarded kernel, the end of the run) the pairs are resolved, read back and summed. The sum
//! is the time the device spent in the run's kernels (overlapping passes counted once),
//! without host time between submissions. Adapters without timestamp queries fall back to
//! wall time (see `Session`).

use std::time::{Duration, Instant};

use crate::device::DeviceState;
use crate::error::GpuError;

/// Compute passes timed between two waits; the session waits when the set is full.
const PASSES: u32 = 256;
const BYTES_PER_PASS: u64 = 16;

/// One run's timestamp query set and the buffers its values are read back through.
pub(crate) struct PassTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Passes given timestamps since the last collection.
    used: u32,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl PassTimer {
    /// A timer on `device`, or `None` where the device has no timestamp queries.
    pub fn new(device: &DeviceState) -> Option<PassTimer> {
        if !device.timestamps {
            return None;
        }
        let bytes = u64::from(PASSES) * BYTES_PER_PASS;
        let buffer = |usage| {
            device.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pass timestamps"),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(PassTimer {
            set: device.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * PASSES,
            }),
            resolve: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            used: 0,
            period_ns: f64::from(device.queue.get_timestamp_period()),
        })
    }

    /// Whether every pair of the set is taken (collect before timing another pass).
    pub fn is_full(&self) -> bool {
        self.used >= PASSES
    }

    /// Whether passes were timed since the last collection.
    pub fn has_pending(&self) -> bool {
        self.used > 0
    }

    /// The query set and the first of the two indices for the next pass.
    pub fn next_pass(&mut self) -> Option<(wgpu::QuerySet, u32)> {
        if self.is_full() {
            return None;
        }
        let first = 2 * self.used;
        self.used += 1;
        Some((self.set.clone(), first))
    }

    /// Records the resolution of the timed passes into the read-back buffer; the encoder must
    /// be submitted after the passes' own submissions.
    pub fn encode_resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.used == 0 {
            return;
        }
        encoder.resolve_query_set(&self.set, 0..2 * self.used, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(
            &self.resolve,
            0,
            &self.readback,
            0,
            u64::from(self.used) * BYTES_PER_PASS,
        );
    }

    /// Reads back the timestamps resolved by a submission that has completed, and returns the
    /// time the passes covered (overlapping passes counted once).
    pub fn collect(
        &mut self,
        device: &DeviceState,
        deadline: Instant,
    ) -> Result<Duration, GpuError> {
        if self.used == 0 {
            return Ok(Duration::ZERO);
        }
        let bytes = u64::from(self.used) * BYTES_PER_PASS;
        self.used = 0;
        let raw = device.read_mapped(
            &self.readback,
            bytes,
            deadline,
            "reading the GPU's timestamps",
        )?;
        let ticks = bytemuck::pod_collect_to_vec::<u8, u64>(&raw);
        Ok(pass_time(&ticks, self.period_ns))
    }
}

/// The time covered by the union of (begin, end) tick pairs. Passes with no dependency
/// between them (distinct outputs) run concurrently on a GPU, and a pass's beginning is
/// stamped before it waits for the work it depends on: their intervals overlap, and summing
/// them would count the same time more than once.
fn pass_time(ticks: &[u64], period_ns: f64) -> Duration {
    let mut intervals: Vec<(u64, u64)> = ticks
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [begin, end] if end > begin => Some((*begin, *end)),
            _ => None,
        })
        .collect();
    intervals.sort_unstable();
    let mut covered = 0u64;
    let mut current: Option<(u64, u64)> = None;
    for (begin, end) in intervals {
        current = match current {
            Some((b, e)) if begin <= e => Some((b, e.max(end))),
            Some((b, e)) => {
                covered += e - b;
                Some((begin, end))
            }
            None => Some((begin, end)),
        };
    }
    if let Some((b, e)) = current {
        covered += e - b;
    }
    Duration::from_nanos((covered as f64 * period_ns) as u64)
}

#[cfg(test)]
mod tests {
    use super::pass_time;
    use std::time::Duration;

    #[test]
    fn disjoint_pairs_add_up_in_nanoseconds_and_a_backwards_pair_counts_nothing() {
        let ticks = [100, 350, 1_000, 1_250, 9, 5];
        assert_eq!(pass_time(&ticks, 1.0), Duration::from_nanos(500));
        assert_eq!(pass_time(&ticks, 2.5), Duration::from_nanos(1_250));
    }

    #[test]
    fn overlapping_passes_count_once() {
        // Three passes queued together, the second and third overlapping the first; a fourth
        // later on its own.
        let ticks = [0, 400, 10, 600, 300, 500, 1_000, 1_100];
        assert_eq!(pass_time(&ticks, 1.0), Duration::from_nanos(700));
        // A pass inside another adds nothing.
        assert_eq!(
            pass_time(&[0, 1_000, 200, 300], 1.0),
            Duration::from_nanos(1_000)
        );
    }
}

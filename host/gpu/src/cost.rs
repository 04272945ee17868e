//! What a product kernel's dispatch will cost the device, before it reaches the driver.
//!
//! A GPU cannot stop a dispatch once it runs, and a driver may block a later submit until it
//! ends, so the host refuses work a run could not finish by its deadline instead of finding out
//! afterwards. Each device's speed is measured once, when a product kernel first needs it: a
//! trivial kernel over [`PROBE_INVOCATIONS`] invocations, timed twice (the faster counts). A
//! dispatch then costs at least `invocations / rate` seconds (each invocation does at least the
//! probe's work; a guarded loop only adds to it), and a run may have queued, not yet waited
//! for, at most [`BUDGET_SHARE`] of the time left before its deadline. Past that the dispatch is
//! refused with `limit`, naming the estimate and what is left.
//!
//! Built-in operations are priced by their element operations: at the probe's rate until the
//! run has timed one of [`TIMED_BUILTIN_WORK`] or more, then at the speed that one showed.
//! Such a large operation is waited for as soon as it is submitted, so a run has at most one
//! queued and a flood of them is refused before its deadline, not found stuck at it.

use std::time::Instant;

use crate::device::DeviceState;
use crate::error::GpuError;

/// Invocations of the speed probe.
const PROBE_INVOCATIONS: u32 = 64 * 4096;
/// The share of a run's remaining time its queued GPU work may take.
pub(crate) const BUDGET_SHARE: f64 = 0.5;
/// Element operations from which a built-in operation is waited for as soon as it is
/// submitted, and timed: the speed it shows (memory-bound work is slower than the probe)
/// prices the run's next built-ins. About 10 ms on lavapipe on two cores.
pub(crate) const TIMED_BUILTIN_WORK: u64 = 1 << 22;
/// The rate assumed when the probe cannot run: a slow CPU adapter's.
const FALLBACK_RATE: f64 = 1e8;

const PROBE: &str = r#"
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x == 0u) {
        out[0] = out[0] + 1u;
    }
}
"#;

/// Trivial invocations a second `device` runs, measured on first use.
pub(crate) fn invocation_rate(device: &DeviceState) -> f64 {
    *device.invocation_rate.get_or_init(|| match probe(device) {
        Ok(rate) => {
            tracing::info!(
                invocations_per_second = rate,
                "measured the GPU's speed for dispatch estimates"
            );
            rate
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the GPU's speed; assuming a slow one");
            FALLBACK_RATE
        }
    })
}

fn probe(device: &DeviceState) -> Result<f64, GpuError> {
    let module = naga::front::wgsl::parse_str(PROBE)
        .map_err(|e| GpuError::Gpu(format!("the speed probe does not parse: {e}")))?;
    let shader = device
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("speed probe"),
            source: wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(module)),
        });
    let pipeline = device
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("speed probe"),
            layout: None,
            module: &shader,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
    let out = device.upload("speed probe", &[0; 4], wgpu::BufferUsages::STORAGE)?;
    let group = device.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: out.as_entire_binding(),
        }],
    });
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let mut encoder = device
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(PROBE_INVOCATIONS / 64, 1, 1);
        }
        let began = Instant::now();
        let deadline = began + std::time::Duration::from_secs(10);
        let index = device.submit(encoder.finish(), deadline)?;
        device.wait(index, deadline)?;
        best = best.min(began.elapsed().as_secs_f64());
    }
    Ok(f64::from(PROBE_INVOCATIONS) / best.max(1e-6))
}

/// The least time, in seconds, `invocations` take on a device running `rate` a second.
pub(crate) fn seconds(invocations: u64, rate: f64) -> f64 {
    invocations as f64 / rate.max(1.0)
}

/// Refuses a dispatch whose estimate, on top of the run's queued work, does not fit in its
/// share of the time left.
pub(crate) fn admit(queued: f64, estimate: f64, deadline: Instant) -> Result<(), GpuError> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    if queued + estimate <= left * BUDGET_SHARE {
        return Ok(());
    }
    Err(GpuError::Limit(format!(
        "this dispatch would keep the GPU busy for at least {estimate:.2} s (with {queued:.2} s \
         already queued), and the run has {left:.2} s left; dispatch fewer workgroups at a \
         time, read results back between dispatches, or raise `resources.timeout`"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use super::{admit, seconds};

    #[test]
    fn work_that_fits_in_half_the_time_left_is_admitted() {
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(admit(0.0, seconds(1_000_000, 1e8), deadline).is_ok());
        assert!(admit(4.0, 0.5, deadline).is_ok());
        let refused = admit(4.0, 2.0, deadline).unwrap_err().to_string();
        assert!(refused.contains("at least 2.00 s"), "{refused}");
        // The largest legal dispatch on a CPU adapter: most of an hour of work.
        let flood = seconds(65_535 * 65_535 * 64, 1e8);
        assert!(flood > 1800.0, "{flood}");
        assert!(admit(0.0, flood, deadline).is_err());
    }
}

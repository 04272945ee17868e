//! Recording and submitting dispatches: pipelines compiled once per device (built-in kernels by
//! name, product kernels by hash), arguments checked against the kernel and the device's limits
//! before anything reaches the driver, and wgpu's own validation caught in error scopes so a
//! mistake is an error for the product, never a host crash.

use std::borrow::Cow;

use crate::buffer::Buffer;
use crate::device::DeviceState;
use crate::error::GpuError;
use crate::guard::GUARD_GROUP;
use crate::kernel::Kernel;
use crate::session::Session;

/// Runs `work` in a validation error scope; a captured error becomes `Invalid`.
fn scoped<T>(device: &DeviceState, what: &str, work: impl FnOnce() -> T) -> Result<T, GpuError> {
    let scope = device
        .device
        .push_error_scope(wgpu::ErrorFilter::Validation);
    let value = work();
    match pollster::block_on(scope.pop()) {
        None => Ok(value),
        Some(error) => Err(GpuError::Invalid(format!("{what}: {error}"))),
    }
}

/// The compiled pipeline of a product kernel (compiled on first use, then cached).
pub(crate) fn pipeline(
    device: &DeviceState,
    kernel: &Kernel,
) -> Result<wgpu::ComputePipeline, GpuError> {
    if let Some(p) = device.kernels.lock().get(&kernel.hash) {
        return Ok(p.clone());
    }
    let module = (*kernel.module).clone();
    let pipeline = scoped(
        device,
        "the kernel does not compile for this device",
        || {
            let shader = device
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&kernel.entry),
                    source: wgpu::ShaderSource::Naga(Cow::Owned(module)),
                });
            device
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&kernel.entry),
                    layout: None,
                    module: &shader,
                    entry_point: Some(&kernel.entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        },
    )?;
    device.kernels.lock().insert(kernel.hash, pipeline.clone());
    Ok(pipeline)
}

/// The compiled pipeline of a built-in kernel.
pub(crate) fn builtin_pipeline(
    device: &DeviceState,
    source: &'static str,
    entry: &'static str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    if let Some(p) = device.builtins.lock().get(entry) {
        return Ok(p.clone());
    }
    let pipeline = scoped(
        device,
        "a built-in kernel does not compile (a host fault)",
        || {
            // With wgpu's runtime checks, as product kernels: without them the built-ins ran
            // no faster on an H200 (docs/BENCHMARKS.md), so nothing here is `unsafe`.
            let shader = device
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(entry),
                    source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(source)),
                });
            device
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &shader,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        },
    )
    .map_err(|e| GpuError::Gpu(e.to_string()))?;
    device.builtins.lock().insert(entry, pipeline.clone());
    Ok(pipeline)
}

/// Checks the buffers against the kernel's bindings: count, value type, and no buffer bound
/// twice where one binding writes it.
pub(crate) fn check_bindings(kernel: &Kernel, bindings: &[&Buffer]) -> Result<(), GpuError> {
    let specs = kernel.bindings();
    if bindings.len() != specs.len() {
        return Err(GpuError::Invalid(format!(
            "kernel `{}` binds {} buffer{} ({}); {} were given",
            kernel.entry(),
            specs.len(),
            if specs.len() == 1 { "" } else { "s" },
            specs
                .iter()
                .map(|s| format!(
                    "@binding({}) {}{}",
                    s.binding,
                    s.element.name(),
                    if s.writable { " read_write" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join(", "),
            bindings.len()
        )));
    }
    for (spec, buffer) in specs.iter().zip(bindings) {
        if spec.element != buffer.element() {
            return Err(GpuError::Invalid(format!(
                "kernel `{}` @binding({}) holds {}, but the buffer given holds {}",
                kernel.entry(),
                spec.binding,
                spec.element.name(),
                buffer.element().name()
            )));
        }
        if buffer.device_buffer().is_none() {
            return Err(GpuError::Invalid(
                "the buffer is not on the GPU".to_string(),
            ));
        }
    }
    for (i, (spec, buffer)) in specs.iter().zip(bindings).enumerate() {
        for (other_spec, other) in specs.iter().zip(bindings).skip(i + 1) {
            if buffer.id == other.id && (spec.writable || other_spec.writable) {
                return Err(GpuError::Invalid(format!(
                    "the same buffer is bound at @binding({}) and @binding({}), and one of them is written; use two buffers",
                    spec.binding, other_spec.binding
                )));
            }
        }
    }
    Ok(())
}

/// Checks workgroup counts: at least one each, within the device's limit per dimension.
pub(crate) fn check_workgroups(
    device: &DeviceState,
    size: [u32; 3],
    workgroups: [u32; 3],
) -> Result<(), GpuError> {
    let max = device.limits.max_compute_workgroups_per_dimension;
    if workgroups.contains(&0) {
        return Err(GpuError::Invalid(format!(
            "workgroup counts must be at least 1 in each dimension; got {workgroups:?}"
        )));
    }
    if workgroups.iter().any(|&n| n > max) {
        return Err(GpuError::Invalid(format!(
            "workgroup counts {workgroups:?} exceed this device's limit of {max} per dimension"
        )));
    }
    let invocations = u64::from(size[0]) * u64::from(size[1]) * u64::from(size[2]);
    if invocations > u64::from(device.limits.max_compute_invocations_per_workgroup) {
        return Err(GpuError::Invalid(format!(
            "@workgroup_size{size:?} is {invocations} invocations, past this device's limit of {}",
            device.limits.max_compute_invocations_per_workgroup
        )));
    }
    Ok(())
}

/// Dispatches a product kernel; a kernel with guarded loops is waited for and its guard read.
pub(crate) fn run_kernel(
    session: &mut Session,
    device: &DeviceState,
    kernel: &Kernel,
    bindings: &[&Buffer],
    workgroups: [u32; 3],
) -> Result<(), GpuError> {
    let pipeline = pipeline(device, kernel)?;
    let buffers: Vec<&wgpu::Buffer> = bindings.iter().filter_map(|b| b.device_buffer()).collect();
    let guard = kernel.guarded.then(|| {
        device.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loop guard"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    });
    let timestamps = session.next_pass_timestamps()?;
    let commands = scoped(device, "the dispatch was refused", || {
        let mut groups = vec![bind_group(device, &pipeline, 0, &buffers)];
        if let Some(guard) = &guard {
            groups.push(bind_group(device, &pipeline, GUARD_GROUP, &[guard]));
        }
        encode(device, &pipeline, &groups, workgroups, timestamps)
    })?;
    let index = device.submit(commands, session.deadline())?;
    session.submitted(index)?;
    if let Some(guard) = &guard {
        let flag = session.read_words(device, guard, 4)?;
        if flag.first().copied().unwrap_or(0) != 0 {
            return Err(GpuError::Limit(format!(
                "kernel `{}` ran a loop past {} iterations in one invocation and was stopped; its outputs are incomplete (loops are bounded so a kernel that never ends cannot hold the GPU)",
                kernel.entry(),
                kernel.max_loop_iterations
            )));
        }
    }
    Ok(())
}

/// Dispatches a built-in kernel with `params` (32-bit words, in a uniform at binding 0) and
/// `buffers` (whole buffers or ranges of them) at bindings 1, 2, ...; the session waits for it
/// later.
pub(crate) fn run_builtin(
    session: &mut Session,
    device: &DeviceState,
    (source, entry): (&'static str, &'static str),
    params: &[u32],
    buffers: &[wgpu::BufferBinding<'_>],
    workgroups: [u32; 3],
) -> Result<(), GpuError> {
    check_workgroups(device, [1, 1, 1], workgroups)?;
    let pipeline = builtin_pipeline(device, source, entry)?;
    let mut words = params.to_vec();
    words.resize(words.len().div_ceil(4).max(1) * 4, 0);
    let uniform = device.upload(
        "params",
        bytemuck::cast_slice(&words),
        wgpu::BufferUsages::UNIFORM,
    )?;
    let timestamps = session.next_pass_timestamps()?;
    let commands = scoped(device, "a built-in dispatch was refused", || {
        let layout = pipeline.get_bind_group_layout(0);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (i, buffer) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(buffer.clone()),
            });
        }
        let group = device.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &layout,
            entries: &entries,
        });
        encode(device, &pipeline, &[group], workgroups, timestamps)
    })
    .map_err(|e| GpuError::Gpu(e.to_string()))?;
    let index = device.submit(commands, session.deadline())?;
    session.submitted(index)?;
    Ok(())
}

fn bind_group(
    device: &DeviceState,
    pipeline: &wgpu::ComputePipeline,
    group: u32,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let layout = pipeline.get_bind_group_layout(group);
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, buffer)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    device.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &layout,
        entries: &entries,
    })
}

/// Records one compute pass, with timestamps at its beginning and end where `timestamps` gives
/// a query set and the first of two indices.
fn encode(
    device: &DeviceState,
    pipeline: &wgpu::ComputePipeline,
    groups: &[wgpu::BindGroup],
    workgroups: [u32; 3],
    timestamps: Option<(wgpu::QuerySet, u32)>,
) -> wgpu::CommandBuffer {
    let mut encoder = device
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    {
        let timestamp_writes =
            timestamps
                .as_ref()
                .map(|(set, first)| wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(*first),
                    end_of_pass_write_index: Some(first + 1),
                });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes,
        });
        pass.set_pipeline(pipeline);
        for (index, group) in groups.iter().enumerate() {
            let index = if index == 0 { 0 } else { GUARD_GROUP };
            pass.set_bind_group(index, group, &[]);
        }
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
    encoder.finish()
}

//! One run's use of the GPU: its buffers within the memory it declared, its kernels, its
//! dispatches (queued; waited for at reads, after guarded kernels and at the end, within the
//! run's deadline), and the GPU time it took. On the CPU path (a product that declared `gpu = "optional"` on a host without a GPU)
//! buffers live in host memory and the built-in operations run their CPU reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::{Buffer, Data, Element, Storage};
use crate::device::{DeviceState, GpuHost};
use crate::error::GpuError;
use crate::kernel::{self, Kernel};
use crate::timer::PassTimer;

/// Which implementation a run's GPU calls used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputePath {
    /// The host's GPU, through wgpu.
    Gpu,
    /// The CPU reference of the built-in operations (no GPU on this host).
    Cpu,
}

impl ComputePath {
    /// `gpu` or `cpu`.
    pub fn name(self) -> &'static str {
        match self {
            ComputePath::Gpu => "gpu",
            ComputePath::Cpu => "cpu",
        }
    }
}

/// The per-run limits of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Bytes of live buffers allowed (`resources.gpu_memory`).
    pub memory: u64,
    /// When the run must end: GPU waits give up then.
    pub deadline: Instant,
    /// Loop iterations one invocation of a product kernel may run.
    pub max_loop_iterations: u32,
}

/// One run's GPU session.
pub struct Session {
    device: Option<Arc<DeviceState>>,
    host: GpuHost,
    limits: SessionLimits,
    live: u64,
    peak: u64,
    gpu_time: Duration,
    dispatches: u64,
    /// The latest submission not waited for yet, and when the first such was submitted.
    pending: Option<(wgpu::SubmissionIndex, Instant)>,
    /// Timestamps around each compute pass, where the device has them.
    timer: Option<PassTimer>,
    /// Estimated seconds of product kernels and built-in operations submitted and not yet
    /// waited for.
    queued_estimate: f64,
    /// Seconds per unit of work of this session's last large built-in operation of each
    /// kernel, as measured (see [`Session::admit_builtin`]).
    builtin_speed: std::collections::HashMap<&'static str, f64>,
}

/// Largest buffer on the CPU path: 4 GiB of values (a u32 count).
const HOST_MAX_VALUES: u64 = u32::MAX as u64;

impl Session {
    /// A session on the host's GPU, or on the CPU path when `cpu_fallback` and the host has
    /// none. Without a GPU and without the fallback, the error says why there is none.
    pub fn open(
        host: &GpuHost,
        limits: SessionLimits,
        cpu_fallback: bool,
    ) -> Result<Session, GpuError> {
        let device = match host.device() {
            Ok(device) => Some(device),
            Err(_) if cpu_fallback && host.adapter().is_none() => None,
            Err(e) => return Err(e),
        };
        let timer = device.as_deref().and_then(PassTimer::new);
        Ok(Session {
            device,
            timer,
            host: host.clone(),
            limits,
            live: 0,
            peak: 0,
            gpu_time: Duration::ZERO,
            dispatches: 0,
            pending: None,
            queued_estimate: 0.0,
            builtin_speed: std::collections::HashMap::new(),
        })
    }

    /// When the run must end.
    pub(crate) fn deadline(&self) -> Instant {
        self.limits.deadline
    }

    /// Which implementation this session uses.
    pub fn path(&self) -> ComputePath {
        if self.device.is_some() {
            ComputePath::Gpu
        } else {
            ComputePath::Cpu
        }
    }

    /// The host's GPU (the adapter), when this session uses it.
    pub fn host(&self) -> &GpuHost {
        &self.host
    }

    /// Time the GPU spent on this session's work. Where the device has timestamp queries, the
    /// summed duration of the session's compute passes; otherwise the wall time from the first
    /// submission not yet waited for to the completion of the last, at each point the session
    /// waits (a read, a guarded kernel, [`Session::finish`]).
    pub fn gpu_time(&self) -> Duration {
        self.gpu_time
    }

    /// Whether [`Session::gpu_time`] comes from timestamp queries (else from wall time).
    pub fn gpu_time_from_timestamps(&self) -> bool {
        self.timer.is_some()
    }

    /// The query set and first index for the next compute pass's timestamps, waiting for the
    /// work queued so far when the set is full.
    pub(crate) fn next_pass_timestamps(
        &mut self,
    ) -> Result<Option<(wgpu::QuerySet, u32)>, GpuError> {
        if self.timer.as_ref().is_some_and(PassTimer::is_full) {
            self.finish()?;
        }
        Ok(self.timer.as_mut().and_then(PassTimer::next_pass))
    }

    /// After `index` completed: adds the time the work waited for took, from the timestamps
    /// it resolved or else from the wall clock since `since`.
    fn count_time(&mut self, device: &DeviceState, since: Instant) -> Result<(), GpuError> {
        match &mut self.timer {
            Some(timer) => self.gpu_time += timer.collect(device, self.limits.deadline)?,
            None => self.gpu_time += since.elapsed(),
        }
        Ok(())
    }

    /// Dispatches run (built-in operations and kernels).
    pub fn dispatches(&self) -> u64 {
        self.dispatches
    }

    /// The most bytes of buffers live at once.
    pub fn peak_memory(&self) -> u64 {
        self.peak
    }

    /// Bytes of buffers live now.
    pub fn live_memory(&self) -> u64 {
        self.live
    }

    pub(crate) fn device(&self) -> Option<&Arc<DeviceState>> {
        self.device.as_ref()
    }

    /// Reserves `values` 32-bit values against the memory limit and the device's largest buffer.
    fn reserve(&mut self, values: u64) -> Result<u32, GpuError> {
        let bytes = self.room_for(values)?;
        self.live += bytes;
        self.peak = self.peak.max(self.live);
        u32::try_from(values)
            .map_err(|_| GpuError::Limit(format!("{values} values is too many for one buffer")))
    }

    /// Checks that a buffer of `values` 32-bit values would fit (the memory limit, the device's
    /// largest buffer) without taking the room; its size in bytes. The CPU path asks before it
    /// computes an output, so an output sized by the product never takes host memory past the
    /// product's `resources.gpu_memory`.
    pub(crate) fn room_for(&self, values: u64) -> Result<u64, GpuError> {
        if values == 0 {
            return Err(GpuError::Invalid(
                "a buffer holds at least one value".into(),
            ));
        }
        let Some(bytes) = values.checked_mul(4) else {
            return Err(GpuError::Limit(format!(
                "a buffer of {values} values is larger than any device allows"
            )));
        };
        let largest = match &self.device {
            Some(device) => device
                .limits
                .max_buffer_size
                .min(device.limits.max_storage_buffer_binding_size),
            None => HOST_MAX_VALUES * 4,
        };
        if bytes > largest {
            return Err(GpuError::Limit(format!(
                "a buffer of {values} values ({bytes} bytes) is larger than the largest this device allows ({largest} bytes)"
            )));
        }
        if self.live.saturating_add(bytes) > self.limits.memory {
            return Err(GpuError::Limit(format!(
                "a buffer of {bytes} bytes would take the run's live GPU buffers to {} bytes, past `resources.gpu_memory` ({} bytes); drop buffers you no longer need or raise the limit",
                self.live.saturating_add(bytes),
                self.limits.memory
            )));
        }
        Ok(bytes)
    }

    /// Gives a buffer's memory back (when the product drops it).
    pub fn release(&mut self, buffer: &Buffer) {
        // The device memory itself is freed when the buffer is dropped and no submitted work
        // uses it any more.
        self.live = self.live.saturating_sub(buffer.bytes());
    }

    /// Records a submission; the session waits for it later (or now, with `wait_each`).
    pub(crate) fn submitted(&mut self, index: wgpu::SubmissionIndex) -> Result<(), GpuError> {
        let since = self
            .pending
            .take()
            .map_or_else(Instant::now, |(_, since)| since);
        self.pending = Some((index, since));
        self.dispatches += 1;
        if self.host.config().wait_each {
            self.finish()?;
        }
        Ok(())
    }

    /// Waits for everything submitted so far (within the run's deadline) and counts the time.
    pub fn finish(&mut self) -> Result<(), GpuError> {
        let (Some((mut index, since)), Some(device)) = (self.pending.take(), self.device.clone())
        else {
            return Ok(());
        };
        if let Some(timer) = self.timer.as_ref().filter(|t| t.has_pending()) {
            let mut encoder = device
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            timer.encode_resolve(&mut encoder);
            index = device.submit(encoder.finish(), self.limits.deadline)?;
        }
        device.wait(index, self.limits.deadline)?;
        self.queued_estimate = 0.0;
        self.count_time(&device, since)
    }

    /// A buffer holding a copy of `data`.
    pub fn create(&mut self, data: &Data) -> Result<Buffer, GpuError> {
        let len = self.reserve(data.len() as u64)?;
        let storage = match &self.device {
            Some(device) => {
                Storage::Device(device.upload("product buffer", data.bytes(), buffer_usage())?)
            }
            None => Storage::Host(data.words()),
        };
        Ok(Buffer::new(data.element(), len, storage))
    }

    /// A buffer of `len` zeros.
    pub fn zeroed(&mut self, element: Element, len: u64) -> Result<Buffer, GpuError> {
        let len = self.reserve(len)?;
        let storage = match &self.device {
            Some(device) => Storage::Device(device.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("product buffer"),
                size: u64::from(len) * 4,
                usage: buffer_usage(),
                mapped_at_creation: false,
            })),
            None => Storage::Host(vec![0; len as usize]),
        };
        Ok(Buffer::new(element, len, storage))
    }

    /// Overwrites values of `buffer` from `offset` (in values) with `data`.
    pub fn write(&mut self, buffer: &mut Buffer, offset: u32, data: &Data) -> Result<(), GpuError> {
        if data.element() != buffer.element {
            return Err(GpuError::Invalid(format!(
                "cannot write {} values into a buffer of {}",
                data.element().name(),
                buffer.element.name()
            )));
        }
        let end = u64::from(offset) + data.len() as u64;
        if end > u64::from(buffer.len) {
            return Err(GpuError::Invalid(format!(
                "writing {} values at offset {offset} runs past the buffer's {} values",
                data.len(),
                buffer.len
            )));
        }
        match &mut buffer.storage {
            Storage::Device(b) => {
                let Some(device) = &self.device else {
                    return Err(GpuError::Gpu("the buffer's device is gone".into()));
                };
                // A retired device may be stuck in a submit that holds the queue's lock.
                if device.retired.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(GpuError::Gpu(
                        "the GPU device this run was using was retired; the next run gets a \
                         fresh one"
                            .into(),
                    ));
                }
                device
                    .queue
                    .write_buffer(b, u64::from(offset) * 4, data.bytes());
            }
            Storage::Host(words) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let target = start
                    .checked_add(data.len())
                    .and_then(|end| words.get_mut(start..end))
                    .ok_or_else(|| {
                        GpuError::Invalid(format!(
                            "writing {} values at offset {offset} passes the buffer's end",
                            data.len()
                        ))
                    })?;
                target.copy_from_slice(&data.words());
            }
        }
        Ok(())
    }

    /// Copies a buffer's values back.
    pub fn read(&mut self, buffer: &Buffer) -> Result<Data, GpuError> {
        match &buffer.storage {
            Storage::Host(words) => Ok(Data::from_words(buffer.element, words)),
            Storage::Device(source) => {
                let Some(device) = self.device.clone() else {
                    return Err(GpuError::Gpu("the buffer's device is gone".into()));
                };
                let words = self.read_words(&device, source, buffer.bytes())?;
                Ok(Data::from_words(buffer.element, &words))
            }
        }
    }

    /// Copies `bytes` of a device buffer into a mappable one, waits, and returns the words.
    pub(crate) fn read_words(
        &mut self,
        device: &DeviceState,
        source: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u32>, GpuError> {
        let staging = device.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
        if let Some(timer) = &self.timer {
            timer.encode_resolve(&mut encoder);
        }
        let index = device.submit(encoder.finish(), self.limits.deadline)?;
        let since = self
            .pending
            .take()
            .map_or_else(Instant::now, |(_, since)| since);
        device.wait(index, self.limits.deadline)?;
        self.queued_estimate = 0.0;
        self.count_time(device, since)?;
        let raw = device.read_mapped(
            &staging,
            bytes,
            self.limits.deadline,
            "reading a buffer back",
        )?;
        let words = bytemuck::pod_collect_to_vec::<u8, u32>(&raw);
        Ok(words)
    }

    /// Validates a product kernel and, on a GPU, compiles it (once per host for the same source).
    pub fn compile(&mut self, source: &str, entry: &str) -> Result<Kernel, GpuError> {
        let kernel = kernel::compile(source, entry, self.limits.max_loop_iterations)?;
        if let Some(device) = &self.device {
            crate::dispatch::pipeline(device, &kernel)?;
        }
        Ok(kernel)
    }

    /// Runs `kernel` over `workgroups` with `bindings` in binding order.
    pub fn dispatch(
        &mut self,
        kernel: &Kernel,
        bindings: &[&Buffer],
        workgroups: [u32; 3],
    ) -> Result<(), GpuError> {
        let Some(device) = self.device.clone() else {
            return Err(GpuError::Gpu(
                "product kernels need a GPU and this host has none; the built-in operations run on the CPU instead".into(),
            ));
        };
        crate::dispatch::check_bindings(kernel, bindings)?;
        crate::dispatch::check_workgroups(&device, kernel.workgroup_size, workgroups)?;
        let invocations = [kernel.workgroup_size, workgroups]
            .iter()
            .flatten()
            .map(|&n| u64::from(n))
            .product::<u64>();
        let estimate = crate::cost::seconds(invocations, crate::cost::invocation_rate(&device));
        self.admit(estimate)?;
        crate::dispatch::run_kernel(self, &device, kernel, bindings, workgroups)
    }

    /// Queues `estimate` seconds of device work, or refuses it (see [`crate::cost::admit`]).
    fn admit(&mut self, estimate: f64) -> Result<(), GpuError> {
        crate::cost::admit(self.queued_estimate, estimate, self.limits.deadline)?;
        self.queued_estimate += estimate;
        Ok(())
    }

    /// Admits a built-in operation of `work` element operations (see [`crate::cost`]): its
    /// estimate is the session's measured speed for large built-ins where it has one, else the
    /// device's probed rate (a lower bound: memory-bound operations are slower than the
    /// probe). Returns whether the operation is large enough to be waited for and timed.
    pub(crate) fn admit_builtin(
        &mut self,
        device: &crate::device::DeviceState,
        kernel: &'static str,
        work: u64,
    ) -> Result<bool, GpuError> {
        let estimate = match self.builtin_speed.get(kernel) {
            Some(per_work) => work as f64 * per_work,
            None => crate::cost::seconds(work, crate::cost::invocation_rate(device)),
        };
        self.admit(estimate)?;
        Ok(work >= crate::cost::TIMED_BUILTIN_WORK)
    }

    /// Waits for a large built-in operation of `kernel` submitted at `since` and keeps its
    /// measured speed for the next estimates: so at most one large operation is queued at a
    /// time, and the next is refused when the time left cannot hold it.
    pub(crate) fn time_builtin(
        &mut self,
        kernel: &'static str,
        since: Instant,
        work: u64,
    ) -> Result<(), GpuError> {
        self.finish()?;
        self.builtin_speed
            .insert(kernel, since.elapsed().as_secs_f64() / work.max(1) as f64);
        Ok(())
    }

    /// A new buffer on the session's device for a built-in op's result.
    pub(crate) fn output(&mut self, element: Element, len: u64) -> Result<Buffer, GpuError> {
        self.zeroed(element, len)
    }
}

fn buffer_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

//! The host's one GPU: finding an adapter, opening a device on it, taking turns on its queue
//! (first come first served, across concurrent runs, through one submission thread per device),
//! submitting and waiting with a deadline, and opening a fresh device when the old one is lost,
//! stuck in a submit, or still busy past a run's deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::GpuError;

/// Devices kept after being retired (each may hold work stuck in the driver); past this many
/// the host lends no GPU until it restarts.
const MAX_RETIRED_DEVICES: usize = 4;

/// Mesa's lavapipe stops any loop after this many iterations.
const LAVAPIPE_LOOP_CAP: u32 = 65_535;

/// What the host's adapter is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// The adapter's name, e.g. `NVIDIA H100 80GB HBM3` or `llvmpipe (LLVM 19.1.7, 256 bits)`.
    pub name: String,
    /// The graphics API wgpu drives it through (`vulkan`).
    pub backend: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub device_type: String,
    /// The driver and its version.
    pub driver: String,
    /// The largest buffer the device allows, in bytes.
    pub max_buffer_bytes: u64,
    /// The most workgroups per dimension of one dispatch.
    pub max_workgroups_per_dimension: u32,
    /// The most invocations in one workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Whether the host times compute passes with timestamp queries on this adapter (then a
    /// run's GPU time is its kernels' own, not wall time); see [`GpuConfig::pass_timestamps`].
    pub timestamp_queries: bool,
}

/// An open device and its queue, with the pipelines compiled on it.
pub(crate) struct DeviceState {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    /// Built-in pipelines by kernel name, compiled on first use.
    pub builtins: Mutex<HashMap<&'static str, wgpu::ComputePipeline>>,
    /// Product kernels by content hash.
    pub kernels: Mutex<HashMap<u128, wgpu::ComputePipeline>>,
    /// Whether compute passes can write timestamps (then GPU time is the kernels' own).
    pub timestamps: bool,
    /// Set when the device is lost or a submission outlived a deadline: open a new one.
    pub retired: Arc<AtomicBool>,
    /// The device's submission thread: submissions in arrival order, one at a time.
    submissions: std::sync::mpsc::Sender<Submission>,
    /// Trivial invocations a second, measured when a product kernel first needs it.
    pub invocation_rate: std::sync::OnceLock<f64>,
}

/// Commands for the queue, and where to say which submission they became.
struct Submission {
    commands: wgpu::CommandBuffer,
    submitted: std::sync::mpsc::SyncSender<wgpu::SubmissionIndex>,
}

/// Starts the thread that hands `queue` its submissions. A driver may block inside a submit
/// (lavapipe does, when its queue is full of work that will take hours): that blocks this
/// thread, never a run's, and no lock is held while it does.
fn submission_thread(queue: wgpu::Queue) -> Result<std::sync::mpsc::Sender<Submission>, GpuError> {
    let (sender, receiver) = std::sync::mpsc::channel::<Submission>();
    std::thread::Builder::new()
        .name("tessera-gpu-submit".into())
        .spawn(move || {
            // Ends when the device state (the only sender) is dropped.
            while let Ok(Submission {
                commands,
                submitted,
            }) = receiver.recv()
            {
                let index = queue.submit([commands]);
                let _ = submitted.send(index);
            }
        })
        .map_err(|e| GpuError::Gpu(format!("cannot start the GPU submission thread: {e}")))?;
    Ok(sender)
}

impl DeviceState {
    /// Submits `commands` in its turn (one submission at a time, in arrival order), waiting
    /// for the queue to take them at most until `deadline`. A queue that does not take them by
    /// then is stuck in the driver: the device is retired (later runs get a fresh one) and the
    /// run fails as timed out, its thread and its run slot free again.
    pub fn submit(
        &self,
        commands: wgpu::CommandBuffer,
        deadline: Instant,
    ) -> Result<wgpu::SubmissionIndex, GpuError> {
        if deadline <= Instant::now() {
            // The run's own time is up; nothing says the device is stuck.
            return Err(GpuError::Timeout(
                "the run's deadline passed before its GPU work was submitted".into(),
            ));
        }
        if self.retired.load(Ordering::Relaxed) {
            return Err(GpuError::Gpu(
                "the GPU device this run was using was retired (lost, or stuck past a \
                 deadline); the next run gets a fresh one"
                    .into(),
            ));
        }
        let (submitted, taken) = std::sync::mpsc::sync_channel(1);
        self.submissions
            .send(Submission {
                commands,
                submitted,
            })
            .map_err(|_| {
                self.retired.store(true, Ordering::Relaxed);
                GpuError::Gpu("the GPU's submission thread has stopped".into())
            })?;
        let began = Instant::now();
        match taken.recv_timeout(deadline.saturating_duration_since(began)) {
            Ok(index) => Ok(index),
            Err(_) => {
                self.retired.store(true, Ordering::Relaxed);
                Err(GpuError::Timeout(format!(
                    "the GPU's queue did not take the run's work before its deadline ({:.1} s \
                     waited; earlier work is stuck in the driver); the device is replaced for \
                     later runs",
                    began.elapsed().as_secs_f64()
                )))
            }
        }
    }

    /// A buffer holding `contents` (a whole number of 32-bit words). Unlike wgpu's
    /// `create_buffer_init`, a device that is lost or out of memory is an error here, not a
    /// panic.
    pub fn upload(
        &self,
        label: &'static str,
        contents: &[u8],
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = (contents.len() as u64).max(4);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: true,
        });
        {
            let mut view = buffer.slice(..).get_mapped_range_mut().map_err(|e| {
                GpuError::Gpu(format!(
                    "the GPU could not take a buffer of {size} bytes: {e}"
                ))
            })?;
            view.slice(..contents.len()).copy_from_slice(contents);
        }
        buffer.unmap();
        Ok(buffer)
    }

    /// Maps the first `bytes` of `buffer` (MAP_READ, its copies already submitted) and returns
    /// them, waiting at most until `deadline`; `what` names the read in errors.
    pub fn read_mapped(
        &self,
        buffer: &wgpu::Buffer,
        bytes: u64,
        deadline: Instant,
        what: &str,
    ) -> Result<Vec<u8>, GpuError> {
        let slice = buffer.slice(..bytes);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        let remaining = deadline.saturating_duration_since(Instant::now());
        let failed = |e: &dyn std::fmt::Display| GpuError::Gpu(format!("{what} failed: {e}"));
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(remaining),
            })
            .map_err(|e| failed(&e))?;
        match receiver.recv_timeout(remaining) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(&e)),
            Err(_) => {
                return Err(GpuError::Timeout(format!(
                    "the run's deadline passed while {what}"
                )));
            }
        }
        let data = slice.get_mapped_range().map_err(|e| failed(&e))?.to_vec();
        buffer.unmap();
        Ok(data)
    }

    /// Waits until `index` (and everything submitted before it) is done, at most until
    /// `deadline`.
    pub fn wait(&self, index: wgpu::SubmissionIndex, deadline: Instant) -> Result<(), GpuError> {
        let began = Instant::now();
        let timeout = deadline.saturating_duration_since(began);
        if timeout.is_zero() {
            // The run's own time is up before waiting; the device is not to blame.
            return Err(GpuError::Timeout(
                "the run's deadline passed before its GPU work was waited for".into(),
            ));
        }
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(timeout),
        }) {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => {
                // The device may stay busy with this work: later runs get a fresh device.
                self.retired.store(true, Ordering::Relaxed);
                Err(GpuError::Timeout(format!(
                    "the GPU was still working when the run's deadline passed ({:.1} s waited)",
                    began.elapsed().as_secs_f64()
                )))
            }
            Err(e) => {
                self.retired.store(true, Ordering::Relaxed);
                Err(GpuError::Gpu(format!("the GPU failed: {e}")))
            }
        }
    }
}

/// How the host looks for a GPU.
#[derive(Debug, Clone)]
pub struct GpuConfig {
    /// Do not look for an adapter: every product gets the CPU path (or, if it requires a GPU,
    /// fails).
    pub disabled: bool,
    /// Prefer the adapter whose name contains this text.
    pub adapter: Option<String>,
    /// Loop iterations one invocation of one function of a product kernel may run before the
    /// host stops it (see [`crate::Kernel`]).
    pub max_loop_iterations: u32,
    /// Wait for every operation as it is submitted instead of at the next read (slower; GPU
    /// time is then per operation).
    pub wait_each: bool,
    /// Time compute passes with timestamp queries where the adapter has them. `None` (the
    /// default) uses them on GPUs but not on CPU implementations such as lavapipe, where each
    /// timestamp stalls the queue (docs/BENCHMARKS.md) and wall time measures the same work.
    pub pass_timestamps: Option<bool>,
}

impl Default for GpuConfig {
    fn default() -> Self {
        GpuConfig {
            disabled: false,
            adapter: None,
            max_loop_iterations: 1 << 24,
            wait_each: false,
            pass_timestamps: None,
        }
    }
}

/// The host's GPU, shared by every run: an adapter (looked for on first use) and the device
/// open on it. Cheap to clone.
#[derive(Clone)]
pub struct GpuHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    config: GpuConfig,
    found: std::sync::OnceLock<Found>,
    device: Mutex<Option<Arc<DeviceState>>>,
    /// Devices replaced while work on them may still be stuck in the driver. They are kept,
    /// never dropped: dropping a device waits for its queue, which may never drain, and the
    /// thread that dropped it (a run's, say) would wait with it.
    retired: Mutex<Vec<Arc<DeviceState>>>,
}

/// What looking for an adapter found.
struct Found {
    adapter: Option<wgpu::Adapter>,
    info: Option<AdapterInfo>,
    /// Why no adapter is in use, for messages.
    absence: String,
}

impl GpuHost {
    /// A host GPU that looks for an adapter (Vulkan) the first time it is needed: a discrete
    /// GPU first, then integrated, virtual, and a CPU implementation such as lavapipe last.
    /// Finding none is not an error: products that declared `gpu = "optional"` run the
    /// built-in operations on the CPU.
    pub fn new(config: &GpuConfig) -> GpuHost {
        GpuHost {
            inner: Arc::new(HostInner {
                config: config.clone(),
                found: std::sync::OnceLock::new(),
                device: Mutex::new(None),
                retired: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A host with no GPU, saying why.
    pub fn without(reason: &str) -> GpuHost {
        let host = GpuHost::new(&GpuConfig::default());
        let _ = host.inner.found.set(Found {
            adapter: None,
            info: None,
            absence: reason.to_string(),
        });
        host
    }

    fn found(&self) -> &Found {
        self.inner.found.get_or_init(|| find(&self.inner.config))
    }

    /// Whether the host has looked for an adapter yet (it does when a run first needs one).
    pub fn searched(&self) -> bool {
        self.inner.found.get().is_some()
    }

    /// The adapter in use, if any (looked for on the first call).
    pub fn adapter(&self) -> Option<&AdapterInfo> {
        self.found().info.as_ref()
    }

    /// Why there is no adapter (empty when there is one).
    pub fn absence(&self) -> &str {
        &self.found().absence
    }

    /// Devices retired so far (lost, or stuck past a run's deadline) and kept, each possibly
    /// still holding work in the driver.
    pub fn retired_devices(&self) -> usize {
        self.inner.retired.lock().len()
    }

    /// How the host was configured.
    pub fn config(&self) -> &GpuConfig {
        &self.inner.config
    }

    /// Loop iterations one invocation of a product kernel's function may run. On a CPU
    /// adapter (lavapipe) it stays below the driver's own cap of 65,535 iterations per loop,
    /// which would otherwise cut a loop short without anyone knowing.
    pub fn max_loop_iterations(&self) -> u32 {
        let configured = self.inner.config.max_loop_iterations;
        match self.adapter() {
            Some(a) if a.device_type == "cpu" => configured.min(LAVAPIPE_LOOP_CAP - 1),
            _ => configured,
        }
    }

    /// The open device, opening one if there is none yet or the last one was retired.
    pub(crate) fn device(&self) -> Result<Arc<DeviceState>, GpuError> {
        let found = self.found();
        let Some(adapter) = &found.adapter else {
            return Err(GpuError::Gpu(format!(
                "this host has no GPU: {}",
                found.absence
            )));
        };
        let mut slot = self.inner.device.lock();
        if let Some(device) = slot.as_ref()
            && !device.retired.load(Ordering::Relaxed)
        {
            return Ok(device.clone());
        }
        if let Some(old) = slot.take() {
            tracing::warn!(
                "opening a fresh GPU device: the last one was lost or stayed busy past a deadline"
            );
            self.inner.retired.lock().push(old);
        }
        let stuck = self.inner.retired.lock().len();
        if stuck >= MAX_RETIRED_DEVICES {
            return Err(GpuError::Gpu(format!(
                "the GPU is unavailable: {stuck} devices were retired after work stayed stuck on \
                 them; restart the host to reset the GPU"
            )));
        }
        let limits = adapter.limits();
        let timestamps = found.info.as_ref().is_some_and(|i| i.timestamp_queries);
        let features = if timestamps {
            wgpu::Features::TIMESTAMP_QUERY
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tessera"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Gpu(format!("the GPU device could not be opened: {e}")))?;
        let retired = Arc::new(AtomicBool::new(false));
        {
            let retired = retired.clone();
            device.set_device_lost_callback(move |reason, message| {
                tracing::error!(?reason, %message, "the GPU device was lost");
                retired.store(true, Ordering::Relaxed);
            });
        }
        // Errors are caught with error scopes where they can happen; anything else is logged
        // rather than taking the host down.
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            tracing::error!(%error, "uncaptured GPU error");
        }));
        let submissions = submission_thread(queue.clone())?;
        let state = Arc::new(DeviceState {
            device,
            queue,
            limits,
            timestamps,
            builtins: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
            retired,
            submissions,
            invocation_rate: std::sync::OnceLock::new(),
        });
        // The device's speed, for dispatch estimates, while its queue is still empty.
        crate::cost::invocation_rate(&state);
        *slot = Some(state.clone());
        Ok(state)
    }
}

/// Looks for the best Vulkan adapter.
fn find(config: &GpuConfig) -> Found {
    let none = |absence: &str| Found {
        adapter: None,
        info: None,
        absence: absence.to_string(),
    };
    if config.disabled {
        return none("the GPU is disabled in this host's configuration");
    }
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(descriptor);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
    let rank = |a: &wgpu::Adapter| {
        let info = a.get_info();
        let preferred = config
            .adapter
            .as_ref()
            .is_some_and(|want| info.name.to_lowercase().contains(&want.to_lowercase()));
        let kind = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        (!preferred, kind)
    };
    let Some(adapter) = adapters.into_iter().min_by_key(rank) else {
        return none(
            "no Vulkan adapter was found (install a GPU driver, or Mesa's lavapipe: apt-get install mesa-vulkan-drivers)",
        );
    };
    let info = adapter.get_info();
    let limits = adapter.limits();
    let info = AdapterInfo {
        name: info.name.clone(),
        backend: info.backend.to_string(),
        device_type: match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete",
            wgpu::DeviceType::IntegratedGpu => "integrated",
            wgpu::DeviceType::VirtualGpu => "virtual",
            wgpu::DeviceType::Cpu => "cpu",
            wgpu::DeviceType::Other => "other",
        }
        .to_string(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_buffer_bytes: limits
            .max_buffer_size
            .min(limits.max_storage_buffer_binding_size),
        max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        timestamp_queries: adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY)
            && config
                .pass_timestamps
                .unwrap_or(info.device_type != wgpu::DeviceType::Cpu),
    };
    tracing::info!(adapter = %info.name, kind = %info.device_type, driver = %info.driver, "GPU adapter");
    Found {
        adapter: Some(adapter),
        info: Some(info),
        absence: String::new(),
    }
}

//! `tessera:product/gpu`: the host's GPU lent to a run, as the manifest allows.
//!
//! `resources.gpu = "none"` gets `denied` from every call. Otherwise the run's
//! [`tessera_gpu::Session`] opens on the first call: on the host's GPU, or (for `optional` on
//! a host without one) on the CPU path. Live buffers are held to `resources.gpu_memory`, every
//! wait to the run's deadline; a GPU still busy at the deadline traps the run as timed out.

use std::time::Instant;

use tessera_core::manifest::GpuMode;
use tessera_gpu::ops::{BinaryOp, Reduction, UnaryOp};
use tessera_gpu::{
    Buffer, ComputePath, Data, Element, GpuError, GpuHost, Kernel, Session, SessionLimits,
};
use wasmtime::component::Resource;

use crate::bindings::Error;
use crate::bindings::tessera::product::gpu as wit;
use crate::outcome::GpuUsage;
use crate::state::RunState;

/// What a run may do with the GPU, and its session once opened.
pub(crate) struct GpuSlot {
    mode: GpuMode,
    host: GpuHost,
    /// The memory and deadline of the run's session; its loop bound, which depends on the
    /// adapter, is set when the session opens (a product that never uses the GPU never makes
    /// the host look for one).
    memory: u64,
    deadline: Instant,
    session: Option<Session>,
    /// Set when a GPU wait outlived the run's deadline; the run then fails as timed out.
    pub timeout: Option<String>,
}

impl GpuSlot {
    pub fn new(mode: GpuMode, host: GpuHost, memory: u64, deadline: Instant) -> GpuSlot {
        GpuSlot {
            mode,
            host,
            memory,
            deadline,
            session: None,
            timeout: None,
        }
    }

    /// The session, opened on first use.
    fn session(&mut self) -> Result<&mut Session, GpuError> {
        if self.mode == GpuMode::None {
            return Err(GpuError::Denied(
                "this product did not declare a GPU; set `resources.gpu = \"optional\"` or `\"required\"` in product.toml".into(),
            ));
        }
        if self.session.is_none() {
            let fallback = self.mode == GpuMode::Optional;
            let limits = SessionLimits {
                memory: self.memory,
                deadline: self.deadline,
                max_loop_iterations: self.host.max_loop_iterations(),
            };
            self.session = Some(Session::open(&self.host, limits, fallback)?);
        }
        self.session
            .as_mut()
            .ok_or_else(|| GpuError::Gpu("the GPU session could not be opened".into()))
    }

    /// Waits for the GPU work the run submitted and did not read back.
    pub fn finish(&mut self) -> Result<(), GpuError> {
        match self.session.as_mut() {
            Some(session) => session.finish(),
            None => Ok(()),
        }
    }

    /// What the run used, if it used the GPU at all.
    pub fn report(&self) -> Option<GpuUsage> {
        let session = self.session.as_ref()?;
        Some(GpuUsage {
            path: session.path().name().to_string(),
            adapter: match session.path() {
                ComputePath::Gpu => self.host.adapter().map(|a| a.name.clone()),
                ComputePath::Cpu => None,
            },
            gpu_time: session.gpu_time(),
            dispatches: session.dispatches(),
            peak_memory: session.peak_memory(),
        })
    }
}

/// A GPU error as the product sees it; a timeout traps the run instead.
fn seen<T>(
    state: &mut RunState,
    result: Result<T, GpuError>,
) -> wasmtime::Result<Result<T, Error>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(GpuError::Timeout(message)) => {
            state.gpu.timeout = Some(message.clone());
            Err(wasmtime::Error::msg(message))
        }
        Err(GpuError::NotFound(m)) => Ok(Err(Error::NotFound(m))),
        Err(GpuError::Invalid(m)) => Ok(Err(Error::Invalid(m))),
        Err(GpuError::Denied(m)) => Ok(Err(Error::Denied(m))),
        Err(GpuError::Limit(m)) => Ok(Err(Error::Limit(m))),
        Err(GpuError::Gpu(m)) => Ok(Err(Error::Gpu(m))),
    }
}

fn to_data(values: wit::Data) -> Data {
    match values {
        wit::Data::F32(v) => Data::F32(v),
        wit::Data::U32(v) => Data::U32(v),
        wit::Data::I32(v) => Data::I32(v),
    }
}

fn from_data(values: Data) -> wit::Data {
    match values {
        Data::F32(v) => wit::Data::F32(v),
        Data::U32(v) => wit::Data::U32(v),
        Data::I32(v) => wit::Data::I32(v),
    }
}

fn to_element(element: wit::Element) -> Element {
    match element {
        wit::Element::F32 => Element::F32,
        wit::Element::U32 => Element::U32,
        wit::Element::I32 => Element::I32,
    }
}

impl RunState {
    /// Runs `op` on the session with two borrowed buffers and stores the resulting buffer.
    fn gpu_op<const N: usize>(
        &mut self,
        inputs: [&Resource<Buffer>; N],
        op: impl FnOnce(&mut Session, [&Buffer; N]) -> Result<Buffer, GpuError>,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let mut resolved = Vec::with_capacity(N);
        for input in inputs {
            resolved.push(self.table.get(input)?);
        }
        let Ok(buffers) = <[&Buffer; N]>::try_from(resolved) else {
            return Err(wasmtime::Error::msg(
                "a GPU operation lost one of its inputs",
            ));
        };
        let result = match self.gpu.session() {
            Ok(session) => op(session, buffers),
            Err(e) => Err(e),
        };
        match seen(self, result)? {
            Ok(buffer) => Ok(Ok(self.table.push(buffer)?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl wit::Host for RunState {
    fn info(&mut self) -> wasmtime::Result<Result<wit::AdapterInfo, Error>> {
        let result = self.gpu.session().map(|s| s.path());
        let path = match seen(self, result)? {
            Ok(path) => path,
            Err(e) => return Ok(Err(e)),
        };
        let info = match (path, self.gpu.host.adapter()) {
            (ComputePath::Gpu, Some(a)) => wit::AdapterInfo {
                name: a.name.clone(),
                backend: a.backend.clone(),
                device_type: a.device_type.clone(),
                max_buffer_bytes: a.max_buffer_bytes,
                max_workgroups_per_dimension: a.max_workgroups_per_dimension,
                max_invocations_per_workgroup: a.max_invocations_per_workgroup,
            },
            _ => wit::AdapterInfo {
                name: "CPU reference (this host has no GPU)".into(),
                backend: "cpu".into(),
                device_type: "cpu".into(),
                max_buffer_bytes: u64::from(u32::MAX) * 4,
                max_workgroups_per_dimension: 0,
                max_invocations_per_workgroup: 0,
            },
        };
        Ok(Ok(info))
    }

    fn dispatch(
        &mut self,
        kernel: Resource<Kernel>,
        bindings: Vec<Resource<Buffer>>,
        workgroups: (u32, u32, u32),
    ) -> wasmtime::Result<Result<(), Error>> {
        let kernel = self.table.get(&kernel)?.clone();
        let mut buffers = Vec::with_capacity(bindings.len());
        for binding in &bindings {
            buffers.push(self.table.get(binding)?);
        }
        let result = match self.gpu.session() {
            Ok(session) => session.dispatch(
                &kernel,
                &buffers,
                [workgroups.0, workgroups.1, workgroups.2],
            ),
            Err(e) => Err(e),
        };
        seen(self, result)
    }

    fn matmul(
        &mut self,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        m: u32,
        k: u32,
        n: u32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([&a, &b], |s, [x, y]| s.matmul(x, y, m, k, n))
    }

    fn binary(
        &mut self,
        op: wit::BinaryOp,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let op = match op {
            wit::BinaryOp::Add => BinaryOp::Add,
            wit::BinaryOp::Sub => BinaryOp::Sub,
            wit::BinaryOp::Mul => BinaryOp::Mul,
        };
        self.gpu_op([&a, &b], |s, [x, y]| s.binary(op, x, y))
    }

    fn unary(
        &mut self,
        op: wit::UnaryOp,
        a: Resource<Buffer>,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let op = match op {
            wit::UnaryOp::Relu => UnaryOp::Relu,
            wit::UnaryOp::Exp => UnaryOp::Exp,
            wit::UnaryOp::Sigmoid => UnaryOp::Sigmoid,
        };
        self.gpu_op([&a], |s, [x]| s.unary(op, x))
    }

    fn scale(
        &mut self,
        a: Resource<Buffer>,
        factor: f32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([&a], |s, [x]| s.scale(x, factor))
    }

    fn reduce_rows(
        &mut self,
        op: wit::Reduction,
        a: Resource<Buffer>,
        rows: u32,
        cols: u32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let op = match op {
            wit::Reduction::Sum => Reduction::Sum,
            wit::Reduction::Max => Reduction::Max,
            wit::Reduction::Argmax => Reduction::Argmax,
        };
        self.gpu_op([&a], |s, [x]| s.reduce_rows(op, x, rows, cols))
    }

    fn softmax_rows(
        &mut self,
        a: Resource<Buffer>,
        rows: u32,
        cols: u32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([&a], |s, [x]| s.softmax_rows(x, rows, cols))
    }

    fn pairwise_distances(
        &mut self,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        n_a: u32,
        n_b: u32,
        dim: u32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([&a, &b], |s, [x, y]| s.sq_distances(x, y, n_a, n_b, dim))
    }

    fn filter3x3(
        &mut self,
        image: Resource<Buffer>,
        width: u32,
        height: u32,
        weights: Vec<f32>,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let Ok(weights) = <[f32; 9]>::try_from(weights.as_slice()) else {
            return Ok(Err(Error::Invalid(format!(
                "a 3 × 3 filter has 9 weights; {} were given",
                weights.len()
            ))));
        };
        self.gpu_op([&image], |s, [x]| s.filter3x3(x, width, height, weights))
    }

    fn histogram(
        &mut self,
        values: Resource<Buffer>,
        bins: u32,
        lo: f32,
        hi: f32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([&values], |s, [x]| s.histogram(x, bins, lo, hi))
    }
}

impl wit::HostBuffer for RunState {
    fn create(&mut self, values: wit::Data) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        let data = to_data(values);
        self.gpu_op([], |s, []| s.create(&data))
    }

    fn zeroed(
        &mut self,
        element: wit::Element,
        len: u32,
    ) -> wasmtime::Result<Result<Resource<Buffer>, Error>> {
        self.gpu_op([], |s, []| s.zeroed(to_element(element), u64::from(len)))
    }

    fn element(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<wit::Element> {
        Ok(match self.table.get(&buffer)?.element() {
            Element::F32 => wit::Element::F32,
            Element::U32 => wit::Element::U32,
            Element::I32 => wit::Element::I32,
        })
    }

    fn len(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&buffer)?.len())
    }

    fn write(
        &mut self,
        buffer: Resource<Buffer>,
        offset: u32,
        values: wit::Data,
    ) -> wasmtime::Result<Result<(), Error>> {
        let data = to_data(values);
        let target = self.table.get_mut(&buffer)?;
        let result = match self.gpu.session() {
            Ok(session) => session.write(target, offset, &data),
            Err(e) => Err(e),
        };
        seen(self, result)
    }

    fn read(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<Result<wit::Data, Error>> {
        let source = self.table.get(&buffer)?;
        let result = match self.gpu.session() {
            Ok(session) => session.read(source).map(from_data),
            Err(e) => Err(e),
        };
        seen(self, result)
    }

    fn drop(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<()> {
        let buffer = self.table.delete(buffer)?;
        if let Some(session) = self.gpu.session.as_mut() {
            session.release(&buffer);
        }
        Ok(())
    }
}

impl wit::HostKernel for RunState {
    fn compile(
        &mut self,
        source: String,
        entry_point: String,
    ) -> wasmtime::Result<Result<Resource<Kernel>, Error>> {
        let result = match self.gpu.session() {
            Ok(session) => session.compile(&source, &entry_point),
            Err(e) => Err(e),
        };
        match seen(self, result)? {
            Ok(kernel) => Ok(Ok(self.table.push(kernel)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn binding_count(&mut self, kernel: Resource<Kernel>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&kernel)?.bindings().len() as u32)
    }

    fn drop(&mut self, kernel: Resource<Kernel>) -> wasmtime::Result<()> {
        self.table.delete(kernel)?;
        Ok(())
    }
}

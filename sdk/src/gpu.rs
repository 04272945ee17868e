//! GPU compute lent by the host: buffers that stay on the device, built-in operations on
//! [`Tensor`]s (matmul, activations, reductions, softmax, distances, a 3 × 3 filter, a
//! histogram), and the product's own WGSL [`Kernel`]s.
//!
//! Declare the GPU in `product.toml` (`[resources] gpu = "optional"` or `"required"`, and
//! `gpu_memory`), then:
//!
//! ```
//! use tessera_sdk::{testing::TestRun, Context, Result};
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let gpu = ctx.gpu()?;
//!     let x = gpu.tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2])?;
//!     let w = gpu.tensor(&[0.5, -1.0], &[2, 1])?;
//!     let p = x.matmul(&w)?.sigmoid()?;          // stays on the device
//!     let scores = p.to_vec()?;                  // copied back
//!     assert_eq!(scores.len(), 2);
//!     Ok(())
//! }
//! TestRun::new().run(run)?;                      // natively: the CPU reference
//! # Ok::<(), tessera_sdk::Error>(())
//! ```
//!
//! In the sandbox every call goes to the host (on its GPU, or on its CPU reference when the
//! product declared `optional` and the host has no GPU); in native tests the built-in
//! operations run the same CPU reference, and product kernels are refused (test them with
//! `tessera run`). A kernel is WGSL with storage arrays in `@group(0)`, bound in binding order:
//!
//! ```no_run
//! # use tessera_sdk::{Context, Result, GpuData};
//! # fn run(ctx: &mut Context) -> Result<()> {
//! let gpu = ctx.gpu()?;
//! let kernel = gpu.kernel(r#"
//!     @group(0) @binding(0) var<storage, read> x: array<f32>;
//!     @group(0) @binding(1) var<storage, read_write> y: array<f32>;
//!     @compute @workgroup_size(64)
//!     fn main(@builtin(global_invocation_id) id: vec3<u32>) {
//!         if (id.x < arrayLength(&x)) { y[id.x] = x[id.x] * x[id.x]; }
//!     }"#, "main")?;            // or include_str!("square.wgsl")
//! let x = gpu.buffer(GpuData::F32(vec![1.0, 2.0, 3.0]))?;
//! let y = gpu.zeroed(tessera_sdk::Element::F32, 3)?;
//! gpu.dispatch(&kernel, &[&x, &y], [1, 1, 1])?;
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};

#[cfg(target_arch = "wasm32")]
use crate::gpu_host as imp;
#[cfg(not(target_arch = "wasm32"))]
use crate::gpu_native as imp;

/// The value type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// 32-bit floats.
    F32,
    /// 32-bit unsigned integers.
    U32,
    /// 32-bit signed integers.
    I32,
}

/// Values going into or coming out of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 32-bit unsigned integers.
    U32(Vec<u32>),
    /// 32-bit signed integers.
    I32(Vec<i32>),
}

impl GpuData {
    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            GpuData::F32(v) => v.len(),
            GpuData::U32(v) => v.len(),
            GpuData::I32(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The GPU a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// The adapter's name.
    pub name: String,
    /// `vulkan`, or `cpu` on the CPU path.
    pub backend: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub device_type: String,
}

/// Element-wise and row-wise operations (used by [`Tensor`]).
pub(crate) enum Op<'a> {
    Matmul(&'a imp::RawBuffer, &'a imp::RawBuffer, [u32; 3]),
    Add(&'a imp::RawBuffer, &'a imp::RawBuffer),
    Sub(&'a imp::RawBuffer, &'a imp::RawBuffer),
    Mul(&'a imp::RawBuffer, &'a imp::RawBuffer),
    Scale(&'a imp::RawBuffer, f32),
    Relu(&'a imp::RawBuffer),
    Exp(&'a imp::RawBuffer),
    Sigmoid(&'a imp::RawBuffer),
    RowSum(&'a imp::RawBuffer, [u32; 2]),
    RowMax(&'a imp::RawBuffer, [u32; 2]),
    RowArgmax(&'a imp::RawBuffer, [u32; 2]),
    Softmax(&'a imp::RawBuffer, [u32; 2]),
    Distances(&'a imp::RawBuffer, &'a imp::RawBuffer, [u32; 3]),
    Filter(&'a imp::RawBuffer, [u32; 2], [f32; 9]),
    Histogram(&'a imp::RawBuffer, u32, f32, f32),
}

/// The GPU, from [`Context::gpu`](crate::Context::gpu).
#[derive(Debug)]
pub struct Gpu {
    _private: (),
}

/// Values on the device.
pub struct Buffer {
    raw: imp::RawBuffer,
    element: Element,
    len: usize,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({:?} × {})", self.element, self.len)
    }
}

/// A compiled WGSL kernel.
pub struct Kernel {
    raw: imp::RawKernel,
}

/// An f32 buffer with a shape (row-major): the operand of the built-in operations.
#[derive(Debug)]
pub struct Tensor {
    buffer: Buffer,
    shape: Vec<usize>,
}

fn u32_of(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Invalid(format!("{what} of {n} is too large for the GPU")))
}

impl Gpu {
    pub(crate) fn open() -> Result<Gpu> {
        imp::info()?;
        Ok(Gpu { _private: () })
    }

    /// The GPU this run uses.
    pub fn info(&self) -> Result<GpuInfo> {
        imp::info()
    }

    /// A buffer holding a copy of `values`.
    pub fn buffer(&self, values: GpuData) -> Result<Buffer> {
        let (element, len) = match &values {
            GpuData::F32(v) => (Element::F32, v.len()),
            GpuData::U32(v) => (Element::U32, v.len()),
            GpuData::I32(v) => (Element::I32, v.len()),
        };
        Ok(Buffer {
            raw: imp::create(values)?,
            element,
            len,
        })
    }

    /// A buffer of `len` zeros.
    pub fn zeroed(&self, element: Element, len: usize) -> Result<Buffer> {
        Ok(Buffer {
            raw: imp::zeroed(element, u32_of(len, "a buffer")?)?,
            element,
            len,
        })
    }

    /// A tensor of `shape` holding `values` (row-major).
    pub fn tensor(&self, values: &[f32], shape: &[usize]) -> Result<Tensor> {
        let count: usize = shape.iter().product();
        if count != values.len() {
            return Err(Error::Invalid(format!(
                "shape {shape:?} holds {count} values; {} were given",
                values.len()
            )));
        }
        Ok(Tensor {
            buffer: self.buffer(GpuData::F32(values.to_vec()))?,
            shape: shape.to_vec(),
        })
    }

    /// Compiles a WGSL compute kernel (for example `include_str!("kernel.wgsl")`).
    pub fn kernel(&self, source: &str, entry_point: &str) -> Result<Kernel> {
        Ok(Kernel {
            raw: imp::compile(source, entry_point)?,
        })
    }

    /// Runs `kernel` over `workgroups` with `bindings` in binding order.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        bindings: &[&Buffer],
        workgroups: [u32; 3],
    ) -> Result<()> {
        let raws: Vec<&imp::RawBuffer> = bindings.iter().map(|b| &b.raw).collect();
        imp::dispatch(&kernel.raw, &raws, workgroups)
    }
}

impl Buffer {
    /// The value type.
    pub fn element(&self) -> Element {
        self.element
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Overwrites values from `offset`.
    pub fn write(&mut self, offset: usize, values: GpuData) -> Result<()> {
        imp::write(&self.raw, u32_of(offset, "an offset")?, values)
    }

    /// Copies the values back.
    pub fn read(&self) -> Result<GpuData> {
        imp::read(&self.raw)
    }
}

impl Tensor {
    fn with(&self, buffer: imp::RawBuffer, shape: Vec<usize>, element: Element) -> Tensor {
        let len = shape.iter().product();
        Tensor {
            buffer: Buffer {
                raw: buffer,
                element,
                len,
            },
            shape,
        }
    }

    fn matrix(&self) -> Result<[u32; 2]> {
        match self.shape.as_slice() {
            [rows, cols] => Ok([u32_of(*rows, "rows")?, u32_of(*cols, "columns")?]),
            other => Err(Error::Invalid(format!(
                "this operation needs a matrix (2 dimensions); the tensor's shape is {other:?}"
            ))),
        }
    }

    fn same_shape(&self, other: &Tensor) -> Result<()> {
        if self.shape != other.shape {
            return Err(Error::Invalid(format!(
                "shapes {:?} and {:?} differ",
                self.shape, other.shape
            )));
        }
        Ok(())
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The underlying buffer, to bind in a kernel.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// Copies the values back.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        match self.buffer.read()? {
            GpuData::F32(v) => Ok(v),
            _ => Err(Error::Internal(
                "an f32 tensor read back other values".into(),
            )),
        }
    }

    /// Matrix product: (m × k) · (k × n) → m × n.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let [m, k] = self.matrix()?;
        let [k2, n] = other.matrix()?;
        if k != k2 {
            return Err(Error::Invalid(format!(
                "cannot multiply {:?} by {:?}: inner dimensions differ",
                self.shape, other.shape
            )));
        }
        let raw = imp::op(Op::Matmul(&self.buffer.raw, &other.buffer.raw, [m, k, n]))?;
        Ok(self.with(raw, vec![m as usize, n as usize], Element::F32))
    }

    /// Element-wise sum.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.same_shape(other)?;
        let raw = imp::op(Op::Add(&self.buffer.raw, &other.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// Element-wise difference.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.same_shape(other)?;
        let raw = imp::op(Op::Sub(&self.buffer.raw, &other.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// Element-wise product.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.same_shape(other)?;
        let raw = imp::op(Op::Mul(&self.buffer.raw, &other.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// Every value times `factor`.
    pub fn scale(&self, factor: f32) -> Result<Tensor> {
        let raw = imp::op(Op::Scale(&self.buffer.raw, factor))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Result<Tensor> {
        let raw = imp::op(Op::Relu(&self.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// `e^x`.
    pub fn exp(&self) -> Result<Tensor> {
        let raw = imp::op(Op::Exp(&self.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// `1 / (1 + e^-x)`.
    pub fn sigmoid(&self) -> Result<Tensor> {
        let raw = imp::op(Op::Sigmoid(&self.buffer.raw))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// The sum of each row of a matrix.
    pub fn row_sum(&self) -> Result<Tensor> {
        let [rows, cols] = self.matrix()?;
        let raw = imp::op(Op::RowSum(&self.buffer.raw, [rows, cols]))?;
        Ok(self.with(raw, vec![rows as usize], Element::F32))
    }

    /// The largest value of each row of a matrix.
    pub fn row_max(&self) -> Result<Tensor> {
        let [rows, cols] = self.matrix()?;
        let raw = imp::op(Op::RowMax(&self.buffer.raw, [rows, cols]))?;
        Ok(self.with(raw, vec![rows as usize], Element::F32))
    }

    /// The first column holding each row's largest value.
    pub fn row_argmax(&self) -> Result<Vec<u32>> {
        let [rows, cols] = self.matrix()?;
        let raw = imp::op(Op::RowArgmax(&self.buffer.raw, [rows, cols]))?;
        match imp::read(&raw)? {
            GpuData::U32(v) => Ok(v),
            _ => Err(Error::Internal("argmax read back other values".into())),
        }
    }

    /// Softmax of each row of a matrix.
    pub fn softmax_rows(&self) -> Result<Tensor> {
        let [rows, cols] = self.matrix()?;
        let raw = imp::op(Op::Softmax(&self.buffer.raw, [rows, cols]))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// Squared Euclidean distances between the rows of two matrices (n_a × d, n_b × d).
    pub fn sq_distances(&self, other: &Tensor) -> Result<Tensor> {
        let [na, d] = self.matrix()?;
        let [nb, d2] = other.matrix()?;
        if d != d2 {
            return Err(Error::Invalid(format!(
                "rows of {:?} and {:?} have different lengths",
                self.shape, other.shape
            )));
        }
        let raw = imp::op(Op::Distances(
            &self.buffer.raw,
            &other.buffer.raw,
            [na, nb, d],
        ))?;
        Ok(self.with(raw, vec![na as usize, nb as usize], Element::F32))
    }

    /// A 3 × 3 filter over an image (shape `[height, width]`), edges clamped.
    pub fn filter3x3(&self, weights: [f32; 9]) -> Result<Tensor> {
        let [height, width] = self.matrix()?;
        let raw = imp::op(Op::Filter(&self.buffer.raw, [width, height], weights))?;
        Ok(self.with(raw, self.shape.clone(), Element::F32))
    }

    /// Counts of the values in [lo, hi] in `bins` equal bins.
    pub fn histogram(&self, bins: u32, lo: f32, hi: f32) -> Result<Vec<u32>> {
        let raw = imp::op(Op::Histogram(&self.buffer.raw, bins, lo, hi))?;
        match imp::read(&raw)? {
            GpuData::U32(v) => Ok(v),
            _ => Err(Error::Internal("a histogram read back other values".into())),
        }
    }
}

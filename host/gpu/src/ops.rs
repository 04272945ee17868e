//! The built-in operations: matmul, element-wise arithmetic and activations, row reductions,
//! softmax, pairwise squared distances, a 3 × 3 image filter and a histogram. Each checks its
//! arguments, then runs a host WGSL kernel (`kernels/`) on the GPU, or the same operation's
//! CPU reference ([`crate::reference`]) on the CPU path. Results are new buffers; arguments are
//! left as they were.

use crate::buffer::{Buffer, Data, Element};
use crate::dispatch::run_builtin;
use crate::error::GpuError;
use crate::session::Session;
use tessera_gpu_reference as reference;

const MATMUL: &str = include_str!("../kernels/matmul.wgsl");
const MATMUL_VEC4: &str = include_str!("../kernels/matmul_vec4.wgsl");
/// Workgroup memory the vec4 matmul kernel needs (A and B slices of 32 values of K).
const MATMUL_VEC4_SHARED_BYTES: u32 = 32 * 1024;
const ELEMENTWISE: &str = include_str!("../kernels/elementwise.wgsl");
const REDUCE: &str = include_str!("../kernels/reduce.wgsl");
const SOFTMAX: &str = include_str!("../kernels/softmax.wgsl");
const DISTANCES: &str = include_str!("../kernels/distances.wgsl");
const FILTER: &str = include_str!("../kernels/filter.wgsl");
const HISTOGRAM: &str = include_str!("../kernels/histogram.wgsl");

/// Output tile edge of the matmul and distance kernels.
pub(crate) const TILE: u64 = 128;

/// An element-wise operation on two buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
}

/// An element-wise operation on one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `max(a, 0)`
    Relu,
    /// `e^a`
    Exp,
    /// `1 / (1 + e^-a)`, stable for large |a|
    Sigmoid,
}

/// A reduction of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The sum (f32).
    Sum,
    /// The largest value (f32).
    Max,
    /// The first column holding the largest value (u32).
    Argmax,
}

/// Workgroups for `count` workgroups of work, laid out as (x, y) within 65,535 per dimension.
pub(crate) fn grid(count: u64) -> Result<[u32; 3], GpuError> {
    let count = count.max(1);
    let x = count.min(65_535);
    let y = count.div_ceil(65_535);
    let y = u32::try_from(y)
        .ok()
        .filter(|&y| y <= 65_535)
        .ok_or_else(|| {
            GpuError::Limit(format!(
                "{count} workgroups is more than one dispatch can hold"
            ))
        })?;
    Ok([x as u32, y, 1])
}

fn floats(buffer: &Buffer, name: &str) -> Result<(), GpuError> {
    if buffer.element() != Element::F32 {
        return Err(GpuError::Invalid(format!(
            "`{name}` must hold f32 values; it holds {}",
            buffer.element().name()
        )));
    }
    Ok(())
}

fn sized(buffer: &Buffer, name: &str, expected: u64, shape: &str) -> Result<(), GpuError> {
    floats(buffer, name)?;
    if u64::from(buffer.len()) != expected {
        return Err(GpuError::Invalid(format!(
            "`{name}` holds {} values; {shape} is {expected}",
            buffer.len()
        )));
    }
    Ok(())
}

fn host_f32(buffer: &Buffer) -> Result<&[f32], GpuError> {
    buffer
        .host_words()
        .map(bytemuck::cast_slice::<u32, f32>)
        .ok_or_else(|| GpuError::Gpu("a buffer on the GPU was given to the CPU path".into()))
}

pub(crate) fn device_buffer(buffer: &Buffer) -> Result<&wgpu::Buffer, GpuError> {
    buffer
        .device_buffer()
        .ok_or_else(|| GpuError::Gpu("a buffer in host memory was given to the GPU path".into()))
}

/// Multiply-adds one piece of CPU-path work does between two looks at the run's deadline: a
/// few milliseconds on one core.
const CPU_PIECE_WORK: u64 = 1 << 22;

impl Session {
    /// Computes an operation whose output has `rows` rows of `row_len` values on the CPU path,
    /// a block of rows at a time (`block` computes the output rows in its range), looking at
    /// the run's deadline between blocks: work past the deadline fails the run as timed out
    /// instead of holding its thread for as long as it takes. `per_row` is the work of one
    /// row, in multiply-adds.
    fn cpu_by_rows(
        &self,
        what: &str,
        rows: usize,
        row_len: usize,
        per_row: u64,
        mut block: impl FnMut(std::ops::Range<usize>) -> Vec<f32>,
    ) -> Result<Vec<f32>, GpuError> {
        let step = usize::try_from((CPU_PIECE_WORK / per_row.max(1)).max(1)).unwrap_or(1);
        let mut out = Vec::with_capacity(rows.saturating_mul(row_len));
        let mut start = 0;
        while start < rows {
            if std::time::Instant::now() >= self.deadline() {
                return Err(GpuError::Timeout(format!(
                    "the run's deadline passed during {what} on the CPU path ({start} of {rows} \
                     rows done); without a GPU, give the run a longer `resources.timeout` or \
                     smaller matrices"
                )));
            }
            let end = (start + step).min(rows);
            out.extend(block(start..end));
            start = end;
        }
        Ok(out)
    }

    /// Runs a built-in kernel doing `work` element operations into a new output buffer of
    /// `len` values of `element`, once the run's deadline admits it (see [`crate::cost`]).
    fn builtin(
        &mut self,
        kernel: (&'static str, &'static str),
        params: &[u32],
        inputs: &[&Buffer],
        (element, len): (Element, u64),
        (workgroups, work): ([u32; 3], u64),
    ) -> Result<Buffer, GpuError> {
        let Some(device) = self.device().cloned() else {
            return Err(GpuError::Gpu("no device for a GPU operation".into()));
        };
        let timed = self.admit_builtin(&device, kernel.0, work)?;
        let out = self.output(element, len)?;
        let since = std::time::Instant::now();
        let mut buffers = Vec::with_capacity(inputs.len() + 1);
        for input in inputs {
            buffers.push(device_buffer(input)?.as_entire_buffer_binding());
        }
        buffers.push(device_buffer(&out)?.as_entire_buffer_binding());
        let ran = run_builtin(self, &device, kernel, params, &buffers, workgroups).and_then(|()| {
            if timed {
                self.time_builtin(kernel.0, since, work)
            } else {
                Ok(())
            }
        });
        match ran {
            Ok(()) => Ok(out),
            Err(e) => {
                self.release(&out);
                Err(e)
            }
        }
    }

    fn on_gpu(&self) -> bool {
        self.device().is_some()
    }

    /// `c = a · b` for row-major f32 matrices `a` (m × k) and `b` (k × n).
    pub fn matmul(
        &mut self,
        a: &Buffer,
        b: &Buffer,
        m: u32,
        k: u32,
        n: u32,
    ) -> Result<Buffer, GpuError> {
        let (m64, k64, n64) = (u64::from(m), u64::from(k), u64::from(n));
        sized(a, "a", m64 * k64, "m × k")?;
        sized(b, "b", k64 * n64, "k × n")?;
        if !self.on_gpu() {
            self.room_for(m64 * n64)?;
            let (a, b) = (host_f32(a)?, host_f32(b)?);
            let (k, n) = (k as usize, n as usize);
            let c = self.cpu_by_rows("matmul", m as usize, n, k64 * n64, |rows| {
                let part = a
                    .get(rows.start * k..(rows.end * k).min(a.len()))
                    .unwrap_or(&[]);
                reference::matmul(part, b, rows.len(), k, n)
            })?;
            return self.create(&Data::F32(c));
        }
        let tiles = m64.div_ceil(TILE) * n64.div_ceil(TILE);
        // The vec4 kernel moves four values per load and store; it needs rows of A and B whose
        // lengths are multiples of 4, and more workgroup memory than WebGPU's default.
        let vec4 = k.is_multiple_of(4)
            && n.is_multiple_of(4)
            && self.device().is_some_and(|d| {
                d.limits.max_compute_workgroup_storage_size >= MATMUL_VEC4_SHARED_BYTES
            });
        let kernel = if vec4 {
            (MATMUL_VEC4, "matmul_vec4")
        } else {
            (MATMUL, "matmul")
        };
        if m64 * k64 * n64 <= crate::bands::ONE_SUBMISSION_WORK {
            return self.builtin(
                kernel,
                &[m, k, n],
                &[a, b],
                (Element::F32, m64 * n64),
                (grid(tiles)?, m64 * k64 * n64),
            );
        }
        let shape = crate::bands::RowShape {
            what: "matmul",
            rows: m,
            a_row: k64,
            out_row: n64,
        };
        self.builtin_in_bands(kernel, a, b, shape, |band| vec![band, k, n])
    }

    /// `op(a, b)` element by element; `a` and `b` hold the same number of f32 values.
    pub fn binary(&mut self, op: BinaryOp, a: &Buffer, b: &Buffer) -> Result<Buffer, GpuError> {
        floats(a, "a")?;
        sized(b, "b", u64::from(a.len()), "the length of `a`")?;
        if !self.on_gpu() {
            let (x, y) = (host_f32(a)?, host_f32(b)?);
            let out = match op {
                BinaryOp::Add => reference::add(x, y),
                BinaryOp::Sub => reference::sub(x, y),
                BinaryOp::Mul => reference::mul(x, y),
            };
            return self.create(&Data::F32(out));
        }
        let entry = match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
        };
        let len = u64::from(a.len());
        self.builtin(
            (ELEMENTWISE, entry),
            &[a.len(), 0],
            &[a, b],
            (Element::F32, len),
            (grid(len.div_ceil(256))?, len),
        )
    }

    /// `op(a)` element by element.
    pub fn unary(&mut self, op: UnaryOp, a: &Buffer) -> Result<Buffer, GpuError> {
        floats(a, "a")?;
        if !self.on_gpu() {
            let x = host_f32(a)?;
            let out = match op {
                UnaryOp::Relu => reference::relu(x),
                UnaryOp::Exp => reference::exp(x),
                UnaryOp::Sigmoid => reference::sigmoid(x),
            };
            return self.create(&Data::F32(out));
        }
        let entry = match op {
            UnaryOp::Relu => "relu",
            UnaryOp::Exp => "exp",
            UnaryOp::Sigmoid => "sigmoid",
        };
        let len = u64::from(a.len());
        self.builtin(
            (ELEMENTWISE, entry),
            &[a.len(), 0],
            &[a],
            (Element::F32, len),
            (grid(len.div_ceil(256))?, len),
        )
    }

    /// `a * factor` element by element.
    pub fn scale(&mut self, a: &Buffer, factor: f32) -> Result<Buffer, GpuError> {
        floats(a, "a")?;
        if !self.on_gpu() {
            let out = reference::scale(host_f32(a)?, factor);
            return self.create(&Data::F32(out));
        }
        let len = u64::from(a.len());
        self.builtin(
            (ELEMENTWISE, "scale"),
            &[a.len(), factor.to_bits()],
            &[a],
            (Element::F32, len),
            (grid(len.div_ceil(256))?, len),
        )
    }

    /// One value per row of the rows × cols matrix `a`.
    pub fn reduce_rows(
        &mut self,
        op: Reduction,
        a: &Buffer,
        rows: u32,
        cols: u32,
    ) -> Result<Buffer, GpuError> {
        sized(a, "a", u64::from(rows) * u64::from(cols), "rows × cols")?;
        if !self.on_gpu() {
            let x = host_f32(a)?;
            let (r, c) = (rows as usize, cols as usize);
            let data = match op {
                Reduction::Sum => Data::F32(reference::row_sum(x, r, c)),
                Reduction::Max => Data::F32(reference::row_max(x, r, c)),
                Reduction::Argmax => Data::U32(reference::row_argmax(x, r, c)),
            };
            return self.create(&data);
        }
        let (entry, element) = match op {
            Reduction::Sum => ("row_sum", Element::F32),
            Reduction::Max => ("row_max", Element::F32),
            Reduction::Argmax => ("row_argmax", Element::U32),
        };
        self.builtin(
            (REDUCE, entry),
            &[rows, cols],
            &[a],
            (element, u64::from(rows)),
            (grid(u64::from(rows))?, u64::from(rows) * u64::from(cols)),
        )
    }

    /// Softmax of each row of the rows × cols matrix `a`.
    pub fn softmax_rows(&mut self, a: &Buffer, rows: u32, cols: u32) -> Result<Buffer, GpuError> {
        sized(a, "a", u64::from(rows) * u64::from(cols), "rows × cols")?;
        if !self.on_gpu() {
            let out = reference::softmax_rows(host_f32(a)?, rows as usize, cols as usize);
            return self.create(&Data::F32(out));
        }
        self.builtin(
            (SOFTMAX, "softmax_rows"),
            &[rows, cols],
            &[a],
            (Element::F32, u64::from(rows) * u64::from(cols)),
            (
                grid(u64::from(rows))?,
                3 * u64::from(rows) * u64::from(cols),
            ),
        )
    }

    /// Squared Euclidean distances between the rows of `a` (n_a × dim) and `b` (n_b × dim).
    pub fn sq_distances(
        &mut self,
        a: &Buffer,
        b: &Buffer,
        n_a: u32,
        n_b: u32,
        dim: u32,
    ) -> Result<Buffer, GpuError> {
        let (na, nb, d) = (u64::from(n_a), u64::from(n_b), u64::from(dim));
        sized(a, "a", na * d, "n_a × dim")?;
        sized(b, "b", nb * d, "n_b × dim")?;
        if !self.on_gpu() {
            self.room_for(na * nb)?;
            let (a, b) = (host_f32(a)?, host_f32(b)?);
            let (n_b, dim) = (n_b as usize, dim as usize);
            let out =
                self.cpu_by_rows("pairwise_distances", n_a as usize, n_b, nb * d, |rows| {
                    let part = a
                        .get(rows.start * dim..(rows.end * dim).min(a.len()))
                        .unwrap_or(&[]);
                    reference::sq_distances(part, b, rows.len(), n_b, dim)
                })?;
            return self.create(&Data::F32(out));
        }
        if na * nb * d <= crate::bands::ONE_SUBMISSION_WORK {
            return self.builtin(
                (DISTANCES, "sq_distances"),
                &[n_a, n_b, dim],
                &[a, b],
                (Element::F32, na * nb),
                (grid(na.div_ceil(TILE) * nb.div_ceil(TILE))?, na * nb * d),
            );
        }
        let shape = crate::bands::RowShape {
            what: "pairwise_distances",
            rows: n_a,
            a_row: d,
            out_row: nb,
        };
        self.builtin_in_bands((DISTANCES, "sq_distances"), a, b, shape, |band| {
            vec![band, n_b, dim]
        })
    }

    /// A 3 × 3 filter (`weights` row by row) over a width × height image, edges clamped.
    pub fn filter3x3(
        &mut self,
        image: &Buffer,
        width: u32,
        height: u32,
        weights: [f32; 9],
    ) -> Result<Buffer, GpuError> {
        let pixels = u64::from(width) * u64::from(height);
        sized(image, "image", pixels, "width × height")?;
        if !self.on_gpu() {
            let out =
                reference::filter3x3(host_f32(image)?, width as usize, height as usize, &weights);
            return self.create(&Data::F32(out));
        }
        let mut params = vec![width, height, 0, 0];
        params.extend(weights.iter().map(|w| w.to_bits()));
        let tiles = u64::from(width).div_ceil(16) * u64::from(height).div_ceil(16);
        self.builtin(
            (FILTER, "filter3x3"),
            &params,
            &[image],
            (Element::F32, pixels),
            (grid(tiles)?, 9 * pixels),
        )
    }

    /// Counts of the values in [lo, hi] in `bins` equal bins; others are left out.
    pub fn histogram(
        &mut self,
        values: &Buffer,
        bins: u32,
        lo: f32,
        hi: f32,
    ) -> Result<Buffer, GpuError> {
        floats(values, "values")?;
        if bins == 0 {
            return Err(GpuError::Invalid(
                "a histogram needs at least one bin".into(),
            ));
        }
        if !lo.is_finite() || !hi.is_finite() || !(hi - lo).is_finite() || hi < lo {
            return Err(GpuError::Invalid(format!(
                "the histogram's range must be finite with lo ≤ hi; got [{lo}, {hi}]"
            )));
        }
        if !self.on_gpu() {
            self.room_for(u64::from(bins))?;
            let out = reference::histogram(host_f32(values)?, bins as usize, lo, hi);
            return self.create(&Data::U32(out));
        }
        let len = u64::from(values.len());
        self.builtin(
            (HISTOGRAM, "histogram"),
            &[values.len(), bins, lo.to_bits(), hi.to_bits()],
            &[values],
            (Element::U32, u64::from(bins)),
            (grid(len.div_ceil(4096))?, len),
        )
    }
}

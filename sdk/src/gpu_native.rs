//! The GPU natively, for unit tests: buffers in memory and the built-in operations' CPU
//! reference (the same code the host falls back on). Product kernels need the sandbox.

use std::cell::RefCell;

use tessera_gpu_reference as reference;

use crate::error::{Error, Result};
use crate::gpu::{Element, GpuData, GpuInfo, Op};

pub(crate) struct RawBuffer(RefCell<GpuData>);

pub(crate) struct RawKernel;

pub(crate) fn info() -> Result<GpuInfo> {
    Ok(GpuInfo {
        name: "CPU reference (native test)".into(),
        backend: "cpu".into(),
        device_type: "cpu".into(),
    })
}

pub(crate) fn create(values: GpuData) -> Result<RawBuffer> {
    if values.is_empty() {
        return Err(Error::Invalid("a buffer holds at least one value".into()));
    }
    Ok(RawBuffer(RefCell::new(values)))
}

pub(crate) fn zeroed(element: Element, len: u32) -> Result<RawBuffer> {
    let len = len as usize;
    create(match element {
        Element::F32 => GpuData::F32(vec![0.0; len]),
        Element::U32 => GpuData::U32(vec![0; len]),
        Element::I32 => GpuData::I32(vec![0; len]),
    })
}

pub(crate) fn write(buffer: &RawBuffer, offset: u32, values: GpuData) -> Result<()> {
    let mut target = buffer.0.borrow_mut();
    let start = offset as usize;
    let end = start + values.len();
    if end > target.len() {
        return Err(Error::Invalid(format!(
            "writing {} values at offset {offset} runs past the buffer's {} values",
            values.len(),
            target.len()
        )));
    }
    match (&mut *target, values) {
        (GpuData::F32(t), GpuData::F32(v)) => t[start..end].copy_from_slice(&v),
        (GpuData::U32(t), GpuData::U32(v)) => t[start..end].copy_from_slice(&v),
        (GpuData::I32(t), GpuData::I32(v)) => t[start..end].copy_from_slice(&v),
        _ => {
            return Err(Error::Invalid(
                "the values' type differs from the buffer's".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn read(buffer: &RawBuffer) -> Result<GpuData> {
    Ok(buffer.0.borrow().clone())
}

pub(crate) fn compile(_source: &str, _entry: &str) -> Result<RawKernel> {
    Err(Error::Gpu(
        "product kernels run in the sandbox only; test them with `tessera run` (native tests run the built-in operations on the CPU)".into(),
    ))
}

pub(crate) fn dispatch(
    _kernel: &RawKernel,
    _bindings: &[&RawBuffer],
    _workgroups: [u32; 3],
) -> Result<()> {
    Err(Error::Gpu("product kernels run in the sandbox only".into()))
}

fn floats(buffer: &RawBuffer) -> Result<Vec<f32>> {
    match &*buffer.0.borrow() {
        GpuData::F32(v) => Ok(v.clone()),
        _ => Err(Error::Invalid("this operation needs f32 values".into())),
    }
}

fn same(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::Invalid(format!(
            "lengths {} and {} differ",
            a.len(),
            b.len()
        )));
    }
    Ok(())
}

pub(crate) fn op(op: Op<'_>) -> Result<RawBuffer> {
    let out = match op {
        Op::Matmul(a, b, [m, k, n]) => GpuData::F32(reference::matmul(
            &floats(a)?,
            &floats(b)?,
            m as usize,
            k as usize,
            n as usize,
        )),
        Op::Add(a, b) => {
            let (x, y) = (floats(a)?, floats(b)?);
            same(&x, &y)?;
            GpuData::F32(reference::add(&x, &y))
        }
        Op::Sub(a, b) => {
            let (x, y) = (floats(a)?, floats(b)?);
            same(&x, &y)?;
            GpuData::F32(reference::sub(&x, &y))
        }
        Op::Mul(a, b) => {
            let (x, y) = (floats(a)?, floats(b)?);
            same(&x, &y)?;
            GpuData::F32(reference::mul(&x, &y))
        }
        Op::Scale(a, f) => GpuData::F32(reference::scale(&floats(a)?, f)),
        Op::Relu(a) => GpuData::F32(reference::relu(&floats(a)?)),
        Op::Exp(a) => GpuData::F32(reference::exp(&floats(a)?)),
        Op::Sigmoid(a) => GpuData::F32(reference::sigmoid(&floats(a)?)),
        Op::RowSum(a, [r, c]) => {
            GpuData::F32(reference::row_sum(&floats(a)?, r as usize, c as usize))
        }
        Op::RowMax(a, [r, c]) => {
            GpuData::F32(reference::row_max(&floats(a)?, r as usize, c as usize))
        }
        Op::RowArgmax(a, [r, c]) => {
            GpuData::U32(reference::row_argmax(&floats(a)?, r as usize, c as usize))
        }
        Op::Softmax(a, [r, c]) => {
            GpuData::F32(reference::softmax_rows(&floats(a)?, r as usize, c as usize))
        }
        Op::Distances(a, b, [na, nb, d]) => GpuData::F32(reference::sq_distances(
            &floats(a)?,
            &floats(b)?,
            na as usize,
            nb as usize,
            d as usize,
        )),
        Op::Filter(image, [w, h], weights) => GpuData::F32(reference::filter3x3(
            &floats(image)?,
            w as usize,
            h as usize,
            &weights,
        )),
        Op::Histogram(values, bins, lo, hi) => {
            if bins == 0 {
                return Err(Error::Invalid("a histogram needs at least one bin".into()));
            }
            GpuData::U32(reference::histogram(
                &floats(values)?,
                bins as usize,
                lo,
                hi,
            ))
        }
    };
    Ok(RawBuffer(RefCell::new(out)))
}

//! The GPU in the sandbox: every call goes to the host through `tessera:product/gpu`.

use crate::__private::bindings::tessera::product::gpu as wit;
use crate::error::Result;
use crate::gpu::{Element, GpuData, GpuInfo, Op};
use crate::host::from_wit;

pub(crate) type RawBuffer = wit::Buffer;

pub(crate) type RawKernel = wit::Kernel;

pub(crate) fn info() -> Result<GpuInfo> {
    let info = wit::info().map_err(from_wit)?;
    Ok(GpuInfo {
        name: info.name,
        backend: info.backend,
        device_type: info.device_type,
    })
}

fn to_wit(values: GpuData) -> wit::Data {
    match values {
        GpuData::F32(v) => wit::Data::F32(v),
        GpuData::U32(v) => wit::Data::U32(v),
        GpuData::I32(v) => wit::Data::I32(v),
    }
}

pub(crate) fn create(values: GpuData) -> Result<RawBuffer> {
    wit::Buffer::create(&to_wit(values)).map_err(from_wit)
}

pub(crate) fn zeroed(element: Element, len: u32) -> Result<RawBuffer> {
    let element = match element {
        Element::F32 => wit::Element::F32,
        Element::U32 => wit::Element::U32,
        Element::I32 => wit::Element::I32,
    };
    wit::Buffer::zeroed(element, len).map_err(from_wit)
}

pub(crate) fn write(buffer: &RawBuffer, offset: u32, values: GpuData) -> Result<()> {
    buffer.write(offset, &to_wit(values)).map_err(from_wit)
}

pub(crate) fn read(buffer: &RawBuffer) -> Result<GpuData> {
    Ok(match buffer.read().map_err(from_wit)? {
        wit::Data::F32(v) => GpuData::F32(v),
        wit::Data::U32(v) => GpuData::U32(v),
        wit::Data::I32(v) => GpuData::I32(v),
    })
}

pub(crate) fn compile(source: &str, entry: &str) -> Result<RawKernel> {
    wit::Kernel::compile(source, entry).map_err(from_wit)
}

pub(crate) fn dispatch(
    kernel: &RawKernel,
    bindings: &[&RawBuffer],
    workgroups: [u32; 3],
) -> Result<()> {
    wit::dispatch(
        kernel,
        bindings,
        (workgroups[0], workgroups[1], workgroups[2]),
    )
    .map_err(from_wit)
}

pub(crate) fn op(op: Op<'_>) -> Result<RawBuffer> {
    match op {
        Op::Matmul(a, b, [m, k, n]) => wit::matmul(a, b, m, k, n),
        Op::Add(a, b) => wit::binary(wit::BinaryOp::Add, a, b),
        Op::Sub(a, b) => wit::binary(wit::BinaryOp::Sub, a, b),
        Op::Mul(a, b) => wit::binary(wit::BinaryOp::Mul, a, b),
        Op::Scale(a, f) => wit::scale(a, f),
        Op::Relu(a) => wit::unary(wit::UnaryOp::Relu, a),
        Op::Exp(a) => wit::unary(wit::UnaryOp::Exp, a),
        Op::Sigmoid(a) => wit::unary(wit::UnaryOp::Sigmoid, a),
        Op::RowSum(a, [r, c]) => wit::reduce_rows(wit::Reduction::Sum, a, r, c),
        Op::RowMax(a, [r, c]) => wit::reduce_rows(wit::Reduction::Max, a, r, c),
        Op::RowArgmax(a, [r, c]) => wit::reduce_rows(wit::Reduction::Argmax, a, r, c),
        Op::Softmax(a, [r, c]) => wit::softmax_rows(a, r, c),
        Op::Distances(a, b, [na, nb, d]) => wit::pairwise_distances(a, b, na, nb, d),
        Op::Filter(image, [w, h], weights) => wit::filter3x3(image, w, h, &weights),
        Op::Histogram(values, bins, lo, hi) => wit::histogram(values, bins, lo, hi),
    }
    .map_err(from_wit)
}

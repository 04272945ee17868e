//! Buffers lent to a product: typed (f32, u32 or i32), on the device when the host has a GPU,
//! in host memory on the CPU path.

use std::sync::atomic::{AtomicU64, Ordering};

/// The value type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    /// 32-bit floats.
    F32,
    /// 32-bit unsigned integers.
    U32,
    /// 32-bit signed integers.
    I32,
}

impl Element {
    /// The WGSL name (`f32`, `u32`, `i32`).
    pub fn name(self) -> &'static str {
        match self {
            Element::F32 => "f32",
            Element::U32 => "u32",
            Element::I32 => "i32",
        }
    }
}

/// Values going into or coming out of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 32-bit unsigned integers.
    U32(Vec<u32>),
    /// 32-bit signed integers.
    I32(Vec<i32>),
}

impl Data {
    /// The value type.
    pub fn element(&self) -> Element {
        match self {
            Data::F32(_) => Element::F32,
            Data::U32(_) => Element::U32,
            Data::I32(_) => Element::I32,
        }
    }

    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::I32(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as 32-bit words (their bit patterns).
    pub(crate) fn words(&self) -> Vec<u32> {
        match self {
            Data::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            Data::U32(v) => v.clone(),
            Data::I32(v) => v
                .iter()
                .map(|x| u32::from_ne_bytes(x.to_ne_bytes()))
                .collect(),
        }
    }

    /// The values as bytes, little-endian as the device expects.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Data::F32(v) => bytemuck::cast_slice(v),
            Data::U32(v) => bytemuck::cast_slice(v),
            Data::I32(v) => bytemuck::cast_slice(v),
        }
    }

    /// Values of `element` from 32-bit words.
    pub(crate) fn from_words(element: Element, words: &[u32]) -> Data {
        match element {
            Element::F32 => Data::F32(words.iter().map(|w| f32::from_bits(*w)).collect()),
            Element::U32 => Data::U32(words.to_vec()),
            Element::I32 => Data::I32(
                words
                    .iter()
                    .map(|w| i32::from_ne_bytes(w.to_ne_bytes()))
                    .collect(),
            ),
        }
    }
}

/// Where a buffer's values live.
pub(crate) enum Storage {
    /// On the device.
    Device(wgpu::Buffer),
    /// In host memory (the CPU path), as 32-bit words.
    Host(Vec<u32>),
}

/// A product's buffer: its values, their type and count.
pub struct Buffer {
    pub(crate) id: u64,
    pub(crate) element: Element,
    pub(crate) len: u32,
    pub(crate) storage: Storage,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("element", &self.element)
            .field("len", &self.len)
            .field("on_device", &self.device_buffer().is_some())
            .finish()
    }
}

impl Buffer {
    pub(crate) fn new(element: Element, len: u32, storage: Storage) -> Buffer {
        Buffer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            element,
            len,
            storage,
        }
    }

    /// The value type.
    pub fn element(&self) -> Element {
        self.element
    }

    /// How many values it holds.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether it holds no values (never: buffers hold at least one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its size in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.len) * 4
    }

    pub(crate) fn host_words(&self) -> Option<&[u32]> {
        match &self.storage {
            Storage::Host(words) => Some(words),
            Storage::Device(_) => None,
        }
    }

    pub(crate) fn device_buffer(&self) -> Option<&wgpu::Buffer> {
        match &self.storage {
            Storage::Device(buffer) => Some(buffer),
            Storage::Host(_) => None,
        }
    }
}

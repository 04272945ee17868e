//! Product kernels: WGSL checked by naga when created (a syntax or validation error names its
//! line and column), the entry point's bindings read from the shader (storage buffers of f32,
//! u32 or i32 in group 0, numbered from 0), and every loop guarded (see [`crate::guard`]).
//! A kernel is identified by the hash of its source and entry point; the device compiles each
//! once.

use std::sync::Arc;

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, ScalarKind, ShaderStage, StorageAccess, TypeInner};

use crate::buffer::Element;
use crate::error::GpuError;

/// One buffer a kernel binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    /// `@binding(N)` in group 0.
    pub binding: u32,
    /// The value type of its array.
    pub element: Element,
    /// Whether the kernel writes it (`read_write`).
    pub writable: bool,
}

/// A validated kernel, ready to be compiled on a device.
#[derive(Clone)]
pub struct Kernel {
    pub(crate) hash: u128,
    pub(crate) entry: String,
    pub(crate) bindings: Vec<BindingSpec>,
    pub(crate) workgroup_size: [u32; 3],
    /// The shader with its loops guarded.
    pub(crate) module: Arc<naga::Module>,
    /// Whether the entry point reaches a guarded loop (and so binds the guard's flag).
    pub(crate) guarded: bool,
    /// The loop bound the guard enforces.
    pub(crate) max_loop_iterations: u32,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("entry", &self.entry)
            .field("bindings", &self.bindings)
            .field("workgroup_size", &self.workgroup_size)
            .finish()
    }
}

impl Kernel {
    /// The entry point.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The buffers it binds, in binding order.
    pub fn bindings(&self) -> &[BindingSpec] {
        &self.bindings
    }

    /// `@workgroup_size` of the entry point.
    pub fn workgroup_size(&self) -> [u32; 3] {
        self.workgroup_size
    }
}

/// Parses and validates `source`, finds `entry`, reads its bindings and guards its loops.
pub fn compile(source: &str, entry: &str, max_loop_iterations: u32) -> Result<Kernel, GpuError> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| {
        let at = e
            .location(source)
            .map(|l| format!(" at line {}, column {}", l.line_number, l.line_position))
            .unwrap_or_default();
        GpuError::Invalid(format!(
            "the WGSL does not parse{at}: {}",
            e.emit_to_string(source).trim()
        ))
    })?;
    let info = validator().validate(&module).map_err(|e| {
        let at = e
            .location(source)
            .map(|l| format!(" at line {}, column {}", l.line_number, l.line_position))
            .unwrap_or_default();
        GpuError::Invalid(format!(
            "the WGSL is not valid{at}: {}",
            e.emit_to_string(source).trim()
        ))
    })?;
    let Some((index, point)) = module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == entry && p.stage == ShaderStage::Compute)
    else {
        let computes: Vec<&str> = module
            .entry_points
            .iter()
            .filter(|p| p.stage == ShaderStage::Compute)
            .map(|p| p.name.as_str())
            .collect();
        return Err(GpuError::NotFound(format!(
            "the WGSL has no compute entry point `{entry}` (it has: {})",
            if computes.is_empty() {
                "none".to_string()
            } else {
                computes.join(", ")
            }
        )));
    };
    let usage = info.get_entry_point(index);
    let mut bindings = Vec::new();
    for (handle, global) in module.global_variables.iter() {
        let Some(binding) = &global.binding else {
            continue;
        };
        if usage[handle].is_empty() {
            continue;
        }
        let name = global.name.clone().unwrap_or_default();
        if binding.group != 0 {
            return Err(GpuError::Invalid(format!(
                "`{name}` is in @group({}); product kernels bind storage buffers in @group(0) only",
                binding.group
            )));
        }
        let AddressSpace::Storage { access } = global.space else {
            return Err(GpuError::Invalid(format!(
                "`{name}` (@binding({})) is not a storage buffer; product kernels bind `var<storage, read>` or `var<storage, read_write>` arrays only (pass parameters in a small storage buffer)",
                binding.binding
            )));
        };
        let element = element_of(&module, global.ty).ok_or_else(|| {
            GpuError::Invalid(format!(
                "`{name}` (@binding({})) must be an array of f32, u32 or i32 (or of their vectors or atomics)",
                binding.binding
            ))
        })?;
        bindings.push(BindingSpec {
            binding: binding.binding,
            element,
            writable: access.contains(StorageAccess::STORE),
        });
    }
    bindings.sort_by_key(|b| b.binding);
    for (expected, spec) in bindings.iter().enumerate() {
        if spec.binding != expected as u32 {
            return Err(GpuError::Invalid(format!(
                "the bindings `{entry}` uses must be numbered 0, 1, 2, ...; @binding({expected}) is missing"
            )));
        }
    }
    let workgroup_size = point.workgroup_size;
    let mut guarded = module.clone();
    let flag = crate::guard::bound_loops(&mut guarded, max_loop_iterations);
    let guarded_info = validator().validate(&guarded).map_err(|e| {
        GpuError::Gpu(format!(
            "guarding the kernel's loops produced an invalid shader (a host fault): {}",
            e.as_inner()
        ))
    })?;
    let uses_guard = !guarded_info.get_entry_point(index)[flag].is_empty();
    let hash = twox_hash::XxHash3_128::oneshot(format!("{entry}\0{source}").as_bytes());
    Ok(Kernel {
        hash,
        entry: entry.to_string(),
        bindings,
        workgroup_size,
        module: Arc::new(guarded),
        guarded: uses_guard,
        max_loop_iterations,
    })
}

fn validator() -> Validator {
    Validator::new(ValidationFlags::all(), Capabilities::empty())
}

/// The value type of an array of scalars, vectors or atomics.
fn element_of(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Option<Element> {
    let TypeInner::Array { base, .. } = module.types[ty].inner else {
        return None;
    };
    let scalar = match module.types[base].inner {
        TypeInner::Scalar(s) | TypeInner::Atomic(s) | TypeInner::Vector { scalar: s, .. } => s,
        _ => return None,
    };
    match (scalar.kind, scalar.width) {
        (ScalarKind::Float, 4) => Some(Element::F32),
        (ScalarKind::Uint, 4) => Some(Element::U32),
        (ScalarKind::Sint, 4) => Some(Element::I32),
        _ => None,
    }
}

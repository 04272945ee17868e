// elementwise.wgsl -- element-wise f32 kernels over flat arrays.
//
// Params (uniform, binding 0), 16 bytes, consecutive little-endian words:
//   word 0: len    (u32)  number of elements
//   word 1: scalar (f32)  used by `scale` only
//   word 2: pad    (u32, ignored)
//   word 3: pad    (u32, ignored)
//
// Entry points and bindings (group 0):
//   add, sub, mul : 1 = a (read), 2 = b (read), 3 = out (read_write)
//                   out[i] = a[i] + b[i] | a[i] - b[i] | a[i] * b[i]
//   scale         : 1 = a (read), 2 = out      out[i] = a[i] * scalar
//   relu          : 1 = a (read), 2 = out      out[i] = a[i] > 0 ? a[i] : 0
//                   (NaN and -0.0 map to +0.0)
//   exp           : 1 = a (read), 2 = out      out[i] = exp(a[i])
//                   (computed as exp2(a * log2 e); see exp_f32 below)
//   sigmoid       : 1 = a (read), 2 = out      stable form: e = exp(-|x|),
//                   r = 1 / (1 + e); out = x >= 0 ? r : e * r (NaN -> NaN)
//                   (x = +-1000 gives exactly 1 / 0, never inf or NaN)
//
// Every entry point: @workgroup_size(256), one element per invocation.
// Dispatch: W = ceil(len / 256); workgroups = (min(W, 65535), ceil(W / 65535), 1).
// Linear index = (wg.x + wg.y * num_wg.x) * 256 + local_index; indices
// >= len do nothing.
//
// The binary and the unary entry points declare different binding sets, so
// create one pipeline (and bind group layout) per entry point.

struct Params {
    len: u32,
    scalar: f32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

// Binary ops: a, b -> out3.  Unary ops: a -> out2.
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;

// The entry point named `exp` shadows the WGSL builtin `exp` in this whole
// module, so the exponential is computed as exp2(x * log2(e)) -- which is
// also how GPU drivers lower exp (Vulkan allows 3 + 2|x| ULP for exp).
const LOG2E: f32 = 1.4426950408889634;

fn exp_f32(x: f32) -> f32 {
    return exp2(x * LOG2E);
}

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn add(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        out3[i] = a[i] + b[i];
    }
}

@compute @workgroup_size(256)
fn sub(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        out3[i] = a[i] - b[i];
    }
}

@compute @workgroup_size(256)
fn mul(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        out3[i] = a[i] * b[i];
    }
}

@compute @workgroup_size(256)
fn scale(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        out2[i] = a[i] * params.scalar;
    }
}

@compute @workgroup_size(256)
fn relu(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        let x = a[i];
        out2[i] = select(0.0, x, x > 0.0);
    }
}

@compute @workgroup_size(256)
fn exp(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        out2[i] = exp_f32(a[i]);
    }
}

@compute @workgroup_size(256)
fn sigmoid(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = linear_index(wid, nwg, lid);
    if (i < params.len) {
        let x = a[i];
        let e = exp_f32(-abs(x));
        let r = 1.0 / (1.0 + e);
        out2[i] = select(e * r, r, x >= 0.0);
    }
}

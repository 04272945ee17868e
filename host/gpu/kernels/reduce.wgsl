// reduce.wgsl -- per-row reductions of a rows x cols f32 matrix (row-major).
//
// Params (uniform, binding 0), 16 bytes, consecutive little-endian u32 words:
//   word 0: rows   word 1: cols   word 2: pad   word 3: pad (ignored)
// Bindings (group 0): 1 = a (f32, read), 2 = out (read_write):
//   row_sum    : out f32[rows], sum of the row (0 for cols == 0)
//   row_max    : out f32[rows], maximum of the row under the order
//                "NaN < -inf < ... < +inf": NaN only if the whole row is NaN;
//                -inf for cols == 0
//   row_argmax : out u32[rows], column of that maximum, ties -> smallest
//                column index (an all-NaN row gives 0; cols == 0 gives 0)
//
// Every entry point: @workgroup_size(256), one workgroup per row.
// Dispatch: workgroups = (min(rows, 65535), ceil(rows / 65535), 1);
// row = wg.x + wg.y * num_wg.x (surplus workgroups exit as a whole).
// Each thread strides over columns lid, lid + 256, ... (coalesced), then a
// shared-memory tree reduction (256 -> 1) combines the partials.
// NaN is detected from the bit pattern, so it works even where the driver
// does not preserve NaN semantics in float comparisons.

struct Params {
    rows: u32,
    cols: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_u32: array<u32>;

const WG: u32 = 256u;
const NO_INDEX: u32 = 0xffffffffu;

var<workgroup> s_val: array<f32, 256>;
var<workgroup> s_idx: array<u32, 256>;

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// True if candidate (v2, i2) beats the current best (v1, i1).
// NO_INDEX marks "no element yet".  Order: NaN < every number; ties (equal
// values, or both NaN) -> smaller index.
fn better(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
    if (i2 == NO_INDEX) {
        return false;
    }
    if (i1 == NO_INDEX) {
        return true;
    }
    let n1 = is_nan(v1);
    let n2 = is_nan(v2);
    if (n2) {
        return n1 && i2 < i1;
    }
    if (n1) {
        return true;
    }
    return v2 > v1 || (v2 == v1 && i2 < i1);
}

@compute @workgroup_size(256)
fn row_sum(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= params.rows) {
        return;
    }
    let cols = params.cols;
    let base = row * cols;
    var acc = 0.0;
    for (var c = lid; c < cols; c += WG) {
        acc += a[base + c];
    }
    s_val[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            s_val[lid] += s_val[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out_f32[row] = s_val[0];
    }
}

// Shared body of row_max / row_argmax: leaves the winner in s_val[0], s_idx[0].
fn argmax_reduce(lid: u32, row: u32) {
    let cols = params.cols;
    let base = row * cols;
    var bv = 0.0;
    var bi = NO_INDEX;
    // Columns are visited in increasing order, so a tie keeps the earlier one.
    for (var c = lid; c < cols; c += WG) {
        let v = a[base + c];
        if (better(bv, bi, v, c)) {
            bv = v;
            bi = c;
        }
    }
    s_val[lid] = bv;
    s_idx[lid] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let v2 = s_val[lid + s];
            let i2 = s_idx[lid + s];
            if (better(s_val[lid], s_idx[lid], v2, i2)) {
                s_val[lid] = v2;
                s_idx[lid] = i2;
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn row_max(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= params.rows) {
        return;
    }
    argmax_reduce(lid, row);
    if (lid == 0u) {
        var v = s_val[0];
        if (s_idx[0] == NO_INDEX) {
            // Empty row: -inf (built at run time; an infinite constant
            // expression is a WGSL shader-creation error).
            v = bitcast<f32>(0xff800000u | (row & 0u));
        }
        out_f32[row] = v;
    }
}

@compute @workgroup_size(256)
fn row_argmax(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= params.rows) {
        return;
    }
    argmax_reduce(lid, row);
    if (lid == 0u) {
        let i = s_idx[0];
        out_u32[row] = select(i, 0u, i == NO_INDEX);
    }
}

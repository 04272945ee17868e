// softmax.wgsl -- row-wise softmax of a rows x cols f32 matrix (row-major).
//
// Params (uniform, binding 0), 16 bytes, consecutive little-endian u32 words:
//   word 0: rows   word 1: cols   word 2: pad   word 3: pad (ignored)
// Bindings (group 0): 1 = a (read), 2 = out (read_write), both rows x cols.
//
// out[r][c] = exp(a[r][c] - max_r) / sum_c' exp(a[r][c'] - max_r)
//
// Entry point `softmax_rows`: @workgroup_size(256), one workgroup per row.
// Dispatch: workgroups = (min(rows, 65535), ceil(rows / 65535), 1);
// row = wg.x + wg.y * num_wg.x (surplus workgroups exit as a whole).
//
// Two passes over the row: (1) each thread keeps an online (max, sum of
// exp(x - max)) pair over columns lid, lid + 256, ...; the pairs are merged by
// a shared-memory tree reduction; (2) each thread writes exp(x - max) / sum.
// Inputs are expected to be finite or -inf (a row with +inf or NaN gives NaN
// outputs; an all -inf row gives NaN, as in the reference).

struct Params {
    rows: u32,
    cols: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
// Finite "minus infinity" start value: keeps (m_old - m_new) finite.
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> s_max: array<f32, 256>;
var<workgroup> s_sum: array<f32, 256>;

@compute @workgroup_size(256)
fn softmax_rows(
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

    // Pass 1: online max / sum.
    var m = LOWEST;
    var s = 0.0;
    for (var c = lid; c < cols; c += WG) {
        let x = a[base + c];
        if (x > m) {
            s = s * exp(m - x) + 1.0;
            m = x;
        } else {
            s += exp(x - m);
        }
    }
    s_max[lid] = m;
    s_sum[lid] = s;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
        if (lid < st) {
            let m1 = s_max[lid];
            let m2 = s_max[lid + st];
            let mm = max(m1, m2);
            s_sum[lid] = s_sum[lid] * exp(m1 - mm) + s_sum[lid + st] * exp(m2 - mm);
            s_max[lid] = mm;
        }
        workgroupBarrier();
    }
    let row_max = s_max[0];
    let inv = 1.0 / s_sum[0];

    // Pass 2: normalise.
    for (var c = lid; c < cols; c += WG) {
        out[base + c] = exp(a[base + c] - row_max) * inv;
    }
}

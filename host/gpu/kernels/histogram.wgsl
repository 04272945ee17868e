// histogram.wgsl -- counts of f32 values in [lo, hi] over `bins` equal bins.
//
// Params (uniform, binding 0), 16 bytes, consecutive little-endian words:
//   word 0: len (u32)   word 1: bins (u32)   word 2: lo (f32)   word 3: hi (f32)
// Bindings (group 0): 1 = values (f32, read),
//                     2 = counts (array<atomic<u32>>, read_write, `bins`
//                         entries; the host zeroes it before the dispatch --
//                         counts accumulate across dispatches otherwise).
//
// Binning (identical in the CPU reference):
//   skip v if NaN or v < lo or v > hi (so nothing is counted if hi < lo);
//   v >= hi          -> bin = bins - 1   (v == hi; also hi == lo)
//   otherwise        -> bin = min(u32(floor((v - lo) / (hi - lo) * f32(bins))), bins - 1)
// lo and hi must be finite with hi - lo finite.  The GPU division may differ
// from IEEE by a couple of ULP, so a value within ~1e-6 (relative) of a bin
// edge may land in the neighbouring bin (the tests compare bin counts with
// that allowance).
//
// Entry points (same params and bindings, all @workgroup_size(256)):
//   histogram        -- RECOMMENDED, any bins.  Each workgroup handles
//       CHUNK = 4096 consecutive values (16 per thread, coalesced).  If
//       bins <= 1024 it privatizes: a workgroup-memory histogram (workgroup
//       atomics), then one atomicAdd per non-zero bin into `counts`; if
//       bins > 1024 it atomically adds each value straight into `counts`.
//       Dispatch: W = ceil(len / 4096); workgroups = (min(W, 65535), ceil(W / 65535), 1).
//   histogram_local  -- the privatized path only; requires bins <= 1024
//       (does nothing otherwise).  Same dispatch as `histogram`.
//   histogram_global -- global atomics only, one value per invocation.
//       Dispatch: W = ceil(len / 256); workgroups = (min(W, 65535), ceil(W / 65535), 1).

struct Params {
    len: u32,
    bins: u32,
    lo: f32,
    hi: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

const WG: u32 = 256u;
const MAX_LOCAL_BINS: u32 = 1024u;
const PER_THREAD: u32 = 16u;
const CHUNK: u32 = 4096u; // WG * PER_THREAD
const NO_BIN: u32 = 0xffffffffu;

var<workgroup> local_counts: array<atomic<u32>, 1024>;

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Bin index of v, or NO_BIN if v is not counted.
fn bin_of(v: f32) -> u32 {
    let lo = params.lo;
    let hi = params.hi;
    let bins = params.bins;
    if (bins == 0u || is_nan(v) || v < lo || v > hi) {
        return NO_BIN;
    }
    if (v >= hi) {
        return bins - 1u;
    }
    let t = floor((v - lo) / (hi - lo) * f32(bins));
    // t >= 0 here; the min also catches rounding up to `bins`.
    return min(u32(t), bins - 1u);
}

// Privatized path; call only when bins <= MAX_LOCAL_BINS (uniform branch).
fn local_impl(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) {
    let bins = params.bins;
    for (var b = lid; b < bins; b += WG) {
        atomicStore(&local_counts[b], 0u);
    }
    workgroupBarrier();
    let base = (wid.x + wid.y * nwg.x) * CHUNK;
    let len = params.len;
    for (var j = 0u; j < PER_THREAD; j++) {
        let i = base + j * WG + lid;
        if (i < len) {
            let b = bin_of(values[i]);
            if (b != NO_BIN) {
                atomicAdd(&local_counts[b], 1u);
            }
        }
    }
    workgroupBarrier();
    for (var b = lid; b < bins; b += WG) {
        let c = atomicLoad(&local_counts[b]);
        if (c != 0u) {
            atomicAdd(&counts[b], c);
        }
    }
}

@compute @workgroup_size(256)
fn histogram_local(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    if (params.bins <= MAX_LOCAL_BINS) {
        local_impl(lid, wid, nwg);
    }
}

@compute @workgroup_size(256)
fn histogram(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    if (params.bins <= MAX_LOCAL_BINS) {
        local_impl(lid, wid, nwg);
    } else {
        let base = (wid.x + wid.y * nwg.x) * CHUNK;
        let len = params.len;
        for (var j = 0u; j < PER_THREAD; j++) {
            let i = base + j * WG + lid;
            if (i < len) {
                let b = bin_of(values[i]);
                if (b != NO_BIN) {
                    atomicAdd(&counts[b], 1u);
                }
            }
        }
    }
}

@compute @workgroup_size(256)
fn histogram_global(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i < params.len) {
        let b = bin_of(values[i]);
        if (b != NO_BIN) {
            atomicAdd(&counts[b], 1u);
        }
    }
}

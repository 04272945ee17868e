// filter.wgsl -- 3x3 filter (correlation) with clamp-to-edge borders.
//
// out[y][x] = sum_{dy=-1..1} sum_{dx=-1..1} w[(dy+1)*3 + (dx+1)]
//             * in[clamp(y+dy, 0, height-1)][clamp(x+dx, 0, width-1)]
// Summation order: dy outer (-1, 0, 1), dx inner (-1, 0, 1), acc += w * in,
// starting from 0 (the CPU reference does the same).
// Images are f32, row-major, width x height (index = y * width + x).
//
// Params (uniform, binding 0), 64 bytes = 16 consecutive little-endian words:
//   word 0: width (u32)   word 1: height (u32)   words 2-3: pad
//   words 4..12: w0..w8 (f32)   words 13-15: pad
// (In WGSL the weights are `array<vec4<f32>, 3>` at byte offset 16, so w[k]
// is w[k / 4][k % 4]; uniform arrays need a 16-byte element stride.)
// Bindings (group 0): 1 = in (read), 2 = out (read_write).
//
// Entry point `filter3x3`: @workgroup_size(16, 16), one 16x16 output tile
// per workgroup, the 18x18 input patch (tile + 1-pixel halo, clamped) is
// staged in workgroup memory.
// Dispatch: tiles_x = ceil(width / 16), tiles_y = ceil(height / 16),
//           T = tiles_x * tiles_y;
//           workgroups = (min(T, 65535), ceil(T / 65535), 1).
// tile = wg.x + wg.y * num_wg.x; tile_y = tile / tiles_x, tile_x = tile % tiles_x.

struct Params {
    width: u32,
    height: u32,
    pad0: u32,
    pad1: u32,
    w: array<vec4<f32>, 3>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const TILE: u32 = 16u;
const PATCH: u32 = 18u;

var<workgroup> tile_px: array<f32, 324>; // 18 x 18

@compute @workgroup_size(16, 16)
fn filter3x3(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let width = params.width;
    let height = params.height;
    let tiles_x = (width + TILE - 1u) / TILE;
    let tiles_y = (height + TILE - 1u) / TILE;
    let tile = wid.x + wid.y * nwg.x;
    if (width == 0u || height == 0u || tile >= tiles_x * tiles_y) {
        return;
    }
    let x0 = (tile % tiles_x) * TILE;
    let y0 = (tile / tiles_x) * TILE;

    // Stage the clamped 18x18 patch whose (0, 0) is image pixel (x0-1, y0-1).
    for (var p = li; p < PATCH * PATCH; p += 256u) {
        let py = p / PATCH;
        let px = p - py * PATCH;
        // x0 + px - 1 clamped to [0, width - 1] without unsigned underflow.
        let gx = min(max(x0 + px, 1u) - 1u, width - 1u);
        let gy = min(max(y0 + py, 1u) - 1u, height - 1u);
        tile_px[p] = img[gy * width + gx];
    }
    workgroupBarrier();

    let x = x0 + lid.x;
    let y = y0 + lid.y;
    if (x < width && y < height) {
        let w0 = params.w[0];
        let w1 = params.w[1];
        let w2 = params.w[2];
        // Patch coordinates of (x, y) are (lid.x + 1, lid.y + 1).
        let r0 = lid.y * PATCH + lid.x;
        let r1 = r0 + PATCH;
        let r2 = r1 + PATCH;
        var acc = 0.0;
        acc += w0.x * tile_px[r0];
        acc += w0.y * tile_px[r0 + 1u];
        acc += w0.z * tile_px[r0 + 2u];
        acc += w0.w * tile_px[r1];
        acc += w1.x * tile_px[r1 + 1u];
        acc += w1.y * tile_px[r1 + 2u];
        acc += w1.z * tile_px[r2];
        acc += w1.w * tile_px[r2 + 1u];
        acc += w2.x * tile_px[r2 + 2u];
        out[y * width + x] = acc;
    }
}

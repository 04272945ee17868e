// Per-image sums for image-quality: one workgroup per image, 256 threads striding over its
// pixels, then a tree reduction in workgroup memory.
//
// pixels: the 8-bit images packed four to a u32 (little-endian), each starting on a word.
// shape: per image [first word, width, height, unused].
// sums:   per image 8 values: pixel sum, sum of squares, pixels >= 250, Laplacian sum,
//         Laplacian sum of squares, sum of |noise operator|, interior pixels, pixels.

@group(0) @binding(0) var<storage, read> pixels: array<u32>;
@group(0) @binding(1) var<storage, read> shape: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

const THREADS: u32 = 256u;
const SUMS: u32 = 8u;

var<workgroup> partial: array<array<f32, 8>, 256>;

fn pixel(first: u32, i: u32) -> f32 {
    let word = pixels[first + i / 4u];
    return f32((word >> ((i % 4u) * 8u)) & 255u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let image = group.x;
    let first = shape[image * 4u];
    let w = shape[image * 4u + 1u];
    let h = shape[image * 4u + 2u];
    let n = w * h;
    var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var i = lid; i < n; i = i + THREADS) {
        let v = pixel(first, i);
        acc[0] = acc[0] + v;
        acc[1] = acc[1] + v * v;
        if (v >= 250.0) {
            acc[2] = acc[2] + 1.0;
        }
        let x = i % w;
        let y = i / w;
        if (x > 0u && y > 0u && x + 1u < w && y + 1u < h) {
            let sides = pixel(first, i - w) + pixel(first, i + w) + pixel(first, i - 1u) + pixel(first, i + 1u);
            let corners = pixel(first, i - w - 1u) + pixel(first, i - w + 1u) + pixel(first, i + w - 1u) + pixel(first, i + w + 1u);
            let laplacian = sides - 4.0 * v;
            acc[3] = acc[3] + laplacian;
            acc[4] = acc[4] + laplacian * laplacian;
            acc[5] = acc[5] + abs(corners - 2.0 * sides + 4.0 * v);
            acc[6] = acc[6] + 1.0;
        }
    }
    if (lid == 0u) {
        acc[7] = f32(n);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            for (var k = 0u; k < SUMS; k = k + 1u) {
                partial[lid][k] = partial[lid][k] + partial[lid + stride][k];
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        for (var k = 0u; k < SUMS; k = k + 1u) {
            sums[image * SUMS + k] = partial[0][k];
        }
    }
}

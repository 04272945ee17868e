// Per-image figures of real pixel values (DICOM, after the rescale) for image-quality: one
// workgroup per image, 256 threads striding over its pixels, two passes so no figure is a
// difference of large sums: the first finds the means of the values and of the Laplacian, the
// second sums squared deviations from them.
//
// values: every image's rescaled pixels as f32, row-major, back to back.
// shape:  per image [first value, width, height, unused].
// out:    per image 8 values: mean, sum of squared deviations, Laplacian mean, Laplacian sum
//         of squared deviations, sum of |Immerkaer operator|, interior pixels, pixels, unused.

@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read> shape: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const THREADS: u32 = 256u;

var<workgroup> partial: array<vec4<f32>, 256>;
var<workgroup> centre: vec2<f32>;

fn reduce(lid: u32) {
    for (var stride = THREADS / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            partial[lid] = partial[lid] + partial[lid + stride];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let image = group.x;
    let first = shape[image * 4u];
    let w = shape[image * 4u + 1u];
    let h = shape[image * 4u + 2u];
    let n = w * h;

    // Pass 1: sums of the values and of the interior Laplacian.
    var sums = vec4<f32>(0.0, 0.0, 0.0, 0.0);
    for (var i = lid; i < n; i = i + THREADS) {
        let v = values[first + i];
        sums.x = sums.x + v;
        let x = i % w;
        let y = i / w;
        if (x > 0u && y > 0u && x + 1u < w && y + 1u < h) {
            let sides = values[first + i - w] + values[first + i + w] + values[first + i - 1u] + values[first + i + 1u];
            sums.y = sums.y + (sides - 4.0 * v);
            sums.z = sums.z + 1.0;
        }
    }
    partial[lid] = sums;
    workgroupBarrier();
    reduce(lid);
    if (lid == 0u) {
        let total = partial[0];
        centre = vec2<f32>(total.x / f32(n), total.y / max(total.z, 1.0));
        out[image * 8u + 5u] = total.z;
        out[image * 8u + 6u] = f32(n);
    }
    workgroupBarrier();
    let mean = centre.x;
    let laplacian_mean = centre.y;

    // Pass 2: squared deviations from those means, and the noise operator.
    var deviations = vec4<f32>(0.0, 0.0, 0.0, 0.0);
    for (var i = lid; i < n; i = i + THREADS) {
        let v = values[first + i];
        deviations.x = deviations.x + (v - mean) * (v - mean);
        let x = i % w;
        let y = i / w;
        if (x > 0u && y > 0u && x + 1u < w && y + 1u < h) {
            let sides = values[first + i - w] + values[first + i + w] + values[first + i - 1u] + values[first + i + 1u];
            let corners = values[first + i - w - 1u] + values[first + i - w + 1u] + values[first + i + w - 1u] + values[first + i + w + 1u];
            let laplacian = sides - 4.0 * v - laplacian_mean;
            deviations.y = deviations.y + laplacian * laplacian;
            deviations.z = deviations.z + abs(corners - 2.0 * sides + 4.0 * v);
        }
    }
    partial[lid] = deviations;
    workgroupBarrier();
    reduce(lid);
    if (lid == 0u) {
        out[image * 8u] = mean;
        out[image * 8u + 1u] = partial[0].x;
        out[image * 8u + 2u] = laplacian_mean;
        out[image * 8u + 3u] = partial[0].y;
        out[image * 8u + 4u] = partial[0].z;
    }
}

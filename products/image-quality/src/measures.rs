//! The quality measures of real pixel values (a DICOM image after its rescale): mean and
//! standard deviation (contrast), range, the variance of the Laplacian (sharpness) and
//! Immerkær's noise estimate, all in the image's own units (Hounsfield units for CT).
//!
//! Both paths are two-pass, so no figure is the difference of two large sums: on the CPU in
//! f64 ([`measure_cpu`]), on the GPU in f32 with one workgroup per image
//! (`src/dicom_stats.wgsl`, [`measure_gpu`]). They agree to [`GPU_TOLERANCE`] (relative) on
//! every real file in the demo set; the e2e test holds them to it.

use tessera_sdk::{Element, Gpu, GpuData, Result};

use crate::dicom::Pixels;

/// Largest relative difference allowed between the GPU's f32 figures and the CPU's f64 ones
/// (relative to the figure, or to the image's value range for figures near zero).
pub const GPU_TOLERANCE: f64 = 1e-4;

/// The measures of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    /// Mean value.
    pub mean: f64,
    /// Standard deviation of the values (population).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Variance of the 4-neighbour Laplacian over the interior pixels.
    pub sharpness: f64,
    /// Immerkær's noise σ: √(π/2) · Σ|I ∗ N| / (6 · interior pixels).
    pub noise: f64,
}

fn interior(width: usize, height: usize, i: usize) -> bool {
    let (x, y) = (i % width, i / width);
    x > 0 && y > 0 && x + 1 < width && y + 1 < height
}

/// Laplacian and noise operator at interior pixel `i`.
fn operators(v: &[f64], w: usize, i: usize) -> (f64, f64) {
    let sides = v[i - w] + v[i + w] + v[i - 1] + v[i + 1];
    let corners = v[i - w - 1] + v[i - w + 1] + v[i + w - 1] + v[i + w + 1];
    (
        sides - 4.0 * v[i],
        (corners - 2.0 * sides + 4.0 * v[i]).abs(),
    )
}

/// The measures on the CPU, two-pass in f64.
pub fn measure_cpu(p: &Pixels) -> Measures {
    let (w, h, v) = (p.width, p.height, &p.values);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let inner: Vec<usize> = (0..v.len()).filter(|&i| interior(w, h, i)).collect();
    let count = inner.len().max(1) as f64;
    let laplacians: Vec<(f64, f64)> = inner.iter().map(|&i| operators(v, w, i)).collect();
    let laplacian_mean = laplacians.iter().map(|l| l.0).sum::<f64>() / count;
    Measures {
        mean,
        std: (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt(),
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sharpness: laplacians
            .iter()
            .map(|l| (l.0 - laplacian_mean).powi(2))
            .sum::<f64>()
            / count,
        noise: std::f64::consts::FRAC_PI_2.sqrt() * laplacians.iter().map(|l| l.1).sum::<f64>()
            / (6.0 * count),
    }
}

/// Most workgroups in one dispatch dimension on every adapter.
const MAX_GROUPS: usize = 65_535;

/// The measures on the GPU, one workgroup per image (range on the CPU: it needs no sums).
pub fn measure_gpu(gpu: &Gpu, images: &[&Pixels]) -> Result<Vec<Measures>> {
    let kernel = gpu.kernel(include_str!("dicom_stats.wgsl"), "main")?;
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(MAX_GROUPS) {
        let mut values: Vec<f32> = Vec::new();
        let mut shape: Vec<u32> = Vec::with_capacity(chunk.len() * 4);
        for image in chunk {
            shape.extend([
                values.len() as u32,
                image.width as u32,
                image.height as u32,
                0,
            ]);
            values.extend(image.values.iter().map(|&v| v as f32));
        }
        let values = gpu.buffer(GpuData::F32(values))?;
        let shape = gpu.buffer(GpuData::U32(shape))?;
        let sums = gpu.zeroed(Element::F32, chunk.len() * 8)?;
        gpu.dispatch(
            &kernel,
            &[&values, &shape, &sums],
            [chunk.len() as u32, 1, 1],
        )?;
        let GpuData::F32(sums) = sums.read()? else {
            return Err(tessera_sdk::Error::Internal(
                "the figures came back as integers".into(),
            ));
        };
        for (image, s) in chunk.iter().zip(sums.chunks(8)) {
            let s: Vec<f64> = s.iter().map(|&x| f64::from(x)).collect();
            let (n, inner) = (s[6].max(1.0), s[5].max(1.0));
            out.push(Measures {
                mean: s[0],
                std: (s[1] / n).sqrt(),
                min: image.values.iter().copied().fold(f64::INFINITY, f64::min),
                max: image
                    .values
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max),
                sharpness: s[3] / inner,
                noise: std::f64::consts::FRAC_PI_2.sqrt() * s[4] / (6.0 * inner),
            });
        }
    }
    Ok(out)
}

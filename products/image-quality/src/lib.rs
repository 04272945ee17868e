//! `image-quality`: exposure, contrast, sharpness, noise and saturation of every image, and a
//! flag with reasons for the ones a radiologist should not have to look at twice.
//!
//! DICOM files (`dicom_files`) are read in the sandbox ([`dicom`]): their header facts, and the
//! measures of [`measures`] on the first frame's rescaled values, on the GPU or the CPU; a file
//! that cannot be read or decoded gets its reason in `dicom_quality` instead of failing the run.
//!
//! One GPU kernel (`src/image_stats.wgsl`, one workgroup per image) computes per image the
//! sums every figure needs in one pass over its pixels; on a host with no GPU the same sums are
//! computed on the CPU ([`sums_cpu`]), and the run records which path ran (the `gpu` gauge).
//! From the sums:
//!
//! - `brightness`: the mean pixel value (0–255);
//! - `contrast`: the standard deviation of the pixel values;
//! - `sharpness`: the variance of the 4-neighbour Laplacian over the interior pixels;
//! - `noise`: Immerkær's estimate of the noise's standard deviation, σ = √(π/2) · Σ|I ∗ N| /
//!   (6 · interior pixels), with N the 3 × 3 operator `[1 −2 1; −2 4 −2; 1 −2 1]`;
//! - `saturated`: the share of pixels at 250 or more.
//!
//! Flags (thresholds in `[parameters]`): `underexposed` and `overexposed` (brightness, or a
//! saturated share above the limit), `blurry` (sharpness relative to contrast², so a dark image
//! is not called blurry for being dark), `noisy`, `low-contrast` and `low-resolution`. An image
//! whose bytes do not match its width and height is `corrupt`; the check
//! `images-are-readable` quarantines a run with more than 1% of those.

use tessera_sdk::relational::{Agg, GroupBy, SortKey};
use tessera_sdk::{Batch, Check, Context, Element, Gpu, GpuData, Result};

pub mod dicom;
pub mod measures;

tessera_sdk::ports!();

/// Sums per image, in the kernel's order.
pub type Sums = [f64; 8];

/// One image as read from the input.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major 8-bit pixels.
    pub pixels: &'a [u8],
}

impl ImageRef<'_> {
    /// Whether the bytes match the size.
    pub fn is_readable(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.width.checked_mul(self.height) == Some(self.pixels.len())
    }
}

/// The kernel's sums, computed on the CPU.
pub fn sums_cpu(image: ImageRef<'_>) -> Sums {
    let (w, h, p) = (image.width, image.height, image.pixels);
    let at = |i: usize| f64::from(p[i]);
    let mut s = [0.0; 8];
    for i in 0..w * h {
        let v = at(i);
        s[0] += v;
        s[1] += v * v;
        if v >= 250.0 {
            s[2] += 1.0;
        }
        let (x, y) = (i % w, i / w);
        if x > 0 && y > 0 && x + 1 < w && y + 1 < h {
            let cross = at(i - w) + at(i + w) + at(i - 1) + at(i + 1);
            let corners = at(i - w - 1) + at(i - w + 1) + at(i + w - 1) + at(i + w + 1);
            let laplacian = cross - 4.0 * v;
            s[3] += laplacian;
            s[4] += laplacian * laplacian;
            s[5] += (corners - 2.0 * cross + 4.0 * v).abs();
            s[6] += 1.0;
        }
    }
    s[7] = (w * h) as f64;
    s
}

/// Most workgroups in one dispatch dimension on every adapter.
const MAX_GROUPS: usize = 65_535;

/// The kernel's sums for every image, on the GPU: images packed four pixels to a word, one
/// dispatch per 65,535 images.
pub fn sums_gpu(gpu: &Gpu, images: &[ImageRef<'_>]) -> Result<Vec<Sums>> {
    let kernel = gpu.kernel(include_str!("image_stats.wgsl"), "main")?;
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(MAX_GROUPS) {
        let mut words: Vec<u32> = Vec::new();
        let mut layout: Vec<u32> = Vec::with_capacity(chunk.len() * 4);
        for image in chunk {
            layout.extend([
                words.len() as u32,
                image.width as u32,
                image.height as u32,
                0,
            ]);
            words.extend(image.pixels.chunks(4).map(|c| {
                c.iter()
                    .rev()
                    .fold(0u32, |word, &b| (word << 8) | u32::from(b))
            }));
        }
        if words.is_empty() {
            words.push(0);
        }
        let pixels = gpu.buffer(GpuData::U32(words))?;
        let layout = gpu.buffer(GpuData::U32(layout))?;
        let sums = gpu.zeroed(Element::F32, chunk.len() * 8)?;
        gpu.dispatch(
            &kernel,
            &[&pixels, &layout, &sums],
            [chunk.len() as u32, 1, 1],
        )?;
        match sums.read()? {
            GpuData::F32(values) => out.extend(values.chunks(8).map(|c| {
                let mut s = [0.0; 8];
                for (d, v) in s.iter_mut().zip(c) {
                    *d = f64::from(*v);
                }
                s
            })),
            _ => {
                return Err(tessera_sdk::Error::Internal(
                    "the sums came back as integers".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// A flag and the reason it was raised.
pub type Flag = (&'static str, String);

/// The figures of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Mean pixel value.
    pub brightness: f64,
    /// Standard deviation of the pixel values.
    pub contrast: f64,
    /// Variance of the Laplacian.
    pub sharpness: f64,
    /// Immerkær's noise σ.
    pub noise: f64,
    /// Share of pixels at 250 or more.
    pub saturated: f64,
}

impl Quality {
    /// The figures from the kernel's sums.
    pub fn from_sums(s: &Sums) -> Quality {
        let n = s[7].max(1.0);
        let interior = s[6].max(1.0);
        let brightness = s[0] / n;
        let lap_mean = s[3] / interior;
        Quality {
            brightness,
            contrast: (s[1] / n - brightness * brightness).max(0.0).sqrt(),
            sharpness: (s[4] / interior - lap_mean * lap_mean).max(0.0),
            noise: (std::f64::consts::FRAC_PI_2).sqrt() * s[5] / (6.0 * interior),
            saturated: s[2] / n,
        }
    }
}

/// The thresholds from `[parameters]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Darker than this is underexposed.
    pub min_brightness: f64,
    /// Brighter than this is overexposed.
    pub max_brightness: f64,
    /// More saturated pixels than this share is overexposed.
    pub max_saturated: f64,
    /// Sharpness / contrast² below this is blurry.
    pub min_sharpness_ratio: f64,
    /// Noise σ above this is noisy.
    pub max_noise: f64,
    /// Contrast below this is low contrast.
    pub min_contrast: f64,
    /// A side shorter than this is low resolution.
    pub min_side: usize,
}

impl Thresholds {
    fn read(ctx: &mut Context) -> Result<Thresholds> {
        Ok(Thresholds {
            min_brightness: ctx.parameter_f64("min_brightness")?,
            max_brightness: ctx.parameter_f64("max_brightness")?,
            max_saturated: ctx.parameter_f64("max_saturated")?,
            min_sharpness_ratio: ctx.parameter_f64("min_sharpness_ratio")?,
            max_noise: ctx.parameter_f64("max_noise")?,
            min_contrast: ctx.parameter_f64("min_contrast")?,
            min_side: usize::try_from(ctx.parameter_i64("min_side")?).unwrap_or(0),
        })
    }
}

/// The flags of one image and the reason for each.
pub fn flags(q: &Quality, width: usize, height: usize, t: &Thresholds) -> Vec<Flag> {
    let mut out = Vec::new();
    if q.brightness < t.min_brightness {
        out.push((
            "underexposed",
            format!("brightness {:.0} < {:.0}", q.brightness, t.min_brightness),
        ));
    }
    if q.brightness > t.max_brightness {
        out.push((
            "overexposed",
            format!("brightness {:.0} > {:.0}", q.brightness, t.max_brightness),
        ));
    } else if q.saturated > t.max_saturated {
        out.push((
            "overexposed",
            format!(
                "{:.1}% saturated > {:.1}%",
                q.saturated * 100.0,
                t.max_saturated * 100.0
            ),
        ));
    }
    let ratio = q.sharpness / (q.contrast * q.contrast).max(1e-9);
    if ratio < t.min_sharpness_ratio {
        out.push((
            "blurry",
            format!(
                "sharpness/contrast² {ratio:.3} < {:.3}",
                t.min_sharpness_ratio
            ),
        ));
    }
    if q.noise > t.max_noise {
        out.push((
            "noisy",
            format!("noise σ {:.1} > {:.1}", q.noise, t.max_noise),
        ));
    }
    if q.contrast < t.min_contrast {
        out.push((
            "low-contrast",
            format!("contrast {:.1} < {:.1}", q.contrast, t.min_contrast),
        ));
    }
    if width.min(height) < t.min_side {
        out.push((
            "low-resolution",
            format!("{width}×{height} < {0}×{0}", t.min_side),
        ));
    }
    out
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let t = Thresholds::read(ctx)?;
    let input = ports::images::read_all(ctx)?;
    let input = ports::images::rows(&input)?;
    let size = |v: i64| usize::try_from(v).unwrap_or(0);
    let images: Vec<ImageRef<'_>> = input
        .iter()
        .map(|i| ImageRef {
            width: size(i.width),
            height: size(i.height),
            pixels: i.pixels,
        })
        .collect();
    let readable: Vec<ImageRef<'_>> = images
        .iter()
        .copied()
        .filter(ImageRef::is_readable)
        .collect();
    let gpu = ctx.gpu()?;
    let on_gpu = gpu.info()?.backend != "cpu";
    let sums = if on_gpu {
        sums_gpu(&gpu, &readable)?
    } else {
        readable.iter().map(|image| sums_cpu(*image)).collect()
    };
    ctx.gauge("gpu", if on_gpu { 1.0 } else { 0.0 });
    let mut qualities = sums.iter().map(Quality::from_sums);
    let mut rows = Vec::with_capacity(images.len());
    for (row, image) in input.iter().zip(&images) {
        let (quality, flags) = if image.is_readable() {
            let q = qualities.next().unwrap_or(Quality::from_sums(&[0.0; 8]));
            (Some(q), flags(&q, image.width, image.height, &t))
        } else {
            let (bytes, w, h) = (image.pixels.len(), image.width, image.height);
            (
                None,
                vec![("corrupt", format!("{bytes} bytes for {w}×{h}"))],
            )
        };
        let names: Vec<&str> = flags.iter().map(|f| f.0).collect();
        let reasons: Vec<&str> = flags.iter().map(|f| f.1.as_str()).collect();
        rows.push(ports::image_quality::Row {
            image_id: row.image_id.to_string(),
            source: row.source.to_string(),
            width: row.width,
            height: row.height,
            brightness: quality.map(|q| q.brightness),
            contrast: quality.map(|q| q.contrast),
            sharpness: quality.map(|q| q.sharpness),
            noise: quality.map(|q| q.noise),
            saturated: quality.map(|q| q.saturated),
            flagged: !flags.is_empty(),
            flags: names.join(","),
            reasons: reasons.join("; "),
        });
    }
    let flagged = rows.iter().filter(|r| r.flagged).count();
    let device = if on_gpu { "GPU" } else { "CPU" };
    tessera_sdk::info!("{} images on the {device}: {flagged} flagged", images.len());
    if !rows.is_empty() {
        ctx.gauge("flagged_share", flagged as f64 / rows.len() as f64);
    }
    // One row per (image, flag), then images per flag, in flag order.
    let each_flag = rows
        .iter()
        .flat_map(|r| r.flags.split(',').filter(|f| !f.is_empty()));
    let each_flag = Batch::builder().text("flag", each_flag).build()?;
    let mut counts = GroupBy::new(&["flag"], [Agg::count_rows().named("images")]);
    counts.add(&each_flag)?;
    ports::image_quality::write(ctx, rows)?;
    let counts = counts.finish()?.sort_by(&[SortKey::asc("flag")])?;
    ctx.output(ports::flag_counts::NAME)?.write(counts)?;
    dicom_quality(ctx, &gpu, on_gpu)
}

/// Reads every DICOM file, measures the decodable ones (on the GPU when there is one) and
/// writes one row per file; no DICOM input yet writes no rows.
fn dicom_quality(ctx: &mut Context, gpu: &Gpu, on_gpu: bool) -> Result<()> {
    let files = match ports::dicom_files::read_all(ctx) {
        Ok(files) => files,
        Err(tessera_sdk::Error::NotFound(_)) => return ports::dicom_quality::write(ctx, []),
        Err(e) => return Err(e),
    };
    let files = ports::dicom_files::rows(&files)?;
    let reads: Vec<dicom::Read> = files.iter().map(|f| dicom::read(f.dicom)).collect();
    let decoded: Vec<&dicom::Pixels> = reads
        .iter()
        .filter_map(|r| r.pixels.as_ref().ok())
        .collect();
    let mut measured = if on_gpu {
        measures::measure_gpu(gpu, &decoded)?
    } else {
        decoded.iter().map(|p| measures::measure_cpu(p)).collect()
    }
    .into_iter();
    let rows: Vec<ports::dicom_quality::Row> = files
        .iter()
        .zip(&reads)
        .map(|(file, read)| {
            let h = &read.header;
            let m = read.pixels.as_ref().ok().and_then(|_| measured.next());
            ports::dicom_quality::Row {
                file_id: file.file_id.to_string(),
                modality: h.modality.clone(),
                body_part: h.body_part.clone(),
                rows: h.rows,
                columns: h.columns,
                pixel_spacing_row: h.pixel_spacing.map(|s| s.0),
                pixel_spacing_column: h.pixel_spacing.map(|s| s.1),
                bits_stored: h.bits_stored,
                transfer_syntax: h.transfer_syntax.clone(),
                window_center: h.window.map(|w| w.0),
                window_width: h.window.map(|w| w.1),
                rescale_slope: h.rescale.0,
                rescale_intercept: h.rescale.1,
                measured: m.is_some(),
                mean: m.map(|m| m.mean),
                std: m.map(|m| m.std),
                min: m.map(|m| m.min),
                max: m.map(|m| m.max),
                sharpness: m.map(|m| m.sharpness),
                noise: m.map(|m| m.noise),
                reason: read.pixels.as_ref().err().cloned().unwrap_or_default(),
            }
        })
        .collect();
    let unmeasured = rows.iter().filter(|r| !r.measured).count();
    tessera_sdk::info!(
        "{} DICOM files: {} measured, {unmeasured} with a reason",
        rows.len(),
        rows.len() - unmeasured
    );
    ctx.gauge("dicom_unmeasured", unmeasured as f64);
    ports::dicom_quality::write(ctx, rows)
}

/// The checks that need code: nearly every image must be readable.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let out = ctx.input_columns("image_quality", &["flags"])?.read_all()?;
    let flags = out.text("flags")?;
    let corrupt = (0..out.num_rows()).filter(|&i| {
        flags
            .get(i)
            .is_some_and(|f| f.split(',').any(|f| f == "corrupt"))
    });
    Ok(vec![
        Check::new("image_quality", "images-are-readable")
            .mostly(0.99)
            .rows(out.num_rows(), corrupt),
    ])
}

#[cfg(test)]
mod tests;

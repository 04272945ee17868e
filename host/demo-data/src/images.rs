//! Images for `image-quality`: seeded synthetic X-ray-like images, a quarter of them with one
//! planted defect each, and the real 8×8 digit images of the UCI optical digits data set.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::rng::Rng;

/// A defect planted in a synthetic image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Exposure far too low: the image is dark.
    Underexposed,
    /// Exposure far too high: much of the image is blown out to white.
    Overexposed,
    /// Out of focus or moved: edges are smeared.
    Blurred,
    /// Strong sensor noise.
    Noisy,
}

impl Defect {
    /// Every defect, in order.
    pub const ALL: [Defect; 4] = [
        Defect::Underexposed,
        Defect::Overexposed,
        Defect::Blurred,
        Defect::Noisy,
    ];

    /// The flag `image-quality` should raise for it.
    pub fn flag(self) -> &'static str {
        match self {
            Defect::Underexposed => "underexposed",
            Defect::Overexposed => "overexposed",
            Defect::Blurred => "blurry",
            Defect::Noisy => "noisy",
        }
    }
}

/// One 8-bit grayscale image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `xr-0000`… or `digit-0000`…
    pub id: String,
    /// `synthetic-xray` or `uci-digits`.
    pub source: &'static str,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major, `width × height` bytes.
    pub pixels: Vec<u8>,
    /// The defect planted, for synthetic images.
    pub planted: Option<Defect>,
}

/// Side of the synthetic images.
pub const SIDE: usize = 96;

/// `count` synthetic chest-X-ray-like images: a dark background, a body with two darker lung
/// fields, bright ribs and a spine, and faint film grain. Every fourth image gets a defect,
/// cycling through [`Defect::ALL`].
pub fn synthetic(count: usize, seed: u64) -> Vec<Image> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let mut pixels = clean(&mut rng);
            let planted = (i % 4 == 3).then(|| Defect::ALL[(i / 4) % 4]);
            if let Some(defect) = planted {
                apply(defect, &mut pixels, &mut rng);
            }
            Image {
                id: format!("xr-{i:04}"),
                source: "synthetic-xray",
                width: SIDE,
                height: SIDE,
                pixels: pixels
                    .iter()
                    .map(|v| v.round().clamp(0.0, 255.0) as u8)
                    .collect(),
                planted,
            }
        })
        .collect()
}

fn clean(rng: &mut Rng) -> Vec<f64> {
    let n = SIDE as f64;
    let (cx, cy) = (n / 2.0 + rng.normal() * 2.0, n / 2.0 + rng.normal() * 2.0);
    let (body_w, body_h) = (
        n * (0.40 + 0.04 * rng.unit()),
        n * (0.45 + 0.04 * rng.unit()),
    );
    let brightness = 115.0 + 20.0 * rng.unit();
    let rib_gap = 9.0 + 2.0 * rng.unit();
    let mut out = Vec::with_capacity(SIDE * SIDE);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (fx, fy) = (x as f64, y as f64);
            let body = ((fx - cx) / body_w).powi(2) + ((fy - cy) / body_h).powi(2);
            let mut v = 25.0;
            if body < 1.0 {
                v = brightness * (1.0 - 0.3 * body);
                let lung_l = ((fx - (cx - n * 0.17)) / (n * 0.13)).powi(2)
                    + ((fy - cy) / (n * 0.30)).powi(2);
                let lung_r = ((fx - (cx + n * 0.17)) / (n * 0.13)).powi(2)
                    + ((fy - cy) / (n * 0.30)).powi(2);
                if lung_l < 1.0 || lung_r < 1.0 {
                    v -= 45.0;
                    let rib_phase = ((fy + 0.15 * (fx - cx).abs()) / rib_gap).fract();
                    if rib_phase < 0.28 {
                        v += 50.0;
                    }
                }
                if (fx - cx).abs() < n * 0.04 {
                    v += 55.0;
                }
            }
            out.push(v + rng.normal() * 2.0);
        }
    }
    out
}

fn apply(defect: Defect, pixels: &mut Vec<f64>, rng: &mut Rng) {
    match defect {
        Defect::Underexposed => pixels.iter_mut().for_each(|v| *v *= 0.22),
        Defect::Overexposed => pixels.iter_mut().for_each(|v| *v = *v * 1.9 + 70.0),
        Defect::Blurred => {
            for _ in 0..3 {
                *pixels = box_blur(pixels);
            }
        }
        Defect::Noisy => pixels.iter_mut().for_each(|v| *v += rng.normal() * 28.0),
    }
}

/// A 5 × 5 mean filter, edges clamped.
fn box_blur(pixels: &[f64]) -> Vec<f64> {
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, SIDE as isize - 1) as usize;
        let y = y.clamp(0, SIDE as isize - 1) as usize;
        pixels[y * SIDE + x]
    };
    let mut out = Vec::with_capacity(pixels.len());
    for y in 0..SIDE as isize {
        for x in 0..SIDE as isize {
            let mut sum = 0.0;
            for dy in -2..=2 {
                for dx in -2..=2 {
                    sum += at(x + dx, y + dy);
                }
            }
            out.push(sum / 25.0);
        }
    }
    out
}

/// The real 8×8 digit images, pixel values 0–16 scaled by 15 to 0–240.
pub fn digits(csv: &Path) -> Result<Vec<Image>> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.is_empty())
    {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != 66 {
            bail!(
                "{} line {}: expected 66 cells, found {}",
                csv.display(),
                i + 1,
                cells.len()
            );
        }
        let pixels = cells[1..65]
            .iter()
            .map(|c| c.parse::<u8>().map(|v| v.saturating_mul(15)))
            .collect::<Result<Vec<u8>, _>>()
            .with_context(|| format!("{} line {}: a pixel is not 0-16", csv.display(), i + 1))?;
        out.push(Image {
            id: cells[0].to_string(),
            source: "uci-digits",
            width: 8,
            height: 8,
            pixels,
            planted: None,
        });
    }
    Ok(out)
}

//! DICOM files read inside the sandbox with dicom-rs: the header facts a quality team filters
//! by, and the first frame's pixel values after the modality rescale (slope and intercept),
//! in f64. Uncompressed 1- and 32-bit grayscale data, which dicom-pixeldata does not convert,
//! is read here ([`native_first_frame`]). A file that cannot be read or decoded (truncated, no
//! file meta, a compressed syntax without a decoder here, colour) gives the reason instead of
//! failing the run.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};

/// What the header says about one file (absent when the header does not say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// Modality (0008,0060), e.g. CT, MR.
    pub modality: Option<String>,
    /// Body part examined (0018,0015).
    pub body_part: Option<String>,
    /// Rows (0028,0010).
    pub rows: Option<i64>,
    /// Columns (0028,0011).
    pub columns: Option<i64>,
    /// Pixel spacing (0028,0030): between rows, then between columns, in mm.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Bits stored (0028,0101).
    pub bits_stored: Option<i64>,
    /// The transfer syntax UID of the file meta group.
    pub transfer_syntax: Option<String>,
    /// Window centre and width (0028,1050 and 0028,1051; the first when several).
    pub window: Option<(f64, f64)>,
    /// Rescale slope and intercept (0028,1053 and 0028,1052; 1 and 0 when absent).
    pub rescale: (f64, f64),
}

/// A file's pixels: the first frame, rescaled, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Pixels {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `slope · stored + intercept` for every pixel.
    pub values: Vec<f64>,
}

/// A file read: its header when one was read, and its pixels or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The header facts (default when the header itself could not be read).
    pub header: Header,
    /// The pixels, or the reason they could not be measured.
    pub pixels: Result<Pixels, String>,
}

/// Reads one DICOM Part 10 file (with or without its 128-byte preamble).
pub fn read(bytes: &[u8]) -> Read {
    let object = match OpenFileOptions::new().from_reader(std::io::Cursor::new(bytes)) {
        Ok(object) => object,
        Err(e) => {
            return Read {
                header: Header::default(),
                pixels: Err(format!("not a readable DICOM file: {e}")),
            };
        }
    };
    let header = header(&object);
    let pixels = pixels(&object, &header);
    Read { header, pixels }
}

fn text(object: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let value = object.element_opt(tag).ok()??.to_str().ok()?;
    let value = value.trim().trim_end_matches('\0').trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn numbers(object: &DefaultDicomObject, tag: Tag) -> Vec<f64> {
    text(object, tag)
        .map(|t| {
            t.split('\\')
                .filter_map(|v| v.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn integer(object: &DefaultDicomObject, tag: Tag) -> Option<i64> {
    object.element_opt(tag).ok()??.to_int::<i64>().ok()
}

fn header(object: &DefaultDicomObject) -> Header {
    let spacing = numbers(object, tags::PIXEL_SPACING);
    let centre = numbers(object, tags::WINDOW_CENTER);
    let width = numbers(object, tags::WINDOW_WIDTH);
    let slope = numbers(object, tags::RESCALE_SLOPE).first().copied();
    let intercept = numbers(object, tags::RESCALE_INTERCEPT).first().copied();
    Header {
        modality: text(object, tags::MODALITY),
        body_part: text(object, tags::BODY_PART_EXAMINED),
        rows: integer(object, tags::ROWS),
        columns: integer(object, tags::COLUMNS),
        pixel_spacing: match spacing.as_slice() {
            [row, column, ..] => Some((*row, *column)),
            _ => None,
        },
        bits_stored: integer(object, tags::BITS_STORED),
        transfer_syntax: Some(
            object
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_string(),
        ),
        window: centre.first().zip(width.first()).map(|(c, w)| (*c, *w)),
        rescale: (slope.unwrap_or(1.0), intercept.unwrap_or(0.0)),
    }
}

/// Transfer syntaxes whose pixel data is stored as is: explicit and implicit VR little endian,
/// explicit VR big endian (dicom-rs hands those values over in the machine's order).
const NATIVE_SYNTAXES: [&str; 3] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
];

/// The first frame of uncompressed grayscale pixel data with 1 or 32 bits allocated, which
/// dicom-pixeldata does not convert: bits are packed least significant first, 32-bit values
/// are signed when the pixel representation says so. `None` for anything else.
fn native_first_frame(object: &DefaultDicomObject, header: &Header) -> Option<Pixels> {
    let syntax = header.transfer_syntax.as_deref()?;
    let allocated = integer(object, tags::BITS_ALLOCATED)?;
    let samples = integer(object, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if !NATIVE_SYNTAXES.contains(&syntax) || samples != 1 || !matches!(allocated, 1 | 32) {
        return None;
    }
    let width = usize::try_from(header.columns?).ok()?;
    let height = usize::try_from(header.rows?).ok()?;
    let n = width.checked_mul(height)?;
    let signed = integer(object, tags::PIXEL_REPRESENTATION) == Some(1);
    let bytes = object
        .element_opt(tags::PIXEL_DATA)
        .ok()??
        .to_bytes()
        .ok()?;
    let stored: Vec<f64> = if allocated == 1 {
        let bits = bytes.get(..n.div_ceil(8))?;
        (0..n)
            .map(|i| f64::from((bits[i / 8] >> (i % 8)) & 1))
            .collect()
    } else {
        bytes
            .get(..n.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|c| {
                let word = [c[0], c[1], c[2], c[3]];
                if signed {
                    f64::from(i32::from_le_bytes(word))
                } else {
                    f64::from(u32::from_le_bytes(word))
                }
            })
            .collect()
    };
    let (slope, intercept) = header.rescale;
    Some(Pixels {
        width,
        height,
        values: stored.into_iter().map(|v| slope * v + intercept).collect(),
    })
}

fn pixels(object: &DefaultDicomObject, header: &Header) -> Result<Pixels, String> {
    let decoded = match object.decode_pixel_data() {
        Ok(decoded) => decoded,
        Err(e) => {
            return native_first_frame(object, header)
                .filter(|p| p.width >= 3 && p.height >= 3)
                .ok_or_else(|| format!("the pixel data cannot be decoded here: {e}"));
        }
    };
    if decoded.samples_per_pixel() != 1 {
        return Err(format!(
            "{} samples per pixel (colour): only grayscale images are measured",
            decoded.samples_per_pixel()
        ));
    }
    let (width, height) = (decoded.columns() as usize, decoded.rows() as usize);
    // Stored values, so the rescale below is the one the header states.
    let stored: Vec<f64> = match decoded.to_vec_frame_with_options(
        0,
        &ConvertOptions::new().with_modality_lut(ModalityLutOption::None),
    ) {
        Ok(stored) => stored,
        Err(e) => {
            return native_first_frame(object, header)
                .filter(|p| p.width >= 3 && p.height >= 3)
                .ok_or_else(|| format!("the pixel data cannot be decoded here: {e}"));
        }
    };
    if width < 3 || height < 3 || stored.len() != width * height {
        return Err(format!(
            "{} values for {width}×{height}: too small or inconsistent to measure",
            stored.len()
        ));
    }
    let (slope, intercept) = header.rescale;
    Ok(Pixels {
        width,
        height,
        values: stored.into_iter().map(|v| slope * v + intercept).collect(),
    })
}

//! Built-in operations whose work grows faster than their data (matmul, pairwise distances) run
//! in bands of output rows, each band its own submission, waited for before the next.
//!
//! A GPU cannot stop a dispatch once it runs, and a multiply of two large matrices can take the
//! device (on a CPU adapter such as lavapipe, the cores) for many seconds. Split into bands, the
//! device is never held by one run for much longer than [`BAND_SECONDS`] at a time, so other
//! runs' work interleaves; the first band measures the device's speed for this operation, and an
//! operation that could not finish by the run's deadline at that speed is refused after one band
//! instead of holding the device past the deadline (which would retire it for everyone). Bands
//! grow from [`ONE_SUBMISSION_WORK`] up to what the measured speed does in [`BAND_SECONDS`], by
//! at most [`BAND_GROWTH`] times per band. Each band binds a range of the left operand and of
//! the output, so its rows start at offsets the device can bind; the kernels are unchanged.

use std::num::NonZeroU64;
use std::time::Instant;

use crate::buffer::{Buffer, Element};
use crate::device::DeviceState;
use crate::dispatch::run_builtin;
use crate::error::GpuError;
use crate::ops::{TILE, device_buffer, grid};
use crate::session::Session;

/// Multiply-adds up to which an operation is one submission (about 50 ms on lavapipe on two
/// cores, microseconds on a data-centre GPU); also the first band's size, at least one tile
/// of rows.
pub(crate) const ONE_SUBMISSION_WORK: u64 = 1 << 27;
/// The time one band should keep the device busy, at the measured speed.
const BAND_SECONDS: f64 = 0.05;
/// How many times larger one band may be than the one before.
const BAND_GROWTH: u64 = 8;

/// The shape of a row-wise operation: output row `i` depends on row `i` of `a` (`a_row` values)
/// and on all of `b`, and holds `out_row` values; a row costs `a_row × out_row` multiply-adds.
pub(crate) struct RowShape {
    /// The operation's name, for errors.
    pub what: &'static str,
    /// Rows of `a` and of the output.
    pub rows: u32,
    /// Values in one row of `a`.
    pub a_row: u64,
    /// Values in one row of the output.
    pub out_row: u64,
}

impl RowShape {
    fn per_row(&self) -> u64 {
        self.a_row.saturating_mul(self.out_row).max(1)
    }

    /// The rows every band holds a multiple of, so that each band's first row of `a` and of
    /// the output start at a multiple of the device's storage offset alignment.
    fn granularity(&self, alignment: u64) -> u64 {
        let alignment = alignment.max(1);
        let step = |row: u64| alignment / gcd(row.saturating_mul(4), alignment).max(1);
        step(self.a_row).max(step(self.out_row)).max(1)
    }

    /// Rows that do about `work` multiply-adds, in whole tiles of output rows (a kernel
    /// computes a whole tile even where rows past the band's end are masked, so a smaller band
    /// would cost as much); at least one tile. A tile's rows are a whole number of granules.
    fn rows_for(&self, work: f64, granularity: u64) -> u64 {
        // A float-to-integer `as` saturates; `work` is finite and positive here.
        let rows = (work / self.per_row() as f64).max(0.0) as u64;
        let unit = lcm(TILE, granularity);
        (rows / unit * unit).max(unit)
    }
}

impl Session {
    /// Runs a built-in row-wise kernel over `a` and `b` in paced bands (see the module docs)
    /// into a new f32 output of `rows × out_row` values; `params` gives the kernel's parameter
    /// words for a band of that many rows.
    pub(crate) fn builtin_in_bands(
        &mut self,
        kernel: (&'static str, &'static str),
        a: &Buffer,
        b: &Buffer,
        shape: RowShape,
        params: impl Fn(u32) -> Vec<u32>,
    ) -> Result<Buffer, GpuError> {
        let Some(device) = self.device().cloned() else {
            return Err(GpuError::Gpu("no device for a GPU operation".into()));
        };
        let out = self.output(
            Element::F32,
            u64::from(shape.rows).saturating_mul(shape.out_row),
        )?;
        match self.run_bands(&device, kernel, [a, b, &out], &shape, params) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.release(&out);
                Err(e)
            }
        }
    }

    fn run_bands(
        &mut self,
        device: &DeviceState,
        kernel: (&'static str, &'static str),
        [a, b, out]: [&Buffer; 3],
        shape: &RowShape,
        params: impl Fn(u32) -> Vec<u32>,
    ) -> Result<(), GpuError> {
        let (a, b, out) = (device_buffer(a)?, device_buffer(b)?, device_buffer(out)?);
        let granularity =
            shape.granularity(u64::from(device.limits.min_storage_buffer_offset_alignment));
        let rows = u64::from(shape.rows);
        let per_row = shape.per_row();
        // Earlier work first, so that each band's time is its own.
        self.finish()?;
        let began_all = Instant::now();
        let mut band = shape.rows_for(ONE_SUBMISSION_WORK as f64, granularity);
        let mut start = 0;
        while start < rows {
            let end = start.saturating_add(band).min(rows);
            let here = end - start;
            let began = Instant::now();
            let bindings = [
                row_range(a, start, here, shape.a_row)?,
                b.as_entire_buffer_binding(),
                row_range(out, start, here, shape.out_row)?,
            ];
            let band_rows = u32::try_from(here).unwrap_or(u32::MAX);
            let workgroups = grid(here.div_ceil(TILE) * shape.out_row.div_ceil(TILE))?;
            run_builtin(
                self,
                device,
                kernel,
                &params(band_rows),
                &bindings,
                workgroups,
            )?;
            self.finish()?;
            start = end;
            if start >= rows {
                break;
            }
            let rate = (here * per_row) as f64 / began.elapsed().as_secs_f64().max(1e-6);
            let needed = ((rows - start) * per_row) as f64 / rate;
            let left = self
                .deadline()
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            if needed > left {
                return Err(GpuError::Limit(format!(
                    "{what} of {rows} rows would keep the GPU busy for about {needed:.1} s more \
                     at the speed it ran ({start} rows in {done:.2} s), and the run has \
                     {left:.1} s left; split it into smaller calls, or raise `resources.timeout`",
                    what = shape.what,
                    done = began_all.elapsed().as_secs_f64(),
                )));
            }
            band = shape
                .rows_for(rate * BAND_SECONDS, granularity)
                .min(here.saturating_mul(BAND_GROWTH))
                .max(granularity);
        }
        Ok(())
    }
}

/// The bytes of `rows` rows of `row_len` f32 values from row `start` on, as a binding.
fn row_range(
    buffer: &wgpu::Buffer,
    start: u64,
    rows: u64,
    row_len: u64,
) -> Result<wgpu::BufferBinding<'_>, GpuError> {
    let bytes = |rows: u64| {
        rows.checked_mul(row_len)
            .and_then(|values| values.checked_mul(4))
    };
    let (Some(offset), Some(size)) = (bytes(start), bytes(rows)) else {
        return Err(GpuError::Invalid(
            "a band of rows does not fit in 64 bits".into(),
        ));
    };
    if offset.saturating_add(size) > buffer.size() {
        return Err(GpuError::Gpu(format!(
            "a band of rows ({offset} + {size} bytes) runs past its buffer ({} bytes)",
            buffer.size()
        )));
    }
    Ok(wgpu::BufferBinding {
        buffer,
        offset,
        size: NonZeroU64::new(size),
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b).max(1) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(a_row: u64, out_row: u64) -> RowShape {
        RowShape {
            what: "matmul",
            rows: 10_000,
            a_row,
            out_row,
        }
    }

    #[test]
    fn bands_start_at_bindable_offsets() {
        // 256-byte alignment: 64 f32 values. Rows of 4096 values are aligned one by one; rows
        // of 1001 (odd) need 64 rows; rows of 6 need 32.
        assert_eq!(shape(4096, 4096).granularity(256), 1);
        assert_eq!(shape(1001, 4096).granularity(256), 64);
        assert_eq!(shape(4096, 6).granularity(256), 32);
        for (a_row, out_row) in [(1001, 7), (6, 10), (4096, 1), (3, 3)] {
            let s = shape(a_row, out_row);
            let g = s.granularity(256);
            assert_eq!((g * a_row * 4) % 256, 0, "{a_row}");
            assert_eq!((g * out_row * 4) % 256, 0, "{out_row}");
        }
    }

    #[test]
    fn band_sizes_are_whole_tiles() {
        // 2^27 multiply-adds of 2^12 per row (64 × 64): 32,768 rows, 256 tiles.
        assert_eq!(
            shape(64, 64).rows_for(ONE_SUBMISSION_WORK as f64, 1),
            32_768
        );
        // 300 × 600 per row: 745 rows, cut to 5 whole tiles.
        assert_eq!(
            shape(300, 600).rows_for(ONE_SUBMISSION_WORK as f64, 64),
            640
        );
        // Never less than one tile, even for rows costlier than the work asked for.
        assert_eq!(
            shape(4096, 4096).rows_for(ONE_SUBMISSION_WORK as f64, 1),
            TILE
        );
        assert_eq!(shape(1 << 20, 1 << 20).rows_for(1.0, 64), TILE);
    }
}

//! Plain CPU reference implementations of Tessera's built-in GPU operations (the WGSL
//! kernels in `host/gpu/kernels/`), with the same semantics and edge-case behaviour.
//!
//! All matrices are flat, row-major `f32` slices.  Inputs shorter than the
//! stated dimensions are not an error: missing elements are simply not
//! visited (the corresponding outputs keep their zero / neutral value), and
//! extra elements are ignored.  No function panics.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// Bit-pattern NaN test (matches the kernels, which cannot rely on float compares).
fn is_nan(x: f32) -> bool {
    (x.to_bits() & 0x7fff_ffff) > 0x7f80_0000
}

/// C[m×n] = A[m×k] · B[k×n] with an i-k-j loop (row of B streamed per a[i][p]).
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; m.saturating_mul(n)];
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (&aik, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            for (cv, &bv) in c_row.iter_mut().zip(b_row) {
                *cv += aik * bv;
            }
        }
    }
    c
}

/// Element-wise a + b (length = the shorter input).
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Element-wise a − b (length = the shorter input).
pub fn sub(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Element-wise a · b (length = the shorter input).
pub fn mul(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}

/// Element-wise a · s.
pub fn scale(a: &[f32], s: f32) -> Vec<f32> {
    a.iter().map(|x| x * s).collect()
}

/// Element-wise max(x, 0) as `x > 0 ? x : 0` (NaN and −0.0 give +0.0).
pub fn relu(a: &[f32]) -> Vec<f32> {
    a.iter().map(|&x| if x > 0.0 { x } else { 0.0 }).collect()
}

/// Element-wise e^x.
pub fn exp(a: &[f32]) -> Vec<f32> {
    a.iter().map(|x| x.exp()).collect()
}

/// Element-wise stable logistic: e = e^−|x|, r = 1/(1+e), x ≥ 0 ? r : e·r.
pub fn sigmoid(a: &[f32]) -> Vec<f32> {
    a.iter()
        .map(|&x| {
            let e = (-x.abs()).exp();
            let r = 1.0 / (1.0 + e);
            if x >= 0.0 { r } else { e * r }
        })
        .collect()
}

/// Iterator over the complete rows of a rows×cols matrix (empty if cols == 0).
fn rows_of(a: &[f32], rows: usize, cols: usize) -> impl Iterator<Item = &[f32]> {
    let usable = if cols == 0 {
        0
    } else {
        a.len().min(rows.saturating_mul(cols))
    };
    a.get(..usable)
        .unwrap_or_default()
        .chunks_exact(cols.max(1))
}

/// Sum of each row (0 for cols == 0), summed left to right.
pub fn row_sum(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows];
    for (o, row) in out.iter_mut().zip(rows_of(a, rows, cols)) {
        *o = row.iter().fold(0.0f32, |s, &x| s + x);
    }
    out
}

/// (value, index) of the row maximum under "NaN < −inf < … < +inf", ties → smallest index.
fn arg_best(row: &[f32]) -> Option<(f32, usize)> {
    let mut best: Option<(f32, usize)> = None;
    for (i, &v) in row.iter().enumerate() {
        best = match best {
            None => Some((v, i)),
            Some((bv, bi)) => {
                // Indices increase, so equal values (or NaN after NaN) keep the earlier one.
                let take = !is_nan(v) && (is_nan(bv) || v > bv);
                if take { Some((v, i)) } else { Some((bv, bi)) }
            }
        };
    }
    best
}

/// Maximum of each row with NaN ranked below everything (NaN only for an all-NaN row, −inf for cols == 0).
pub fn row_max(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![f32::NEG_INFINITY; rows];
    for (o, row) in out.iter_mut().zip(rows_of(a, rows, cols)) {
        if let Some((v, _)) = arg_best(row) {
            *o = v;
        }
    }
    out
}

/// Column of each row's maximum (NaN ranked lowest, ties → smallest index, 0 for cols == 0).
pub fn row_argmax(a: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    let mut out = vec![0u32; rows];
    for (o, row) in out.iter_mut().zip(rows_of(a, rows, cols)) {
        if let Some((_, i)) = arg_best(row) {
            *o = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    out
}

/// Row-wise softmax exp(x − max) / Σ exp(x − max) (a row with +inf/NaN, or all −inf, gives NaN).
pub fn softmax_rows(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows.saturating_mul(cols)];
    if cols == 0 {
        return out;
    }
    for (o_row, row) in out.chunks_exact_mut(cols).zip(rows_of(a, rows, cols)) {
        let m = row
            .iter()
            .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
        let mut sum = 0.0f32;
        for (o, &x) in o_row.iter_mut().zip(row) {
            *o = (x - m).exp();
            sum += *o;
        }
        for o in o_row.iter_mut() {
            *o /= sum;
        }
    }
    out
}

/// D[i][j] = Σ_d (A[i][d] − B[j][d])² in the direct difference form (A n_a×dim, B n_b×dim).
pub fn sq_distances(a: &[f32], b: &[f32], n_a: usize, n_b: usize, dim: usize) -> Vec<f32> {
    let mut d = vec![0.0f32; n_a.saturating_mul(n_b)];
    if dim == 0 || n_b == 0 {
        return d;
    }
    for (d_row, a_row) in d.chunks_exact_mut(n_b).zip(rows_of(a, n_a, dim)) {
        for (dv, b_row) in d_row.iter_mut().zip(rows_of(b, n_b, dim)) {
            *dv = a_row.iter().zip(b_row).fold(0.0f32, |s, (&x, &y)| {
                let t = x - y;
                s + t * t
            });
        }
    }
    d
}

/// 3×3 correlation with clamp-to-edge borders: out[y][x] = Σ_dy Σ_dx w[(dy+1)·3+dx+1]·in[clamp(y+dy)][clamp(x+dx)].
pub fn filter3x3(img: &[f32], width: usize, height: usize, w: &[f32; 9]) -> Vec<f32> {
    let mut out = vec![0.0f32; width.saturating_mul(height)];
    if width == 0 || height == 0 || img.len() < out.len() {
        return out;
    }
    let px = |x: usize, y: usize| img.get(y * width + x).copied().unwrap_or(0.0);
    for (y, o_row) in out.chunks_exact_mut(width).enumerate() {
        let ys = [y.saturating_sub(1), y, (y + 1).min(height - 1)];
        for (x, o) in o_row.iter_mut().enumerate() {
            let xs = [x.saturating_sub(1), x, (x + 1).min(width - 1)];
            let mut acc = 0.0f32;
            for (wr, &yy) in w.chunks_exact(3).zip(&ys) {
                for (&wv, &xx) in wr.iter().zip(&xs) {
                    acc += wv * px(xx, yy);
                }
            }
            *o = acc;
        }
    }
    out
}

/// Counts per bin over [lo, hi]: bin = floor((v−lo)/(hi−lo)·bins), v == hi → last bin, NaN/outside ignored.
pub fn histogram(values: &[f32], bins: usize, lo: f32, hi: f32) -> Vec<u32> {
    let mut counts = vec![0u32; bins];
    let Some(last) = bins.checked_sub(1) else {
        return counts;
    };
    for &v in values {
        if is_nan(v) || v < lo || v > hi {
            continue;
        }
        let bin = if v >= hi {
            last
        } else {
            // Same f32 operations as the kernel; `as` saturates and floor(t) >= 0 here.
            let t = ((v - lo) / (hi - lo) * bins as f32).floor();
            (t as usize).min(last)
        };
        if let Some(c) = counts.get_mut(bin) {
            *c = c.wrapping_add(1);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_small() {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        assert_eq!(matmul(&a, &b, 2, 3, 2), vec![58.0, 64.0, 139.0, 154.0]);
        // 1×1×1 and an outer product (k = 1).
        assert_eq!(matmul(&[3.0], &[-2.0], 1, 1, 1), vec![-6.0]);
        assert_eq!(
            matmul(&[1.0, 2.0], &[3.0, 4.0, 5.0], 2, 1, 3),
            vec![3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        );
        // k = 0 gives zeros, no panic.
        assert_eq!(matmul(&[], &[], 2, 0, 2), vec![0.0; 4]);
    }

    #[test]
    fn binary_ops() {
        let a = [1.0, -2.0, 3.5];
        let b = [0.5, 4.0, -1.0];
        assert_eq!(add(&a, &b), vec![1.5, 2.0, 2.5]);
        assert_eq!(sub(&a, &b), vec![0.5, -6.0, 4.5]);
        assert_eq!(mul(&a, &b), vec![0.5, -8.0, -3.5]);
    }

    #[test]
    fn unary_ops() {
        assert_eq!(scale(&[1.0, -2.0, 0.25], 4.0), vec![4.0, -8.0, 1.0]);
        let r = relu(&[-1.0, 0.0, 2.5, -0.0, f32::NAN]);
        assert_eq!(r, vec![0.0, 0.0, 2.5, 0.0, 0.0]);
        assert!(r.iter().all(|x| x.is_sign_positive()));
        assert_eq!(exp(&[0.0, 1.0]), vec![1.0, std::f32::consts::E]);
        assert_eq!(exp(&[-1000.0])[0], 0.0);
    }

    #[test]
    fn sigmoid_values() {
        let s = sigmoid(&[0.0, 1000.0, -1000.0, 2.0, -2.0]);
        assert_eq!(s[0], 0.5);
        assert_eq!(s[1], 1.0);
        assert_eq!(s[2], 0.0);
        // 1 / (1 + e^-2) = 0.880797..., and sigmoid(-2) = 1 - sigmoid(2).
        assert!((s[3] - 0.880_797_1).abs() < 1e-6);
        assert!((s[4] - 0.119_202_92).abs() < 1e-6);
        assert!(s.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn row_reductions() {
        let a = [1.0, 5.0, 5.0, -1.0, -7.0, -3.0, -3.0, -9.0];
        assert_eq!(row_sum(&a, 2, 4), vec![10.0, -22.0]);
        assert_eq!(row_max(&a, 2, 4), vec![5.0, -3.0]);
        assert_eq!(row_argmax(&a, 2, 4), vec![1, 1]);
        // NaN ranks below everything, even -inf; all-NaN row -> NaN / index 0.
        let n = f32::NAN;
        let b = [n, f32::NEG_INFINITY, n, n, n, 2.0, n, n, n];
        let m = row_max(&b, 3, 3);
        assert_eq!(m[0], f32::NEG_INFINITY);
        assert_eq!(m[1], 2.0);
        assert!(m[2].is_nan());
        assert_eq!(row_argmax(&b, 3, 3), vec![1, 2, 0]);
        // cols == 0.
        assert_eq!(row_sum(&[], 2, 0), vec![0.0, 0.0]);
        assert_eq!(row_max(&[], 1, 0), vec![f32::NEG_INFINITY]);
        assert_eq!(row_argmax(&[], 1, 0), vec![0]);
    }

    #[test]
    fn softmax_small() {
        // Equal entries -> uniform; [0, ln 3] -> [1/4, 3/4]; shift invariance.
        let s = softmax_rows(&[2.0, 2.0, 2.0, 2.0], 1, 4);
        assert_eq!(s, vec![0.25; 4]);
        let t = softmax_rows(&[0.0, 3f32.ln(), 1000.0, 1000.0], 2, 2);
        assert!((t[0] - 0.25).abs() < 1e-7);
        assert!((t[1] - 0.75).abs() < 1e-7);
        assert_eq!(&t[2..], &[0.5, 0.5]);
        // -inf entries get exactly 0.
        let u = softmax_rows(&[f32::NEG_INFINITY, 0.0], 1, 2);
        assert_eq!(u, vec![0.0, 1.0]);
    }

    #[test]
    fn distances_small() {
        // A = [(0,0), (1,2)], B = [(3,4), (1,2), (0,0)]
        let a = [0.0, 0.0, 1.0, 2.0];
        let b = [3.0, 4.0, 1.0, 2.0, 0.0, 0.0];
        assert_eq!(
            sq_distances(&a, &b, 2, 3, 2),
            vec![25.0, 5.0, 0.0, 8.0, 0.0, 5.0]
        );
        assert_eq!(sq_distances(&[], &[], 1, 2, 0), vec![0.0, 0.0]);
    }

    #[test]
    fn filter_small() {
        // Identity kernel reproduces the image.
        let img = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut id = [0.0; 9];
        id[4] = 1.0;
        assert_eq!(filter3x3(&img, 3, 2, &id), img.to_vec());
        // Box sum with clamp-to-edge on a 3×2 image [1 2 3; 4 5 6]:
        // (0,0): rows {0,0,1} × cols {0,0,1} = 2·(1+1+2) + (4+4+5) = 21.
        let ones = [1.0; 9];
        assert_eq!(
            filter3x3(&img, 3, 2, &ones),
            vec![21.0, 27.0, 33.0, 30.0, 36.0, 42.0]
        );
        // Shift kernel (w[5]: dx = +1) clamps at the right edge.
        let mut right = [0.0; 9];
        right[5] = 1.0;
        assert_eq!(
            filter3x3(&img, 3, 2, &right),
            vec![2.0, 3.0, 3.0, 5.0, 6.0, 6.0]
        );
        // 1×1 image: every tap is the single pixel.
        assert_eq!(filter3x3(&[2.0], 1, 1, &ones), vec![18.0]);
    }

    #[test]
    fn histogram_small() {
        let v = [0.0, 0.1, 0.25, 0.5, 0.99, 1.0, -0.1, 1.1, f32::NAN];
        // 4 bins over [0, 1]: 0 and 0.1 -> 0, 0.25 -> 1, 0.5 -> 2, 0.99 and 1.0 (== hi) -> 3.
        assert_eq!(histogram(&v, 4, 0.0, 1.0), vec![2, 1, 1, 2]);
        assert_eq!(histogram(&v, 1, 0.0, 1.0), vec![6]);
        assert_eq!(histogram(&v, 0, 0.0, 1.0), Vec::<u32>::new());
        // hi == lo: only v == hi counts, in the last bin; hi < lo counts nothing.
        assert_eq!(histogram(&[2.0, 2.0, 3.0], 3, 2.0, 2.0), vec![0, 0, 2]);
        assert_eq!(histogram(&[0.5], 2, 1.0, 0.0), vec![0, 0]);
        // Negative range.
        assert_eq!(
            histogram(&[-4.0, -2.0, -1.0, 0.0], 2, -4.0, 0.0),
            vec![1, 3]
        );
    }
}

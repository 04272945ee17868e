//! The small streaming sketches column statistics are built from: a HyperLogLog for distinct
//! counts, and a deterministic systematic sample for quantiles, histograms and top values.

/// Mixes a 64-bit value into a well-spread hash (SplitMix64's finaliser).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fast 64-bit hash of bytes, eight at a time, finished with [`mix64`].
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    for (to, from) in tail.iter_mut().zip(rest) {
        *to = *from;
    }
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    mix64(h)
}

/// HyperLogLog with 2^14 registers: a distinct count with a standard error of about 0.8%.
#[derive(Clone)]
pub struct HyperLogLog {
    registers: Vec<u8>,
}

const PRECISION: u32 = 14;

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog {
            registers: vec![0; 1 << PRECISION],
        }
    }
}

impl HyperLogLog {
    /// Adds a hashed value.
    pub fn add(&mut self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        let rest = (hash << PRECISION) | (1 << (PRECISION - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if let Some(register) = self.registers.get_mut(index)
            && rank > *register
        {
            *register = rank;
        }
    }

    /// The estimated number of distinct values added.
    pub fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            // Linear counting for small cardinalities.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// Keeps every `stride`-th value seen; when full, keeps every other kept value and doubles the
/// stride. Deterministic, one pass, bounded memory; holds every value while fewer than
/// `capacity` were seen (then statistics from it are exact).
pub struct Sample<T> {
    values: Vec<T>,
    capacity: usize,
    stride: u64,
    seen: u64,
}

impl<T> Sample<T> {
    /// An empty sample holding at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        Sample {
            values: Vec::new(),
            capacity: capacity.max(2),
            stride: 1,
            seen: 0,
        }
    }

    /// Offers `len` values at once; `value_at(i)` is called only for the kept positions.
    pub fn offer_many(&mut self, len: usize, mut value_at: impl FnMut(usize) -> T) {
        let len = len as u64;
        let mut next = (self.stride - self.seen % self.stride) % self.stride;
        while next < len {
            self.values.push(value_at(next as usize));
            if self.values.len() >= self.capacity {
                let mut i = 0;
                self.values.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                // Kept positions so far are multiples of the new stride; continue on them.
                let absolute = self.seen + next;
                self.stride *= 2;
                let following = (absolute / self.stride + 1) * self.stride;
                next = following - self.seen;
            } else {
                next += self.stride;
            }
        }
        self.seen += len;
    }

    /// The kept values.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Whether the sample holds every value offered.
    pub fn is_complete(&self) -> bool {
        self.stride == 1
    }

    /// Takes the values out.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperloglog_is_exact_for_few_and_close_for_many() {
        let mut small = HyperLogLog::default();
        for i in 0..100u64 {
            small.add(mix64(i));
            small.add(mix64(i));
        }
        assert_eq!(small.estimate(), 100);
        let mut large = HyperLogLog::default();
        for i in 0..1_000_000u64 {
            large.add(mix64(i));
        }
        let error = (large.estimate() as f64 - 1e6).abs() / 1e6;
        assert!(error < 0.03, "error {error}");
    }

    #[test]
    fn the_sample_thins_evenly_and_stays_bounded() {
        let mut sample = Sample::new(8);
        sample.offer_many(7, |i| i as u64);
        assert!(sample.is_complete());
        assert_eq!(sample.values(), [0, 1, 2, 3, 4, 5, 6]);
        sample.offer_many(93, |i| 7 + i as u64);
        assert!(!sample.is_complete());
        assert!(sample.values().len() < 8);
        let stride = sample.values()[1] - sample.values()[0];
        assert!(stride.is_power_of_two());
        assert!(sample.values().iter().all(|v| v % stride == 0));
        assert!(sample.values().windows(2).all(|w| w[1] - w[0] == stride));
    }

    #[test]
    fn how_values_arrive_does_not_change_the_sample() {
        let mut one_by_one = Sample::new(16);
        let mut in_chunks = Sample::new(16);
        for i in 0..1000u64 {
            one_by_one.offer_many(1, |_| i);
        }
        for start in (0..1000u64).step_by(37) {
            let len = 37.min(1000 - start) as usize;
            in_chunks.offer_many(len, |i| start + i as u64);
        }
        assert_eq!(one_by_one.values(), in_chunks.values());
    }

    #[test]
    fn hashes_spread_short_strings() {
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"b"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"abcdefgh1"), hash_bytes(b"abcdefgh2"));
    }
}

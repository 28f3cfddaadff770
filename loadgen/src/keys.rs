//! Keys and values. Key `i` is `k` followed by `i` zero-padded to exactly `key_size` bytes;
//! its value is `value_size` printable bytes generated from a hash of the key, so any response
//! can be verified without storing values.

/// SplitMix64: a tiny, fast, well-distributed 64-bit generator (also used to seed others).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// An independent stream for connection `index` of a run seeded with `seed`.
    pub fn for_stream(seed: u64, index: u64) -> Rng {
        let mut r = Rng::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        let s = r.next_u64();
        Rng::new(s)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) (n > 0), by multiply-shift (bias negligible for n << 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Decimal digits needed for `n`.
pub fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Smallest key size that can name `keys` distinct keys.
pub fn min_key_size(keys: u64) -> usize {
    1 + digits(keys.saturating_sub(1))
}

/// Append key number `idx` (`k` + zero-padded decimal, `key_size` bytes in all).
pub fn write_key(out: &mut Vec<u8>, idx: u64, key_size: usize) {
    debug_assert!(key_size > digits(idx));
    out.push(b'k');
    let width = key_size - 1;
    let start = out.len();
    out.resize(start + width, b'0');
    let mut n = idx;
    let mut pos = start + width;
    while n > 0 {
        pos -= 1;
        out[pos] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// The value bytes for `key`, produced 8 at a time (each 6 bits of a SplitMix64 output).
struct ValueStream {
    rng: Rng,
}

impl ValueStream {
    fn new(key: &[u8]) -> ValueStream {
        ValueStream {
            rng: Rng::new(fnv1a(key)),
        }
    }

    fn chunk(&mut self) -> [u8; 8] {
        let x = self.rng.next_u64();
        let mut c = [0u8; 8];
        for (i, b) in c.iter_mut().enumerate() {
            *b = ALPHABET[((x >> (6 * i)) & 63) as usize];
        }
        c
    }
}

/// Append the `len`-byte value derived from `key`.
pub fn write_value(out: &mut Vec<u8>, key: &[u8], len: usize) {
    let mut s = ValueStream::new(key);
    let mut left = len;
    while left > 0 {
        let c = s.chunk();
        let n = left.min(8);
        out.extend_from_slice(&c[..n]);
        left -= n;
    }
}

/// Whether `data` is exactly the value derived from `key` with length `len`.
pub fn value_matches(key: &[u8], len: usize, data: &[u8]) -> bool {
    if data.len() != len {
        return false;
    }
    let mut s = ValueStream::new(key);
    data.chunks(8).all(|got| got == &s.chunk()[..got.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(idx: u64, size: usize) -> Vec<u8> {
        let mut v = Vec::new();
        write_key(&mut v, idx, size);
        v
    }

    #[test]
    fn keys_are_fixed_width_and_distinct() {
        assert_eq!(key(0, 16), b"k000000000000000");
        assert_eq!(key(9999, 16), b"k000000000009999");
        assert_eq!(key(42, 3), b"k42");
        assert_eq!(min_key_size(1), 2);
        assert_eq!(min_key_size(10), 2);
        assert_eq!(min_key_size(11), 3);
        assert_eq!(min_key_size(10_000), 5);
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let k = key(i, min_key_size(1000));
            assert_eq!(k.len(), 4);
            assert!(seen.insert(k));
        }
    }

    #[test]
    fn values_are_deterministic_printable_and_key_dependent() {
        let k1 = key(1, 16);
        let k2 = key(2, 16);
        for len in [0usize, 1, 7, 8, 9, 64, 1000] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            write_value(&mut a, &k1, len);
            write_value(&mut b, &k1, len);
            assert_eq!(a.len(), len);
            assert_eq!(a, b);
            assert!(a.iter().all(|c| ALPHABET.contains(c)));
            assert!(value_matches(&k1, len, &a));
            if len > 0 {
                let mut c = Vec::new();
                write_value(&mut c, &k2, len);
                assert_ne!(a, c, "len {len}");
                assert!(!value_matches(&k2, len, &a));
                // Any single corrupted byte is caught.
                let mut bad = a.clone();
                bad[len - 1] ^= 1;
                assert!(!value_matches(&k1, len, &bad));
                // Wrong length is caught.
                assert!(!value_matches(&k1, len, &a[..len - 1]));
            }
        }
        // A longer value starts with the shorter one (same stream).
        let mut short = Vec::new();
        let mut long = Vec::new();
        write_value(&mut short, &k1, 13);
        write_value(&mut long, &k1, 64);
        assert_eq!(&long[..13], &short[..]);
    }

    #[test]
    fn rng_is_seeded_and_uniform_enough() {
        let mut a = Rng::for_stream(7, 3);
        let mut b = Rng::for_stream(7, 3);
        let mut c = Rng::for_stream(7, 4);
        let xs: Vec<u64> = (0..10).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..10).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..10).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mut r = Rng::new(1);
        let n = 100_000;
        let mut buckets = [0u32; 10];
        let mut sum = 0.0;
        for _ in 0..n {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            sum += f;
            buckets[r.below(10) as usize] += 1;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.01);
        for b in buckets {
            assert!((9_500..10_500).contains(&b), "{buckets:?}");
        }
    }
}

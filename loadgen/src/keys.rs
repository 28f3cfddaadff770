//! Keys and values. Key `i` is `k` followed by `i` zero-padded to exactly `key_size` bytes;
//! its value is `value_size` printable bytes generated from a hash of the key, so any response
//! can be verified without storing values. Both sizes are fixed, or drawn per key from the
//! Facebook distributions (`Sizes`) as a pure function of the key number, so that the preload,
//! every connection's sets and the verification of gets agree on them.

use crate::config::MAX_VALUE_SIZE;
use crate::dist::{self, KeySize, ValueSize};

/// memcached's longest key.
pub const MAX_KEY_SIZE: usize = 250;

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

    /// Uniform in (0, 1), never 0 or 1 (see `open01`).
    pub fn next_open01(&mut self) -> f64 {
        open01(self.next_u64())
    }

    /// Uniform in [0, n) (n > 0), by multiply-shift (bias negligible for n << 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Map 64 random bits to (0, 1), never 0 or 1, for inverse CDFs that are infinite at either
/// end: the midpoints of 2^52 equal cells (52 bits, not 53, so that every midpoint is exact and
/// the largest stays below 1).
pub fn open01(bits: u64) -> f64 {
    ((bits >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
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

/// Salts that make a key's size and its value's size independent draws.
const KEY_SIZE_SALT: u64 = 0x6b65_795f_7369_7a65;
const VALUE_SIZE_SALT: u64 = 0x7661_6c5f_7369_7a65;

/// A uniform in (0, 1) that depends only on key number `idx` and `salt`: connections and the
/// preload then agree on a key's sizes without sharing state. Like mutilate (which hashes the
/// key index for its key lengths) it ignores `--seed`, so every run has the same key population.
fn key_uniform(idx: u64, salt: u64) -> f64 {
    Rng::new(idx ^ salt).next_open01()
}

/// An `fb_key` length for uniform `p`: rounded to whole bytes as mutilate does, raised to
/// `min` so that the key can still hold its number (mutilate likewise pads to the digits of
/// the key count), and capped at memcached's 250 (reached by about one key in 1.7 million).
pub fn fb_key_size(p: f64, min: usize) -> usize {
    dist::fb_key(p)
        .round()
        .clamp(min as f64, MAX_KEY_SIZE as f64) as usize
}

/// An `fb_value` length for uniform `p`: truncated to whole bytes (mutilate hands the sample to
/// an `int` length) and capped at `MAX_VALUE_SIZE` (1 MiB; the tail passes it with probability
/// about 3e-10, and its 99.99th percentile is about 12 KB).
pub fn fb_value_size(p: f64) -> usize {
    dist::fb_value(p).min(MAX_VALUE_SIZE as f64) as usize
}

/// The key and value lengths of every key of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizes {
    key: KeySize,
    value: ValueSize,
    /// Shortest key that holds every key number of the run.
    min_key: usize,
}

impl Sizes {
    /// Sizes for a run over key numbers `0..keys`.
    pub fn new(key: KeySize, value: ValueSize, keys: u64) -> Sizes {
        Sizes {
            key,
            value,
            min_key: min_key_size(keys),
        }
    }

    /// Length of key number `idx`.
    pub fn key_size(&self, idx: u64) -> usize {
        match self.key {
            KeySize::Fixed(n) => n,
            KeySize::FbKey => fb_key_size(key_uniform(idx, KEY_SIZE_SALT), self.min_key),
        }
    }

    /// Length of the value of key number `idx`.
    pub fn value_size(&self, idx: u64) -> usize {
        match self.value {
            ValueSize::Fixed(n) => n,
            ValueSize::FbValue => fb_value_size(key_uniform(idx, VALUE_SIZE_SALT)),
        }
    }
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
    fn fixed_sizes_are_the_same_for_every_key() {
        let s = Sizes::new(KeySize::Fixed(16), ValueSize::Fixed(64), 10_000);
        for i in [0, 1, 9_999, u32::MAX as u64] {
            assert_eq!((s.key_size(i), s.value_size(i)), (16, 64));
        }
    }

    #[test]
    fn fb_sizes_are_per_key_deterministic_and_clamped() {
        let keys = 100_000;
        let a = Sizes::new(KeySize::FbKey, ValueSize::FbValue, keys);
        let b = Sizes::new(KeySize::FbKey, ValueSize::FbValue, keys);
        let ks: Vec<usize> = (0..keys).map(|i| a.key_size(i)).collect();
        let vs: Vec<usize> = (0..keys).map(|i| a.value_size(i)).collect();
        assert!((0..keys).all(|i| b.key_size(i) == ks[i as usize]));
        assert!((0..keys).all(|i| b.value_size(i) == vs[i as usize]));
        assert!(ks
            .iter()
            .all(|&k| (min_key_size(keys)..=MAX_KEY_SIZE).contains(&k)));
        assert!(vs.iter().all(|&v| v <= MAX_VALUE_SIZE));
        // Over the key population the sizes follow the distributions (means ~36.2 for keys,
        // rounded; ~194 for values, truncated, so about half a byte less on the tail).
        let mean = |xs: &[usize]| xs.iter().sum::<usize>() as f64 / xs.len() as f64;
        assert!((mean(&ks) - 36.22).abs() < 0.3, "{}", mean(&ks));
        assert!((mean(&vs) / 194.2 - 1.0).abs() < 0.05, "{}", mean(&vs));
        // Independent draws: a key's length says nothing about its value's length.
        let (mk, mv) = (mean(&ks), mean(&vs));
        let cov = ks
            .iter()
            .zip(&vs)
            .map(|(&k, &v)| (k as f64 - mk) * (v as f64 - mv))
            .sum::<f64>()
            / keys as f64;
        let sd = |xs: &[usize], m: f64| {
            (xs.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt()
        };
        let corr = cov / (sd(&ks, mk) * sd(&vs, mv));
        assert!(corr.abs() < 0.02, "correlation {corr}");
        // Every key still has a distinct name, whatever its length.
        let mut seen = std::collections::HashSet::new();
        for i in 0..keys {
            let mut k = Vec::new();
            write_key(&mut k, i, a.key_size(i));
            assert_eq!(k.len(), a.key_size(i));
            assert!(seen.insert(k));
        }
    }

    #[test]
    fn fb_size_rounding_and_limits() {
        // The lower end of the GEV is far below the shortest usable key: clamped up.
        assert_eq!(fb_key_size(1e-300, 7), 7);
        assert_eq!(fb_key_size(1.0 - 1e-16, 7), MAX_KEY_SIZE);
        // Rounded to the nearest byte.
        let p = (0..1000)
            .map(|i| i as f64 / 1000.0 + 0.0005)
            .find(|&p| dist::fb_key(p).fract() > 0.5)
            .unwrap();
        assert_eq!(fb_key_size(p, 2), dist::fb_key(p).ceil() as usize);
        // Values: table sizes exactly, the tail truncated, the far tail capped.
        assert_eq!(fb_value_size(0.0), 0);
        assert_eq!(fb_value_size(0.1), 2);
        assert_eq!(fb_value_size(0.5), dist::fb_value(0.5).floor() as usize);
        assert_eq!(fb_value_size(1.0 - 1e-16), MAX_VALUE_SIZE);
    }

    #[test]
    fn open_uniform_never_hits_the_ends() {
        let mut r = Rng::new(3);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let u = r.next_open01();
            assert!(u > 0.0 && u < 1.0);
            sum += u;
        }
        assert!((sum / 100_000.0 - 0.5).abs() < 0.01);
        assert!(open01(0) > 0.0 && open01(u64::MAX) < 1.0);
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

//! The Facebook "ETC" workload distributions as mutilate defines them (Atikoglu et al.,
//! "Workload Analysis of a Large-Scale Key-Value Store", SIGMETRICS 2012), so that runs can be
//! compared with published mutilate numbers (`--keysize fb_key --valuesize fb_value
//! --iadist fb_ia`).
//!
//! Every sampler here is a pure inverse CDF: it maps a uniform `p` in (0, 1) to a sample, so it
//! can be tested against the analytic quantiles and driven by any (seeded or hashed) uniform.
//! mutilate feeds its formulas `U` where the textbook quantile has `1 - U`; the two are equal
//! in distribution, and the textbook orientation used here keeps each sampler monotone in `p`.

use std::fmt;
use std::str::FromStr;

/// Generalized extreme value distribution, F(x) = exp(-(1 + shape (x - loc) / scale)^(-1/shape)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gev {
    pub loc: f64,
    pub scale: f64,
    pub shape: f64,
}

impl Gev {
    /// Inverse CDF: loc + scale ((-ln p)^(-shape) - 1) / shape.
    pub fn quantile(&self, p: f64) -> f64 {
        debug_assert!(p > 0.0 && p < 1.0, "p = {p}");
        self.loc + self.scale * ((-p.ln()).powf(-self.shape) - 1.0) / self.shape
    }
}

/// Generalized Pareto distribution, F(x) = 1 - (1 + shape (x - loc) / scale)^(-1/shape).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GPareto {
    pub loc: f64,
    pub scale: f64,
    pub shape: f64,
}

impl GPareto {
    /// Inverse CDF: loc + scale ((1 - p)^(-shape) - 1) / shape.
    pub fn quantile(&self, p: f64) -> f64 {
        debug_assert!((0.0..1.0).contains(&p), "p = {p}");
        self.loc + self.scale * ((1.0 - p).powf(-self.shape) - 1.0) / self.shape
    }

    /// loc + scale / (1 - shape); finite for shape < 1, which holds for every use here.
    pub fn mean(&self) -> f64 {
        self.loc + self.scale / (1.0 - self.shape)
    }
}

/// Key sizes in bytes (mutilate `fb_key`, Generator.cc `createFacebookKey`).
pub const FB_KEY: Gev = Gev {
    loc: 30.7984,
    scale: 8.20449,
    shape: 0.078688,
};

/// Probability of each value size 0, 1, ..., 14 bytes (mutilate `createFacebookValue`'s
/// discrete part, in the same order: the cumulative sum is compared with `p` in that order).
/// They add up to 0.44155; the remaining mass is `FB_VALUE_TAIL`.
pub const FB_VALUE_SMALL: [f64; 15] = [
    0.00536, 0.00047, 0.17820, 0.09239, 0.00018, 0.02740, 0.00065, 0.00606, 0.00023, 0.00837,
    0.00837, 0.08989, 0.00092, 0.00326, 0.01980,
];

/// Value sizes of 15 bytes and more (mutilate `createFacebookValue`'s default generator).
pub const FB_VALUE_TAIL: GPareto = GPareto {
    loc: 15.0,
    scale: 214.476,
    shape: 0.348238,
};

/// Inter-arrival times in mutilate's `fb_ia`. Only its shape matters for a run: the schedule
/// rescales it to the requested rate, as mutilate's `set_lambda` does.
pub const FB_IA: GPareto = GPareto {
    loc: 0.0,
    scale: 16.0292,
    shape: 0.154971,
};

/// A key size from `fb_key`, before rounding and clamping.
pub fn fb_key(p: f64) -> f64 {
    FB_KEY.quantile(p)
}

/// A value size from `fb_value`, before truncation to whole bytes: the small sizes of the
/// table with their probabilities, else the Pareto tail. mutilate draws the tail from a fresh
/// uniform; rescaling the part of `p` above the table's mass to (0, 1) is the same in
/// distribution and keeps this a single-uniform inverse CDF.
pub fn fb_value(p: f64) -> f64 {
    let mut cumulative = 0.0;
    for (size, prob) in FB_VALUE_SMALL.iter().enumerate() {
        cumulative += prob;
        if p < cumulative {
            return size as f64;
        }
    }
    FB_VALUE_TAIL.quantile((p - cumulative) / (1.0 - cumulative))
}

/// An inter-arrival time from `fb_ia` (mean `FB_IA.mean()`).
pub fn fb_ia(p: f64) -> f64 {
    FB_IA.quantile(p)
}

/// `--key-size`: a fixed length, or per-key lengths from `fb_key`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeySize {
    Fixed(usize),
    FbKey,
}

/// `--value-size`: a fixed length, or per-key lengths from `fb_value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueSize {
    Fixed(usize),
    FbValue,
}

impl KeySize {
    /// The byte count when fixed.
    pub fn fixed(&self) -> Option<usize> {
        match *self {
            KeySize::Fixed(n) => Some(n),
            KeySize::FbKey => None,
        }
    }
}

impl ValueSize {
    /// The byte count when fixed.
    pub fn fixed(&self) -> Option<usize> {
        match *self {
            ValueSize::Fixed(n) => Some(n),
            ValueSize::FbValue => None,
        }
    }
}

/// `--ia`: the open-loop inter-arrival distribution.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Arrivals {
    /// Poisson arrivals.
    #[default]
    Exponential,
    /// mutilate's `fb_ia`, scaled to the rate.
    FbIa,
}

impl FromStr for KeySize {
    type Err = String;
    fn from_str(s: &str) -> Result<KeySize, String> {
        if s == "fb_key" {
            return Ok(KeySize::FbKey);
        }
        s.parse()
            .map(KeySize::Fixed)
            .map_err(|_| "expected a number of bytes or fb_key".into())
    }
}

impl FromStr for ValueSize {
    type Err = String;
    fn from_str(s: &str) -> Result<ValueSize, String> {
        if s == "fb_value" {
            return Ok(ValueSize::FbValue);
        }
        s.parse()
            .map(ValueSize::Fixed)
            .map_err(|_| "expected a number of bytes or fb_value".into())
    }
}

impl FromStr for Arrivals {
    type Err = String;
    fn from_str(s: &str) -> Result<Arrivals, String> {
        match s {
            "exponential" => Ok(Arrivals::Exponential),
            "fb_ia" => Ok(Arrivals::FbIa),
            _ => Err("expected exponential or fb_ia".into()),
        }
    }
}

/// Shown as on the command line: the byte count or the distribution name.
impl fmt::Display for KeySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySize::Fixed(n) => write!(f, "{n}"),
            KeySize::FbKey => f.write_str("fb_key"),
        }
    }
}

impl fmt::Display for ValueSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSize::Fixed(n) => write!(f, "{n}"),
            ValueSize::FbValue => f.write_str("fb_value"),
        }
    }
}

impl fmt::Display for Arrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arrivals::Exponential => "exponential",
            Arrivals::FbIa => "fb_ia",
        })
    }
}

#[cfg(test)]
mod tests {
    //! Each sampler is checked against the distribution as mutilate parameterises it, with the
    //! parameters written out again here (not taken from the constants above), so that a wrong
    //! constant fails: exactly, by evaluating the inverse CDF at fixed points, and statistically,
    //! by the mean and quantiles of 200 000 samples from a fixed seed. The statistical
    //! tolerances are about 4 standard errors of each statistic (relative SE in brackets, from
    //! the analytic variance and density), far narrower than a swapped or grossly wrong parameter.
    use super::*;
    use crate::keys::Rng;

    const N: usize = 200_000;

    /// Points at which each inverse CDF must equal its formula.
    const POINTS: [f64; 7] = [0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999];

    /// `N` samples of `f`, sorted, from a fixed seed.
    fn sorted_samples(f: fn(f64) -> f64) -> Vec<f64> {
        let mut r = Rng::new(20_240_610);
        let mut xs: Vec<f64> = (0..N).map(|_| f(r.next_open01())).collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    /// Empirical `q`-quantile of sorted `xs`.
    fn quantile(xs: &[f64], q: f64) -> f64 {
        xs[((xs.len() as f64 * q) as usize).min(xs.len() - 1)]
    }

    fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
        eprintln!("{what}: sample {got:.4}, analytic {want:.4}");
        assert!(
            ((got - want) / want).abs() < rel,
            "{what}: sample {got}, analytic {want} (tolerance {rel})"
        );
    }

    /// `f` equals the analytic inverse CDF `q` at `p` (up to rounding).
    fn assert_inverse_cdf(what: &str, f: fn(f64) -> f64, q: impl Fn(f64) -> f64, p: f64) {
        let (got, want) = (f(p), q(p));
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{what}({p}) = {got}, analytic {want}"
        );
    }

    /// Sample mean within `mean_tol` of `want_mean`, and each `(p, tol)` quantile within `tol`
    /// of `q(p)` (relative).
    fn assert_samples(
        what: &str,
        f: fn(f64) -> f64,
        q: impl Fn(f64) -> f64,
        (want_mean, mean_tol): (f64, f64),
        quantiles: &[(f64, f64)],
    ) {
        let xs = sorted_samples(f);
        assert_close(&format!("{what} mean"), mean(&xs), want_mean, mean_tol);
        for &(p, tol) in quantiles {
            assert_close(&format!("{what} q{p}"), quantile(&xs, p), q(p), tol);
        }
    }

    /// Gamma function (Lanczos approximation, g = 7, 9 terms; ~1e-15 relative for x > 0.5),
    /// for the GEV mean.
    fn gamma(x: f64) -> f64 {
        const C: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        let x = x - 1.0;
        let t = x + 7.5;
        let series: f64 = C[0]
            + C[1..]
                .iter()
                .enumerate()
                .map(|(i, c)| c / (x + i as f64 + 1.0))
                .sum::<f64>();
        (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * series
    }

    #[test]
    fn gamma_is_accurate() {
        assert!((gamma(1.0) - 1.0).abs() < 1e-12);
        assert!((gamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-12);
        assert!((gamma(5.0) - 24.0).abs() < 1e-10);
    }

    #[test]
    fn fb_key_matches_gev() {
        // GEV(mu 30.7984, sigma 8.20449, xi 0.078688):
        //   Q(q) = mu + sigma ((-ln q)^(-xi) - 1) / xi
        //          (median ~33.85 [0.08%], 90th ~51.00 [0.14%], 99th ~76.28 [0.35%])
        //   mean = mu + sigma (Gamma(1 - xi) - 1) / xi                         (~36.22 [0.07%])
        let (mu, sigma, xi) = (30.7984, 8.20449, 0.078688);
        let q = |p: f64| mu + sigma * ((-f64::ln(p)).powf(-xi) - 1.0) / xi;
        for p in POINTS {
            assert_inverse_cdf("fb_key", fb_key, q, p);
        }
        let mean = mu + sigma * (gamma(1.0 - xi) - 1.0) / xi;
        let quantiles = [(0.5, 0.0035), (0.9, 0.006), (0.99, 0.014)];
        assert_samples("fb_key", fb_key, q, (mean, 0.003), &quantiles);
    }

    #[test]
    fn fb_value_matches_table_plus_gpareto() {
        // P(size = i) = table[i] for i = 0..14 (total S = 0.44155); with probability 1 - S a
        // GPD(mu 15, sigma 214.476, xi 0.348238), whose mean is mu + sigma / (1 - xi) (~344.07):
        //   Q(q) = mu + sigma ((1 - r)^(-xi) - 1) / xi  with r = (q - S) / (1 - S), for q >= S
        //          (median ~39.17 [1.3%], 90th ~520.18 [0.5%], 99th ~1898.70 [1.0%])
        //   mean = sum(i table[i]) + (1 - S)(mu + sigma / (1 - xi))            (~194.44 [0.55%])
        let table = [
            0.00536, 0.00047, 0.17820, 0.09239, 0.00018, 0.02740, 0.00065, 0.00606, 0.00023,
            0.00837, 0.00837, 0.08989, 0.00092, 0.00326, 0.01980,
        ];
        let (mu, sigma, xi) = (15.0, 214.476, 0.348238);
        let s: f64 = table.iter().sum();
        let q = |p: f64| mu + sigma * ((1.0 - (p - s) / (1.0 - s)).powf(-xi) - 1.0) / xi;
        for p in POINTS.into_iter().filter(|&p| p > s) {
            assert_inverse_cdf("fb_value", fb_value, q, p);
        }
        // Below S, each small size over its own slice of (0, S).
        let mut below = 0.0;
        for (size, p) in table.iter().enumerate() {
            assert_eq!(fb_value(below + p / 2.0), size as f64);
            below += p;
        }
        let small_mean: f64 = table.iter().enumerate().map(|(i, p)| i as f64 * p).sum();
        let mean = small_mean + (1.0 - s) * (mu + sigma / (1.0 - xi));
        let quantiles = [(0.5, 0.05), (0.9, 0.02), (0.99, 0.04)];
        assert_samples("fb_value", fb_value, q, (mean, 0.022), &quantiles);
        // The discrete part in the samples: each small size with its table probability.
        let xs = sorted_samples(fb_value);
        for (size, p) in table.iter().enumerate() {
            let freq = xs.iter().filter(|&&x| x == size as f64).count() as f64 / N as f64;
            let sd = (p * (1.0 - p) / N as f64).sqrt();
            assert!(
                (freq - p).abs() < 5.0 * sd + 1e-5,
                "size {size}: {freq} vs {p}"
            );
        }
        assert!(xs.iter().all(|&x| x >= 15.0 || x.fract() == 0.0));
    }

    #[test]
    fn fb_ia_matches_gpareto() {
        // GPD(mu 0, sigma 16.0292, xi 0.154971):
        //   Q(q) = sigma ((1 - q)^(-xi) - 1) / xi
        //          (median ~11.73 [0.34%], 90th ~44.35 [0.35%], 99th ~107.72 [0.68%])
        //   mean = sigma / (1 - xi)                                            (~18.97 [0.27%])
        let (sigma, xi) = (16.0292, 0.154971);
        let q = |p: f64| sigma * ((1.0 - p).powf(-xi) - 1.0) / xi;
        for p in POINTS {
            assert_inverse_cdf("fb_ia", fb_ia, q, p);
        }
        assert!((FB_IA.mean() - sigma / (1.0 - xi)).abs() < 1e-9);
        let quantiles = [(0.5, 0.014), (0.9, 0.014), (0.99, 0.028)];
        assert_samples("fb_ia", fb_ia, q, (sigma / (1.0 - xi), 0.011), &quantiles);
    }

    #[test]
    fn samplers_are_monotone_inverse_cdfs() {
        let ps: Vec<f64> = (1..10_000).map(|i| i as f64 / 10_000.0).collect();
        for f in [fb_key, fb_value, fb_ia] {
            assert!(ps.windows(2).all(|w| f(w[0]) <= f(w[1])));
            assert!(f(1e-300).is_finite() && f(1.0 - 1e-16).is_finite());
        }
        assert_eq!(fb_value(0.0), 0.0);
        // Just above the table's mass the tail starts at its location, 15 bytes.
        assert!((fb_value(0.441_551) - 15.0).abs() < 0.01);
        assert!((fb_value(0.5) - FB_VALUE_TAIL.quantile(0.05845 / 0.55845)).abs() < 1e-9);
    }

    #[test]
    fn names_parse_and_print_as_on_the_command_line() {
        assert_eq!("16".parse(), Ok(KeySize::Fixed(16)));
        assert_eq!("fb_key".parse(), Ok(KeySize::FbKey));
        assert_eq!("0".parse(), Ok(ValueSize::Fixed(0)));
        assert_eq!("fb_value".parse(), Ok(ValueSize::FbValue));
        assert_eq!("fb_ia".parse(), Ok(Arrivals::FbIa));
        assert_eq!("exponential".parse(), Ok(Arrivals::Exponential));
        assert!("fb_value".parse::<KeySize>().is_err());
        assert!("fb_key".parse::<ValueSize>().is_err());
        assert!("-1".parse::<ValueSize>().is_err());
        assert!("poisson".parse::<Arrivals>().is_err());
        for s in ["16", "fb_key"] {
            assert_eq!(s.parse::<KeySize>().unwrap().to_string(), s);
        }
        for s in ["64", "fb_value"] {
            assert_eq!(s.parse::<ValueSize>().unwrap().to_string(), s);
        }
        for s in ["exponential", "fb_ia"] {
            assert_eq!(s.parse::<Arrivals>().unwrap().to_string(), s);
        }
    }
}

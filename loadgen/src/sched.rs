//! Open-loop send schedule: a Poisson process (exponential inter-arrival times) by default, or
//! mutilate's Facebook `fb_ia` inter-arrival distribution scaled to the same mean.
//!
//! The schedule is a pure function of the seed and the start time, independent of how fast the
//! server answers: a connection that falls behind still owes every request whose scheduled time
//! has passed, and each request's latency is measured from its scheduled time.

use crate::dist::{self, Arrivals};
use crate::keys::Rng;

pub struct Schedule {
    rng: Rng,
    arrivals: Arrivals,
    mean_ns: f64,
    /// Scheduled time of the next request, ns on the run's clock (fractional ns kept so that
    /// rounding does not bias the mean rate).
    next: f64,
}

impl Schedule {
    /// A schedule with `rate_per_s` arrivals per second on average, starting at `start_ns`
    /// (the first arrival is one gap after it).
    pub fn new(rng: Rng, arrivals: Arrivals, rate_per_s: f64, start_ns: u64) -> Schedule {
        assert!(rate_per_s > 0.0 && rate_per_s.is_finite());
        let mut p = Schedule {
            rng,
            arrivals,
            mean_ns: 1e9 / rate_per_s,
            next: start_ns as f64,
        };
        p.next += p.gap();
        p
    }

    fn gap(&mut self) -> f64 {
        match self.arrivals {
            // Inverse CDF of Exp(1/mean): -mean * ln(1 - U), U in [0, 1) so the log is finite.
            Arrivals::Exponential => -self.mean_ns * (1.0 - self.rng.next_f64()).ln(),
            // The fb_ia shape with its scale multiplied so that its mean is ours. With location
            // 0 this is exactly mutilate's GPareto::set_lambda: scale = (1 - shape) / lambda.
            Arrivals::FbIa => {
                self.mean_ns * dist::fb_ia(self.rng.next_open01()) / dist::FB_IA.mean()
            }
        }
    }

    /// Scheduled time of the next request (ns).
    pub fn peek(&self) -> u64 {
        self.next as u64
    }

    /// Take the next scheduled time and advance to the one after it.
    pub fn pop(&mut self) -> u64 {
        let t = self.peek();
        self.next += self.gap();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_gap_matches_rate() {
        for (seed, rate) in [(1u64, 1000.0), (2, 12_345.0), (3, 1.0e6)] {
            let mut p = Schedule::new(Rng::for_stream(seed, 0), Arrivals::Exponential, rate, 0);
            let n = 200_000;
            let first = p.pop();
            let mut last = first;
            let mut gaps = Vec::with_capacity(n);
            for _ in 0..n {
                let t = p.pop();
                assert!(t >= last, "times never go backwards");
                gaps.push((t - last) as f64);
                last = t;
            }
            let mean = gaps.iter().sum::<f64>() / n as f64;
            let want = 1e9 / rate;
            assert!(
                (mean / want - 1.0).abs() < 0.02,
                "seed {seed} rate {rate}: mean gap {mean} want {want}"
            );
            // Exponential: standard deviation equals the mean, and P(gap > mean) = 1/e.
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (var.sqrt() / want - 1.0).abs() < 0.03,
                "stdev {}",
                var.sqrt()
            );
            let above = gaps.iter().filter(|&&g| g > want).count() as f64 / n as f64;
            assert!(
                (above - (-1.0f64).exp()).abs() < 0.01,
                "P(gap>mean) {above}"
            );
        }
    }

    #[test]
    fn same_seed_same_schedule_and_start_offset() {
        let mut a = Schedule::new(
            Rng::for_stream(9, 1),
            Arrivals::Exponential,
            5000.0,
            1_000_000,
        );
        let mut b = Schedule::new(
            Rng::for_stream(9, 1),
            Arrivals::Exponential,
            5000.0,
            1_000_000,
        );
        let mut c = Schedule::new(
            Rng::for_stream(9, 2),
            Arrivals::Exponential,
            5000.0,
            1_000_000,
        );
        assert!(a.peek() >= 1_000_000);
        let xa: Vec<u64> = (0..100).map(|_| a.pop()).collect();
        let xb: Vec<u64> = (0..100).map(|_| b.pop()).collect();
        let xc: Vec<u64> = (0..100).map(|_| c.pop()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn count_in_window_matches_rate() {
        // 16 connections at 10k/s total for 2 s: about 20000 arrivals (stdev ~141 for Poisson,
        // a little more for the burstier fb_ia).
        for arrivals in [Arrivals::Exponential, Arrivals::FbIa] {
            let (rate, conns, secs) = (10_000.0, 16u64, 2.0);
            let end = (secs * 1e9) as u64;
            let mut total = 0u64;
            for i in 0..conns {
                let mut p = Schedule::new(Rng::for_stream(42, i), arrivals, rate / conns as f64, 0);
                while p.pop() < end {
                    total += 1;
                }
            }
            let want = rate * secs;
            assert!(
                (total as f64 / want - 1.0).abs() < 0.03,
                "{arrivals}: {total} vs {want}"
            );
        }
    }

    /// Gaps (ns) between `n + 1` consecutive arrivals.
    fn gaps(mut s: Schedule, n: usize) -> Vec<f64> {
        let mut last = s.pop();
        (0..n)
            .map(|_| {
                let t = s.pop();
                let g = (t - last) as f64;
                last = t;
                g
            })
            .collect()
    }

    #[test]
    fn exponential_gaps_are_unchanged() {
        // The default schedule draws exactly what it drew before fb_ia existed.
        let mean = 1e9 / 5000.0;
        let mut r = Rng::for_stream(9, 1);
        let mut s = Schedule::new(Rng::for_stream(9, 1), Arrivals::Exponential, 5000.0, 0);
        let mut t = 0.0;
        for _ in 0..1000 {
            t += -mean * (1.0 - r.next_f64()).ln();
            assert_eq!(s.pop(), t as u64);
        }
    }

    #[test]
    fn fb_ia_gaps_have_the_rate_mean_and_the_pareto_shape() {
        // fb_ia rescaled to mean m is a GPD(0, (1 - xi) m, xi) with xi = 0.154971:
        //   coefficient of variation 1 / sqrt(1 - 2 xi)           (~1.204; exponential: 1)
        //   P(gap > m) = (1 - xi)^(1 / xi)                        (~0.3374; exponential: 1/e)
        let xi: f64 = 0.154971;
        for (seed, rate) in [(1u64, 1000.0), (2, 12_345.0), (3, 1.0e6)] {
            let s = Schedule::new(Rng::for_stream(seed, 0), Arrivals::FbIa, rate, 0);
            let g = gaps(s, 200_000);
            let n = g.len() as f64;
            let want = 1e9 / rate;
            let mean = g.iter().sum::<f64>() / n;
            assert!((mean / want - 1.0).abs() < 0.02, "rate {rate}: mean {mean}");
            let sd = (g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            let cv = 1.0 / (1.0 - 2.0 * xi).sqrt();
            assert!((sd / mean / cv - 1.0).abs() < 0.04, "cv {}", sd / mean);
            let above = g.iter().filter(|&&x| x > want).count() as f64 / n;
            let p = (1.0 - xi).powf(1.0 / xi);
            assert!((above - p).abs() < 0.01, "P(gap>mean) {above} vs {p}");
        }
    }
}

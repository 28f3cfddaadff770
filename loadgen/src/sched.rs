//! Open-loop send schedule: a Poisson process (exponential inter-arrival times).
//!
//! The schedule is a pure function of the seed and the start time, independent of how fast the
//! server answers: a connection that falls behind still owes every request whose scheduled time
//! has passed, and each request's latency is measured from its scheduled time.

use crate::keys::Rng;

pub struct Poisson {
    rng: Rng,
    mean_ns: f64,
    /// Scheduled time of the next request, ns on the run's clock (fractional ns kept so that
    /// rounding does not bias the mean rate).
    next: f64,
}

impl Poisson {
    /// A schedule with `rate_per_s` arrivals per second on average, starting at `start_ns`
    /// (the first arrival is one exponential gap after it).
    pub fn new(rng: Rng, rate_per_s: f64, start_ns: u64) -> Poisson {
        assert!(rate_per_s > 0.0 && rate_per_s.is_finite());
        let mut p = Poisson {
            rng,
            mean_ns: 1e9 / rate_per_s,
            next: start_ns as f64,
        };
        p.next += p.gap();
        p
    }

    fn gap(&mut self) -> f64 {
        // Inverse CDF of Exp(1/mean): -mean * ln(1 - U), U in [0, 1) so the log is finite.
        -self.mean_ns * (1.0 - self.rng.next_f64()).ln()
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
            let mut p = Poisson::new(Rng::for_stream(seed, 0), rate, 0);
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
        let mut a = Poisson::new(Rng::for_stream(9, 1), 5000.0, 1_000_000);
        let mut b = Poisson::new(Rng::for_stream(9, 1), 5000.0, 1_000_000);
        let mut c = Poisson::new(Rng::for_stream(9, 2), 5000.0, 1_000_000);
        assert!(a.peek() >= 1_000_000);
        let xa: Vec<u64> = (0..100).map(|_| a.pop()).collect();
        let xb: Vec<u64> = (0..100).map(|_| b.pop()).collect();
        let xc: Vec<u64> = (0..100).map(|_| c.pop()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn count_in_window_matches_rate() {
        // 16 connections at 10k/s total for 2 s: about 20000 arrivals (stdev ~141).
        let (rate, conns, secs) = (10_000.0, 16u64, 2.0);
        let end = (secs * 1e9) as u64;
        let mut total = 0u64;
        for i in 0..conns {
            let mut p = Poisson::new(Rng::for_stream(42, i), rate / conns as f64, 0);
            while p.pop() < end {
                total += 1;
            }
        }
        let want = rate * secs;
        assert!(
            (total as f64 / want - 1.0).abs() < 0.03,
            "{total} vs {want}"
        );
    }
}

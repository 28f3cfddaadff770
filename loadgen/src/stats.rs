//! Counters, latency histograms, and the final report (JSON and human summary).

use crate::config::Config;
use crate::dist::Arrivals;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::fmt::Display;

/// Error categories; every one counts toward `errors.total` and a non-zero exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A get hit whose key, flags, length or bytes differ from what was set.
    WrongValue,
    /// A well-formed reply of the wrong kind (e.g. `STORED` for a get, `SERVER_ERROR ...`,
    /// `NOT_STORED`, or a reply with no request outstanding).
    UnexpectedResponse,
    /// Bytes that are not a memcached reply; the connection is dropped and re-opened.
    Malformed,
    /// A request outstanding when its connection closed or failed.
    ConnectionLost,
    /// A request still unanswered when the drain timeout expired.
    Timeout,
    /// A preload `set` that was not answered `STORED`.
    Preload,
}

pub const ERROR_KINDS: [(ErrorKind, &str); 6] = [
    (ErrorKind::WrongValue, "wrong_value"),
    (ErrorKind::UnexpectedResponse, "unexpected_response"),
    (ErrorKind::Malformed, "malformed"),
    (ErrorKind::ConnectionLost, "connection_lost"),
    (ErrorKind::Timeout, "timeout"),
    (ErrorKind::Preload, "preload"),
];

/// How many error descriptions are kept for the report.
pub const MAX_SAMPLES: usize = 5;

pub fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Everything one worker (or the preload) measured. Merged across threads at the end.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latency (ns, from scheduled send time to response) of responses to requests
    /// scheduled inside the measurement window.
    pub latency: Histogram<u64>,
    /// Open loop: how late requests were handed to the socket versus their schedule (ns).
    pub send_lag: Histogram<u64>,
    /// Responses to requests scheduled in the window, by type.
    pub gets: u64,
    pub sets: u64,
    /// Open loop: requests scheduled in the window (sent or not).
    pub scheduled: u64,
    /// Open loop: requests scheduled in the window but never sent before the end.
    pub unsent: u64,
    /// Get misses over the whole run (warm-up included).
    pub misses: u64,
    /// Errors over the whole run (preload and warm-up included), by kind.
    pub errors: [u64; 6],
    pub error_samples: Vec<String>,
    pub reconnects: u64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            latency: new_histogram(),
            send_lag: new_histogram(),
            gets: 0,
            sets: 0,
            scheduled: 0,
            unsent: 0,
            misses: 0,
            errors: [0; 6],
            error_samples: Vec::new(),
            reconnects: 0,
        }
    }
}

fn kind_index(k: ErrorKind) -> usize {
    ERROR_KINDS
        .iter()
        .position(|(e, _)| *e == k)
        .expect("every kind is listed")
}

impl Stats {
    pub fn error(&mut self, kind: ErrorKind, n: u64, describe: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        self.errors[kind_index(kind)] += n;
        if self.error_samples.len() < MAX_SAMPLES {
            self.error_samples.push(describe());
        }
    }

    #[cfg(test)]
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind_index(kind)]
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn merge(&mut self, o: &Stats) {
        self.latency.add(&o.latency).expect("same histogram bounds");
        self.send_lag
            .add(&o.send_lag)
            .expect("same histogram bounds");
        self.gets += o.gets;
        self.sets += o.sets;
        self.scheduled += o.scheduled;
        self.unsent += o.unsent;
        self.misses += o.misses;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        for s in &o.error_samples {
            if self.error_samples.len() < MAX_SAMPLES {
                self.error_samples.push(s.clone());
            }
        }
        self.reconnects += o.reconnects;
    }
}

/// The final result of a run.
pub struct Report<'a> {
    pub config: &'a Config,
    pub stats: Stats,
    /// Length of the measurement window (duration - warmup), seconds.
    pub window_s: f64,
    pub preload_keys: u64,
    pub preload_s: f64,
}

fn us(ns: u64) -> f64 {
    (ns as f64 / 1000.0 * 10.0).round() / 10.0
}

/// A size in `params` as on the command line: the byte count as a number (as before the
/// distributions existed), else the distribution's name.
fn size_json(fixed: Option<usize>, spec: &dyn Display) -> Value {
    fixed.map_or_else(|| json!(spec.to_string()), |n| json!(n))
}

/// A size in the human summary: "16 B", or "fb_key sizes".
fn size_text(fixed: Option<usize>, spec: &dyn Display) -> String {
    fixed.map_or_else(|| format!("{spec} sizes"), |n| format!("{n} B"))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn summary(h: &Histogram<u64>) -> Value {
    let q = |x: f64| {
        if h.is_empty() {
            0.0
        } else {
            us(h.value_at_quantile(x))
        }
    };
    json!({
        "count": h.len(),
        "min": if h.is_empty() { 0.0 } else { us(h.min()) },
        "mean": if h.is_empty() { 0.0 } else { round2(h.mean() / 1000.0) },
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "p99_9": q(0.999),
        "max": if h.is_empty() { 0.0 } else { us(h.max()) },
    })
}

impl Report<'_> {
    pub fn requests(&self) -> u64 {
        self.stats.gets + self.stats.sets
    }

    pub fn achieved_rps(&self) -> f64 {
        self.requests() as f64 / self.window_s
    }

    pub fn to_json(&self) -> Value {
        let c = self.config;
        let s = &self.stats;
        let open = c.rate.is_some();
        let mut errors = serde_json::Map::new();
        errors.insert("total".into(), json!(s.total_errors()));
        for (i, (_, name)) in ERROR_KINDS.iter().enumerate() {
            errors.insert((*name).into(), json!(s.errors[i]));
        }
        json!({
            "tool": "kpoll-loadgen",
            "version": env!("CARGO_PKG_VERSION"),
            "params": {
                "server": c.server,
                "mode": if open { "open" } else { "closed" },
                "rate": c.rate,
                "depth": if open { Value::Null } else { json!(c.depth) },
                "max_pipeline": if open { json!(c.max_pipeline) } else { Value::Null },
                "connections": c.connections,
                "threads": c.threads,
                "get_ratio": c.get_ratio,
                "keys": c.keys,
                "key_size": size_json(c.key_size.fixed(), &c.key_size),
                "value_size": size_json(c.value_size.fixed(), &c.value_size),
                "interarrival": if open { json!(c.arrivals.to_string()) } else { Value::Null },
                "duration_s": c.duration,
                "warmup_s": c.warmup,
                "seed": c.seed,
                "preload": c.preload,
                "drain_timeout_s": c.drain_timeout,
                "spin": c.spin,
                "start_on_stdin": c.start_on_stdin,
            },
            "window_s": self.window_s,
            "offered_rps": c.rate,
            "scheduled_rps": if open { json!(round2(s.scheduled as f64 / self.window_s)) }
                             else { Value::Null },
            "achieved_rps": round2(self.achieved_rps()),
            "requests": {
                "total": self.requests(),
                "get": s.gets,
                "set": s.sets,
                "scheduled": if open { json!(s.scheduled) } else { Value::Null },
                "unsent": if open { json!(s.unsent) } else { Value::Null },
            },
            "misses": s.misses,
            "errors": errors,
            "error_samples": s.error_samples,
            "reconnects": s.reconnects,
            "latency_us": summary(&s.latency),
            "send_lag_us": if open { summary(&s.send_lag) } else { Value::Null },
            "preload": { "keys": self.preload_keys, "seconds": round2(self.preload_s) },
        })
    }

    pub fn human(&self) -> String {
        let c = self.config;
        let s = &self.stats;
        let mut out = String::new();
        let mode = match (c.rate, c.arrivals) {
            (Some(r), Arrivals::Exponential) => format!("open loop, {r} req/s offered"),
            (Some(r), a) => format!("open loop, {r} req/s offered with {a} inter-arrivals"),
            (None, _) => format!("closed loop, depth {}", c.depth),
        };
        out += &format!(
            "kpoll-loadgen: {} -- {mode}, {} conns on {} threads, {} s ({} s warm-up), \
             get ratio {}, {} keys of {}, values {}\n",
            c.server,
            c.connections,
            c.threads,
            c.duration,
            c.warmup,
            c.get_ratio,
            c.keys,
            size_text(c.key_size.fixed(), &c.key_size),
            size_text(c.value_size.fixed(), &c.value_size)
        );
        if self.preload_keys > 0 {
            out += &format!(
                "  preload:   {} keys in {:.2} s\n",
                self.preload_keys, self.preload_s
            );
        } else if c.preload {
            out += "  preload:   skipped (no gets)\n";
        }
        out += &format!(
            "  requests:  {} (get {}, set {}) in {:.2} s window: {:.1} req/s achieved",
            self.requests(),
            s.gets,
            s.sets,
            self.window_s,
            self.achieved_rps()
        );
        if let Some(r) = c.rate {
            out += &format!(
                " of {r} offered ({:.1} scheduled, {} unsent)",
                s.scheduled as f64 / self.window_s,
                s.unsent
            );
        }
        out += "\n";
        let line = |name: &str, h: &Histogram<u64>| {
            let v = summary(h);
            format!(
                "  {name}p50 {} p90 {} p99 {} p99.9 {} max {} (n={})\n",
                v["p50"], v["p90"], v["p99"], v["p99_9"], v["max"], v["count"]
            )
        };
        out += &line("latency us:  ", &s.latency);
        if c.rate.is_some() {
            out += &line("send lag us: ", &s.send_lag);
        }
        out += &format!(
            "  misses {}, errors {}, reconnects {}\n",
            s.misses,
            s.total_errors(),
            s.reconnects
        );
        for (i, (_, name)) in ERROR_KINDS.iter().enumerate() {
            if s.errors[i] > 0 {
                out += &format!("    {name}: {}\n", s.errors[i]);
            }
        }
        for e in &s.error_samples {
            out += &format!("    e.g. {e}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{KeySize, ValueSize};

    fn sample_stats(lat_us: &[u64]) -> Stats {
        let mut s = Stats::default();
        for &l in lat_us {
            s.latency.record(l * 1000).unwrap();
            s.send_lag.record(1000).unwrap();
        }
        s
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = sample_stats(&[10, 20]);
        a.gets = 2;
        a.misses = 1;
        a.error(ErrorKind::WrongValue, 1, || "a".into());
        let mut b = sample_stats(&[30]);
        b.sets = 1;
        b.scheduled = 3;
        b.unsent = 1;
        b.reconnects = 2;
        b.error(ErrorKind::Timeout, 4, || "b".into());
        b.error(ErrorKind::Malformed, 0, || {
            unreachable!("zero errors take no sample")
        });
        a.merge(&b);
        assert_eq!(a.latency.len(), 3);
        assert_eq!((a.gets, a.sets, a.misses), (2, 1, 1));
        assert_eq!((a.scheduled, a.unsent, a.reconnects), (3, 1, 2));
        assert_eq!(a.total_errors(), 5);
        assert_eq!(a.errors_of(ErrorKind::Timeout), 4);
        assert_eq!(a.error_samples, vec!["a", "b"]);
        for i in 0..20 {
            a.error(ErrorKind::Preload, 1, || format!("{i}"));
        }
        assert_eq!(a.error_samples.len(), MAX_SAMPLES);
    }

    #[test]
    fn json_report_open_loop() {
        let config = Config {
            server: "127.0.0.1:1".into(),
            rate: Some(1000.0),
            duration: 3.0,
            warmup: 1.0,
            ..Config::default()
        };
        let lat: Vec<u64> = (1..=1000).collect();
        let mut stats = sample_stats(&lat);
        stats.gets = 900;
        stats.sets = 100;
        stats.scheduled = 2010;
        stats.unsent = 10;
        stats.error(ErrorKind::WrongValue, 2, || "bad".into());
        let r = Report {
            config: &config,
            stats,
            window_s: 2.0,
            preload_keys: 10_000,
            preload_s: 0.123,
        };
        let j = r.to_json();
        assert_eq!(j["tool"], "kpoll-loadgen");
        assert_eq!(j["params"]["mode"], "open");
        assert_eq!(j["params"]["server"], "127.0.0.1:1");
        assert_eq!(j["params"]["rate"], 1000.0);
        assert_eq!(j["params"]["depth"], Value::Null);
        assert_eq!(j["params"]["max_pipeline"], 1024);
        assert_eq!(j["params"]["connections"], 16);
        assert_eq!(j["params"]["keys"], 10_000);
        assert_eq!(j["params"]["seed"], 1);
        assert_eq!(j["params"]["key_size"], 16);
        assert_eq!(j["params"]["value_size"], 64);
        assert_eq!(j["params"]["interarrival"], "exponential");
        assert_eq!(j["window_s"], 2.0);
        assert_eq!(j["offered_rps"], 1000.0);
        assert_eq!(j["scheduled_rps"], 1005.0);
        assert_eq!(j["achieved_rps"], 500.0);
        assert_eq!(j["requests"]["total"], 1000);
        assert_eq!(j["requests"]["get"], 900);
        assert_eq!(j["requests"]["set"], 100);
        assert_eq!(j["requests"]["scheduled"], 2010);
        assert_eq!(j["requests"]["unsent"], 10);
        assert_eq!(j["misses"], 0);
        assert_eq!(j["errors"]["total"], 2);
        assert_eq!(j["errors"]["wrong_value"], 2);
        for (_, name) in ERROR_KINDS {
            assert!(j["errors"][name].is_u64(), "{name}");
        }
        assert_eq!(j["error_samples"][0], "bad");
        let l = &j["latency_us"];
        assert_eq!(l["count"], 1000);
        let p50 = l["p50"].as_f64().unwrap();
        let p99 = l["p99"].as_f64().unwrap();
        let p999 = l["p99_9"].as_f64().unwrap();
        assert!((p50 - 500.0).abs() <= 1.0, "{p50}");
        assert!((l["p90"].as_f64().unwrap() - 900.0).abs() <= 1.0);
        assert!((p99 - 990.0).abs() <= 1.0, "{p99}");
        assert!((p999 - 999.0).abs() <= 1.0, "{p999}");
        assert!((l["max"].as_f64().unwrap() - 1000.0).abs() <= 1.0);
        assert!((l["min"].as_f64().unwrap() - 1.0).abs() < 0.01);
        assert!((l["mean"].as_f64().unwrap() - 500.5).abs() <= 1.0);
        assert_eq!(j["send_lag_us"]["p50"], 1.0);
        assert_eq!(j["preload"]["keys"], 10_000);
        assert_eq!(j["preload"]["seconds"], 0.12);
        // Round-trips through text as one line.
        let text = j.to_string();
        assert!(!text.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), j);
        let h = r.human();
        assert!(h.contains("500.0 req/s achieved of 1000 offered"), "{h}");
        assert!(h.contains("wrong_value: 2"), "{h}");
        assert!(h.contains("1000 req/s offered, 16 conns"), "{h}");
        assert!(h.contains("10000 keys of 16 B, values 64 B"), "{h}");
    }

    #[test]
    fn json_report_records_the_distributions() {
        let config = Config {
            server: "h:1".into(),
            rate: Some(500.0),
            key_size: KeySize::FbKey,
            value_size: ValueSize::FbValue,
            arrivals: Arrivals::FbIa,
            ..Config::default()
        };
        let r = Report {
            config: &config,
            stats: Stats::default(),
            window_s: 9.0,
            preload_keys: 0,
            preload_s: 0.0,
        };
        let j = r.to_json();
        assert_eq!(j["params"]["key_size"], "fb_key");
        assert_eq!(j["params"]["value_size"], "fb_value");
        assert_eq!(j["params"]["interarrival"], "fb_ia");
        let h = r.human();
        assert!(
            h.contains("500 req/s offered with fb_ia inter-arrivals"),
            "{h}"
        );
        assert!(
            h.contains("keys of fb_key sizes, values fb_value sizes"),
            "{h}"
        );
        // One distribution, one fixed size.
        let config = Config {
            key_size: KeySize::Fixed(20),
            ..config.clone()
        };
        let j = Report {
            config: &config,
            stats: Stats::default(),
            window_s: 9.0,
            preload_keys: 0,
            preload_s: 0.0,
        }
        .to_json();
        assert_eq!(j["params"]["key_size"], 20);
        assert_eq!(j["params"]["value_size"], "fb_value");
    }

    #[test]
    fn json_report_closed_loop_and_empty_histogram() {
        let config = Config {
            server: "h:1".into(),
            depth: 3,
            ..Config::default()
        };
        let r = Report {
            config: &config,
            stats: Stats::default(),
            window_s: 9.0,
            preload_keys: 0,
            preload_s: 0.0,
        };
        let j = r.to_json();
        assert_eq!(j["params"]["mode"], "closed");
        assert_eq!(j["params"]["depth"], 3);
        assert_eq!(j["params"]["rate"], Value::Null);
        assert_eq!(j["params"]["interarrival"], Value::Null);
        assert_eq!(j["offered_rps"], Value::Null);
        assert_eq!(j["scheduled_rps"], Value::Null);
        assert_eq!(j["send_lag_us"], Value::Null);
        assert_eq!(j["requests"]["unsent"], Value::Null);
        assert_eq!(j["achieved_rps"], 0.0);
        assert_eq!(j["latency_us"]["count"], 0);
        assert_eq!(j["latency_us"]["p99"], 0.0);
        assert_eq!(j["errors"]["total"], 0);
    }
}

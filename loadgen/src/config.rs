//! Command line.

use crate::dist::{Arrivals, KeySize, ValueSize};
use crate::keys::{self, Sizes, MAX_KEY_SIZE};

pub const USAGE: &str = "\
usage: kpoll-loadgen --server HOST:PORT [options]

memcached text-protocol load generator (get/set over many pipelined connections).

Load shape:
  --rate R            open loop: R requests/s in total, Poisson arrivals, latency from the
                      scheduled send time (no coordinated omission)
  --ia DIST           open loop inter-arrival times: exponential (the default, Poisson) or
                      fb_ia (mutilate's Facebook generalized Pareto, scaled to the rate)
  --closed            closed loop (the default without --rate): each connection keeps
                      --depth requests in flight
  --depth D           closed-loop requests in flight per connection (default 1)
  --connections N     TCP connections (default 16)
  --threads T         worker threads, each with its own epoll loop (default 1, <= N)
  --duration SECS     total run time, warm-up included (default 10)
  --warmup SECS       leading part excluded from statistics (default 1)
  --start-on-stdin    the warm-up lasts until a line (or end of file) arrives on standard
                      input, and at least --warmup; --duration minus --warmup seconds are
                      measured from there
  --max-pipeline P    open loop: most requests in flight per connection; later ones wait,
                      their latency still counting from their schedule (default 1024)
  --spin              busy-poll instead of sleeping until the next send time

Workload:
  --get-ratio F       fraction of gets, the rest sets (default 0.9)
  --keys K            key space size (default 10000)
  --key-size B        key length in bytes (default 16), or fb_key: per-key lengths from
                      mutilate's Facebook GEV, at least 1 + digits(K-1) and at most 250
  --value-size B      value length in bytes (default 64), or fb_value: per-key lengths from
                      mutilate's Facebook table + generalized Pareto, at most 1 MiB
  --seed S            RNG seed for the schedule and key choice (default 1)
  --no-preload        do not set every key before measuring

Output:
  --json              print one JSON object with every result on stdout
  --drain-timeout SECS  how long to wait for outstanding responses at the end (default 2)
  -h, --help          this text

Exit status: 0 if no errors, 1 if any response was wrong/missing (or the run failed),
2 on a usage error.
";

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: String,
    pub connections: usize,
    pub threads: usize,
    /// Some(total requests/s) for open loop; None for closed loop.
    pub rate: Option<f64>,
    pub depth: usize,
    pub max_pipeline: usize,
    pub get_ratio: f64,
    pub key_size: KeySize,
    pub value_size: ValueSize,
    /// Open-loop inter-arrival distribution.
    pub arrivals: Arrivals,
    pub keys: u64,
    pub duration: f64,
    pub warmup: f64,
    pub seed: u64,
    pub json: bool,
    pub preload: bool,
    pub drain_timeout: f64,
    pub spin: bool,
    pub start_on_stdin: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            server: String::new(),
            connections: 16,
            threads: 1,
            rate: None,
            depth: 1,
            max_pipeline: 1024,
            get_ratio: 0.9,
            key_size: KeySize::Fixed(16),
            value_size: ValueSize::Fixed(64),
            arrivals: Arrivals::Exponential,
            keys: 10_000,
            duration: 10.0,
            warmup: 1.0,
            seed: 1,
            json: false,
            preload: true,
            drain_timeout: 2.0,
            spin: false,
            start_on_stdin: false,
        }
    }
}

impl Config {
    /// The key and value length of every key of the run.
    pub fn sizes(&self) -> Sizes {
        Sizes::new(self.key_size, self.value_size, self.keys)
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Config),
    Help,
}

pub const MAX_VALUE_SIZE: usize = 1 << 20;

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
}

pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut c = Config::default();
    let mut server = None;
    let mut closed = false;
    let mut depth_given = false;
    let mut ia_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut next = || inline.take().or_else(|| args.next());
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--server" => server = Some(value::<String>(&flag, next())?),
            "--connections" => c.connections = value(&flag, next())?,
            "--threads" => c.threads = value(&flag, next())?,
            "--rate" => c.rate = Some(value(&flag, next())?),
            "--ia" => {
                c.arrivals = value(&flag, next())?;
                ia_given = true;
            }
            "--closed" => closed = true,
            "--depth" => {
                c.depth = value(&flag, next())?;
                depth_given = true;
            }
            "--max-pipeline" => c.max_pipeline = value(&flag, next())?,
            "--get-ratio" => c.get_ratio = value(&flag, next())?,
            "--key-size" => c.key_size = value(&flag, next())?,
            "--value-size" => c.value_size = value(&flag, next())?,
            "--keys" => c.keys = value(&flag, next())?,
            "--duration" => c.duration = value(&flag, next())?,
            "--warmup" => c.warmup = value(&flag, next())?,
            "--seed" => c.seed = value(&flag, next())?,
            "--drain-timeout" => c.drain_timeout = value(&flag, next())?,
            "--json" => c.json = true,
            "--no-preload" => c.preload = false,
            "--spin" => c.spin = true,
            "--start-on-stdin" => c.start_on_stdin = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
        if inline.is_some() {
            return Err(format!("{flag} takes no value"));
        }
    }
    c.server = server.ok_or("--server HOST:PORT is required")?;
    match c.server.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
        _ => return Err(format!("--server {:?}: expected HOST:PORT", c.server)),
    }
    if closed && c.rate.is_some() {
        return Err("--closed and --rate exclude each other".into());
    }
    if depth_given && c.rate.is_some() {
        return Err("--depth is for closed loop; open loop uses --max-pipeline".into());
    }
    if ia_given && c.rate.is_none() {
        return Err("--ia is for open loop (--rate)".into());
    }
    if let Some(r) = c.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err("--rate must be > 0".into());
        }
    }
    if c.connections == 0 {
        return Err("--connections must be >= 1".into());
    }
    if c.threads == 0 || c.threads > c.connections {
        return Err("--threads must be between 1 and --connections".into());
    }
    if c.depth == 0 || c.max_pipeline == 0 {
        return Err("--depth and --max-pipeline must be >= 1".into());
    }
    if !(0.0..=1.0).contains(&c.get_ratio) {
        return Err("--get-ratio must be within 0..1".into());
    }
    if c.keys == 0 || c.keys > u32::MAX as u64 {
        return Err("--keys must be within 1..2^32-1".into());
    }
    // Distributions are clamped per key (keys::Sizes); fixed sizes must fit as given.
    let min_key = keys::min_key_size(c.keys);
    if let KeySize::Fixed(n) = c.key_size {
        if n < min_key || n > MAX_KEY_SIZE {
            return Err(format!(
                "--key-size must be within {min_key}..{MAX_KEY_SIZE} (or fb_key) for {} keys",
                c.keys
            ));
        }
    }
    if let ValueSize::Fixed(n) = c.value_size {
        if n > MAX_VALUE_SIZE {
            return Err(format!(
                "--value-size must be at most {MAX_VALUE_SIZE} (or fb_value)"
            ));
        }
    }
    if !(c.duration.is_finite() && c.duration > 0.0 && c.duration <= 86_400.0) {
        return Err("--duration must be within (0, 86400] seconds".into());
    }
    if !(c.warmup.is_finite() && c.warmup >= 0.0 && c.warmup < c.duration) {
        return Err("--warmup must be >= 0 and less than --duration".into());
    }
    if !(c.drain_timeout.is_finite() && c.drain_timeout >= 0.0 && c.drain_timeout <= 600.0) {
        return Err("--drain-timeout must be within 0..600 seconds".into());
    }
    Ok(Command::Run(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    fn cfg(s: &str) -> Config {
        match p(s) {
            Ok(Command::Run(c)) => c,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let c = cfg("--server 127.0.0.1:11211");
        assert_eq!(c.server, "127.0.0.1:11211");
        assert_eq!(c.connections, 16);
        assert_eq!(c.rate, None);
        assert_eq!(c.depth, 1);
        let c = cfg(
            "--server=h:1 --rate 5000 --connections=8 --threads 2 --get-ratio 0.5 \
                     --key-size 10 --value-size 100 --keys 1000 --duration 2.5 --warmup 0.5 \
                     --seed 7 --json --no-preload --max-pipeline 4 --drain-timeout 1 --spin",
        );
        assert_eq!(c.rate, Some(5000.0));
        assert_eq!((c.connections, c.threads), (8, 2));
        assert_eq!(c.key_size, KeySize::Fixed(10));
        assert_eq!((c.value_size, c.keys), (ValueSize::Fixed(100), 1000));
        assert_eq!(c.arrivals, Arrivals::Exponential);
        assert_eq!((c.duration, c.warmup, c.seed), (2.5, 0.5, 7));
        assert!(c.json && !c.preload && c.spin);
        assert_eq!(c.max_pipeline, 4);
        let c = cfg("--server h:1 --closed --depth 4");
        assert_eq!((c.rate, c.depth), (None, 4));
        assert_eq!(p("--help"), Ok(Command::Help));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            "",
            "--rate 10",
            "--server nocolon",
            "--server h:port",
            "--server :1",
            "--server h:1 --bogus",
            "--server h:1 --rate",
            "--server h:1 --rate x",
            "--server h:1 --rate 0",
            "--server h:1 --rate 10 --closed",
            "--server h:1 --rate 10 --depth 2",
            "--server h:1 --connections 0",
            "--server h:1 --connections 2 --threads 3",
            "--server h:1 --get-ratio 1.5",
            "--server h:1 --keys 0",
            "--server h:1 --keys 100000 --key-size 5",
            "--server h:1 --key-size 251",
            "--server h:1 --value-size 2000000",
            "--server h:1 --duration 0",
            "--server h:1 --duration 1 --warmup 1",
            "--server h:1 --json=1",
            "--server h:1 --key-size fb_value",
            "--server h:1 --key-size fb_kye",
            "--server h:1 --value-size fb_key",
            "--server h:1 --value-size -1",
            "--server h:1 --rate 10 --ia",
            "--server h:1 --rate 10 --ia pareto",
            "--server h:1 --ia fb_ia",
            "--server h:1 --closed --ia fb_ia",
            "--server h:1 --ia exponential",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
        // 100000 keys: k + 5 digits.
        assert_eq!(
            cfg("--server h:1 --keys 100000 --key-size 6").key_size,
            KeySize::Fixed(6)
        );
    }

    #[test]
    fn facebook_distributions() {
        let c = cfg("--server h:1 --rate 1000 --key-size fb_key --value-size=fb_value --ia fb_ia");
        assert_eq!(c.key_size, KeySize::FbKey);
        assert_eq!(c.value_size, ValueSize::FbValue);
        assert_eq!(c.arrivals, Arrivals::FbIa);
        // Each one alone; the others keep their defaults.
        let c = cfg("--server h:1 --key-size fb_key");
        assert_eq!(c.key_size, KeySize::FbKey);
        assert_eq!(c.value_size, ValueSize::Fixed(64));
        assert_eq!(c.arrivals, Arrivals::Exponential);
        let c = cfg("--server h:1 --closed --value-size fb_value");
        assert_eq!(
            (c.key_size, c.value_size),
            (KeySize::Fixed(16), ValueSize::FbValue)
        );
        let c = cfg("--server h:1 --rate 5 --ia exponential");
        assert_eq!(c.arrivals, Arrivals::Exponential);
        // fb_key needs no key-count check: every key is clamped to hold its number.
        let c = cfg("--server h:1 --keys 4000000000 --key-size fb_key");
        let s = c.sizes();
        assert!((0..1000).all(|i| s.key_size(i) >= 11));
        // A fixed size is still checked when the other size is a distribution.
        assert!(p("--server h:1 --key-size 3 --value-size fb_value").is_err());
        assert!(p("--server h:1 --key-size fb_key --value-size 2000000").is_err());
    }
}

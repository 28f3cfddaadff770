//! kpoll-loadgen: a memcached text-protocol load generator (open loop without coordinated
//! omission, or closed loop), verifying every response. See README.md.

mod config;
mod dist;
mod keys;
mod preload;
mod proto;
mod sched;
mod stats;
mod sys;
mod window;
mod worker;

use config::{Command, Config};
use stats::{Report, Stats};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use window::Window;

fn resolve(server: &str) -> Result<SocketAddr, String> {
    server
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("{server} resolves to no address"))
}

/// `--start-on-stdin`: a thread that opens `window` when a line (or end of file) arrives on
/// standard input, not before `earliest_ns`. Detached: a run that fails before it opens must
/// not wait for its input.
fn open_on_stdin(window: Arc<Window>, earliest_ns: u64, measure_ns: u64, drain_ns: u64) {
    std::thread::spawn(move || {
        let mut line = String::new();
        // An error counts like end of file: the run then goes on without its caller.
        let _ = std::io::stdin().read_line(&mut line);
        window.open(sys::now_ns().max(earliest_ns), measure_ns, drain_ns);
    });
}

fn run(c: &Config) -> Result<(Stats, u64, f64), String> {
    let addr = resolve(&c.server)?;
    let mut total = Stats::default();

    let (mut preload_keys, mut preload_s) = (0, 0.0);
    if c.preload && c.get_ratio > 0.0 {
        let t = Instant::now();
        preload::preload(&addr, c.keys, &c.sizes(), &mut total)
            .map_err(|e| format!("preload against {addr} failed: {e}"))?;
        preload_keys = c.keys;
        preload_s = t.elapsed().as_secs_f64();
    }

    let mut streams = Vec::with_capacity(c.connections);
    for i in 0..c.connections {
        streams.push(worker::connect(&addr).map_err(|e| format!("connection {i} to {addr}: {e}"))?);
    }

    // A short lead so that every thread is up before the first scheduled send.
    let start_ns = sys::now_ns() + 2_000_000;
    let ns = |s: f64| (s * 1e9).round() as u64;
    let (measure_ns, drain_ns) = (ns(c.duration - c.warmup), ns(c.drain_timeout));
    let warmup_end_ns = start_ns + ns(c.warmup);
    let window = Arc::new(Window::open_ended());
    if c.start_on_stdin {
        open_on_stdin(Arc::clone(&window), warmup_end_ns, measure_ns, drain_ns);
    } else {
        window.open(warmup_end_ns, measure_ns, drain_ns);
    }
    let plan = worker::Plan {
        addr,
        rate_per_conn: c.rate.map(|r| r / c.connections as f64),
        arrivals: c.arrivals,
        depth: c.depth,
        max_pipeline: c.max_pipeline,
        get_ratio: c.get_ratio,
        keys: c.keys,
        sizes: c.sizes(),
        seed: c.seed,
        start_ns,
        window,
        spin: c.spin,
    };
    // Connection i goes to thread i % threads.
    let mut per_thread: Vec<Vec<worker::Conn>> = (0..c.threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        let conn = worker::Conn::new(i, s, &plan).map_err(|e| format!("connection {i}: {e}"))?;
        per_thread[i % c.threads].push(conn);
    }
    let results: Vec<std::io::Result<Stats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|conns| {
                let plan = &plan;
                scope.spawn(move || worker::run(plan, conns))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    for r in results {
        total.merge(&r.map_err(|e| format!("worker failed: {e}"))?);
    }
    Ok((total, preload_keys, preload_s))
}

fn main() -> ExitCode {
    let config = match config::parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(c)) => c,
        Err(e) => {
            eprintln!("kpoll-loadgen: {e}\n(see kpoll-loadgen --help)");
            return ExitCode::from(2);
        }
    };
    let (stats, preload_keys, preload_s) = match run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kpoll-loadgen: {e}");
            return ExitCode::from(1);
        }
    };
    let report = Report {
        config: &config,
        stats,
        window_s: config.duration - config.warmup,
        preload_keys,
        preload_s,
    };
    eprint!("{}", report.human());
    if config.json {
        println!("{}", report.to_json());
    }
    if report.stats.total_errors() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

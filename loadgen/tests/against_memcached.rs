//! End-to-end tests of the kpoll-loadgen binary: against a real memcached on 127.0.0.1
//! (skipped with a note when /usr/bin/memcached is missing), and against small fake servers
//! on 127.0.0.1 that answer wrongly, so that verification and failure paths are exercised.
//! All traffic stays on the loopback address; every run is bounded in time.

use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const MEMCACHED: &str = "/usr/bin/memcached";
const BIN: &str = env!("CARGO_BIN_EXE_kpoll-loadgen");

/// Load runs take turns: on a 2-core machine two at once would disturb each other's timing.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A memcached child process, killed when dropped (also when a test panics).
struct Memcached {
    child: Child,
    port: u16,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

fn start_memcached() -> Option<Memcached> {
    if !Path::new(MEMCACHED).exists() {
        eprintln!("note: {MEMCACHED} is missing; skipping the memcached test");
        return None;
    }
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new(MEMCACHED)
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
            .args(["-t", "1", "-m", "64", "-u", "nobody"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn memcached");
        let mut mc = Memcached { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(mc);
            }
            if mc.child.try_wait().unwrap().is_some() {
                break; // port taken meanwhile: try another
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("memcached did not start");
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

/// Start the binary with `args` and the given standard input; output is piped.
fn spawn(args: &[&str], stdin: Stdio) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kpoll-loadgen")
}

/// Run the binary with `args`, killing it if it outlives `limit`.
fn loadgen(args: &[&str], limit: Duration) -> Run {
    let mut child = spawn(args, Stdio::null());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kpoll-loadgen {args:?} ran longer than {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!("kpoll-loadgen {args:?}:\n{stderr}");
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON {stdout:?}: {e}"))
    };
    Run {
        code: status.code().expect("exited normally"),
        json,
        stderr,
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn closed_loop_against_memcached() {
    let _turn = serial();
    let Some(mc) = start_memcached() else { return };
    let server = format!("127.0.0.1:{}", mc.port);
    let r = loadgen(
        &[
            "--server",
            &server,
            "--closed",
            "--duration",
            "1.2",
            "--warmup",
            "0.2",
        ]
        .into_iter()
        .chain(["--json", "--keys", "2000", "--seed", "5"])
        .collect::<Vec<_>>(),
        Duration::from_secs(20),
    );
    let j = &r.json;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(j["params"]["mode"], "closed");
    assert_eq!(u(&j["errors"]["total"]), 0);
    assert_eq!(u(&j["misses"]), 0);
    assert_eq!(u(&j["preload"]["keys"]), 2000);
    let n = u(&j["requests"]["total"]);
    assert!(n > 0);
    assert_eq!(n, u(&j["requests"]["get"]) + u(&j["requests"]["set"]));
    assert_eq!(n, u(&j["latency_us"]["count"]));
    assert!(u(&j["requests"]["set"]) > 0 && u(&j["requests"]["get"]) > 0);
    assert!((f(&j["achieved_rps"]) - n as f64 / f(&j["window_s"])).abs() < 1.0);
    let (p50, p99, max) = (
        f(&j["latency_us"]["p50"]),
        f(&j["latency_us"]["p99"]),
        f(&j["latency_us"]["max"]),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{}", j["latency_us"]);
}

#[test]
fn open_loop_against_memcached() {
    let _turn = serial();
    let Some(mc) = start_memcached() else { return };
    let server = format!("127.0.0.1:{}", mc.port);
    let r = loadgen(
        &[
            "--server",
            &server,
            "--rate",
            "2000",
            "--duration",
            "1.2",
            "--warmup",
            "0.2",
            "--connections",
            "8",
            "--threads",
            "2",
            "--get-ratio",
            "0.8",
            "--value-size",
            "200",
            "--keys",
            "1000",
            "--json",
        ],
        Duration::from_secs(20),
    );
    let j = &r.json;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(j["params"]["mode"], "open");
    assert_eq!(u(&j["errors"]["total"]), 0);
    assert_eq!(u(&j["misses"]), 0);
    assert!(u(&j["requests"]["total"]) > 0);
    let offered = f(&j["offered_rps"]);
    let achieved = f(&j["achieved_rps"]);
    assert_eq!(offered, 2000.0);
    assert!(
        (achieved / offered - 1.0).abs() < 0.10,
        "achieved {achieved} vs offered {offered}"
    );
    // Every request scheduled in the window was sent and answered.
    assert_eq!(u(&j["requests"]["unsent"]), 0);
    assert_eq!(u(&j["requests"]["scheduled"]), u(&j["requests"]["total"]));
    assert!(u(&j["send_lag_us"]["count"]) > 0);
}

#[test]
fn facebook_workload_against_memcached() {
    // Per-key fb_key/fb_value lengths: the preload, the run's sets and the verification of
    // every get must agree on them; fb_ia arrivals must still average the offered rate.
    let _turn = serial();
    let Some(mc) = start_memcached() else { return };
    let server = format!("127.0.0.1:{}", mc.port);
    let r = loadgen(
        &[
            "--server",
            &server,
            "--rate",
            "2000",
            "--ia",
            "fb_ia",
            "--key-size",
            "fb_key",
            "--value-size",
            "fb_value",
            "--duration",
            "1.2",
            "--warmup",
            "0.2",
            "--connections",
            "4",
            "--get-ratio",
            "0.7",
            "--keys",
            "5000",
            "--json",
        ],
        Duration::from_secs(20),
    );
    let j = &r.json;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(j["params"]["key_size"], "fb_key");
    assert_eq!(j["params"]["value_size"], "fb_value");
    assert_eq!(j["params"]["interarrival"], "fb_ia");
    assert_eq!(u(&j["errors"]["total"]), 0);
    assert_eq!(u(&j["misses"]), 0);
    assert_eq!(u(&j["preload"]["keys"]), 5000);
    assert!(u(&j["requests"]["get"]) > 0 && u(&j["requests"]["set"]) > 0);
    let achieved = f(&j["achieved_rps"]);
    assert!(
        (achieved / 2000.0 - 1.0).abs() < 0.15,
        "achieved {achieved}"
    );
    assert_eq!(u(&j["requests"]["unsent"]), 0);
}

/// How a fake server answers `get`s (`set`s always get `STORED`).
#[derive(Clone, Copy)]
enum Fake {
    /// A well-formed hit with the right length but the wrong bytes.
    WrongValue,
    /// Not memcached protocol at all.
    Garbage,
    /// No answer.
    Silent,
}

/// A tiny memcached imitation on 127.0.0.1, stopped when dropped.
struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_fake(mode: Fake) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut handlers = Vec::new();
        while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => {
                    let stop = stop2.clone();
                    handlers.push(thread::spawn(move || fake_conn(s, mode, &stop, deadline)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        for h in handlers {
            let _ = h.join();
        }
    });
    FakeServer {
        port,
        stop,
        thread: Some(thread),
    }
}

fn fake_conn(mut s: TcpStream, mode: Fake, stop: &AtomicBool, deadline: Instant) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let mut out = Vec::new();
        // Answer every complete command in the buffer.
        while let Some(nl) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..nl]).into_owned();
            let words: Vec<&str> = line.split(' ').collect();
            match words[0] {
                "set" => {
                    let len: usize = words[4].parse().unwrap();
                    if buf.len() < nl + 2 + len + 2 {
                        break; // data not all here yet
                    }
                    buf.drain(..nl + 2 + len + 2);
                    out.extend_from_slice(b"STORED\r\n");
                }
                "get" => {
                    buf.drain(..nl + 2);
                    match mode {
                        Fake::WrongValue => {
                            let v = "x".repeat(32);
                            out.extend_from_slice(
                                format!("VALUE {} 0 32\r\n{v}\r\nEND\r\n", words[1]).as_bytes(),
                            );
                        }
                        Fake::Garbage => out.extend_from_slice(b"HELLO THERE\r\n"),
                        Fake::Silent => {}
                    }
                }
                _ => {
                    buf.drain(..nl + 2);
                    out.extend_from_slice(b"ERROR\r\n");
                }
            }
        }
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn run_against_fake(mode: Fake, extra: &[&str]) -> Run {
    let _turn = serial();
    let fake = serve_fake(mode);
    let server = format!("127.0.0.1:{}", fake.port);
    let mut args = vec![
        "--server",
        &server,
        "--closed",
        "--duration",
        "0.6",
        "--warmup",
        "0.1",
        "--connections",
        "2",
        "--keys",
        "50",
        "--value-size",
        "32",
        "--json",
    ];
    args.extend_from_slice(extra);
    let r = loadgen(&args, Duration::from_secs(20));
    drop(fake);
    r
}

#[test]
fn wrong_value_is_a_verification_error() {
    let r = run_against_fake(Fake::WrongValue, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.json["errors"];
    assert!(u(&e["total"]) > 0);
    assert!(u(&e["wrong_value"]) > 0);
    assert_eq!(u(&e["total"]), u(&e["wrong_value"]), "{e}");
    assert_eq!(u(&r.json["misses"]), 0);
    assert!(r.json["error_samples"][0]
        .as_str()
        .unwrap()
        .contains("xxxxxxxx"));
    assert!(r.stderr.contains("wrong_value"));
}

#[test]
fn malformed_reply_is_an_error_and_the_connection_is_reopened() {
    let r = run_against_fake(Fake::Garbage, &["--get-ratio", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.json["errors"];
    assert!(u(&e["malformed"]) > 0, "{e}");
    assert!(u(&r.json["reconnects"]) > 0);
}

#[test]
fn unanswered_requests_time_out() {
    let t = Instant::now();
    let r = run_against_fake(
        Fake::Silent,
        &["--get-ratio", "1", "--drain-timeout", "0.3"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Depth 1 on 2 connections: each is stuck on its first get.
    assert_eq!(u(&r.json["errors"]["timeout"]), 2, "{}", r.json["errors"]);
    assert_eq!(u(&r.json["requests"]["total"]), 0);
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--rate", "100"][..],
        &["--server", "127.0.0.1:1", "--rate", "100", "--closed"][..],
        &["--server", "127.0.0.1:1", "--frobnicate"][..],
    ] {
        let r = loadgen(args, Duration::from_secs(10));
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.json.is_null());
    }
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--rate"));
}

/// `--start-on-stdin`: the run outlives its --duration while nobody writes, and measures
/// --duration minus --warmup seconds from the line on (a slow caller cannot miss the run).
#[test]
fn start_on_stdin_measures_from_the_line() {
    let _turn = serial();
    let Some(mc) = start_memcached() else { return };
    let server = format!("127.0.0.1:{}", mc.port);
    let args = [
        "--server",
        &server,
        "--closed",
        "--connections",
        "2",
        "--duration",
        "0.6",
        "--warmup",
        "0.1",
        "--start-on-stdin",
        "--json",
        "--keys",
        "500",
    ];
    let mut child = spawn(&args, Stdio::piped());
    // Three times its --duration without a line: still running.
    let quiet_until = Instant::now() + Duration::from_millis(1800);
    while Instant::now() < quiet_until {
        assert!(
            child.try_wait().unwrap().is_none(),
            "kpoll-loadgen ended without its start line"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let opened = Instant::now();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let measured = opened.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        measured >= Duration::from_millis(500) && measured < Duration::from_secs(10),
        "ran {measured:?} after the line, want the 0.5 s measured part (+ drain)"
    );
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(j["params"]["start_on_stdin"], true);
    assert_eq!(u(&j["errors"]["total"]), 0);
    let n = u(&j["requests"]["total"]);
    assert!(n > 0, "nothing measured: {j}");
    assert!((f(&j["window_s"]) - 0.5).abs() < 1e-9);
    assert!((f(&j["achieved_rps"]) - n as f64 / 0.5).abs() < 1.0);
}

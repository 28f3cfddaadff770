//! A small epoll echo server for kpoll's tests.
//!
//! `kpoll-echo [--port P] [--so-kpoll] [--workers N] [--migrate-ms M]
//!             [--fault KIND [--fault-after N] [--fault-every N]] [--stall-ms MS]
//!             [--stall-after N]`
//!
//! Accepts TCP connections on port P (default 7777) and echoes every read back (one read per
//! readiness event; short writes are retried until the whole read is written back). With
//! `--so-kpoll` the listening sockets opt in with `SO_KPOLL` (accepted sockets inherit it).
//!
//! `--workers N` (default 1) runs N threads, each with its own listening socket on P
//! (`SO_REUSEPORT` when N > 1), its own epoll and its own fault schedule. `--migrate-ms M` makes
//! every worker pin itself to the next online CPU every M ms (its blocking `epoll_wait` then
//! times out after M ms, so idle workers move too); nothing moves if only one CPU is online.
//!
//! Faults: after N reads of a worker (`--fault-after`, default 0), at the next batch that found
//! work without sleeping while the streak of such batches is at least 2 (when kpoll holds the
//! queue), the worker injects fault KIND once, or again every `--fault-every` further reads:
//! - `stall`: keeps the CPU busy for MS ms (`--stall-ms`, default 100) without any syscall (an
//!   application that took events and stalled), then serves normally again;
//! - `reopen-epoll`: closes its epoll, creates a new one holding the listener and every open
//!   connection, and goes on serving;
//! - `close-conns`: closes every connection (keeps the listener and the epoll);
//! - `exit`: exits the process with status 0.
//!
//! `--stall-after N` is an alias for `--fault stall --fault-after N`.
//!
//! Output lines (stdout, flushed):
//! - `READY` once all listening sockets exist;
//! - `MIGRATING` once, after the first successful move to another CPU;
//! - `FAULT-BEGIN <kind> <k>` and `FAULT-END <kind> <k>` around fault number k (counted from 1
//!   across all workers); `exit` prints only `FAULT-BEGIN`;
//! - `STALL-BEGIN` right after `FAULT-BEGIN stall <k>` and `STALL-END` right before
//!   `FAULT-END stall <k>`;
//! - `error <what> <ERRNO>` on a fatal error (exit 1).
//!
//! Usage errors exit 2.

use kpoll_tools::{errno_name, has_flag, last_errno, parse_arg, SO_KPOLL};
use std::collections::HashSet;
use std::io::Write;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: kpoll-echo [--port P] [--so-kpoll] [--workers N] [--migrate-ms M] \
                     [--fault stall|reopen-epoll|close-conns|exit [--fault-after N] \
                     [--fault-every N]] [--stall-ms MS] [--stall-after N]";

/// Open files the server asks for: room for well over 1500 connections.
const NOFILE_WANTED: libc::rlim_t = 65536;

/// How long a write waits for room in the socket's send buffer before giving the connection up.
const WRITE_WAIT_MS: libc::c_int = 5000;

/// Faults injected so far, across all workers.
static FAULTS: AtomicU64 = AtomicU64::new(0);
/// Whether `MIGRATING` was printed.
static MIGRATED: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    Stall,
    ReopenEpoll,
    CloseConns,
    Exit,
}

impl FaultKind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "stall" => Some(Self::Stall),
            "reopen-epoll" => Some(Self::ReopenEpoll),
            "close-conns" => Some(Self::CloseConns),
            "exit" => Some(Self::Exit),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Stall => "stall",
            Self::ReopenEpoll => "reopen-epoll",
            Self::CloseConns => "close-conns",
            Self::Exit => "exit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fault {
    kind: FaultKind,
    /// Reads before the first fault.
    after: u64,
    /// Further reads before each next fault; `None`: only one fault.
    every: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Config {
    port: u16,
    so_kpoll: bool,
    workers: usize,
    migrate: Option<Duration>,
    fault: Option<Fault>,
    stall: Duration,
}

fn parse_config(args: &[String]) -> Result<Config, String> {
    let kind = match parse_arg::<String>(args, "--fault")? {
        Some(k) => Some(FaultKind::parse(&k).ok_or_else(|| format!("--fault: bad kind {k:?}"))?),
        None => None,
    };
    let after: Option<u64> = parse_arg(args, "--fault-after")?;
    let every: Option<u64> = parse_arg(args, "--fault-every")?;
    let stall_after: Option<u64> = parse_arg(args, "--stall-after")?;
    let fault = match (kind, stall_after) {
        (Some(_), Some(_)) => return Err("--stall-after and --fault exclude each other".into()),
        (None, Some(_)) if after.is_some() => {
            return Err("--stall-after and --fault-after exclude each other".into())
        }
        (None, Some(n)) => Some(Fault {
            kind: FaultKind::Stall,
            after: n,
            every,
        }),
        (Some(kind), None) => Some(Fault {
            kind,
            after: after.unwrap_or(0),
            every,
        }),
        (None, None) if after.is_some() || every.is_some() => {
            return Err("--fault-after and --fault-every need --fault".into())
        }
        (None, None) => None,
    };
    if every == Some(0) {
        return Err("--fault-every must be at least 1".into());
    }
    let workers = parse_arg(args, "--workers")?.unwrap_or(1);
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    let migrate = match parse_arg::<u64>(args, "--migrate-ms")? {
        Some(0) => return Err("--migrate-ms must be at least 1".into()),
        ms => ms.map(Duration::from_millis),
    };
    Ok(Config {
        port: parse_arg(args, "--port")?.unwrap_or(7777),
        so_kpoll: has_flag(args, "--so-kpoll"),
        workers,
        migrate,
        fault,
        stall: Duration::from_millis(parse_arg(args, "--stall-ms")?.unwrap_or(100)),
    })
}

/// The (soft, hard) `RLIMIT_NOFILE` settings to try, best first, given the current ones; none if
/// the soft limit is already high enough.
fn nofile_plan(soft: libc::rlim_t, hard: libc::rlim_t) -> Vec<(libc::rlim_t, libc::rlim_t)> {
    if soft >= NOFILE_WANTED {
        return Vec::new();
    }
    let mut plan = vec![(NOFILE_WANTED, hard.max(NOFILE_WANTED))];
    if hard < NOFILE_WANTED && hard > soft {
        plan.push((hard, hard));
    }
    plan
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    for (soft, hard) in nofile_plan(lim.rlim_cur, lim.rlim_max) {
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `new` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return;
        }
    }
}

/// Prints `lines` together (no other thread's line comes between them) and flushes.
fn say(lines: &[&str]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

fn fail(what: &str) -> ! {
    say(&[&format!("error {what} {}", errno_name(last_errno()))]);
    exit(1);
}

fn usage(msg: &str) -> ! {
    eprintln!("kpoll-echo: {msg}\n{USAGE}");
    exit(2);
}

fn epoll_new() -> i32 {
    // SAFETY: plain epoll_create1.
    let epfd = unsafe { libc::epoll_create1(0) };
    if epfd < 0 {
        fail("epoll_create1");
    }
    epfd
}

fn epoll_add(epfd: i32, fd: i32) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: `ev` is valid; fds are ours.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        fail("epoll_ctl");
    }
}

fn set_int_opt(fd: i32, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: `value` is a valid int for the call's duration; `fd` is our socket.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

fn listen_on(port: u16, so_kpoll: bool, reuseport: bool) -> i32 {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        fail("socket");
    }
    set_int_opt(fd, libc::SO_REUSEADDR, 1);
    if reuseport && !set_int_opt(fd, libc::SO_REUSEPORT, 1) {
        fail("SO_REUSEPORT");
    }
    if so_kpoll && !set_int_opt(fd, SO_KPOLL, 1) {
        fail("SO_KPOLL");
    }
    // SAFETY: an all-zero sockaddr_in is valid (INADDR_ANY).
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    let addr_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `addr_len` bytes.
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), addr_len) } != 0 {
        fail("bind");
    }
    // SAFETY: plain listen(2) on our socket.
    if unsafe { libc::listen(fd, 4096) } != 0 {
        fail("listen");
    }
    fd
}

/// Writes all of `data` to the non-blocking socket `fd`, waiting for room when it is full.
/// False if the connection failed or stayed full for `WRITE_WAIT_MS`.
fn write_all(fd: i32, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: `data` is valid for its length.
        let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        if n < 0 {
            match last_errno() {
                libc::EINTR => continue,
                libc::EAGAIN => {}
                _ => return false,
            }
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `pfd` is valid for one entry.
        if unsafe { libc::poll(&mut pfd, 1, WRITE_WAIT_MS) } == 0 {
            return false;
        }
    }
    true
}

/// Moves the calling thread to the next online CPU every `every`.
struct Migrator {
    every: Duration,
    last: Instant,
    cpus: usize,
}

impl Migrator {
    fn new(every: Duration) -> Self {
        // SAFETY: plain sysconf(3).
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Self {
            every,
            last: Instant::now(),
            cpus: online.max(1) as usize,
        }
    }

    fn tick(&mut self) {
        if self.cpus < 2 || self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        // SAFETY: plain sched_getcpu(3).
        let cur = unsafe { libc::sched_getcpu() };
        let target = if cur < 0 {
            0
        } else {
            (cur as usize + 1) % self.cpus
        };
        // SAFETY: an all-zero cpu_set_t is the empty set; `target` is below CPU_SETSIZE (online
        // CPUs), and `set` is a valid cpu_set_t of the size passed. Pid 0 is this thread.
        let moved = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(target, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        };
        if moved && !MIGRATED.swap(true, Ordering::Relaxed) {
            say(&["MIGRATING"]);
        }
    }
}

/// One serving thread: a listener, an epoll and the connections accepted on that listener.
struct Worker {
    cfg: Config,
    listener: i32,
    epfd: i32,
    conns: HashSet<i32>,
    reads: u64,
    /// Value of `reads` from which the next fault may fire.
    next_fault: Option<u64>,
    buf: [u8; 4096],
}

impl Worker {
    fn new(cfg: &Config, listener: i32) -> Self {
        let epfd = epoll_new();
        epoll_add(epfd, listener);
        Self {
            cfg: cfg.clone(),
            listener,
            epfd,
            conns: HashSet::new(),
            reads: 0,
            next_fault: cfg.fault.map(|f| f.after),
            buf: [0; 4096],
        }
    }

    fn run(mut self) -> ! {
        let timeout = self
            .cfg
            .migrate
            .map_or(-1, |m| m.as_millis().min(i32::MAX as u128) as i32);
        let mut migrator = self.cfg.migrate.map(Migrator::new);
        // Deliveries in a row that found work without sleeping; kpoll holds the queue from the
        // second one on, so faults start only then (an application that really has work).
        let mut streak: u32 = 0;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            if let Some(m) = migrator.as_mut() {
                m.tick();
            }
            // Look without sleeping first, so that we know whether this batch needed a sleep.
            // SAFETY: `events` is valid for 64 entries.
            let mut n = unsafe { libc::epoll_wait(self.epfd, events.as_mut_ptr(), 64, 0) };
            if n > 0 {
                streak = streak.saturating_add(1);
            } else {
                streak = 0;
                // SAFETY: as above.
                n = unsafe { libc::epoll_wait(self.epfd, events.as_mut_ptr(), 64, timeout) };
            }
            if n < 0 {
                if last_errno() == libc::EINTR {
                    continue;
                }
                fail("epoll_wait");
            }
            for ev in &events[..n as usize] {
                let fd = ev.u64 as i32;
                if fd == self.listener {
                    self.accept_all();
                    continue;
                }
                if !self.serve(fd) {
                    continue;
                }
                self.reads += 1;
                if streak >= 2 && self.next_fault.is_some_and(|at| self.reads >= at) {
                    let fault = self.cfg.fault.expect("next_fault comes from a fault");
                    self.next_fault = fault.every.map(|every| self.reads + every);
                    self.inject(fault.kind);
                    if fault.kind == FaultKind::CloseConns {
                        // The rest of the batch names closed connections.
                        break;
                    }
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            // SAFETY: accept4 on our listener; null address is allowed.
            let conn = unsafe {
                libc::accept4(
                    self.listener,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK,
                )
            };
            if conn < 0 {
                break;
            }
            epoll_add(self.epfd, conn);
            self.conns.insert(conn);
        }
    }

    /// Reads once from `fd` and echoes it back; true if something was read.
    fn serve(&mut self, fd: i32) -> bool {
        // SAFETY: `buf` is valid for its length.
        let got = unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
        if got <= 0 {
            if got == 0 || last_errno() != libc::EAGAIN {
                self.close_conn(fd);
            }
            return false;
        }
        if !write_all(fd, &self.buf[..got as usize]) {
            self.close_conn(fd);
        }
        true
    }

    fn close_conn(&mut self, fd: i32) {
        self.conns.remove(&fd);
        // SAFETY: closing our own connection; it leaves the epoll with it.
        unsafe { libc::close(fd) };
    }

    fn inject(&mut self, kind: FaultKind) {
        let k = FAULTS.fetch_add(1, Ordering::Relaxed) + 1;
        let begin = format!("FAULT-BEGIN {} {k}", kind.name());
        let end = format!("FAULT-END {} {k}", kind.name());
        match kind {
            FaultKind::Exit => {
                say(&[&begin]);
                exit(0);
            }
            FaultKind::Stall => {
                say(&[&begin, "STALL-BEGIN"]);
                let start = Instant::now();
                while start.elapsed() < self.cfg.stall {
                    std::hint::spin_loop();
                }
                say(&["STALL-END", &end]);
            }
            FaultKind::ReopenEpoll => {
                say(&[&begin]);
                // SAFETY: closing our own epoll; nothing else uses it.
                unsafe { libc::close(self.epfd) };
                self.epfd = epoll_new();
                epoll_add(self.epfd, self.listener);
                for &fd in &self.conns {
                    epoll_add(self.epfd, fd);
                }
                say(&[&end]);
            }
            FaultKind::CloseConns => {
                say(&[&begin]);
                for fd in self.conns.drain() {
                    // SAFETY: closing our own connection.
                    unsafe { libc::close(fd) };
                }
                say(&[&end]);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = parse_config(&args).unwrap_or_else(|e| usage(&e));
    raise_nofile();
    let workers: Vec<Worker> = (0..cfg.workers)
        .map(|_| Worker::new(&cfg, listen_on(cfg.port, cfg.so_kpoll, cfg.workers > 1)))
        .collect();
    let threads: Vec<_> = workers
        .into_iter()
        .map(|w| std::thread::spawn(move || w.run()))
        .collect();
    say(&["READY"]);
    for t in threads {
        if t.join().is_err() {
            exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<Config, String> {
        let args: Vec<String> = std::iter::once("kpoll-echo")
            .chain(s.split_whitespace())
            .map(String::from)
            .collect();
        parse_config(&args)
    }

    #[test]
    fn defaults() {
        let c = cfg("").unwrap();
        assert_eq!(c.port, 7777);
        assert!(!c.so_kpoll);
        assert_eq!(c.workers, 1);
        assert_eq!(c.migrate, None);
        assert_eq!(c.fault, None);
        assert_eq!(c.stall, Duration::from_millis(100));
    }

    #[test]
    fn stall_alias() {
        let c = cfg("--port 7003 --so-kpoll --stall-after 3000 --stall-ms 3000").unwrap();
        assert_eq!(c.port, 7003);
        assert!(c.so_kpoll);
        assert_eq!(c.stall, Duration::from_millis(3000));
        let fault = Fault {
            kind: FaultKind::Stall,
            after: 3000,
            every: None,
        };
        assert_eq!(c.fault, Some(fault));
        let same = cfg("--port 7003 --so-kpoll --fault stall --fault-after 3000 --stall-ms 3000");
        assert_eq!(same.unwrap(), c);
    }

    #[test]
    fn faults() {
        let c = cfg("--workers 4 --fault reopen-epoll --fault-after 100 --fault-every 50").unwrap();
        assert_eq!(c.workers, 4);
        let fault = Fault {
            kind: FaultKind::ReopenEpoll,
            after: 100,
            every: Some(50),
        };
        assert_eq!(c.fault, Some(fault));
        assert_eq!(cfg("--fault exit").unwrap().fault.unwrap().after, 0);
        assert_eq!(
            cfg("--fault close-conns").unwrap().fault.unwrap().kind,
            FaultKind::CloseConns
        );
        for kind in ["stall", "reopen-epoll", "close-conns", "exit"] {
            assert_eq!(FaultKind::parse(kind).unwrap().name(), kind);
        }
    }

    #[test]
    fn migrate() {
        let c = cfg("--migrate-ms 20").unwrap();
        assert_eq!(c.migrate, Some(Duration::from_millis(20)));
    }

    #[test]
    fn bad_args() {
        for bad in [
            "--fault nap",
            "--fault",
            "--fault-after 3",
            "--fault-every 3",
            "--fault stall --fault-every 0",
            "--fault exit --stall-after 3",
            "--stall-after 3 --fault-after 4",
            "--workers 0",
            "--workers x",
            "--migrate-ms 0",
            "--port 70000",
            "--stall-after -1",
        ] {
            assert!(cfg(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn nofile() {
        assert_eq!(nofile_plan(1024, 4096), vec![(65536, 65536), (4096, 4096)]);
        assert_eq!(nofile_plan(1024, 1_048_576), vec![(65536, 1_048_576)]);
        assert_eq!(nofile_plan(1024, libc::RLIM_INFINITY).len(), 1);
        assert_eq!(nofile_plan(1024, 1024), vec![(65536, 65536)]);
        assert!(nofile_plan(65536, 65536).is_empty());
        assert!(nofile_plan(100_000, 1_048_576).is_empty());
    }
}

//! Takes a kpoll hold and then leaves `epoll_wait()` in a way that must give it back.
//!
//! `kpoll-holder --port P [--go-file F] [--then empty|empty-blocking|close-spin|sleep]`
//!
//! Listens on port P (opted in by the caller with `net.kpoll.ports`), accepts one connection and
//! watches it with one epoll instance together with an eventfd that is always readable, so that
//! every `epoll_wait()` returns events and the application looks busy. It then calls
//! `epoll_wait()` with a zero timeout over and over, reading whatever the connection brings and
//! working a millisecond after each return (`PACE`), until `/proc/net/kpoll` shows a held queue,
//! and prints `HELD`. With `--go-file F` it goes on that way (busy in `epoll_wait()`, the peer
//! sending, so the hold stays in force however long the caller takes) until file F exists, and
//! prints `GO held watchdog_fires=N`, or `GO released ...` if the queue is not held then (N: the
//! total of watchdog fires at that moment). It sends `H` on the connection (the peer then stops
//! sending). Then, by `--then`:
//!
//! - `empty` (default): drains the eventfd, calls zero-timeout `epoll_wait()` until one returns
//!   0, prints `EMPTY` and blocks in `pause()`;
//! - `empty-blocking`: drains the eventfd, prints `EMPTY` and blocks in `epoll_wait()` with no
//!   timeout (it finds nothing and sleeps there), forever;
//! - `close-spin`: closes the connection (the last socket on its queue), prints `CLOSED` and
//!   keeps calling zero-timeout `epoll_wait()`, which keeps returning the eventfd: busy, but no
//!   longer with anything from that queue;
//! - `sleep`: prints `SLEEPING` and blocks in `nanosleep()`, never returning to `epoll_wait()`.
//!
//! The way out is the call that returned 0 (`empty`), the last blocking call (`empty-blocking`:
//! the stream's last packets may wake it a few times first), `close()` or `nanosleep()`. Just
//! before it the holder reads `/proc/net/kpoll` and prints `OUT held|released
//! watchdog_fires=N` (for `empty` after the loop, with what it read before the call that
//! returned 0; for `empty-blocking` before each blocking call, so the last line is the one):
//! between go and the way out the holder is still busy in `epoll_wait()`, and a stall of the
//! guest there may end the hold by the adaptive deadline, which is not the way out's doing.
//!
//! It runs until killed. Prints `READY` once listening. Errors print `error <what> <ERRNO>` and
//! exit 1.

use kpoll_tools::{errno_name, last_errno, parse_arg};
use std::{process::exit, thread::sleep, time::Duration, time::Instant};

const USAGE: &str =
    "usage: kpoll-holder --port P [--go-file F] [--then empty|empty-blocking|close-spin|sleep]";

fn fail(what: &str) -> ! {
    println!("error {what} {}", errno_name(last_errno()));
    exit(1);
}

fn check(ret: libc::c_int, what: &str) -> libc::c_int {
    if ret < 0 {
        fail(what);
    }
    ret
}

/// What `/proc/net/kpoll` shows at one read: whether a NAPI instance is in state `held`, and
/// the `watchdog_fires` column of the `total` line (found by the header's column names; -1 if
/// it cannot be read).
struct Status {
    held: bool,
    watchdog_fires: i64,
}

fn status() -> Status {
    let text = std::fs::read_to_string("/proc/net/kpoll").unwrap_or_default();
    let held = text.lines().any(|l| l.split(' ').nth(3) == Some("held"));
    let column = text
        .lines()
        .find(|l| l.starts_with("napi_id "))
        .and_then(|header| header.split(' ').position(|c| c == "watchdog_fires"));
    let total = text.lines().find(|l| l.starts_with("total "));
    let watchdog_fires = match (column, total) {
        (Some(i), Some(line)) => line
            .split(' ')
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1),
        _ => -1,
    };
    Status {
        held,
        watchdog_fires,
    }
}

impl Status {
    /// `label held|released watchdog_fires=N`.
    fn line(&self, label: &str) -> String {
        let state = if self.held { "held" } else { "released" };
        format!("{label} {state} watchdog_fires={}", self.watchdog_fires)
    }
}

/// The work the holder does after each `epoll_wait()` until it goes out: about the stream's
/// period (a packet every millisecond), so that nearly every return brings the connection's
/// data. A holder that returned faster than packets arrive would see its streak on the queue
/// end after `IDLE_DELIVERIES` (3) returns without them and its hold come and go: the test's
/// hold would be in force at go or at the way out only by chance (a debug guest on a 2-core
/// host: not held at go in 3 attempts in 3 of 15 runs).
const PACE: Duration = Duration::from_millis(1);

/// Busy for `span`, on the CPU (not asleep): the application is working, not waiting.
fn work(span: Duration) {
    let start = Instant::now();
    while start.elapsed() < span {
        std::hint::spin_loop();
    }
}

fn listen_on(port: u16) -> libc::c_int {
    // SAFETY: plain socket(2) call.
    let fd = check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) },
        "socket",
    );
    let one: libc::c_int = 1;
    // SAFETY: `one` is a valid int for the option's length.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    // SAFETY: all-zeroes is a valid `sockaddr_in` (INADDR_ANY).
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid `sockaddr_in` of `len` bytes.
    check(
        unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) },
        "bind",
    );
    // SAFETY: plain listen(2) call.
    check(unsafe { libc::listen(fd, 4) }, "listen");
    fd
}

/// Reads everything `fd` has (non-blocking); returns false at end of stream.
fn drain(fd: libc::c_int) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n > 0 {
            continue;
        }
        return n != 0;
    }
}

/// One `epoll_wait()` with `timeout_ms` (0: return at once, -1: sleep until an event), reading
/// whatever the connection brings; returns how many events it returned.
fn wait_once(
    epfd: libc::c_int,
    conn: libc::c_int,
    conn_open: &mut bool,
    timeout_ms: libc::c_int,
) -> libc::c_int {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: `events` is valid for 4 entries.
    let n = check(
        unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 4, timeout_ms) },
        "epoll_wait",
    );
    for event in events.iter().take(n as usize) {
        if event.u64 == 1 && *conn_open && !drain(conn) {
            // SAFETY: removing a watched fd; the event argument is ignored for DEL.
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, conn, std::ptr::null_mut()) };
            *conn_open = false;
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = |msg: &str| -> ! {
        eprintln!("kpoll-holder: {msg}\n{USAGE}");
        exit(2)
    };
    let port: u16 = parse_arg(&args, "--port")
        .unwrap_or_else(|e| usage(&e))
        .unwrap_or_else(|| usage("--port is required"));
    let go_file: Option<String> = parse_arg(&args, "--go-file").unwrap_or_else(|e| usage(&e));
    let then: String = parse_arg(&args, "--then")
        .unwrap_or_else(|e| usage(&e))
        .unwrap_or_else(|| "empty".into());
    if !["empty", "empty-blocking", "close-spin", "sleep"].contains(&then.as_str()) {
        usage(&format!("--then: bad value {then:?}"));
    }

    let listener = listen_on(port);
    println!("READY");
    // SAFETY: plain accept(2) call; the peer address is not wanted.
    let conn = check(
        unsafe { libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut()) },
        "accept",
    );
    // SAFETY: plain eventfd(2) call; a count of 1 keeps it readable until it is read.
    let busy = check(unsafe { libc::eventfd(1, libc::EFD_NONBLOCK) }, "eventfd");
    // SAFETY: plain epoll_create1(2) call.
    let epfd = check(unsafe { libc::epoll_create1(0) }, "epoll_create1");
    for (fd, tag) in [(conn, 1u64), (busy, 2u64)] {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: tag,
        };
        // SAFETY: `event` is a valid `epoll_event`.
        check(
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) },
            "epoll_ctl",
        );
    }

    let mut conn_open = true;
    let start = Instant::now();
    while !status().held {
        if start.elapsed() > Duration::from_secs(30) {
            println!("error no-hold ETIMEDOUT");
            exit(1);
        }
        wait_once(epfd, conn, &mut conn_open, 0);
        work(PACE);
    }
    println!("HELD");
    if let Some(path) = go_file {
        // Still busy in epoll_wait(), the peer still sending: the hold stays in force however
        // long the caller takes to say go (its steps can outlast the watchdog on a slow guest).
        while !std::path::Path::new(&path).exists() {
            wait_once(epfd, conn, &mut conn_open, 0);
            work(PACE);
        }
        println!("{}", status().line("GO"));
    }
    // SAFETY: `b"H"` is valid for one byte.
    unsafe { libc::send(conn, b"H".as_ptr().cast(), 1, libc::MSG_DONTWAIT) };

    match then.as_str() {
        "close-spin" => {
            println!("{}", status().line("OUT"));
            // SAFETY: `conn` is open and not used again.
            unsafe { libc::close(conn) };
            println!("CLOSED");
            let mut closed = false;
            loop {
                wait_once(epfd, conn, &mut closed, 0);
            }
        }
        "sleep" => {
            println!("{}", status().line("OUT"));
            println!("SLEEPING");
            loop {
                sleep(Duration::from_secs(3600));
            }
        }
        _ => {
            let mut count = [0u8; 8];
            // SAFETY: `count` is valid for the 8 bytes an eventfd read returns.
            check(
                unsafe { libc::read(busy, count.as_mut_ptr().cast(), 8) } as libc::c_int,
                "read eventfd",
            );
            if then == "empty-blocking" {
                println!("{}", status().line("OUT"));
                println!("EMPTY");
                loop {
                    wait_once(epfd, conn, &mut conn_open, -1);
                    println!("{}", status().line("OUT"));
                }
            }
            let mut before = status();
            while wait_once(epfd, conn, &mut conn_open, 0) > 0 {
                before = status();
            }
            println!("{}", before.line("OUT"));
            println!("EMPTY");
            loop {
                // SAFETY: plain pause(2) call; the process is killed by the test.
                unsafe { libc::pause() };
            }
        }
    }
}

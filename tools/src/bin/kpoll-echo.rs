//! A small epoll echo server for kpoll's tests.
//!
//! `kpoll-echo --port P [--so-kpoll] [--stall-after N --stall-ms MS]`
//!
//! Accepts TCP connections and echoes every read back. With `--so-kpoll` the listening socket
//! opts in with `SO_KPOLL` (accepted sockets inherit it). With `--stall-after N`, after N
//! reads, at the next batch that found work without sleeping (when kpoll holds the queue), it
//! keeps the CPU busy for MS milliseconds without calling `epoll_wait` (an
//! application that took events and stalled), then serves normally again. Prints `READY` once
//! listening and `STALL-BEGIN`/`STALL-END` around the stall.

use kpoll_tools::{arg_value, errno_name, last_errno, SO_KPOLL};
use std::io::Write;
use std::process::exit;
use std::time::{Duration, Instant};

fn fail(what: &str) -> ! {
    println!("error {what} {}", errno_name(last_errno()));
    exit(1);
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

fn listen_on(port: u16, so_kpoll: bool) -> i32 {
    // SAFETY: plain socket calls on a socket we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        if fd < 0 {
            fail("socket");
        }
        let one: libc::c_int = 1;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const i32).cast(),
            len,
        );
        if so_kpoll
            && libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_KPOLL,
                (&one as *const i32).cast(),
                len,
            ) != 0
        {
            fail("SO_KPOLL");
        }
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as u16;
        addr.sin_port = port.to_be();
        let addr_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), addr_len) != 0 {
            fail("bind");
        }
        if libc::listen(fd, 1024) != 0 {
            fail("listen");
        }
        fd
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg_value(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(7777);
    let so_kpoll = args.iter().any(|a| a == "--so-kpoll");
    let stall_after: Option<u64> = arg_value(&args, "--stall-after").and_then(|v| v.parse().ok());
    let stall = Duration::from_millis(
        arg_value(&args, "--stall-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    let listener = listen_on(port, so_kpoll);
    // SAFETY: plain epoll_create1.
    let epfd = unsafe { libc::epoll_create1(0) };
    if epfd < 0 {
        fail("epoll_create1");
    }
    epoll_add(epfd, listener);
    println!("READY");
    let _ = std::io::stdout().flush();

    let mut reads: u64 = 0;
    let mut stalled = false;
    // Deliveries in a row that found work without sleeping; kpoll holds the queue from the
    // second one on, so the stall starts only then (an application that really has work).
    let mut streak: u32 = 0;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    let mut buf = [0u8; 4096];
    loop {
        // Look without sleeping first, so that we know whether this batch needed a sleep.
        // SAFETY: `events` is valid for 64 entries.
        let mut n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 64, 0) };
        if n > 0 {
            streak += 1;
        } else {
            streak = 0;
            // SAFETY: as above.
            n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 64, -1) };
        }
        if n < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            fail("epoll_wait");
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as i32;
            if fd == listener {
                loop {
                    // SAFETY: accept4 on our listener; null address is allowed.
                    let conn = unsafe {
                        libc::accept4(
                            listener,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK,
                        )
                    };
                    if conn < 0 {
                        break;
                    }
                    epoll_add(epfd, conn);
                }
                continue;
            }
            // SAFETY: `buf` is valid for its length.
            let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if got <= 0 {
                if got == 0 || last_errno() != libc::EAGAIN {
                    // SAFETY: closing our own fd.
                    unsafe { libc::close(fd) };
                }
                continue;
            }
            // SAFETY: writing back what was read.
            unsafe { libc::write(fd, buf.as_ptr().cast(), got as usize) };
            reads += 1;
            if !stalled && streak >= 2 && stall_after.is_some_and(|after| reads >= after) {
                stalled = true;
                println!("STALL-BEGIN");
                let _ = std::io::stdout().flush();
                let start = Instant::now();
                while start.elapsed() < stall {
                    std::hint::spin_loop();
                }
                println!("STALL-END");
                let _ = std::io::stdout().flush();
            }
        }
    }
}

//! The system calls that set the server up: the open-file limit, epoll instances, listening
//! sockets, and writes that wait for room in a full socket.

use crate::output::fail;
use kpoll_tools::{last_errno, SO_KPOLL};

/// Open files the server asks for: room for well over 1500 connections.
const NOFILE_WANTED: libc::rlim_t = 65536;

/// How long a write waits for room in the socket's send buffer before giving the connection up.
const WRITE_WAIT_MS: libc::c_int = 5000;

/// The (soft, hard) `RLIMIT_NOFILE` settings to try, best first, given the current ones; none if
/// the soft limit is already high enough.
pub(crate) fn nofile_plan(
    soft: libc::rlim_t,
    hard: libc::rlim_t,
) -> Vec<(libc::rlim_t, libc::rlim_t)> {
    if soft >= NOFILE_WANTED {
        return Vec::new();
    }
    let mut plan = vec![(NOFILE_WANTED, hard.max(NOFILE_WANTED))];
    if hard < NOFILE_WANTED && hard > soft {
        plan.push((hard, hard));
    }
    plan
}

pub(crate) fn raise_nofile() {
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

pub(crate) fn epoll_new() -> i32 {
    // SAFETY: plain epoll_create1.
    let epfd = unsafe { libc::epoll_create1(0) };
    if epfd < 0 {
        fail("epoll_create1");
    }
    epfd
}

pub(crate) fn epoll_add(epfd: i32, fd: i32) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: `ev` is valid; fds are ours.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        fail("epoll_ctl");
    }
}

pub(crate) fn set_int_opt(fd: i32, name: libc::c_int, value: libc::c_int) -> bool {
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

pub(crate) fn listen_on(port: u16, so_kpoll: bool, reuseport: bool) -> i32 {
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
pub(crate) fn write_all(fd: i32, mut data: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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

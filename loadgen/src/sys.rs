//! Thin, safe wrappers over the few Linux calls the event loop needs: a monotonic clock in
//! nanoseconds, epoll, and an absolute-deadline timerfd (nanosecond wake-ups, which plain
//! `epoll_wait`'s millisecond timeout cannot give).

use std::io;
use std::os::fd::RawFd;

/// CLOCK_MONOTONIC in nanoseconds. All scheduled and receive times use this clock, so that the
/// timerfd (armed on the same clock) wakes the loop exactly at a scheduled send time.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Ask the kernel for (almost) no timer slack on this thread, so timed wake-ups are not
/// deferred by the default 50 µs. Best effort.
pub fn minimize_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long value and touches only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

pub struct Epoll {
    fd: RawFd,
}

pub const EV_IN: u32 = libc::EPOLLIN as u32;
pub const EV_OUT: u32 = libc::EPOLLOUT as u32;
pub const EV_ERR: u32 = (libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32;
const EV_ET: u32 = libc::EPOLLET as u32;

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall, no pointers.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll { fd })
    }

    /// Register `fd` edge-triggered for `events`, tagged with `token`.
    pub fn add(&self, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: events | EV_ET,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as above; failure (fd already gone) is harmless.
        unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Wait for events; `timeout_ms` < 0 blocks. Returns (token, events) pairs in `out`.
    pub fn wait(
        &self,
        buf: &mut [libc::epoll_event],
        timeout_ms: i32,
        out: &mut Vec<(u64, u32)>,
    ) -> io::Result<()> {
        out.clear();
        // SAFETY: `buf` is a valid, writable array of `buf.len()` epoll_events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                buf.as_mut_ptr(),
                buf.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        for ev in &buf[..n as usize] {
            // Copy out of the (packed on x86-64) struct by value.
            let (token, events) = (ev.u64, ev.events);
            out.push((token, events));
        }
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own this fd.
        unsafe { libc::close(self.fd) };
    }
}

/// A CLOCK_MONOTONIC timerfd armed with absolute deadlines.
pub struct TimerFd {
    fd: RawFd,
    armed_at: u64,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall, no pointers.
        let fd = cvt(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })?;
        Ok(TimerFd { fd, armed_at: 0 })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Arm to fire at `deadline_ns` (CLOCK_MONOTONIC). No syscall if already armed there.
    pub fn arm_at(&mut self, deadline_ns: u64) -> io::Result<()> {
        if deadline_ns == self.armed_at {
            return Ok(());
        }
        let deadline_ns = deadline_ns.max(1); // zero would disarm
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is valid; old value pointer may be null.
        cvt(unsafe {
            libc::timerfd_settime(
                self.fd,
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })?;
        self.armed_at = deadline_ns;
        Ok(())
    }

    /// Consume a pending expiration (after it fired) so the fd stops being readable.
    pub fn ack(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: `buf` is 8 writable bytes; the fd is non-blocking.
        unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), 8) };
        self.armed_at = 0;
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        // SAFETY: we own this fd.
        unsafe { libc::close(self.fd) };
    }
}

//! A serving thread: echoes what its connections send, and injects the configured fault.

use crate::config::{Config, FaultKind};
use crate::migrate::Migrator;
use crate::output::{fail, say};
use crate::sys::{epoll_add, epoll_new, write_all};
use kpoll_tools::last_errno;
use std::collections::HashSet;
use std::path::Path;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Faults injected so far, across all workers.
static FAULTS: AtomicU64 = AtomicU64::new(0);

/// One serving thread: a listener, an epoll and the connections accepted on that listener.
pub(crate) struct Worker {
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
    pub(crate) fn new(cfg: &Config, listener: i32) -> Self {
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

    pub(crate) fn run(mut self) -> ! {
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

    /// Keeps the CPU busy without any epoll call for `--stall-ms`, or until the `--stall-until`
    /// file exists (looked for once a millisecond): "released" or "timeout".
    fn stall(&self) -> &'static str {
        let start = Instant::now();
        let mut looked = start;
        while start.elapsed() < self.cfg.stall {
            if let Some(path) = &self.cfg.stall_until {
                if looked.elapsed() >= Duration::from_millis(1) {
                    if Path::new(path).exists() {
                        return "released";
                    }
                    looked = Instant::now();
                }
            }
            std::hint::spin_loop();
        }
        "timeout"
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
                let how = self.stall();
                say(&[&format!("STALL-END {how}"), &end]);
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

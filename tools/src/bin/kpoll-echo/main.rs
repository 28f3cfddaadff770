//! A small epoll echo server for kpoll's tests.
//!
//! `kpoll-echo [--port P] [--so-kpoll] [--workers N] [--migrate-ms M]
//!             [--fault KIND [--fault-after N] [--fault-every N]] [--stall-ms MS]
//!             [--stall-until FILE] [--stall-after N]`
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
//! - `stall`: keeps the CPU busy for MS ms (`--stall-ms`, default 100) without any epoll call
//!   (an application that took events and stalled), then serves normally again; with
//!   `--stall-until FILE` the stall ends as soon as FILE exists (looked for once a millisecond,
//!   the only system call of the stall), MS being its upper bound;
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
//! - `STALL-BEGIN` right after `FAULT-BEGIN stall <k>` and `STALL-END released|timeout` right
//!   before `FAULT-END stall <k>` (`released`: the `--stall-until` file appeared);
//! - `error <what> <ERRNO>` on a fatal error (exit 1).
//!
//! Usage errors exit 2.
//!
//! Modules: `config` (the command line), `worker` (serving and faults), `migrate` (CPU hops),
//! `sys` (set-up system calls), `output` (stdout lines and exits).

mod config;
mod migrate;
mod output;
mod sys;
mod worker;

use config::parse_config;
use output::{say, usage};
use std::process::exit;
use sys::{listen_on, raise_nofile};
use worker::Worker;

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

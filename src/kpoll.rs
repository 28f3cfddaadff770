// SPDX-License-Identifier: GPL-2.0

//! kpoll: keep a NIC queue's RX interrupt masked while the application has work.
//!
//! While an opted-in application keeps coming back to `epoll_wait()` with work, its RX queue's
//! IRQ stays masked and packets are taken from the queue by polling the NAPI instance from
//! `epoll_wait()` itself, in the application's context. When `epoll_wait()` finds nothing and
//! is about to sleep, the queue goes straight back to normal IRQ-driven processing, so an idle
//! application costs nothing and sees its next packet with normal latency. A per-NAPI watchdog
//! hrtimer gives the queue back to IRQs if the application stops calling `epoll_wait()`.
//!
//! # Design
//!
//! The IRQ is held with the `NAPI_STATE_KPOLL_HOLD` bit that kpoll's kernel patch adds: while
//! it is set, `napi_complete_done()` tells the driver to leave its IRQ masked. kpoll does not
//! use the kernel's deferral machinery (`napi_defer_hard_irqs`, `gro_flush_timeout`,
//! `napi->timer`) for this: deferral keeps re-polling the queue from a timer for a while after
//! every idle moment, which is the CPU cost at low load that kpoll avoids, and its knobs are per
//! device and shared with other users. kpoll's own watchdog lives in this module, per NAPI, and
//! touches no device setting, so nothing needs restoring on unload.
//!
//! The decisions are made by the pure state machine in [`policy`] (host-tested); this crate's
//! other files only connect it to the hook points ([`hooks`]), the NAPI table with its timers
//! ([`napi_table`]), the `net.kpoll.*` sysctls ([`knobs`]) and `/proc/net/kpoll` ([`report`]).
//!
//! Contexts: hooks run in process context (`epoll_wait()`, `epoll_ctl()`) or, for socket
//! wakeups, in softirq context; the watchdog runs in hardirq context (softirq on `PREEMPT_RT`).
//! Shared state is atomics.

use kernel::{c_str, net::kpoll, prelude::*, proc::ProcFile, sync::Arc, sysctl};

mod hooks;
mod knobs;
mod napi_table;
#[expect(
    unreachable_pub,
    reason = "the policy is also the host library `kpoll-policy` (its tests, kpollctl), whose API \
              is `pub`"
)]
mod policy;
mod report;
mod state;

use state::Kpoll;

module! {
    type: KpollModule,
    name: "kpoll",
    author: "kpoll developers",
    description: "Keeps RX IRQs masked and polls NAPI from epoll_wait while the application has work",
    license: "GPL",
}

/// The module: registrations first, so they are dropped (unregistered) before the state.
struct KpollModule {
    _hooks: kpoll::Registration<Kpoll>,
    _sysctl: sysctl::Registration<Kpoll>,
    _proc: ProcFile<Kpoll>,
}

impl kernel::Module for KpollModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Differs from load to load (see `Kpoll::new`). Fibonacci hashing spreads every bit of
        // the clock into the low byte, which the holder generation takes: with a tick-based
        // clocksource the clock's own low bits never change.
        let seed = (napi_table::now_ns().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
        let state = Arc::pin_init(Kpoll::new(seed), GFP_KERNEL)?;
        let proc = ProcFile::create(c_str!("kpoll"), state.clone())?;
        let sysctl = sysctl::Registration::register(c_str!("net/kpoll"), state.clone())?;
        let hooks = kpoll::Registration::register(state)?;
        pr_info!("loaded; opt in with net.kpoll.ports or SO_KPOLL\n");
        Ok(Self {
            _hooks: hooks,
            _sysctl: sysctl,
            _proc: proc,
        })
    }
}

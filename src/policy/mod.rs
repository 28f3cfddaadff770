// SPDX-License-Identifier: GPL-2.0

//! kpoll's policy: every decision the module makes, with no kernel imports.
//!
//! The kernel glue owns the NAPI instances, the hrtimers, the sysctl table and the hooks that the
//! patched `fs/eventpoll.c` calls. Whenever it has to decide something it asks this module, which
//! only uses `core` (atomics and plain integers), and then carries out the action it was given.
//! Keeping the decisions here means they can be unit-tested on the host with `cargo test`,
//! including modelled races between CPUs, without booting a kernel.
//!
//! The same files are compiled twice: into the kernel module as `mod policy;` (a `no_std` crate,
//! so nothing outside `#[cfg(test)]` may use `std` or `alloc`), and on the host as the
//! `kpoll-policy` library crate.
//!
//! # The hold state machine
//!
//! Each NAPI instance (one NIC RX queue) is in one of three states, tracked by
//! [`hold::NapiHold`]:
//!
//! - **IRQ-driven**: the default. The NIC raises an interrupt for new packets and NAPI runs in
//!   softirq context as usual.
//! - **Held**: an application's `epoll_wait()` just returned events for a socket fed by this
//!   queue ([`hold::NapiHold::events_delivered`]), and it had already returned events before
//!   without sleeping in between (the streak in [`napi_ids`]): the application has work, and
//!   its recent holds were worth their cost ([`admission`]). The glue sets
//!   `NAPI_STATE_KPOLL_HOLD`, so
//!   `napi_complete_done()` leaves the IRQ masked, and the application's next `epoll_wait()`
//!   polls the NAPI instance itself. While `epoll_wait()` keeps returning events the queue stays
//!   held and no interrupts are taken.
//! - Back to **IRQ-driven** in three ways:
//!   - `epoll_wait()` found nothing and is about to sleep ([`hold::NapiHold::would_sleep`]):
//!     the queue is handed back at once, because nobody will poll it while the task sleeps.
//!   - The application stalled and the per-NAPI watchdog expired
//!     ([`hold::NapiHold::watchdog_fired`]): the hold is released so packets are not left
//!     sitting in the ring with the IRQ masked.
//!   - The module is unloaded ([`hold::NapiHold::shutdown`]): the queue is IRQ-driven forever.
//!
//! # Why a deadline and a lazily re-armed timer
//!
//! A hold is "held until a deadline", stored as one atomic `u64`. Every `epoll_wait()` that
//! returns events only moves the deadline forward; it does not touch the hrtimer. Restarting an
//! hrtimer on every return from `epoll_wait()` would take the hrtimer base lock and reprogram the
//! clock event device hundreds of thousands of times a second. Instead the timer is started once,
//! when the queue becomes held, and when it fires it compares the current deadline with the
//! clock: if the deadline has moved on, the callback re-arms itself to the latest deadline;
//! only if the deadline really passed does it release the hold. The cost of a busy application
//! is therefore one atomic store per `epoll_wait()` return plus one timer callback per watchdog
//! period.
//!
//! # The other pieces
//!
//! - [`napi_ids`]: the set of NAPI IDs an epoll instance has seen, embedded in the kernel's
//!   `struct eventpoll`.
//! - [`knob`]: the `net.kpoll.*` sysctl knobs, their names, ranges and defaults; [`ports`] the
//!   port list's syntax; [`config`] their live values.
//! - [`counters`]: per-NAPI statistics.
//! - [`report`]: the lines and columns of `/proc/net/kpoll`.
//! - [`admission`]: whether a queue is worth holding (holds that polled nothing back off).
//! - [`rhythm`]: the adaptive hold deadline, a multiple of the application's pace.

#![deny(unsafe_code)]

pub mod admission;
pub mod claim;
pub mod config;
pub mod counters;
pub mod held_time;
pub mod hold;
pub mod knob;
pub mod napi_ids;
pub mod ports;
pub mod report;
pub mod rhythm;
mod text;

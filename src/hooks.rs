// SPDX-License-Identifier: GPL-2.0

//! What kpoll does at each eventpoll hook point.
//!
//! - A socket is added to or wakes an epoll instance: if it is opted in (`SO_KPOLL` or a port
//!   in `net.kpoll.ports`), remember its NAPI ID in that epoll instance, tagged with the
//!   configuration epoch so that a knob change re-decides every socket at its next wakeup.
//! - `epoll_wait()` entry: poll each remembered NAPI that is held once, in the caller's context.
//! - `epoll_wait()` returns events: if it also did last time without sleeping in between, hold
//!   each NAPI's IRQ and (re)arm its watchdog.
//! - `epoll_wait()` is about to sleep, or the epoll instance is freed: release at once.

use crate::{napi_table::MAX_NAPIS, policy::napi_ids, state::Kpoll};
use kernel::{
    net::{
        kpoll::{Hooks, NapiIdSlots, Sock},
        napi::{self, Napi, MIN_NAPI_ID},
    },
    rcu,
};

impl Kpoll {
    /// Runs `f` on each NAPI this epoll instance remembers that still exists, forgetting those
    /// that no longer do.
    fn for_each_napi(&self, ids: &NapiIdSlots, mut f: impl FnMut(&rcu::ReadGuard, &Napi<'_>)) {
        if napi_ids::is_empty(ids) {
            return;
        }
        let rcu = rcu::ReadGuard::new();
        napi_ids::for_each(ids, self.config.epoch(), |id| match Napi::find(&rcu, id) {
            Some(napi) => f(&rcu, &napi),
            None => napi_ids::forget(ids, id),
        });
    }

    fn release_all(&self, ids: &NapiIdSlots) {
        self.for_each_napi(ids, |_, napi| {
            if let Some(entry) = self.napis.find(napi.id()) {
                entry.would_sleep(napi);
            } else {
                napi.release_irq();
            }
        });
    }
}

impl Hooks for Kpoll {
    fn sock_seen(&self, ids: &NapiIdSlots, sk: &Sock<'_>) {
        if !self.config.sock_opted_in(sk.so_kpoll(), sk.local_port()) {
            return;
        }
        let id = sk.napi_id();
        if id >= MIN_NAPI_ID {
            napi_ids::note(ids, id, self.config.epoch());
        }
    }

    fn wait_begin(&self, ids: &NapiIdSlots) {
        if !self.config.enabled() {
            self.release_all(ids);
            return;
        }
        let budget = self.config.budget();
        self.for_each_napi(ids, |rcu, napi| {
            // A queue that is not held is served by its IRQ; polling it too would only cost.
            if let Some(entry) = self.napis.find(napi.id()).filter(|e| e.hold.is_held()) {
                let packets = napi::poll_once(rcu, napi.id(), budget);
                entry.counters.inc_app_polls();
                entry.counters.add_app_packets(u64::from(packets));
            }
        });
    }

    fn events_delivered(&self, ids: &NapiIdSlots) {
        if !self.config.enabled() {
            return;
        }
        let watchdog_ns = self.config.watchdog_ns();
        self.for_each_napi(ids, |_, napi| {
            if let Some(entry) = self.napis.find_or_claim(napi.id()) {
                entry.events_delivered(napi, watchdog_ns);
            }
        });
    }

    fn would_sleep(&self, ids: &NapiIdSlots) {
        self.release_all(ids);
    }

    fn released(&self, ids: &NapiIdSlots) {
        self.release_all(ids);
    }
}

const _: () = assert!(MAX_NAPIS >= napi_ids::NAPI_ID_SLOTS);

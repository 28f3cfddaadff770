// SPDX-License-Identifier: GPL-2.0

//! What kpoll does at each eventpoll hook point (see `policy::napi_ids` for the per-epoll slots).
//!
//! - A socket is added to or wakes an epoll instance: if it is opted in (`SO_KPOLL` or a port
//!   in `net.kpoll.ports`), remember its NAPI ID in that epoll instance, tagged with the
//!   configuration epoch so that a knob change re-decides every socket at its next wakeup.
//! - `epoll_wait()` entry: poll each remembered NAPI that is held once, in the caller's context.
//! - `epoll_wait()` returns events: for each NAPI of this epoll whose streak goes on (events
//!   were also returned last time, with no empty return in between, and the NAPI's sockets keep
//!   waking the epoll), become one of its holders — unless the queue is not held and its recent
//!   holds polled nothing (`policy::admission`) — and hold its IRQ until the adaptive deadline
//!   (`policy::rhythm`); a queue whose holds have proven themselves (many packets per hold on
//!   average, `Admission::proven`) and that no other epoll holds is held from the streak's
//!   first delivery;
//!   a NAPI none of whose sockets woke the epoll for a few deliveries is no longer held by it.
//! - `epoll_wait()` returns without events (about to sleep, zero timeout, `-EINTR`, error), or
//!   the epoll instance is freed: end this epoll's streaks and holds; a queue whose last holder
//!   left goes back to its IRQ at once. An epoll whose streak ended without a hold, while no
//!   queue it remembers is held, rests: until `napi_ids::REST_DELIVERIES` deliveries have
//!   passed, only its returns without events reach the hooks (see `napi_ids`, *Rests*; counted
//!   as `rests`).
//!
//! All hooks run under the RCU read lock, in process context except the socket wakeup.

use crate::{
    napi_table::{now_ns, NapiEntry, MAX_NAPIS},
    policy::{claim::Generation, counters::Counter, napi_ids},
    state::Kpoll,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    net::{
        kpoll::{Hooks, NapiIdSlots, Rest, Sock},
        napi::{self, Napi, MIN_NAPI_ID},
    },
    sync::rcu,
};

impl Kpoll {
    /// Ends this epoll's streaks and holds: every return without events, and `ep_free`.
    fn end_holds(&self, slots: &NapiIdSlots) -> napi_ids::Ended {
        if napi_ids::is_empty(slots) {
            return napi_ids::Ended::default();
        }
        napi_ids::end_streaks(slots, self.config.epoch(), |id, generation| {
            self.drop_holder(&rcu::read_lock(), id, generation)
        })
    }

    /// The entries of the queues this epoll remembers that are held (by any epoll), with
    /// their NAPI IDs.
    fn held_entries<'a>(
        &'a self,
        slots: &'a NapiIdSlots,
    ) -> impl Iterator<Item = (u32, &'a NapiEntry)> + 'a {
        napi_ids::noted(slots).filter_map(|id| {
            self.napis
                .find(id)
                .filter(|entry| entry.hold.is_held())
                .map(|entry| (id, entry))
        })
    }

    /// Whether a queue this epoll remembers is held (by any epoll); stops at the first.
    fn any_held(&self, slots: &NapiIdSlots) -> bool {
        self.held_entries(slots).next().is_some()
    }

    /// One ownership of NAPI `id`, counted in holder generation `generation`, ended (by
    /// `end_streaks`, `streak` or `forget`).
    fn drop_holder(&self, rcu: &rcu::Guard, id: u32, generation: Generation) {
        // A current holder count pins the entry to `id`, so it is found; after an expiry the
        // entry may be reclaimed for another NAPI, even between this lookup and the removal,
        // which therefore checks the ID too.
        if let Some(entry) = self.napis.find(id) {
            entry.remove_holder(id, generation, Napi::find(rcu, id).as_ref());
        }
    }

    /// Counts this epoll as a holder of `napi` through `slot` (its streak continues, or its
    /// ownership expired) and returns the entry to hold, or `None` if that failed this round.
    fn become_holder<'a>(
        &'a self,
        rcu: &rcu::Guard,
        slot: &AtomicU64,
        napi: &Napi<'_>,
        expired: Option<Generation>,
    ) -> Option<&'a NapiEntry> {
        let (id, epoch) = (napi.id(), self.config.epoch());
        let entry = self.napis.find_or_claim(rcu, id)?;
        let generation = entry.add_holder(id)?;
        let recorded = match expired {
            None => napi_ids::claim_owner(slot, id, epoch, generation),
            Some(old) => napi_ids::renew_owner(slot, id, epoch, old, generation),
        };
        if !recorded {
            entry.remove_holder(id, generation, Some(napi));
            return None;
        }
        Some(entry)
    }

    /// None of NAPI `id`'s sockets woke this epoll since its last delivery: if the NAPI is
    /// gone (its driver replaced it; the sockets now receive from a new one), free its slot for
    /// live ones. A slot that holds a gone NAPI would otherwise stay until it is evicted, and
    /// evictions can push out a live NAPI in the middle of a streak.
    fn forget_if_gone(&self, slots: &NapiIdSlots, id: u32) {
        let rcu = rcu::read_lock();
        if Napi::find(&rcu, id).is_none() {
            self.forget_gone(&rcu, slots, id);
        }
    }

    /// NAPI `id` is gone: free its slot, dropping this epoll's ownership of it if it had one.
    fn forget_gone(&self, rcu: &rcu::Guard, slots: &NapiIdSlots, id: u32) {
        napi_ids::forget(slots, id, |id, generation| {
            self.drop_holder(rcu, id, generation)
        });
    }

    /// This epoll's streak on NAPI `id` (in `slot`) goes on: hold the queue until the adaptive
    /// deadline, as a new holder or as the owner it already is. A NAPI that is gone is
    /// forgotten, ending this epoll's ownership of it.
    fn hold(&self, slots: &NapiIdSlots, slot: &AtomicU64, id: u32, take: Take) {
        let rcu = rcu::read_lock();
        let Some(napi) = Napi::find(&rcu, id) else {
            self.forget_gone(&rcu, slots, id);
            return;
        };
        let entry = match take {
            Take::Renew(generation) => match self.napis.find(id) {
                Some(entry) if entry.counts(generation) => Some(entry),
                _ => self.become_holder(&rcu, slot, &napi, Some(generation)),
            },
            Take::Claim => self.become_holder(&rcu, slot, &napi, None),
        };
        if let Some(entry) = entry {
            entry.hold_for(&napi, self.config.watchdog_ns());
        }
    }
}

/// How an epoll whose streak on a NAPI goes on comes to hold it.
enum Take {
    /// It owns the hold, counted in this holder generation: refresh it, or count this epoll
    /// afresh if that generation expired or its count was lost.
    Renew(Generation),
    /// It does not own the hold yet: become a holder.
    Claim,
}

impl Hooks for Kpoll {
    fn sock_seen(&self, slots: &NapiIdSlots, sk: &Sock<'_>) {
        // The port list opts in sockets of the initial network namespace only.
        let port = || sk.in_initial_net().then(|| sk.local_port());
        let Some(epoch) = self.config.opted_in_epoch(sk.so_kpoll(), port) else {
            return;
        };
        let id = sk.napi_id();
        if id >= MIN_NAPI_ID {
            napi_ids::note(slots, id, epoch);
        }
    }

    fn wait_begin(&self, slots: &NapiIdSlots) {
        if napi_ids::is_empty(slots) {
            return;
        }
        if !self.config.enabled() {
            self.end_holds(slots);
            return;
        }
        // Every held NAPI this epoll remembers, whatever the epoch of its slot: a queue held on
        // this epoll's behalf is polled here until the hold ends. A queue that is not held is
        // served by its IRQ; polling it too would only cost.
        for (id, entry) in self.held_entries(slots) {
            let packets = napi::poll_once(&rcu::read_lock(), id, self.config.budget());
            entry.hold.polled(now_ns());
            entry.admission.polled(packets);
            entry.counters.inc(Counter::AppPolls);
            entry.counters.add(Counter::AppPackets, u64::from(packets));
        }
    }

    fn events_delivered(&self, slots: &NapiIdSlots) {
        if !self.config.enabled() || napi_ids::is_empty(slots) {
            return;
        }
        let epoch = self.config.epoch();
        napi_ids::for_each(slots, epoch, |slot, id| {
            // The common case at low load (a wakeup, then a streak starts) touches the slot and
            // looks the NAPI's entry up (is it proven?), without a NAPI lookup; the NAPI is
            // looked up when this epoll is about to hold it, or when none of its sockets woke
            // the epoll (it may be gone).
            let take = match napi_ids::streak(slot, id, epoch) {
                napi_ids::Streak::Gone => return,
                napi_ids::Streak::Started => {
                    // Under sustained load the interrupt that woke the application after an
                    // empty return is the first of a run: a queue whose holds keep polling many
                    // packets is held from this first delivery, not the next, unless another
                    // epoll holds it already.
                    if !self.napis.find(id).is_some_and(NapiEntry::proven_and_free) {
                        return;
                    }
                    Take::Claim
                }
                napi_ids::Streak::Quiet => {
                    self.forget_if_gone(slots, id);
                    return;
                }
                napi_ids::Streak::Idle { ended } => {
                    if let Some(generation) = ended {
                        self.drop_holder(&rcu::read_lock(), id, generation);
                    }
                    self.forget_if_gone(slots, id);
                    return;
                }
                napi_ids::Streak::Owner { generation } => Take::Renew(generation),
                napi_ids::Streak::Continues => {
                    // A queue whose recent holds polled nothing is not held again for a while:
                    // at low load holding costs more than the interrupts it saves.
                    if self.napis.find(id).is_some_and(|entry| !entry.admits()) {
                        return;
                    }
                    Take::Claim
                }
            };
            self.hold(slots, slot, id, take);
        });
    }

    fn no_events(&self, slots: &NapiIdSlots) -> Rest {
        let ended = self.end_holds(slots);
        // The benchmark's "kpoll no rests" module (scripts/build-module.sh --no-rests) never
        // rests an epoll, so that one boot can compare kpoll with and without rests.
        if cfg!(kpoll_no_rests) {
            return Rest::NONE;
        }
        match ended.rest(|| self.any_held(slots)) {
            0 => Rest::NONE,
            deliveries => {
                self.rests.fetch_add(1, Ordering::Relaxed);
                Rest::deliveries(deliveries)
            }
        }
    }
}

const _: () = assert!(MAX_NAPIS >= napi_ids::NAPI_ID_SLOTS);

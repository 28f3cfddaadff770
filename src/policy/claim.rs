// SPDX-License-Identifier: GPL-2.0

//! Which NAPI instance an entry of the module's NAPI table serves, and how many epoll instances
//! hold it: one atomic word, so that reusing an entry can never race with taking a hold on it.
//!
//! Drivers create new NAPI instances, with new IDs, on channel changes, ring resizes, XDP attach,
//! ifdown/ifup and unbind/rebind, so a table that only ever claims entries fills up. An entry
//! whose NAPI is gone is therefore reclaimed for a new ID ([`Claim::reclaim`]) — but only while
//! no epoll instance holds it, and this must be decided in the same atomic step that changes the
//! ID: a hold counted on the old ID after the check would otherwise land on the new NAPI's entry
//! and never be released. Packing `(id, generation, holders)` in one `u64` makes
//! [`Claim::add_holder`] (succeeds only for the expected ID), [`Claim::reclaim`] (succeeds only
//! with no holder) and [`Claim::expire`] single compare-and-swaps.
//!
//! # Generations
//!
//! A holder is an epoll instance between a return of `epoll_wait()` with events and its next
//! return without. One that never comes back — its thread blocks elsewhere for good, its epoll
//! stays open — would keep the count above zero for ever: later holders' empty returns would no
//! longer hand the queue back, and the entry could never be reclaimed. So when the watchdog
//! finds the deadline passed (no holder returned events for a whole watchdog period, so every
//! holder is stale), it starts a new *generation* with no holders ([`Claim::expire`]). Each
//! holder remembers the generation it was counted in (in its epoll's slot); removing a holder of
//! an older generation changes nothing, and a stale holder that returns with events again is
//! counted afresh.
//!
//! Generations are 16 bits wide ([`Generation`]), so they come round again after 65 536
//! expiries. A holder away that long (its thread blocked elsewhere while other holders' holds
//! expired again and again) names the current generation again 1 time in 65 536, and its
//! return then drops the count of a holder that is there now: the queue goes back to its IRQ
//! early, once. That owner's next delivery finds itself not counted ([`Claim::counts`]) and
//! counts itself again, so the hold resumes. (With 8 bits, 256 expiries were enough, and the
//! owner went on renewing a hold that nobody counted until its own empty return.)
//!
//! Epoll instances outlive the module: a slot can still say "owner, generation g" of a NAPI
//! after `rmmod` and `insmod`. If the new module counted that NAPI's holders in g too, that
//! epoll's next empty return would drop a holder of the new module's, and the queue would go
//! back to its IRQ under a holder that still streaks.
//! So the module starts its entries' generations at a value drawn per load (the glue passes it
//! to [`Claim::claim_free`]): a slot of a previous load then names a generation its NAPI's
//! entry is not in, except by chance (its old generation, the seed plus that entry's expiries,
//! meets the new one about 1 time in 65 536). A reclaimed entry goes on to the next generation,
//! and [`Claim::remove_holder`] checks the ID in the same step as the generation, so a
//! holder found under the old ID never counts against the new one.
//!
//! Contexts: `expire` runs in the watchdog (hardirq), everything else from `epoll_wait()`
//! (process context, several CPUs). All operations are sequentially consistent: the glue checks
//! the count right after setting the hold bit, against a concurrent last holder leaving (see
//! `NapiEntry::hold_for`), a store-then-load pattern on two locations.

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// A holder generation (see [Generations](self#generations)).
pub type Generation = u16;

/// `(id << 32) | (generation << 16) | holders` of one table entry; id 0 means free. At most
/// 65 535 holders are counted: an epoll beyond that does not take a hold
/// ([`Claim::add_holder`] refuses it).
#[derive(Default)]
pub struct Claim {
    word: AtomicU64,
}

const GENERATION_SHIFT: u32 = 16;
const HOLDERS_MASK: u64 = (1 << GENERATION_SHIFT) - 1;

fn pack(id: u32, generation: Generation, holders: u64) -> u64 {
    (u64::from(id) << 32) | (u64::from(generation) << GENERATION_SHIFT) | holders
}

fn id_of(word: u64) -> u32 {
    (word >> 32) as u32
}

fn generation_of(word: u64) -> Generation {
    (word >> GENERATION_SHIFT) as Generation
}

fn holders_of(word: u64) -> u64 {
    word & HOLDERS_MASK
}

impl Claim {
    /// A free entry.
    pub const fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
        }
    }

    /// The NAPI ID served, or 0 if free.
    pub fn id(&self) -> u32 {
        id_of(self.word.load(SeqCst))
    }

    /// How many epoll instances of the current generation hold this NAPI.
    pub fn holders(&self) -> u64 {
        holders_of(self.word.load(SeqCst))
    }

    /// Takes a free entry for `id`, its holders to be counted in `generation` (see
    /// [Generations](self#generations)). Returns false if it was not free.
    pub fn claim_free(&self, id: u32, generation: Generation) -> bool {
        id != 0
            && self
                .word
                .compare_exchange(0, pack(id, generation, 0), SeqCst, SeqCst)
                .is_ok()
    }

    /// Moves an entry that nobody holds from `old` (whose NAPI is gone) to `new`. Its holders
    /// are counted in the next generation, so that no slot still naming `old` names the new
    /// NAPI's current generation. Returns false if it no longer serves `old` or somebody holds
    /// it.
    pub fn reclaim(&self, old: u32, new: u32) -> bool {
        let current = self.word.load(SeqCst);
        old != 0
            && new != 0
            && id_of(current) == old
            && holders_of(current) == 0
            && self
                .word
                .compare_exchange(
                    current,
                    pack(new, generation_of(current).wrapping_add(1), 0),
                    SeqCst,
                    SeqCst,
                )
                .is_ok()
    }

    /// Counts one more holder, if the entry still serves `id`. Returns the generation the holder
    /// was counted in, which [`remove_holder`](Self::remove_holder) needs.
    pub fn add_holder(&self, id: u32) -> Option<Generation> {
        let mut current = self.word.load(SeqCst);
        loop {
            if id == 0 || id_of(current) != id || holders_of(current) == HOLDERS_MASK {
                return None;
            }
            match self
                .word
                .compare_exchange(current, current + 1, SeqCst, SeqCst)
            {
                Ok(_) => return Some(generation_of(current)),
                Err(now) => current = now,
            }
        }
    }

    /// Counts one holder of NAPI `id` in generation `generation` less. Returns how many remain,
    /// or `None` if that generation has expired (the holder was already dropped) or the entry
    /// no longer serves `id` (it was reclaimed since the caller found it).
    pub fn remove_holder(&self, id: u32, generation: Generation) -> Option<u64> {
        let mut current = self.word.load(SeqCst);
        loop {
            let holders = holders_of(current);
            if id_of(current) != id || generation_of(current) != generation || holders == 0 {
                return None;
            }
            match self
                .word
                .compare_exchange(current, current - 1, SeqCst, SeqCst)
            {
                Ok(_) => return Some(holders - 1),
                Err(now) => current = now,
            }
        }
    }

    /// Whether holders counted in `generation` still count.
    #[cfg(test)]
    pub fn is_current(&self, generation: Generation) -> bool {
        generation_of(self.word.load(SeqCst)) == generation
    }

    /// Whether an owner counted in `generation` is still counted: its generation is current
    /// and the count is not zero. A zero count in the owner's own generation means another
    /// holder's removal took its count (a holder away for a whole cycle of generations, see
    /// [Generations](self#generations)); the owner then counts itself again. A nonzero count
    /// cannot tell whose it is; when it drops to zero the hold goes back to its IRQ, and the
    /// owner's next delivery finds it not counted.
    pub fn counts(&self, generation: Generation) -> bool {
        let word = self.word.load(SeqCst);
        generation_of(word) == generation && holders_of(word) > 0
    }

    /// The watchdog released a hold nobody renewed for a whole watchdog period: every holder
    /// is stale. Starts a new generation with no holders (hardirq context).
    pub fn expire(&self) {
        let mut current = self.word.load(SeqCst);
        loop {
            if id_of(current) == 0 {
                return;
            }
            let next = pack(id_of(current), generation_of(current).wrapping_add(1), 0);
            match self.word.compare_exchange(current, next, SeqCst, SeqCst) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_hold_release_reclaim() {
        let claim = Claim::new();
        assert_eq!(claim.id(), 0);
        assert_eq!(claim.add_holder(7), None, "a free entry serves nobody");
        assert!(claim.claim_free(7, 0));
        assert!(!claim.claim_free(8, 0), "taken");
        assert_eq!(claim.add_holder(7), Some(0));
        assert_eq!(claim.add_holder(7), Some(0));
        assert_eq!(claim.add_holder(8), None, "another ID");
        assert_eq!(claim.holders(), 2);
        assert!(!claim.reclaim(7, 9), "held entries are never reclaimed");
        assert_eq!(claim.remove_holder(8, 0), None, "another ID");
        assert_eq!(claim.remove_holder(7, 0), Some(1));
        assert_eq!(claim.remove_holder(7, 0), Some(0));
        assert_eq!(claim.remove_holder(7, 0), None, "nothing left to remove");
        assert!(!claim.reclaim(8, 9), "it serves 7, not 8");
        assert!(claim.reclaim(7, 9));
        assert_eq!((claim.id(), claim.holders()), (9, 0));
        assert_eq!(claim.add_holder(7), None, "the old ID is gone");
    }

    #[test]
    fn an_expiry_drops_stale_holders_once() {
        let claim = Claim::new();
        assert!(claim.claim_free(5, 0));
        let stale = claim.add_holder(5).unwrap();
        claim.add_holder(5).unwrap();
        // Nobody renewed the hold for a watchdog period.
        claim.expire();
        assert_eq!(claim.holders(), 0);
        assert!(!claim.is_current(stale));
        // A stale holder leaving changes nothing; one counted afresh counts.
        let fresh = claim.add_holder(5).unwrap();
        assert_ne!(fresh, stale);
        assert_eq!(claim.remove_holder(5, stale), None);
        assert_eq!(claim.holders(), 1);
        assert_eq!(claim.remove_holder(5, fresh), Some(0));
        claim.add_holder(5).unwrap();
        claim.expire();
        assert!(
            claim.reclaim(5, 6),
            "no holder pins an entry after an expiry"
        );
    }

    /// An epoll owned a hold when the module was unloaded; after `insmod` another epoll holds
    /// the same NAPI. The first epoll's next empty return reports its old ownership: it must not
    /// drop the new holder. Each load draws its first generation; two loads that draw the same
    /// one (every load used 0 before) lose the holder, which the second case shows.
    #[test]
    fn a_slot_left_by_a_previous_load_does_not_drop_a_holder() {
        use super::super::napi_ids::{self, Slots, Streak};
        for (old_load, new_load, kept) in [(0x21, 0x7c, 1), (0, 0, 0)] {
            let stale_epoll = Slots::default();
            let before_unload = Claim::new();
            assert!(before_unload.claim_free(5, old_load));
            napi_ids::note(&stale_epoll, 5, 1);
            let slot = &stale_epoll[0];
            assert_eq!(napi_ids::streak(slot, 5, 1), Streak::Started);
            assert_eq!(napi_ids::streak(slot, 5, 1), Streak::Continues);
            let generation = before_unload.add_holder(5).unwrap();
            assert!(napi_ids::claim_owner(slot, 5, 1, generation));

            // rmmod, insmod: a fresh table; another epoll holds NAPI 5.
            let after_reload = Claim::new();
            assert!(after_reload.claim_free(5, new_load));
            after_reload.add_holder(5).unwrap();

            napi_ids::end_streaks(&stale_epoll, 2, |id, generation| {
                assert_eq!(id, 5);
                after_reload.remove_holder(id, generation);
            });
            assert_eq!(after_reload.holders(), kept);
        }
    }

    /// An epoll that owned NAPI 5 in generation g (its count expired since) finds the entry by
    /// ID; before it removes itself, NAPI 5 is gone, the entry is reclaimed for NAPI 6 and
    /// another epoll holds 6. The late removal must not count against NAPI 6.
    #[test]
    fn a_removal_found_under_a_reclaimed_id_changes_nothing() {
        let claim = Claim::new();
        assert!(claim.claim_free(5, 0x40));
        let stale = claim.add_holder(5).unwrap();
        claim.expire();
        assert!(claim.reclaim(5, 6));
        let holder = claim.add_holder(6).unwrap();
        assert_ne!(
            holder, stale,
            "a reclaimed entry goes on to the next generation"
        );
        assert_eq!(
            claim.remove_holder(5, holder),
            None,
            "found under the old ID"
        );
        assert_eq!(claim.remove_holder(5, stale), None);
        assert_eq!(claim.holders(), 1);
    }

    #[test]
    fn generations_wrap() {
        let claim = Claim::new();
        assert!(claim.claim_free(1, 0));
        for _ in 0..=Generation::MAX {
            claim.expire();
        }
        assert_eq!(claim.add_holder(1), Some(0));
        assert_eq!(claim.id(), 1);
    }

    /// Epoll E1 owns the hold, then blocks elsewhere; while it is away another epoll's holds
    /// expire again and again (a holder that stalls after each burst), and a third epoll, E2,
    /// holds now. E1's late empty return must not drop E2. With 8-bit generations, 256 expiries
    /// brought E1's generation back and its return took E2's count: the queue went back to its
    /// IRQ under E2, which then kept renewing a hold nobody counted.
    #[test]
    fn a_holder_away_for_many_expiries_stays_stale() {
        let claim = Claim::new();
        assert!(claim.claim_free(5, 0));
        let away = claim.add_holder(5).unwrap();
        for expiries in 1..=4096 {
            claim.expire();
            let holder = claim.add_holder(5).unwrap();
            assert_eq!(
                claim.remove_holder(5, away),
                None,
                "after {expiries} expiries"
            );
            assert_eq!(claim.holders(), 1);
            assert!(claim.counts(holder));
            assert_eq!(claim.remove_holder(5, holder), Some(0));
        }
    }

    /// Generations are finite: after a whole cycle of them a holder away that long names the
    /// current one again (1 in 65 536), and its return drops the count of the holder that is
    /// there now. That holder then sees it is not counted and counts itself again.
    #[test]
    fn an_owner_dropped_by_a_whole_cycle_of_generations_counts_itself_again() {
        let claim = Claim::new();
        assert!(claim.claim_free(5, 0));
        let away = claim.add_holder(5).unwrap();
        for _ in 0..=Generation::MAX {
            claim.expire();
        }
        let owner = claim.add_holder(5).unwrap();
        assert_eq!(owner, away, "a whole cycle");
        assert_eq!(claim.remove_holder(5, away), Some(0));
        assert!(claim.is_current(owner));
        assert!(!claim.counts(owner), "the count is gone");
        assert_eq!(claim.add_holder(5), Some(owner));
        assert!(claim.counts(owner));
    }

    #[test]
    fn full_32_bit_ids() {
        let claim = Claim::new();
        assert!(claim.claim_free(u32::MAX, 0));
        assert_eq!(claim.add_holder(u32::MAX), Some(0));
        assert_eq!(claim.id(), u32::MAX);
        assert!(!claim.claim_free(0, 0) && !Claim::new().claim_free(0, 0));
    }

    /// Holders come and go on several CPUs while another CPU keeps trying to reclaim the entry:
    /// a reclaim succeeds only at a moment with no holder, and no hold is ever counted on the
    /// new ID by a thread that meant the old one.
    #[test]
    fn reclaim_never_races_with_a_hold() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
        for _ in 0..200 {
            let claim = Claim::new();
            assert!(claim.claim_free(1, 0));
            let stolen = AtomicBool::new(false);
            let misplaced = AtomicU32::new(0);
            std::thread::scope(|scope| {
                for _ in 0..3 {
                    scope.spawn(|| {
                        for _ in 0..500 {
                            if let Some(generation) = claim.add_holder(1) {
                                if claim.id() != 1 {
                                    misplaced.fetch_add(1, Relaxed);
                                }
                                claim.remove_holder(1, generation);
                            }
                        }
                    });
                }
                scope.spawn(|| {
                    while !claim.reclaim(1, 2) {
                        std::hint::spin_loop();
                    }
                    stolen.store(true, Relaxed);
                });
            });
            assert!(stolen.load(Relaxed));
            assert_eq!(misplaced.load(Relaxed), 0);
            assert_eq!((claim.id(), claim.holders()), (2, 0));
        }
    }
}

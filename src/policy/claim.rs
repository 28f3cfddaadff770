// SPDX-License-Identifier: GPL-2.0

//! Which NAPI instance an entry of the module's NAPI table serves, and how many epoll instances
//! hold it: one atomic word, so that reusing an entry can never race with taking a hold on it.
//!
//! Drivers create new NAPI instances, with new IDs, on channel changes, ring resizes, XDP attach,
//! ifdown/ifup and unbind/rebind, so a table that only ever claims entries fills up. An entry
//! whose NAPI is gone is therefore reclaimed for a new ID ([`Claim::reclaim`]) — but only while
//! no epoll instance holds it, and this must be decided in the same atomic step that changes the
//! ID: a hold counted on the old ID after the check would otherwise land on the new NAPI's entry
//! and never be released. Packing `(id, holders)` in one `u64` makes both
//! [`Claim::add_holder`] (succeeds only for the expected ID) and [`Claim::reclaim`] (succeeds
//! only with no holder) single compare-and-swaps.
//!
//! Contexts: everything runs from `epoll_wait()` (process context, several CPUs); the ordering
//! of the holder count against the hold itself is the caller's (see `policy::napi_ids`).

use core::sync::atomic::{AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};

/// `(id << 32) | holders` of one table entry; id 0 means the entry is free.
#[derive(Default)]
pub struct Claim {
    word: AtomicU64,
}

fn pack(id: u32, holders: u32) -> u64 {
    (u64::from(id) << 32) | u64::from(holders)
}

fn id_of(word: u64) -> u32 {
    (word >> 32) as u32
}

fn holders_of(word: u64) -> u32 {
    word as u32
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
        id_of(self.word.load(Acquire))
    }

    /// How many epoll instances hold this NAPI.
    pub fn holders(&self) -> u32 {
        holders_of(self.word.load(Relaxed))
    }

    /// Takes a free entry for `id`. Returns false if it was not free.
    pub fn claim_free(&self, id: u32) -> bool {
        id != 0
            && self
                .word
                .compare_exchange(0, pack(id, 0), AcqRel, Relaxed)
                .is_ok()
    }

    /// Moves an entry that nobody holds from `old` (whose NAPI is gone) to `new`. Returns false
    /// if it no longer serves `old` or somebody holds it.
    pub fn reclaim(&self, old: u32, new: u32) -> bool {
        old != 0
            && new != 0
            && self
                .word
                .compare_exchange(pack(old, 0), pack(new, 0), AcqRel, Relaxed)
                .is_ok()
    }

    /// Counts one more holder, if the entry still serves `id`.
    pub fn add_holder(&self, id: u32) -> bool {
        let mut current = self.word.load(Relaxed);
        loop {
            if id == 0 || id_of(current) != id || holders_of(current) == u32::MAX {
                return false;
            }
            match self
                .word
                .compare_exchange(current, current + 1, AcqRel, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Counts one holder less and returns how many remain. Only for a holder counted by
    /// [`add_holder`](Self::add_holder), whose count pins the ID until this call.
    pub fn remove_holder(&self) -> u32 {
        let mut current = self.word.load(Relaxed);
        loop {
            let holders = holders_of(current);
            if holders == 0 {
                return 0;
            }
            match self
                .word
                .compare_exchange(current, current - 1, AcqRel, Relaxed)
            {
                Ok(_) => return holders - 1,
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
        assert!(!claim.add_holder(7), "a free entry serves nobody");
        assert!(claim.claim_free(7));
        assert!(!claim.claim_free(8), "taken");
        assert!(claim.add_holder(7));
        assert!(claim.add_holder(7));
        assert!(!claim.add_holder(8), "another ID");
        assert_eq!(claim.holders(), 2);
        assert!(!claim.reclaim(7, 9), "held entries are never reclaimed");
        assert_eq!(claim.remove_holder(), 1);
        assert_eq!(claim.remove_holder(), 0);
        assert!(!claim.reclaim(8, 9), "it serves 7, not 8");
        assert!(claim.reclaim(7, 9));
        assert_eq!((claim.id(), claim.holders()), (9, 0));
        assert!(!claim.add_holder(7), "the old ID is gone");
    }

    #[test]
    fn full_32_bit_ids() {
        let claim = Claim::new();
        assert!(claim.claim_free(u32::MAX));
        assert!(claim.add_holder(u32::MAX));
        assert_eq!(claim.id(), u32::MAX);
        assert!(!claim.claim_free(0) && !Claim::new().claim_free(0));
    }

    /// Holders come and go on several CPUs while another CPU keeps trying to reclaim the entry:
    /// a reclaim succeeds only at a moment with no holder, and no hold is ever counted on the
    /// new ID by a thread that meant the old one.
    #[test]
    fn reclaim_never_races_with_a_hold() {
        use std::sync::atomic::{AtomicBool, AtomicU32};
        for _ in 0..200 {
            let claim = Claim::new();
            assert!(claim.claim_free(1));
            let stolen = AtomicBool::new(false);
            let misplaced = AtomicU32::new(0);
            std::thread::scope(|scope| {
                for _ in 0..3 {
                    scope.spawn(|| {
                        for _ in 0..500 {
                            if claim.add_holder(1) {
                                if claim.id() != 1 {
                                    misplaced.fetch_add(1, Relaxed);
                                }
                                claim.remove_holder();
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

// SPDX-License-Identifier: GPL-2.0

//! The set of NAPI IDs an epoll instance has seen on its opted-in sockets.
//!
//! The kpoll patch embeds `u32 kpoll_napi_ids[KPOLL_NAPI_SLOTS]` in every `struct eventpoll`
//! and the glue hands it to this module as `&[AtomicU32; NAPI_ID_SLOTS]`. It tells
//! `epoll_wait()` which NAPI instances to hold and poll on the application's behalf.
//!
//! - [`note`] runs from the socket insert hook (process context) and the socket wakeup hook
//!   (softirq context, or hardirq context for drivers that wake sockets from their IRQ handler).
//!   The kernel calls both with the epoll instance's lock held, but nothing here relies on that:
//!   concurrent writers only ever compare-and-swap individual slots.
//! - [`for_each`] and [`is_empty`] run from `epoll_wait()` (process context) concurrently with
//!   writers.
//! - [`forget`] runs when the glue finds that a NAPI ID no longer names a NAPI instance.
//!
//! Slot value 0 means "free". Which IDs count as NAPI IDs at all (the kernel's `MIN_NAPI_ID`,
//! below which `sk_napi_id` holds a sender CPU) is the glue's call; this module only refuses 0.
//!
//! Relaxed ordering is enough: the slots carry no pointers, only IDs that the glue looks up
//! under RCU, and each slot is updated with single-location atomics. Without concurrent
//! [`forget`] calls an ID is never stored twice: slots only go from free to taken, every writer
//! scans them in the same order, and a writer stops as soon as it sees its ID. A [`forget`]
//! racing with [`note`] can leave a duplicate; [`for_each`] reports each ID once anyway.
//!
//! When all slots are taken, a new ID overwrites the slot `id % NAPI_ID_SLOTS`. Losing an old ID
//! only means its queue is no longer held on behalf of this epoll instance; the next wakeup of
//! one of its sockets notes it again.

use core::sync::atomic::{AtomicU32, Ordering};

/// Number of NAPI IDs per epoll instance; the patch's `KPOLL_NAPI_SLOTS`.
pub const NAPI_ID_SLOTS: usize = 8;

/// Adds `id` to the set unless it is 0 or already present.
pub fn note(slots: &[AtomicU32; NAPI_ID_SLOTS], id: u32) {
    if id == 0 || contains(slots, id) {
        return;
    }
    for slot in slots {
        match slot.compare_exchange(0, id, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            // Another writer added the same ID first.
            Err(current) if current == id => return,
            Err(_) => {}
        }
    }
    // Every slot is taken by another ID: replace one, chosen by the ID so that repeated
    // notes of the same ID keep hitting the same slot.
    let index = usize::try_from(id).unwrap_or(0) % NAPI_ID_SLOTS;
    if let Some(slot) = slots.get(index) {
        slot.store(id, Ordering::Relaxed);
    }
}

/// Removes `id` from the set, because it no longer names a NAPI instance.
pub fn forget(slots: &[AtomicU32; NAPI_ID_SLOTS], id: u32) {
    if id == 0 {
        return;
    }
    for slot in slots {
        // A failure means the slot holds another ID now (or already 0), which is not ours to
        // clear.
        let _ = slot.compare_exchange(id, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Calls `f` once for each distinct ID in the set, in slot order.
pub fn for_each(slots: &[AtomicU32; NAPI_ID_SLOTS], mut f: impl FnMut(u32)) {
    let mut seen = [0u32; NAPI_ID_SLOTS];
    let mut count = 0;
    for slot in slots {
        let id = slot.load(Ordering::Relaxed);
        if id == 0 || seen.get(..count).is_some_and(|seen| seen.contains(&id)) {
            continue;
        }
        if let Some(entry) = seen.get_mut(count) {
            *entry = id;
            count += 1;
        }
        f(id);
    }
}

/// Returns true if the set holds no ID.
pub fn is_empty(slots: &[AtomicU32; NAPI_ID_SLOTS]) -> bool {
    slots.iter().all(|slot| slot.load(Ordering::Relaxed) == 0)
}

/// Returns true if `id` is in the set.
fn contains(slots: &[AtomicU32; NAPI_ID_SLOTS], id: u32) -> bool {
    slots.iter().any(|slot| slot.load(Ordering::Relaxed) == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> [AtomicU32; NAPI_ID_SLOTS] {
        Default::default()
    }

    fn ids(slots: &[AtomicU32; NAPI_ID_SLOTS]) -> Vec<u32> {
        let mut found = Vec::new();
        for_each(slots, |id| found.push(id));
        found
    }

    fn raw(slots: &[AtomicU32; NAPI_ID_SLOTS]) -> Vec<u32> {
        slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn starts_empty() {
        let slots = empty();
        assert!(is_empty(&slots));
        assert!(ids(&slots).is_empty());
    }

    #[test]
    fn add_and_duplicate() {
        let slots = empty();
        note(&slots, 8193);
        assert!(!is_empty(&slots));
        note(&slots, 8193);
        assert_eq!(ids(&slots), [8193]);
        assert_eq!(raw(&slots), [8193, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn zero_is_ignored() {
        let slots = empty();
        note(&slots, 0);
        assert!(is_empty(&slots));
        note(&slots, 5);
        forget(&slots, 0);
        assert_eq!(ids(&slots), [5]);
    }

    #[test]
    fn fills_all_slots_in_order() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id);
        }
        assert_eq!(ids(&slots), [1, 2, 3, 4, 5, 6, 7, 8]);
        for id in 1..=8 {
            note(&slots, id);
        }
        assert_eq!(ids(&slots), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn overflow_replaces_the_slot_chosen_by_the_id() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id);
        }
        // 19 % 8 == 3: replaces the fourth slot, which holds 4.
        note(&slots, 19);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 5, 6, 7, 8]);
        note(&slots, 19);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 5, 6, 7, 8]);
        // 4 % 8 == 4: now 4 comes back in the fifth slot.
        note(&slots, 4);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 4, 6, 7, 8]);
    }

    #[test]
    fn forget_frees_the_slot_for_reuse() {
        let slots = empty();
        for id in [10, 20, 30] {
            note(&slots, id);
        }
        forget(&slots, 20);
        assert_eq!(ids(&slots), [10, 30]);
        forget(&slots, 99);
        assert_eq!(ids(&slots), [10, 30]);
        note(&slots, 40);
        assert_eq!(raw(&slots), [10, 40, 30, 0, 0, 0, 0, 0]);
        for id in [10, 40, 30] {
            forget(&slots, id);
        }
        assert!(is_empty(&slots));
    }

    #[test]
    fn for_each_reports_duplicates_once() {
        // A `forget()` racing with two `note()`s can leave the same ID in two slots.
        let slots = empty();
        for (slot, id) in slots.iter().zip([7, 0, 9, 7, 9, 0, 3, 7]) {
            slot.store(id, Ordering::Relaxed);
        }
        assert_eq!(ids(&slots), [7, 9, 3]);
        forget(&slots, 7);
        assert_eq!(raw(&slots), [0, 0, 9, 0, 9, 0, 3, 0]);
    }

    #[test]
    fn concurrent_notes_keep_every_id_when_they_fit() {
        for round in 0..200u32 {
            let slots = empty();
            std::thread::scope(|scope| {
                for thread in 0..4u32 {
                    let slots = &slots;
                    scope.spawn(move || {
                        // Each thread notes all 8 IDs, starting at a different one.
                        for step in 0..NAPI_ID_SLOTS as u32 {
                            let id = 1000 + round + (thread * 3 + step) % 8;
                            note(slots, id);
                        }
                    });
                }
            });
            let mut found = ids(&slots);
            found.sort_unstable();
            let expected: Vec<u32> = (0..8).map(|offset| 1000 + round + offset).collect();
            assert_eq!(found, expected);
            // No ID landed in two slots.
            let mut slots_sorted = raw(&slots);
            slots_sorted.sort_unstable();
            assert_eq!(slots_sorted, expected);
        }
    }
}

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
//!
//! Each slot also records the *configuration epoch* it was noted in (the top 8 bits; NAPI IDs
//! are allocated one by one from `MIN_NAPI_ID`, so they stay far below 2^24). A change of
//! `net.kpoll.ports` or `net.kpoll.enabled` starts a new epoch; [`for_each`] drops entries of
//! older epochs, so every socket's opt-in is decided afresh at its next wakeup, and turning
//! kpoll off for a port takes effect on existing epoll instances at once.

use core::sync::atomic::{AtomicU32, Ordering};

/// Number of NAPI IDs per epoll instance; the patch's `KPOLL_NAPI_SLOTS`.
pub const NAPI_ID_SLOTS: usize = 8;

/// The largest NAPI ID that can be remembered (the rest of a slot holds the epoch).
pub const MAX_NAPI_ID: u32 = (1 << 24) - 1;

fn tagged(id: u32, epoch: u8) -> u32 {
    (u32::from(epoch) << 24) | id
}

fn id_of(value: u32) -> u32 {
    value & MAX_NAPI_ID
}

fn epoch_of(value: u32) -> u8 {
    (value >> 24) as u8
}

/// Adds `id`, noted in configuration epoch `epoch`, unless it is 0, too large or already
/// present in that epoch. Entries of other epochs are free slots.
pub fn note(slots: &[AtomicU32; NAPI_ID_SLOTS], id: u32, epoch: u8) {
    if id == 0 || id > MAX_NAPI_ID {
        return;
    }
    let value = tagged(id, epoch);
    if slots
        .iter()
        .any(|slot| slot.load(Ordering::Relaxed) == value)
    {
        return;
    }
    for slot in slots {
        let current = slot.load(Ordering::Relaxed);
        if current == value {
            return;
        }
        if current != 0 && epoch_of(current) == epoch {
            continue;
        }
        match slot.compare_exchange(current, value, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) if now == value => return,
            Err(_) => {}
        }
    }
    let index = usize::try_from(id).unwrap_or(0) % NAPI_ID_SLOTS;
    if let Some(slot) = slots.get(index) {
        slot.store(value, Ordering::Relaxed);
    }
}

/// Removes `id` (of any epoch).
pub fn forget(slots: &[AtomicU32; NAPI_ID_SLOTS], id: u32) {
    if id == 0 {
        return;
    }
    for slot in slots {
        let current = slot.load(Ordering::Relaxed);
        if current != 0 && id_of(current) == id {
            let _ = slot.compare_exchange(current, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

/// Calls `f` once for each distinct ID noted in `epoch`, and frees the slots of other epochs.
pub fn for_each(slots: &[AtomicU32; NAPI_ID_SLOTS], epoch: u8, mut f: impl FnMut(u32)) {
    let mut seen = [0u32; NAPI_ID_SLOTS];
    let mut count = 0;
    for slot in slots {
        let value = slot.load(Ordering::Relaxed);
        if value == 0 {
            continue;
        }
        if epoch_of(value) != epoch {
            let _ = slot.compare_exchange(value, 0, Ordering::Relaxed, Ordering::Relaxed);
            continue;
        }
        let id = id_of(value);
        if seen.get(..count).is_some_and(|seen| seen.contains(&id)) {
            continue;
        }
        if let Some(entry) = seen.get_mut(count) {
            *entry = id;
            count += 1;
        }
        f(id);
    }
}

/// Whether no slot is in use (in any epoch): the cheap check before any other work.
pub fn is_empty(slots: &[AtomicU32; NAPI_ID_SLOTS]) -> bool {
    slots.iter().all(|slot| slot.load(Ordering::Relaxed) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> [AtomicU32; NAPI_ID_SLOTS] {
        Default::default()
    }

    fn ids(slots: &[AtomicU32; NAPI_ID_SLOTS]) -> Vec<u32> {
        let mut found = Vec::new();
        for_each(slots, 0, |id| found.push(id));
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
        note(&slots, 8193, 0);
        assert!(!is_empty(&slots));
        note(&slots, 8193, 0);
        assert_eq!(ids(&slots), [8193]);
        assert_eq!(raw(&slots), [8193, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn zero_is_ignored() {
        let slots = empty();
        note(&slots, 0, 0);
        assert!(is_empty(&slots));
        note(&slots, 5, 0);
        forget(&slots, 0);
        assert_eq!(ids(&slots), [5]);
    }

    #[test]
    fn fills_all_slots_in_order() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id, 0);
        }
        assert_eq!(ids(&slots), [1, 2, 3, 4, 5, 6, 7, 8]);
        for id in 1..=8 {
            note(&slots, id, 0);
        }
        assert_eq!(ids(&slots), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn overflow_replaces_the_slot_chosen_by_the_id() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id, 0);
        }
        // 19 % 8 == 3: replaces the fourth slot, which holds 4.
        note(&slots, 19, 0);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 5, 6, 7, 8]);
        note(&slots, 19, 0);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 5, 6, 7, 8]);
        // 4 % 8 == 4: now 4 comes back in the fifth slot.
        note(&slots, 4, 0);
        assert_eq!(ids(&slots), [1, 2, 3, 19, 4, 6, 7, 8]);
    }

    #[test]
    fn forget_frees_the_slot_for_reuse() {
        let slots = empty();
        for id in [10, 20, 30] {
            note(&slots, id, 0);
        }
        forget(&slots, 20);
        assert_eq!(ids(&slots), [10, 30]);
        forget(&slots, 99);
        assert_eq!(ids(&slots), [10, 30]);
        note(&slots, 40, 0);
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
                            note(slots, id, 0);
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

    #[test]
    fn ids_beyond_the_tag_are_refused() {
        let slots = empty();
        note(&slots, MAX_NAPI_ID + 1, 0);
        assert!(is_empty(&slots));
        note(&slots, MAX_NAPI_ID, 0);
        assert_eq!(ids(&slots), [MAX_NAPI_ID]);
    }

    #[test]
    fn a_new_epoch_drops_old_entries() {
        let slots = empty();
        note(&slots, 10, 1);
        note(&slots, 20, 1);
        let mut found = Vec::new();
        for_each(&slots, 2, |id| found.push(id));
        assert!(found.is_empty(), "{found:?}");
        assert!(is_empty(&slots));
        note(&slots, 20, 2);
        for_each(&slots, 2, |id| found.push(id));
        assert_eq!(found, [20]);
    }

    #[test]
    fn noting_in_a_new_epoch_reuses_stale_slots() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id, 3);
        }
        note(&slots, 5, 4);
        assert_eq!(raw(&slots)[0], tagged(5, 4));
        let mut found = Vec::new();
        for_each(&slots, 4, |id| found.push(id));
        assert_eq!(found, [5]);
    }
}

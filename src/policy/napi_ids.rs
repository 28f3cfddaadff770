// SPDX-License-Identifier: GPL-2.0

//! What one epoll instance knows about its NAPI instances: which it has seen, whether its
//! `epoll_wait()` keeps finding work, and which it holds.
//!
//! The kpoll patch embeds `u64 kpoll_slots[KPOLL_NAPI_SLOTS]` in every `struct eventpoll` and the
//! glue hands it to this module as `&[AtomicU64; NAPI_ID_SLOTS]`. A slot is 0 until first used
//! and [`VACANT`] when freed after that, else:
//!
//! | bits   | meaning                                                                        |
//! |--------|--------------------------------------------------------------------------------|
//! | 0..32  | the NAPI ID (the kernel's 32-bit counter, any value but 0)                     |
//! | 32..40 | the configuration epoch the ID was noted in                                    |
//! | 40     | `STREAK`: this epoll returned events since its last return without events      |
//! | 41     | `OWNER`: this epoll holds the NAPI (counted once in the NAPI's holder count)    |
//! | 42     | `SEEN`: a socket on this NAPI woke this epoll since its last delivery           |
//! | 43..45 | deliveries in a row without such a wakeup (saturating)                         |
//! | 45..61 | the holder generation `OWNER` was counted in (see `policy::claim`)             |
//!
//! # Holds are owned
//!
//! A hold is taken *by an epoll instance* and lasts only while that instance is between a
//! return of `epoll_wait()` with events and its next return without events:
//!
//! - [`streak`] runs when `epoll_wait()` returns events. The first delivery after an empty return
//!   usually only starts a streak: an application that wakes, answers one request and sleeps
//!   again gains nothing from a hold. A second delivery without an empty return in between
//!   means work was already waiting when the application came back: the glue then claims
//!   ownership with [`claim_owner`] (after counting itself as a holder of the NAPI) and holds
//!   the queue. The exception is a queue whose holds have proven themselves under sustained
//!   load (`policy::admission`) and that no other epoll holds: the glue claims it at the first
//!   delivery already, since under load the interrupt that ended the sleep starts a run of
//!   them. [`claim_owner`] accepts it: [`streak`] sets `STREAK` at that delivery, and the
//!   claim needs `STREAK` without `OWNER`, of the same ID and epoch.
//! - [`end_streaks`] runs on every return without events (about to sleep, a zero timeout,
//!   `-EINTR`, errors) and when the epoll instance is freed. It clears `STREAK` and `OWNER` of
//!   every slot, whatever its epoch, and reports each ownership it ended so that the glue drops
//!   that holder and releases the queue when no holder is left.
//!
//! - A streak starts only at a delivery that follows a wakeup from one of the NAPI's sockets
//!   (`SEEN`, set by [`note`] on every wakeup), and ends after [`IDLE_DELIVERIES`] deliveries in
//!   a row without one: an epoll whose work now comes from other queues — the last socket on
//!   this one was closed or removed with `EPOLL_CTL_DEL` — then gives up its streak and its hold
//!   on this NAPI ([`Streak::Idle`]). A few deliveries of grace keep a busy application that
//!   returns to `epoll_wait()` faster than packets arrive from losing its hold every time.
//!
//! So a process that took a hold and then leaves `epoll_wait()` empty-handed, closes its epoll,
//! or stops getting traffic from that queue, gives it back at once; only a process that returned
//! with events and then blocks elsewhere keeps it, until the watchdog.
//!
//! # Rests
//!
//! At low load every request is a wakeup, a delivery that starts a streak and an empty return
//! that ends it: the hooks run four times per request to find that nothing is worth holding, a
//! few hundred instructions. So an epoll instance whose return without events ended a streak
//! but no ownership, while no queue it remembers is held, rests ([`Ended::rest`]): until
//! [`REST_DELIVERIES`] deliveries have passed, the kpoll patch calls the hooks only at its
//! returns without events — no [`note`] at its sockets' wakeups, no poll of held queues at
//! `epoll_wait()` entry, no [`streak`] at its deliveries. Those returns find no streak to end
//! and start no rest of their own. After the rest the next delivery starts a streak again — or
//! the one after, if the wakeup before it was skipped ([`Streak::Quiet`]) — and a streak that
//! ends at an empty return without a hold starts the next rest. So about one request in 16 pays
//! the hooks, and a load that streaks is noticed at the first watched delivery that another
//! follows before an empty return.
//!
//! A resting epoll instance owns nothing: its empty return has just ended every ownership it
//! had. The exception is a hold that another thread of the same epoll instance claimed while
//! that return decided to rest. This epoll then neither renews nor polls it for the rest's
//! length, and releases it at its next return without events, which still reaches
//! [`end_streaks`]; until then the hold's deadline and service polls bound it, as for any
//! holder busy outside `epoll_wait()`.
//!
//! # Used slots form a prefix
//!
//! A slot that was used never becomes 0 again: freeing it makes it [`VACANT`], which [`note`]
//! reuses like a 0. The kpoll patch relies on this: it skips the `epoll_wait()` and free hooks
//! of an epoll instance whose first slot is 0, so an epoll that never saw an opted-in socket
//! costs one load per hook. [`note`] takes a 0 slot only when every slot before it is in use or
//! vacant, so a 0 slot is followed by 0 slots only, and every walk stops at the first 0. An
//! epoll instance with one NAPI — the usual case — thus costs one slot read per walk, not
//! [`NAPI_ID_SLOTS`] (the walks run several times per request).
//!
//! Why the prefix holds with concurrent callers: slots only go from 0 to used, never back.
//! [`note`]'s first pass takes the first slot in order that is 0, vacant or stale; when it
//! takes a 0 slot, every slot before it was read non-zero and is still non-zero. Its second
//! pass (replacing a slot that owns nothing) runs only after the first pass took nothing, so
//! it read no 0 slot, or lost each compare-and-swap on one to another [`note`] (which the
//! glue never runs concurrently: notes of one epoll hold its lock): no slot is 0 any more,
//! and the second pass reads none and writes none.
//!
//! # Epochs
//!
//! A change of `net.kpoll.ports` or `net.kpoll.enabled` starts a new configuration epoch, so that
//! every socket's opt-in is decided afresh at its next wakeup. [`for_each`] reports only slots of
//! the current epoch and frees stale slots that own nothing. A stale slot that owns a hold keeps
//! it until [`end_streaks`] ends it: releasing never depends on the epoch.
//!
//! # Contexts and ordering
//!
//! [`note`] runs from the socket insert hook (process context) and the wakeup hook (softirq, or
//! hardirq for drivers that wake sockets from their IRQ handler), with the epoll's lock held;
//! the others run from `epoll_wait()` (process context), possibly on several threads of one
//! epoll instance at once. Every change is a compare-and-swap of one slot, so concurrent callers
//! never lose each other's bits: in particular `OWNER` is set by exactly one [`claim_owner`] and
//! cleared by exactly one [`end_streaks`] or [`forget`], which is what keeps the holder count
//! exact. Relaxed ordering is enough: slots carry no pointers, only IDs that the glue looks up
//! under RCU, and the holder count has its own atomic (see `policy::claim`).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::claim::Generation;

/// Number of NAPI IDs per epoll instance; the patch's `KPOLL_NAPI_SLOTS`.
pub const NAPI_ID_SLOTS: usize = 8;

/// The slots of one epoll instance.
pub type Slots = [AtomicU64; NAPI_ID_SLOTS];

const ID_MASK: u64 = 0xffff_ffff;
const EPOCH_SHIFT: u32 = 32;
const STREAK: u64 = 1 << 40;
const OWNER: u64 = 1 << 41;
const SEEN: u64 = 1 << 42;
const IDLE_SHIFT: u32 = 43;
const IDLE_MASK: u64 = 0b11 << IDLE_SHIFT;
const GENERATION_SHIFT: u32 = 45;
const GENERATION_MASK: u64 = 0xffff << GENERATION_SHIFT;
/// A slot that was used and is free again (its NAPI ID field is 0, as for an unused slot).
pub const VACANT: u64 = 1 << 63;

/// Whether a slot's value holds a NAPI ID (it is neither unused nor vacant).
fn in_use(value: u64) -> bool {
    id_of(value) != 0
}

/// The slots that were ever used, in order, with their values: a walk stops at the first 0
/// (see the module documentation). Vacant slots are included; callers skip them.
fn used_prefix(slots: &Slots) -> impl Iterator<Item = (&AtomicU64, u64)> {
    slots
        .iter()
        .map(|slot| (slot, slot.load(Relaxed)))
        .take_while(|&(_, value)| value != 0)
}

fn generation_of(value: u64) -> Generation {
    ((value & GENERATION_MASK) >> GENERATION_SHIFT) as Generation
}

fn with_generation(value: u64, generation: Generation) -> u64 {
    (value & !GENERATION_MASK) | (u64::from(generation) << GENERATION_SHIFT)
}

/// Deliveries in a row without a wakeup from a NAPI's sockets after which an epoll's streak and
/// hold on that NAPI end.
pub const IDLE_DELIVERIES: u64 = 3;

fn tagged(id: u32, epoch: u8) -> u64 {
    (u64::from(epoch) << EPOCH_SHIFT) | u64::from(id)
}

fn id_of(value: u64) -> u32 {
    (value & ID_MASK) as u32
}

fn epoch_of(value: u64) -> u8 {
    (value >> EPOCH_SHIFT) as u8
}

fn same_napi(value: u64, id: u32, epoch: u8) -> bool {
    in_use(value) && id_of(value) == id && epoch_of(value) == epoch
}

/// Remembers `id` for this epoll instance in configuration epoch `epoch`, and that one of its
/// sockets just woke the epoll (`SEEN`).
///
/// An ID already present keeps its slot (and its `STREAK`/`OWNER` bits; a stale epoch is
/// refreshed). Otherwise it takes a free slot or one of an older epoch that owns nothing; when
/// all are taken it replaces a slot that owns nothing, starting at `id % NAPI_ID_SLOTS`. If every
/// slot owns a hold nothing is replaced: losing an owned slot would leak its holder count. A
/// forgotten ID is noted again at the next wakeup of one of its sockets.
pub fn note(slots: &Slots, id: u32, epoch: u8) {
    if id == 0 {
        return;
    }
    for (slot, mut current) in used_prefix(slots) {
        while in_use(current) && id_of(current) == id {
            let refreshed = (current & !(0xff << EPOCH_SHIFT)) | tagged(0, epoch) | SEEN;
            if refreshed == current {
                return;
            }
            match slot.compare_exchange(current, refreshed, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }
    let value = tagged(id, epoch) | SEEN;
    let replaceable = |current: u64, evict: bool| {
        !in_use(current) || current & OWNER == 0 && (evict || epoch_of(current) != epoch)
    };
    for evict in [false, true] {
        let start = if evict {
            id as usize % NAPI_ID_SLOTS
        } else {
            0
        };
        for offset in 0..NAPI_ID_SLOTS {
            let Some(slot) = slots.get((start + offset) % NAPI_ID_SLOTS) else {
                continue;
            };
            let current = slot.load(Relaxed);
            if replaceable(current, evict)
                && slot
                    .compare_exchange(current, value, Relaxed, Relaxed)
                    .is_ok()
            {
                return;
            }
        }
    }
}

/// Calls `f(slot, id)` for each slot of epoch `epoch`, and frees the slots of other epochs that
/// own nothing.
pub fn for_each<'a>(slots: &'a Slots, epoch: u8, mut f: impl FnMut(&'a AtomicU64, u32)) {
    for (slot, value) in used_prefix(slots) {
        if !in_use(value) {
            continue;
        }
        if epoch_of(value) != epoch {
            if value & OWNER == 0 {
                let _ = slot.compare_exchange(value, VACANT, Relaxed, Relaxed);
            }
            continue;
        }
        f(slot, id_of(value));
    }
}

/// The NAPI ID of each used slot, whatever its epoch (a stale slot may still own a hold).
pub fn noted(slots: &Slots) -> impl Iterator<Item = u32> + '_ {
    used_prefix(slots)
        .filter(|&(_, value)| in_use(value))
        .map(|(_, value)| id_of(value))
}

/// Where a delivery leaves the streak of one slot; see [`streak`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streak {
    /// First delivery since the last return without events: no hold yet, unless the queue's
    /// holds have proven themselves (`policy::admission`) and no other epoll holds it, then
    /// claim one.
    Started,
    /// No streak, and no wakeup from this NAPI since the previous delivery: nothing to do.
    Quiet,
    /// The streak goes on and this epoll does not own a hold: claim one.
    Continues,
    /// The streak goes on and this epoll owns the hold, counted in `generation`: refresh it
    /// (or, if that generation expired, count this epoll afresh with [`renew_owner`]).
    Owner {
        /// The holder generation of the ownership.
        generation: Generation,
    },
    /// No socket on this NAPI woke the epoll for [`IDLE_DELIVERIES`] deliveries: the work
    /// comes from other queues. The streak ended, and so did this epoll's ownership if
    /// `ended` says so (the caller drops that holder).
    Idle {
        /// The generation of the ownership this call ended, if it ended one.
        ended: Option<Generation>,
    },
    /// The slot no longer holds `id` in this epoch.
    Gone,
}

/// `epoll_wait()` returns events: advances the streak of `slot`, which holds `id` in `epoch`.
pub fn streak(slot: &AtomicU64, id: u32, epoch: u8) -> Streak {
    let mut current = slot.load(Relaxed);
    loop {
        if !same_napi(current, id, epoch) {
            return Streak::Gone;
        }
        let idle = (current & IDLE_MASK) >> IDLE_SHIFT;
        let (next, outcome) = if current & SEEN != 0 {
            let next = current & !(SEEN | IDLE_MASK);
            if current & OWNER != 0 {
                let generation = generation_of(current);
                (next, Streak::Owner { generation })
            } else if current & STREAK != 0 {
                (next, Streak::Continues)
            } else {
                (next | STREAK, Streak::Started)
            }
        } else if current & (STREAK | OWNER) == 0 {
            (current, Streak::Quiet)
        } else if idle + 1 >= IDLE_DELIVERIES {
            let ended = (current & OWNER != 0).then(|| generation_of(current));
            (
                current & !(STREAK | OWNER | IDLE_MASK | GENERATION_MASK),
                Streak::Idle { ended },
            )
        } else {
            let next = (current & !IDLE_MASK) | ((idle + 1) << IDLE_SHIFT);
            if current & OWNER != 0 {
                let generation = generation_of(current);
                (next, Streak::Owner { generation })
            } else {
                (next, Streak::Continues)
            }
        };
        if next == current {
            return outcome;
        }
        match slot.compare_exchange(current, next, Relaxed, Relaxed) {
            Ok(_) => return outcome,
            Err(now) => current = now,
        }
    }
}

/// Makes this epoll the owner of the hold on `id`, counted in holder generation `generation`,
/// after [`streak`] said [`Streak::Continues`] (or [`Streak::Started`], for a proven queue).
/// Returns false if another thread of the same epoll claimed it first, or the streak ended or
/// the slot changed meanwhile: the caller then undoes its holder count.
pub fn claim_owner(slot: &AtomicU64, id: u32, epoch: u8, generation: Generation) -> bool {
    let mut current = slot.load(Relaxed);
    loop {
        if !same_napi(current, id, epoch) || current & (STREAK | OWNER) != STREAK {
            return false;
        }
        let owned = with_generation(current | OWNER, generation);
        match slot.compare_exchange(current, owned, Relaxed, Relaxed) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
}

/// The ownership of `id` in this slot was counted in generation `old`, which has expired:
/// records that this epoll is now counted in `new`. Returns false if the slot changed meanwhile
/// (another thread of the epoll renewed or ended it): the caller then undoes its new count.
pub fn renew_owner(slot: &AtomicU64, id: u32, epoch: u8, old: Generation, new: Generation) -> bool {
    let mut current = slot.load(Relaxed);
    loop {
        if !same_napi(current, id, epoch) || current & OWNER == 0 || generation_of(current) != old {
            return false;
        }
        match slot.compare_exchange(current, with_generation(current, new), Relaxed, Relaxed) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
}

/// The deliveries of a rest (see [Rests](self#rests)).
pub const REST_DELIVERIES: u8 = 15;

/// What a return without events ended ([`end_streaks`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ended {
    /// Streaks ended, owned or not.
    pub streaks: u32,
    /// Ownerships ended.
    pub ownerships: u32,
}

impl Ended {
    /// How many deliveries the epoll instance rests now: [`REST_DELIVERIES`] if a streak ended
    /// and no ownership did, and `any_held()` says that no queue it remembers is held (asked
    /// only then), else none (see [Rests](self#rests)).
    pub fn rest(self, any_held: impl FnOnce() -> bool) -> u8 {
        if self.streaks > 0 && self.ownerships == 0 && !any_held() {
            REST_DELIVERIES
        } else {
            0
        }
    }
}

/// `epoll_wait()` returns without events, or the epoll instance is freed: ends every streak,
/// ends every ownership (calling `f(id, generation)` exactly once for each) and frees slots of
/// epochs other than `epoch`. Returns what it ended.
pub fn end_streaks(slots: &Slots, epoch: u8, mut f: impl FnMut(u32, Generation)) -> Ended {
    let mut ended = Ended::default();
    for (slot, mut current) in used_prefix(slots) {
        loop {
            if !in_use(current) {
                break;
            }
            let next = if epoch_of(current) == epoch {
                current & !(STREAK | OWNER | IDLE_MASK | GENERATION_MASK)
            } else {
                VACANT
            };
            if next == current {
                break;
            }
            match slot.compare_exchange(current, next, Relaxed, Relaxed) {
                Ok(_) => {
                    if current & (STREAK | OWNER) != 0 {
                        ended.streaks += 1;
                    }
                    if current & OWNER != 0 {
                        ended.ownerships += 1;
                        f(id_of(current), generation_of(current));
                    }
                    break;
                }
                Err(now) => current = now,
            }
        }
    }
    ended
}

/// Frees every slot holding `id` (its NAPI is gone), calling `f(id, generation)` once for each
/// ownership this ended.
pub fn forget(slots: &Slots, id: u32, mut f: impl FnMut(u32, Generation)) {
    for (slot, current) in used_prefix(slots) {
        if in_use(current)
            && id_of(current) == id
            && slot
                .compare_exchange(current, VACANT, Relaxed, Relaxed)
                .is_ok()
            && current & OWNER != 0
        {
            f(id, generation_of(current));
        }
    }
}

/// Whether no slot is in use: the cheap check before any other work.
pub fn is_empty(slots: &Slots) -> bool {
    used_prefix(slots).all(|(_, value)| !in_use(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    fn empty() -> Slots {
        Default::default()
    }

    fn ids(slots: &Slots, epoch: u8) -> Vec<u32> {
        let mut found = Vec::new();
        for_each(slots, epoch, |_, id| found.push(id));
        found
    }

    fn slot_of(slots: &Slots, id: u32) -> &AtomicU64 {
        slots
            .iter()
            .find(|slot| id_of(slot.load(Relaxed)) == id)
            .unwrap()
    }

    fn owned(slots: &Slots) -> Vec<u32> {
        slots
            .iter()
            .map(|slot| slot.load(Relaxed))
            .filter(|value| value & OWNER != 0)
            .map(id_of)
            .collect()
    }

    /// A wakeup from a socket on `id`, then a delivery.
    fn deliver(slots: &Slots, id: u32, epoch: u8) -> Streak {
        note(slots, id, epoch);
        streak(slot_of(slots, id), id, epoch)
    }

    /// Two deliveries in a row, then the claim: what the glue does to take a hold on a queue
    /// that has not proven itself.
    fn take_hold(slots: &Slots, id: u32, epoch: u8) -> bool {
        if deliver(slots, id, epoch) == Streak::Started {
            assert_eq!(deliver(slots, id, epoch), Streak::Continues);
        }
        claim_owner(slot_of(slots, id), id, epoch, 0)
    }

    #[test]
    fn starts_empty() {
        let slots = empty();
        assert!(is_empty(&slots));
        assert!(ids(&slots, 0).is_empty());
    }

    #[test]
    fn full_32_bit_ids_are_kept() {
        let slots = empty();
        for id in [1, 1 << 24, u32::MAX] {
            note(&slots, id, 7);
        }
        assert_eq!(ids(&slots, 7), [1, 1 << 24, u32::MAX]);
        note(&slots, 0, 7);
        assert_eq!(ids(&slots, 7).len(), 3);
    }

    #[test]
    fn noted_slots_of_every_epoch_are_visited() {
        let slots = empty();
        note(&slots, 10, 1);
        assert!(take_hold(&slots, 10, 1));
        // Noting in epoch 2 cannot reuse the stale slot: it still owns a hold.
        note(&slots, 20, 2);
        assert!(noted(&slots).eq([10, 20]));
    }

    #[test]
    fn noting_twice_keeps_one_slot() {
        let slots = empty();
        note(&slots, 8193, 0);
        note(&slots, 8193, 0);
        assert_eq!(ids(&slots, 0), [8193]);
    }

    #[test]
    fn overflow_replaces_an_unowned_slot_chosen_by_the_id() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id, 0);
        }
        // 19 % 8 == 3: replaces the fourth slot, which holds 4.
        note(&slots, 19, 0);
        assert_eq!(ids(&slots, 0), [1, 2, 3, 19, 5, 6, 7, 8]);
        // Slot 3 (19) now owns a hold: 27 % 8 == 3 moves on to slot 4 (5).
        assert!(take_hold(&slots, 19, 0));
        note(&slots, 27, 0);
        assert_eq!(ids(&slots, 0), [1, 2, 3, 19, 27, 6, 7, 8]);
    }

    #[test]
    fn owned_slots_are_never_replaced() {
        let slots = empty();
        for id in 1..=8 {
            note(&slots, id, 0);
            assert!(take_hold(&slots, id, 0));
        }
        note(&slots, 99, 0);
        assert_eq!(ids(&slots, 0), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(owned(&slots), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    /// The slot protocol the glue's claim at the first delivery (a proven queue) relies on:
    /// already true before that claim existed; this pins it.
    #[test]
    fn a_claim_at_the_first_delivery_is_owned_once_and_released_at_the_empty_return() {
        let slots = empty();
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        let slot = slot_of(&slots, 5);
        assert!(claim_owner(slot, 5, 0, 3));
        assert!(!claim_owner(slot, 5, 0, 3), "claimed once only");
        assert_eq!(deliver(&slots, 5, 0), Streak::Owner { generation: 3 });
        let mut ended = Vec::new();
        end_streaks(&slots, 0, |id, generation| ended.push((id, generation)));
        assert_eq!(ended, [(5, 3)]);
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
    }

    #[test]
    fn an_empty_return_rests_an_epoll_whose_streak_ended_without_a_hold() {
        let slots = empty();
        // Low load: a wakeup, a delivery that starts a streak, an empty return.
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        let ended = end_streaks(&slots, 0, |_, _| panic!("nothing was owned"));
        assert_eq!(
            ended,
            Ended {
                streaks: 1,
                ownerships: 0
            }
        );
        assert_eq!(ended.rest(|| false), REST_DELIVERIES);
        // Not while a queue it remembers is held (by another epoll): its entry polls serve it.
        assert_eq!(ended.rest(|| true), 0);
        // The first empty return after a rest ended no streak: no rest, so that the next
        // delivery is watched; nor does it ask about held queues.
        let ended = end_streaks(&slots, 0, |_, _| {});
        assert_eq!(ended, Ended::default());
        assert_eq!(ended.rest(|| panic!("asked for nothing")), 0);
        // An owner of two holds, one of them in a stale epoch's slot, does not rest.
        assert!(take_hold(&slots, 5, 0));
        assert!(take_hold(&slots, 6, 0));
        let ended = end_streaks(&slots, 1, |_, _| {});
        assert_eq!(
            ended,
            Ended {
                streaks: 2,
                ownerships: 2
            }
        );
        assert_eq!(ended.rest(|| false), 0);
        // Nor does one that owned one hold beside a streak that took none.
        assert!(take_hold(&slots, 7, 1));
        assert_eq!(deliver(&slots, 8, 1), Streak::Started);
        assert_eq!(end_streaks(&slots, 1, |_, _| {}).rest(|| false), 0);
    }

    /// The rest's wakeups and deliveries reach no hook. The first watched delivery may have lost
    /// its wakeup to the rest: it starts nothing, and the streak starts at the next wakeup and
    /// delivery, so a load that streaks is held again within two watched deliveries.
    #[test]
    fn a_delivery_after_a_rest_without_a_wakeup_starts_no_streak() {
        let slots = empty();
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        assert_eq!(
            end_streaks(&slots, 0, |_, _| {}).rest(|| false),
            REST_DELIVERIES
        );
        assert_eq!(streak(slot_of(&slots, 5), 5, 0), Streak::Quiet);
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        assert_eq!(deliver(&slots, 5, 0), Streak::Continues);
    }

    #[test]
    fn a_streak_needs_two_deliveries_in_a_row() {
        let slots = empty();
        note(&slots, 5, 0);
        let slot = slot_of(&slots, 5);
        assert_eq!(streak(slot, 5, 0), Streak::Started);
        let mut ended = Vec::new();
        end_streaks(&slots, 0, |id, _| ended.push(id));
        assert!(ended.is_empty(), "a streak alone owns nothing");
        assert_eq!(
            deliver(&slots, 5, 0),
            Streak::Started,
            "the empty return ended it"
        );
        assert_eq!(deliver(&slots, 5, 0), Streak::Continues);
        assert!(claim_owner(slot, 5, 0, 0));
        assert_eq!(deliver(&slots, 5, 0), Streak::Owner { generation: 0 });
        assert!(!claim_owner(slot, 5, 0, 0), "claimed once only");
    }

    #[test]
    fn a_delivery_without_a_wakeup_from_the_queue_ends_its_hold() {
        let slots = empty();
        note(&slots, 5, 0);
        note(&slots, 6, 0);
        assert!(take_hold(&slots, 5, 0));
        // The last socket on NAPI 5 is gone; the epoll keeps returning events from NAPI 6.
        let slot = slot_of(&slots, 5);
        for _ in 1..IDLE_DELIVERIES {
            assert_eq!(
                streak(slot, 5, 0),
                Streak::Owner { generation: 0 },
                "a few deliveries of grace"
            );
        }
        assert_eq!(streak(slot, 5, 0), Streak::Idle { ended: Some(0) });
        assert_eq!(streak(slot, 5, 0), Streak::Quiet);
        assert!(owned(&slots).is_empty());
        // Traffic from NAPI 5 again: a new streak.
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        // A wakeup resets the grace count.
        assert_eq!(streak(slot, 5, 0), Streak::Continues);
        assert_eq!(deliver(&slots, 5, 0), Streak::Continues);
        for _ in 1..IDLE_DELIVERIES {
            assert_eq!(streak(slot, 5, 0), Streak::Continues);
        }
        assert_eq!(streak(slot, 5, 0), Streak::Idle { ended: None });
    }

    #[test]
    fn a_second_delivery_without_a_wakeup_continues_the_streak() {
        // The case: an epoll noted the NAPI (insert), then returns an always-ready
        // eventfd twice: it may hold, and its next empty return must end that.
        let slots = empty();
        note(&slots, 5, 0);
        let slot = slot_of(&slots, 5);
        assert_eq!(streak(slot, 5, 0), Streak::Started);
        assert_eq!(streak(slot, 5, 0), Streak::Continues);
        assert!(claim_owner(slot, 5, 0, 0));
        let mut ended = Vec::new();
        end_streaks(&slots, 0, |id, _| ended.push(id));
        assert_eq!(ended, [5]);
        assert_eq!(
            streak(slot, 5, 0),
            Streak::Quiet,
            "no streak without a new wakeup"
        );
    }

    #[test]
    fn an_expired_ownership_is_renewed_once() {
        let slots = empty();
        note(&slots, 5, 0);
        assert!(take_hold(&slots, 5, 0));
        let slot = slot_of(&slots, 5);
        assert_eq!(deliver(&slots, 5, 0), Streak::Owner { generation: 0 });
        assert!(!renew_owner(slot, 5, 0, 1, 2), "not the slot's generation");
        assert!(renew_owner(slot, 5, 0, 0, 1));
        assert!(!renew_owner(slot, 5, 0, 0, 1), "renewed once");
        assert_eq!(deliver(&slots, 5, 0), Streak::Owner { generation: 1 });
        let mut ended = Vec::new();
        end_streaks(&slots, 0, |id, generation| ended.push((id, generation)));
        assert_eq!(ended, [(5, 1)]);
    }

    /// Every bit of a 16-bit generation is kept, and none of it leaks into the epoch, the
    /// flags or `VACANT`.
    #[test]
    fn the_slot_keeps_a_whole_generation() {
        let slots = empty();
        note(&slots, u32::MAX, 0xff);
        assert!(take_hold(&slots, u32::MAX, 0xff));
        let slot = slot_of(&slots, u32::MAX);
        assert!(renew_owner(slot, u32::MAX, 0xff, 0, Generation::MAX));
        assert_eq!(
            deliver(&slots, u32::MAX, 0xff),
            Streak::Owner {
                generation: Generation::MAX
            }
        );
        assert_eq!(slot.load(Relaxed) & VACANT, 0);
        assert_eq!(ids(&slots, 0xff), [u32::MAX]);
        let mut ended = Vec::new();
        end_streaks(&slots, 0xff, |id, generation| ended.push((id, generation)));
        assert_eq!(ended, [(u32::MAX, Generation::MAX)]);
    }

    #[test]
    fn a_claim_tolerates_wakeups_in_between() {
        let slots = empty();
        note(&slots, 5, 0);
        assert_eq!(deliver(&slots, 5, 0), Streak::Started);
        assert_eq!(deliver(&slots, 5, 0), Streak::Continues);
        note(&slots, 5, 0);
        assert!(claim_owner(slot_of(&slots, 5), 5, 0, 0));
    }

    #[test]
    fn an_empty_return_ends_each_ownership_once() {
        let slots = empty();
        for id in [10, 20, 30] {
            note(&slots, id, 0);
        }
        assert!(take_hold(&slots, 10, 0));
        assert!(take_hold(&slots, 30, 0));
        let mut ended = Vec::new();
        end_streaks(&slots, 0, |id, _| ended.push(id));
        assert_eq!(ended, [10, 30]);
        end_streaks(&slots, 0, |id, _| ended.push(id));
        assert_eq!(ended, [10, 30], "nothing left to end");
        assert_eq!(ids(&slots, 0), [10, 20, 30], "the IDs stay noted");
    }

    #[test]
    fn a_new_epoch_hides_old_slots_but_never_loses_an_ownership() {
        let slots = empty();
        note(&slots, 10, 1);
        note(&slots, 20, 1);
        assert!(take_hold(&slots, 20, 1));
        assert!(ids(&slots, 2).is_empty());
        // The unowned stale slot is freed (vacant, never 0 again); the owned one waits for the
        // empty return.
        assert_eq!(slots[0].load(Relaxed), VACANT);
        assert_eq!(owned(&slots), [20]);
        let mut ended = Vec::new();
        end_streaks(&slots, 2, |id, _| ended.push(id));
        assert_eq!(ended, [20]);
        assert_eq!(slots[1].load(Relaxed), VACANT);
        assert!(is_empty(&slots));
    }

    #[test]
    fn noting_again_in_a_new_epoch_keeps_the_ownership() {
        let slots = empty();
        note(&slots, 10, 1);
        assert!(take_hold(&slots, 10, 1));
        note(&slots, 10, 2);
        assert_eq!(ids(&slots, 2), [10]);
        assert_eq!(
            streak(slot_of(&slots, 10), 10, 2),
            Streak::Owner { generation: 0 }
        );
    }

    #[test]
    fn forget_reports_an_owned_slot() {
        let slots = empty();
        note(&slots, 10, 0);
        note(&slots, 20, 0);
        assert!(take_hold(&slots, 20, 0));
        let mut ended = Vec::new();
        forget(&slots, 10, |id, _| ended.push(id));
        forget(&slots, 20, |id, _| ended.push(id));
        assert_eq!(ended, [20]);
        assert!(is_empty(&slots));
    }

    /// One step of the stress tests' xorshift generator.
    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// No used or vacant slot follows an unused (0) one.
    fn assert_prefix(slots: &Slots) {
        let values: Vec<u64> = slots.iter().map(|slot| slot.load(Relaxed)).collect();
        let first_unused = values.iter().position(|&v| v == 0).unwrap_or(NAPI_ID_SLOTS);
        assert!(
            values[first_unused..].iter().all(|&v| v == 0),
            "a used slot after an unused one: {values:x?}"
        );
    }

    #[test]
    fn a_freed_slot_is_vacant_and_taken_again_first() {
        let slots = empty();
        for id in [10, 20, 30] {
            note(&slots, id, 0);
        }
        forget(&slots, 20, |_, _| {});
        assert_eq!(slots[1].load(Relaxed), VACANT, "freed, never 0 again");
        assert_eq!(ids(&slots, 0), [10, 30]);
        note(&slots, 40, 0);
        assert_eq!(ids(&slots, 0), [10, 40, 30]);
        assert_prefix(&slots);
    }

    #[test]
    fn walks_stop_at_the_first_unused_slot() {
        // A state the prefix rule never produces: an ID after an unused slot is not visited,
        // which is what keeps each walk to the slots in use.
        let slots = empty();
        slots[1].store(tagged(10, 0) | SEEN, Relaxed);
        assert!(ids(&slots, 0).is_empty());
        assert!(is_empty(&slots));
        assert_eq!(noted(&slots).count(), 0);
    }

    /// Threads of one epoll instance note IDs (more than there are slots, so some replace
    /// others), forget them, walk and end streaks across epoch changes, at random: whatever
    /// the interleaving, used and vacant slots stay a prefix, and every ID noted last by the
    /// final quiet pass is found by a walk.
    #[test]
    fn concurrent_notes_and_frees_keep_used_slots_a_prefix() {
        for round in 0..200u64 {
            let slots = empty();
            std::thread::scope(|scope| {
                for thread in 0..4u64 {
                    let slots = &slots;
                    scope.spawn(move || {
                        let mut seed = (round * 4 + thread + 1).wrapping_mul(0x9e37_79b9);
                        for _ in 0..500 {
                            let draw = xorshift(&mut seed);
                            let id = (draw >> 8) as u32 % 12 + 1;
                            let epoch = (draw >> 16) as u8 % 3;
                            match draw % 5 {
                                0 => forget(slots, id, |_, _| {}),
                                1 => {
                                    end_streaks(slots, epoch, |_, _| {});
                                }
                                2 => for_each(slots, epoch, |_, _| {}),
                                _ => note(slots, id, epoch),
                            }
                        }
                    });
                }
            });
            assert_prefix(&slots);
            for id in [101, 102, 103] {
                note(&slots, id, 7);
            }
            assert_prefix(&slots);
            assert_eq!(ids(&slots, 7), [101, 102, 103]);
        }
    }

    /// Threads of one epoll instance deliver, claim and end streaks at random; a holder count
    /// kept the way the glue keeps it (count first, claim, undo on failure; end, then uncount)
    /// must never go negative and must end at 0.
    #[test]
    fn concurrent_claims_and_ends_keep_the_holder_count_exact() {
        for round in 0..50u64 {
            let slots = empty();
            note(&slots, 42, 0);
            let holders = AtomicI64::new(0);
            std::thread::scope(|scope| {
                for thread in 0..4u64 {
                    let (slots, holders) = (&slots, &holders);
                    scope.spawn(move || {
                        let mut seed = (round * 4 + thread + 1).wrapping_mul(0x9e37_79b9);
                        for _ in 0..2000 {
                            if xorshift(&mut seed).is_multiple_of(3) {
                                end_streaks(slots, 0, |_, _| {
                                    assert!(holders.fetch_sub(1, Relaxed) >= 1);
                                });
                                continue;
                            }
                            note(slots, 42, 0);
                            let slot = slot_of(slots, 42);
                            let outcome = streak(slot, 42, 0);
                            if outcome == (Streak::Idle { ended: Some(0) }) {
                                assert!(holders.fetch_sub(1, Relaxed) >= 1);
                            }
                            if outcome == Streak::Continues {
                                holders.fetch_add(1, Relaxed);
                                if !claim_owner(slot, 42, 0, 0) {
                                    assert!(holders.fetch_sub(1, Relaxed) >= 1);
                                }
                            }
                        }
                    });
                }
            });
            let owners = owned(&slots).len() as i64;
            assert_eq!(holders.load(Relaxed), owners);
            end_streaks(&slots, 0, |_, _| {
                holders.fetch_sub(1, Relaxed);
            });
            assert_eq!(holders.load(Relaxed), 0);
        }
    }
}

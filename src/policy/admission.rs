// SPDX-License-Identifier: GPL-2.0

//! Whether a queue is worth holding: holds that find nothing make the next tries wait.
//!
//! A hold costs even when it saves nothing: masking the IRQ, a NAPI poll from `epoll_wait()`,
//! and when the holder goes idle a scheduled NAPI poll to re-enable the IRQ, plus a timer
//! interrupt. It pays off only if the holder's polls pick up packets that would otherwise each
//! have raised an interrupt. At low load — a request now and then, two arriving close enough
//! for `epoll_wait()` to return events twice in a row — most holds end at the next empty
//! return with nothing polled, so holding them is a tax on exactly the load that cannot afford
//! one (measured: 175 holds per 7 560 requests at 30 % load, 0.3 packets each, 1.6 % more
//! guest instructions per request than without kpoll).
//!
//! So each NAPI instance keeps score: a running mean of the packets its holds polled from
//! `epoll_wait()` (weight 1/[`YIELD_WEIGHT`], starting optimistic at [`INITIAL_YIELD`]). While
//! the mean stays at [`WORTH_PACKETS`] per hold or more, holds are taken freely: under load some
//! holds find nothing (the burst was already handled) and others find hundreds of packets, and
//! the mix pays (a wasted hold costs about as much as two interrupts: a poll that parks the
//! queue, and one that re-enables its IRQ); a hold that polled that many by itself never counts
//! as poor. When the mean falls below, the `n`-th poor hold in a row
//! makes the next `2^min(n, MAX_BACKOFF_SHIFT)` chances to hold pass ([`Admission::may_hold`]
//! says no, the glue counts each as `declined`). The back-off counts chances, not time, so it
//! works the same whatever the pace of the load and the speed of the machine. At low load holds
//! thus become rare tries; as soon as the tries pay again the mean climbs back and holds are
//! free again.
//!
//! A queue that is already held is always joined (the decision concerns taking a hold, not
//! sharing one). All fields are relaxed atomics updated from `epoll_wait()` on any CPU and from
//! the watchdog (hardirq): a race only moves one decision by one hold, it never affects
//! whether a held queue is released.
//!
//! A queue whose mean yield reaches [`PROVEN_PACKETS`] — sustained load, where holds poll
//! dozens of packets each — has *proven* itself ([`Admission::proven`]): the glue then takes a
//! hold at an epoll's first delivery after an empty return instead of its second (unless
//! another epoll holds the queue already), so that a hand-back under load costs about one
//! interrupt, not the dozen it took until two deliveries in a row came again (measured at
//! saturation: RX IRQs per request 0.0062 → 0.0007). The mean moves only when holds end, so
//! after a burst a light load pays a few holds (about 16 from the cap of 64 packets) before it
//! falls under [`PROVEN_PACKETS`] again.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// At most `2^MAX_BACKOFF_SHIFT` chances pass after poor holds in a row.
pub const MAX_BACKOFF_SHIFT: u32 = 6;
/// Fixed-point scale of the mean yield (packets per hold × `YIELD_SCALE`).
const YIELD_SCALE: u64 = 16;
/// Holds pay while they poll at least this many packets on average.
pub const WORTH_PACKETS: u64 = 2;
/// The mean yield a NAPI instance starts with (packets per hold).
pub const INITIAL_YIELD: u64 = 16;
/// Each hold moves the mean yield by 1/YIELD_WEIGHT of its difference.
pub const YIELD_WEIGHT: u64 = 8;
/// A single hold counts as at most this many packets in the mean.
const MAX_SAMPLE: u64 = 64;
/// Holds have proven themselves while they poll at least this many packets on average: the
/// queue is then held from the first delivery after an empty return (see [`Admission::proven`]).
pub const PROVEN_PACKETS: u64 = 8;

/// Hold admission of one NAPI instance. See the [module documentation](self).
#[derive(Default)]
pub struct Admission {
    /// Mean packets per hold × `YIELD_SCALE`.
    yield_scaled: AtomicU64,
    /// Holds in a row that ended with the mean yield below [`WORTH_PACKETS`].
    wasted: AtomicU32,
    /// Chances to hold that still pass before the next try.
    skip: AtomicU32,
    /// Packets polled from `epoll_wait()` during the current hold.
    packets: AtomicU64,
}

impl Admission {
    /// A queue with a clean score.
    pub const fn new() -> Self {
        Self {
            yield_scaled: AtomicU64::new(INITIAL_YIELD * YIELD_SCALE),
            wasted: AtomicU32::new(0),
            skip: AtomicU32::new(0),
            packets: AtomicU64::new(0),
        }
    }

    /// A chance to take a new hold (process context): whether to take it. A chance that
    /// passes uses up one of the back-off's.
    pub fn may_hold(&self) -> bool {
        self.skip
            .fetch_update(Relaxed, Relaxed, |left| left.checked_sub(1))
            .is_err()
    }

    /// Whether holds of this queue have been polling [`PROVEN_PACKETS`] or more on average,
    /// as under sustained load. The glue then holds from the first delivery after an empty
    /// return instead of the second: under load, the interrupt that woke the application
    /// after an empty return starts a run of them, not a quiet period. At the mean
    /// yields of light loads (well under [`WORTH_PACKETS`]) it says no, and a fresh queue's
    /// optimistic start gives way after a few poor holds. Does not use up a chance.
    pub fn proven(&self) -> bool {
        self.yield_scaled.load(Relaxed) >= PROVEN_PACKETS * YIELD_SCALE
    }

    /// A hold began: its packets count from zero.
    pub fn hold_began(&self) {
        self.packets.store(0, Relaxed);
    }

    /// A poll from `epoll_wait()` during the hold handled `packets` packets.
    pub fn polled(&self, packets: u32) {
        if packets > 0 {
            self.packets.fetch_add(u64::from(packets), Relaxed);
        }
    }

    /// The hold ended (the last holder left, or the watchdog released it). Returns true if
    /// holding stopped paying: the next chances pass.
    pub fn hold_ended(&self) -> bool {
        let sample = self.packets.swap(0, Relaxed).min(MAX_SAMPLE) * YIELD_SCALE;
        let mean = self.yield_scaled.load(Relaxed);
        // Rounded to nearest both ways, so the mean has no drift of its own.
        let step = |diff: u64| (diff + YIELD_WEIGHT / 2) / YIELD_WEIGHT;
        let mean = if sample >= mean {
            mean + step(sample - mean)
        } else {
            mean - step(mean - sample)
        };
        self.yield_scaled.store(mean, Relaxed);
        let worth = WORTH_PACKETS * YIELD_SCALE;
        // A hold that paid by itself is never a poor one, whatever the mean still says.
        if mean >= worth || sample >= worth {
            self.wasted.store(0, Relaxed);
            self.skip.store(0, Relaxed);
            return false;
        }
        let wasted = self.wasted.load(Relaxed).saturating_add(1);
        self.wasted.store(wasted, Relaxed);
        self.skip.store(1 << wasted.min(MAX_BACKOFF_SHIFT), Relaxed);
        true
    }

    /// The mean packets per hold, × 16.
    #[cfg(test)]
    pub fn mean_yield_x16(&self) -> u64 {
        self.yield_scaled.load(Relaxed)
    }

    /// A clean score again (the entry serves another NAPI instance).
    pub fn reset(&self) {
        self.yield_scaled
            .store(INITIAL_YIELD * YIELD_SCALE, Relaxed);
        self.wasted.store(0, Relaxed);
        self.skip.store(0, Relaxed);
        self.packets.store(0, Relaxed);
    }

    /// Poor holds in a row.
    #[cfg(test)]
    pub fn wasted(&self) -> u32 {
        self.wasted.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(a: &Admission, packets: u32) -> bool {
        a.hold_began();
        a.polled(packets);
        a.hold_ended()
    }

    /// Chances that pass before `may_hold` says yes again (that yes is used up too).
    fn chances_passed(a: &Admission) -> u32 {
        let mut passed = 0;
        while !a.may_hold() {
            passed += 1;
            assert!(passed < 1000, "never holds again");
        }
        passed
    }

    #[test]
    fn a_fresh_queue_may_be_held() {
        let a = Admission::new();
        assert!(a.may_hold());
        assert!(a.may_hold());
    }

    #[test]
    fn productive_holds_change_nothing() {
        let a = Admission::new();
        for _ in 0..100 {
            assert!(!hold(&a, 3));
            assert!(a.may_hold());
        }
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn a_mix_that_pays_on_average_is_held_freely() {
        // Under load some holds find the burst already handled, others find many packets.
        let a = Admission::new();
        for i in 0..1000 {
            assert!(!hold(&a, if i % 3 == 0 { 12 } else { 0 }), "hold {i}");
        }
    }

    #[test]
    fn holds_that_poll_nothing_back_off_exponentially_up_to_the_cap() {
        let a = Admission::new();
        let mut first_poor = None;
        for i in 0..40u32 {
            if !hold(&a, 0) {
                assert!(a.may_hold(), "hold {i}");
                continue;
            }
            first_poor.get_or_insert(i);
            let expected = 1 << a.wasted().min(MAX_BACKOFF_SHIFT);
            assert_eq!(chances_passed(&a), expected, "hold {i}");
        }
        // From the optimistic start it takes a number of empty holds to decide.
        assert!(matches!(first_poor, Some(12..=20)), "{first_poor:?}");
        assert!(a.wasted() > MAX_BACKOFF_SHIFT);
    }

    #[test]
    fn low_yield_keeps_backing_off_and_good_yield_recovers() {
        let a = Admission::new();
        for _ in 0..30 {
            hold(&a, 0);
        }
        // A packet now and then is not worth a hold.
        for i in 0..40 {
            assert!(hold(&a, u32::from(i % 4 == 0)));
        }
        // Load comes back: holds pay again and are free again.
        let mut tries = 0;
        while hold(&a, 8) {
            tries += 1;
            assert!(tries < 20, "never recovered");
        }
        assert!(a.may_hold());
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn holds_that_pay_exactly_the_threshold_are_never_declined() {
        let a = Admission::new();
        for _ in 0..40 {
            hold(&a, 0);
        }
        for i in 0..100 {
            // After the back-off of the poor holds above, every try at 2 packets is taken.
            chances_passed(&a);
            assert!(!hold(&a, 2), "hold {i}");
            assert!(a.may_hold(), "hold {i}");
        }
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn one_paying_try_ends_the_back_off() {
        let a = Admission::new();
        for _ in 0..40 {
            hold(&a, 0);
        }
        assert!(!a.may_hold());
        chances_passed(&a);
        assert!(!hold(&a, 3));
        assert!(a.may_hold());
    }

    #[test]
    fn only_holds_that_poll_well_on_average_are_proven() {
        let a = Admission::new();
        // The optimistic start, then a handful of poor holds take it away.
        assert!(a.proven());
        let mut poor = 0;
        while a.proven() {
            hold(&a, 0);
            poor += 1;
            assert!(poor < 10, "still proven after {poor} empty holds");
        }
        assert!(poor >= 3, "{poor}");
        // Light load: a mix that pays (WORTH_PACKETS) but is not proven.
        for _ in 0..200 {
            hold(&a, 3);
            assert!(!a.proven());
        }
        // Sustained load proves it again within a few holds.
        let mut good = 0;
        while !a.proven() {
            hold(&a, 64);
            good += 1;
            assert!(good < 10, "not proven after {good} full holds");
        }
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn asking_whether_proven_uses_up_no_chance() {
        let a = Admission::new();
        while !hold(&a, 0) {}
        let expected = 1 << a.wasted().min(MAX_BACKOFF_SHIFT);
        for _ in 0..100 {
            assert!(!a.proven());
        }
        assert_eq!(chances_passed(&a), expected);
    }

    #[test]
    fn packets_of_an_earlier_hold_do_not_count() {
        let a = Admission::new();
        a.polled(50);
        for _ in 0..30 {
            a.hold_began();
            a.hold_ended();
        }
        assert!(a.mean_yield_x16() < WORTH_PACKETS * YIELD_SCALE);
    }

    #[test]
    fn reset_forgets_the_score() {
        let a = Admission::new();
        for _ in 0..30 {
            hold(&a, 0);
        }
        a.reset();
        assert!(a.may_hold());
        assert_eq!(a.wasted(), 0);
        assert_eq!(a.mean_yield_x16(), INITIAL_YIELD * YIELD_SCALE);
    }

    #[test]
    fn concurrent_chances_use_up_the_back_off_exactly() {
        let a = Admission::new();
        for _ in 0..30 {
            hold(&a, 0);
        }
        let skip = 1u32 << MAX_BACKOFF_SHIFT;
        let taken = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..skip {
                        if a.may_hold() {
                            taken.fetch_add(1, Relaxed);
                        }
                    }
                });
            }
        });
        // 4 * skip chances: exactly `skip` of them passed.
        assert_eq!(taken.load(Relaxed), 3 * skip);
    }
}

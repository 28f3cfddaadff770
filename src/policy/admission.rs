// SPDX-License-Identifier: GPL-2.0

//! Whether a queue is worth holding: holds that found nothing make the next one wait.
//!
//! A hold costs even when it saves nothing: masking the IRQ, a NAPI poll from `epoll_wait()`,
//! and when the holder goes idle a scheduled NAPI poll to re-enable the IRQ, plus a timer
//! interrupt. It pays off only if the holder's polls pick up packets that would otherwise each
//! have raised an interrupt. At low load — a request now and then, two arriving close enough
//! for `epoll_wait()` to return events twice in a row — most holds end at the next empty
//! return with nothing polled, so holding them is a tax on exactly the load that cannot afford
//! one.
//!
//! So each NAPI instance keeps score: a running mean of the packets its holds polled from
//! `epoll_wait()` (weight 1/[`YIELD_WEIGHT`], starting optimistic at [`INITIAL_YIELD`]). While
//! the mean stays at [`WORTH_PACKETS`] per hold or more, holds are taken freely: under load some
//! holds find nothing (the burst was already handled) and others find many, and the mix pays (a
//! wasted hold costs about as much as two interrupts: a poll that parks the queue, and one
//! that re-enables its IRQ). When it falls below, each further hold that polls too little
//! makes the next wait: after `n` of them in a row no new hold is taken for `base << min(n, MAX_BACKOFF_SHIFT)` nanoseconds
//! ([`Admission::may_hold`] says no, the glue counts it as `declined`), where `base` is the
//! hold's deadline (see [`super::rhythm`]), so the back-off scales with the application's own
//! pace. At low load holds thus become rare tries, spaced exponentially; as soon as the tries
//! pay again the mean climbs back and holds are free again.
//!
//! A queue that is already held is always joined (the decision concerns taking a hold, not
//! sharing one). All fields are relaxed atomics updated from `epoll_wait()` on any CPU and from
//! the watchdog (hardirq): a race only moves one decision by one hold, it never affects
//! whether a held queue is released.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// At most this many doublings of the back-off after wasted holds in a row.
pub const MAX_BACKOFF_SHIFT: u32 = 4;
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

/// Hold admission of one NAPI instance. See the [module documentation](self).
#[derive(Default)]
pub struct Admission {
    /// Mean packets per hold × `YIELD_SCALE`.
    yield_scaled: AtomicU64,
    /// Holds in a row that ended with the mean yield below [`WORTH_PACKETS`].
    wasted: AtomicU32,
    /// No new hold before this monotonic time (ns).
    not_before_ns: AtomicU64,
    /// Packets polled from `epoll_wait()` during the current hold.
    packets: AtomicU64,
}

impl Admission {
    /// A queue with a clean score.
    pub const fn new() -> Self {
        Self {
            yield_scaled: AtomicU64::new(INITIAL_YIELD * YIELD_SCALE),
            wasted: AtomicU32::new(0),
            not_before_ns: AtomicU64::new(0),
            packets: AtomicU64::new(0),
        }
    }

    /// Whether a new hold may be taken at `now` (process context).
    pub fn may_hold(&self, now: u64) -> bool {
        now >= self.not_before_ns.load(Relaxed)
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

    /// The hold ended at `now` (the last holder left, or the watchdog released it); `base_ns`
    /// is the deadline it was held with. Returns true if holding stopped paying: the next hold
    /// waits.
    pub fn hold_ended(&self, now: u64, base_ns: u64) -> bool {
        let sample = self.packets.swap(0, Relaxed).min(MAX_SAMPLE) * YIELD_SCALE;
        let mean = self.yield_scaled.load(Relaxed);
        let mean = if sample >= mean {
            mean + (sample - mean) / YIELD_WEIGHT
        } else {
            mean - (mean - sample).div_ceil(YIELD_WEIGHT)
        };
        self.yield_scaled.store(mean, Relaxed);
        if mean >= WORTH_PACKETS * YIELD_SCALE {
            self.wasted.store(0, Relaxed);
            self.not_before_ns.store(0, Relaxed);
            return false;
        }
        let wasted = self.wasted.load(Relaxed).saturating_add(1);
        self.wasted.store(wasted, Relaxed);
        let backoff = base_ns.saturating_mul(1 << wasted.min(MAX_BACKOFF_SHIFT));
        self.not_before_ns
            .store(now.saturating_add(backoff), Relaxed);
        true
    }

    /// The mean packets per hold, × 16 (for tests and statistics).
    pub fn mean_yield_x16(&self) -> u64 {
        self.yield_scaled.load(Relaxed)
    }

    /// A clean score again (the entry serves another NAPI instance).
    pub fn reset(&self) {
        self.yield_scaled
            .store(INITIAL_YIELD * YIELD_SCALE, Relaxed);
        self.wasted.store(0, Relaxed);
        self.not_before_ns.store(0, Relaxed);
        self.packets.store(0, Relaxed);
    }

    /// Holds in a row that polled nothing (for tests and statistics).
    pub fn wasted(&self) -> u32 {
        self.wasted.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn hold(a: &Admission, now: u64, packets: u32) -> bool {
        a.hold_began();
        a.polled(packets);
        a.hold_ended(now, MS)
    }

    #[test]
    fn a_fresh_queue_may_be_held() {
        let a = Admission::new();
        assert!(a.may_hold(0));
        assert!(a.may_hold(u64::MAX));
    }

    #[test]
    fn productive_holds_change_nothing() {
        let a = Admission::new();
        for i in 0..100 {
            assert!(!hold(&a, i * MS, 3));
            assert!(a.may_hold(i * MS));
        }
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn a_mix_that_pays_on_average_is_held_freely() {
        // Under load some holds find the burst already handled, others find many packets.
        let a = Admission::new();
        for i in 0..1000 {
            assert!(
                !hold(&a, i * MS, if i % 3 == 0 { 12 } else { 0 }),
                "hold {i}"
            );
        }
    }

    #[test]
    fn holds_that_poll_nothing_back_off_exponentially_up_to_the_cap() {
        let a = Admission::new();
        let mut now = 100 * MS;
        let mut first_wait = None;
        for i in 0..40u32 {
            if !hold(&a, now, 0) {
                now += MS;
                continue;
            }
            first_wait.get_or_insert(i);
            let wait = MS << a.wasted().min(MAX_BACKOFF_SHIFT);
            assert!(!a.may_hold(now + wait - 1), "hold {i}");
            assert!(a.may_hold(now + wait), "hold {i}");
            now += wait;
        }
        // From the optimistic start it takes a few empty holds to decide.
        assert!(matches!(first_wait, Some(12..=20)), "{first_wait:?}");
        assert!(a.wasted() > MAX_BACKOFF_SHIFT);
    }

    #[test]
    fn low_yield_keeps_backing_off_and_good_yield_recovers() {
        let a = Admission::new();
        for i in 0..20 {
            hold(&a, i * MS, 0);
        }
        // A packet now and then is not worth a hold.
        for i in 20..60 {
            assert!(hold(&a, i * MS, u32::from(i % 4 == 0)));
        }
        // Load comes back: holds pay again and are free again.
        let mut now = 60 * MS;
        while hold(&a, now, 8) {
            now += MS;
            assert!(now < 80 * MS, "never recovered");
        }
        assert!(a.may_hold(now));
        assert_eq!(a.wasted(), 0);
    }

    #[test]
    fn packets_of_an_earlier_hold_do_not_count() {
        let a = Admission::new();
        a.polled(50);
        for i in 0..30 {
            a.hold_began();
            a.hold_ended(i, MS);
        }
        assert!(a.mean_yield_x16() < WORTH_PACKETS * YIELD_SCALE);
    }

    #[test]
    fn reset_forgets_the_score() {
        let a = Admission::new();
        for i in 0..20 {
            hold(&a, i, 0);
        }
        a.reset();
        assert!(a.may_hold(0));
        assert_eq!(a.wasted(), 0);
        assert_eq!(a.mean_yield_x16(), INITIAL_YIELD * YIELD_SCALE);
    }

    #[test]
    fn huge_times_saturate() {
        let a = Admission::new();
        for _ in 0..20 {
            a.hold_began();
            a.hold_ended(u64::MAX - 1, u64::MAX / 2);
        }
        assert!(!a.may_hold(u64::MAX - 1));
        assert!(a.may_hold(u64::MAX));
    }
}

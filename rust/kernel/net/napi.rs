// SPDX-License-Identifier: GPL-2.0

//! NAPI instances, found by ID inside an RCU read-side critical section.
//!
//! Drivers free a `napi_struct` only after an RCU grace period that follows its removal from the
//! NAPI hash, so a [`Napi`] borrowed from an [`rcu::Guard`] stays valid for the guard's
//! lifetime. Nothing here keeps a NAPI alive beyond that: callers remember the ID, not a pointer.
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use crate::{bindings, sync::rcu};
use core::{marker::PhantomData, ptr::NonNull};

/// The smallest value that is a NAPI ID (smaller `sk_napi_id` values are sender CPU numbers).
pub const MIN_NAPI_ID: u32 = bindings::MIN_NAPI_ID;

/// A NAPI instance borrowed for an RCU read-side critical section.
///
/// # Invariants
///
/// `ptr` points to a `napi_struct` that was in the NAPI hash inside the RCU read-side critical
/// section that lives for `'a`, so it is not freed before `'a` ends.
pub struct Napi<'a> {
    ptr: NonNull<bindings::napi_struct>,
    _rcu: PhantomData<&'a rcu::Guard>,
}

impl<'a> Napi<'a> {
    /// Looks up the NAPI instance with ID `id` among the devices of the initial network
    /// namespace.
    pub fn find(_rcu: &'a rcu::Guard, id: u32) -> Option<Self> {
        if id < MIN_NAPI_ID {
            return None;
        }
        // SAFETY: the caller holds the RCU read lock (witnessed by `_rcu`); `init_net` is
        // always live.
        let ptr = NonNull::new(unsafe {
            bindings::netdev_napi_by_id(core::ptr::addr_of_mut!(bindings::init_net), id)
        })?;
        // INVARIANT: found in the hash under the RCU read lock that lives for `'a`.
        Some(Self {
            ptr,
            _rcu: PhantomData,
        })
    }

    /// The NAPI ID.
    pub fn id(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { (*self.ptr.as_ptr()).napi_id }
    }

    fn state(&self) -> *mut usize {
        // SAFETY: `ptr` is valid (type invariant); only the field's address is taken.
        unsafe { core::ptr::addr_of_mut!((*self.ptr.as_ptr()).state) }
    }

    /// Keeps the device IRQ masked when the current or next poll completes
    /// (`NAPI_STATE_KPOLL_HOLD`). Refused, atomically with setting the bit, for a NAPI that is
    /// disabled, being disabled or no longer listed, so a hold never outlives `napi_disable()`
    /// or `netif_napi_del()`. Returns whether the hold is in force. Any context.
    pub fn hold_irq(&self) -> bool {
        // SAFETY: the NAPI is live (type invariant); `napi_kpoll_hold` only updates its state
        // word with atomic operations.
        unsafe { bindings::napi_kpoll_hold(self.ptr.as_ptr()) }
    }

    /// Whether [`Self::hold_irq`] is in force.
    pub fn irq_held(&self) -> bool {
        // SAFETY: as in `hold_irq`.
        unsafe { bindings::test_bit(bindings::NAPI_STATE_KPOLL_HOLD, self.state()) }
    }

    /// Drops the hold and, if there was one, schedules a poll so the driver re-enables the IRQ
    /// when that poll completes (or, if a poll is running, makes it poll once more). Returns
    /// whether a hold was dropped. Any context; in NMI context, where no poll can be scheduled,
    /// it drops nothing and returns false.
    pub fn release_irq(&self) -> bool {
        // A plain read first: `epoll_wait()` calls this before every sleep, and the locked
        // read-modify-write below is only needed when a hold is actually set.
        // SAFETY: always safe to ask.
        if !self.irq_held() || unsafe { bindings::in_nmi() } {
            return false;
        }
        // SAFETY: as in `hold_irq`; `test_and_clear_bit` is atomic and fully ordered.
        let held =
            unsafe { bindings::test_and_clear_bit(bindings::NAPI_STATE_KPOLL_HOLD, self.state()) };
        if held {
            self.schedule();
        }
        held
    }

    /// Schedules the NAPI poll on this CPU (`napi_schedule`), or, if a poll is running, makes
    /// it poll once more. Where it runs:
    ///
    /// - in process or softirq context with IRQs enabled, the NET_RX softirq runs before this
    ///   returns (the scheduling is wrapped in `local_bh_disable()`/`local_bh_enable()`);
    /// - in hardirq context, on interrupt exit;
    /// - in process context with IRQs disabled, where that pair is not allowed, at the next
    ///   interrupt exit or bottom-half enable, or in `ksoftirqd`;
    /// - with threaded NAPI, in the NAPI's kthread, which is woken.
    ///
    /// A held NAPI stays held: its poll completes with the IRQ masked. Any context but NMI,
    /// where it does nothing: an NMI can interrupt the poll list's own updates on this CPU.
    pub fn schedule(&self) {
        // SAFETY: always safe to ask.
        if unsafe { bindings::in_nmi() } {
            return;
        }
        // SAFETY: always safe to ask.
        let bh_section = unsafe { !bindings::in_hardirq() && !bindings::irqs_disabled() };
        if bh_section {
            // SAFETY: not in hardirq context and IRQs are enabled, so bottom halves may be
            // disabled here; re-enabled below.
            unsafe { bindings::local_bh_disable() };
        }
        // SAFETY: the NAPI is live (type invariant); `napi_schedule_prep` refuses a NAPI that is
        // being disabled and sets `NAPI_STATE_MISSED` if it is already scheduled;
        // `__napi_schedule` saves and restores the IRQ state itself.
        unsafe {
            if bindings::napi_schedule_prep(self.ptr.as_ptr()) {
                bindings::__napi_schedule(self.ptr.as_ptr());
            }
        }
        if bh_section {
            // SAFETY: paired with the `local_bh_disable` above, in the same context.
            unsafe { bindings::local_bh_enable() };
        }
    }

    /// The hardware IRQ number recorded for this NAPI, or a negative value if none.
    pub fn irq(&self) -> i32 {
        // SAFETY: `ptr` is valid (type invariant); a volatile read, as `READ_ONCE`, because
        // `netif_napi_set_irq()` may store it concurrently.
        unsafe { core::ptr::addr_of!((*self.ptr.as_ptr()).irq).read_volatile() }
    }

    /// Copies the owning device's name into `out` and returns its length. Consistent against a
    /// concurrent rename (`netdev_copy_name` retries under the rename seqlock). Returns 0, with
    /// `out` untouched, in hardirq context or with IRQs disabled: waiting out a rename there
    /// could wait forever for the writer it interrupted (or, on `PREEMPT_RT`, sleep). Any
    /// context.
    pub fn device_name(&self, out: &mut [u8; 16]) -> usize {
        // SAFETY: always safe to ask.
        if unsafe { bindings::in_hardirq() || bindings::irqs_disabled() } {
            return 0;
        }
        let mut name = [0u8; 16];
        // SAFETY: `ptr` is valid and a listed NAPI has a live `dev` (type invariant); `name` has
        // the `IFNAMSIZ` bytes `netdev_copy_name` writes, NUL-terminated.
        unsafe { bindings::netdev_copy_name((*self.ptr.as_ptr()).dev, name.as_mut_ptr()) };
        let mut len = 0;
        for (dst, &src) in out.iter_mut().zip(name.iter()) {
            if src == 0 {
                break;
            }
            *dst = src;
            len += 1;
        }
        len
    }
}

/// Polls NAPI `id` once from the calling context (as `epoll_wait` busy polling does), with at
/// most `budget` packets per poll, unless it is already being polled elsewhere. Returns the
/// number of packets this CPU received meanwhile. Polls only in task context with IRQs enabled
/// (and, on `PREEMPT_RT`, preemptible), where a NAPI poll may run inline; anywhere else it polls
/// nothing and returns 0. Any context, under RCU; never sleeps.
pub fn poll_once(_rcu: &rcu::Guard, id: u32, budget: u16) -> u32 {
    if !may_poll_inline() {
        return 0;
    }
    // Migration, not preemption, is disabled around the poll: `napi_busy_loop_rcu` disables
    // preemption itself where it may (not on PREEMPT_RT), and on PREEMPT_RT the bottom-half
    // section it enters must start preemptible, or `local_bh_disable()` skips the per-CPU lock
    // that keeps other bottom-half sections (a preempted NAPI poll) off this CPU meanwhile.
    // SAFETY: disabling migration is always allowed in process context; re-enabled below.
    unsafe { bindings::migrate_disable() };
    // SAFETY: migration is disabled, so both reads are of this CPU's counter.
    let before = unsafe { bindings::softnet_processed_this_cpu() };
    // SAFETY: the RCU read lock is held (witnessed by `_rcu`) as `napi_busy_loop_rcu` requires;
    // a null `loop_end` means a single round.
    unsafe { bindings::napi_busy_loop_rcu(id, None, core::ptr::null_mut(), false, budget) };
    // SAFETY: as above.
    let after = unsafe { bindings::softnet_processed_this_cpu() };
    // SAFETY: paired with `migrate_disable` above.
    unsafe { bindings::migrate_enable() };
    after.wrapping_sub(before)
}

/// Whether a NAPI poll may run inline here: task context with IRQs enabled, since the poll enters
/// and leaves a bottom-half section (which hardirq context and disabled IRQs do not allow), and
/// on `PREEMPT_RT` also preemptible, since that section must start preemptible there (see
/// [`poll_once`]).
fn may_poll_inline() -> bool {
    // SAFETY: always safe to ask.
    let task = unsafe { bindings::in_task() && !bindings::irqs_disabled() };
    #[cfg(CONFIG_PREEMPT_RT)]
    // SAFETY: always safe to ask.
    let task = task && unsafe { bindings::preemptible() };
    task
}

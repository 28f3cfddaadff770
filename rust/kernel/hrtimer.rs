// SPDX-License-Identifier: GPL-2.0

//! High-resolution timers.
//!
//! An [`HrTimer<T>`] is embedded in a pinned `T` that implements [`HrTimerCallback`]; the
//! callback receives `&T` and runs in hardirq context, so it must not sleep and must only use
//! atomics or irq-safe locking to share state with other contexts. Dropping the timer cancels it
//! and waits for a running callback, so the owner cannot be freed under a pending timer.
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h)

use crate::{bindings, init::PinInit, pin_init, time::Ktime, types::Opaque};
use core::marker::PhantomData;
use macros::{pin_data, pinned_drop};

/// What a timer callback wants next.
pub enum Restart {
    /// The timer stays stopped.
    No,
    /// Fire again at this absolute `CLOCK_MONOTONIC` time.
    At(Ktime),
}

/// The owner of an [`HrTimer`]: told when the timer fires.
pub trait HrTimerCallback {
    /// Called in hardirq context when the timer expires.
    fn fired(&self) -> Restart;
}

/// Locates an [`HrTimer<Self>`] field inside `Self`.
///
/// # Safety
///
/// `OFFSET` must be the byte offset of a field of type `HrTimer<Self>` in `Self`. Use
/// [`impl_has_hr_timer!`](crate::impl_has_hr_timer) to implement it.
pub unsafe trait HasHrTimer {
    /// Byte offset of the timer field.
    const OFFSET: usize;
}

/// Implements [`HasHrTimer`] for a type and one of its `HrTimer<Self>` fields.
#[macro_export]
macro_rules! impl_has_hr_timer {
    ($type:ty, $field:ident) => {
        const _: fn(&$type) -> &$crate::hrtimer::HrTimer<$type> = |owner| &owner.$field;
        // SAFETY: the line above proves that `$field` is an `HrTimer<$type>` field of `$type`,
        // and `offset_of!` gives its offset.
        unsafe impl $crate::hrtimer::HasHrTimer for $type {
            const OFFSET: usize = ::core::mem::offset_of!($type, $field);
        }
    };
}

/// An absolute-mode `CLOCK_MONOTONIC` hrtimer embedded in a `T`.
///
/// # Invariants
///
/// `timer` was set up by `hrtimer_init` with [`Self::run`] as its function and is pinned inside
/// a `T` at offset `T::OFFSET`.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct HrTimer<T> {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    _owner: PhantomData<T>,
}

// SAFETY: the hrtimer core serialises start, cancel and expiry across CPUs.
unsafe impl<T> Send for HrTimer<T> {}
// SAFETY: every method takes `&self` and is safe to call concurrently (see above).
unsafe impl<T> Sync for HrTimer<T> {}

impl<T: HrTimerCallback + HasHrTimer> HrTimer<T> {
    /// Initialises a stopped timer in place.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `hrtimer_init` initialises the whole struct
            // and the function pointer is set before the timer can be started.
            timer <- Opaque::ffi_init(|slot: *mut bindings::hrtimer| unsafe {
                bindings::hrtimer_init(
                    slot,
                    bindings::CLOCK_MONOTONIC as _,
                    bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                );
                (*slot).function = Some(Self::run);
            }),
            _owner: PhantomData,
        })
    }

    /// Starts the timer, or moves it if pending, to fire at `expires`. Any context.
    pub fn start(&self, expires: Ktime) {
        // SAFETY: by the type invariant the timer is initialised and pinned.
        unsafe {
            bindings::hrtimer_start_range_ns(
                self.timer.get(),
                expires.to_ns(),
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_ABS,
            )
        };
    }

    /// Stops the timer and waits for a running callback to finish. Must not be called from the
    /// timer's own callback.
    pub fn cancel(&self) -> bool {
        // SAFETY: by the type invariant the timer is initialised.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) != 0 }
    }

    /// # Safety
    ///
    /// Called by the hrtimer core with a pointer to the `timer` field of a live `HrTimer<T>`.
    unsafe extern "C" fn run(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: `HrTimer` is `repr(C)` with `timer` first and `Opaque` is transparent, so the
        // `hrtimer` is at offset 0 of the `HrTimer<T>`, which by the invariant of `HasHrTimer`
        // sits at `T::OFFSET` inside a live `T` (the timer is cancelled before `T` is dropped).
        let owner = unsafe { &*timer.cast::<u8>().sub(T::OFFSET).cast::<T>() };
        match owner.fired() {
            Restart::No => bindings::hrtimer_restart_HRTIMER_NORESTART,
            Restart::At(expires) => {
                // SAFETY: the timer is in its callback, where updating the expiry is allowed.
                unsafe { bindings::hrtimer_set_expires(timer, expires.to_ns()) };
                bindings::hrtimer_restart_HRTIMER_RESTART
            }
        }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for HrTimer<T> {
    fn drop(self: core::pin::Pin<&mut Self>) {
        // SAFETY: the timer is initialised (type invariant); cancelling an idle timer is a no-op.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) };
    }
}

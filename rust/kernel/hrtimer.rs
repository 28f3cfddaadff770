// SPDX-License-Identifier: GPL-2.0

//! High-resolution timers embedded in the structure they act on.
//!
//! An [`HrTimer<T>`] is a field of a `T` that implements [`HasHrTimer<T>`] (through
//! [`impl_has_hr_timer!`](crate::impl_has_hr_timer)) and [`HrTimerCallback`]. The timer is
//! started through the `T` that contains it, with [`HrTimer::start`]; when it expires, the
//! callback receives that `T` as `Pin<&T>` and says, with [`HrTimerRestart`], whether the timer
//! stays stopped or fires again at a new absolute `CLOCK_MONOTONIC` time. Nothing is allocated
//! when a timer is started, so starting is allowed in any context.
//!
//! The names follow the hrtimer abstraction of Rust-for-Linux (`rust/kernel/time/hrtimer.rs`,
//! Linux 6.15), of which this is the subset kpoll needs on 6.12: only containers referenced by
//! `Pin<&T>`, and no handles. Where upstream keeps a `Pin<&T>`'s `T` alive by having the caller
//! hold a handle that cancels on drop (which is why it starts such timers only through an
//! `unsafe fn`), here the container itself cancels its timer when it is dropped: that is part of
//! the contract of [`HasHrTimer`], and [`impl_has_hr_timer!`](crate::impl_has_hr_timer) fulfils
//! it by implementing `T`'s pinned destructor. Starting is therefore safe.
//!
//! # Contexts
//!
//! The callback runs in hardirq context (softirq on `PREEMPT_RT`), on any CPU, possibly at the
//! same time as other code uses the same `T`; so `T` must be [`Sync`], and the callback must not
//! sleep and must share state with other contexts only through atomics or irq-safe locks.
//! [`HrTimer::start`] may be called in any context, also while the callback runs on another CPU
//! and from the callback itself. [`HrTimer::cancel`] waits for a running callback (on
//! `PREEMPT_RT` by sleeping), so it must not be called from the timer's own callback, which
//! would wait for itself forever.
//!
//! # Restarting
//!
//! A callback that wants to fire again at time `t` returns [`HrTimerRestart::RestartAt`]. The
//! C-side trampoline then starts the timer at `t` with `hrtimer_start_range_ns()` and tells the
//! hrtimer core not to restart it. It does not write the expiry time and return
//! `HRTIMER_RESTART`: the expiry of a timer may only change under its base's lock, and while the
//! callback runs without that lock, a concurrent [`HrTimer::start`] on another CPU may already
//! have queued the timer again, so writing the expiry of the queued timer would corrupt the
//! queue. `hrtimer_start_range_ns()` takes the lock and is allowed on a timer whose callback is
//! running (the core checks whether it was requeued before it restarts a timer); whichever of
//! two concurrent starts comes last sets the expiry.
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h)

use crate::{bindings, init::PinInit, pin_init, time::Ktime, types::Opaque};
use core::{marker::PhantomData, pin::Pin};
use macros::pin_data;

/// An absolute-mode `CLOCK_MONOTONIC` hrtimer embedded in a `T`.
///
/// # Invariants
///
/// - `timer` was initialised by `hrtimer_init()` for absolute `CLOCK_MONOTONIC` expiry, with
///   the callback trampoline of `T::Pointer` as its function.
/// - `self` is pinned: [`HrTimer::new`], the only way to create one, returns a [`PinInit`], so
///   an `HrTimer` exists only in place in memory that stays valid and unmoved until the
///   `HrTimer` is dropped. A type that embeds one must initialise it as a `#[pin]` field with
///   pin-init, which makes that type `!Unpin` and pinned as well.
#[pin_data]
#[repr(C)]
pub struct HrTimer<T> {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    _t: PhantomData<T>,
}

// SAFETY: An `HrTimer<T>` contains no `T`, and the hrtimer core serialises all operations on the
// C timer with its base's lock, from whichever CPU they come. Dropping it does nothing. So it may
// be sent to another thread whenever the `T` it belongs to may.
unsafe impl<T: Send> Send for HrTimer<T> {}

// SAFETY: The only operation available through `&HrTimer<T>` is `cancel`, which the hrtimer core
// serialises against expiry, starting and other cancels on every CPU. Starting, which makes the
// callback use the `T` on another CPU, additionally requires `T: Sync` (see `start`).
unsafe impl<T: Sync> Sync for HrTimer<T> {}

impl<T> HrTimer<T> {
    /// Initialises a stopped timer in place.
    pub fn new() -> impl PinInit<Self>
    where
        T: HrTimerCallback,
    {
        pin_init!(Self {
            // INVARIANT: `hrtimer_init()` initialises the timer for absolute `CLOCK_MONOTONIC`
            // expiry and the trampoline of `T::Pointer` is set right after; pinning follows from
            // `pin_init!`.
            timer <- Opaque::ffi_init(move |slot: *mut bindings::hrtimer| {
                // SAFETY: `pin_init!` passes a pointer to the field, valid for writes;
                // `hrtimer_init()` does not read it before initialising it.
                unsafe {
                    bindings::hrtimer_init(
                        slot,
                        bindings::CLOCK_MONOTONIC as _,
                        bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                    )
                };
                // SAFETY: `slot` is valid and was initialised just above; nothing else can use
                // the timer before this initialiser has finished.
                unsafe {
                    (*slot).function = Some(<T::Pointer<'_> as RawHrTimerCallback>::run);
                }
            }),
            _t: PhantomData,
        })
    }

    /// Returns a pointer to the C timer without creating a reference.
    ///
    /// # Safety
    ///
    /// `this` must point to memory valid for an `HrTimer<T>`.
    unsafe fn raw_get(this: *const Self) -> *mut bindings::hrtimer {
        // SAFETY: By the safety requirement, projecting to the field stays in bounds.
        unsafe { Opaque::raw_get(core::ptr::addr_of!((*this).timer)) }
    }

    /// Starts the timer of `container`, or moves it if it is pending, to fire at the absolute
    /// `CLOCK_MONOTONIC` time `expires`. Any context but NMI (none of this crate's safe code
    /// runs there); also allowed while the callback runs and from the callback itself.
    ///
    /// The timer runs until its callback returns [`HrTimerRestart::NoRestart`], it is cancelled
    /// or `container` is dropped (which cancels it, see [`HasHrTimer`]).
    pub fn start(container: &T, expires: Ktime)
    where
        T: HasHrTimer<T> + Sync,
        T: for<'a> HrTimerCallback<Pointer<'a> = Pin<&'a T>>,
    {
        let this: *const T = container;
        // SAFETY: `this` comes from a reference, so it points to a valid `T`.
        let timer = unsafe { T::raw_get_timer(this) };
        // SAFETY: By the contract of `HasHrTimer`, `timer` points to the `HrTimer<T>` field of
        // `*container`, so it is valid, and its type invariant says it is initialised with the
        // trampoline of `Pin<&T>` (the bound above), which turns the `hrtimer` back into the
        // `Pin<&T>` of this very container. That reference stays valid while the timer may run:
        // - the field is pinned (type invariant), hence so is `*container`, whose memory stays
        //   valid and in place until it is dropped;
        // - dropping a `T` first cancels this timer and waits for its callback (contract of
        //   `HasHrTimer`), before anything else of the `T` is dropped; the drop has exclusive
        //   access, so nothing can start the timer again afterwards;
        // - before that, nothing can obtain a mutable reference to a field of the pinned,
        //   `!Unpin` `T` without `unsafe` (6.12's pin-init has no field projection), so the
        //   callback's shared reference aliases no mutable one;
        // - `T: Sync`, so sharing the `T` with the callback on another CPU is allowed.
        // `hrtimer_start_range_ns()` may be called in any context, and takes the base's lock.
        unsafe {
            bindings::hrtimer_start_range_ns(
                Self::raw_get(timer),
                expires.to_ns(),
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_ABS,
            )
        };
    }

    /// Stops the timer if it is pending and waits for a running callback to return. Returns
    /// whether it was pending. Not from the timer's own callback (see the module documentation).
    ///
    /// A concurrent [`HrTimer::start`] may start the timer again right after.
    pub fn cancel(&self) -> bool {
        // SAFETY: By the type invariant, the timer is initialised. `hrtimer_cancel()` takes the
        // base's lock, so it is serialised against expiry and concurrent starts.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) != 0 }
    }
}

/// What a timer callback wants next.
#[derive(Copy, Clone)]
pub enum HrTimerRestart {
    /// The timer stays stopped (unless it was started again meanwhile).
    NoRestart,
    /// The timer fires again at this absolute `CLOCK_MONOTONIC` time.
    ///
    /// Upstream's `Restart` requeues the timer at the expiry time it was given beforehand; kpoll
    /// needs a new time, which, for the reasons given in the module documentation, is set by
    /// starting the timer again.
    RestartAt(Ktime),
}

/// The C callback for a kind of pointer to a timer's container.
///
/// Implemented for `Pin<&T>` (the only kind this abstraction supports); [`HrTimer::new`]
/// installs the `run` of `T::Pointer` as the C callback.
pub trait RawHrTimerCallback {
    /// What [`HrTimerCallback::run`] receives.
    type CallbackTarget<'a>;

    /// The function the hrtimer core calls when the timer expires.
    ///
    /// # Safety
    ///
    /// Only the hrtimer core may call it, with `this` pointing to the C timer of an [`HrTimer`]
    /// that was started through its container.
    unsafe extern "C" fn run(this: *mut bindings::hrtimer) -> bindings::hrtimer_restart;
}

/// A type that is told when its embedded timer fires.
pub trait HrTimerCallback {
    /// The kind of pointer to `Self` the callback receives; `Pin<&'a Self>` here.
    type Pointer<'a>: RawHrTimerCallback;

    /// Called in hardirq context (softirq on `PREEMPT_RT`) when the timer expires.
    fn run(this: <Self::Pointer<'_> as RawHrTimerCallback>::CallbackTarget<'_>) -> HrTimerRestart
    where
        Self: Sized;
}

impl<'a, T> RawHrTimerCallback for Pin<&'a T>
where
    T: HasHrTimer<T> + Sync,
    T: HrTimerCallback<Pointer<'a> = Self>,
{
    type CallbackTarget<'b> = Self;

    unsafe extern "C" fn run(this: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // `HrTimer` is `repr(C)` with the `Opaque` (which is `repr(transparent)`) first, so the
        // C timer is at offset 0 of its `HrTimer<T>`.
        let timer = this.cast::<HrTimer<T>>();
        // SAFETY: This function is installed only for `HrTimer<T>`s whose `T::Pointer` is
        // `Pin<&T>`, and those are started only by `HrTimer::start`, through the `T` containing
        // them (`HasHrTimer<T>`), so `timer` is the timer field of a `T`.
        let container = unsafe { T::timer_container_of(timer) };
        // SAFETY: As argued in `HrTimer::start`, the `T` stays valid, pinned and free of mutable
        // references until its drop has cancelled the timer and waited for this callback;
        // `T: Sync` allows using it on this CPU.
        let pinned = unsafe { Pin::new_unchecked(&*container) };
        match <T as HrTimerCallback>::run(pinned) {
            HrTimerRestart::NoRestart => bindings::hrtimer_restart_HRTIMER_NORESTART,
            HrTimerRestart::RestartAt(expires) => {
                // SAFETY: The timer is initialised, and its container valid until it is
                // cancelled (see above). Starting a timer from its own callback is allowed; it
                // takes the base's lock, so it cannot corrupt a timer that a concurrent start on
                // another CPU has already queued. Returning `HRTIMER_NORESTART` afterwards makes
                // the core leave the timer as this start queued it.
                unsafe {
                    bindings::hrtimer_start_range_ns(
                        this,
                        expires.to_ns(),
                        0,
                        bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                    )
                };
                bindings::hrtimer_restart_HRTIMER_NORESTART
            }
        }
    }
}

/// A type that contains an [`HrTimer<T>`] field and cancels it before it is torn down.
///
/// Implement it with [`impl_has_hr_timer!`](crate::impl_has_hr_timer), never by hand.
///
/// # Safety
///
/// Implementers must ensure that:
/// - `raw_get_timer` and `timer_container_of` operate on the same field, of type
///   `HrTimer<T>`, and are each other's inverse;
/// - dropping a `Self` first cancels that timer (as [`HrTimer::cancel`] does, waiting for a
///   running callback), before any other code of its destructor runs and before any of its
///   fields is dropped.
pub unsafe trait HasHrTimer<T> {
    /// Returns a pointer to the timer field of `*this` without creating a reference.
    ///
    /// # Safety
    ///
    /// `this` must point to a valid `Self`.
    unsafe fn raw_get_timer(this: *const Self) -> *const HrTimer<T>;

    /// Returns a pointer to the `Self` whose timer field `ptr` points to.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the timer field of a `Self`.
    unsafe fn timer_container_of(ptr: *mut HrTimer<T>) -> *mut Self
    where
        Self: Sized;
}

/// Implements [`HasHrTimer`](crate::hrtimer::HasHrTimer) for a type with an `HrTimer` field, and
/// the type's pinned destructor, which cancels that timer.
///
/// The type must be declared `#[pin_data(PinnedDrop)]`, with the timer a `#[pin]` field, and
/// must not implement `PinnedDrop` itself: the destructor of its fields runs after the timer is
/// stopped, which is all a destructor of a type with a timer may do safely. The compiler rejects
/// anything else (`#[pin_data]` without `PinnedDrop` refuses a `PinnedDrop` impl, and a second
/// one conflicts).
///
/// ```ignore
/// #[pin_data(PinnedDrop)]
/// struct Watched {
///     #[pin]
///     timer: HrTimer<Watched>,
///     fired: AtomicU64,
/// }
///
/// impl_has_hr_timer! {
///     impl HasHrTimer<Self> for Watched { self.timer }
/// }
/// ```
#[macro_export]
macro_rules! impl_has_hr_timer {
    (
        impl$({$($generics:tt)*})?
            HasHrTimer<$timer_type:ty>
            for $self:ty
        { self.$field:ident }
    ) => {
        // SAFETY: Both methods operate on `$field`, whose type the signature of `raw_get_timer`
        // checks, and are each other's inverse. The `PinnedDrop` below cancels the timer; it is
        // the whole pinned destructor of `$self`, and it runs before its fields are dropped.
        unsafe impl$(<$($generics)*>)? $crate::hrtimer::HasHrTimer<$timer_type> for $self {
            #[inline]
            unsafe fn raw_get_timer(
                this: *const Self,
            ) -> *const $crate::hrtimer::HrTimer<$timer_type> {
                // SAFETY: The caller promises that `this` points to a valid `Self`.
                unsafe { ::core::ptr::addr_of!((*this).$field) }
            }

            #[inline]
            unsafe fn timer_container_of(
                ptr: *mut $crate::hrtimer::HrTimer<$timer_type>,
            ) -> *mut Self {
                // SAFETY: The caller promises that `ptr` points to the `$field` of a `Self`.
                unsafe { $crate::container_of!(ptr, Self, $field).cast_mut() }
            }
        }

        #[$crate::prelude::pinned_drop]
        impl$(<$($generics)*>)? PinnedDrop for $self {
            /// Stops the timer and waits for its callback before anything of `self` is dropped.
            fn drop(self: ::core::pin::Pin<&mut Self>) {
                self.$field.cancel();
            }
        }
    };
}

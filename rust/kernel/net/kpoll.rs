// SPDX-License-Identifier: GPL-2.0

//! The kpoll hook points in `fs/eventpoll.c` (kpoll patch 0001).
//!
//! One module at a time registers a [`Hooks`] implementation. Each epoll instance carries a small
//! array of NAPI IDs ([`NapiIdSlots`]) that only the hooks read and write. The C side calls every
//! hook under `rcu_read_lock()` behind a static key, and [`Registration`]'s `Drop` unregisters
//! and waits for an RCU grace period, so no hook runs once it is dropped.
//!
//! C header: [`include/net/kpoll.h`](srctree/include/net/kpoll.h)

use crate::{bindings, error::to_result, prelude::*, sync::Arc};
use core::{
    ffi::c_void,
    marker::PhantomData,
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};

/// Number of NAPI IDs an epoll instance remembers.
pub const NAPI_ID_SLOTS: usize = bindings::KPOLL_NAPI_SLOTS as usize;

/// The NAPI IDs remembered by one epoll instance.
pub type NapiIdSlots = [AtomicU32; NAPI_ID_SLOTS];

/// A socket that an epoll instance watches, borrowed for one hook call.
///
/// # Invariants
///
/// `ptr` points to a `struct sock` that stays alive for `'a`.
pub struct Sock<'a> {
    ptr: *const bindings::sock,
    _borrow: PhantomData<&'a bindings::sock>,
}

impl Sock<'_> {
    /// Whether the socket opted in with `SO_KPOLL` (or inherited it from its listener).
    pub fn so_kpoll(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::sk_kpoll(self.ptr) }
    }

    /// The local port of an IPv4/IPv6 socket, or 0 for other families.
    pub fn local_port(&self) -> u16 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::sk_local_port(self.ptr) }
    }

    /// The NAPI ID of the queue the socket last received from (0 or a CPU number if none).
    pub fn napi_id(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::sk_napi_id(self.ptr) }
    }
}

/// What a kpoll module does at each hook point.
///
/// All methods run with the RCU read lock held and must not sleep.
pub trait Hooks: Send + Sync {
    /// A socket was added to, or woke up, an epoll instance. Process context on insert, any
    /// context (often softirq) on wakeup; the epoll's lock is held with IRQs off.
    fn sock_seen(&self, ids: &NapiIdSlots, sk: &Sock<'_>);
    /// `epoll_wait()` was entered. Process context.
    fn wait_begin(&self, ids: &NapiIdSlots);
    /// `epoll_wait()` is returning events. Process context.
    fn events_delivered(&self, ids: &NapiIdSlots);
    /// `epoll_wait()` found nothing and is about to sleep. Process context.
    fn would_sleep(&self, ids: &NapiIdSlots);
    /// The epoll instance is being freed. Process context.
    fn released(&self, ids: &NapiIdSlots);
}

/// The registered implementation; the C side allows only one.
static INSTANCE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

struct Adapter<T: Hooks>(PhantomData<T>);

impl<T: Hooks> Adapter<T> {
    const OPS: bindings::kpoll_ops = bindings::kpoll_ops {
        sock_seen: Some(Self::sock_seen),
        wait_begin: Some(Self::wait_begin),
        events_delivered: Some(Self::events_delivered),
        would_sleep: Some(Self::would_sleep),
        released: Some(Self::released),
    };

    /// # Safety
    ///
    /// Called by the C side under `rcu_read_lock()` while the registration of `T` is live.
    unsafe fn hooks<'a>() -> &'a T {
        // SAFETY: `Registration::register` stored an `Arc<T>` pointer before the ops became
        // visible, and `Registration::drop` clears it only after `kpoll_unregister` waited for
        // every running hook.
        unsafe { &*INSTANCE.load(Ordering::Acquire).cast::<T>() }
    }

    /// # Safety
    ///
    /// `ids` points to an epoll instance's `kpoll_napi_ids` array, live for the call.
    unsafe fn slots<'a>(ids: *mut u32) -> &'a NapiIdSlots {
        // SAFETY: `AtomicU32` has the layout of `u32`; the array has `NAPI_ID_SLOTS` elements and
        // is only accessed atomically by these hooks.
        unsafe { &*ids.cast::<NapiIdSlots>() }
    }

    unsafe extern "C" fn sock_seen(ids: *mut u32, sk: *mut bindings::sock) {
        // INVARIANT: eventpoll holds a reference to the socket's file for the call.
        let sk = Sock {
            ptr: sk,
            _borrow: PhantomData,
        };
        // SAFETY: called by the C hook with a live registration and a live epoll instance.
        unsafe { Self::hooks().sock_seen(Self::slots(ids), &sk) }
    }

    unsafe extern "C" fn wait_begin(ids: *mut u32) {
        // SAFETY: called by the C hook with a live registration and a live epoll instance.
        unsafe { Self::hooks().wait_begin(Self::slots(ids)) }
    }

    unsafe extern "C" fn events_delivered(ids: *mut u32) {
        // SAFETY: called by the C hook with a live registration and a live epoll instance.
        unsafe { Self::hooks().events_delivered(Self::slots(ids)) }
    }

    unsafe extern "C" fn would_sleep(ids: *mut u32) {
        // SAFETY: called by the C hook with a live registration and a live epoll instance.
        unsafe { Self::hooks().would_sleep(Self::slots(ids)) }
    }

    unsafe extern "C" fn released(ids: *mut u32) {
        // SAFETY: called by the C hook with a live registration and a live epoll instance.
        unsafe { Self::hooks().released(Self::slots(ids)) }
    }
}

/// Keeps `T` registered as the kpoll hooks; dropping it unregisters them.
///
/// # Invariants
///
/// While this exists, `INSTANCE` holds the pointer of `hooks` and the C side calls
/// `Adapter::<T>::OPS`.
pub struct Registration<T: Hooks> {
    hooks: Arc<T>,
}

impl<T: Hooks> Registration<T> {
    /// Registers `hooks`. Fails with `EBUSY` if another module holds the hook points.
    pub fn register(hooks: Arc<T>) -> Result<Self> {
        let ptr = core::ptr::from_ref::<T>(&hooks).cast_mut().cast::<c_void>();
        if INSTANCE
            .compare_exchange(
                core::ptr::null_mut(),
                ptr,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Err(EBUSY);
        }
        // SAFETY: `OPS` is a promoted constant, so it lives forever; `INSTANCE` is set.
        if let Err(e) = to_result(unsafe { bindings::kpoll_register(&Adapter::<T>::OPS) }) {
            INSTANCE.store(core::ptr::null_mut(), Ordering::Release);
            return Err(e);
        }
        // INVARIANT: `INSTANCE` and the C ops are set.
        Ok(Self { hooks })
    }

    /// The registered hooks.
    pub fn hooks(&self) -> &Arc<T> {
        &self.hooks
    }
}

impl<T: Hooks> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register` (type invariant); this waits for running hooks.
        unsafe { bindings::kpoll_unregister() };
        INSTANCE.store(core::ptr::null_mut(), Ordering::Release);
    }
}

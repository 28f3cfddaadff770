// SPDX-License-Identifier: GPL-2.0

//! The kpoll hook points in `fs/eventpoll.c` (kpoll patch 0001).
//!
//! One module at a time registers a [`Hooks`] implementation. Each epoll instance carries a small
//! array of words ([`NapiIdSlots`]) that only the hooks read and write. The C side calls every
//! hook under `rcu_read_lock()` behind a static key, with the context pointer the module
//! registered (read through the same `rcu_dereference()` as the hooks, so it is ordered after
//! it), and [`Registration`]'s `Drop` unregisters and waits for an RCU grace period, so no hook
//! runs once it is dropped.
//!
//! C header: [`include/net/kpoll.h`](srctree/include/net/kpoll.h)

use crate::{alloc::KBox, bindings, error::to_result, prelude::*, sync::Arc};
use core::{
    ffi::{c_int, c_void},
    marker::PhantomData,
    sync::atomic::AtomicU64,
};

/// Number of NAPI IDs an epoll instance remembers.
pub const NAPI_ID_SLOTS: usize = bindings::KPOLL_NAPI_SLOTS as usize;

/// The slots of one epoll instance: one word per remembered NAPI ID, its meaning up to the module.
///
/// All are 0 when the epoll instance is created. The C side calls the per-epoll hooks
/// ([`Hooks::wait_begin`], [`Hooks::events_delivered`], [`Hooks::no_events`]) only for an epoll
/// instance whose slot 0 is not 0, so a module uses slot 0 first and never sets a used slot back
/// to 0 (`sock_seen` is always called, except while the instance rests, see [`Rest`]).
pub type NapiIdSlots = [AtomicU64; NAPI_ID_SLOTS];

// The C side declares the slots as `u64 kpoll_slots[]`, aligned as a `u64` of its ABI, and `args`
// views them as `AtomicU64`s, which need 8-byte alignment: true of every 64-bit architecture, not
// of 32-bit x86, where a `u64` is 4-aligned. Refuse to build where the two differ.
const _: () = assert!(core::mem::align_of::<u64>() == core::mem::align_of::<AtomicU64>());

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

    /// Whether the socket belongs to the initial network namespace (`init_net`).
    pub fn in_initial_net(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant); a socket's namespace is fixed for its life.
        unsafe { bindings::sk_in_init_net(self.ptr) }
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

/// A rest for an epoll instance: a module's answer to a return without events
/// ([`Hooks::no_events`]).
///
/// Until the rest's deliveries (returns of `epoll_wait()` with events) have passed, the C side
/// calls neither [`Hooks::sock_seen`] (socket inserts and wakeups), [`Hooks::wait_begin`] nor
/// [`Hooks::events_delivered`] for that instance; [`Hooks::no_events`] is still called at every
/// return without events, and a rest it answers replaces the one running, if any. The C side
/// counts the rest down at each delivery; threads of one epoll instance may race on that count,
/// which only makes a rest shorter or longer. A rest is at most 255 deliveries long, so that a
/// module cannot silence a later one for long on the epoll instances it leaves behind; the C
/// side keeps it in a `u8`, so even a module built for another hook type cannot start a longer
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rest(u8);

impl Rest {
    /// No rest: the hooks run.
    pub const NONE: Self = Self(0);

    /// A rest of `deliveries` deliveries.
    pub const fn deliveries(deliveries: u8) -> Self {
        Self(deliveries)
    }
}

/// What a kpoll module does at each hook point.
///
/// All methods run with the RCU read lock held and must not sleep. With `CONFIG_PREEMPT_RCU`
/// the process-context hooks can be preempted and migrate between CPUs.
///
/// `'static`: a registration leaked with `core::mem::forget()` (safe) stays installed, so what
/// it calls must not borrow anything that could go away first.
pub trait Hooks: Send + Sync + 'static {
    /// A socket was added to, or woke up, an epoll instance. Process context on insert, any
    /// context (often softirq) on wakeup; the epoll's lock is held with IRQs off.
    fn sock_seen(&self, slots: &NapiIdSlots, sk: &Sock<'_>);
    /// `epoll_wait()` was entered. Process context.
    fn wait_begin(&self, slots: &NapiIdSlots);
    /// `epoll_wait()` is returning events. Process context.
    fn events_delivered(&self, slots: &NapiIdSlots);
    /// `epoll_wait()` found nothing: it is about to sleep, or returns 0 (timeout), `-EINTR` or
    /// another error; or the epoll instance is being freed. Process context. Returns a rest for
    /// the epoll instance (ignored when it is being freed; [`Rest::NONE`] leaves a running rest
    /// as it is, any other replaces it).
    fn no_events(&self, slots: &NapiIdSlots) -> Rest;
}

struct Adapter<T: Hooks>(PhantomData<T>);

impl<T: Hooks> Adapter<T> {
    const OPS: bindings::kpoll_ops = bindings::kpoll_ops {
        sock_seen: Some(Self::sock_seen),
        wait_begin: Some(Self::wait_begin),
        wait_end: Some(Self::wait_end),
    };

    /// # Safety
    ///
    /// `ctx` is the context of a live [`Registration<T>`], passed by the C side under
    /// `rcu_read_lock()`; `slots` points to an epoll instance's `kpoll_slots`, live for the call.
    unsafe fn args<'a>(ctx: *mut c_void, slots: *mut u64) -> (&'a T, &'a NapiIdSlots) {
        // SAFETY: `ctx` points to the `T` of the `Arc<T>` that the registration keeps until
        // `kpoll_unregister()` has waited for every running hook.
        let hooks = unsafe { &*ctx.cast::<T>() };
        // SAFETY: `AtomicU64` has the size of `u64` and, checked at build time above, its
        // alignment; the array has `NAPI_ID_SLOTS` elements and is only accessed atomically by
        // these hooks.
        let slots = unsafe { &*slots.cast::<NapiIdSlots>() };
        (hooks, slots)
    }

    /// `kpoll_ops::sock_seen`.
    ///
    /// # Safety
    ///
    /// Called only by the C side's `kpoll_call()` of this registration: `ctx` and `slots` as
    /// [`Self::args`] requires, and `sk` points to a socket that stays alive for the call.
    unsafe extern "C" fn sock_seen(ctx: *mut c_void, slots: *mut u64, sk: *mut bindings::sock) {
        // INVARIANT: `sk` stays alive for the call (this function's safety requirements;
        // eventpoll holds a reference to the socket's file).
        let sk = Sock {
            ptr: sk,
            _borrow: PhantomData,
        };
        // SAFETY: `ctx` and `slots` are as `args` requires (this function's safety requirements).
        let (hooks, slots) = unsafe { Self::args(ctx, slots) };
        hooks.sock_seen(slots, &sk);
    }

    /// `kpoll_ops::wait_begin`.
    ///
    /// # Safety
    ///
    /// Called only by the C side's `kpoll_ep_call()` of this registration: `ctx` and `slots` as
    /// [`Self::args`] requires.
    unsafe extern "C" fn wait_begin(ctx: *mut c_void, slots: *mut u64) {
        // SAFETY: `ctx` and `slots` are as `args` requires (this function's safety requirements).
        let (hooks, slots) = unsafe { Self::args(ctx, slots) };
        hooks.wait_begin(slots);
    }

    /// `kpoll_ops::wait_end`: `res` events returned, or none (`res` ≤ 0); returns the rest.
    ///
    /// # Safety
    ///
    /// Called only by the C side's `kpoll_ep_call()` or `kpoll_ep_call_value()` of this
    /// registration: `ctx` and `slots` as [`Self::args`] requires.
    unsafe extern "C" fn wait_end(ctx: *mut c_void, slots: *mut u64, res: c_int) -> u8 {
        // SAFETY: `ctx` and `slots` are as `args` requires (this function's safety requirements).
        let (hooks, slots) = unsafe { Self::args(ctx, slots) };
        if res > 0 {
            hooks.events_delivered(slots);
            Rest::NONE.0
        } else {
            hooks.no_events(slots).0
        }
    }
}

/// Keeps `T` registered as the kpoll hooks; dropping it unregisters them.
///
/// # Invariants
///
/// `_reg` is the registration installed in the C side with `kpoll_register()`: its `ops` are
/// `Adapter::<T>::OPS` and its `ctx` points to the `T` inside `hooks`. It stays allocated, unchanged,
/// until `drop` has called `kpoll_unregister()`.
pub struct Registration<T: Hooks> {
    _reg: KBox<bindings::kpoll_registration>,
    hooks: Arc<T>,
}

// SAFETY: `_reg` is only read by the C hooks and written by nobody after `register`; the hooks
// object is `Send + Sync` (`Hooks` requires it).
unsafe impl<T: Hooks> Send for Registration<T> {}
// SAFETY: no method mutates anything through `&self`.
unsafe impl<T: Hooks> Sync for Registration<T> {}

impl<T: Hooks> Registration<T> {
    /// Registers `hooks`. Fails with `EBUSY` if another module holds the hook points.
    pub fn register(hooks: Arc<T>) -> Result<Self> {
        let mut reg = KBox::new(
            bindings::kpoll_registration {
                ops: &Adapter::<T>::OPS,
                ctx: core::ptr::from_ref::<T>(&hooks).cast_mut().cast::<c_void>(),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `reg` stays allocated and unchanged until `drop` unregisters it (it is never
        // moved out of its box); `OPS` is a promoted constant, so it lives forever; `ctx` points
        // into `hooks`, which this registration keeps alive.
        to_result(unsafe { bindings::kpoll_register(&mut *reg) })?;
        // INVARIANT: installed above with `OPS` and the pointer of `hooks`.
        Ok(Self { _reg: reg, hooks })
    }

    /// The registered hooks.
    pub fn hooks(&self) -> &Arc<T> {
        &self.hooks
    }
}

impl<T: Hooks> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: `_reg` is registered (type invariant); `kpoll_unregister()` waits for every
        // running hook, so `_reg` and `hooks` are unused by C once it returns and may be freed
        // when the fields drop after this.
        unsafe { bindings::kpoll_unregister() };
    }
}

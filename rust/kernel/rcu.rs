// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h)

use crate::bindings;
use core::marker::PhantomData;

/// An RCU read-side critical section, ended when the guard is dropped.
///
/// Objects that C code frees only after an RCU grace period (such as a `napi_struct` found in the
/// NAPI hash) may be borrowed for the lifetime of a `&ReadGuard`.
///
/// # Invariants
///
/// `rcu_read_lock()` was called when the guard was created and `rcu_read_unlock()` is called
/// exactly once, when it is dropped, on the same CPU context (the guard is `!Send`).
pub struct ReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl ReadGuard {
    /// Enters an RCU read-side critical section. Callable from any context.
    #[inline]
    pub fn new() -> Self {
        // SAFETY: `rcu_read_lock` may be called from any context; the matching unlock happens in
        // `drop`.
        unsafe { bindings::rcu_read_lock() };
        // INVARIANT: the lock was just taken.
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Default for ReadGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ReadGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: by the type invariant, this section was entered by `new` in this context.
        unsafe { bindings::rcu_read_unlock() };
    }
}

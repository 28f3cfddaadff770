// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections, with upstream's (6.13+) names: [`read_lock`] returns a
//! [`Guard`] that ends the section when dropped.
//!
//! Objects that C code frees only after an RCU grace period (such as a `napi_struct` found in the
//! NAPI hash) may be borrowed for the lifetime of a `&Guard`. With `CONFIG_PREEMPT_RCU` the
//! section may be preempted and the task may migrate; the borrowed objects stay valid all the
//! same, but per-CPU state must not be relied on across it.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h)

use crate::bindings;
use core::marker::PhantomData;

/// An RCU read-side critical section, ended when the guard is dropped.
///
/// # Invariants
///
/// `rcu_read_lock()` was called when the guard was created and `rcu_read_unlock()` is called
/// exactly once, when it is dropped, in the same task (the guard is neither `Send` nor `Sync`).
pub struct Guard {
    _not_send: PhantomData<*mut ()>,
}

impl Guard {
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

    /// Ends the section explicitly (the same as dropping the guard).
    #[inline]
    pub fn unlock(self) {}
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: by the type invariant, this section was entered by `new` in this task.
        unsafe { bindings::rcu_read_unlock() };
    }
}

/// Enters an RCU read-side critical section; it ends when the returned guard is dropped.
#[inline]
pub fn read_lock() -> Guard {
    Guard::new()
}

// SPDX-License-Identifier: GPL-2.0

//! Read-only files in `/proc/net/` of the initial network namespace, shown through `seq_file`.
//!
//! C headers: [`include/linux/proc_fs.h`](srctree/include/linux/proc_fs.h),
//! [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h)

use crate::{bindings, error::from_result, prelude::*, str::CStr, sync::Arc};
use core::{ffi::c_void, fmt, marker::PhantomData};

/// What a proc file shows.
///
/// `'static`: a registration leaked with `core::mem::forget()` (safe) stays installed, so what
/// it calls must not borrow anything that could go away first.
pub trait ShowFile: Send + Sync + 'static {
    /// Writes the whole file. Process context; may sleep.
    fn show(&self, out: &mut SeqFile<'_>) -> Result;
}

/// The output of one `show` call; implements [`fmt::Write`].
///
/// # Invariants
///
/// `ptr` is the `seq_file` of a `show` call that lives for `'a`.
pub struct SeqFile<'a> {
    ptr: *mut bindings::seq_file,
    _call: PhantomData<&'a mut bindings::seq_file>,
}

impl fmt::Write for SeqFile<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `ptr` is valid for the call (type invariant); `s` is valid for `s.len()` bytes.
        // An overflow is recorded in the seq_file, which then retries with a larger buffer.
        unsafe { bindings::seq_write(self.ptr, s.as_ptr().cast::<c_void>(), s.len()) };
        Ok(())
    }
}

/// A file in `/proc/net`; dropping it removes the file and waits for readers.
///
/// # Invariants
///
/// `entry` was created by `proc_create_single_data` with `owner`'s pointer as its data.
pub struct ProcFile<T: ShowFile> {
    entry: *mut bindings::proc_dir_entry,
    _owner: Arc<T>,
}

// SAFETY: the entry is only used in `drop`, which may run on any CPU.
unsafe impl<T: ShowFile> Send for ProcFile<T> {}
// SAFETY: no method uses the entry through `&self`.
unsafe impl<T: ShowFile> Sync for ProcFile<T> {}

impl<T: ShowFile> ProcFile<T> {
    /// Creates `/proc/net/<name>`, readable by everyone.
    pub fn create(name: &'static CStr, owner: Arc<T>) -> Result<Self> {
        // SAFETY: `init_net` is always live; `name` is static; the data pointer stays valid
        // until `drop` removes the entry (it keeps `owner`).
        let entry = unsafe {
            bindings::proc_create_single_data(
                name.as_char_ptr(),
                0o444,
                bindings::init_net.proc_net,
                Some(Self::show),
                core::ptr::from_ref::<T>(&owner).cast_mut().cast::<c_void>(),
            )
        };
        if entry.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: created with `owner` as data.
        Ok(Self {
            entry,
            _owner: owner,
        })
    }

    /// # Safety
    ///
    /// Called by `seq_file` for a live entry created by [`Self::create`].
    unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> i32 {
        from_result(|| {
            // SAFETY: `single_open` stored the entry's data, our owner pointer, in `private`.
            let owner = unsafe { &*(*m).private.cast::<T>() };
            // INVARIANT: `m` is live for this call.
            let mut out = SeqFile {
                ptr: m,
                _call: PhantomData,
            };
            owner.show(&mut out)?;
            Ok(0)
        })
    }
}

impl<T: ShowFile> Drop for ProcFile<T> {
    fn drop(&mut self) {
        // SAFETY: `entry` is ours (type invariant); `proc_remove` waits for running readers.
        unsafe { bindings::proc_remove(self.entry) };
    }
}

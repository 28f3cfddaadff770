// SPDX-License-Identifier: GPL-2.0

//! Text-valued sysctl tables under `/proc/sys/net/` of the initial network namespace.
//!
//! The owner implements [`SysctlTable`]: it formats each value for reads and parses and
//! validates writes itself, so a bad write returns its error (`EINVAL`) and changes nothing.
//! Copying to and from user space, offsets and partial reads are left to `proc_dostring`.
//!
//! C header: [`include/linux/sysctl.h`](srctree/include/linux/sysctl.h)

use crate::{alloc::KVec, bindings, error::from_result, prelude::*, str::CStr, sync::Arc};
use core::{ffi::c_void, marker::PhantomData};

/// Longest value text, including the newline, that an entry reads or accepts.
pub const MAX_VALUE_LEN: usize = 255;

/// The entries of one sysctl directory and how to read and write them.
pub trait SysctlTable: Send + Sync {
    /// Entry names, each a file in the directory.
    const ENTRIES: &'static [&'static CStr];
    /// Formats entry `index` into `out` and returns the length (a trailing newline is
    /// optional). Process context.
    fn read(&self, index: usize, out: &mut [u8]) -> usize;
    /// Parses `text` (what the user wrote, up to the first newline) into entry `index`.
    /// Must change nothing on error. Process context.
    fn write(&self, index: usize, text: &[u8]) -> Result;
}

/// A registered sysctl directory; dropping it unregisters the directory and waits for running
/// handlers.
///
/// # Invariants
///
/// `header` was returned by `register_net_sysctl_sz` for `table`, whose entries' `data` point
/// to the `T` kept alive by `owner`.
pub struct Registration<T: SysctlTable> {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    _owner: Arc<T>,
}

// SAFETY: the header is only used in `drop`, which may run on any CPU in process context.
unsafe impl<T: SysctlTable> Send for Registration<T> {}
// SAFETY: no method uses the header through `&self`.
unsafe impl<T: SysctlTable> Sync for Registration<T> {}

impl<T: SysctlTable> Registration<T> {
    /// Registers `T::ENTRIES` under `/proc/sys/<path>` (e.g. `c_str!("net/kpoll")`).
    pub fn register(path: &'static CStr, owner: Arc<T>) -> Result<Self> {
        let mut table = KVec::with_capacity(T::ENTRIES.len(), GFP_KERNEL)?;
        for (index, name) in T::ENTRIES.iter().enumerate() {
            // SAFETY: `ctl_table` is plain data for which all-zeroes is a valid (empty) value.
            let mut entry: bindings::ctl_table = unsafe { core::mem::zeroed() };
            entry.procname = name.as_char_ptr();
            entry.mode = 0o644;
            entry.data = core::ptr::from_ref::<T>(&owner).cast_mut().cast::<c_void>();
            entry.maxlen = MAX_VALUE_LEN as i32 + 1;
            entry.proc_handler = Some(Adapter::<T>::handle);
            entry.extra1 = index as *mut c_void;
            table.push(entry, GFP_KERNEL)?;
        }
        // SAFETY: `init_net` is always live; `table` holds `len` initialised entries that stay
        // at a fixed address (the vector is not touched again until after unregistration).
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                core::ptr::addr_of_mut!(bindings::init_net),
                path.as_char_ptr(),
                table.as_mut_ptr(),
                table.len(),
            )
        };
        if header.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: `header` covers `table`, whose `data` point to `owner`.
        Ok(Self {
            header,
            _table: table,
            _owner: owner,
        })
    }
}

impl<T: SysctlTable> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: `header` came from `register_net_sysctl_sz` (type invariant); this waits for
        // handlers still running.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}

struct Adapter<T>(PhantomData<T>);

impl<T: SysctlTable> Adapter<T> {
    /// # Safety
    ///
    /// Called by the sysctl core for an entry of a live [`Registration<T>`], with `buffer`,
    /// `lenp` and `ppos` as `proc_handler` documents.
    unsafe extern "C" fn handle(
        ctl: *const bindings::ctl_table,
        write: i32,
        buffer: *mut c_void,
        lenp: *mut usize,
        ppos: *mut bindings::loff_t,
    ) -> i32 {
        from_result(|| {
            // SAFETY: `ctl` is one of our entries, whose `data` points to the live owner.
            let (owner, index) = unsafe { (&*(*ctl).data.cast::<T>(), (*ctl).extra1 as usize) };
            let mut text = [0u8; MAX_VALUE_LEN + 1];
            // SAFETY: `ctl` is valid; a copy whose `data` is our local buffer lets
            // `proc_dostring` do the user-space copy and offset handling.
            let mut scratch = unsafe { *ctl };
            scratch.data = text.as_mut_ptr().cast::<c_void>();
            scratch.maxlen = text.len() as i32;
            if write == 0 {
                let mut len = owner.read(index, &mut text[..MAX_VALUE_LEN]);
                // `proc_dostring` adds the newline itself.
                while len > 0 && text[len - 1] == b'\n' {
                    len -= 1;
                    text[len] = 0;
                }
                // SAFETY: `scratch` describes a NUL-terminated buffer; the rest is forwarded.
                return to_errno_result(unsafe {
                    bindings::proc_dostring(&scratch, 0, buffer, lenp, ppos)
                });
            }
            // SAFETY: `lenp` is valid for reads (handler contract).
            if unsafe { *lenp } > MAX_VALUE_LEN {
                return Err(EINVAL);
            }
            // SAFETY: as for reads; `proc_dostring` copies at most `maxlen - 1` bytes and a NUL.
            to_errno_result(unsafe { bindings::proc_dostring(&scratch, 1, buffer, lenp, ppos) })?;
            let len = text.iter().position(|&b| b == 0).unwrap_or(MAX_VALUE_LEN);
            owner.write(index, &text[..len])?;
            Ok(0)
        })
    }
}

fn to_errno_result(ret: i32) -> Result<i32> {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(ret)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Text-valued sysctl tables under `/proc/sys/net/` of the initial network namespace.
//!
//! The owner implements [`SysctlTable`]: it formats each value for reads and parses and
//! validates writes itself, so a bad write returns its error (`EINVAL`) and changes nothing.
//! Copying to and from the kernel's buffer, offsets and partial reads are left to
//! `proc_dostring`.
//!
//! Writing needs `CAP_NET_ADMIN` in the initial user namespace, whatever the file mode and the
//! writer's uid allow (root that dropped the capability gets `EPERM`): these tables configure
//! the host's networking, as the socket options that need the same capability.
//!
//! A value is written with one `write()` at offset 0: a write at any other offset (a second
//! `write()` on the same open file, or `pwrite()`) fails with `EINVAL`, and an empty write
//! succeeds without calling the owner, so neither can be taken for "set the empty value".
//! Writes to one table are serialised by a mutex the [`Registration`] owns, so two writers
//! cannot interleave their stores into a value neither wrote. Reads take no lock: a write
//! sequence count tells a read whether a write ran while it formatted the value, and only then
//! is the value formatted again with writers excluded. A read therefore shows the value left by
//! one complete write through this table (writes that bypass the table are not covered).
//! Handlers run in process context and may sleep.
//!
//! C header: [`include/linux/sysctl.h`](srctree/include/linux/sysctl.h)

use crate::{
    alloc::KVec,
    bindings,
    error::from_result,
    prelude::*,
    str::CStr,
    sync::{new_mutex, Arc, Mutex},
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    sync::atomic::{fence, AtomicUsize, Ordering},
};

/// Longest value text, including the newline, that an entry reads or accepts.
pub const MAX_VALUE_LEN: usize = 255;

/// The entries of one sysctl directory and how to read and write them.
///
/// `'static`: a registration leaked with `core::mem::forget()` (safe) stays installed, so what
/// it calls must not borrow anything that could go away first.
pub trait SysctlTable: Send + Sync + 'static {
    /// Entry names, each a file in the directory.
    const ENTRIES: &'static [&'static CStr];
    /// Formats entry `index` into `out` and returns the length (a trailing newline is
    /// optional). Process context.
    fn read(&self, index: usize, out: &mut [u8]) -> usize;
    /// Parses `text` (what the user wrote, up to the first newline) into entry `index`.
    /// Must change nothing on error. Process context; calls through one [`Registration`] are
    /// serialised.
    fn write(&self, index: usize, text: &[u8]) -> Result;
}

/// What the `data` of every entry of a [`Registration`] points to: the owner, and the lock and
/// sequence count that order writes to it against each other and against reads.
///
/// # Invariants
///
/// `writes` only changes while `write_lock` is held; it is odd exactly while a holder of
/// `write_lock` is inside [`SysctlTable::write`] (or about to enter or just left it).
#[pin_data]
struct Entries<T: SysctlTable> {
    owner: Arc<T>,
    /// Held around each parse and store, i.e. the whole write path of the handler.
    #[pin]
    write_lock: Mutex<()>,
    /// Write sequence count: bumped to odd before a write calls the owner, to even after.
    writes: AtomicUsize,
}

impl<T: SysctlTable> Entries<T> {
    fn new(owner: Arc<T>) -> impl PinInit<Self> {
        // INVARIANT: `writes` starts even, with no write in progress.
        pin_init!(Self {
            owner,
            write_lock <- new_mutex!((), "sysctl::Registration::write_lock"),
            writes: AtomicUsize::new(0),
        })
    }

    /// Calls the owner's `write` with every other write through this table excluded.
    fn write(&self, index: usize, text: &[u8]) -> Result {
        let _guard = self.write_lock.lock();
        let start = self.writes.load(Ordering::Relaxed);
        // INVARIANT: `write_lock` is held; `writes` is odd until the owner has returned.
        self.writes.store(start.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd count before the owner's stores: a read that sees one of those stores
        // sees the count moved (the fence pairs with the one in `read`).
        fence(Ordering::Release);
        let result = self.owner.write(index, text);
        // Publishes the owner's stores with the even count (pairs with the first load in `read`).
        self.writes.store(start.wrapping_add(2), Ordering::Release);
        result
    }

    /// Formats entry `index` as one complete write left it; see the module documentation.
    fn read(&self, index: usize, out: &mut [u8]) -> usize {
        let start = self.writes.load(Ordering::Acquire);
        if start % 2 == 0 {
            let len = self.owner.read(index, out);
            // Orders the owner's loads before the second look at the count (pairs with the
            // fence in `write`).
            fence(Ordering::Acquire);
            if self.writes.load(Ordering::Relaxed) == start {
                return len;
            }
        }
        // A write ran meanwhile: format again with writers excluded (process context, so the
        // mutex may sleep). This is bounded, unlike retrying until no write interferes.
        let _guard = self.write_lock.lock();
        self.owner.read(index, out)
    }
}

/// A registered sysctl directory; dropping it unregisters the directory and waits for running
/// handlers.
///
/// # Invariants
///
/// `header` was returned by `register_net_sysctl_sz` for `table`, whose entries' `data` point
/// to `entries` and whose `extra1` are the entries' indices in `T::ENTRIES`. `entries` is pinned
/// and outlives the registration: it is only dropped after `drop` has unregistered `header`.
pub struct Registration<T: SysctlTable> {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    _entries: Pin<KBox<Entries<T>>>,
}

// SAFETY: the header is only used in `drop`, which may run on any CPU in process context;
// `Entries<T>` is `Send` (an `Arc<T>` with `T: Send + Sync`, a mutex and an atomic).
unsafe impl<T: SysctlTable> Send for Registration<T> {}
// SAFETY: no method uses the header or the entries through `&self`. (Handlers on any CPU share
// the entries through the table; `Entries<T>` is `Sync`: an `Arc<T>`, a mutex and an atomic.)
unsafe impl<T: SysctlTable> Sync for Registration<T> {}

impl<T: SysctlTable> Registration<T> {
    /// Registers `T::ENTRIES` under `/proc/sys/<path>` (e.g. `c_str!("net/kpoll")`).
    pub fn register(path: &'static CStr, owner: Arc<T>) -> Result<Self> {
        let entries = KBox::pin_init(Entries::new(owner), GFP_KERNEL)?;
        let data = core::ptr::from_ref::<Entries<T>>(&entries)
            .cast_mut()
            .cast::<c_void>();
        let mut table = KVec::with_capacity(T::ENTRIES.len(), GFP_KERNEL)?;
        for (index, name) in T::ENTRIES.iter().enumerate() {
            // SAFETY: `ctl_table` is plain data for which all-zeroes is a valid (empty) value.
            let mut entry: bindings::ctl_table = unsafe { core::mem::zeroed() };
            entry.procname = name.as_char_ptr();
            entry.mode = 0o644;
            entry.data = data;
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
        // INVARIANT: `header` covers `table`, whose `data` point to the pinned `entries` and
        // whose `extra1` are indices; `entries` is a field, dropped after `drop` has run.
        Ok(Self {
            header,
            _table: table,
            _entries: entries,
        })
    }
}

impl<T: SysctlTable> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: `header` came from `register_net_sysctl_sz` (type invariant); this waits for
        // handlers still running, so none uses `entries` once the fields are dropped.
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
            // SAFETY: `ctl` is one of our entries, whose `data` points to the `Entries<T>` of
            // the live registration and whose `extra1` is an index (type invariant of
            // `Registration`); the registration outlives this call.
            let (entries, index) =
                unsafe { (&*(*ctl).data.cast::<Entries<T>>(), (*ctl).extra1 as usize) };
            let mut text = [0u8; MAX_VALUE_LEN + 1];
            // SAFETY: `ctl` is valid; a copy whose `data` is our local buffer lets
            // `proc_dostring` do the copying and offset handling.
            let mut scratch = unsafe { *ctl };
            scratch.data = text.as_mut_ptr().cast::<c_void>();
            scratch.maxlen = text.len() as i32;
            if write == 0 {
                let mut len = entries.read(index, &mut text[..MAX_VALUE_LEN]);
                // A read that was repeated under the lock may have left bytes of the first
                // attempt behind the value: terminate it here.
                len = len.min(MAX_VALUE_LEN);
                text[len] = 0;
                // `proc_dostring` adds the newline itself.
                while len > 0 && text[len - 1] == b'\n' {
                    len -= 1;
                    text[len] = 0;
                }
                // SAFETY: `scratch` describes a NUL-terminated buffer; `buffer`, `lenp` and
                // `ppos` are forwarded as the core gave them. Reads at any offset, partial or
                // past the end, are `proc_dostring`'s.
                return to_errno_result(unsafe {
                    bindings::proc_dostring(&scratch, 0, buffer, lenp, ppos)
                });
            }
            // SAFETY: `capable` only looks at the current task's credentials.
            if !unsafe { bindings::capable(bindings::CAP_NET_ADMIN as i32) } {
                return Err(EPERM);
            }
            // SAFETY: `lenp` and `ppos` are valid for reads (handler contract).
            let (count, offset) = unsafe { (*lenp, *ppos) };
            // An empty write sets nothing; `*lenp` already says 0 bytes were consumed.
            if count == 0 {
                return Ok(0);
            }
            // `proc_dostring` would continue a value at a non-zero offset, leaving our empty
            // buffer empty: the value must come in one `write()` at offset 0.
            if offset != 0 || count > MAX_VALUE_LEN {
                return Err(EINVAL);
            }
            // SAFETY: as for reads; `proc_dostring` copies at most `maxlen - 1` bytes and a NUL,
            // and advances `*ppos` by `*lenp`, so a further `write()` on this file is refused.
            to_errno_result(unsafe { bindings::proc_dostring(&scratch, 1, buffer, lenp, ppos) })?;
            let len = text.iter().position(|&b| b == 0).unwrap_or(MAX_VALUE_LEN);
            entries.write(index, &text[..len])?;
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

// SPDX-License-Identifier: GPL-2.0

//! The `net.kpoll.*` sysctls: one entry per [`Knob`], in [`Knob::ALL`] order. What each knob
//! accepts is [`Knob::parse`]'s business; an invalid write fails with `EINVAL` and changes
//! nothing.

use crate::{policy::knob::Knob, state::Kpoll};
use kernel::{prelude::*, str::CStr, sysctl::SysctlTable};

/// The entry names: the knobs' names, in [`Knob::ALL`] order. (The policy's names are
/// `core::ffi::CStr`s; 6.12's `kernel::str::CStr` is a type of its own, hence the conversion.)
const ENTRIES: [&CStr; Knob::COUNT] = {
    let mut names = [kernel::c_str!(""); Knob::COUNT];
    let mut index = 0;
    while index < Knob::COUNT {
        names[index] =
            match CStr::from_bytes_with_nul(Knob::ALL[index].c_name().to_bytes_with_nul()) {
                Ok(name) => name,
                Err(_) => panic!("a knob's name is not a C string"),
            };
        index += 1;
    }
    names
};

impl SysctlTable for Kpoll {
    const ENTRIES: &'static [&'static CStr] = &ENTRIES;

    fn read(&self, index: usize, out: &mut [u8]) -> usize {
        match Knob::ALL.get(index) {
            Some(&knob) => self.config.format(knob, out),
            None => 0,
        }
    }

    fn write(&self, index: usize, text: &[u8]) -> Result {
        let knob = *Knob::ALL.get(index).ok_or(EINVAL)?;
        self.config.set(knob, text).map_err(|_| EINVAL)
    }
}

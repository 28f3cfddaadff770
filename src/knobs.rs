// SPDX-License-Identifier: GPL-2.0

//! The `net.kpoll.*` sysctls. Parsing and validation live in [`crate::policy::config`]; an
//! invalid write fails with `EINVAL` and changes nothing.

use crate::state::Kpoll;
use kernel::{c_str, prelude::*, str::CStr, sysctl::SysctlTable};

impl SysctlTable for Kpoll {
    const ENTRIES: &'static [&'static CStr] = &[
        c_str!("enabled"),
        c_str!("ports"),
        c_str!("watchdog_us"),
        c_str!("budget"),
    ];

    fn read(&self, index: usize, out: &mut [u8]) -> usize {
        let config = &self.config;
        match index {
            0 => config.format_enabled(out),
            1 => config.format_ports(out),
            2 => config.format_watchdog_us(out),
            3 => config.format_budget(out),
            _ => 0,
        }
    }

    fn write(&self, index: usize, text: &[u8]) -> Result {
        let config = &self.config;
        let result = match index {
            0 => config.set_enabled(text),
            1 => config.set_ports(text),
            2 => config.set_watchdog_us(text),
            3 => config.set_budget(text),
            _ => return Err(EINVAL),
        };
        result.map_err(|_| EINVAL)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/kpoll`: the configuration, one line per NAPI instance and a total line.
//!
//! Format (stable; columns separated by single spaces, documented in README.md; the counter
//! columns are `policy::counters::Counter`, in its order):
//!
//! ```text
//! config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=0 untracked=0 ports=11211
//! napi_id dev irq state suspensions app_polls app_packets idle_resumes watchdog_fires held_us service_polls declined early_fires
//! 8193 eth0 24 held 10 5000 4990 9 1 1234 3 7 1
//! total - - - 10 5000 4990 9 1 1234 3 7 1
//! ```

use crate::{
    policy::counters::{Counter, NapiCountersSnapshot},
    state::Kpoll,
};
use core::fmt::Write;
use kernel::{
    net::napi::Napi,
    prelude::*,
    proc::{SeqFile, ShowFile},
    sync::rcu,
};

fn write_counters(out: &mut SeqFile<'_>, c: &NapiCountersSnapshot) -> core::fmt::Result {
    for value in c.shown() {
        write!(out, " {value}")?;
    }
    writeln!(out)
}

fn write_header(out: &mut SeqFile<'_>) -> core::fmt::Result {
    write!(out, "napi_id dev irq state")?;
    for counter in Counter::ALL {
        write!(out, " {}", counter.column())?;
    }
    writeln!(out)
}

impl ShowFile for Kpoll {
    fn show(&self, out: &mut SeqFile<'_>) -> Result {
        let mut ports = [0u8; 128];
        let ports_len = self.config.format_ports(&mut ports);
        let ports = core::str::from_utf8(&ports[..ports_len])
            .unwrap_or("?")
            .trim_end();
        // Entries reclaimed for other NAPIs left their counters here: the totals never shrink.
        let mut total = self.napis.retired();
        let result = (|| -> core::fmt::Result {
            writeln!(
                out,
                "config enabled={} watchdog_us={} budget={} napis={} reclaimed={} untracked={} \
                 ports={}",
                u8::from(self.config.enabled()),
                self.config.watchdog_ns() / 1000,
                self.config.budget(),
                self.napis.iter().count(),
                self.napis.reclaimed(),
                self.napis.untracked(),
                if ports.is_empty() { "-" } else { ports }
            )?;
            write_header(out)?;
            for entry in self.napis.iter() {
                let counters = entry.counters.snapshot();
                total.add(&counters);
                let rcu = rcu::read_lock();
                let mut name = [0u8; 16];
                let (dev_len, irq, state) = match Napi::find(&rcu, entry.id()) {
                    Some(napi) => (
                        napi.device_name(&mut name),
                        napi.irq(),
                        if napi.irq_held() { "held" } else { "irq" },
                    ),
                    None => (0, -1, "gone"),
                };
                drop(rcu);
                let dev = core::str::from_utf8(&name[..dev_len]).unwrap_or("?");
                write!(
                    out,
                    "{} {} {} {}",
                    entry.id(),
                    if dev.is_empty() { "-" } else { dev },
                    irq,
                    state
                )?;
                write_counters(out, &counters)?;
            }
            write!(out, "total - - -")?;
            write_counters(out, &total)
        })();
        result.map_err(|_| EINVAL)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/kpoll`: the configuration, one line per NAPI instance and a total line.
//!
//! The format (stable, documented in README.md) is [`crate::policy::report`]'s; this file only
//! gathers the values: the knobs, the NAPI table's counts, and for each entry its counters and
//! what the kernel says about its NAPI instance. Process context (the `seq_file` show callback).

use crate::{
    policy::{
        knob::Knob,
        report::{ConfigLine, Header, NapiLine, NapiState, TableCount, TotalLine},
    },
    state::Kpoll,
};
use core::{fmt::Write, sync::atomic::Ordering};
use kernel::{
    net::napi::Napi,
    prelude::*,
    proc::{SeqFile, ShowFile},
    sync::rcu,
};

/// The figure that `count` names.
fn table_count(kpoll: &Kpoll, count: TableCount) -> u64 {
    let napis = &kpoll.napis;
    match count {
        TableCount::Napis => napis.iter().count() as u64,
        TableCount::Reclaimed => napis.reclaimed(),
        TableCount::Untracked => napis.untracked(),
        TableCount::Rests => kpoll.rests.load(Ordering::Relaxed),
    }
}

impl ShowFile for Kpoll {
    fn show(&self, out: &mut SeqFile<'_>) -> Result {
        // Entries reclaimed for other NAPIs left their counters here: the totals never shrink.
        let mut total = self.napis.retired();
        let result = (|| -> core::fmt::Result {
            let config = ConfigLine {
                knobs: Knob::ALL.map(|knob| self.config.get(knob)),
                table: TableCount::ALL.map(|count| Some(table_count(self, count))),
            };
            writeln!(out, "config {config}")?;
            writeln!(out, "{Header}")?;
            for entry in self.napis.iter() {
                let counters = entry.counters.snapshot();
                total.add(&counters);
                let rcu = rcu::read_lock();
                let mut name = [0u8; 16];
                let (dev_len, irq, state) = match Napi::find(&rcu, entry.id()) {
                    Some(napi) => (
                        napi.device_name(&mut name),
                        napi.irq(),
                        if napi.irq_held() {
                            NapiState::Held
                        } else {
                            NapiState::Irq
                        },
                    ),
                    None => (0, -1, NapiState::Gone),
                };
                drop(rcu);
                let line = NapiLine {
                    napi_id: entry.id(),
                    dev: core::str::from_utf8(&name[..dev_len]).unwrap_or("?"),
                    irq,
                    state,
                    counters: &counters,
                };
                writeln!(out, "{line}")?;
            }
            writeln!(out, "{}", TotalLine(&total))
        })();
        result.map_err(|_| EINVAL)
    }
}

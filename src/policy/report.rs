// SPDX-License-Identifier: GPL-2.0

//! The text of `/proc/net/kpoll`: its lines, their columns and how each value is written.
//!
//! The module writes the file with the types here and kpollctl reads it with their names, so a
//! new column or `config` key is one edit (a new counter: one [`Counter`] variant; a new knob: one
//! [`Knob`]). The format is stable, documented in README.md, and only ever grows at the end of
//! the header and before `ports=` on the `config` line, so the header of an older module is a
//! prefix of today's:
//!
//! ```text
//! config enabled=1 watchdog_us=50000 budget=64 napis=1 reclaimed=0 untracked=0 rests=0 ports=11211
//! napi_id dev irq state suspensions app_polls app_packets idle_resumes watchdog_fires held_us service_polls declined early_fires
//! 8193 eth0 24 held 10 5000 4990 9 1 1234 3 7 1
//! total - - - 10 5000 4990 9 1 1234 3 7 1
//! ```
//!
//! - [`ConfigLine`]: every knob as `name=value`, then the NAPI table's [`TableCount`]s; the port
//!   list comes last because it runs to the end of the line.
//! - [`Header`]: the [`NAME_COLUMNS`], then one column per [`Counter`].
//! - [`NapiLine`]: one per NAPI instance the module tracks.
//! - [`TotalLine`]: the sums, which include the counters of entries reclaimed for other NAPI
//!   instances, so they never decrease while the module stays loaded.
//!
//! Columns are separated by single spaces; a value that is not known or empty shows as
//! [`ABSENT`]. Writing runs in process context (the `seq_file` show callback).

use core::{fmt, str::FromStr};

use super::counters::{Counter, NapiCountersSnapshot};
use super::knob::{Accepts, Knob, KnobValue};

/// Shown for a value that is not known or empty: no device, no port, the name columns of the
/// `total` line.
pub const ABSENT: &str = "-";

/// The first column of the `total` line.
pub const TOTAL: &str = "total";

/// The columns before the counters: they say which NAPI instance a line is about.
pub const NAME_COLUMNS: [&str; 4] = ["napi_id", "dev", "irq", "state"];

/// Every column name of the header, in order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    NAME_COLUMNS
        .into_iter()
        .chain(Counter::ALL.into_iter().map(Counter::column))
}

/// A figure of the NAPI table, or of the module's rests, on the `config` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableCount {
    /// Entries in use.
    Napis,
    /// Entries reused for a new NAPI ID after their NAPI instance disappeared.
    Reclaimed,
    /// Times a NAPI instance could not be managed because every entry served a live one.
    Untracked,
    /// Returns of `epoll_wait()` without events after which an epoll instance rested: its streak
    /// took no hold, so no hook runs for it for a few deliveries (see `napi_ids`, *Rests*).
    Rests,
}

impl TableCount {
    /// Number of table counts.
    pub const COUNT: usize = 4;

    /// Every table count, in `config` line order.
    pub const ALL: [TableCount; TableCount::COUNT] = [
        TableCount::Napis,
        TableCount::Reclaimed,
        TableCount::Untracked,
        TableCount::Rests,
    ];

    /// The key on the `config` line.
    pub const fn name(self) -> &'static str {
        match self {
            TableCount::Napis => "napis",
            TableCount::Reclaimed => "reclaimed",
            TableCount::Untracked => "untracked",
            TableCount::Rests => "rests",
        }
    }
}

/// The values on the `config` line; displayed without the leading `config `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigLine {
    /// Every knob's value, in [`Knob::ALL`] order.
    pub knobs: [KnobValue; Knob::COUNT],
    /// The table counts, in [`TableCount::ALL`] order; `None` leaves the key out (a reader of a
    /// module older than the table counts has none).
    pub table: [Option<u64>; TableCount::COUNT],
}

impl ConfigLine {
    /// The value of `knob`.
    pub fn knob(&self, knob: Knob) -> KnobValue {
        self.knobs[knob as usize]
    }
}

/// Whether a knob's value is a list, which runs to the end of the `config` line.
fn is_list(knob: Knob) -> bool {
    knob.accepts() == Accepts::Ports
}

impl fmt::Display for ConfigLine {
    /// `enabled=1 watchdog_us=50000 budget=64 napis=1 reclaimed=0 untracked=0 rests=0 ports=11211`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        for knob in Knob::ALL.into_iter().filter(|&knob| !is_list(knob)) {
            write!(f, "{separator}{}={}", knob.name(), self.knob(knob))?;
            separator = " ";
        }
        for (count, value) in TableCount::ALL.iter().zip(self.table) {
            if let Some(value) = value {
                write!(f, "{separator}{}={value}", count.name())?;
                separator = " ";
            }
        }
        for knob in Knob::ALL.into_iter().filter(|&knob| is_list(knob)) {
            match self.knob(knob) {
                KnobValue::Ports(list) if list.is_empty() => {
                    write!(f, "{separator}{}={ABSENT}", knob.name())?
                }
                value => write!(f, "{separator}{}={value}", knob.name())?,
            }
            separator = " ";
        }
        Ok(())
    }
}

/// The column header line.
pub struct Header;

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        for column in columns() {
            write!(f, "{separator}{column}")?;
            separator = " ";
        }
        Ok(())
    }
}

/// The `state` column: what the kernel says about a NAPI instance's IRQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NapiState {
    /// The IRQ is held masked: the application polls the queue from `epoll_wait()`.
    Held,
    /// The IRQ is live: the queue runs in interrupt and softirq context as usual.
    Irq,
    /// The NAPI instance no longer exists (device removed or reconfigured).
    Gone,
}

impl NapiState {
    /// Every state.
    pub const ALL: [NapiState; 3] = [NapiState::Held, NapiState::Irq, NapiState::Gone];

    /// The spelling in the `state` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            NapiState::Held => "held",
            NapiState::Irq => "irq",
            NapiState::Gone => "gone",
        }
    }
}

impl FromStr for NapiState {
    type Err = ();

    /// Reads the `state` column back.
    fn from_str(text: &str) -> Result<Self, ()> {
        NapiState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or(())
    }
}

/// Writes the counter columns of a line, each after a space.
fn write_counters(f: &mut fmt::Formatter<'_>, counters: &NapiCountersSnapshot) -> fmt::Result {
    for value in counters.shown() {
        write!(f, " {value}")?;
    }
    Ok(())
}

/// The line of one NAPI instance.
pub struct NapiLine<'a> {
    /// The NAPI ID.
    pub napi_id: u32,
    /// The device's name; empty when not known.
    pub dev: &'a str,
    /// The IRQ number NAPI was told, `-1` when the driver did not tell it or the instance is
    /// gone.
    pub irq: i32,
    /// The state of the IRQ.
    pub state: NapiState,
    /// The instance's counters.
    pub counters: &'a NapiCountersSnapshot,
}

impl fmt::Display for NapiLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dev = if self.dev.is_empty() {
            ABSENT
        } else {
            self.dev
        };
        write!(
            f,
            "{} {dev} {} {}",
            self.napi_id,
            self.irq,
            self.state.as_str()
        )?;
        write_counters(f, self.counters)
    }
}

/// The `total` line, from the sums of every entry's counters.
pub struct TotalLine<'a>(pub &'a NapiCountersSnapshot);

impl fmt::Display for TotalLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TOTAL)?;
        for _ in NAME_COLUMNS.iter().skip(1) {
            write!(f, " {ABSENT}")?;
        }
        write_counters(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::counters::NapiCounters;
    use super::super::ports::parse_ports;
    use super::*;

    fn counters(values: [u64; 9]) -> NapiCountersSnapshot {
        let live = NapiCounters::new();
        for (counter, value) in Counter::ALL.into_iter().zip(values) {
            live.add(counter, value);
        }
        live.snapshot()
    }

    #[test]
    fn the_documented_example() {
        let config = ConfigLine {
            knobs: Knob::ALL.map(Knob::default),
            table: [Some(1), Some(0), Some(0), Some(0)],
        };
        let mut config_with_port = config.clone();
        config_with_port.knobs[Knob::Ports as usize] =
            KnobValue::Ports(parse_ports(b"11211").unwrap());
        let line = counters([10, 5000, 4990, 9, 1, 1_234_000, 3, 7, 1]);
        let text = format!(
            "config {config_with_port}\n{Header}\n{}\n{}\n",
            NapiLine {
                napi_id: 8193,
                dev: "eth0",
                irq: 24,
                state: NapiState::Held,
                counters: &line,
            },
            TotalLine(&line)
        );
        assert_eq!(
            text,
            "config enabled=1 watchdog_us=50000 budget=64 napis=1 reclaimed=0 untracked=0 \
             rests=0 ports=11211\n\
             napi_id dev irq state suspensions app_polls app_packets idle_resumes \
             watchdog_fires held_us service_polls declined early_fires\n\
             8193 eth0 24 held 10 5000 4990 9 1 1234 3 7 1\n\
             total - - - 10 5000 4990 9 1 1234 3 7 1\n"
        );
        assert!(config.to_string().ends_with(" ports=-"));
    }

    #[test]
    fn table_counts_left_out_when_unknown() {
        let config = ConfigLine {
            knobs: Knob::ALL.map(Knob::default),
            table: [None; TableCount::COUNT],
        };
        assert_eq!(
            config.to_string(),
            "enabled=1 watchdog_us=50000 budget=64 ports=-"
        );
    }

    #[test]
    fn unknown_device_and_gone_napi() {
        let zero = NapiCountersSnapshot::default();
        let line = NapiLine {
            napi_id: 8195,
            dev: "",
            irq: -1,
            state: NapiState::Gone,
            counters: &zero,
        };
        assert_eq!(line.to_string(), "8195 - -1 gone 0 0 0 0 0 0 0 0 0");
    }

    #[test]
    fn states_read_back() {
        for state in NapiState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
        assert_eq!("asleep".parse::<NapiState>(), Err(()));
    }

    #[test]
    fn columns_are_names_then_counters() {
        assert_eq!(columns().count(), NAME_COLUMNS.len() + Counter::ALL.len());
        assert_eq!(columns().nth(4), Some("suspensions"));
        assert_eq!(Header.to_string().split(' ').count(), columns().count());
    }
}

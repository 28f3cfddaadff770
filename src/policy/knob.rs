// SPDX-License-Identifier: GPL-2.0

//! The `net.kpoll.*` knobs: what each one is called, what it accepts and its default.
//!
//! [`Knob`] is the one list of them. The module's sysctl table has one entry per knob, the
//! `config` line of `/proc/net/kpoll` shows every knob (see [`super::report`]), and kpollctl
//! checks a value with [`Knob::parse`] before it writes it, so the tool refuses exactly what the
//! kernel refuses. A new knob is a new variant here, plus the code that reads it.
//!
//! Values are written as text (`echo 3000 > /proc/sys/net/kpoll/watchdog_us`). The accepted
//! syntax is deliberately narrow: unsigned decimal only, with optional surrounding whitespace,
//! and for `ports` a list (see [`super::ports`]). A refused value is a [`ConfigError`], which the
//! module turns into `EINVAL`. Everything here is pure; the module calls it in process context,
//! from the sysctl handlers.

use core::{ffi::CStr, fmt};

use super::ports::{self, PortList};
use super::text::parse_u32;

pub use super::text::ConfigError;

/// One `net.kpoll.*` sysctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    /// Whether kpoll may hold queues at all.
    Enabled,
    /// How long a queue stays held after `epoll_wait()` last returned events, in microseconds.
    WatchdogUs,
    /// Packets per NAPI poll from `epoll_wait()`.
    Budget,
    /// Local ports whose sockets are opted in without `SO_KPOLL` (see [`super::ports`]).
    Ports,
}

/// What text a knob accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// `0` (off) or `1` (on).
    Flag,
    /// One unsigned decimal number in `min..=max`.
    Number {
        /// The smallest accepted value.
        min: u32,
        /// The largest accepted value.
        max: u32,
    },
    /// Up to [`ports::MAX_PORTS`] distinct ports; see [`ports::parse_ports`].
    Ports,
}

/// A knob's value, as accepted by [`Knob::parse`].
///
/// Displayed as the sysctl shows it, without the newline: `1`, `3000`, `11211 8080`, or nothing
/// for the empty port list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnobValue {
    /// The value of a [`Accepts::Flag`] (0 or 1) or [`Accepts::Number`] knob.
    Number(u32),
    /// The value of the [`Accepts::Ports`] knob.
    Ports(PortList),
}

impl Knob {
    /// Number of knobs.
    pub const COUNT: usize = 4;

    /// Every knob, in the order the sysctl table, the `config` line and kpollctl list them.
    pub const ALL: [Knob; Knob::COUNT] =
        [Knob::Enabled, Knob::WatchdogUs, Knob::Budget, Knob::Ports];

    /// The sysctl's file name in `/proc/sys/net/kpoll/`, as a C string for the sysctl table.
    pub const fn c_name(self) -> &'static CStr {
        match self {
            Knob::Enabled => c"enabled",
            Knob::WatchdogUs => c"watchdog_us",
            Knob::Budget => c"budget",
            Knob::Ports => c"ports",
        }
    }

    /// The sysctl's file name, also its key on the `config` line of `/proc/net/kpoll`.
    pub const fn name(self) -> &'static str {
        match self.c_name().to_str() {
            Ok(name) => name,
            // The names above are ASCII.
            Err(_) => "",
        }
    }

    /// What the knob accepts.
    pub const fn accepts(self) -> Accepts {
        match self {
            Knob::Enabled => Accepts::Flag,
            // At least 50 µs, at most one second.
            Knob::WatchdogUs => Accepts::Number {
                min: 50,
                max: 1_000_000,
            },
            Knob::Budget => Accepts::Number { min: 1, max: 1024 },
            Knob::Ports => Accepts::Ports,
        }
    }

    /// What a number knob counts, for a tool's messages (`microseconds`).
    #[cfg_attr(
        MODULE,
        expect(dead_code, reason = "only kpollctl describes the knobs")
    )]
    pub const fn unit(self) -> Option<&'static str> {
        match self {
            Knob::WatchdogUs => Some("microseconds"),
            Knob::Budget => Some("packets per poll"),
            Knob::Enabled | Knob::Ports => None,
        }
    }

    /// The value at module load.
    pub const fn default(self) -> KnobValue {
        match self {
            Knob::Enabled => KnobValue::Number(1),
            // 50 ms: only the bound of the adaptive deadline (`rhythm`), reached where a holder
            // comes back slower than every 3 ms; other applications on a held queue are served
            // by service polls meanwhile, whatever the bound.
            Knob::WatchdogUs => KnobValue::Number(50_000),
            // NAPI's usual weight.
            Knob::Budget => KnobValue::Number(64),
            Knob::Ports => KnobValue::Ports(PortList::new()),
        }
    }

    /// Whether a new value can change which sockets are opted in (see [`super::napi_ids`] for
    /// why that starts a new configuration epoch).
    pub const fn decides_opt_in(self) -> bool {
        matches!(self, Knob::Enabled | Knob::Ports)
    }

    /// Parses text written to the knob, e.g. `b"3000\n"`; refuses anything [`Self::accepts`]
    /// does not allow.
    pub fn parse(self, text: &[u8]) -> Result<KnobValue, ConfigError> {
        let (min, max) = match self.accepts() {
            Accepts::Flag => (0, 1),
            Accepts::Number { min, max } => (min, max),
            Accepts::Ports => return ports::parse_ports(text).map(KnobValue::Ports),
        };
        let value = parse_u32(text)?;
        if (min..=max).contains(&value) {
            Ok(KnobValue::Number(value))
        } else {
            Err(ConfigError::OutOfRange)
        }
    }
}

impl fmt::Display for KnobValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobValue::Number(value) => write!(f, "{value}"),
            KnobValue::Ports(list) => write!(f, "{list}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(knob: Knob, text: &[u8]) -> Result<u32, ConfigError> {
        match knob.parse(text)? {
            KnobValue::Number(value) => Ok(value),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_is_in_declaration_order() {
        for (index, knob) in Knob::ALL.iter().enumerate() {
            assert_eq!(*knob as usize, index);
        }
        let names: Vec<_> = Knob::ALL.iter().map(|knob| knob.name()).collect();
        assert_eq!(names, ["enabled", "watchdog_us", "budget", "ports"]);
        for knob in Knob::ALL {
            assert_eq!(knob.c_name().to_str(), Ok(knob.name()));
        }
    }

    #[test]
    fn defaults_are_accepted_values() {
        for knob in Knob::ALL {
            let text = format!("{}\n", knob.default());
            assert_eq!(knob.parse(text.as_bytes()), Ok(knob.default()), "{knob:?}");
        }
        assert_eq!(Knob::WatchdogUs.default(), KnobValue::Number(50_000));
        assert_eq!(Knob::Budget.default(), KnobValue::Number(64));
    }

    #[test]
    fn flag_is_zero_or_one() {
        assert_eq!(number(Knob::Enabled, b"0\n"), Ok(0));
        assert_eq!(number(Knob::Enabled, b"1"), Ok(1));
        assert_eq!(Knob::Enabled.parse(b"2"), Err(ConfigError::OutOfRange));
        assert_eq!(Knob::Enabled.parse(b""), Err(ConfigError::Empty));
        assert_eq!(Knob::Enabled.parse(b"-1"), Err(ConfigError::NotANumber));
        for bad in [&b"yes"[..], b"true", b"01x", b"1 1", b"\n"] {
            assert!(Knob::Enabled.parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(number(Knob::WatchdogUs, b"50"), Ok(50));
        assert_eq!(number(Knob::WatchdogUs, b"1000000"), Ok(1_000_000));
        assert_eq!(Knob::WatchdogUs.parse(b"49"), Err(ConfigError::OutOfRange));
        assert_eq!(
            Knob::WatchdogUs.parse(b"99999999999999999999"),
            Err(ConfigError::OutOfRange)
        );
        assert_eq!(number(Knob::Budget, b"1\n"), Ok(1));
        assert_eq!(number(Knob::Budget, b"1024"), Ok(1024));
        assert_eq!(Knob::Budget.parse(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(Knob::Budget.parse(b"1025"), Err(ConfigError::OutOfRange));
        assert_eq!(Knob::Budget.parse(b"lots"), Err(ConfigError::NotANumber));
    }

    #[test]
    fn ports_parse_and_show_as_a_list() {
        let value = Knob::Ports.parse(b"11211,8080\n").unwrap();
        assert_eq!(value.to_string(), "11211 8080");
        assert_eq!(Knob::Ports.parse(b"5 5"), Err(ConfigError::Duplicate));
        assert_eq!(Knob::Ports.default().to_string(), "");
    }

    #[test]
    fn only_enabled_and_ports_decide_opt_in() {
        let deciding: Vec<_> = Knob::ALL
            .into_iter()
            .filter(|knob| knob.decides_opt_in())
            .collect();
        assert_eq!(deciding, [Knob::Enabled, Knob::Ports]);
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The `net.kpoll.*` sysctl knobs: `enabled`, `watchdog_us`, `budget` and `ports`.
//!
//! The glue keeps one [`Config`] in a static and points its sysctl table's proc handlers at the
//! `set_*` and `format_*` methods, which run in process context. The getters are read from every
//! context: [`Config::sock_opted_in`] from the socket wakeup hook (softirq), [`Config::budget`]
//! when `epoll_wait()` polls a NAPI instance (process context) and [`Config::watchdog_ns`] when
//! events are delivered (process context).
//!
//! Each knob is a single atomic, so a reader sees either the old or the new value, never a mix.
//! Setters parse and range-check the whole text before storing anything, so a refused write
//! changes nothing. Writers of the same knob are expected to be serialised by the caller; that
//! matters only for `ports`, see [`PortSet::store`].

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::ports::{self, PortSet};
use super::text::TextWriter;

pub use super::text::{parse_u32, ConfigError};

/// Default for `watchdog_us`: how long a queue stays held after `epoll_wait()` last returned.
pub const WATCHDOG_US_DEFAULT: u32 = 10_000;
/// Smallest accepted `watchdog_us`.
pub const WATCHDOG_US_MIN: u32 = 50;
/// Largest accepted `watchdog_us` (one second).
pub const WATCHDOG_US_MAX: u32 = 1_000_000;
/// Default for `budget`: packets per NAPI poll from `epoll_wait()`, NAPI's usual weight.
pub const BUDGET_DEFAULT: u32 = 64;
/// Smallest accepted `budget`.
pub const BUDGET_MIN: u32 = 1;
/// Largest accepted `budget`.
pub const BUDGET_MAX: u32 = 1024;

/// The module's tunables, shared by all contexts.
pub struct Config {
    enabled: AtomicBool,
    watchdog_us: AtomicU32,
    budget: AtomicU32,
    ports: PortSet,
    /// Bumped whenever the set of opted-in sockets may have changed (`enabled`, `ports`).
    epoch: AtomicU32,
}

impl Config {
    /// Returns the defaults: enabled, 10 ms watchdog, budget 64, no ports.
    pub const fn new() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            watchdog_us: AtomicU32::new(WATCHDOG_US_DEFAULT),
            budget: AtomicU32::new(BUDGET_DEFAULT),
            ports: PortSet::new(),
            epoch: AtomicU32::new(0),
        }
    }

    /// The configuration epoch: NAPI IDs noted under another epoch are stale (see
    /// [`super::napi_ids`]). Only the low 8 bits are kept in the per-epoll slots.
    pub fn epoch(&self) -> u8 {
        self.epoch.load(Ordering::Relaxed) as u8
    }

    fn new_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts counting epochs at `seed` (module load): the slots of epoll instances that outlive
    /// an unload then belong, very likely, to another epoch than the new module's first one, so
    /// their bits from the old module (ownerships it counted) are not taken for its own.
    pub fn seed_epoch(&self, seed: u32) {
        self.epoch.store(seed, Ordering::Relaxed);
    }

    /// Returns true if kpoll may hold queues at all.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Returns the watchdog period in microseconds, as shown by the sysctl.
    pub fn watchdog_us(&self) -> u32 {
        self.watchdog_us.load(Ordering::Relaxed)
    }

    /// Returns the watchdog period in nanoseconds, ready for [`NapiHold::events_delivered`].
    ///
    /// [`NapiHold::events_delivered`]: super::hold::NapiHold::events_delivered
    pub fn watchdog_ns(&self) -> u64 {
        u64::from(self.watchdog_us()).saturating_mul(1000)
    }

    /// Returns the packet budget for one NAPI poll from `epoll_wait()`.
    pub fn budget(&self) -> u16 {
        let budget = self.budget.load(Ordering::Relaxed);
        // Stored values are at most `BUDGET_MAX`, so the fallback is never taken.
        u16::try_from(budget).unwrap_or(u16::MAX)
    }

    /// Returns the set of opted-in local ports.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    /// Parses and stores `enabled`, which must be 0 or 1.
    pub fn set_enabled(&self, text: &[u8]) -> Result<(), ConfigError> {
        let enabled = match parse_u32(text)? {
            0 => false,
            1 => true,
            _ => return Err(ConfigError::OutOfRange),
        };
        self.enabled.store(enabled, Ordering::Relaxed);
        self.new_epoch();
        Ok(())
    }

    /// Parses and stores `watchdog_us`, which must be in
    /// [`WATCHDOG_US_MIN`]`..=`[`WATCHDOG_US_MAX`].
    ///
    /// Queues that are already held keep their current deadline; the new period applies from the
    /// next `epoll_wait()` that returns events.
    pub fn set_watchdog_us(&self, text: &[u8]) -> Result<(), ConfigError> {
        let watchdog_us = parse_in_range(text, WATCHDOG_US_MIN, WATCHDOG_US_MAX)?;
        self.watchdog_us.store(watchdog_us, Ordering::Relaxed);
        Ok(())
    }

    /// Parses and stores `budget`, which must be in [`BUDGET_MIN`]`..=`[`BUDGET_MAX`].
    pub fn set_budget(&self, text: &[u8]) -> Result<(), ConfigError> {
        let budget = parse_in_range(text, BUDGET_MIN, BUDGET_MAX)?;
        self.budget.store(budget, Ordering::Relaxed);
        Ok(())
    }

    /// Parses and stores `ports`; see [`ports::parse_ports`] for the syntax.
    pub fn set_ports(&self, text: &[u8]) -> Result<(), ConfigError> {
        let list = ports::parse_ports(text)?;
        self.ports.store(&list);
        self.new_epoch();
        Ok(())
    }

    /// Writes `enabled` as `"0\n"` or `"1\n"`; returns the number of bytes written.
    pub fn format_enabled(&self, out: &mut [u8]) -> usize {
        format_line(u64::from(self.enabled()), out)
    }

    /// Writes `watchdog_us` followed by a newline; returns the number of bytes written.
    pub fn format_watchdog_us(&self, out: &mut [u8]) -> usize {
        format_line(u64::from(self.watchdog_us()), out)
    }

    /// Writes `budget` followed by a newline; returns the number of bytes written.
    pub fn format_budget(&self, out: &mut [u8]) -> usize {
        format_line(u64::from(self.budget()), out)
    }

    /// Writes `ports` as in [`ports::format_ports`]; returns the number of bytes written.
    pub fn format_ports(&self, out: &mut [u8]) -> usize {
        ports::format_ports(&self.ports.load(), out)
    }

    /// Decides whether a socket takes part in kpoll.
    ///
    /// `so_kpoll_flag` is the socket's `SO_KPOLL` option and `local_port` its bound local port.
    /// Called from the socket insert (process context) and wakeup (softirq context) hooks.
    pub fn sock_opted_in(&self, so_kpoll_flag: bool, local_port: u16) -> bool {
        self.enabled() && (so_kpoll_flag || self.ports.contains(local_port))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses a `u32` and checks that it lies in `min..=max`.
fn parse_in_range(text: &[u8], min: u32, max: u32) -> Result<u32, ConfigError> {
    let value = parse_u32(text)?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange)
    }
}

/// Writes `value` and a newline into `out`, truncating safely; returns the bytes written.
fn format_line(value: u64, out: &mut [u8]) -> usize {
    let mut writer = TextWriter::new(out);
    writer.decimal(value);
    writer.byte(b'\n');
    writer.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(config: &Config, format: fn(&Config, &mut [u8]) -> usize) -> String {
        let mut buf = [0u8; 128];
        let len = format(config, &mut buf);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn defaults() {
        let config = Config::new();
        assert!(config.enabled());
        assert_eq!(config.watchdog_us(), 10_000);
        assert_eq!(config.watchdog_ns(), 10_000_000);
        assert_eq!(config.budget(), 64);
        assert!(config.ports().load().is_empty());
        assert_eq!(shown(&config, Config::format_enabled), "1\n");
        assert_eq!(shown(&config, Config::format_watchdog_us), "10000\n");
        assert_eq!(shown(&config, Config::format_budget), "64\n");
        assert_eq!(shown(&config, Config::format_ports), "\n");
        assert!(Config::default().enabled());
    }

    #[test]
    fn enabled_accepts_zero_and_one_only() {
        let config = Config::new();
        assert_eq!(config.set_enabled(b"0\n"), Ok(()));
        assert!(!config.enabled());
        assert_eq!(shown(&config, Config::format_enabled), "0\n");
        assert_eq!(config.set_enabled(b"1"), Ok(()));
        assert!(config.enabled());

        config.set_enabled(b"0").unwrap();
        for bad in [
            &b"2"[..],
            b"-1",
            b"",
            b"\n",
            b"yes",
            b"true",
            b"01x",
            b"1 1",
        ] {
            assert!(config.set_enabled(bad).is_err(), "{bad:?}");
            assert!(!config.enabled(), "{bad:?} changed the value");
        }
        assert_eq!(config.set_enabled(b"2"), Err(ConfigError::OutOfRange));
        assert_eq!(config.set_enabled(b""), Err(ConfigError::Empty));
        assert_eq!(config.set_enabled(b"-1"), Err(ConfigError::NotANumber));
    }

    #[test]
    fn watchdog_us_range() {
        let config = Config::new();
        assert_eq!(config.set_watchdog_us(b"3000\n"), Ok(()));
        assert_eq!(config.watchdog_ns(), 3_000_000);
        assert_eq!(shown(&config, Config::format_watchdog_us), "3000\n");
        assert_eq!(config.set_watchdog_us(b"50"), Ok(()));
        assert_eq!(config.watchdog_us(), 50);
        assert_eq!(config.set_watchdog_us(b"1000000"), Ok(()));
        assert_eq!(config.watchdog_ns(), 1_000_000_000);

        config.set_watchdog_us(b"777").unwrap();
        assert_eq!(config.set_watchdog_us(b"49"), Err(ConfigError::OutOfRange));
        assert_eq!(
            config.set_watchdog_us(b"1000001"),
            Err(ConfigError::OutOfRange)
        );
        assert_eq!(config.set_watchdog_us(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(
            config.set_watchdog_us(b"99999999999999999999"),
            Err(ConfigError::OutOfRange)
        );
        assert_eq!(
            config.set_watchdog_us(b"-100"),
            Err(ConfigError::NotANumber)
        );
        assert_eq!(config.set_watchdog_us(b"2ms"), Err(ConfigError::NotANumber));
        assert_eq!(config.set_watchdog_us(b""), Err(ConfigError::Empty));
        assert_eq!(config.watchdog_us(), 777);
    }

    #[test]
    fn budget_range() {
        let config = Config::new();
        assert_eq!(config.set_budget(b"1\n"), Ok(()));
        assert_eq!(config.budget(), 1);
        assert_eq!(config.set_budget(b"1024"), Ok(()));
        assert_eq!(config.budget(), 1024);
        assert_eq!(shown(&config, Config::format_budget), "1024\n");

        config.set_budget(b"128").unwrap();
        assert_eq!(config.set_budget(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(config.set_budget(b"1025"), Err(ConfigError::OutOfRange));
        assert_eq!(config.set_budget(b"65536"), Err(ConfigError::OutOfRange));
        assert_eq!(config.set_budget(b"-1"), Err(ConfigError::NotANumber));
        assert_eq!(config.set_budget(b"lots"), Err(ConfigError::NotANumber));
        assert_eq!(config.set_budget(b" \n"), Err(ConfigError::Empty));
        assert_eq!(config.budget(), 128);
    }

    #[test]
    fn ports_knob() {
        let config = Config::new();
        assert_eq!(config.set_ports(b"11211 8080\n"), Ok(()));
        assert_eq!(shown(&config, Config::format_ports), "11211 8080\n");
        assert!(config.ports().contains(8080));

        assert_eq!(config.set_ports(b"5 5"), Err(ConfigError::Duplicate));
        assert_eq!(config.set_ports(b"11211 0"), Err(ConfigError::OutOfRange));
        assert_eq!(config.set_ports(b"abc"), Err(ConfigError::NotANumber));
        assert_eq!(shown(&config, Config::format_ports), "11211 8080\n");

        assert_eq!(config.set_ports(b"\n"), Ok(()));
        assert_eq!(shown(&config, Config::format_ports), "\n");
    }

    #[test]
    fn formatters_truncate_safely() {
        let config = Config::new();
        let mut small = [0u8; 2];
        assert_eq!(config.format_watchdog_us(&mut small), 2);
        assert_eq!(&small, b"10");
        let mut none = [0u8; 0];
        assert_eq!(config.format_enabled(&mut none), 0);
    }

    #[test]
    fn sock_opt_in() {
        let config = Config::new();
        assert!(config.sock_opted_in(true, 1234));
        assert!(!config.sock_opted_in(false, 11211));
        config.set_ports(b"11211").unwrap();
        assert!(config.sock_opted_in(false, 11211));
        assert!(!config.sock_opted_in(false, 11212));
        assert!(!config.sock_opted_in(false, 0));

        config.set_enabled(b"0").unwrap();
        assert!(!config.sock_opted_in(true, 1234));
        assert!(!config.sock_opted_in(false, 11211));
    }

    #[test]
    fn opt_in_changes_start_a_new_epoch() {
        let config = Config::new();
        let first = config.epoch();
        config.set_watchdog_us(b"3000").unwrap();
        config.set_budget(b"8").unwrap();
        assert_eq!(
            config.epoch(),
            first,
            "timing knobs do not change who is opted in"
        );
        config.set_ports(b"11211").unwrap();
        let second = config.epoch();
        assert_ne!(second, first);
        assert!(config.set_ports(b"0").is_err());
        assert_eq!(config.epoch(), second, "a rejected write changes nothing");
        config.set_enabled(b"0").unwrap();
        assert_ne!(config.epoch(), second);
    }
}

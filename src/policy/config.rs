// SPDX-License-Identifier: GPL-2.0

//! The live values of the `net.kpoll.*` knobs (see [`super::knob`]), shared by all contexts.
//!
//! The module keeps one [`Config`] in its state, which an `Arc` shares between the hook, sysctl
//! and proc registrations. Its sysctl handlers (process context) call [`Config::set`] and
//! [`Config::format`] with the entry's [`Knob`], and `/proc/net/kpoll` shows [`Config::get`]. The
//! getters are read from every context: [`Config::opted_in_epoch`] from the socket wakeup hook
//! (softirq), [`Config::budget`] when `epoll_wait()` polls a NAPI instance (process context) and
//! [`Config::watchdog_ns`] when events are delivered (process context).
//!
//! Each number knob is a single atomic, so a reader sees either the old or the new value, never a
//! mix. [`Config::set`] parses and range-checks the whole text before storing anything, so a
//! refused write changes nothing. Writers must be serialised by the caller (the module's are:
//! `kernel::sysctl::Registration` runs every write under one mutex); that matters only for
//! `ports`, see [`PortSet::store`].

use core::{
    fmt::Write,
    sync::atomic::{AtomicU32, Ordering},
};

use super::knob::{Accepts, Knob, KnobValue};
use super::ports::PortSet;
use super::text::TextWriter;

pub use super::text::ConfigError;

/// The module's tunables, shared by all contexts.
pub struct Config {
    /// The value of every flag and number knob, indexed by [`Knob`] (the `ports` slot is unused).
    numbers: [AtomicU32; Knob::COUNT],
    ports: PortSet,
    /// Bumped whenever the set of opted-in sockets may have changed (`enabled`, `ports`).
    epoch: AtomicU32,
}

impl Config {
    /// Returns every knob at its [`Knob::default`].
    pub fn new() -> Self {
        let config = Self {
            numbers: [const { AtomicU32::new(0) }; Knob::COUNT],
            ports: PortSet::new(),
            epoch: AtomicU32::new(0),
        };
        for knob in Knob::ALL {
            config.store(knob, knob.default());
        }
        config
    }

    /// The configuration epoch: NAPI IDs noted under another epoch are stale (see
    /// [`super::napi_ids`]). Only the low 8 bits are kept in the per-epoll slots.
    ///
    /// This load acquires the increment that follows a knob's store (see [`Self::set`]):
    /// [`Self::opted_in_epoch`] reads it before the knobs, so that a decision made from knob
    /// values that a write is replacing carries the old epoch.
    pub fn epoch(&self) -> u8 {
        self.epoch.load(Ordering::Acquire) as u8
    }

    /// Releases the knob stores before it to every [`Self::epoch`] that reads the new epoch.
    fn new_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Starts counting epochs at `seed` (module load): the slots of epoll instances that outlive
    /// an unload then belong, very likely, to another epoch than the new module's first one, so
    /// the old module's opt-in decisions are made afresh. (Ownerships it counted are ended
    /// whatever their epoch; the per-load holder generation keeps them apart, see
    /// `policy::claim`.)
    pub fn seed_epoch(&self, seed: u32) {
        self.epoch.store(seed, Ordering::Relaxed);
    }

    fn number(&self, knob: Knob) -> u32 {
        self.numbers[knob as usize].load(Ordering::Relaxed)
    }

    /// Returns true if kpoll may hold queues at all.
    pub fn enabled(&self) -> bool {
        self.number(Knob::Enabled) != 0
    }

    /// Returns the watchdog period in microseconds, as shown by the sysctl.
    pub fn watchdog_us(&self) -> u32 {
        self.number(Knob::WatchdogUs)
    }

    /// Returns the watchdog period in nanoseconds, ready for [`NapiHold::events_delivered_for`].
    ///
    /// [`NapiHold::events_delivered_for`]: super::hold::NapiHold::events_delivered_for
    pub fn watchdog_ns(&self) -> u64 {
        u64::from(self.watchdog_us()).saturating_mul(1000)
    }

    /// Returns the packet budget for one NAPI poll from `epoll_wait()`.
    pub fn budget(&self) -> u16 {
        // Stored values are at most 1024 (`Knob::Budget.accepts()`), so the fallback is never
        // taken.
        u16::try_from(self.number(Knob::Budget)).unwrap_or(u16::MAX)
    }

    /// Returns the current value of `knob`.
    pub fn get(&self, knob: Knob) -> KnobValue {
        match knob.accepts() {
            Accepts::Flag | Accepts::Number { .. } => KnobValue::Number(self.number(knob)),
            Accepts::Ports => KnobValue::Ports(self.ports.load()),
        }
    }

    fn store(&self, knob: Knob, value: KnobValue) {
        match value {
            KnobValue::Number(number) => {
                self.numbers[knob as usize].store(number, Ordering::Relaxed)
            }
            KnobValue::Ports(list) => self.ports.store(&list),
        }
    }

    /// Parses `text` as [`Knob::parse`] does and stores the value; stores nothing on error.
    ///
    /// A new `watchdog_us` applies from the next `epoll_wait()` that returns events: queues that
    /// are already held keep their current deadline.
    pub fn set(&self, knob: Knob, text: &[u8]) -> Result<(), ConfigError> {
        self.store(knob, knob.parse(text)?);
        if knob.decides_opt_in() {
            self.new_epoch();
        }
        Ok(())
    }

    /// Writes the value of `knob` and a newline into `out` as the sysctl shows it (`"3000\n"`,
    /// `"11211 8080\n"`), dropping what does not fit; returns the number of bytes written.
    pub fn format(&self, knob: Knob, out: &mut [u8]) -> usize {
        let mut writer = TextWriter::new(out);
        // A `TextWriter` never fails: it drops what does not fit.
        let _ = writeln!(writer, "{}", self.get(knob));
        writer.len()
    }

    /// Decides whether a socket takes part in kpoll.
    ///
    /// `so_kpoll_flag` is the socket's `SO_KPOLL` option, which only `CAP_NET_ADMIN` in the
    /// initial user namespace can set. `port` reads the socket's bound local port if it belongs
    /// to the initial network namespace and returns `None` for a socket of any other, only when
    /// `net.kpoll.ports` is not empty: the port list, written in the initial namespace, opts in
    /// that namespace's sockets only. Packets forwarded into a container keep the host NIC's
    /// NAPI ID, so a container that binds a listed port would otherwise hold a host queue.
    /// Called from the socket insert (process context) and wakeup (softirq context) hooks.
    fn sock_opted_in(&self, so_kpoll_flag: bool, port: impl FnOnce() -> Option<u16>) -> bool {
        // Port 0 is never listed.
        self.enabled() && (so_kpoll_flag || self.ports.contains(|| port().unwrap_or(0)))
    }

    /// `sock_opted_in()` (above), with the epoch to note the socket's NAPI ID in: `None` if the
    /// socket is not opted in. The epoch is read first, so a decision made from knob values
    /// that a concurrent write is replacing is tagged with the old epoch, and made afresh at
    /// the socket's next wakeup.
    pub fn opted_in_epoch(
        &self,
        so_kpoll_flag: bool,
        port: impl FnOnce() -> Option<u16>,
    ) -> Option<u8> {
        let epoch = self.epoch();
        self.sock_opted_in(so_kpoll_flag, port).then_some(epoch)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ports::PortList;
    use super::*;

    fn shown(config: &Config, knob: Knob) -> String {
        let mut buf = [0u8; 128];
        let len = config.format(knob, &mut buf);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn defaults() {
        let config = Config::new();
        assert!(config.enabled());
        assert_eq!(config.watchdog_us(), 50_000);
        assert_eq!(config.watchdog_ns(), 50_000_000);
        assert_eq!(config.budget(), 64);
        assert_eq!(config.get(Knob::Ports), KnobValue::Ports(PortList::new()));
        assert_eq!(shown(&config, Knob::Enabled), "1\n");
        assert_eq!(shown(&config, Knob::WatchdogUs), "50000\n");
        assert_eq!(shown(&config, Knob::Budget), "64\n");
        assert_eq!(shown(&config, Knob::Ports), "\n");
        assert!(Config::default().enabled());
        for knob in Knob::ALL {
            assert_eq!(config.get(knob), knob.default());
        }
    }

    #[test]
    fn enabled_accepts_zero_and_one_only() {
        let config = Config::new();
        assert_eq!(config.set(Knob::Enabled, b"0\n"), Ok(()));
        assert!(!config.enabled());
        assert_eq!(shown(&config, Knob::Enabled), "0\n");
        assert_eq!(config.set(Knob::Enabled, b"1"), Ok(()));
        assert!(config.enabled());

        config.set(Knob::Enabled, b"0").unwrap();
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
            assert!(config.set(Knob::Enabled, bad).is_err(), "{bad:?}");
            assert!(!config.enabled(), "{bad:?} changed the value");
        }
        assert_eq!(
            config.set(Knob::Enabled, b"2"),
            Err(ConfigError::OutOfRange)
        );
        assert_eq!(config.set(Knob::Enabled, b""), Err(ConfigError::Empty));
        assert_eq!(
            config.set(Knob::Enabled, b"-1"),
            Err(ConfigError::NotANumber)
        );
    }

    #[test]
    fn watchdog_us_range() {
        let config = Config::new();
        let set = |text: &[u8]| config.set(Knob::WatchdogUs, text);
        assert_eq!(set(b"3000\n"), Ok(()));
        assert_eq!(config.watchdog_ns(), 3_000_000);
        assert_eq!(shown(&config, Knob::WatchdogUs), "3000\n");
        assert_eq!(set(b"50"), Ok(()));
        assert_eq!(config.watchdog_us(), 50);
        assert_eq!(set(b"1000000"), Ok(()));
        assert_eq!(config.watchdog_ns(), 1_000_000_000);

        set(b"777").unwrap();
        assert_eq!(set(b"49"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"1000001"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"99999999999999999999"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"-100"), Err(ConfigError::NotANumber));
        assert_eq!(set(b"2ms"), Err(ConfigError::NotANumber));
        assert_eq!(set(b""), Err(ConfigError::Empty));
        assert_eq!(config.watchdog_us(), 777);
    }

    #[test]
    fn budget_range() {
        let config = Config::new();
        let set = |text: &[u8]| config.set(Knob::Budget, text);
        assert_eq!(set(b"1\n"), Ok(()));
        assert_eq!(config.budget(), 1);
        assert_eq!(set(b"1024"), Ok(()));
        assert_eq!(config.budget(), 1024);
        assert_eq!(shown(&config, Knob::Budget), "1024\n");

        set(b"128").unwrap();
        assert_eq!(set(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"1025"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"65536"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"-1"), Err(ConfigError::NotANumber));
        assert_eq!(set(b"lots"), Err(ConfigError::NotANumber));
        assert_eq!(set(b" \n"), Err(ConfigError::Empty));
        assert_eq!(config.budget(), 128);
    }

    #[test]
    fn ports_knob() {
        let config = Config::new();
        let set = |text: &[u8]| config.set(Knob::Ports, text);
        assert_eq!(set(b"11211 8080\n"), Ok(()));
        assert_eq!(shown(&config, Knob::Ports), "11211 8080\n");
        assert!(config.sock_opted_in(false, || Some(8080)));

        assert_eq!(set(b"5 5"), Err(ConfigError::Duplicate));
        assert_eq!(set(b"11211 0"), Err(ConfigError::OutOfRange));
        assert_eq!(set(b"abc"), Err(ConfigError::NotANumber));
        assert_eq!(shown(&config, Knob::Ports), "11211 8080\n");

        assert_eq!(set(b"\n"), Ok(()));
        assert_eq!(shown(&config, Knob::Ports), "\n");
    }

    #[test]
    fn formatters_truncate_safely() {
        let config = Config::new();
        let mut small = [0u8; 2];
        assert_eq!(config.format(Knob::WatchdogUs, &mut small), 2);
        assert_eq!(&small, b"50");
        let mut none = [0u8; 0];
        assert_eq!(config.format(Knob::Enabled, &mut none), 0);

        config.set(Knob::Ports, b"11211 8080").unwrap();
        let mut small = [0u8; 7];
        assert_eq!(config.format(Knob::Ports, &mut small), 7);
        assert_eq!(&small, b"11211 8");
    }

    #[test]
    fn sock_opt_in() {
        let config = Config::new();
        assert!(config.sock_opted_in(true, || Some(1234)));
        assert!(!config.sock_opted_in(false, || Some(11211)));
        config.set(Knob::Ports, b"11211").unwrap();
        assert!(config.sock_opted_in(false, || Some(11211)));
        assert!(!config.sock_opted_in(false, || Some(11212)));
        assert!(!config.sock_opted_in(false, || Some(0)));
        // A socket of another network namespace bound to a listed port: not by the port list.
        assert!(!config.sock_opted_in(false, || None));
        assert!(config.sock_opted_in(true, || None));

        config.set(Knob::Enabled, b"0").unwrap();
        assert!(!config.sock_opted_in(true, || Some(1234)));
        assert!(!config.sock_opted_in(false, || Some(11211)));
    }

    #[test]
    fn a_decision_raced_by_a_ports_write_is_tagged_with_the_old_epoch() {
        let config = Config::new();
        config.set(Knob::Ports, b"11211").unwrap();
        let old = config.epoch();
        // The list is replaced while the socket's port is read: the search has already loaded
        // the old list's first port, so the socket is opted in by the old list.
        let tag = config.opted_in_epoch(false, || {
            config.set(Knob::Ports, b"8080").unwrap();
            Some(11211)
        });
        assert_eq!(tag, Some(old));
        assert_ne!(config.epoch(), old, "the write started a new epoch");
        // Decided from the new list, the same socket is not opted in.
        assert_eq!(config.opted_in_epoch(false, || Some(11211)), None);
    }

    #[test]
    fn opt_in_changes_start_a_new_epoch() {
        let config = Config::new();
        let first = config.epoch();
        config.set(Knob::WatchdogUs, b"3000").unwrap();
        config.set(Knob::Budget, b"8").unwrap();
        assert_eq!(
            config.epoch(),
            first,
            "timing knobs do not change who is opted in"
        );
        config.set(Knob::Ports, b"11211").unwrap();
        let second = config.epoch();
        assert_ne!(second, first);
        assert!(config.set(Knob::Ports, b"0").is_err());
        assert_eq!(config.epoch(), second, "a rejected write changes nothing");
        config.set(Knob::Enabled, b"0").unwrap();
        assert_ne!(config.epoch(), second);
    }
}

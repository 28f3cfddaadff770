// SPDX-License-Identifier: GPL-2.0

//! The `net.kpoll.ports` sysctl: local ports whose sockets are opted in to kpoll.
//!
//! Besides setting `SO_KPOLL` on a socket, an administrator can opt in every socket bound to
//! one of a few local ports (for example memcached's 11211) without changing the application.
//! The list is written as decimal ports separated by whitespace or commas, e.g.
//! `echo "11211 8080" > /proc/sys/net/kpoll/ports`, and an empty write clears it.
//!
//! [`parse_ports`] runs in process context (the sysctl proc handler). [`PortSet::contains`] runs
//! in softirq context from the socket wakeup hook for every wakeup, so it is a handful of relaxed
//! atomic loads and takes no lock.

use core::{
    fmt,
    sync::atomic::{AtomicU16, Ordering},
};

use super::text;

pub use super::text::ConfigError;

/// The most ports `net.kpoll.ports` can hold.
pub const MAX_PORTS: usize = 16;

/// A parsed, validated list of up to [`MAX_PORTS`] distinct, nonzero ports.
#[derive(Clone, Copy, Debug)]
pub struct PortList {
    ports: [u16; MAX_PORTS],
    len: usize,
}

impl PortList {
    /// Returns an empty list.
    pub const fn new() -> Self {
        Self {
            ports: [0; MAX_PORTS],
            len: 0,
        }
    }

    /// Returns the ports in the order they were written.
    pub fn as_slice(&self) -> &[u16] {
        self.ports.get(..self.len).unwrap_or(&[])
    }

    /// Returns true if the list holds no port.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `port`, refusing port 0, a port already in the list and a full list.
    pub fn push(&mut self, port: u16) -> Result<(), ConfigError> {
        if port == 0 {
            return Err(ConfigError::OutOfRange);
        }
        if self.as_slice().contains(&port) {
            return Err(ConfigError::Duplicate);
        }
        let slot = self.ports.get_mut(self.len).ok_or(ConfigError::TooMany)?;
        *slot = port;
        self.len += 1;
        Ok(())
    }
}

impl Default for PortList {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for PortList {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PortList {}

impl fmt::Display for PortList {
    /// The ports separated by single spaces (`11211 8080`); nothing for the empty list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, port) in self.as_slice().iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{port}")?;
        }
        Ok(())
    }
}

/// Splits a port list into its non-empty tokens; ASCII whitespace and commas both separate.
pub fn tokens(text: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    text.split(|byte| byte.is_ascii_whitespace() || *byte == b',')
        .filter(|token| !token.is_empty())
}

/// Parses one token of a port list: a decimal port in `1..=65535`.
pub fn parse_port(token: &[u8]) -> Result<u16, ConfigError> {
    match u16::try_from(text::parse_u32(token)?) {
        Ok(0) | Err(_) => Err(ConfigError::OutOfRange),
        Ok(port) => Ok(port),
    }
}

/// Parses the text written to `net.kpoll.ports`.
///
/// Ports are decimal, `1..=65535`, separated by any mix of ASCII whitespace and commas. Blank
/// text (including a lone newline) is the empty list. A sign, a non-digit, port 0, a port above
/// 65535, a duplicate or more than [`MAX_PORTS`] ports refuse the whole write.
pub fn parse_ports(text: &[u8]) -> Result<PortList, ConfigError> {
    let mut list = PortList::new();
    for token in tokens(text) {
        list.push(parse_port(token)?)?;
    }
    Ok(list)
}

/// The live set of opted-in ports, read locklessly from softirq context.
///
/// Slot value 0 means "unused"; port 0 can never be opted in.
pub struct PortSet {
    slots: [AtomicU16; MAX_PORTS],
}

impl PortSet {
    /// Returns an empty set.
    pub const fn new() -> Self {
        Self {
            slots: [const { AtomicU16::new(0) }; MAX_PORTS],
        }
    }

    /// Replaces the set with `list`.
    ///
    /// Process context. Writers must be serialised by the caller, or two of them could leave a
    /// set that neither wrote: the module only stores from its sysctl write handler, which
    /// `kernel::sysctl::Registration` runs under the mutex that serialises every write through
    /// its table. Readers are not excluded: while a write is in progress, a concurrent
    /// [`contains`](Self::contains) sees some slots old and some new. It can then report a port
    /// from either list as present, and a port that is in both lists but moved to a different
    /// slot can briefly look absent. Both are harmless: the answer only decides whether one socket
    /// wakeup records its NAPI ID, and the next wakeup asks again.
    pub fn store(&self, list: &PortList) {
        let ports = list.as_slice();
        for (index, slot) in self.slots.iter().enumerate() {
            slot.store(ports.get(index).copied().unwrap_or(0), Ordering::Relaxed);
        }
    }

    /// Returns true if the port that `port` reads is in the set. Port 0 never matches. An empty
    /// set does not read the port (a call into C for every wakeup of every socket).
    ///
    /// [`store`](Self::store) fills slots from the first, so the search stops at the first
    /// unused slot: with the usual one or two ports, a miss (every wakeup of every socket that
    /// is not opted in) reads a few slots, not [`MAX_PORTS`]. A search racing with a store sees
    /// a mix of the two lists, as described there.
    ///
    /// Softirq context (socket wakeup) or process context (socket insert).
    pub fn contains(&self, port: impl FnOnce() -> u16) -> bool {
        let mut slots = self
            .slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .take_while(|&slot| slot != 0)
            .peekable();
        if slots.peek().is_none() {
            return false;
        }
        let port = port();
        port != 0 && slots.any(|slot| slot == port)
    }

    /// Returns a copy of the set (process context). A sysctl read that raced with a write is
    /// repeated by `kernel::sysctl::Registration` with writers excluded; `/proc/net/kpoll`
    /// takes no lock, so there a racing write can show some ports of each list.
    pub fn load(&self) -> PortList {
        let mut list = PortList::new();
        for slot in &self.slots {
            let port = slot.load(Ordering::Relaxed);
            if port != 0 {
                // A read racing with `store()` can see one port twice; keeping the first copy
                // is the right answer, so the refusal is ignored.
                let _ = list.push(port);
            }
        }
        list
    }
}

impl Default for PortSet {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &[u8]) -> Vec<u16> {
        parse_ports(text).unwrap().as_slice().to_vec()
    }

    fn formatted(list: &PortList) -> String {
        format!("{list}\n")
    }

    #[test]
    fn blank_text_is_the_empty_list() {
        assert!(parse_ports(b"").unwrap().is_empty());
        assert!(parse_ports(b"\n").unwrap().is_empty());
        assert!(parse_ports(b"  \t ,\n").unwrap().is_empty());
    }

    #[test]
    fn good_lists_parse_in_order() {
        assert_eq!(parsed(b"11211"), [11211]);
        assert_eq!(parsed(b"11211 8080\n"), [11211, 8080]);
        assert_eq!(parsed(b"1,2,3"), [1, 2, 3]);
        assert_eq!(parsed(b" 1 ,\t2,,3\n"), [1, 2, 3]);
        assert_eq!(parsed(b"65535 1"), [65535, 1]);
        assert_eq!(parsed(b"080"), [80]);
    }

    #[test]
    fn bad_ports_are_refused() {
        assert_eq!(parse_ports(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(parse_ports(b"65536"), Err(ConfigError::OutOfRange));
        assert_eq!(
            parse_ports(b"99999999999999999999"),
            Err(ConfigError::OutOfRange)
        );
        assert_eq!(parse_ports(b"-1"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"+5"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"abc"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"12a"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"80;81"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"80 x"), Err(ConfigError::NotANumber));
        assert_eq!(parse_ports(b"5 5"), Err(ConfigError::Duplicate));
        assert_eq!(parse_ports(b"5,6,5"), Err(ConfigError::Duplicate));
    }

    #[test]
    fn at_most_max_ports() {
        let sixteen: String = (1..=16).map(|port| format!("{port} ")).collect();
        assert_eq!(
            parse_ports(sixteen.as_bytes()).unwrap().as_slice().len(),
            MAX_PORTS
        );
        let seventeen: String = (1..=17).map(|port| format!("{port} ")).collect();
        assert_eq!(parse_ports(seventeen.as_bytes()), Err(ConfigError::TooMany));
    }

    #[test]
    fn push_checks_each_port() {
        let mut list = PortList::new();
        assert_eq!(list.push(0), Err(ConfigError::OutOfRange));
        assert_eq!(list.push(7), Ok(()));
        assert_eq!(list.push(7), Err(ConfigError::Duplicate));
        assert_eq!(list.as_slice(), [7]);
        assert_eq!(list, parse_ports(b"7").unwrap());
        assert_ne!(list, PortList::default());
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(formatted(&PortList::new()), "\n");
        assert_eq!(formatted(&parse_ports(b"11211").unwrap()), "11211\n");
        let list = parse_ports(b"11211,8080").unwrap();
        assert_eq!(formatted(&list), "11211 8080\n");
        assert_eq!(parse_ports(formatted(&list).as_bytes()), Ok(list));
    }

    #[test]
    fn tokens_split_on_whitespace_and_commas() {
        let mut found = tokens(b" 1,2  3,\n,4\n");
        assert_eq!(found.next(), Some(&b"1"[..]));
        assert_eq!(found.next(), Some(&b"2"[..]));
        assert_eq!(found.next(), Some(&b"3"[..]));
        assert_eq!(found.next(), Some(&b"4"[..]));
        assert_eq!(found.next(), None);
        assert_eq!(tokens(b"").count(), 0);
        assert_eq!(tokens(b" ,\n").count(), 0);
    }

    #[test]
    fn one_port() {
        assert_eq!(parse_port(b"1"), Ok(1));
        assert_eq!(parse_port(b"65535"), Ok(65535));
        assert_eq!(parse_port(b"0"), Err(ConfigError::OutOfRange));
        assert_eq!(parse_port(b"65536"), Err(ConfigError::OutOfRange));
        assert_eq!(parse_port(b"x"), Err(ConfigError::NotANumber));
    }

    #[test]
    fn port_set_store_contains_load() {
        let set = PortSet::new();
        assert!(!set.contains(|| 0));
        assert!(!set.contains(|| 11211));
        assert!(set.load().is_empty());

        let list = parse_ports(b"11211 8080").unwrap();
        set.store(&list);
        assert!(set.contains(|| 11211));
        assert!(set.contains(|| 8080));
        assert!(!set.contains(|| 80));
        assert!(!set.contains(|| 0));
        assert_eq!(set.load(), list);

        set.store(&parse_ports(b"80").unwrap());
        assert!(set.contains(|| 80));
        assert!(!set.contains(|| 11211));
        assert!(!set.contains(|| 8080));
        assert_eq!(set.load().as_slice(), [80]);

        set.store(&PortList::new());
        assert!(!set.contains(|| 80));
        assert!(set.load().is_empty());
    }

    #[test]
    fn an_empty_set_does_not_read_the_port() {
        let set = PortSet::new();
        assert!(!set.contains(|| unreachable!("the port of a socket was read")));
        set.store(&parse_ports(b"80").unwrap());
        let mut read = false;
        assert!(set.contains(|| {
            read = true;
            80
        }));
        assert!(read);
    }

    #[test]
    fn a_search_stops_at_the_first_unused_slot() {
        // A state `store` never leaves: a port after an unused slot is not looked at, which is
        // what keeps a miss to the slots in use.
        let set = PortSet::new();
        set.slots[1].store(80, Ordering::Relaxed);
        assert!(!set.contains(|| 80));
    }

    #[test]
    fn port_set_full() {
        let list = parse_ports(b"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 65535").unwrap();
        let set = PortSet::default();
        set.store(&list);
        assert!(set.contains(|| 1));
        assert!(set.contains(|| 65535));
        assert!(!set.contains(|| 16));
        assert_eq!(set.load(), list);
    }
}

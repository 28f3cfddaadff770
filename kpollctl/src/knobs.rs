//! The `net.kpoll.*` sysctls: checking values, reading and writing them.
//!
//! The knobs, what each accepts and how its value reads are the policy crate's
//! ([`kpoll_policy::knob`]): a value is checked with [`Knob::parse`], the very function the
//! module runs on every write, before anything is written. The pure part ([`parse_value`],
//! [`parse_assignment`], [`merge_ports`]) is unit-tested; [`Sysctls`] does the file I/O.

use std::{
    fmt, fs,
    io::{self, Write},
    path::PathBuf,
};

use kpoll_policy::{
    knob::{Accepts, Knob, KnobValue},
    ports::{self, PortList, MAX_PORTS},
    report::ABSENT,
};

use crate::{error::Error, paths::Paths};

/// Shorter keys `kpollctl set` accepts besides the knobs' names.
const ALIASES: [(&str, Knob); 1] = [("watchdog", Knob::WatchdogUs)];

/// The knob `kpollctl set` means by `key`: a knob's name or an alias.
pub fn knob_from_key(key: &str) -> Option<Knob> {
    let alias = ALIASES.iter().find(|(alias, _)| *alias == key);
    alias
        .map(|&(_, knob)| knob)
        .or_else(|| Knob::ALL.into_iter().find(|knob| knob.name() == key))
}

/// The keys `kpollctl set` accepts, for messages: `enabled, watchdog (or watchdog_us), ...`.
pub fn keys() -> String {
    Knob::ALL.map(key_text).join(", ")
}

/// `knob`'s key with its alias, if any: `watchdog (or watchdog_us)`.
fn key_text(knob: Knob) -> String {
    match ALIASES.iter().find(|(_, aliased)| *aliased == knob) {
        Some((alias, _)) => format!("{alias} (or {})", knob.name()),
        None => knob.name().to_string(),
    }
}

/// What `knob` accepts, for messages.
pub fn allowed(knob: Knob) -> String {
    match knob.accepts() {
        Accepts::Flag => "0 or 1".to_string(),
        Accepts::Number { min, max } => match knob.unit() {
            Some(unit) => format!("an integer in {min}..={max} ({unit})"),
            None => format!("an integer in {min}..={max}"),
        },
        Accepts::Ports => {
            format!("up to {MAX_PORTS} distinct ports in 1..=65535, separated by spaces or commas")
        }
    }
}

/// `kpollctl set --help`: every key and what it accepts, from the policy crate's knobs.
pub fn set_help() -> String {
    let lines: Vec<String> = Knob::ALL
        .into_iter()
        .map(|knob| format!("  {}: {}", key_text(knob), allowed(knob)))
        .collect();
    format!(
        "Set knobs.\n\nKeys:\n{}\n\n`ports=` clears the port list. Every value is validated \
         before anything is written, then each knob prints `name: old -> new` (or \
         `name: value (unchanged)`).",
        lines.join("\n")
    )
}

/// Parses `text` for `knob` as the kernel would, or says why the kernel would refuse it.
pub fn parse_value(knob: Knob, text: &str) -> Result<KnobValue, String> {
    let why = match knob.parse(text.as_bytes()) {
        Ok(value) => return Ok(value),
        Err(_) if knob.accepts() == Accepts::Ports => why_ports_refused(text),
        Err(refusal) => refusal.to_string(),
    };
    Err(format!(
        "invalid value {text:?} for {}: {why}; allowed: {}",
        knob.name(),
        allowed(knob)
    ))
}

/// Names what is wrong with a port list the kernel refuses: the first token that is not a port,
/// else the first port given twice, else the number of ports.
fn why_ports_refused(text: &str) -> String {
    let mut seen = Vec::new();
    for token in ports::tokens(text.as_bytes()) {
        let Ok(port) = ports::parse_port(token) else {
            return format!("{:?} is not a port", String::from_utf8_lossy(token));
        };
        if seen.contains(&port) {
            return format!("port {port} appears twice");
        }
        seen.push(port);
    }
    format!("{} ports", seen.len())
}

/// Parses one `key=value` argument of `kpollctl set`.
pub fn parse_assignment(arg: &str) -> Result<(Knob, KnobValue), String> {
    let (key, text) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, found {arg:?} (keys: {})", keys()))?;
    let knob = knob_from_key(key)
        .ok_or_else(|| format!("unknown setting {key:?} in {arg:?} (keys: {})", keys()))?;
    Ok((knob, parse_value(knob, text)?))
}

/// Parses all `set` arguments; a knob given twice is an error.
pub fn parse_assignments(args: &[String]) -> Result<Vec<(Knob, KnobValue)>, String> {
    let mut parsed: Vec<(Knob, KnobValue)> = Vec::new();
    for arg in args {
        let (knob, value) = parse_assignment(arg)?;
        if parsed.iter().any(|(seen, _)| *seen == knob) {
            return Err(format!("{} is given more than once", knob.name()));
        }
        parsed.push((knob, value));
    }
    Ok(parsed)
}

/// `current` with `add` appended (skipping ports already present) and `remove` taken out.
pub fn merge_ports(current: &[u16], add: &[u16], remove: &[u16]) -> Result<PortList, String> {
    let mut ports: Vec<u16> = current
        .iter()
        .copied()
        .filter(|port| !remove.contains(port))
        .collect();
    for &port in add {
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ports.len() > MAX_PORTS {
        return Err(format!(
            "invalid value for ports: {} ports would exceed the limit of {MAX_PORTS}",
            ports.len()
        ));
    }
    let mut list = PortList::new();
    for port in ports {
        list.push(port)
            .map_err(|why| format!("invalid value for ports: port {port}: {why}"))?;
    }
    Ok(list)
}

/// `value` as kpollctl shows it: as the sysctl reads, but `-` for the empty port list.
fn shown(value: &KnobValue) -> String {
    match value {
        KnobValue::Ports(list) if list.is_empty() => ABSENT.to_string(),
        value => value.to_string(),
    }
}

/// A knob's value before and after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub knob: Knob,
    pub old: KnobValue,
    pub new: KnobValue,
}

impl fmt::Display for Change {
    /// `watchdog_us: 10000 -> 5000`, or `budget: 64 (unchanged)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.old == self.new {
            write!(f, "{}: {} (unchanged)", self.knob.name(), shown(&self.old))
        } else {
            let (old, new) = (shown(&self.old), shown(&self.new));
            write!(f, "{}: {old} -> {new}", self.knob.name())
        }
    }
}

/// The sysctl directory of a (possibly fake) root.
pub struct Sysctls {
    dir: PathBuf,
}

impl Sysctls {
    /// Fails with the "not loaded" error when `/proc/sys/net/kpoll` is missing.
    pub fn open(paths: &Paths) -> Result<Sysctls, Error> {
        let dir = paths.sysctl_dir();
        if !dir.is_dir() {
            return Err(Error::NotLoaded { path: dir });
        }
        Ok(Sysctls { dir })
    }

    fn path(&self, knob: Knob) -> PathBuf {
        self.dir.join(knob.name())
    }

    /// Reads and validates the current value.
    pub fn read(&self, knob: Knob) -> Result<KnobValue, Error> {
        let path = self.path(knob);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) if source.kind() == io::ErrorKind::NotFound && !self.dir.is_dir() => {
                return Err(Error::NotLoaded {
                    path: self.dir.clone(),
                })
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        parse_value(knob, &text).map_err(|message| Error::BadKnob { path, message })
    }

    /// Reads the current port list.
    pub fn read_ports(&self) -> Result<PortList, Error> {
        match self.read(Knob::Ports)? {
            KnobValue::Ports(ports) => Ok(ports),
            // `Knob::Ports.parse` returns `KnobValue::Ports`.
            KnobValue::Number(_) => Ok(PortList::new()),
        }
    }

    /// Writes `value` followed by a newline in one `write()`, like `echo`.
    pub fn write(&self, knob: Knob, value: &KnobValue) -> Result<(), Error> {
        let path = self.path(knob);
        let text = format!("{value}\n");
        // No `create`: a knob missing from a loaded module is an error, not a new file.
        let result = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        result.map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound && !self.dir.is_dir() {
                Error::NotLoaded {
                    path: self.dir.clone(),
                }
            } else {
                Error::from_write(path, text.trim_end(), source)
            }
        })
    }

    /// Applies `changes` in order, calling `report` after each, skipping unchanged values.
    pub fn apply(
        &self,
        wanted: &[(Knob, KnobValue)],
        mut report: impl FnMut(&Change),
    ) -> Result<(), Error> {
        // Read everything first so that a read error changes nothing.
        let mut changes = Vec::new();
        for (knob, new) in wanted {
            changes.push(Change {
                knob: *knob,
                old: self.read(*knob)?,
                new: *new,
            });
        }
        for change in &changes {
            if change.old != change.new {
                self.write(change.knob, &change.new)?;
            }
            report(change);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(knob: Knob, text: &str) -> Result<u32, String> {
        match parse_value(knob, text)? {
            KnobValue::Number(value) => Ok(value),
            other => panic!("{other:?}"),
        }
    }

    fn ports(text: &str) -> Result<Vec<u16>, String> {
        match parse_value(Knob::Ports, text)? {
            KnobValue::Ports(ports) => Ok(ports.as_slice().to_vec()),
            other => panic!("{other:?}"),
        }
    }

    /// The port list knob value of `ports`.
    fn list(ports: &[u16]) -> KnobValue {
        let mut list = PortList::new();
        for &port in ports {
            list.push(port).unwrap();
        }
        KnobValue::Ports(list)
    }

    fn merged(current: &[u16], add: &[u16], remove: &[u16]) -> Result<Vec<u16>, String> {
        merge_ports(current, add, remove).map(|list| list.as_slice().to_vec())
    }

    #[test]
    fn ranges_match_the_kernel() {
        assert_eq!(number(Knob::Enabled, "0"), Ok(0));
        assert_eq!(number(Knob::Enabled, "1\n"), Ok(1));
        assert!(number(Knob::Enabled, "2").is_err());
        assert_eq!(number(Knob::WatchdogUs, "50"), Ok(50));
        assert_eq!(number(Knob::WatchdogUs, "1000000"), Ok(1_000_000));
        assert!(number(Knob::WatchdogUs, "49").is_err());
        assert!(number(Knob::WatchdogUs, "1000001").is_err());
        assert_eq!(number(Knob::Budget, "1"), Ok(1));
        assert_eq!(number(Knob::Budget, "1024"), Ok(1024));
        assert!(number(Knob::Budget, "0").is_err());
        assert!(number(Knob::Budget, "1025").is_err());
        for bad in [
            "",
            " ",
            "-1",
            "+1",
            "0x10",
            "1.5",
            "abc",
            "1 2",
            "99999999999",
        ] {
            assert!(number(Knob::Budget, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_knob_and_the_range() {
        let err = parse_value(Knob::WatchdogUs, "20").unwrap_err();
        assert!(err.contains("watchdog_us"), "{err}");
        assert!(err.contains("50..=1000000"), "{err}");
        let err = parse_value(Knob::Budget, "abc").unwrap_err();
        assert!(err.contains("budget"), "{err}");
        assert!(err.contains("1..=1024"), "{err}");
    }

    #[test]
    fn port_lists() {
        assert_eq!(ports(""), Ok(vec![]));
        assert_eq!(ports("\n"), Ok(vec![]));
        assert_eq!(ports("11211 8080\n"), Ok(vec![11211, 8080]));
        assert_eq!(ports("1,65535"), Ok(vec![1, 65535]));
        assert!(ports("0").is_err());
        assert!(ports("65536").is_err());
        assert!(ports("80 80").is_err());
        assert!(ports("-").is_err());
        let sixteen: Vec<String> = (1..=16).map(|p: u16| p.to_string()).collect();
        assert_eq!(ports(&sixteen.join(" ")).unwrap().len(), 16);
        let seventeen: Vec<String> = (1..=17).map(|p: u16| p.to_string()).collect();
        assert!(ports(&seventeen.join(" ")).is_err());
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("watchdog=5000"),
            Ok((Knob::WatchdogUs, KnobValue::Number(5000)))
        );
        assert_eq!(
            parse_assignment("watchdog_us=5000"),
            Ok((Knob::WatchdogUs, KnobValue::Number(5000)))
        );
        assert_eq!(
            parse_assignment("ports=11211,8080"),
            Ok((Knob::Ports, list(&[11211, 8080])))
        );
        assert_eq!(parse_assignment("ports="), Ok((Knob::Ports, list(&[]))));
        assert!(parse_assignment("budget")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_assignment("speed=9").unwrap_err().contains("unknown"));
        assert!(parse_assignment("budget=abc").is_err());
        let twice = parse_assignments(&["budget=1".into(), "budget=2".into()]);
        assert!(twice.unwrap_err().contains("more than once"));
        let watchdog_twice = parse_assignments(&["watchdog=100".into(), "watchdog_us=200".into()]);
        assert!(watchdog_twice.is_err());
        assert_eq!(
            parse_assignments(&["enabled=0".into(), "budget=8".into()])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn merging_ports() {
        assert_eq!(merged(&[11211], &[8080, 11211], &[]), Ok(vec![11211, 8080]));
        assert_eq!(merged(&[], &[1, 1], &[]), Ok(vec![1]));
        assert_eq!(merged(&[1, 2, 3], &[], &[2, 9]), Ok(vec![1, 3]));
        let full: Vec<u16> = (1..=16).collect();
        assert!(merged(&full, &[17], &[]).is_err());
        assert_eq!(merged(&full, &[16], &[]).unwrap().len(), 16);
    }

    #[test]
    fn change_display() {
        let change = Change {
            knob: Knob::WatchdogUs,
            old: KnobValue::Number(10000),
            new: KnobValue::Number(5000),
        };
        assert_eq!(change.to_string(), "watchdog_us: 10000 -> 5000");
        let ports = Change {
            knob: Knob::Ports,
            old: list(&[]),
            new: list(&[11211, 8080]),
        };
        assert_eq!(ports.to_string(), "ports: - -> 11211 8080");
        let same = Change {
            knob: Knob::Budget,
            old: KnobValue::Number(64),
            new: KnobValue::Number(64),
        };
        assert_eq!(same.to_string(), "budget: 64 (unchanged)");
    }
}

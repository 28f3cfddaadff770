//! The `net.kpoll.*` sysctls: validation (the same rules as the kernel), reading and writing.
//!
//! | knob          | file                               | accepted                                 |
//! |---------------|------------------------------------|------------------------------------------|
//! | `enabled`     | `/proc/sys/net/kpoll/enabled`      | `0` or `1`                               |
//! | `watchdog_us` | `/proc/sys/net/kpoll/watchdog_us`  | `50..=1000000` (microseconds)            |
//! | `budget`      | `/proc/sys/net/kpoll/budget`       | `1..=1024` (packets per poll)            |
//! | `ports`       | `/proc/sys/net/kpoll/ports`        | up to 16 distinct ports in `1..=65535`   |
//!
//! Numbers are unsigned decimal only (no sign, no `0x`), as in the kernel's parser. The pure
//! part ([`parse_assignment`], [`Value::parse`], [`merge_ports`]) is unit-tested; [`Sysctls`]
//! does the file I/O.

use std::{
    fmt, fs,
    io::{self, Write},
    path::PathBuf,
};

use crate::{error::Error, paths::Paths};

/// The most ports `net.kpoll.ports` holds.
pub const MAX_PORTS: usize = 16;
pub const WATCHDOG_US_MIN: u32 = 50;
pub const WATCHDOG_US_MAX: u32 = 1_000_000;
pub const BUDGET_MIN: u32 = 1;
pub const BUDGET_MAX: u32 = 1024;

/// One sysctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    Enabled,
    WatchdogUs,
    Budget,
    Ports,
}

impl Knob {
    /// The sysctl's file name (and the name printed in changes).
    pub fn name(self) -> &'static str {
        match self {
            Knob::Enabled => "enabled",
            Knob::WatchdogUs => "watchdog_us",
            Knob::Budget => "budget",
            Knob::Ports => "ports",
        }
    }

    /// The key accepted by `kpollctl set`: the file name, or `watchdog` for `watchdog_us`.
    pub fn from_key(key: &str) -> Option<Knob> {
        match key {
            "enabled" => Some(Knob::Enabled),
            "watchdog" | "watchdog_us" => Some(Knob::WatchdogUs),
            "budget" => Some(Knob::Budget),
            "ports" => Some(Knob::Ports),
            _ => None,
        }
    }

    /// What the knob accepts, for error messages.
    pub fn allowed(self) -> String {
        match self {
            Knob::Enabled => "0 or 1".to_string(),
            Knob::WatchdogUs => {
                format!("an integer in {WATCHDOG_US_MIN}..={WATCHDOG_US_MAX} (microseconds)")
            }
            Knob::Budget => format!("an integer in {BUDGET_MIN}..={BUDGET_MAX} (packets per poll)"),
            Knob::Ports => format!(
                "up to {MAX_PORTS} distinct ports in 1..=65535, separated by spaces or commas"
            ),
        }
    }
}

/// A validated knob value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Number(u32),
    Ports(Vec<u16>),
}

impl Value {
    /// Parses `text` for `knob`, applying the kernel's checks.
    pub fn parse(knob: Knob, text: &str) -> Result<Value, String> {
        let invalid = |why: &str| {
            format!(
                "invalid value {text:?} for {}: {why}; allowed: {}",
                knob.name(),
                knob.allowed()
            )
        };
        match knob {
            Knob::Ports => {
                let mut ports = Vec::new();
                for token in text
                    .split(|c: char| c.is_ascii_whitespace() || c == ',')
                    .filter(|token| !token.is_empty())
                {
                    let port = parse_u32(token)
                        .ok()
                        .and_then(|value| u16::try_from(value).ok())
                        .filter(|&port| port != 0)
                        .ok_or_else(|| invalid(&format!("{token:?} is not a port")))?;
                    if ports.contains(&port) {
                        return Err(invalid(&format!("port {port} appears twice")));
                    }
                    ports.push(port);
                }
                if ports.len() > MAX_PORTS {
                    return Err(invalid(&format!("{} ports", ports.len())));
                }
                Ok(Value::Ports(ports))
            }
            _ => {
                let value = parse_u32(text).map_err(&invalid)?;
                let (min, max) = match knob {
                    Knob::Enabled => (0, 1),
                    Knob::WatchdogUs => (WATCHDOG_US_MIN, WATCHDOG_US_MAX),
                    _ => (BUDGET_MIN, BUDGET_MAX),
                };
                if !(min..=max).contains(&value) {
                    return Err(invalid("out of range"));
                }
                Ok(Value::Number(value))
            }
        }
    }

    /// The text written to the sysctl (without the newline).
    pub fn sysctl_text(&self) -> String {
        match self {
            Value::Number(value) => value.to_string(),
            Value::Ports(ports) => ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl fmt::Display for Value {
    /// Like [`Value::sysctl_text`], but an empty port list shows as `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Ports(ports) if ports.is_empty() => f.write_str("-"),
            _ => f.write_str(&self.sysctl_text()),
        }
    }
}

/// Unsigned decimal `u32` with optional surrounding whitespace, like the kernel's `parse_u32`.
fn parse_u32(text: &str) -> Result<u32, &'static str> {
    let digits = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if digits.is_empty() {
        return Err("empty");
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an unsigned decimal number");
    }
    digits.parse().map_err(|_| "out of range")
}

/// Parses one `key=value` argument of `kpollctl set`.
pub fn parse_assignment(arg: &str) -> Result<(Knob, Value), String> {
    let (key, text) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, found {arg:?} (keys: {KEYS})"))?;
    let knob = Knob::from_key(key)
        .ok_or_else(|| format!("unknown setting {key:?} in {arg:?} (keys: {KEYS})"))?;
    Ok((knob, Value::parse(knob, text)?))
}

/// The keys `kpollctl set` accepts, for messages.
pub const KEYS: &str = "enabled, watchdog (or watchdog_us), budget, ports";

/// Parses all `set` arguments; a knob given twice is an error.
pub fn parse_assignments(args: &[String]) -> Result<Vec<(Knob, Value)>, String> {
    let mut parsed: Vec<(Knob, Value)> = Vec::new();
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
pub fn merge_ports(current: &[u16], add: &[u16], remove: &[u16]) -> Result<Vec<u16>, String> {
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
    Ok(ports)
}

/// A knob's value before and after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub knob: Knob,
    pub old: Value,
    pub new: Value,
}

impl fmt::Display for Change {
    /// `watchdog_us: 10000 -> 5000`, or `budget: 64 (unchanged)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.old == self.new {
            write!(f, "{}: {} (unchanged)", self.knob.name(), self.old)
        } else {
            write!(f, "{}: {} -> {}", self.knob.name(), self.old, self.new)
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
    pub fn read(&self, knob: Knob) -> Result<Value, Error> {
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
        Value::parse(knob, &text).map_err(|message| Error::BadKnob { path, message })
    }

    /// Reads the current port list.
    pub fn read_ports(&self) -> Result<Vec<u16>, Error> {
        match self.read(Knob::Ports)? {
            Value::Ports(ports) => Ok(ports),
            // `Value::parse` returns `Value::Ports` for `Knob::Ports`.
            Value::Number(_) => Ok(Vec::new()),
        }
    }

    /// Writes `value` followed by a newline in one `write()`, like `echo`.
    pub fn write(&self, knob: Knob, value: &Value) -> Result<(), Error> {
        let path = self.path(knob);
        let text = format!("{}\n", value.sysctl_text());
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
        wanted: &[(Knob, Value)],
        mut report: impl FnMut(&Change),
    ) -> Result<(), Error> {
        // Read everything first so that a read error changes nothing.
        let mut changes = Vec::new();
        for (knob, new) in wanted {
            changes.push(Change {
                knob: *knob,
                old: self.read(*knob)?,
                new: new.clone(),
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
        match Value::parse(knob, text)? {
            Value::Number(value) => Ok(value),
            other => panic!("{other:?}"),
        }
    }

    fn ports(text: &str) -> Result<Vec<u16>, String> {
        match Value::parse(Knob::Ports, text)? {
            Value::Ports(ports) => Ok(ports),
            other => panic!("{other:?}"),
        }
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
        let err = Value::parse(Knob::WatchdogUs, "20").unwrap_err();
        assert!(err.contains("watchdog_us"), "{err}");
        assert!(err.contains("50..=1000000"), "{err}");
        let err = Value::parse(Knob::Budget, "abc").unwrap_err();
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
            Ok((Knob::WatchdogUs, Value::Number(5000)))
        );
        assert_eq!(
            parse_assignment("watchdog_us=5000"),
            Ok((Knob::WatchdogUs, Value::Number(5000)))
        );
        assert_eq!(
            parse_assignment("ports=11211,8080"),
            Ok((Knob::Ports, Value::Ports(vec![11211, 8080])))
        );
        assert_eq!(
            parse_assignment("ports="),
            Ok((Knob::Ports, Value::Ports(vec![])))
        );
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
        assert_eq!(
            merge_ports(&[11211], &[8080, 11211], &[]),
            Ok(vec![11211, 8080])
        );
        assert_eq!(merge_ports(&[], &[1, 1], &[]), Ok(vec![1]));
        assert_eq!(merge_ports(&[1, 2, 3], &[], &[2, 9]), Ok(vec![1, 3]));
        let full: Vec<u16> = (1..=16).collect();
        assert!(merge_ports(&full, &[17], &[]).is_err());
        assert_eq!(merge_ports(&full, &[16], &[]).unwrap().len(), 16);
    }

    #[test]
    fn change_display() {
        let change = Change {
            knob: Knob::WatchdogUs,
            old: Value::Number(10000),
            new: Value::Number(5000),
        };
        assert_eq!(change.to_string(), "watchdog_us: 10000 -> 5000");
        let ports = Change {
            knob: Knob::Ports,
            old: Value::Ports(vec![]),
            new: Value::Ports(vec![11211, 8080]),
        };
        assert_eq!(ports.to_string(), "ports: - -> 11211 8080");
        let same = Change {
            knob: Knob::Budget,
            old: Value::Number(64),
            new: Value::Number(64),
        };
        assert_eq!(same.to_string(), "budget: 64 (unchanged)");
    }
}

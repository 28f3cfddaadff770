//! Parser for `/proc/net/kpoll`.
//!
//! The file has a stable format (see the module's `report.rs` and the top-level README):
//!
//! ```text
//! config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=0 untracked=0 ports=11211
//! napi_id dev irq state suspensions app_polls app_packets idle_resumes watchdog_fires held_us service_polls declined early_fires
//! 8193 eth0 -1 held 1742 263115 4168620 1739 2 49895170 3 12 1
//! total - - - 1742 263115 4168620 1739 2 49895170 3 12 1
//! ```
//!
//! Line 1 is `config` followed by `key=value` pairs; `ports=` takes everything up to the end of
//! the line (a space-separated list, or `-` when empty). Line 2 names the columns ([`COLUMNS`]).
//! Then come zero or more NAPI lines and a final `total` line. Everything here is pure: [`parse`]
//! takes the text and returns a [`Report`] or a [`ParseError`] naming the 1-based line number.
//!
//! Older modules are still read: without the `napis=`, `reclaimed=` and `untracked=` config keys
//! (the fields are `None`), and with the ten-column header that ends at `held_us`
//! ([`Counters::service_polls`] is `None`) or the eleven-column one that ends at
//! `service_polls` ([`Counters::declined`] and [`Counters::early_fires`] are `None`). Unknown config keys are ignored, so that a newer
//! module still parses.

/// The column names of the header line, in order: the only list of them in kpollctl.
pub const COLUMNS: [&str; 13] = [
    "napi_id",
    "dev",
    "irq",
    "state",
    "suspensions",
    "app_polls",
    "app_packets",
    "idle_resumes",
    "watchdog_fires",
    "held_us",
    "service_polls",
    "declined",
    "early_fires",
];

/// The columns that name a line (`napi_id dev irq state`); the rest are counters.
const NAME_COLUMNS: usize = 4;

/// The counter columns, `suspensions` to `early_fires`, in order (JSON uses these names).
pub const COUNTER_COLUMNS: &[&str] = COLUMNS.split_at(NAME_COLUMNS).1;

/// Number of counter columns.
pub const COUNTERS: usize = COLUMNS.len() - NAME_COLUMNS;

/// The headers of older modules: without `service_polls` (ten columns) and without `declined`
/// and `early_fires` (eleven).
const OLDER_COLUMNS: [&[&str]; 2] = [COLUMNS.split_at(10).0, COLUMNS.split_at(11).0];

/// The `config` line: the values of the `net.kpoll.*` sysctls when the file was read, and the
/// NAPI table's counts (`None` from a module that does not print them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub enabled: bool,
    pub watchdog_us: u32,
    pub budget: u32,
    /// `napis=`: NAPI table entries in use.
    pub napis: Option<u64>,
    /// `reclaimed=`: entries reused for a new NAPI ID after their NAPI disappeared.
    pub reclaimed: Option<u64>,
    /// `untracked=`: times a NAPI could not be managed because every entry served a live NAPI.
    pub untracked: Option<u64>,
    pub ports: Vec<u16>,
}

/// What the kernel says about a NAPI instance's interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NapiState {
    /// The IRQ is masked: the application polls the queue from `epoll_wait()`.
    Held,
    /// The IRQ is live: the queue runs in interrupt/softirq context as usual.
    Irq,
    /// The NAPI instance no longer exists (device removed or reconfigured).
    Gone,
}

impl NapiState {
    /// The spelling used in `/proc/net/kpoll` and in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            NapiState::Held => "held",
            NapiState::Irq => "irq",
            NapiState::Gone => "gone",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "held" => Some(NapiState::Held),
            "irq" => Some(NapiState::Irq),
            "gone" => Some(NapiState::Gone),
            _ => None,
        }
    }
}

/// The monotonic counters of a NAPI line or of the total line, one per [`COUNTER_COLUMNS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Times the IRQ was masked because the application had work.
    pub suspensions: u64,
    /// NAPI polls run from `epoll_wait()`.
    pub app_polls: u64,
    /// Packets received by those polls.
    pub app_packets: u64,
    /// Holds ended because the application went idle (IRQ re-armed).
    pub idle_resumes: u64,
    /// Holds ended by the watchdog (application stopped calling `epoll_wait()`).
    pub watchdog_fires: u64,
    /// Total time the IRQ was held masked, in microseconds.
    pub held_us: u64,
    /// Polls the watchdog scheduled on a held queue while its holder was busy outside
    /// `epoll_wait()` for longer than a service interval; `None` from a module without the
    /// column.
    pub service_polls: Option<u64>,
    /// Holds not taken because the queue's recent holds polled too little to pay; `None` from
    /// a module without the column.
    pub declined: Option<u64>,
    /// Watchdog fires decided by the adaptive deadline (before `watchdog_us`); `None` from a
    /// module without the column.
    pub early_fires: Option<u64>,
}

impl Counters {
    /// The values in [`COUNTER_COLUMNS`] order (`None`: the column is missing).
    pub fn values(&self) -> [Option<u64>; COUNTERS] {
        [
            Some(self.suspensions),
            Some(self.app_polls),
            Some(self.app_packets),
            Some(self.idle_resumes),
            Some(self.watchdog_fires),
            Some(self.held_us),
            self.service_polls,
            self.declined,
            self.early_fires,
        ]
    }

    /// `self - earlier`, field by field, never below zero (a module reload resets counters).
    /// A counter `earlier` lacks counts from zero; one `self` lacks stays `None`.
    pub fn delta(&self, earlier: &Counters) -> Counters {
        Counters {
            suspensions: self.suspensions.saturating_sub(earlier.suspensions),
            app_polls: self.app_polls.saturating_sub(earlier.app_polls),
            app_packets: self.app_packets.saturating_sub(earlier.app_packets),
            idle_resumes: self.idle_resumes.saturating_sub(earlier.idle_resumes),
            watchdog_fires: self.watchdog_fires.saturating_sub(earlier.watchdog_fires),
            held_us: self.held_us.saturating_sub(earlier.held_us),
            service_polls: optional_delta(self.service_polls, earlier.service_polls),
            declined: optional_delta(self.declined, earlier.declined),
            early_fires: optional_delta(self.early_fires, earlier.early_fires),
        }
    }
}

/// `now - earlier` of an optional counter: `None` if `now` lacks it, counted from zero if only
/// `earlier` does.
fn optional_delta(now: Option<u64>, earlier: Option<u64>) -> Option<u64> {
    now.map(|now| now.saturating_sub(earlier.unwrap_or(0)))
}

/// One NAPI line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Napi {
    pub napi_id: u32,
    /// Device name; `None` when the file shows `-`.
    pub dev: Option<String>,
    /// IRQ number; `None` when the file shows `-1` (the driver did not tell NAPI its IRQ).
    pub irq: Option<u32>,
    pub state: NapiState,
    pub counters: Counters,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub config: Config,
    pub napis: Vec<Napi>,
    /// The `total` line: the NAPI lines plus the entries reclaimed for other NAPIs, so it never
    /// decreases while the module stays loaded.
    pub total: Counters,
}

pub use crate::parse_error::ParseError;

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::new(line, message)
}

/// Parses the full text of `/proc/net/kpoll`.
pub fn parse(text: &str) -> Result<Report, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));

    let (number, line) = lines.next().ok_or_else(|| error(1, "file is empty"))?;
    let config = parse_config(number, line)?;

    let (number, line) = lines
        .next()
        .ok_or_else(|| error(2, "missing the column header line"))?;
    let width = parse_header(number, line)?;

    let mut napis = Vec::new();
    let mut total = None;
    let mut last = 2;
    for (number, line) in lines {
        last = number;
        if line.trim().is_empty() {
            continue;
        }
        if total.is_some() {
            return Err(error(number, "unexpected line after the `total` line"));
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != width {
            return Err(error(
                number,
                format!(
                    "expected {width} fields, found {}: {:?}",
                    fields.len(),
                    line
                ),
            ));
        }
        let counters = parse_counters(number, &fields[NAME_COLUMNS..])?;
        if fields[0] == "total" {
            if fields[1..NAME_COLUMNS] != ["-", "-", "-"] {
                return Err(error(
                    number,
                    "the `total` line must have `-` for dev, irq and state",
                ));
            }
            total = Some(counters);
        } else {
            napis.push(parse_napi(number, &fields, counters)?);
        }
    }
    let total = total.ok_or_else(|| error(last + 1, "missing the final `total` line"))?;
    Ok(Report {
        config,
        napis,
        total,
    })
}

fn parse_config(number: usize, line: &str) -> Result<Config, ParseError> {
    let rest = line
        .strip_prefix("config ")
        .ok_or_else(|| error(number, format!("expected a `config` line, found {line:?}")))?;
    // `ports=` runs to the end of the line, so split it off before looking at the other pairs.
    let (pairs, ports) = match rest.find("ports=") {
        Some(at) if at == 0 || rest.as_bytes()[at - 1] == b' ' => {
            (&rest[..at], Some(&rest[at + "ports=".len()..]))
        }
        _ => (rest, None),
    };
    let mut enabled = None;
    let mut watchdog_us = None;
    let mut budget = None;
    let mut napis = None;
    let mut reclaimed = None;
    let mut untracked = None;
    for pair in pairs.split_whitespace() {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            error(
                number,
                format!("expected key=value in config, found {pair:?}"),
            )
        })?;
        let not_a_number = || {
            error(
                number,
                format!("config value {key}={value:?} is not an unsigned number"),
            )
        };
        let number_value = || value.parse::<u32>().map_err(|_| not_a_number());
        let count = || value.parse::<u64>().map_err(|_| not_a_number());
        match key {
            "enabled" => {
                enabled = Some(match number_value()? {
                    0 => false,
                    1 => true,
                    _ => {
                        return Err(error(
                            number,
                            format!("config enabled={value} is not 0 or 1"),
                        ))
                    }
                })
            }
            "watchdog_us" => watchdog_us = Some(number_value()?),
            "budget" => budget = Some(number_value()?),
            // Absent from older modules, hence optional.
            "napis" => napis = Some(count()?),
            "reclaimed" => reclaimed = Some(count()?),
            "untracked" => untracked = Some(count()?),
            // Unknown keys are tolerated so that a newer module still parses.
            _ => {}
        }
    }
    let missing = |key: &str| error(number, format!("config line has no {key}="));
    let ports = parse_ports(number, ports.ok_or_else(|| missing("ports"))?)?;
    Ok(Config {
        enabled: enabled.ok_or_else(|| missing("enabled"))?,
        watchdog_us: watchdog_us.ok_or_else(|| missing("watchdog_us"))?,
        budget: budget.ok_or_else(|| missing("budget"))?,
        napis,
        reclaimed,
        untracked,
        ports,
    })
}

fn parse_ports(number: usize, text: &str) -> Result<Vec<u16>, ParseError> {
    let text = text.trim();
    if text == "-" || text.is_empty() {
        return Ok(Vec::new());
    }
    text.split_whitespace()
        .map(|port| match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(error(
                number,
                format!("config ports= has a bad port {port:?}"),
            )),
        })
        .collect()
}

/// Checks the column header; returns the number of columns the following lines have.
fn parse_header(number: usize, line: &str) -> Result<usize, ParseError> {
    let found: Vec<&str> = line.split_whitespace().collect();
    if found == COLUMNS || OLDER_COLUMNS.contains(&found.as_slice()) {
        return Ok(found.len());
    }
    Err(error(
        number,
        format!(
            "expected the column header {:?}, found {:?}",
            COLUMNS.join(" "),
            line
        ),
    ))
}

/// Parses the counter fields of a line whose field count matched the header.
fn parse_counters(number: usize, fields: &[&str]) -> Result<Counters, ParseError> {
    let values = fields
        .iter()
        .zip(COUNTER_COLUMNS)
        .enumerate()
        .map(|(index, (field, name))| {
            field.parse::<u64>().map_err(|_| {
                error(
                    number,
                    format!(
                        "column {} ({name}) is not an unsigned number: {field:?}",
                        NAME_COLUMNS + index + 1
                    ),
                )
            })
        })
        .collect::<Result<Vec<u64>, ParseError>>()?;
    // In COUNTER_COLUMNS order, as `Counters::values` lists them; the header check guarantees
    // at least the six counters of older modules.
    let Some((first, rest)) = values.split_first_chunk::<6>() else {
        return Err(error(number, "too few counter columns"));
    };
    let [suspensions, app_polls, app_packets, idle_resumes, watchdog_fires, held_us] = *first;
    Ok(Counters {
        suspensions,
        app_polls,
        app_packets,
        idle_resumes,
        watchdog_fires,
        held_us,
        service_polls: rest.first().copied(),
        declined: rest.get(1).copied(),
        early_fires: rest.get(2).copied(),
    })
}

fn parse_napi(number: usize, fields: &[&str], counters: Counters) -> Result<Napi, ParseError> {
    let napi_id = fields[0].parse::<u32>().map_err(|_| {
        error(
            number,
            format!(
                "column 1 (napi_id) is not an unsigned number: {:?}",
                fields[0]
            ),
        )
    })?;
    let dev = match fields[1] {
        "-" => None,
        dev => Some(dev.to_string()),
    };
    let irq = match fields[2].parse::<i64>() {
        Ok(-1) => None,
        Ok(irq) => Some(
            u32::try_from(irq)
                .map_err(|_| error(number, format!("column 3 (irq) is out of range: {irq}")))?,
        ),
        Err(_) => {
            return Err(error(
                number,
                format!("column 3 (irq) is not a number: {:?}", fields[2]),
            ))
        }
    };
    let state = NapiState::parse(fields[3]).ok_or_else(|| {
        error(
            number,
            format!(
                "column 4 (state) must be held, irq or gone, found {:?}",
                fields[3]
            ),
        )
    })?;
    Ok(Napi {
        napi_id,
        dev,
        irq,
        state,
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!(
            "{}/../tests/data/kpollctl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn idle_file_has_no_napis() {
        let report = parse(&sample("proc_net_kpoll_idle.txt")).unwrap();
        assert_eq!(
            report.config,
            Config {
                enabled: true,
                watchdog_us: 10000,
                budget: 64,
                napis: Some(0),
                reclaimed: Some(0),
                untracked: Some(0),
                ports: vec![],
            }
        );
        assert!(report.napis.is_empty());
        assert_eq!(
            report.total,
            Counters {
                service_polls: Some(0),
                ..Counters::default()
            }
        );
    }

    #[test]
    fn busy_file_has_two_napis() {
        let report = parse(&sample("proc_net_kpoll_busy.txt")).unwrap();
        assert_eq!(report.config.ports, vec![11211]);
        assert_eq!(report.napis.len(), 2);
        let first = &report.napis[0];
        assert_eq!(first.napi_id, 8193);
        assert_eq!(first.dev.as_deref(), Some("eth0"));
        assert_eq!(first.irq, None);
        assert_eq!(first.state, NapiState::Held);
        assert_eq!(
            first.counters,
            Counters {
                suspensions: 1742,
                app_polls: 263115,
                app_packets: 4168620,
                idle_resumes: 1739,
                watchdog_fires: 2,
                held_us: 49895170,
                service_polls: Some(3),
                declined: None,
                early_fires: None,
            }
        );
        assert_eq!(report.napis[1].state, NapiState::Irq);
        assert_eq!(report.total.app_packets, 8156624);
        assert_eq!(report.total.held_us, 98666374);
        assert_eq!(report.total.service_polls, Some(4));
    }

    #[test]
    fn ports_run_to_end_of_line() {
        let report = parse(&sample("proc_net_kpoll_ports.txt")).unwrap();
        assert_eq!(
            report.config,
            Config {
                enabled: false,
                watchdog_us: 5000,
                budget: 128,
                napis: Some(2),
                reclaimed: Some(1),
                untracked: Some(0),
                ports: vec![11211, 8080],
            }
        );
        // The total includes an entry reclaimed for another NAPI: more than the lines' sum.
        let sum: u64 = report
            .napis
            .iter()
            .map(|napi| napi.counters.app_polls)
            .sum();
        assert_eq!(sum, 2671);
        assert_eq!(report.total.app_polls, 2731);
        assert_eq!(report.napis[0].irq, Some(25));
        assert_eq!(report.napis[1].dev, None);
        assert_eq!(report.napis[1].state, NapiState::Gone);
    }

    #[test]
    fn malformed_counter_names_the_line() {
        let err = parse(&sample("proc_net_kpoll_malformed.txt")).unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.message.contains("app_packets"), "{err}");
        assert!(err.message.contains("\"lots\""), "{err}");
    }

    #[test]
    fn the_example_from_report_rs_parses() {
        let text = "config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=0 untracked=0 ports=11211\n\
                    napi_id dev irq state suspensions app_polls app_packets idle_resumes watchdog_fires held_us service_polls\n\
                    8193 eth0 24 held 10 5000 4990 9 1 1234 3\n\
                    total - - - 10 5000 4990 9 1 1234 3\n";
        let report = parse(text).unwrap();
        assert_eq!(report.config.napis, Some(1));
        assert_eq!(report.config.ports, vec![11211]);
        assert_eq!(report.napis[0].napi_id, 8193);
        assert_eq!(report.napis[0].irq, Some(24));
        assert_eq!(report.total.suspensions, 10);
        assert_eq!(report.total.service_polls, Some(3));
    }

    #[test]
    fn values_follow_the_counter_columns() {
        let text = format!(
            "config enabled=1 watchdog_us=1 budget=1 ports=-\n{}\ntotal - - - 1 2 3 4 5 6 7 8 9\n",
            COLUMNS.join(" ")
        );
        let total = parse(&text).unwrap().total;
        assert_eq!(total.values(), [1, 2, 3, 4, 5, 6, 7, 8, 9].map(Some));
        assert_eq!(
            (
                total.held_us,
                total.service_polls,
                total.declined,
                total.early_fires
            ),
            (6, Some(7), Some(8), Some(9)),
            "fields by name"
        );
        assert_eq!(COUNTER_COLUMNS.len(), total.values().len());
        assert_eq!(COUNTER_COLUMNS[0], "suspensions");
        assert_eq!(COUNTER_COLUMNS[COUNTERS - 1], "early_fires");
    }

    #[test]
    fn older_module_formats_parse() {
        // Before the table counts and service_polls.
        let report = parse(&sample("proc_net_kpoll_older_module.txt")).unwrap();
        assert_eq!(
            (
                report.config.napis,
                report.config.reclaimed,
                report.config.untracked
            ),
            (None, None, None)
        );
        assert_eq!(report.config.ports, vec![11211]);
        assert_eq!(report.napis.len(), 2);
        assert_eq!(report.napis[0].counters.held_us, 49895170);
        assert_eq!(report.napis[0].counters.service_polls, None);
        assert_eq!(report.total.app_packets, 8156624);
        assert_eq!(report.total.service_polls, None);
        // Table counts but ten columns.
        let text = format!(
            "config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=2 untracked=3 ports=-\n\
             {}\n8193 eth0 24 held 10 5000 4990 9 1 1234\ntotal - - - 10 5000 4990 9 1 1234\n",
            COLUMNS[..10].join(" ")
        );
        let report = parse(&text).unwrap();
        assert_eq!(
            (
                report.config.napis,
                report.config.reclaimed,
                report.config.untracked
            ),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!(report.total.held_us, 1234);
        assert_eq!(report.total.service_polls, None);
    }

    #[test]
    fn structural_errors_name_the_line() {
        let header = COLUMNS[..11].join(" ");
        let older = COLUMNS[..10].join(" ");
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 1, "empty"),
            ("bogus\n".into(), 1, "config"),
            ("config enabled=1 budget=64 ports=-\n".into(), 1, "watchdog_us"),
            ("config enabled=2 watchdog_us=1 budget=64 ports=-\n".into(), 1, "0 or 1"),
            ("config enabled=1 watchdog_us=x budget=64 ports=-\n".into(), 1, "watchdog_us"),
            ("config enabled=1 watchdog_us=1 budget=64\n".into(), 1, "ports"),
            ("config enabled=1 watchdog_us=1 budget=64 ports=1 0\n".into(), 1, "port"),
            ("config enabled=1 watchdog_us=1 budget=64 ports=-\n".into(), 2, "header"),
            (
                "config enabled=1 watchdog_us=1 budget=64 ports=-\nnapi_id dev\n".into(),
                2,
                "header",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n"),
                3,
                "total",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -1 held 1 2 3\n"),
                3,
                "expected 11 fields, found 7",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -1 asleep 1 2 3 4 5 6 7\n"),
                3,
                "state",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\nx eth0 -1 held 1 2 3 4 5 6 7\n"),
                3,
                "napi_id",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -7 held 1 2 3 4 5 6 7\n"),
                3,
                "irq",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -1 held 1 2 3 4 5 -6 7\n"),
                3,
                "held_us",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\ntotal - - - 0 0 0 0 0 0 0\n1 eth0 -1 held 1 2 3 4 5 6 7\n"),
                4,
                "after",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\ntotal eth0 - - 0 0 0 0 0 0 0\n"),
                3,
                "total",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -1 held 1 2 3 4 5 6 x\n"),
                3,
                "column 11 (service_polls)",
            ),
            (
                // A ten-column line under the eleven-column header.
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\ntotal - - - 0 0 0 0 0 0\n"),
                3,
                "expected 11 fields, found 10",
            ),
            (
                // An eleven-column line under the ten-column header of an older module.
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{older}\ntotal - - - 0 0 0 0 0 0 0\n"),
                3,
                "expected 10 fields, found 11",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header} extra\n"),
                2,
                "header",
            ),
            (
                "config enabled=1 watchdog_us=1 budget=64 reclaimed=many ports=-\n".into(),
                1,
                "reclaimed",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse(&text).expect_err(&text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn tolerates_unknown_config_keys_and_trailing_blank_lines() {
        let text = format!(
            "config enabled=0 future=7 watchdog_us=50 budget=1 ports=65535\n{}\ntotal - - - 1 2 3 4 5 6 7\n\n",
            COLUMNS[..11].join(" ")
        );
        let report = parse(&text).unwrap();
        assert!(!report.config.enabled);
        assert_eq!(report.config.ports, vec![65535]);
        assert_eq!(report.total.held_us, 6);
    }

    #[test]
    fn delta_saturates() {
        let old = Counters {
            suspensions: 5,
            app_polls: 10,
            held_us: 100,
            ..Counters::default()
        };
        let new = Counters {
            suspensions: 7,
            app_polls: 4,
            held_us: 150,
            ..Counters::default()
        };
        let delta = new.delta(&old);
        assert_eq!(delta.suspensions, 2);
        assert_eq!(delta.app_polls, 0);
        assert_eq!(delta.held_us, 50);
    }
}

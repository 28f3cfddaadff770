//! Parser for `/proc/net/kpoll`.
//!
//! The format is the policy crate's ([`kpoll_policy::report`], which the module writes with):
//!
//! ```text
//! config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=0 untracked=0 ports=11211
//! napi_id dev irq state suspensions app_polls app_packets idle_resumes watchdog_fires held_us service_polls declined early_fires
//! 8193 eth0 -1 held 1742 263115 4168620 1739 2 49895170 3 12 1
//! total - - - 1742 263115 4168620 1739 2 49895170 3 12 1
//! ```
//!
//! Line 1 is `config` followed by `key=value` pairs, a [`ConfigLine`]; `ports=` takes everything
//! up to the end of the line (a space-separated list, or `-` when empty). Line 2 names the
//! columns. Then come zero or more NAPI lines and a final `total` line. Everything here is pure:
//! [`parse`] takes the text and returns a [`Report`] or a [`ParseError`] naming the 1-based line
//! number.
//!
//! Older modules are still read: without the table counts on the `config` line (they are
//! `None`), and with fewer counter columns. Columns are only ever appended, so their header is a
//! prefix of today's; the oldest ends at `held_us`, and a counter a module does not print is
//! `None`. Unknown config keys are ignored, so that a newer module still parses.

use kpoll_policy::{
    counters::{Counter, COUNTERS},
    knob::{Accepts, Knob, KnobValue},
    ports::PortList,
    report::{self, TableCount, ABSENT, NAME_COLUMNS, TOTAL},
};

pub use kpoll_policy::report::{ConfigLine, NapiState};

/// The fewest columns a module printed: the oldest header ends at `held_us`.
const OLDEST_WIDTH: usize = NAME_COLUMNS.len() + Counter::HeldNs as usize + 1;

/// The counter columns of a NAPI line or of the total line, by [`Counter`], as the file shows
/// them (`held_us` in microseconds); `None` for a column the module did not print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters([Option<u64>; COUNTERS]);

impl Counters {
    /// The value of `counter`, `None` from a module without its column.
    pub fn get(&self, counter: Counter) -> Option<u64> {
        self.0[counter as usize]
    }

    /// The value of `counter`, 0 from a module without its column (every module prints the
    /// counters up to `held_us`).
    pub fn count(&self, counter: Counter) -> u64 {
        self.get(counter).unwrap_or(0)
    }

    /// Sets `counter` (tests build and change reports with it).
    #[cfg(test)]
    pub fn set(&mut self, counter: Counter, value: Option<u64>) {
        self.0[counter as usize] = value;
    }

    /// Adds `n` to `counter` (tests).
    #[cfg(test)]
    pub fn add(&mut self, counter: Counter, n: u64) {
        self.set(counter, Some(self.count(counter) + n));
    }

    /// The values in [`Counter::ALL`] order (`None`: the column is missing).
    pub fn values(&self) -> [Option<u64>; COUNTERS] {
        self.0
    }

    /// `self - earlier`, counter by counter, never below zero (a module reload resets
    /// counters). A counter `earlier` lacks counts from zero; one `self` lacks stays `None`.
    pub fn delta(&self, earlier: &Counters) -> Counters {
        Counters(core::array::from_fn(|index| {
            self.0[index].map(|now| now.saturating_sub(earlier.0[index].unwrap_or(0)))
        }))
    }
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
    pub config: ConfigLine,
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
            return Err(error(
                number,
                format!("unexpected line after the `{TOTAL}` line"),
            ));
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
        let counters = parse_counters(number, &fields[NAME_COLUMNS.len()..])?;
        if fields[0] == TOTAL {
            if fields[1..NAME_COLUMNS.len()]
                .iter()
                .any(|&field| field != ABSENT)
            {
                return Err(error(
                    number,
                    format!("the `{TOTAL}` line must have `{ABSENT}` for dev, irq and state"),
                ));
            }
            total = Some(counters);
        } else {
            napis.push(parse_napi(number, &fields, counters)?);
        }
    }
    let total =
        total.ok_or_else(|| error(last + 1, format!("missing the final `{TOTAL}` line")))?;
    Ok(Report {
        config,
        napis,
        total,
    })
}

fn parse_config(number: usize, line: &str) -> Result<ConfigLine, ParseError> {
    let rest = line
        .strip_prefix("config ")
        .ok_or_else(|| error(number, format!("expected a `config` line, found {line:?}")))?;
    // `ports=` runs to the end of the line, so split it off before looking at the other pairs.
    let ports_key = format!("{}=", Knob::Ports.name());
    let (pairs, ports) = match rest.find(&ports_key) {
        Some(at) if at == 0 || rest.as_bytes()[at - 1] == b' ' => {
            (&rest[..at], Some(&rest[at + ports_key.len()..]))
        }
        _ => (rest, None),
    };
    let mut knobs = [None; Knob::COUNT];
    let mut table = [None; TableCount::COUNT];
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
        let number_knob = Knob::ALL
            .into_iter()
            .find(|knob| knob.name() == key && knob.accepts() != Accepts::Ports);
        if let Some(knob) = number_knob {
            let parsed = value.parse::<u32>().map_err(|_| not_a_number())?;
            if knob.accepts() == Accepts::Flag && parsed > 1 {
                return Err(error(number, format!("config {key}={value} is not 0 or 1")));
            }
            knobs[knob as usize] = Some(KnobValue::Number(parsed));
        } else if let Some(count) = TableCount::ALL
            .into_iter()
            .find(|count| count.name() == key)
        {
            // Absent from older modules, hence optional.
            table[count as usize] = Some(value.parse::<u64>().map_err(|_| not_a_number())?);
        }
        // Unknown keys are tolerated so that a newer module still parses.
    }
    let missing = |knob: Knob| error(number, format!("config line has no {}=", knob.name()));
    knobs[Knob::Ports as usize] = Some(KnobValue::Ports(parse_ports(
        number,
        ports.ok_or_else(|| missing(Knob::Ports))?,
    )?));
    let mut values = [KnobValue::Number(0); Knob::COUNT];
    for (knob, (value, parsed)) in Knob::ALL.into_iter().zip(values.iter_mut().zip(knobs)) {
        *value = parsed.ok_or_else(|| missing(knob))?;
    }
    Ok(ConfigLine {
        knobs: values,
        table,
    })
}

fn parse_ports(number: usize, text: &str) -> Result<PortList, ParseError> {
    let text = text.trim();
    let mut list = PortList::new();
    if text == ABSENT {
        return Ok(list);
    }
    for port in text.split_whitespace() {
        let bad = || error(number, format!("config ports= has a bad port {port:?}"));
        let parsed = port.parse::<u16>().map_err(|_| bad())?;
        list.push(parsed).map_err(|_| bad())?;
    }
    Ok(list)
}

/// Checks the column header; returns the number of columns the following lines have.
fn parse_header(number: usize, line: &str) -> Result<usize, ParseError> {
    let found: Vec<&str> = line.split_whitespace().collect();
    let columns: Vec<&str> = report::columns().collect();
    if found.len() >= OLDEST_WIDTH && columns.starts_with(&found) {
        return Ok(found.len());
    }
    Err(error(
        number,
        format!(
            "expected the column header {:?}, found {:?}",
            columns.join(" "),
            line
        ),
    ))
}

/// Parses the counter fields of a line whose field count matched the header.
fn parse_counters(number: usize, fields: &[&str]) -> Result<Counters, ParseError> {
    let mut counters = Counters::default();
    for (index, (field, counter)) in fields.iter().zip(Counter::ALL).enumerate() {
        let value = field.parse::<u64>().map_err(|_| {
            error(
                number,
                format!(
                    "column {} ({}) is not an unsigned number: {field:?}",
                    NAME_COLUMNS.len() + index + 1,
                    counter.column()
                ),
            )
        })?;
        counters.0[counter as usize] = Some(value);
    }
    Ok(counters)
}

/// `column N (name)`, for messages about the name columns.
fn name_column(index: usize) -> String {
    format!("column {} ({})", index + 1, NAME_COLUMNS[index])
}

fn parse_napi(number: usize, fields: &[&str], counters: Counters) -> Result<Napi, ParseError> {
    let napi_id = fields[0].parse::<u32>().map_err(|_| {
        error(
            number,
            format!(
                "{} is not an unsigned number: {:?}",
                name_column(0),
                fields[0]
            ),
        )
    })?;
    let dev = match fields[1] {
        ABSENT => None,
        dev => Some(dev.to_string()),
    };
    let irq = match fields[2].parse::<i64>() {
        Ok(-1) => None,
        Ok(irq) => Some(
            u32::try_from(irq)
                .map_err(|_| error(number, format!("{} is out of range: {irq}", name_column(2))))?,
        ),
        Err(_) => {
            return Err(error(
                number,
                format!("{} is not a number: {:?}", name_column(2), fields[2]),
            ))
        }
    };
    let state = fields[3].parse::<NapiState>().map_err(|()| {
        let states: Vec<&str> = NapiState::ALL.iter().map(|state| state.as_str()).collect();
        let (last, others) = states.split_last().unwrap_or((&"", &[]));
        error(
            number,
            format!(
                "{} must be {} or {last}, found {:?}",
                name_column(3),
                others.join(", "),
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

    /// The columns of today's header.
    fn columns() -> Vec<&'static str> {
        report::columns().collect()
    }

    /// Counters with `values` in column order; the columns after them are missing.
    fn counters(values: &[u64]) -> Counters {
        let mut counters = Counters::default();
        for (counter, &value) in Counter::ALL.into_iter().zip(values) {
            counters.set(counter, Some(value));
        }
        counters
    }

    /// A config line from the knobs' values, the port list and the table counts.
    fn config(
        numbers: [u32; 3],
        ports: &[u16],
        table: [Option<u64>; TableCount::COUNT],
    ) -> ConfigLine {
        let mut list = PortList::new();
        for &port in ports {
            list.push(port).unwrap();
        }
        let [enabled, watchdog_us, budget] = numbers.map(KnobValue::Number);
        ConfigLine {
            knobs: [enabled, watchdog_us, budget, KnobValue::Ports(list)],
            table,
        }
    }

    #[test]
    fn idle_file_has_no_napis() {
        let report = parse(&sample("proc_net_kpoll_idle.txt")).unwrap();
        assert_eq!(
            report.config,
            config([1, 10000, 64], &[], [Some(0), Some(0), Some(0), None])
        );
        assert!(report.napis.is_empty());
        assert_eq!(report.total, counters(&[0; 7]));
    }

    #[test]
    fn busy_file_has_two_napis() {
        let report = parse(&sample("proc_net_kpoll_busy.txt")).unwrap();
        assert_eq!(report.config.knob(Knob::Ports).to_string(), "11211");
        assert_eq!(report.napis.len(), 2);
        let first = &report.napis[0];
        assert_eq!(first.napi_id, 8193);
        assert_eq!(first.dev.as_deref(), Some("eth0"));
        assert_eq!(first.irq, None);
        assert_eq!(first.state, NapiState::Held);
        assert_eq!(
            first.counters,
            counters(&[1742, 263115, 4168620, 1739, 2, 49895170, 3])
        );
        assert_eq!(first.counters.get(Counter::Declined), None);
        assert_eq!(first.counters.get(Counter::EarlyFires), None);
        assert_eq!(report.napis[1].state, NapiState::Irq);
        assert_eq!(report.total.count(Counter::AppPackets), 8156624);
        assert_eq!(report.total.count(Counter::HeldNs), 98666374);
        assert_eq!(report.total.get(Counter::ServicePolls), Some(4));
    }

    #[test]
    fn ports_run_to_end_of_line() {
        let report = parse(&sample("proc_net_kpoll_ports.txt")).unwrap();
        assert_eq!(
            report.config,
            config(
                [0, 5000, 128],
                &[11211, 8080],
                [Some(2), Some(1), Some(0), None]
            )
        );
        // The total includes an entry reclaimed for another NAPI: more than the lines' sum.
        let sum: u64 = report
            .napis
            .iter()
            .map(|napi| napi.counters.count(Counter::AppPolls))
            .sum();
        assert_eq!(sum, 2671);
        assert_eq!(report.total.count(Counter::AppPolls), 2731);
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
        assert_eq!(report.config.table[TableCount::Napis as usize], Some(1));
        assert_eq!(report.config.knob(Knob::Ports).to_string(), "11211");
        assert_eq!(report.napis[0].napi_id, 8193);
        assert_eq!(report.napis[0].irq, Some(24));
        assert_eq!(report.total.count(Counter::Suspensions), 10);
        assert_eq!(report.total.get(Counter::ServicePolls), Some(3));
    }

    #[test]
    fn what_the_module_writes_parses_back() {
        use kpoll_policy::{
            counters::NapiCounters,
            report::{Header, NapiLine, TotalLine},
        };
        let live = NapiCounters::new();
        for (index, counter) in Counter::ALL.into_iter().enumerate() {
            live.add(counter, 1000 * (index as u64 + 1));
        }
        let snapshot = live.snapshot();
        let written = config(
            [1, 3000, 8],
            &[11211, 8080],
            [Some(1), Some(2), Some(3), Some(4)],
        );
        let line = NapiLine {
            napi_id: 8193,
            dev: "eth0",
            irq: -1,
            state: NapiState::Held,
            counters: &snapshot,
        };
        let text = format!(
            "config {written}\n{Header}\n{line}\n{}\n",
            TotalLine(&snapshot)
        );
        let report = parse(&text).unwrap();
        assert_eq!(report.config, written);
        assert_eq!(report.napis[0].irq, None);
        let shown: Vec<Option<u64>> = snapshot.shown().map(Some).collect();
        assert_eq!(report.napis[0].counters.values().to_vec(), shown);
        assert_eq!(report.total, report.napis[0].counters);
    }

    #[test]
    fn values_follow_the_counter_columns() {
        let text = format!(
            "config enabled=1 watchdog_us=1 budget=1 ports=-\n{}\ntotal - - - 1 2 3 4 5 6 7 8 9\n",
            columns().join(" ")
        );
        let total = parse(&text).unwrap().total;
        assert_eq!(total.values(), [1, 2, 3, 4, 5, 6, 7, 8, 9].map(Some));
        assert_eq!(
            (
                total.count(Counter::HeldNs),
                total.get(Counter::ServicePolls),
                total.get(Counter::Declined),
                total.get(Counter::EarlyFires)
            ),
            (6, Some(7), Some(8), Some(9)),
            "fields by name"
        );
        assert_eq!(Counter::ALL.len(), total.values().len());
        assert_eq!(Counter::ALL[0].column(), "suspensions");
        assert_eq!(Counter::ALL[COUNTERS - 1].column(), "early_fires");
    }

    #[test]
    fn older_module_formats_parse() {
        // Before the table counts and service_polls.
        let report = parse(&sample("proc_net_kpoll_older_module.txt")).unwrap();
        assert_eq!(report.config.table, [None; TableCount::COUNT]);
        assert_eq!(report.config.knob(Knob::Ports).to_string(), "11211");
        assert_eq!(report.napis.len(), 2);
        assert_eq!(report.napis[0].counters.count(Counter::HeldNs), 49895170);
        assert_eq!(report.napis[0].counters.get(Counter::ServicePolls), None);
        assert_eq!(report.total.count(Counter::AppPackets), 8156624);
        assert_eq!(report.total.get(Counter::ServicePolls), None);
        // Table counts but ten columns.
        let text = format!(
            "config enabled=1 watchdog_us=10000 budget=64 napis=1 reclaimed=2 untracked=3 ports=-\n\
             {}\n8193 eth0 24 held 10 5000 4990 9 1 1234\ntotal - - - 10 5000 4990 9 1 1234\n",
            columns()[..10].join(" ")
        );
        let report = parse(&text).unwrap();
        assert_eq!(report.config.table, [Some(1), Some(2), Some(3), None]);
        assert_eq!(report.total.count(Counter::HeldNs), 1234);
        assert_eq!(report.total.get(Counter::ServicePolls), None);
    }

    #[test]
    fn structural_errors_name_the_line() {
        let header = columns()[..11].join(" ");
        let older = columns()[..10].join(" ");
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
                "column 4 (state) must be held, irq or gone, found \"asleep\"",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\nx eth0 -1 held 1 2 3 4 5 6 7\n"),
                3,
                "column 1 (napi_id)",
            ),
            (
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{header}\n1 eth0 -7 held 1 2 3 4 5 6 7\n"),
                3,
                "column 3 (irq)",
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
                format!("config enabled=1 watchdog_us=1 budget=64 ports=-\n{} extra\n", columns().join(" ")),
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
            columns()[..11].join(" ")
        );
        let report = parse(&text).unwrap();
        assert_eq!(report.config.knob(Knob::Enabled), KnobValue::Number(0));
        assert_eq!(report.config.knob(Knob::Ports).to_string(), "65535");
        assert_eq!(report.total.count(Counter::HeldNs), 6);
    }

    #[test]
    fn delta_saturates() {
        let old = counters(&[5, 10, 0, 0, 0, 100]);
        let new = counters(&[7, 4, 0, 0, 0, 150]);
        let delta = new.delta(&old);
        assert_eq!(delta.count(Counter::Suspensions), 2);
        assert_eq!(delta.count(Counter::AppPolls), 0);
        assert_eq!(delta.count(Counter::HeldNs), 50);
        // A counter only the later report has counts from zero; one it lacks stays missing.
        let mut later = new;
        later.set(Counter::ServicePolls, Some(3));
        assert_eq!(later.delta(&old).get(Counter::ServicePolls), Some(3));
        assert_eq!(old.delta(&later).get(Counter::ServicePolls), None);
    }
}
